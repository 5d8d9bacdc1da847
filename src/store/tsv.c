/*
 * A batch as tab-separated rows (src/store/tsv.h).
 */
#include "store/tsv.h"

#include <inttypes.h>

const char *const ft__tsv_table[FT_TSV_TABLES] = {"ft_flag_set", "ft_trait_set", "ft_segment_set",
                                                  "ft_delivery", "ft_event"};

const char *const ft__tsv_columns[FT_TSV_TABLES] = {
    "set_id, ord, feature_id, feature_name, feature_type, enabled, value_type, value, "
    "percentage_allocation, identity_override, feature_segment, feature_state_id",
    "set_id, ord, trait_id, trait_key, value_type, value, transient",
    "set_id, ord, segment_id, segment_name, member",
    "source, lsn, received_at, environment_id, identity, flags_set, traits_set, segments_set, "
    "body_sha256, delivery_id",
    "source, lsn, idx, identity, event, value, occurred_at, received_at",
};

/* One row being written: fields are separated by tabs, the row ends with a newline. */
struct row {
    struct ft_buf *b;
    const struct ft_tsv_style *style;
    bool started;
};

static struct ft_buf *field(struct row *r)
{
    if (r->started) ft_buf_append_char(r->b, '\t');
    r->started = true;
    return r->b;
}

static void end_row(struct row *r)
{
    ft_buf_append_char(r->b, '\n');
    r->started = false;
}

void ft__tsv_str(struct ft_buf *b, struct ft_str v)
{
    if (!v.ptr) {
        ft_buf_append(b, "\\N", 2);
        return;
    }
    for (size_t i = 0; i < v.len; i++) {
        switch (v.ptr[i]) {
        case '\\': ft_buf_append(b, "\\\\", 2); break;
        case '\t': ft_buf_append(b, "\\t", 2); break;
        case '\n': ft_buf_append(b, "\\n", 2); break;
        case '\r': ft_buf_append(b, "\\r", 2); break;
        default: ft_buf_append_char(b, v.ptr[i]);
        }
    }
}

static void f_str(struct row *r, struct ft_str v)
{
    ft__tsv_str(field(r), v);
}

static void f_null(struct row *r)
{
    ft_buf_append(field(r), "\\N", 2);
}

static void f_int(struct row *r, int64_t v)
{
    ft_buf_printf(field(r), "%" PRId64, v);
}

static void f_uint(struct row *r, uint64_t v)
{
    ft_buf_printf(field(r), "%" PRIu64, v);
}

static void f_nint(struct row *r, struct ft_nint v)
{
    if (v.null)
        f_null(r);
    else
        f_int(r, v.value);
}

static void f_bool(struct row *r, bool v)
{
    ft_buf_append_str(field(r), v ? r->style->true_text : r->style->false_text);
}

/* value_type, then the value's exact text (NULL for JSON null). */
static void f_value(struct row *r, const struct ft_value *v)
{
    f_str(r, ft_str_c(ft_value_type_name(v->type)));
    if (v->type == FT_VALUE_NULL)
        f_null(r);
    else
        f_str(r, v->text);
}

/* A JSON number's text, read by the server as a float; NULL when absent or null. */
static void f_number(struct row *r, bool present, const struct ft_value *v)
{
    if (!present || v->type == FT_VALUE_NULL)
        f_null(r);
    else
        f_str(r, v->text);
}

static void flags(struct row *r, const struct ft_store_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ft_flag *f = &set->m.flags[i];
        f_int(r, set->id);
        f_uint(r, i);
        f_int(r, f->feature.id);
        f_str(r, f->feature.name);
        f_str(r, f->feature.type);
        f_bool(r, f->enabled);
        f_value(r, &f->value);
        f_number(r, f->has_percentage_allocation, &f->percentage_allocation);
        f_nint(r, f->identity);
        f_nint(r, f->feature_segment);
        f_int(r, f->id);
        end_row(r);
    }
}

static void traits(struct row *r, const struct ft_store_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ft_trait *t = &set->m.traits[i];
        f_int(r, set->id);
        f_uint(r, i);
        f_nint(r, t->id);
        f_str(r, t->key);
        f_value(r, &t->value);
        if (t->has_transient)
            f_bool(r, t->transient);
        else
            f_null(r);
        end_row(r);
    }
}

static void segments(struct row *r, const struct ft_store_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ft_segment *g = &set->m.segments[i];
        f_int(r, set->id);
        f_uint(r, i);
        f_int(r, g->id);
        f_str(r, g->name);
        f_bool(r, g->member);
        end_row(r);
    }
}

static void delivery(struct row *r, const char *source, const struct ft_store_delivery *d)
{
    f_str(r, ft_str_c(source));
    f_uint(r, d->lsn);
    f_int(r, d->received_at);
    f_nint(r, d->environment);
    f_str(r, d->identity);
    f_int(r, d->flags_set);
    f_int(r, d->traits_set);
    f_int(r, d->segments_set);
    struct ft_buf *b = field(r);
    ft_buf_append_str(b, r->style->bytes_prefix);
    for (int i = 0; i < 32; i++)
        ft_buf_printf(b, "%02x", d->body_sha256[i]);
    f_str(r, d->delivery_id);
    end_row(r);
}

static void event(struct row *r, const char *source, const struct ft_store_event *e)
{
    f_str(r, ft_str_c(source));
    f_uint(r, e->lsn);
    f_uint(r, e->idx);
    f_str(r, e->identity);
    f_str(r, e->event);
    if (e->has_value)
        ft_buf_printf(field(r), "%.17g", e->value);
    else
        f_null(r);
    f_int(r, e->occurred_at);
    f_int(r, e->received_at);
    end_row(r);
}

void ft__tsv_batch(const struct ft_store_batch *b, const struct ft_tsv_style *style,
                   struct ft_buf out[FT_TSV_TABLES])
{
    struct row r[FT_TSV_TABLES];
    for (int t = 0; t < FT_TSV_TABLES; t++) {
        ft_buf_reset(&out[t]);
        r[t] = (struct row){&out[t], style, false};
    }
    for (size_t i = 0; i < b->nsets; i++) {
        const struct ft_store_set *set = &b->sets[i];
        switch (set->kind) {
        case FT_SET_FLAGS: flags(&r[FT_TSV_FLAGS], set); break;
        case FT_SET_TRAITS: traits(&r[FT_TSV_TRAITS], set); break;
        case FT_SET_SEGMENTS: segments(&r[FT_TSV_SEGMENTS], set); break;
        }
    }
    for (size_t i = 0; i < b->ndeliveries; i++)
        delivery(&r[FT_TSV_DELIVERIES], b->source, &b->deliveries[i]);
    for (size_t i = 0; i < b->nevents; i++)
        event(&r[FT_TSV_EVENTS], b->source, &b->events[i]);
}
