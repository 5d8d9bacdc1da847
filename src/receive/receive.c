/*
 * flagtrail receive (src/receive/receive.h): the endpoint's handlers, its metrics, and the
 * process around them (startup, signals, drain).
 */
#include "receive/receive.h"
#include "base/clock.h"
#include "base/signals.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "flagtrail/payload.h"
#include "flagtrail/signature.h"
#include "flagtrail/version.h"
#include "http/metrics.h"
#include "http/server.h"
#include "receive/events.h"
#include "receive/loader.h"
#include "receive/record.h"
#include "store/model.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- state --- */

enum route_id { R_WEBHOOK, R_EVENTS, R_HEALTHZ, R_READYZ, R_METRICS, R_OTHER, R_COUNT };
static const char *const route_names[R_COUNT] = {"webhook", "events", "healthz", "readyz",
                                                 "metrics", "other"};
static const int tracked_status[] = {200, 400, 401, 404, 405, 413, 415, 503, 0};
#define N_STATUS (sizeof(tracked_status) / sizeof(tracked_status[0]))

/* Per HTTP thread: a verifier of its own (OpenSSL contexts are not shared) and a JSON doc. */
struct worker {
    struct worker *next;
    ft_verifier *verifier;
    unsigned generation;
    ft_json_doc *doc;
    struct ft_arena arena;
    struct ft_model model;
};

struct receiver {
    const struct ft_receive_config *cfg;
    char source[256];
    char quarantine_dir[4096]; /* SPOOL/quarantine: records the warehouse refused */
    ft_spool *spool;
    ft_store *store;
    ft_loader *loader;
    ft_http_server *http;

    pthread_mutex_t keys_lock; /* guards verifier, generation, workers */
    ft_verifier *verifier;     /* NULL: unsigned webhooks accepted */
    unsigned generation;
    struct worker *workers;

    atomic_uint_fast64_t requests[R_COUNT][N_STATUS];
    atomic_uint_fast64_t signature_failures;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t spool_refusals;
    struct ft_histogram latency;
    pthread_mutex_t rate_lock;
    int64_t rate_t_ns;
    uint64_t rate_rows;
    double rows_per_s;
};

static _Thread_local struct worker *tl_worker;

/* --- secrets --- */

/* Builds a verifier from the secret files and FLAGTRAIL_SECRET; NULL with *n = 0 when no
 * secret is configured. On a reload, a secret file that no longer exists is left out (that is
 * how a rotated-out secret is retired); at start it is an error. Returns FT_OK or an error
 * with `err` filled. */
static int load_secrets(const struct ft_receive_config *cfg, bool reload, ft_verifier **out,
                        size_t *n, char *err, size_t errlen)
{
    ft_verifier *v = ft_verifier_new();
    char *secret;
    size_t len;
    int rc = FT_OK;
    for (size_t i = 0; i < cfg->nsecret_files && rc == FT_OK; i++) {
        const char *path = cfg->secret_files[i];
        if (reload && access(path, F_OK) != 0 && errno == ENOENT) {
            ft_log(FT_LOG_WARN, "receive.secret_file_gone", "path", path, "secret",
                   "no longer accepted", NULL);
            continue;
        }
        if ((rc = ft_secret_read_file(path, &secret, &len, err, errlen))) break;
        rc = ft_verifier_add(v, secret, len);
        ft_free_secure(secret, len);
        if (rc) snprintf(err, errlen, "cannot use the secret in %s", cfg->secret_files[i]);
    }
    const char *env = cfg->use_env_secret ? getenv("FLAGTRAIL_SECRET") : NULL;
    if (rc == FT_OK && env && *env) {
        if ((rc = ft_secret_from_string(env, strlen(env), &secret, &len))) {
            snprintf(err, errlen, "FLAGTRAIL_SECRET is longer than %d bytes", FT_SECRET_MAX);
        } else {
            rc = ft_verifier_add(v, secret, len);
            ft_free_secure(secret, len);
        }
    }
    *n = ft_verifier_count(v);
    if (rc || *n == 0) {
        ft_verifier_free(v);
        v = NULL;
    }
    *out = v;
    return rc;
}

