/*
 * flagtrail serve: the process around the flags API (src/serve/serve.h): startup, per-thread
 * workspaces, metrics, signals and drain.
 */
#include "base/clock.h"
#include "base/signals.h"
#include "flagtrail/error.h"
#include "flagtrail/version.h"
#include "serve/serve_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static _Thread_local struct serve_worker *tl_worker;

void ft_serve_config_init(struct ft_serve_config *cfg)
{
    *cfg = (struct ft_serve_config){
        .listen = "127.0.0.1:8000",
        .data_dir = "./flagtrail-serve",
        .poll_interval_s = 10,
        .outbox_max_bytes = 1u << 30,
        .sync_interval_ms = 10,
        .webhook_timeout_s = 10,
        .endpoint_concurrency = 32,
        .drain_timeout_s = 10,
    };
}

struct serve_worker *ft__serve_worker(struct server *s)
{
    struct serve_worker *w = tl_worker;
    if (w) return w;
    w = ft_xcalloc(1, sizeof(*w));
    w->doc = ft_json_doc_new(NULL);
    ft_arena_init(&w->arena, 0);
    ft_engine_result_init(&w->result);
    ft_buf_init(&w->out, 0);
    ft_buf_init(&w->webhook, 0);
    pthread_mutex_lock(&s->workers_lock);
    w->next = s->workers;
    s->workers = w;
    pthread_mutex_unlock(&s->workers_lock);
    tl_worker = w;
    return w;
}

/* --- metrics --- */

static const char *const route_names[S_COUNT] = {
    "flags",   "identities_get", "identities_post", "environment_document",
    "healthz", "readyz",         "metrics",         "other"};
static const int statuses[S_STATUSES] = {200, 400, 403, 404, 405, 413, 415, 503, 0};

static void on_done(void *ctx, const struct ft_http_done_info *info)
{
    struct server *s = ctx;
    int route = info->route >= 0 ? info->route : S_OTHER;
    size_t k = 0;
    while (statuses[k] && statuses[k] != info->status)
        k++;
    atomic_fetch_add(&s->requests[route][k], 1);
    if (route <= S_IDENTITIES_POST) ft_histogram_observe(&s->latency, info->duration_ns);
}

void ft__serve_render_metrics(struct server *s, struct ft_buf *out)
{
    ft_metric_header(out, "flagtrail_serve_requests_total", "counter",
                     "Flags API requests by route and status.");
    for (int r = 0; r < S_COUNT; r++) {
        for (size_t k = 0; k < S_STATUSES; k++) {
            uint64_t v = atomic_load(&s->requests[r][k]);
            if (!v) continue;
            char labels[96];
            if (statuses[k])
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route_names[r],
                         statuses[k]);
            else
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"other\"", route_names[r]);
            ft_metric_u64(out, "flagtrail_serve_requests_total", labels, v);
        }
    }
    ft_metric_histogram(out, "flagtrail_serve_duration_seconds",
                        "Flags API requests from request line to answer.", &s->latency);
    ft_metric_header(out, "flagtrail_webhooks_emitted_total", "counter",
                     "Webhooks put in the outbox.");
    ft_metric_u64(out, "flagtrail_webhooks_emitted_total", NULL, atomic_load(&s->webhooks_emitted));
    struct ft_dispatcher_stats ds;
    ft_dispatcher_get_stats(s->dispatcher, &ds);
    ft_metric_header(out, "flagtrail_webhooks_lost_total", "counter",
                     "Webhooks lost: the outbox could not take them (full or failed; flags were "
                     "served), or their dead letter could not be written.");
    ft_metric_u64(out, "flagtrail_webhooks_lost_total", NULL,
                  atomic_load(&s->webhooks_lost) + ds.dead_lost);
    struct ft_spool_stats ss;
    ft_spool_get_stats(s->outbox, &ss);
    ft_metric_header(out, "flagtrail_outbox_depth", "gauge",
                     "Webhooks in the outbox not yet delivered or dead: sending, waiting to "
                     "retry, or waiting to be read.");
    ft_metric_u64(out, "flagtrail_outbox_depth", NULL, ds.pending + ds.unread);
    ft_metric_header(out, "flagtrail_outbox_held", "gauge",
                     "Of those, the webhooks the dispatcher holds in memory.");
    ft_metric_u64(out, "flagtrail_outbox_held", NULL, ds.pending);
    ft_metric_header(out, "flagtrail_outbox_backlog_bytes", "gauge",
                     "Outbox bytes not yet finished (delivered or dead).");
    ft_metric_u64(out, "flagtrail_outbox_backlog_bytes", NULL, ss.backlog);
    ft_metric_header(out, "flagtrail_webhooks_in_flight", "gauge", "Deliveries in progress.");
    ft_metric_u64(out, "flagtrail_webhooks_in_flight", NULL, ds.in_flight);
    ft_metric_header(out, "flagtrail_webhooks_delivered_total", "counter",
                     "Webhooks answered with 2xx.");
    ft_metric_u64(out, "flagtrail_webhooks_delivered_total", NULL, ds.delivered);
    ft_metric_header(out, "flagtrail_webhooks_retried_total", "counter",
                     "Failed attempts that will be retried.");
    ft_metric_u64(out, "flagtrail_webhooks_retried_total", NULL, ds.retried);
    ft_metric_header(out, "flagtrail_webhooks_dead_total", "counter",
                     "Webhooks given up on, in the dead-letter spool.");
    ft_metric_u64(out, "flagtrail_webhooks_dead_total", NULL, ds.dead);
    ft_metric_header(out, "flagtrail_webhooks_moved_total", "counter",
                     "Webhooks waiting to retry moved to the outbox's tail, so that what was "
                     "delivered after them could be released.");
    ft_metric_u64(out, "flagtrail_webhooks_moved_total", NULL, ds.rotated);
    ft_metric_header(out, "flagtrail_outbox_read_errors_total", "counter",
                     "Failed reads of the outbox (a segment that could not be opened or read); "
                     "each is tried again after a pause.");
    ft_metric_u64(out, "flagtrail_outbox_read_errors_total", NULL, ds.read_errors);
    ft_metric_header(out, "flagtrail_identity_store_errors_total", "counter",
                     "Identity calls answered 503 because the identity store failed.");
    ft_metric_u64(out, "flagtrail_identity_store_errors_total", NULL,
                  atomic_load(&s->identity_errors));
    struct ft_identity_counts ic;
    ft_identities_counts(s->identities, &ic);
    ft_metric_header(out, "flagtrail_identity_calls_total", "counter",
                     "Identity calls the identity store resolved.");
    ft_metric_u64(out, "flagtrail_identity_calls_total", NULL, ic.calls);
    ft_metric_header(out, "flagtrail_identity_commits_total", "counter",
                     "Identity store commits: the calls of one commit interval share one.");
    ft_metric_u64(out, "flagtrail_identity_commits_total", NULL, ic.commits);
    ft_metric_header(out, "flagtrail_identity_changes_lost_total", "counter",
                     "Answered identity calls whose trait changes were lost with their "
                     "transaction.");
    ft_metric_u64(out, "flagtrail_identity_changes_lost_total", NULL, ic.lost);
}

