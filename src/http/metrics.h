/*
 * Prometheus text exposition: counters, gauges and histograms written into a buffer.
 *
 * Values live with their owners (atomics in the servers, stats structs in the loader); these
 * helpers only print them in the text format (version 0.0.4) that Prometheus scrapes.
 */
#ifndef FT_HTTP_METRICS_H
#define FT_HTTP_METRICS_H

#include "flagtrail/base.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A latency histogram with fixed bounds in seconds. Thread-safe to observe. */
#define FT_HISTOGRAM_BUCKETS 14
struct ft_histogram {
    atomic_uint_fast64_t buckets[FT_HISTOGRAM_BUCKETS + 1]; /* the last is +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
};

extern const double ft_histogram_bounds[FT_HISTOGRAM_BUCKETS];

void ft_histogram_observe(struct ft_histogram *h, int64_t ns);

/* "# HELP name help\n# TYPE name type\n" */
void ft_metric_header(struct ft_buf *out, const char *name, const char *type, const char *help);
/* "name{labels} value\n"; labels may be NULL or "" */
void ft_metric_u64(struct ft_buf *out, const char *name, const char *labels, uint64_t v);
void ft_metric_f64(struct ft_buf *out, const char *name, const char *labels, double v);
/* The histogram's _bucket, _sum and _count lines (header included). */
void ft_metric_histogram(struct ft_buf *out, const char *name, const char *help,
                         const struct ft_histogram *h);

#endif