static struct worker *worker_for(struct receiver *rc)
{
    struct worker *w = tl_worker;
    if (!w) {
        w = ft_xcalloc(1, sizeof(*w));
        struct ft_json_limits lim = {.max_size = rc->cfg->max_body};
        w->doc = ft_json_doc_new(&lim);
        ft_arena_init(&w->arena, 0);
        ft_model_init(&w->model);
        w->generation = UINT32_MAX;
        pthread_mutex_lock(&rc->keys_lock);
        w->next = rc->workers;
        rc->workers = w;
        pthread_mutex_unlock(&rc->keys_lock);
        tl_worker = w;
    }
    if (w->generation != rc->generation) {
        pthread_mutex_lock(&rc->keys_lock);
        ft_verifier_free(w->verifier);
        w->verifier = rc->verifier ? ft_verifier_dup(rc->verifier) : NULL;
        w->generation = rc->generation;
        pthread_mutex_unlock(&rc->keys_lock);
    }
    return w;
}

static void reload_secrets(struct receiver *rc)
{
    ft_verifier *v;
    size_t n;
    char err[512] = "";
    if (load_secrets(rc->cfg, true, &v, &n, err, sizeof(err))) {
        ft_log(FT_LOG_ERROR, "receive.reload_failed", "error", err, "kept", "previous secrets",
               NULL);
        return;
    }
    /* no secret left: refused, also with --allow-unsigned, which must not start to apply just
     * because the last secret file went away (a receiver that checked keeps checking) */
    if (n == 0 && (!rc->cfg->allow_unsigned || rc->verifier)) {
        ft_log(FT_LOG_ERROR, "receive.reload_failed", "error", "no secret configured", "kept",
               "previous secrets", NULL);
        return;
    }
    pthread_mutex_lock(&rc->keys_lock);
    ft_verifier_free(rc->verifier);
    rc->verifier = v;
    rc->generation++;
    pthread_mutex_unlock(&rc->keys_lock);
    char count[16];
    snprintf(count, sizeof(count), "%zu", n);
    ft_log(FT_LOG_INFO, "receive.secrets_reloaded", "secrets", count, NULL);
}

/* --- answers --- */

#define JSON(s) (s), sizeof(s) - 1

static void respond(struct ft_http_response *r, int status, const char *body, size_t len)
{
    *r = (struct ft_http_response){.status = status, .body = body, .len = len};
}

static void respond_unavailable(struct ft_http_response *r, const char *detail_json)
{
    *r = (struct ft_http_response){.status = 503,
                                   .body = detail_json,
                                   .len = strlen(detail_json),
                                   .header_name = "Retry-After",
                                   .header_value = "5"};
}

/* 400 with {"error": kind, "detail": detail}; the body lives in the worker's arena. */
static void respond_invalid(struct worker *w, struct ft_http_response *r, const char *kind,
                            const char *detail)
{
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_buf_printf(&b, "{\"error\":\"%s\",\"detail\":", kind);
    ft_json_write_str(&b, detail, strlen(detail));
    ft_buf_append_char(&b, '}');
    char *body = ft_arena_strndup(&w->arena, b.data, b.len);
    respond(r, 400, body, b.len);
    ft_buf_free(&b);
}

/* --- the webhook route --- */

static bool is_json_type(const char *ct)
{
    if (!ct) return false;
    while (*ct == ' ')
        ct++;
    static const char want[] = "application/json";
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0) return false;
    const char *rest = ct + sizeof(want) - 1;
    while (*rest == ' ')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* Both signed routes (webhooks and events): a JSON content type and, when secrets are set, a
 * well-formed signature header before the body is read. */
