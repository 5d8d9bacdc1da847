/*
 * serve's flags API (src/serve/serve.h): the routes Flagsmith's SDKs call, with Flagsmith
 * core's shapes and status codes, and the identity webhook built from each identity call.
 */
#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "flagtrail/error.h"
#include "serve/outbox.h"
#include "serve/request.h"
#include "serve/serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- answers --- */

static void respond_text(struct ft_http_response *r, int status, const char *body)
{
    *r = (struct ft_http_response){.status = status, .body = body, .len = strlen(body)};
}

static void respond_buf(struct ft_http_response *r, int status, const struct ft_buf *b)
{
    *r = (struct ft_http_response){.status = status, .body = b->data, .len = b->len};
}

static void write_nint(struct ft_buf *b, struct ft_nint v)
{
    if (v.null)
        ft_buf_append_str(b, "null");
    else
        ft_json_write_int(b, v.value);
}

void ft__serve_write_flag(struct ft_buf *b, const struct ft_env *env,
                          const struct ft_engine_flag *f)
{
    const struct ft_feature_info *fi = ft_env_feature(env, f->feature_name);
    ft_buf_append_str(b, "{\"id\": ");
    write_nint(b, f->feature_state_id);
    ft_buf_append_str(b, ", \"feature\": ");
    if (fi)
        ft_buf_append(b, fi->json.ptr, fi->json.len);
    else
        ft_env_write_feature(b, f, NULL);
    ft_buf_append_str(b, ", \"feature_state_value\": ");
    if (ft_value_write(b, &f->value)) ft_buf_append_str(b, "null");
    ft_buf_append_str(b, ", \"environment\": ");
    write_nint(b, ft_engine_environment(env->engine)->id);
    ft_buf_append_str(b, ", \"identity\": ");
    write_nint(b, f->identity);
    ft_buf_append_str(b, ", \"feature_segment\": ");
    write_nint(b, f->feature_segment);
    ft_buf_append_str(b, f->enabled ? ", \"enabled\": true}" : ", \"enabled\": false}");
}

static void write_flags(struct ft_buf *b, const struct ft_env *env,
                        const struct ft_engine_result *r)
{
    ft_buf_append_char(b, '[');
    for (size_t i = 0; i < r->nflags; i++) {
        if (i) ft_buf_append_str(b, ", ");
        ft__serve_write_flag(b, env, &r->flags[i]);
    }
    ft_buf_append_char(b, ']');
}

static void write_identity(struct ft_buf *b, const struct ft_env *env,
                           const struct ft_engine_result *r, struct ft_str identifier,
                           const struct ft_identity_state *st)
{
    ft_buf_append_str(b, "{\"identifier\": ");
    ft_json_write_str(b, identifier.ptr, identifier.len);
    ft_buf_append_str(b, ", \"flags\": ");
    write_flags(b, env, r);
    ft_buf_append_str(b, ", \"traits\": [");
    for (size_t i = 0; i < st->ntraits; i++) {
        if (i) ft_buf_append_str(b, ", ");
        ft_buf_append_str(b, "{\"trait_key\": ");
        ft_json_write_str(b, st->traits[i].key.ptr, st->traits[i].key.len);
        ft_buf_append_str(b, ", \"trait_value\": ");
        if (ft_value_write(b, &st->traits[i].value)) ft_buf_append_str(b, "null");
        ft_buf_append_char(b, '}');
    }
    ft_buf_append_str(b, "]}");
}

/* --- the webhook --- */

/* Python's truthiness, which decides whether Flagsmith adds percentage_allocation. */
static bool truthy(const struct ft_value *v)
{
    switch (v->type) {
    case FT_VALUE_NULL: return false;
    case FT_VALUE_BOOL: return ft_str_eq_c(v->text, "true");
    case FT_VALUE_STRING: return v->text.len > 0;
    case FT_VALUE_INT:
    case FT_VALUE_FLOAT: return ft_str_double(v->text) != 0;
    }
    return false;
}