/* --- lifecycle --- */

static ft_signer *dispatch_signer(void *arg, struct ft_str environment)
{
    return ft_environments_signer(arg, environment);
}

static unsigned dispatch_generation(void *arg)
{
    return ft_environments_generation(arg);
}

static int open_spool(const char *dir, const char *name, const struct ft_spool_options *o,
                      ft_spool **out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return ft_spool_open(path, o, out, err, errlen);
}

static int start(struct server *s, char *err, size_t errlen)
{
    const struct ft_serve_config *cfg = s->cfg;
    struct ft_environments_options eo = {
        .files = cfg->environments,
        .nfiles = cfg->nenvironments,
        .url = cfg->environment_url,
        .url_key = cfg->environment_key,
        .poll_interval_s = cfg->poll_interval_s,
        .keys = cfg->keys,
        .nkeys = cfg->nkeys,
        .webhook_url = cfg->webhook_url,
        .webhook_secret = cfg->webhook_secret,
        .webhook_secret_len = cfg->webhook_secret_len,
    };
    int rc = ft_environments_open(&eo, &s->envs, err, errlen);
    if (rc) return rc;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir, strerror(errno));
        return FT_EIO;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/identities.db", cfg->data_dir);
    if ((rc = ft_identities_open(cfg->identities ? cfg->identities : path,
                                 (int64_t)cfg->sync_interval_ms * 1000, &s->identities, err,
                                 errlen)))
        return rc;
    struct ft_spool_options so = {.durability = FT_SPOOL_FSYNC,
                                  .max_backlog = cfg->outbox_max_bytes,
                                  .max_record = 64u << 20,
                                  .sync_interval_us = (int64_t)cfg->sync_interval_ms * 1000};
    if ((rc = open_spool(cfg->data_dir, "outbox", &so, &s->outbox, err, errlen))) return rc;
    so.max_backlog = 4 * cfg->outbox_max_bytes;
    if ((rc = open_spool(cfg->data_dir, "dead-letters", &so, &s->dead, err, errlen))) return rc;
    snprintf(path, sizeof(path), "%s/outbox.checkpoint", cfg->data_dir);
    struct ft_dispatcher_options dopt = {
        .checkpoint_path = path,
        .dead = s->dead,
        .schedule_us = cfg->nschedule ? cfg->schedule_us : NULL,
        .nschedule = cfg->nschedule,
        .max_age_us = cfg->max_age_us,
        .timeout_ms = (long)cfg->webhook_timeout_s * 1000,
        .per_endpoint = cfg->endpoint_concurrency,
        .standard_webhooks = cfg->standard_webhooks,
        .user_agent = "flagtrail/" FT_VERSION,
        .signer = dispatch_signer,
        .signer_arg = s->envs,
        .generation = dispatch_generation,
    };
    if ((rc = ft_dispatcher_new(s->outbox, &dopt, &s->dispatcher, err, errlen)) ||
        (rc = ft_dispatcher_start(s->dispatcher))) {
        if (rc && !*err) snprintf(err, errlen, "cannot start the dispatcher");
        return rc ? rc : FT_EIO;
    }
    struct ft_http_options ho = {
        .listen = cfg->listen,
        .threads = cfg->threads,
        .max_connections = cfg->max_connections,
        .max_body = 1u << 20,
        .routes = ft__serve_routes,
        .nroutes = ft__serve_nroutes,
        .cors = &ft__serve_cors,
        .ctx = s,
        .on_done = on_done,
    };
    if ((rc = ft_http_start(&ho, &s->http, err, errlen))) return rc;
    if ((rc = ft_environments_watch(s->envs))) snprintf(err, errlen, "cannot start the watcher");
    return rc;
}

