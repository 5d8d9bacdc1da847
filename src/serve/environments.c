/*
 * serve's environments (src/serve/environments.h).
 *
 * Each loaded environment is reference-counted on its own, so a reload that replaces one
 * document builds a new set sharing the unchanged ones.
 */
#include "serve/environments.h"
#include "base/clock.h"
#include "base/log.h"
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "http/client.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_DOCUMENT ((size_t)64 << 20)

struct env_ref {
    struct ft_env env;
    atomic_int refs;
};

/* A version of a file, as far as stat tells (the size too: a write and the next may share an
 * mtime tick). */
struct file_version {
    int64_t mtime_ns;
    int64_t size;
};

struct ft_environments {
    struct ft_environments_options opt;
    char **files;
    struct file_version *failed; /* per file: the version that failed to load, not tried again */
    pthread_mutex_t reload_lock; /* one reload at a time (the watcher's, SIGHUP's) */
    char *url, *url_key, *webhook_url;
    char *webhook_secret;
    size_t webhook_secret_len;
    char **keys;
    pthread_mutex_t lock; /* guards current */
    struct ft_envset *current;
    unsigned generation;
    pthread_t watcher;
    bool watching;
    pthread_mutex_t stop_lock; /* guards stopping and reload_requested */
    pthread_cond_t stop_cond;
    bool stopping;
    bool reload_requested; /* SIGHUP: the watcher reloads everything */
    atomic_bool cancel;    /* closing: a document fetch in progress gives up */
};

/* --- one environment --- */

static void env_unref(struct ft_env *e)
{
    struct env_ref *r = (struct env_ref *)e;
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    ft_engine_free(e->engine);
    free(e->api_key);
    free(e->source);
    free(e->document);
    free(e->webhook_url);
    ft_free_secure(e->webhook_secret, e->webhook_secret_len);
    free(e->features);
    free(e->features_json);
    free(r);
}

static void env_ref(struct ft_env *e)
{
    atomic_fetch_add(&((struct env_ref *)e)->refs, 1);
}

static int cmp_feature(const void *a, const void *b)
{
    return ft_str_cmp(((const struct ft_feature_info *)a)->name,
                      ((const struct ft_feature_info *)b)->name);
}

void ft_env_write_feature(struct ft_buf *b, const struct ft_engine_flag *f,
                          const struct ft_feature_info *fi)
{
    ft_buf_append_str(b, "{\"id\": ");
    if (f->feature_id.null)
        ft_buf_append_str(b, "null");
    else
        ft_json_write_int(b, f->feature_id.value);
    ft_buf_append_str(b, ", \"name\": ");
    ft_json_write_str(b, f->feature_name.ptr, f->feature_name.len);
    ft_buf_append_str(b, ", \"created_date\": \"" FT_UNKNOWN_CREATED_DATE "\", "
                         "\"description\": null, \"initial_value\": ");
    if (fi && fi->initial_value.ptr)
        ft_json_write_str(b, fi->initial_value.ptr, fi->initial_value.len);
    else
        ft_buf_append_str(b, "null");
    ft_buf_append_str(b, fi && fi->default_enabled ? ", \"default_enabled\": true, \"type\": "
                                                   : ", \"default_enabled\": false, \"type\": ");
    ft_json_write_str(b, f->feature_type.ptr, f->feature_type.len);
    ft_buf_append_char(b, '}');
}

struct ft_feature ft_env_webhook_feature(const struct ft_engine_flag *f,
                                         const struct ft_feature_info *fi)
{
    return (struct ft_feature){.id = f->feature_id.null ? 0 : f->feature_id.value,
                               .name = f->feature_name,
                               .type = f->feature_type,
                               .created_date = FT_STR(FT_UNKNOWN_CREATED_DATE),
                               .default_enabled = fi && fi->default_enabled,
                               .description = {NULL, 0},
                               .initial_value = fi ? fi->initial_value : (struct ft_str){NULL, 0},
                               .json = fi ? fi->webhook_json : (struct ft_str){NULL, 0}};
}

/* The defaults the document states, read from an evaluation without an identity, and each
 * feature's object as answers and webhooks show it. */
