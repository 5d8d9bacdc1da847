/*
 * The libcurl-based HTTP client of src/http/client.h.
 */
#include "http/client.h"
#include "flagtrail/error.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct transfer {
    struct transfer *next, *prev; /* the active list, or (next only) the free list */
    CURL *easy;
    struct curl_slist *headers;
    struct ft_http_call call;
    int64_t retry_after;
    char error[CURL_ERROR_SIZE];
};

struct ft_http_client {
    CURLM *multi;
    struct ft_http_client_options opt;
    struct transfer *free_list;
    struct transfer active; /* list head of calls in flight */
    size_t in_flight;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t ft_http_retry_after(const char *v, size_t n, int64_t now)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp) || memchr(v, '\0', n)) return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    int64_t secs;
    if (tmp[0] >= '0' && tmp[0] <= '9') {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(tmp, &end, 10);
        if (*end != '\0') return -1;
        secs = errno == ERANGE || u > FT_HTTP_RETRY_AFTER_MAX ? FT_HTTP_RETRY_AFTER_MAX
                                                               : (int64_t)u;
    } else {
        time_t when = curl_getdate(tmp, NULL);
        if (when < 0) return -1;
        secs = (int64_t)when > now ? (int64_t)when - now : 0;
    }
    return secs < FT_HTTP_RETRY_AFTER_MAX ? secs : FT_HTTP_RETRY_AFTER_MAX;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        const char *v = buf + sizeof(name) - 1;
        size_t vl = len - (sizeof(name) - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        t->retry_after = ft_http_retry_after(v, vl, (int64_t)time(NULL));
    }
    return len;
}

static size_t discard(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf;
    (void)arg;
    return size * n;
}

ft_http_client *ft_http_client_new(const struct ft_http_client_options *opt)
{
    pthread_once(&global_once, global_init);
    ft_http_client *c = ft_xcalloc(1, sizeof(*c));
    c->opt = *opt;
    if (!c->opt.max_per_host) c->opt.max_per_host = 16;
    if (!c->opt.timeout_ms) c->opt.timeout_ms = 10000;
    c->active.next = c->active.prev = &c->active;
    c->multi = curl_multi_init();
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->opt.max_per_host);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->opt.max_per_host * 4);
    return c;
}

static void release(ft_http_client *c, struct transfer *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    curl_multi_remove_handle(c->multi, t->easy);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    t->next = c->free_list;
    c->free_list = t;
}

int ft_http_client_submit(ft_http_client *c, const struct ft_http_call *call)
{
    struct transfer *t = c->free_list;
    if (t) {
        c->free_list = t->next;
        curl_easy_reset(t->easy); /* keeps the connection cache of the multi handle */
    } else {
        t = ft_xcalloc(1, sizeof(*t));
        t->easy = curl_easy_init();
        if (!t->easy) {
            free(t);
            return FT_EIO;
        }
    }
    t->call = *call;
    t->retry_after = -1;
    t->error[0] = '\0';
    for (size_t i = 0; i < call->nheaders; i++)
        t->headers = curl_slist_append(t->headers, call->headers[i]);
    t->headers = curl_slist_append(t->headers, "Expect:"); /* no 100-continue round trip */
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->opt.timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (c->opt.user_agent) curl_easy_setopt(e, CURLOPT_USERAGENT, c->opt.user_agent);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        t->next = c->free_list;
        c->free_list = t;
        return FT_EIO;
    }
    t->next = c->active.next;
    t->prev = &c->active;
    c->active.next->prev = t;
    c->active.next = t;
    c->in_flight++;
    return FT_OK;
}

size_t ft_http_client_poll(ft_http_client *c, int timeout_ms)
{
    int running = 0;
    curl_multi_perform(c->multi, &running);
    if (c->in_flight && running == (int)c->in_flight) {
        curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(c->multi, &running);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct transfer *t;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        struct ft_http_result r = {.retry_after = t->retry_after};
        long code = 0;
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
            r.status = (int)code;
        } else {
            r.timed_out = msg->data.result == CURLE_OPERATION_TIMEDOUT;
            snprintf(r.error, sizeof(r.error), "%s",
                     t->error[0] ? t->error : curl_easy_strerror(msg->data.result));
        }
        struct ft_http_call call = t->call;
        release(c, t);
        c->in_flight--;
        call.done(call.arg, &r);
    }
    return c->in_flight;
}

size_t ft_http_client_in_flight(const ft_http_client *c)
{
    return c->in_flight;
}

void ft_http_client_free(ft_http_client *c)
{
    if (!c) return;
    while (c->active.next != &c->active)
        release(c, c->active.next);
    for (struct transfer *t = c->free_list, *next; t; t = next) {
        next = t->next;
        curl_easy_cleanup(t->easy);
        free(t);
    }
    curl_multi_cleanup(c->multi);
    free(c);
}

/* --- blocking GET --- */

struct get_state {
    struct ft_buf *body;
    bool too_big;
    char *last_modified;
    size_t lmcap;
};

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    struct get_state *g = arg;
    if (ft_buf_append(g->body, buf, size * n)) {
        g->too_big = true;
        return 0;
    }
    return size * n;
}

static size_t on_get_header(char *buf, size_t size, size_t n, void *arg)
{
    struct get_state *g = arg;
    size_t len = size * n;
    static const char name[] = "last-modified:";
    if (g->lmcap && len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        const char *v = buf + sizeof(name) - 1;
        size_t vl = len - (sizeof(name) - 1);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(g->last_modified, g->lmcap, "%.*s", (int)vl, v);
    }
    return len;
}

/* libcurl's progress callback: at least once a second while a transfer waits. */
static int on_get_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)arg) ? 1 : 0;
}

int ft_http_get(const char *url, const char *const *headers, size_t nheaders, long timeout_ms,
                const atomic_bool *cancel, size_t max_body, struct ft_buf *body, int *status,
                char *last_modified, size_t lmcap, char *err, size_t errlen)
{
    pthread_once(&global_once, global_init);
    ft_buf_init(body, max_body);
    CURL *e = curl_easy_init();
    if (!e) {
        snprintf(err, errlen, "cannot start libcurl");
        return FT_EIO;
    }
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < nheaders; i++)
        list = curl_slist_append(list, headers[i]);
    struct get_state g = {body, false, last_modified, lmcap};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_get_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &g);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    if (cancel) {
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_get_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)cancel);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = curl_easy_perform(e);
    int rc = FT_OK;
    if (g.too_big) {
        snprintf(err, errlen, "%s: the answer is larger than %zu bytes", url, max_body);
        rc = FT_ETOOBIG;
    } else if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = FT_EIO;
    } else {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(e);
    return rc;
}