/* An allocation as Flagsmith's float field prints it (30 -> 30.0). */
static struct ft_value allocation(const struct ft_value *v, struct ft_arena *arena)
{
    if (v->type != FT_VALUE_INT && v->type != FT_VALUE_FLOAT)
        return (struct ft_value){FT_VALUE_NULL, {"", 0}};
    struct ft_buf b;
    ft_buf_init(&b, 0);
    ft_json_write_double(&b, ft_str_double(v->text));
    struct ft_value out = {FT_VALUE_FLOAT, {ft_arena_strndup(arena, b.data, b.len), b.len}};
    ft_buf_free(&b);
    return out;
}

void ft__serve_payload(const struct ft_env *env, const struct ft_engine_result *r,
                       struct ft_str identifier, const struct ft_trait *traits, size_t ntraits,
                       const bool *members, struct ft_arena *arena, struct ft_payload *out)
{
    const struct ft_engine_environment *info = ft_engine_environment(env->engine);
    struct ft_flag *flags = ft_arena_alloc(arena, sizeof(*flags) * (r->nflags ? r->nflags : 1));
    for (size_t i = 0; i < r->nflags; i++) {
        const struct ft_engine_flag *f = &r->flags[i];
        const struct ft_feature_info *fi = ft_env_feature(env, f->feature_name);
        bool show = truthy(&f->value);
        flags[i] = (struct ft_flag){
            .enabled = f->enabled,
            .environment = info->id.null ? 0 : info->id.value,
            .feature = ft_env_webhook_feature(f, fi),
            .feature_segment = f->feature_segment,
            .value = f->value,
            .id = f->feature_state_id.null ? 0 : f->feature_state_id.value,
            .identity = f->identity,
            .has_percentage_allocation = show,
            .percentage_allocation = show ? allocation(&f->percentage_allocation, arena)
                                          : (struct ft_value){FT_VALUE_NULL, {"", 0}},
        };
    }
    struct ft_segment *segs =
        ft_arena_alloc(arena, sizeof(*segs) * (r->nsegments ? r->nsegments : 1));
    for (size_t i = 0; i < r->nsegments; i++) {
        const struct ft_engine_segment *g = &r->segments[i];
        segs[i] = (struct ft_segment){.id = g->id.null ? 0 : g->id.value, .name = g->name,
                                      .member = members ? members[i] : g->member};
    }
    *out = (struct ft_payload){.identity = identifier,
                               .flags = flags,
                               .nflags = r->nflags,
                               .traits = (struct ft_trait *)traits,
                               .ntraits = ntraits,
                               .segments = segs,
                               .nsegments = r->nsegments};
}

/* Emits the webhook for an identity call into the outbox, with the segment members given
 * (NULL: the evaluation's); a refusal is counted and logged, never returned: the SDK gets its
 * flags whatever happens to the webhook. */
static void emit_webhook(struct server *s, struct serve_worker *w, const struct ft_env *env,
                         struct ft_str identifier, const struct ft_identity_state *st,
                         const bool *members)
{
    struct ft_payload p;
    ft__serve_payload(env, &w->result, identifier, st->traits, st->ntraits, members, &w->arena,
                      &p);
    ft_buf_reset(&w->webhook);
    char id[FT_OUTBOX_ID_SIZE];
    ft_outbox_new_id(id);
    int erc = ft_payload_emit(&p, &w->webhook);
    if (erc) { /* no value read or stored can cause this; counted if one ever does */
        atomic_fetch_add(&s->webhooks_lost, 1);
        ft_log(FT_LOG_ERROR, "serve.webhook_lost", "id", id, "reason", ft_strerror(erc), NULL);
        return;
    }
    struct ft_outbox_record rec = {.type = FT_OUTBOX_WEBHOOK,
                                   .created_at = ft_clock_now_us(),
                                   .id = ft_str_c(id),
                                   .url = ft_str_c(env->webhook_url),
                                   .environment = ft_str_c(env->api_key)};
    unsigned char *head = ft_arena_alloc(&w->arena, ft_outbox_header_size(&rec));
    size_t hlen = ft_outbox_header(head, &rec);
    struct iovec iov[2] = {{head, hlen}, {w->webhook.data, w->webhook.len}};
    uint64_t lsn;
    bool durable;
    int rc = ft_spool_append(s->outbox, iov, 2, NULL, NULL, &lsn, &durable);
    if (rc) {
        atomic_fetch_add(&s->webhooks_lost, 1);
        ft_log(FT_LOG_ERROR, "serve.webhook_lost", "id", id, "reason", ft_strerror(rc), NULL);
        return;
    }
    atomic_fetch_add(&s->webhooks_emitted, 1);
}