static void collect_features(struct ft_env *env)
{
    struct ft_engine_result r;
    ft_engine_result_init(&r);
    ft_engine_evaluate(env->engine, NULL, FT_ENGINE_ALL_FLAGS, &r);
    size_t bytes = 0;
    for (size_t i = 0; i < r.nflags; i++)
        bytes += r.flags[i].feature_name.len + r.flags[i].value.text.len + 2;
    env->features = ft_xmalloc(sizeof(*env->features) * (r.nflags ? r.nflags : 1) + bytes);
    char *mem = (char *)(env->features + (r.nflags ? r.nflags : 1));
    struct ft_buf json;
    ft_buf_init(&json, 0);
    size_t *ends = ft_xmalloc(sizeof(*ends) * 2 * (r.nflags ? r.nflags : 1));
    for (size_t i = 0; i < r.nflags; i++) {
        const struct ft_engine_flag *f = &r.flags[i];
        struct ft_feature_info *fi = &env->features[i];
        memcpy(mem, f->feature_name.ptr, f->feature_name.len);
        fi->name = (struct ft_str){mem, f->feature_name.len};
        mem += f->feature_name.len + 1;
        fi->default_enabled = f->enabled;
        if (f->value.type == FT_VALUE_NULL) {
            fi->initial_value = (struct ft_str){NULL, 0};
        } else {
            memcpy(mem, f->value.text.ptr, f->value.text.len);
            fi->initial_value = (struct ft_str){mem, f->value.text.len};
            mem += f->value.text.len + 1;
        }
        ft_env_write_feature(&json, f, fi);
        ends[2 * i] = json.len;
        fi->webhook_json = (struct ft_str){NULL, 0};
        struct ft_feature feature = ft_env_webhook_feature(f, fi);
        ft_payload_emit_feature(&feature, &json);
        ends[2 * i + 1] = json.len;
    }
    for (size_t i = 0; i < r.nflags; i++) { /* the buffer has stopped moving */
        size_t start = i ? ends[2 * i - 1] : 0;
        env->features[i].json = (struct ft_str){json.data + start, ends[2 * i] - start};
        env->features[i].webhook_json =
            (struct ft_str){json.data + ends[2 * i], ends[2 * i + 1] - ends[2 * i]};
    }
    free(ends);
    env->features_json = json.data; /* NULL without features */
    env->nfeatures = r.nflags;
    qsort(env->features, env->nfeatures, sizeof(*env->features), cmp_feature);
    ft_engine_result_free(&r);
}

static bool holds_nul(const struct ft_json *root)
{
    for (const struct ft_json *v = root; v < root + root->span; v++) /* keys are nodes too */
        if (v->flags & FT_JSON_NUL) return true;
    return false;
}

/* A boolean member of `obj`, or `absent` when it is missing or not a boolean. */
static bool flag_of(ft_json_doc *doc, const struct ft_json *obj, const char *name, bool absent)
{
    const struct ft_json *v = obj && obj->type == FT_JSON_OBJECT ? ft_json_get(doc, obj, name)
                                                                 : NULL;
    if (v && v->type == FT_JSON_TRUE) return true;
    if (v && v->type == FT_JSON_FALSE) return false;
    return absent;
}

/* The settings Flagsmith's SDK endpoints follow, with Flagsmith's defaults for a document
 * that does not carry them (an older one, or an evaluation context). */
static void read_settings(struct ft_env *env, ft_json_doc *doc, const struct ft_json *d)
{
    const struct ft_json *project =
        d && d->type == FT_JSON_OBJECT ? ft_json_get(doc, d, "project") : NULL;
    const struct ft_json *org =
        project && project->type == FT_JSON_OBJECT ? ft_json_get(doc, project, "organisation")
                                                   : NULL;
    env->allow_client_traits = flag_of(doc, d, "allow_client_traits", true);
    env->persist_traits = flag_of(doc, org, "persist_trait_data", true);
    env->stop_serving = flag_of(doc, org, "stop_serving_flags", false);
}

/* The environment document itself (a v1 test file wraps it in {"environment": ...}) and its
 * settings, checked for U+0000 on the way: Flagsmith's database cannot store it, so no
 * document of Flagsmith's holds one, and a webhook carrying it would be refused by receive. */