static bool signed_json_check(void *ctx, ft_http_request *req, struct ft_http_response *resp)
{
    struct receiver *rc = ctx;
    if (!is_json_type(ft_http_header(req, "Content-Type"))) {
        respond(resp, 415, JSON("{\"error\":\"unsupported_media_type\"}"));
        return true;
    }
    bool standard = rc->cfg->standard_webhooks && ft_http_header(req, "webhook-signature");
    if (worker_for(rc)->verifier && !standard) {
        /* a missing or malformed signature is refused before the body is read */
        const char *sig = ft_http_header(req, FT_SIGNATURE_HEADER);
        size_t n = sig ? strlen(sig) : 0;
        bool hex = n == FT_SIGNATURE_HEX_LEN;
        for (size_t i = 0; hex && i < n; i++)
            hex = (sig[i] >= '0' && sig[i] <= '9') || ((sig[i] | 0x20) >= 'a' && (sig[i] | 0x20) <= 'f');
        if (!hex) {
            atomic_fetch_add(&rc->signature_failures, 1);
            respond(resp, 401, JSON("{\"error\":\"invalid_signature\"}"));
            return true;
        }
    }
    return false;
}

static void on_durable(void *arg, int status)
{
    ft_http_request *req = arg;
    struct ft_http_response resp;
    if (status == FT_OK)
        respond(&resp, 200, JSON("{\"status\":\"accepted\"}"));
    else if (status == FT_ENOSPC)
        respond_unavailable(&resp, "{\"error\":\"unavailable\",\"detail\":\"spool full\"}");
    else
        respond_unavailable(&resp, "{\"error\":\"unavailable\",\"detail\":\"spool write failed\"}");
    ft_http_complete(req, &resp);
}

/* Standard Webhooks: the timestamp within the tolerance and, when webhook-signature is
 * there, that signature; *id gets the webhook-id. 0 when the request has no webhook-id (the
 * usual checks apply), 1 when it passed, -1 after answering 401. */
static int standard_ok(struct receiver *rc, struct worker *w, ft_http_request *req,
                       struct ft_str body, struct ft_str *id, struct ft_http_response *resp)
{
    const char *wid = ft_http_header(req, "webhook-id");
    if (!rc->cfg->standard_webhooks || !wid) return 0;
    const char *ts = ft_http_header(req, "webhook-timestamp");
    char *end = NULL;
    errno = 0;
    long long t = ts && *ts >= '0' && *ts <= '9' ? strtoll(ts, &end, 10) : -1;
    bool decimal = t >= 0 && errno == 0 && *end == '\0'; /* errno read before the clock call */
    long long now = ft_clock_now_us() / 1000000, tol = rc->cfg->tolerance_s;
    bool in_time = decimal && t >= now - tol && t <= now + tol;
    size_t idlen = strlen(wid);
    if (!in_time || idlen == 0 || idlen > FT_DELIVERY_ID_MAX) {
        atomic_fetch_add(&rc->signature_failures, 1);
        if (in_time)
            respond(resp, 401, JSON("{\"error\":\"invalid_webhook_id\"}"));
        else
            respond(resp, 401, JSON("{\"error\":\"invalid_timestamp\"}"));
        return -1;
    }
    *id = (struct ft_str){wid, idlen};
    const char *sig = ft_http_header(req, "webhook-signature");
    if (!w->verifier || !sig) return 0; /* X-Flagsmith-Signature decides */
    if (ft_verifier_check_standard(w->verifier, wid, ts, body.ptr, body.len, sig) == FT_OK)
        return 1;
    atomic_fetch_add(&rc->signature_failures, 1);
    respond(resp, 401, JSON("{\"error\":\"invalid_signature\"}"));
    return -1;
}

/* Checks the body's signature; false after answering 401. `id` gets a Standard Webhooks
 * webhook-id, when there is one. */