/* --- requests --- */

/* The environment of the request's key, as Flagsmith's EnvironmentKeyAuthentication finds
 * it (api/environments/authentication.py), or NULL with the 403 answered. */
static const struct ft_env *authorize(struct server *s, ft_http_request *req,
                                      struct ft_envset **set, bool *server,
                                      struct ft_http_response *resp)
{
    *set = ft_environments_acquire(s->envs);
    const struct ft_env *env = ft_envset_find(*set, ft_http_header(req, "X-Environment-Key"), server);
    if (!env)
        respond_text(resp, 403, "{\"detail\": \"Invalid or missing Environment key\"}");
    else if (env->stop_serving)
        respond_text(resp, 403, "{\"detail\": \"Organisation is disabled from serving flags.\"}");
    else
        return env;
    ft_envset_release(*set);
    *set = NULL;
    return NULL;
}

static enum ft_http_outcome flags_handle(void *ctx, ft_http_request *req,
                                         struct ft_http_response *resp)
{
    struct server *s = ctx;
    struct ft_envset *set;
    bool server;
    const struct ft_env *env = authorize(s, req, &set, &server, resp);
    if (!env) return FT_HTTP_DONE;
    struct serve_worker *w = ft__serve_worker(s);
    ft_engine_evaluate(env->engine, NULL, server ? 0 : FT_ENGINE_CLIENT_VIEW, &w->result);
    ft_buf_reset(&w->out);
    write_flags(&w->out, env, &w->result);
    respond_buf(resp, 200, &w->out);
    ft_envset_release(set);
    return FT_HTTP_DONE;
}

/* Evaluates an identity with `traits` into the worker's result. A string that looks like a
 * number is evaluated as that number, as Flagsmith's engine reads trait values
 * (map_any_value_to_trait_value), while the answer and the webhook keep the string. */