static int keep_document(struct ft_env *env, const char *json, size_t len, char *err, size_t errlen)
{
    struct ft_json_limits limits = {.max_size = MAX_DOCUMENT};
    ft_json_doc *doc = ft_json_doc_new(&limits);
    const struct ft_json *root = NULL, *inner = NULL;
    if (ft_json_parse(doc, json, len, NULL) == FT_OK) {
        root = ft_json_root(doc);
        inner = ft_json_get(doc, root, "identities_and_responses")
                    ? ft_json_get(doc, root, "environment")
                    : NULL;
    }
    if (root && holds_nul(root)) {
        snprintf(err, errlen,
                 "%s: a string in the document holds U+0000, which Flagsmith cannot "
                 "store and receive refuses",
                 env->source);
        ft_json_doc_free(doc);
        return FT_EDOCUMENT;
    }
    read_settings(env, doc, inner ? inner : root);
    if (inner) {
        struct ft_buf b;
        ft_buf_init(&b, 0);
        ft_json_write_value(&b, doc, inner);
        env->document = b.data;
        env->document_len = b.len;
    } else {
        env->document = ft_xstrndup(json, len);
        env->document_len = len;
    }
    ft_json_doc_free(doc);
    return FT_OK;
}

static int load_env(ft_environments *r, const char *json, size_t len, const char *source,
                    struct ft_env **out, char *err, size_t errlen)
{
    struct ft_engine_error eerr;
    ft_engine *engine;
    struct ft_engine_load_options lo = {.max_size = MAX_DOCUMENT};
    int rc = ft_engine_load(json, len, &lo, &engine, &eerr);
    if (rc) {
        snprintf(err, errlen, "%s: %s", source, eerr.detail);
        return rc;
    }
    if (eerr.warnings) {
        char n[16];
        snprintf(n, sizeof(n), "%u", eerr.warnings);
        ft_log(FT_LOG_WARN, "serve.document_fallbacks", "source", source, "count", n, "first",
               eerr.warning, NULL);
    }
    struct env_ref *ref = ft_xcalloc(1, sizeof(*ref));
    atomic_init(&ref->refs, 1);
    struct ft_env *env = &ref->env;
    env->engine = engine;
    const struct ft_engine_environment *info = ft_engine_environment(engine);
    env->api_key = ft_xstrndup(info->api_key.ptr, info->api_key.len);
    env->source = ft_xstrdup(source);
    rc = keep_document(env, json, len, err, errlen);
    if (rc) {
        env_unref(env);
        return rc;
    }
    if (r->webhook_url)
        env->webhook_url = ft_xstrdup(r->webhook_url);
    else if (info->webhook_url.ptr && info->webhook_url.len)
        env->webhook_url = ft_xstrndup(info->webhook_url.ptr, info->webhook_url.len);
    const char *secret = r->webhook_secret ? r->webhook_secret : info->webhook_secret.ptr;
    size_t slen = r->webhook_secret ? r->webhook_secret_len : info->webhook_secret.len;
    if (secret && slen) {
        env->webhook_secret = ft_xstrndup(secret, slen);
        env->webhook_secret_len = slen;
    }
    collect_features(env);
    *out = env;
    return FT_OK;
}

static int read_file(const char *path, struct ft_buf *b, int64_t *mtime_ns, char *err,
                     size_t errlen)
{
    ft_buf_init(b, MAX_DOCUMENT);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return FT_EIO;
    }
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    char chunk[65536];
    size_t n;
    int rc = FT_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = ft_buf_append(b, chunk, n))) break;
    fclose(f);
    if (rc) snprintf(err, errlen, "%s is larger than %zu bytes", path, MAX_DOCUMENT);
    return rc;
}

static int load_file(ft_environments *r, const char *path, struct ft_env **out, char *err,
                     size_t errlen)
{
    struct ft_buf b;
    int64_t mtime;
    int rc = read_file(path, &b, &mtime, err, errlen);
    if (rc == FT_OK) rc = load_env(r, b.data ? b.data : "", b.len, path, out, err, errlen);
    if (rc == FT_OK) (*out)->mtime_ns = mtime;
    ft_buf_free(&b);
    return rc;
}

/* Fetches the document at the URL; *out stays NULL on 304 (nothing new). */
static int load_url(ft_environments *r, const char *since, struct ft_env **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    char key_header[512], since_header[128];
    snprintf(key_header, sizeof(key_header), "X-Environment-Key: %s", r->url_key ? r->url_key : "");
    const char *headers[2] = {key_header, since_header};
    size_t n = 1;
    if (since && *since) {
        snprintf(since_header, sizeof(since_header), "If-Modified-Since: %s", since);
        n = 2;
    }
    struct ft_buf body;
    int status = 0;
    char last_modified[64] = "";
    int rc = ft_http_get(r->url, headers, n, 10000, &r->cancel, MAX_DOCUMENT, &body, &status,
                         last_modified, sizeof(last_modified), err, errlen);
    OPENSSL_cleanse(key_header, sizeof(key_header));
    if (rc == FT_OK && status == 304) {
        ft_buf_free(&body);
        return FT_OK;
    }
    if (rc == FT_OK && status != 200) {
        snprintf(err, errlen, "%s answered %d", r->url, status);
        rc = FT_EIO;
    }
    if (rc == FT_OK)
        rc = load_env(r, body.data ? body.data : "", body.len, r->url, out, err, errlen);
    if (rc == FT_OK) snprintf((*out)->last_modified, sizeof((*out)->last_modified), "%s", last_modified);
    ft_buf_free(&body);
    return rc;
}

