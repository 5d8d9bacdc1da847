/*
 * Canonical order and content-derived ids of flag, trait and segment sets (src/store/model.h).
 */
#include "store/model.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void ft_model_init(struct ft_model *m)
{
    *m = (struct ft_model){0};
    ft_buf_init(&m->enc, 0);
    m->md = EVP_MD_CTX_new();
    m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!m->md || !m->sha256) abort();
}

void ft_model_free(struct ft_model *m)
{
    ft_buf_free(&m->enc);
    EVP_MD_CTX_free(m->md);
    EVP_MD_free(m->sha256);
    free(m->spans);
    free(m->order);
    free(m->scratch);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < FT_MODEL_MEMO; i++)
            free(m->memo[k][i].text);
}

/* --- encoding --- */

static void put_u8(struct ft_buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    ft_buf_append(b, &c, 1);
}

static void put_i64(struct ft_buf *b, int64_t v)
{
    uint64_t u = (uint64_t)v ^ (1ull << 63); /* order as signed numbers under memcmp */
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(u >> (56 - 8 * i));
    ft_buf_append(b, be, 8);
}

static void put_str(struct ft_buf *b, struct ft_str s)
{
    if (!s.ptr) {
        put_u8(b, 0);
        return;
    }
    put_u8(b, 1);
    unsigned char len[4] = {(unsigned char)(s.len >> 24), (unsigned char)(s.len >> 16),
                            (unsigned char)(s.len >> 8), (unsigned char)s.len};
    ft_buf_append(b, len, 4);
    ft_buf_append(b, s.ptr, s.len);
}

static void put_nint(struct ft_buf *b, struct ft_nint v)
{
    put_u8(b, v.null ? 0 : 1);
    if (!v.null) put_i64(b, v.value);
}

static void put_value(struct ft_buf *b, const struct ft_value *v)
{
    put_u8(b, (unsigned)v->type);
    put_str(b, v->text);
}

static void encode_flag(struct ft_buf *b, const struct ft_flag *f)
{
    put_i64(b, f->feature.id);
    put_str(b, f->feature.name);
    put_str(b, f->feature.type);
    put_u8(b, f->enabled);
    put_value(b, &f->value);
    put_u8(b, f->has_percentage_allocation);
    if (f->has_percentage_allocation) put_value(b, &f->percentage_allocation);
    put_nint(b, f->identity);
    put_nint(b, f->feature_segment);
    put_i64(b, f->id);
}

static void encode_trait(struct ft_buf *b, const struct ft_trait *t)
{
    put_str(b, t->key);
    put_nint(b, t->id);
    put_value(b, &t->value);
    put_u8(b, t->has_transient ? 1u + t->transient : 0u);
}

static void encode_segment(struct ft_buf *b, const struct ft_segment *s)
{
    put_i64(b, s->id);
    put_str(b, s->name);
    put_u8(b, s->member);
}

/* --- sorting and hashing --- */

static int cmp_members(const void *a, const void *b, void *ctx)
{
    const struct ft_model *m = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    const char *px = m->enc.data + m->spans[2 * x], *py = m->enc.data + m->spans[2 * y];
    size_t lx = m->spans[2 * x + 1], ly = m->spans[2 * y + 1];
    int c = memcmp(px, py, lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

static void reserve(struct ft_model *m, size_t n, size_t item)
{
    if (n > m->cap) {
        m->cap = n;
        m->spans = ft_xrealloc(m->spans, sizeof(*m->spans) * 2 * n);
        m->order = ft_xrealloc(m->order, sizeof(*m->order) * n);
    }
    if (n * item > m->scratch_cap) {
        m->scratch_cap = n * item;
        m->scratch = ft_xrealloc(m->scratch, m->scratch_cap);
    }
}

typedef void (*encode_fn)(struct ft_buf *, const void *);

static int64_t canonical_set(struct ft_model *m, enum ft_set_kind kind, void *items, size_t n,
                             size_t size, encode_fn encode)
{
    reserve(m, n ? n : 1, size);
    ft_buf_reset(&m->enc);
    for (size_t i = 0; i < n; i++) {
        size_t start = m->enc.len;
        encode(&m->enc, (const char *)items + i * size);
        m->spans[2 * i] = start;
        m->spans[2 * i + 1] = m->enc.len - start;
        m->order[i] = i;
    }
    qsort_r(m->order, n, sizeof(*m->order), cmp_members, m);
    EVP_MD_CTX *ctx = m->md;
    unsigned char head[9] = {(unsigned char)kind};
    for (int i = 0; i < 8; i++)
        head[1 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    EVP_DigestInit_ex(ctx, m->sha256, NULL);
    EVP_DigestUpdate(ctx, head, sizeof(head));
    for (size_t i = 0; i < n; i++) {
        size_t k = m->order[i];
        EVP_DigestUpdate(ctx, m->enc.data + m->spans[2 * k], m->spans[2 * k + 1]);
        memcpy((char *)m->scratch + i * size, (char *)items + k * size, size);
    }
    unsigned char digest[32];
    unsigned dlen;
    EVP_DigestFinal_ex(ctx, digest, &dlen);
    if (n) memcpy(items, m->scratch, n * size);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | digest[i];
    return (int64_t)id;
}

static void enc_flag(struct ft_buf *b, const void *p)
{
    encode_flag(b, p);
}

static void enc_trait(struct ft_buf *b, const void *p)
{
    encode_trait(b, p);
}

static void enc_segment(struct ft_buf *b, const void *p)
{
    encode_segment(b, p);
}

/* The id of the payload's list of `kind` (0 flags, 1 traits, 2 segments). */
static int64_t set_id(struct ft_model *m, struct ft_payload *p, int kind)
{
    switch (kind) {
    case 0: return canonical_set(m, FT_SET_FLAGS, p->flags, p->nflags, sizeof(*p->flags), enc_flag);
    case 1:
        return canonical_set(m, FT_SET_TRAITS, p->traits, p->ntraits, sizeof(*p->traits),
                             enc_trait);
    default:
        return canonical_set(m, FT_SET_SEGMENTS, p->segments, p->nsegments, sizeof(*p->segments),
                             enc_segment);
    }
}

void ft_model_canonicalize(struct ft_model *m, struct ft_payload *p, int64_t *flags_set,
                           int64_t *traits_set, int64_t *segments_set)
{
    *flags_set = set_id(m, p, 0);
    *traits_set = set_id(m, p, 1);
    *segments_set = set_id(m, p, 2);
}

/* --- set ids remembered by the lists' text --- */

static int64_t memo_set_id(struct ft_model *m, struct ft_payload *p, int kind)
{
    struct ft_str text = p->lists_json[kind];
    struct ft_model_memo *memo = m->memo[kind];
    for (int i = 0; i < FT_MODEL_MEMO; i++)
        if (memo[i].text && memo[i].len == text.len &&
            memcmp(memo[i].text, text.ptr, text.len) == 0)
            return memo[i].id;
    int64_t id = set_id(m, p, kind);
    if (text.len && text.len <= FT_MODEL_MEMO_TEXT) {
        struct ft_model_memo *slot = &memo[m->memo_next[kind]];
        m->memo_next[kind] = (m->memo_next[kind] + 1) % FT_MODEL_MEMO;
        free(slot->text);
        slot->text = ft_xmalloc(text.len);
        memcpy(slot->text, text.ptr, text.len);
        slot->len = text.len;
        slot->id = id;
    }
    return id;
}

void ft_model_set_ids(struct ft_model *m, struct ft_payload *p, int64_t ids[3])
{
    for (int k = 0; k < 3; k++)
        ids[k] = memo_set_id(m, p, k);
}
