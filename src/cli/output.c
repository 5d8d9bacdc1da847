/*
 * Table, CSV and JSON output (src/cli/output.h).
 */
#include "cli/output.h"
#include "base/display.h"
#include "flagtrail/json.h"

#include <stdlib.h>
#include <string.h>

bool cli_parse_format(const char *s, enum cli_format *out)
{
    if (strcmp(s, "table") == 0) *out = CLI_TABLE;
    else if (strcmp(s, "csv") == 0) *out = CLI_CSV;
    else if (strcmp(s, "json") == 0) *out = CLI_JSON;
    else return false;
    return true;
}

void cli_json_str(FILE *f, const char *s)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_json_write_str(&b, s, strlen(s));
    fwrite(b.data, 1, b.len, f);
    ft_buf_free(&b);
}

static void csv_field(FILE *f, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void cli_out_begin(struct cli_out *o, FILE *f, enum cli_format format, size_t ncols,
                   const char *const *headers, const bool *numeric)
{
    memset(o, 0, sizeof(*o));
    o->f = f;
    o->format = format;
    o->ncols = ncols > CLI_OUT_MAX_COLS ? CLI_OUT_MAX_COLS : ncols;
    for (size_t i = 0; i < o->ncols; i++) {
        o->headers[i] = headers[i];
        o->numeric[i] = numeric ? numeric[i] : false;
        o->width[i] = ft_display_width(headers[i]);
    }
    ft_arena_init(&o->arena, 0);
    if (format == CLI_CSV) {
        for (size_t i = 0; i < o->ncols; i++) {
            if (i) fputc(',', f);
            csv_field(f, headers[i]);
        }
        fputc('\n', f);
    } else if (format == CLI_JSON) {
        fputc('[', f);
    }
}

void cli_out_row(struct cli_out *o, const char *const *cells)
{
    FILE *f = o->f;
    if (o->format == CLI_CSV) {
        for (size_t i = 0; i < o->ncols; i++) {
            if (i) fputc(',', f);
            csv_field(f, cells[i]);
        }
        fputc('\n', f);
    } else if (o->format == CLI_JSON) {
        fputs(o->nrows++ ? ",\n {" : "\n {", f);
        for (size_t i = 0; i < o->ncols; i++) {
            if (i) fputs(", ", f);
            cli_json_str(f, o->headers[i]);
            fputs(": ", f);
            if (!cells[i]) fputs("null", f);
            else if (o->numeric[i]) fputs(cells[i], f);
            else cli_json_str(f, cells[i]);
        }
        fputc('}', f);
    } else {
        if (o->nrows == o->cap) {
            o->cap = o->cap ? o->cap * 2 : 64;
            o->rows = ft_xrealloc(o->rows, sizeof(*o->rows) * o->cap);
        }
        char **row = ft_arena_alloc(&o->arena, sizeof(*row) * o->ncols);
        for (size_t i = 0; i < o->ncols; i++) {
            char *shown = ft_display_dup(cells[i]); /* a value's escape sequences stay text */
            row[i] = ft_arena_strndup(&o->arena, shown, strlen(shown));
            free(shown);
            size_t w = ft_display_width(row[i]);
            if (w > o->width[i]) o->width[i] = w;
        }
        o->rows[o->nrows++] = row;
    }
}

static void table_line(struct cli_out *o, const char *const *cells)
{
    for (size_t i = 0; i < o->ncols; i++) {
        size_t pad = o->width[i] - ft_display_width(cells[i]);
        if (i) fputs("  ", o->f);
        if (o->numeric[i])
            for (size_t k = 0; k < pad; k++)
                fputc(' ', o->f);
        fputs(cells[i], o->f);
        if (!o->numeric[i] && i + 1 < o->ncols)
            for (size_t k = 0; k < pad; k++)
                fputc(' ', o->f);
    }
    fputc('\n', o->f);
}

void cli_out_end(struct cli_out *o)
{
    if (o->format == CLI_JSON) {
        fputs(o->nrows ? "\n]\n" : "]\n", o->f);
    } else if (o->format == CLI_TABLE) {
        table_line(o, o->headers);
        for (size_t i = 0; i < o->nrows; i++)
            table_line(o, (const char *const *)o->rows[i]);
    }
    free(o->rows);
    ft_arena_free(&o->arena);
}