/* --- sets --- */

static void set_free(struct ft_envset *set)
{
    for (size_t i = 0; i < set->nenvs; i++)
        env_unref(set->envs[i]);
    for (size_t i = 0; i < set->nkeys; i++)
        ft_free_secure(set->keys[i].key, strlen(set->keys[i].key));
    free(set->envs);
    free(set->keys);
    free(set);
}

void ft_envset_release(struct ft_envset *set)
{
    if (set && atomic_fetch_sub(&set->refs, 1) == 1) set_free(set);
}

static void add_key(struct ft_envset *set, const char *key, size_t env, bool server)
{
    set->keys = ft_xrealloc(set->keys, sizeof(*set->keys) * (set->nkeys + 1));
    set->keys[set->nkeys++] = (struct ft_env_key){ft_xstrdup(key), env, server};
}

/* Builds the key table of a set of environments. */
static int build_keys(ft_environments *r, struct ft_envset *set, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->nenvs; i++) {
        for (size_t k = 0; k < set->nkeys; k++) {
            if (strcmp(set->keys[k].key, set->envs[i]->api_key) == 0) {
                snprintf(err, errlen, "%s and %s have the same api_key",
                         set->envs[set->keys[k].env]->source, set->envs[i]->source);
                return FT_EINVAL;
            }
        }
        add_key(set, set->envs[i]->api_key, i, false);
    }
    for (size_t k = 0; k < r->opt.nkeys; k++) {
        const char *spec = r->keys[k], *eq = strchr(spec, '=');
        size_t klen = eq ? (size_t)(eq - spec) : strlen(spec);
        size_t env = SIZE_MAX;
        if (eq) {
            for (size_t i = 0; i < set->nenvs; i++)
                if (strcmp(eq + 1, set->envs[i]->api_key) == 0) env = i;
            if (env == SIZE_MAX) {
                snprintf(err, errlen, "a key names environment '%s', which no document has", eq + 1);
                return FT_EINVAL;
            }
        } else if (set->nenvs == 1) {
            env = 0;
        } else {
            snprintf(err, errlen, "with several environments, write each key as KEY=API_KEY");
            return FT_EINVAL;
        }
        char *key = ft_xstrndup(spec, klen);
        add_key(set, key, env, strncmp(key, "ser.", 4) == 0);
        ft_free_secure(key, klen);
    }
    return FT_OK;
}

static struct ft_envset *new_set(size_t n)
{
    struct ft_envset *set = ft_xcalloc(1, sizeof(*set));
    atomic_init(&set->refs, 1);
    set->envs = ft_xcalloc(n ? n : 1, sizeof(*set->envs));
    set->nenvs = n;
    return set;
}

static void publish(ft_environments *r, struct ft_envset *set)
{
    pthread_mutex_lock(&r->lock);
    struct ft_envset *old = r->current;
    set->generation = ++r->generation;
    r->current = set;
    pthread_mutex_unlock(&r->lock);
    ft_envset_release(old);
}