/* Stops what start() started (all of it, or what it got to: `started` false after a failed
 * start, which is not reported as a stop). */
static void stop(struct server *s, bool started)
{
    int64_t drain_us = (int64_t)s->cfg->drain_timeout_s * 1000000;
    if (s->http) {
        ft_http_quiesce(s->http);
        ft_http_drain(s->http, (int)(drain_us / 1000));
        /* calls from here on get 503; what the store holds is committed */
        if (s->identities) ft_identities_shutdown(s->identities);
        ft_http_drain(s->http, 1000);
        ft_http_stop(s->http);
    }
    if (s->outbox) ft_spool_sync(s->outbox);
    if (s->dispatcher) {
        ft_dispatcher_stop(s->dispatcher, ft_clock_mono_ns() / 1000 + drain_us);
        struct ft_dispatcher_stats ds;
        ft_dispatcher_get_stats(s->dispatcher, &ds);
        char delivered[24], pending[24];
        snprintf(delivered, sizeof(delivered), "%" PRIu64, ds.delivered);
        snprintf(pending, sizeof(pending), "%zu", ds.pending);
        if (started)
            ft_log(FT_LOG_INFO, "serve.stopped", "delivered", delivered, "pending", pending,
                   NULL);
    }
    ft_identities_close(s->identities); /* the HTTP server is gone: nothing calls it after */
    ft_dispatcher_free(s->dispatcher);
    ft_spool_close(s->dead);
    ft_spool_close(s->outbox);
    ft_environments_close(s->envs);
    for (struct serve_worker *w = s->workers, *next; w; w = next) {
        next = w->next;
        ft_json_doc_free(w->doc);
        ft_arena_free(&w->arena);
        ft_engine_result_free(&w->result);
        ft_buf_free(&w->out);
        ft_buf_free(&w->webhook);
        free(w);
    }
}

static void on_hup(void *arg)
{
    struct server *s = arg;
    ft_environments_request_reload(s->envs);
}

int ft_serve_run(const struct ft_serve_config *cfg)
{
    ft_signals_block(); /* before any thread starts */
    struct server *s = ft_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    pthread_mutex_init(&s->workers_lock, NULL);
    char err[512] = "";
    int code = 0;
    if (start(s, err, sizeof(err))) {
        ft_log(FT_LOG_ERROR, "serve.start_failed", "error", err, NULL);
        code = 1;
    } else {
        struct ft_envset *envs = ft_environments_acquire(s->envs);
        for (size_t i = 0; i < envs->nenvs; i++)
            ft_log(FT_LOG_INFO, "serve.environment", "api_key", envs->envs[i]->api_key, "source",
                   envs->envs[i]->source, "webhook", envs->envs[i]->webhook_url ? "on" : "off",
                   "signed", envs->envs[i]->webhook_secret ? "yes" : "no", NULL);
        ft_envset_release(envs);
        ft_log(FT_LOG_INFO, "serve.listening", "address", ft_http_address(s->http), "data",
               cfg->data_dir, "version", FT_VERSION, NULL);
        const char *sig = ft_signals_wait(on_hup, s);
        ft_log(FT_LOG_INFO, "serve.stopping", "signal", sig, NULL);
    }
    stop(s, code == 0);
    pthread_mutex_destroy(&s->workers_lock);
    free(s);
    return code;
}