static bool signature_ok(struct receiver *rc, struct worker *w, ft_http_request *req,
                         struct ft_str body, struct ft_str *id, struct ft_http_response *resp)
{
    *id = (struct ft_str){NULL, 0};
    int standard = standard_ok(rc, w, req, body, id, resp);
    if (standard) return standard > 0;
    if (!w->verifier) return true;
    const char *sig = ft_http_header(req, FT_SIGNATURE_HEADER);
    if (ft_verifier_check(w->verifier, body.ptr, body.len, sig, sig ? strlen(sig) : 0) == FT_OK)
        return true;
    atomic_fetch_add(&rc->signature_failures, 1);
    respond(resp, 401, JSON("{\"error\":\"invalid_signature\"}"));
    return false;
}

/* Appends a record (header and body) to the spool: FT_HTTP_PENDING until it is durable, or
 * an answer now (200 when already durable, 503 when the spool refuses it). */
static enum ft_http_outcome spool_append(struct receiver *rc, ft_http_request *req,
                                         const struct ft_record *rec, struct ft_str body,
                                         struct ft_arena *arena, struct ft_http_response *resp)
{
    unsigned char *head = ft_arena_alloc(arena, ft_record_header_size(rec));
    size_t hlen = ft_record_header(head, rec);
    struct iovec iov[2] = {{head, hlen}, {(void *)body.ptr, body.len}};
    uint64_t lsn;
    bool durable;
    int src = ft_spool_append(rc->spool, iov, 2, on_durable, req, &lsn, &durable);
    if (src) {
        atomic_fetch_add(&rc->spool_refusals, 1);
        respond_unavailable(resp, src == FT_ENOSPC
                                      ? "{\"error\":\"unavailable\",\"detail\":\"spool full\"}"
                                      : "{\"error\":\"unavailable\",\"detail\":\"spool unavailable\"}");
        return FT_HTTP_DONE;
    }
    if (durable) {
        respond(resp, 200, JSON("{\"status\":\"accepted\"}"));
        return FT_HTTP_DONE;
    }
    return FT_HTTP_PENDING;
}

static enum ft_http_outcome webhook_handle(void *ctx, ft_http_request *req,
                                           struct ft_http_response *resp)
{
    struct receiver *rc = ctx;
    struct worker *w = worker_for(rc);
    ft_arena_reset(&w->arena);
    struct ft_str body = ft_http_body(req);
    struct ft_str delivery_id;
    if (!signature_ok(rc, w, req, body, &delivery_id, resp)) return FT_HTTP_DONE;
    struct ft_payload p;
    struct ft_payload_error perr;
    int prc = ft_payload_parse(w->doc, body.ptr, body.len, &w->arena, &p, &perr);
    if (prc) {
        respond_invalid(w, resp, prc == FT_EPAYLOAD ? "invalid_payload" : "invalid_json",
                        perr.detail);
        return FT_HTTP_DONE;
    }
    /* the summary spares the loader a second parse while the sets are ones it has seen */
    struct ft_record rec = {
        .type = FT_RECORD_WEBHOOK,
        .received_at = ft_clock_now_us(),
        .delivery_id = delivery_id,
        .has_summary = true,
        .environment = {.null = p.nflags == 0, .value = p.nflags ? p.flags[0].environment : 0},
        .identity = p.identity,
    };
    ft_model_set_ids(&w->model, &p, rec.sets);
    return spool_append(rc, req, &rec, body, &w->arena, resp);
}

static enum ft_http_outcome events_handle(void *ctx, ft_http_request *req,
                                          struct ft_http_response *resp)
{
    struct receiver *rc = ctx;
    struct worker *w = worker_for(rc);
    ft_arena_reset(&w->arena);
    struct ft_str body = ft_http_body(req);
    struct ft_str delivery_id;
    if (!signature_ok(rc, w, req, body, &delivery_id, resp)) return FT_HTTP_DONE;
    struct ft_event *events;
    size_t n;
    struct ft_events_error err;
    int prc = ft_events_parse(w->doc, body.ptr, body.len, &w->arena, &events, &n, &err);
    if (prc) {
        respond_invalid(w, resp, prc == FT_EPAYLOAD ? "invalid_payload" : "invalid_json",
                        err.detail);
        return FT_HTTP_DONE;
    }
    struct ft_record rec = {.type = FT_RECORD_EVENTS, .received_at = ft_clock_now_us(),
                            .delivery_id = delivery_id};
    return spool_append(rc, req, &rec, body, &w->arena, resp);
}