static void evaluate(struct serve_worker *w, const struct ft_env *env, struct ft_str identifier,
                     const struct ft_trait *traits, size_t n, unsigned view)
{
    struct ft_engine_trait *t = ft_arena_alloc(&w->arena, sizeof(*t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        t[i] = (struct ft_engine_trait){traits[i].key, traits[i].value};
        if (t[i].value.type == FT_VALUE_STRING) ft_engine_trait_coerce(&t[i].value, &w->arena);
    }
    struct ft_engine_identity id = {.identifier = identifier, .traits = t, .ntraits = n};
    ft_engine_evaluate(env->engine, &id, view, &w->result);
}

/* Whether the call's traits are the stored ones: none of them is this call's unstored. */
static bool only_stored_traits(const struct ft_identity_state *st)
{
    if (st->ntraits != st->nstored) return false;
    for (size_t i = 0; i < st->ntraits; i++)
        if (st->traits[i].id.null) return false;
    return true;
}

/* The webhook's segment members, which Flagsmith computes from the identity's stored traits
 * (SegmentSerializer.get_member in api/integrations/webhook/serializers.py: none for an
 * identity never stored), into the arena; NULL when the call's evaluation has them already. */
static const bool *stored_members(struct serve_worker *w, const struct ft_env *env,
                                  struct ft_str identifier, const struct ft_identity_state *st,
                                  unsigned view)
{
    if (only_stored_traits(st)) return NULL;
    evaluate(w, env, identifier, st->stored, st->nstored, view);
    bool *members = ft_arena_alloc(&w->arena, sizeof(*members) * (w->result.nsegments + 1));
    for (size_t i = 0; i < w->result.nsegments; i++)
        members[i] = w->result.segments[i].member;
    return members;
}

/* Evaluates an identity with the call's traits and answers; emits the webhook unless
 * `feature`. */
static void identity_answer(struct server *s, struct serve_worker *w, const struct ft_env *env,
                            bool server, struct ft_str identifier, struct ft_str feature,
                            const struct ft_identity_state *st, struct ft_http_response *resp)
{
    unsigned view = server ? 0 : FT_ENGINE_CLIENT_VIEW;
    bool webhook = !feature.ptr && env->webhook_url;
    const bool *members = webhook ? stored_members(w, env, identifier, st, view) : NULL;
    evaluate(w, env, identifier, st->traits, st->ntraits, view);
    ft_buf_reset(&w->out);
    if (feature.ptr) {
        for (size_t i = 0; i < w->result.nflags; i++) {
            if (ft_str_eq(w->result.flags[i].feature_name, feature)) {
                ft__serve_write_flag(&w->out, env, &w->result.flags[i]);
                respond_buf(resp, 200, &w->out);
                return;
            }
        }
        respond_text(resp, 404, "{\"detail\": \"Given feature not found\"}");
        return;
    }
    write_identity(&w->out, env, &w->result, identifier, st);
    respond_buf(resp, 200, &w->out);
    if (webhook) emit_webhook(s, w, env, identifier, st, members);
}

static void store_failed(struct server *s, const char *err, struct ft_http_response *resp)
{
    atomic_fetch_add(&s->identity_errors, 1);
    ft_log(FT_LOG_ERROR, "serve.identity_store_failed", "error", err, NULL);
    *resp = (struct ft_http_response){.status = 503,
                                      .body = "{\"detail\": \"Identity store unavailable\"}",
                                      .len = 40,
                                      .header_name = "Retry-After",
                                      .header_value = "1"};
}

/* How an identified call that is not transient treats traits: as the organisation says. */
static enum ft_identity_mode persist_mode(const struct ft_env *env)
{
    return env->persist_traits ? FT_IDENTITY_PERSIST : FT_IDENTITY_NO_PERSIST;
}

/* An identified call: the store resolves it at once (identities.h), then the answer. */
static void stored_identity(struct server *s, struct serve_worker *w, const struct ft_env *env,
                            bool server, struct ft_str identifier, struct ft_str feature,
                            const struct ft_trait_change *changes, size_t n,
                            enum ft_identity_mode mode, struct ft_http_response *resp)
{
    struct ft_identity_state st;
    char err[256] = "";
    int rc = ft_identities_resolve(s->identities, ft_str_c(env->api_key), identifier, changes, n,
                                   mode, &w->arena, &st, err, sizeof(err));
    if (rc == FT_ECLOSED)
        *resp = (struct ft_http_response){.status = 503,
                                          .body = "{\"detail\": \"Shutting down\"}",
                                          .len = 27,
                                          .header_name = "Retry-After",
                                          .header_value = "1"};
    else if (rc)
        store_failed(s, err, resp);
    else
        identity_answer(s, w, env, server, identifier, feature, &st, resp);
}

/* A DRF-style field error: {"field": ["message"]}. */
static void field_error(struct serve_worker *w, struct ft_http_response *resp, const char *field,
                        const char *msg)
{
    ft_buf_reset(&w->out);
    ft_buf_append_char(&w->out, '{');
    ft_json_write_str(&w->out, field, strlen(field));
    ft_buf_append_str(&w->out, ": [");
    ft_json_write_str(&w->out, msg, strlen(msg));
    ft_buf_append_str(&w->out, "]}");
    respond_buf(resp, 400, &w->out);
}

static enum ft_http_outcome identities_get(void *ctx, ft_http_request *req,
                                           struct ft_http_response *resp)
{
    struct server *s = ctx;
    struct ft_envset *set;
    bool server;
    const struct ft_env *env = authorize(s, req, &set, &server, resp);
    if (!env) return FT_HTTP_DONE;
    struct serve_worker *w = ft__serve_worker(s);
    ft_arena_reset(&w->arena);
    size_t ilen, flen;
    const char *identifier = ft_http_query(req, "identifier", &ilen);
    const char *feature = ft_http_query(req, "feature", &flen);
    if (feature && !flen) feature = NULL; /* Flagsmith's `if feature_name:` */
    bool nul_in_identifier = identifier && memchr(identifier, '\0', ilen);
    if (!identifier || !ilen) {
        /* Flagsmith core answers this with 200 */
        respond_text(resp, 200, "{\"detail\": \"Missing identifier\"}");
    } else if (nul_in_identifier || (feature && memchr(feature, '\0', flen))) {
        field_error(w, resp, nul_in_identifier ? "identifier" : "feature", FT_NUL_MESSAGE);
    } else if (!ft_utf8_valid(identifier, ilen) || (feature && !ft_utf8_valid(feature, flen))) {
        /* a query string is decoded bytes: the JSON body's reader checks this for POST */
        respond_text(resp, 400, "{\"detail\": \"identifier and feature must be UTF-8\"}");
    } else if (ft_utf8_length(identifier, ilen) > FT_IDENTIFIER_MAX) {
        field_error(w, resp, "identifier", FT_IDENTIFIER_MESSAGE);
    } else if (ilen > FT_IDENTIFIER_MAX_BYTES) {
        field_error(w, resp, "identifier", FT_IDENTIFIER_BYTES_MESSAGE);
    } else {
        stored_identity(s, w, env, server, (struct ft_str){identifier, ilen},
                        feature ? (struct ft_str){feature, flen} : (struct ft_str){NULL, 0}, NULL,
                        0, persist_mode(env), resp);
    }
    ft_envset_release(set);
    return FT_HTTP_DONE;
}

/* A 400 for an identify call's body: a field error, or {"detail": ...} when it is no object. */
static void request_error(struct serve_worker *w, const struct ft_request_error *err,
                          struct ft_http_response *resp)
{
    if (err->field) {
        field_error(w, resp, err->field, err->message);
        return;
    }
    ft_buf_reset(&w->out);
    ft_buf_append_str(&w->out, "{\"detail\": ");
    ft_json_write_str(&w->out, err->message, strlen(err->message));
    ft_buf_append_char(&w->out, '}');
    respond_buf(resp, 400, &w->out);
}

/* An identify call's three ways (IdentifyWithTraitsSerializer.save): without identifier a
 * transient identity that never touches the store; with "transient": true the stored identity,
 * if any, read and nothing written; else the identity persisted as the organisation says. */
static void identify(struct server *s, struct serve_worker *w, const struct ft_env *env,
                     bool server, const struct ft_identify *call, struct ft_http_response *resp)
{
    struct ft_str none = {NULL, 0};
    if (call->anonymous) {
        struct ft_identity_state st;
        ft_identities_transient(call->traits, call->ntraits, &w->arena, &st);
        identity_answer(s, w, env, server, call->identifier, none, &st, resp);
    } else {
        stored_identity(s, w, env, server, call->identifier, none, call->traits, call->ntraits,
                        call->transient ? FT_IDENTITY_TRANSIENT : persist_mode(env), resp);
    }
}

static enum ft_http_outcome identities_post(void *ctx, ft_http_request *req,
                                            struct ft_http_response *resp)
{
    struct server *s = ctx;
    struct ft_envset *set;
    bool server;
    const struct ft_env *env = authorize(s, req, &set, &server, resp);
    if (!env) return FT_HTTP_DONE;
    struct serve_worker *w = ft__serve_worker(s);
    ft_arena_reset(&w->arena);
    struct ft_str body = ft_http_body(req);
    struct ft_identify call;
    struct ft_request_error err;
    if (ft__serve_read_identify(w->doc, body.ptr, body.len, &w->arena, &call, &err))
        request_error(w, &err, resp);
    else if (call.ntraits && !server && !env->allow_client_traits) /* validate_traits */
        field_error(w, resp, "traits", "Setting traits not allowed with client key.");
    else
        identify(s, w, env, server, &call, resp);
    ft_envset_release(set);
    return FT_HTTP_DONE;
}

static bool json_body_check(void *ctx, ft_http_request *req, struct ft_http_response *resp)
{
    (void)ctx;
    const char *ct = ft_http_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) == 0) return false;
    respond_text(resp, 415, "{\"detail\": \"Unsupported media type in request; use application/json.\"}");
    return true;
}