int ft_environments_open(const struct ft_environments_options *opt, ft_environments **out,
                         char *err, size_t errlen)
{
    ft_environments *r = ft_xcalloc(1, sizeof(*r));
    r->opt = *opt;
    if (!r->opt.poll_interval_s) r->opt.poll_interval_s = 10;
    r->files = ft_xcalloc(opt->nfiles + 1, sizeof(*r->files));
    r->failed = ft_xcalloc(opt->nfiles + 1, sizeof(*r->failed));
    for (size_t i = 0; i < opt->nfiles; i++)
        r->files[i] = ft_xstrdup(opt->files[i]);
    r->keys = ft_xcalloc(opt->nkeys + 1, sizeof(*r->keys));
    for (size_t i = 0; i < opt->nkeys; i++)
        r->keys[i] = ft_xstrdup(opt->keys[i]);
    r->url = opt->url ? ft_xstrdup(opt->url) : NULL;
    r->url_key = opt->url_key ? ft_xstrdup(opt->url_key) : NULL;
    r->webhook_url = opt->webhook_url ? ft_xstrdup(opt->webhook_url) : NULL;
    if (opt->webhook_secret) {
        r->webhook_secret = ft_xstrndup(opt->webhook_secret, opt->webhook_secret_len);
        r->webhook_secret_len = opt->webhook_secret_len;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->stop_lock, NULL);
    pthread_mutex_init(&r->reload_lock, NULL);
    pthread_cond_init(&r->stop_cond, NULL);
    atomic_init(&r->cancel, false);
    size_t n = opt->nfiles + (opt->url ? 1 : 0);
    struct ft_envset *set = new_set(n);
    int rc = FT_OK;
    for (size_t i = 0; i < opt->nfiles && rc == FT_OK; i++)
        rc = load_file(r, r->files[i], &set->envs[i], err, errlen);
    if (rc == FT_OK && r->url) {
        rc = load_url(r, NULL, &set->envs[opt->nfiles], err, errlen);
        if (rc == FT_OK && !set->envs[opt->nfiles]) {
            snprintf(err, errlen, "%s answered 304 without a document", r->url);
            rc = FT_EIO;
        }
    }
    if (rc == FT_OK && n == 0) {
        snprintf(err, errlen, "no environment: give --environment FILE or --environment-url URL");
        rc = FT_EINVAL;
    }
    for (size_t i = 0; i < n && rc; i++) {
        if (!set->envs[i]) { /* free only what loaded */
            set->nenvs = i;
            break;
        }
    }
    if (rc == FT_OK) rc = build_keys(r, set, err, errlen);
    if (rc) {
        set_free(set);
        ft_environments_close(r);
        return rc;
    }
    publish(r, set);
    *out = r;
    return FT_OK;
}

struct ft_envset *ft_environments_acquire(ft_environments *r)
{
    pthread_mutex_lock(&r->lock);
    struct ft_envset *set = r->current;
    atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return set;
}

const struct ft_env *ft_envset_find(const struct ft_envset *set, const char *key, bool *server)
{
    if (!key) return NULL;
    for (size_t i = 0; i < set->nkeys; i++) {
        if (strcmp(set->keys[i].key, key) == 0) {
            *server = set->keys[i].server;
            return set->envs[set->keys[i].env];
        }
    }
    return NULL;
}