/* --- operations routes --- */

static enum ft_http_outcome healthz(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    (void)ctx;
    (void)req;
    respond(r, 200, JSON("{\"status\":\"ok\"}"));
    return FT_HTTP_DONE;
}

static enum ft_http_outcome readyz(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    struct receiver *rc = ctx;
    struct ft_spool_stats ss;
    struct ft_loader_stats ls;
    ft_spool_get_stats(rc->spool, &ss);
    ft_loader_get_stats(rc->loader, &ls);
    const char *problem = NULL;
    if (ss.failed) problem = "{\"status\":\"not_ready\",\"detail\":\"spool failed\"}";
    else if (ss.backlog * 10 >= rc->cfg->spool_max_bytes * 9)
        problem = "{\"status\":\"not_ready\",\"detail\":\"spool nearly full\"}";
    else if (!ls.store_ok)
        problem = "{\"status\":\"not_ready\",\"detail\":\"warehouse unreachable\"}";
    (void)req;
    if (problem)
        respond_unavailable(r, problem);
    else
        respond(r, 200, JSON("{\"status\":\"ready\"}"));
    return FT_HTTP_DONE;
}

static void render_metrics(struct receiver *rc, struct ft_buf *out)
{
    ft_metric_header(out, "flagtrail_http_requests_total", "counter",
                     "HTTP requests by route and status.");
    for (int r = 0; r < R_COUNT; r++) {
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = atomic_load(&rc->requests[r][s]);
            if (!v) continue;
            char labels[64];
            if (tracked_status[s])
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route_names[r],
                         tracked_status[s]);
            else
                snprintf(labels, sizeof(labels), "route=\"%s\",status=\"other\"", route_names[r]);
            ft_metric_u64(out, "flagtrail_http_requests_total", labels, v);
        }
    }
    ft_metric_header(out, "flagtrail_signature_failures_total", "counter",
                     "Webhooks refused for a missing, malformed or wrong signature.");
    ft_metric_u64(out, "flagtrail_signature_failures_total", NULL,
                  atomic_load(&rc->signature_failures));
    ft_metric_header(out, "flagtrail_http_request_bytes_total", "counter",
                     "Request body bytes received.");
    ft_metric_u64(out, "flagtrail_http_request_bytes_total", NULL, atomic_load(&rc->bytes_in));
    ft_metric_histogram(out, "flagtrail_webhook_duration_seconds",
                        "Webhook and event requests from request line to answer.", &rc->latency);

    struct ft_spool_stats ss;
    struct ft_loader_stats ls;
    ft_spool_get_stats(rc->spool, &ss);
    ft_loader_get_stats(rc->loader, &ls);
    ft_metric_header(out, "flagtrail_spool_backlog_bytes", "gauge",
                     "Spooled bytes not yet loaded and released.");
    ft_metric_u64(out, "flagtrail_spool_backlog_bytes", NULL, ss.backlog);
    ft_metric_header(out, "flagtrail_spool_limit_bytes", "gauge", "The spool's backlog bound.");
    ft_metric_u64(out, "flagtrail_spool_limit_bytes", NULL, rc->cfg->spool_max_bytes);
    ft_metric_header(out, "flagtrail_spool_segments", "gauge", "Spool segment files.");
    ft_metric_u64(out, "flagtrail_spool_segments", NULL, ss.segments);
    ft_metric_header(out, "flagtrail_spool_refusals_total", "counter",
                     "Webhooks answered 503 because the spool could not take them.");
    ft_metric_u64(out, "flagtrail_spool_refusals_total", NULL, atomic_load(&rc->spool_refusals));
    ft_metric_header(out, "flagtrail_loader_lag_bytes", "gauge",
                     "Durable spool bytes the loader has not committed yet.");
    ft_metric_u64(out, "flagtrail_loader_lag_bytes", NULL,
                  ss.durable_lsn > ls.checkpoint ? ss.durable_lsn - ls.checkpoint : 0);
    ft_metric_header(out, "flagtrail_loader_lag_seconds", "gauge",
                     "Seconds since the loader last committed, while it has work; else 0.");
    double lag = ss.durable_lsn > ls.checkpoint && ls.last_commit_us
                     ? (double)(ft_clock_now_us() - ls.last_commit_us) / 1e6
                     : 0;
    ft_metric_f64(out, "flagtrail_loader_lag_seconds", NULL, lag);
    ft_metric_header(out, "flagtrail_loader_deliveries_total", "counter",
                     "Webhooks loaded into the warehouse.");
    ft_metric_u64(out, "flagtrail_loader_deliveries_total", NULL, ls.deliveries);
    ft_metric_header(out, "flagtrail_loader_events_total", "counter",
                     "Metric events loaded into the warehouse.");
    ft_metric_u64(out, "flagtrail_loader_events_total", NULL, ls.events);
    ft_metric_header(out, "flagtrail_loader_rows_total", "counter",
                     "Warehouse rows written (deliveries, new set members, events).");
    ft_metric_u64(out, "flagtrail_loader_rows_total", NULL, ls.rows);
    pthread_mutex_lock(&rc->rate_lock);
    int64_t now = ft_clock_mono_ns();
    if (now - rc->rate_t_ns >= 1000000000) {
        if (rc->rate_t_ns)
            rc->rows_per_s = (double)(ls.rows - rc->rate_rows) * 1e9 / (double)(now - rc->rate_t_ns);
        rc->rate_t_ns = now;
        rc->rate_rows = ls.rows;
    }
    double rate = rc->rows_per_s;
    pthread_mutex_unlock(&rc->rate_lock);
    ft_metric_header(out, "flagtrail_loader_rows_per_second", "gauge",
                     "Rows written per second between the last two scrapes.");
    ft_metric_f64(out, "flagtrail_loader_rows_per_second", NULL, rate);
    ft_metric_header(out, "flagtrail_loader_errors_total", "counter",
                     "Failed warehouse batch attempts.");
    ft_metric_u64(out, "flagtrail_loader_errors_total", NULL, ls.store_errors);
    ft_metric_header(out, "flagtrail_loader_rejected_total", "counter",
                     "Spool records skipped as corrupt.");
    ft_metric_u64(out, "flagtrail_loader_rejected_total", NULL, ls.rejected);
    ft_metric_header(out, "flagtrail_loader_read_errors_total", "counter",
                     "Failed reads of the spool (a segment that could not be opened or read); "
                     "the record is tried again after a pause.");
    ft_metric_u64(out, "flagtrail_loader_read_errors_total", NULL, ls.read_errors);
    ft_metric_header(out, "flagtrail_loader_quarantined_total", "counter",
                     "Records the warehouse refused or this version cannot read, moved to "
                     "SPOOL/quarantine.");
    ft_metric_u64(out, "flagtrail_loader_quarantined_total", NULL, ls.quarantined);
}