static enum ft_http_outcome document_handle(void *ctx, ft_http_request *req,
                                            struct ft_http_response *resp)
{
    struct server *s = ctx;
    struct ft_envset *set;
    bool server;
    const struct ft_env *env = authorize(s, req, &set, &server, resp);
    if (!env) return FT_HTTP_DONE;
    if (!server) {
        respond_text(resp, 403, "{\"detail\": \"You do not have permission to perform this "
                                "action.\"}");
    } else {
        struct serve_worker *w = ft__serve_worker(s);
        ft_buf_reset(&w->out);
        ft_buf_append(&w->out, env->document, env->document_len);
        respond_buf(resp, 200, &w->out);
    }
    ft_envset_release(set);
    return FT_HTTP_DONE;
}

static enum ft_http_outcome healthz(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    (void)ctx;
    (void)req;
    respond_text(r, 200, "{\"status\":\"ok\"}");
    return FT_HTTP_DONE;
}

static enum ft_http_outcome readyz(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    struct server *s = ctx;
    (void)req;
    struct ft_spool_stats ss;
    ft_spool_get_stats(s->outbox, &ss);
    if (ss.failed)
        respond_text(r, 503, "{\"status\":\"not_ready\",\"detail\":\"outbox failed\"}");
    else
        respond_text(r, 200, "{\"status\":\"ready\"}");
    return FT_HTTP_DONE;
}