const struct ft_feature_info *ft_env_feature(const struct ft_env *env, struct ft_str name)
{
    size_t lo = 0, hi = env->nfeatures;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = ft_str_cmp(env->features[mid].name, name);
        if (c == 0) return &env->features[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* --- reloading --- */

static int reload_locked(ft_environments *r, bool force);

/* Reloads what changed (`force`: everything). A file whose new version fails to load is logged
 * once and tried again when it changes again (or on SIGHUP), not on every check. */
int ft_environments_reload(ft_environments *r, bool force)
{
    pthread_mutex_lock(&r->reload_lock);
    int replaced = reload_locked(r, force);
    pthread_mutex_unlock(&r->reload_lock);
    return replaced;
}

static int reload_locked(ft_environments *r, bool force)
{
    struct ft_envset *cur = ft_environments_acquire(r);
    struct ft_envset *next = new_set(cur->nenvs);
    int replaced = 0;
    char err[512];
    for (size_t i = 0; i < cur->nenvs; i++) {
        struct ft_env *old = cur->envs[i], *fresh = NULL;
        int rc = FT_OK;
        struct file_version seen = {0, -1};
        if (i < r->opt.nfiles) {
            struct stat st;
            seen.mtime_ns = old->mtime_ns;
            if (stat(r->files[i], &st) == 0) {
                seen.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
                seen.size = (int64_t)st.st_size;
            }
            bool failed_before =
                seen.mtime_ns == r->failed[i].mtime_ns && seen.size == r->failed[i].size;
            if (force || (seen.mtime_ns != old->mtime_ns && !failed_before)) {
                rc = load_file(r, r->files[i], &fresh, err, sizeof(err));
                r->failed[i] = rc ? seen : (struct file_version){0, -1};
            }
        } else if (r->url) {
            rc = load_url(r, force ? NULL : old->last_modified, &fresh, err, sizeof(err));
        }
        if (rc) ft_log(FT_LOG_ERROR, "serve.reload_failed", "error", err, "kept",
                       "the previous document", NULL);
        if (fresh && strcmp(fresh->api_key, old->api_key) != 0) {
            ft_log(FT_LOG_ERROR, "serve.reload_failed", "source", old->source, "error",
                   "the document's api_key changed; restart to change environments", NULL);
            if (i < r->opt.nfiles) r->failed[i] = seen;
            env_unref(fresh);
            fresh = NULL;
        }
        if (fresh) {
            next->envs[i] = fresh;
            replaced++;
            ft_log(FT_LOG_INFO, "serve.document_reloaded", "source", fresh->source, NULL);
        } else {
            env_ref(old);
            next->envs[i] = old;
        }
    }
    ft_envset_release(cur);
    if (!replaced || build_keys(r, next, err, sizeof(err))) {
        set_free(next);
        return 0;
    }
    publish(r, next);
    return replaced;
}

/* Reloads everything and says how many documents were replaced. */
static void reload_all(ft_environments *r)
{
    char count[16];
    snprintf(count, sizeof(count), "%d", ft_environments_reload(r, true));
    ft_log(FT_LOG_INFO, "serve.reloaded", "documents", count, NULL);
}

/* Checks the files every second, polls the URL every poll interval, and reloads everything
 * when asked (SIGHUP), so that no signal handler waits for a document fetch. */
static void *watch_main(void *arg)
{
    ft_environments *r = arg;
    int64_t last_poll = ft_clock_mono_ns();
    pthread_mutex_lock(&r->stop_lock);
    while (!r->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (!r->reload_requested) pthread_cond_timedwait(&r->stop_cond, &r->stop_lock, &until);
        if (r->stopping) break;
        bool all = r->reload_requested;
        r->reload_requested = false;
        pthread_mutex_unlock(&r->stop_lock);
        int64_t now = ft_clock_mono_ns();
        bool poll = r->url && now - last_poll >= (int64_t)r->opt.poll_interval_s * 1000000000;
        if (poll || all) last_poll = now;
        if (all) reload_all(r);
        else if (r->opt.nfiles || poll) ft_environments_reload(r, false);
        pthread_mutex_lock(&r->stop_lock);
    }
    pthread_mutex_unlock(&r->stop_lock);
    return NULL;
}

void ft_environments_request_reload(ft_environments *r)
{
    if (!r->watching) {
        reload_all(r);
        return;
    }
    pthread_mutex_lock(&r->stop_lock);
    r->reload_requested = true;
    pthread_cond_broadcast(&r->stop_cond);
    pthread_mutex_unlock(&r->stop_lock);
}

int ft_environments_watch(ft_environments *r)
{
    if (pthread_create(&r->watcher, NULL, watch_main, r) != 0) return FT_EIO;
    r->watching = true;
    return FT_OK;
}

unsigned ft_environments_generation(ft_environments *r)
{
    pthread_mutex_lock(&r->lock);
    unsigned g = r->generation;
    pthread_mutex_unlock(&r->lock);
    return g;
}

ft_signer *ft_environments_signer(ft_environments *r, struct ft_str api_key)
{
    struct ft_envset *set = ft_environments_acquire(r);
    ft_signer *s = NULL;
    for (size_t i = 0; i < set->nenvs; i++) {
        const struct ft_env *e = set->envs[i];
        if (ft_str_eq_c(api_key, e->api_key) && e->webhook_secret)
            s = ft_signer_new(e->webhook_secret, e->webhook_secret_len);
    }
    ft_envset_release(set);
    return s;
}

void ft_environments_close(ft_environments *r)
{
    if (!r) return;
    if (r->watching) {
        pthread_mutex_lock(&r->stop_lock);
        r->stopping = true;
        atomic_store(&r->cancel, true);
        pthread_cond_broadcast(&r->stop_cond);
        pthread_mutex_unlock(&r->stop_lock);
        pthread_join(r->watcher, NULL);
    }
    ft_envset_release(r->current);
    for (size_t i = 0; i < r->opt.nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r->failed);
    for (size_t i = 0; i < r->opt.nkeys; i++)
        ft_free_secure(r->keys[i], strlen(r->keys[i]));
    free(r->keys);
    free(r->url);
    ft_free_secure(r->url_key, r->url_key ? strlen(r->url_key) : 0);
    free(r->webhook_url);
    ft_free_secure(r->webhook_secret, r->webhook_secret_len);
    pthread_cond_destroy(&r->stop_cond);
    pthread_mutex_destroy(&r->stop_lock);
    pthread_mutex_destroy(&r->reload_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
