/*
 * A batch (src/store/store.h) as tab-separated rows, one buffer per table: the text that
 * PostgreSQL's COPY and ClickHouse's TabSeparated input both read. Fields are escaped the way
 * both expect (\\, \t, \n, \r; \N for NULL); the columns are ft__tsv_columns.
 * Backends differ only in how they spell booleans and bytes (struct ft_tsv_style).
 */
#ifndef FT_STORE_TSV_H
#define FT_STORE_TSV_H

#include "store/store.h"

enum { FT_TSV_FLAGS, FT_TSV_TRAITS, FT_TSV_SEGMENTS, FT_TSV_DELIVERIES, FT_TSV_EVENTS,
       FT_TSV_TABLES };

/* The table of each buffer: ft_flag_set, ft_trait_set, ft_segment_set, ft_delivery, ft_event. */
extern const char *const ft__tsv_table[FT_TSV_TABLES];

/* The columns each buffer's rows fill, in order, as SQL: inserts name them, so that a column a
 * newer schema adds (with a default) does not make every row the wrong width. */
extern const char *const ft__tsv_columns[FT_TSV_TABLES];

struct ft_tsv_style {
    const char *true_text, *false_text;
    const char *bytes_prefix; /* before the lowercase hex of the body hash */
};

/* Empties `out` and writes the batch's sets, deliveries and events into it. */
void ft__tsv_batch(const struct ft_store_batch *b, const struct ft_tsv_style *style,
                   struct ft_buf out[FT_TSV_TABLES]);

/* Appends `v` escaped as a field (\N when v.ptr is NULL). */
void ft__tsv_str(struct ft_buf *b, struct ft_str v);

#endif
