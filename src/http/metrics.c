/*
 * Prometheus text exposition helpers (src/http/metrics.h).
 */
#include "http/metrics.h"

const double ft_histogram_bounds[FT_HISTOGRAM_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

void ft_histogram_observe(struct ft_histogram *h, int64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < FT_HISTOGRAM_BUCKETS && s > ft_histogram_bounds[i])
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (uint_fast64_t)(ns > 0 ? ns : 0));
}

void ft_metric_header(struct ft_buf *out, const char *name, const char *type, const char *help)
{
    ft_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void ft_metric_u64(struct ft_buf *out, const char *name, const char *labels, uint64_t v)
{
    if (labels && *labels)
        ft_buf_printf(out, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    else
        ft_buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

void ft_metric_f64(struct ft_buf *out, const char *name, const char *labels, double v)
{
    if (labels && *labels)
        ft_buf_printf(out, "%s{%s} %.6g\n", name, labels, v);
    else
        ft_buf_printf(out, "%s %.6g\n", name, v);
}

void ft_metric_histogram(struct ft_buf *out, const char *name, const char *help,
                         const struct ft_histogram *h)
{
    ft_metric_header(out, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i <= FT_HISTOGRAM_BUCKETS; i++) {
        cum += atomic_load(&h->buckets[i]);
        if (i < FT_HISTOGRAM_BUCKETS)
            ft_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, ft_histogram_bounds[i],
                          (unsigned long long)cum);
        else
            ft_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    ft_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
                  (double)atomic_load(&h->sum_ns) / 1e9, name,
                  (unsigned long long)atomic_load(&h->count));
}
