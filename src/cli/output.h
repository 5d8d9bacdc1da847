/*
 * Tabular output of the analysis commands in three formats: an aligned table for people,
 * CSV (RFC 4180) and JSON (an array of objects) for programs. Rows are buffered for the table
 * (to align columns) and streamed for CSV and JSON.
 */
#ifndef FT_CLI_OUTPUT_H
#define FT_CLI_OUTPUT_H

#include "flagtrail/base.h"

#include <stdbool.h>
#include <stdio.h>

enum cli_format { CLI_TABLE, CLI_CSV, CLI_JSON };

/* Parses "table", "csv", "json". */
bool cli_parse_format(const char *s, enum cli_format *out);

#define CLI_OUT_MAX_COLS 24

struct cli_out {
    FILE *f;
    enum cli_format format;
    size_t ncols;
    const char *headers[CLI_OUT_MAX_COLS];
    bool numeric[CLI_OUT_MAX_COLS]; /* JSON: unquoted */
    size_t width[CLI_OUT_MAX_COLS];
    struct ft_arena arena;          /* buffered table cells */
    char ***rows;
    size_t nrows, cap;
};

/* Starts a result with `ncols` columns: headers[i], numeric[i] (may be NULL: all text). */
void cli_out_begin(struct cli_out *o, FILE *f, enum cli_format format, size_t ncols,
                   const char *const *headers, const bool *numeric);
/* One row of ncols cells (NUL-terminated; NULL prints as empty / JSON null). */
void cli_out_row(struct cli_out *o, const char *const *cells);
/* Ends the result (prints the buffered table) and frees it. */
void cli_out_end(struct cli_out *o);

/* Writes `s` as a JSON string literal (for the commands' own JSON). */
void cli_json_str(FILE *f, const char *s);

#endif