static enum ft_http_outcome metrics(void *ctx, ft_http_request *req, struct ft_http_response *r)
{
    struct server *s = ctx;
    (void)req;
    struct serve_worker *w = ft__serve_worker(s);
    ft_buf_reset(&w->out);
    ft__serve_render_metrics(s, &w->out);
    *r = (struct ft_http_response){.status = 200,
                                   .body = w->out.data,
                                   .len = w->out.len,
                                   .content_type = "text/plain; version=0.0.4"};
    return FT_HTTP_DONE;
}

/* The CORS settings of Flagsmith core (api/app/settings/common.py): CORS_ORIGIN_ALLOW_ALL
 * without credentials, CORS_ALLOW_HEADERS = django-cors-headers 3.5's default_headers,
 * "sentry-trace", X-Environment-Key and X-E2E-Test-Auth-Token, its default methods and
 * preflight max age; so a browser SDK with a client key can call the flags API. */
const struct ft_http_cors ft__serve_cors = {
    .path_prefix = "/api/",
    .allow_headers = "accept, accept-encoding, authorization, content-type, dnt, origin, "
                     "user-agent, x-csrftoken, x-requested-with, sentry-trace, X-Environment-Key, "
                     "X-E2E-Test-Auth-Token",
    .allow_methods = "DELETE, GET, OPTIONS, PATCH, POST, PUT",
    .max_age = "86400",
};

const struct ft_http_route ft__serve_routes[] = {
    {"GET", "/api/v1/flags/", false, NULL, flags_handle, S_FLAGS},
    {"GET", "/api/v1/identities/", false, NULL, identities_get, S_IDENTITIES_GET},
    {"POST", "/api/v1/identities/", true, json_body_check, identities_post, S_IDENTITIES_POST},
    {"GET", "/api/v1/environment-document/", false, NULL, document_handle, S_DOCUMENT},
    {"GET", "/healthz", false, NULL, healthz, S_HEALTHZ},
    {"GET", "/readyz", false, NULL, readyz, S_READYZ},
    {"GET", "/metrics", false, NULL, metrics, S_METRICS},
};

const size_t ft__serve_nroutes = sizeof(ft__serve_routes) / sizeof(ft__serve_routes[0]);