static enum ft_http_outcome metrics(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    struct receiver *rc = ctx;
    struct worker *w = worker_for(rc);
    ft_arena_reset(&w->arena);
    struct ft_buf b;
    ft_buf_init(&b, 0);
    render_metrics(rc, &b);
    char *text = ft_arena_strndup(&w->arena, b.data, b.len);
    *r = (struct ft_http_response){.status = 200,
                                   .body = text,
                                   .len = b.len,
                                   .content_type = "text/plain; version=0.0.4"};
    ft_buf_free(&b);
    (void)req;
    return FT_HTTP_DONE;
}

static void on_done(void *ctx, const struct ft_http_done_info *info)
{
    struct receiver *rc = ctx;
    int route = info->route >= 0 ? info->route : R_OTHER;
    size_t s = 0;
    while (tracked_status[s] && tracked_status[s] != info->status)
        s++;
    atomic_fetch_add(&rc->requests[route][s], 1);
    atomic_fetch_add(&rc->bytes_in, info->body_bytes);
    if (route == R_WEBHOOK || route == R_EVENTS)
        ft_histogram_observe(&rc->latency, info->duration_ns);
}

/* --- lifecycle --- */

void ft_receive_config_init(struct ft_receive_config *cfg)
{
    *cfg = (struct ft_receive_config){
        .listen = "127.0.0.1:8080",
        .path = "/webhook",
        .store_url = "sqlite:./flagtrail.db",
        .spool_dir = "./flagtrail-spool",
        .use_env_secret = true,
        .max_body = 1u << 20,
        .durability = FT_SPOOL_FSYNC,
        .spool_max_bytes = 1u << 30,
        .drain_timeout_s = 10,
        .tolerance_s = 300,
    };
}

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct ft_buf b;
    ft_buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ft_buf_append(&b, chunk, n)) break;
    fclose(f);
    return b.data ? b.data : ft_xcalloc(1, 1);
}

static int start(struct receiver *rc, char *err, size_t errlen)
{
    const struct ft_receive_config *cfg = rc->cfg;
    size_t nsecrets;
    int r = load_secrets(cfg, false, &rc->verifier, &nsecrets, err, errlen);
    if (r) return r;
    if (nsecrets == 0 && !cfg->allow_unsigned) {
        snprintf(err, errlen, "no secret configured: give --secret-file FILE (or set "
                              "FLAGTRAIL_SECRET), or --allow-unsigned to accept unsigned "
                              "webhooks");
        return FT_EINVAL;
    }
    /* a record holds the body and a summary that repeats at most its identity */
    struct ft_spool_options so = {.durability = cfg->durability,
                                  .max_backlog = cfg->spool_max_bytes,
                                  .max_record = (uint32_t)(2 * cfg->max_body + 4096)};
    if ((r = ft_spool_open(cfg->spool_dir, &so, &rc->spool, err, errlen))) return r;
    if ((r = ft_store_open(cfg->store_url, &rc->store, err, errlen))) return r;
    snprintf(rc->quarantine_dir, sizeof(rc->quarantine_dir), "%s/quarantine", cfg->spool_dir);
    struct ft_loader_options lo = {.source = rc->source, .quarantine_dir = rc->quarantine_dir};
    if ((r = ft_loader_new(rc->spool, rc->store, &lo, &rc->loader, err, errlen))) return r;
    if ((r = ft_loader_start(rc->loader))) {
        snprintf(err, errlen, "cannot start the loader");
        return r;
    }
    static struct ft_http_route routes[5];
    routes[0] = (struct ft_http_route){"POST", cfg->path, true, signed_json_check,
                                       webhook_handle, R_WEBHOOK};
    routes[1] = (struct ft_http_route){"POST", "/events", true, signed_json_check, events_handle,
                                       R_EVENTS};
    routes[2] = (struct ft_http_route){"GET", "/healthz", false, NULL, healthz, R_HEALTHZ};
    routes[3] = (struct ft_http_route){"GET", "/readyz", false, NULL, readyz, R_READYZ};
    routes[4] = (struct ft_http_route){"GET", "/metrics", false, NULL, metrics, R_METRICS};
    struct ft_http_options ho = {
        .listen = cfg->listen,
        .threads = cfg->threads,
        .max_connections = cfg->max_connections,
        .max_body = cfg->max_body,
        .idle_timeout_s = cfg->idle_timeout_s,
        .request_timeout_s = cfg->request_timeout_s,
        .routes = routes,
        .nroutes = 5,
        .ctx = rc,
        .on_done = on_done,
    };
    char *cert = NULL, *key = NULL;
    if (cfg->tls_cert) {
        if (!(cert = read_pem(cfg->tls_cert, err, errlen)) ||
            !(key = read_pem(cfg->tls_key, err, errlen))) {
            free(cert);
            return FT_EIO;
        }
        ho.tls_cert_pem = cert;
        ho.tls_key_pem = key;
    }
    r = ft_http_start(&ho, &rc->http, err, errlen);
    free(cert);
    ft_free_secure(key, key ? strlen(key) : 0);
    return r;
}

/* Stops what start() started (all of it, or what it got to: `started` false after a failed
 * start, which is not reported as a stop). */
static void stop(struct receiver *rc, bool started)
{
    unsigned drain = rc->cfg->drain_timeout_s;
    if (rc->http) {
        ft_http_quiesce(rc->http);
        if (!ft_http_drain(rc->http, (int)drain * 1000))
            ft_log(FT_LOG_WARN, "receive.drain_timeout", "what", "requests in flight", NULL);
    }
    /* A request still on a connection from before the quiesce is answered 503 from here on;
     * once the sync returns no spool callback runs again, so the server can go. */
    if (rc->spool) {
        ft_spool_seal(rc->spool);
        ft_spool_sync(rc->spool);
    }
    if (rc->http) {
        ft_http_drain(rc->http, 1000); /* the answers the sync released */
        ft_http_stop(rc->http);
    }
    if (rc->loader) ft_loader_stop(rc->loader, ft_clock_mono_ns() / 1000 + (int64_t)drain * 1000000);
    if (rc->loader && started) {
        struct ft_loader_stats ls;
        ft_loader_get_stats(rc->loader, &ls);
        char cp[24], n[24];
        snprintf(cp, sizeof(cp), "%" PRIu64, ls.checkpoint);
        snprintf(n, sizeof(n), "%" PRIu64, ls.deliveries);
        ft_log(FT_LOG_INFO, "receive.stopped", "checkpoint", cp, "loaded", n, NULL);
    }
    ft_loader_free(rc->loader);
    ft_store_close(rc->store);
    ft_spool_close(rc->spool);
    for (struct worker *w = rc->workers, *next; w; w = next) {
        next = w->next;
        ft_verifier_free(w->verifier);
        ft_json_doc_free(w->doc);
        ft_arena_free(&w->arena);
        ft_model_free(&w->model);
        free(w);
    }
    ft_verifier_free(rc->verifier);
}

static void on_hup(void *arg)
{
    reload_secrets(arg);
}

int ft_receive_run(const struct ft_receive_config *cfg)
{
    ft_signals_block(); /* before any thread starts */
    struct receiver *rc = ft_xcalloc(1, sizeof(*rc));
    rc->cfg = cfg;
    pthread_mutex_init(&rc->keys_lock, NULL);
    pthread_mutex_init(&rc->rate_lock, NULL);
    if (cfg->source)
        snprintf(rc->source, sizeof(rc->source), "%s", cfg->source);
    else if (gethostname(rc->source, sizeof(rc->source) - 1) != 0)
        snprintf(rc->source, sizeof(rc->source), "flagtrail");
    char err[512] = "";
    int exit_code = 0;
    if (start(rc, err, sizeof(err))) {
        ft_log(FT_LOG_ERROR, "receive.start_failed", "error", err, NULL);
        exit_code = 1;
    } else {
        if (!rc->verifier)
            ft_log(FT_LOG_WARN, "receive.unsigned",
                   "note", "no secret configured: unsigned webhooks are accepted", NULL);
        char store[512];
        ft_log(FT_LOG_INFO, "receive.listening", "address", ft_http_address(rc->http), "path",
               cfg->path, "store", ft_store_redact(cfg->store_url, store, sizeof(store)),
               "spool", cfg->spool_dir, "source",
               rc->source, "durability", cfg->durability == FT_SPOOL_FSYNC ? "fsync" : "none",
               "version", FT_VERSION, NULL);
        const char *sig = ft_signals_wait(on_hup, rc);
        ft_log(FT_LOG_INFO, "receive.stopping", "signal", sig, NULL);
    }
    stop(rc, exit_code == 0);
    pthread_mutex_destroy(&rc->keys_lock);
    pthread_mutex_destroy(&rc->rate_lock);
    free(rc);
    return exit_code;
}
