/*
 * The HTTP client: libcurl's multi interface for many concurrent POSTs on kept-alive
 * connections (webhook delivery), and a blocking GET for polling documents.
 *
 * TLS certificates are verified, redirects are not followed (a redirect is an answer like any
 * other), each call has a total timeout, and connections per host are capped. A client is used
 * by one thread: submit calls, then poll to move them and receive their results.
 */
#ifndef FT_HTTP_CLIENT_H
#define FT_HTTP_CLIENT_H

#include "flagtrail/base.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_http_client ft_http_client;

struct ft_http_client_options {
    unsigned max_per_host; /* connections to one host (default 16) */
    long timeout_ms;       /* whole call (default 10 000) */
    const char *user_agent;
};

struct ft_http_result {
    int status;          /* HTTP status, 0 when no answer came */
    bool timed_out;
    char error[256];     /* why there was no answer */
    int64_t retry_after; /* seconds from a Retry-After header, -1 without one */
};

/* The longest wait a Retry-After gives: larger values, and dates further ahead, read as this. */
#define FT_HTTP_RETRY_AFTER_MAX ((int64_t)366 * 24 * 3600)

/*
 * Reads a Retry-After value (`v`, `n` bytes, without surrounding space): delta-seconds or an
 * HTTP date, as seconds from `now` (Unix time), at most FT_HTTP_RETRY_AFTER_MAX; a date in
 * the past is 0. -1 when it is neither.
 */
int64_t ft_http_retry_after(const char *v, size_t n, int64_t now);

/* A POST. `url`, `body` and `headers` ("Name: value") are borrowed until `done` runs. */
struct ft_http_call {
    const char *url;
    const char *body;
    size_t len;
    const char *const *headers;
    size_t nheaders;
    void (*done)(void *arg, const struct ft_http_result *result);
    void *arg;
};

ft_http_client *ft_http_client_new(const struct ft_http_client_options *opt);
/* Aborts calls in flight (their callbacks are not run) and frees the client. */
void ft_http_client_free(ft_http_client *c);

/* Starts a call. FT_OK, or FT_EIO when libcurl refuses it. */
int ft_http_client_submit(ft_http_client *c, const struct ft_http_call *call);

/* Moves transfers for up to `timeout_ms` (returns earlier when one finished), running the
 * callbacks of finished calls. Returns the number still in flight. */
size_t ft_http_client_poll(ft_http_client *c, int timeout_ms);

size_t ft_http_client_in_flight(const ft_http_client *c);

/*
 * A blocking GET with request headers; the body (capped at `max_body`) goes to `body`
 * (initialized here) and a Last-Modified answer header to `last_modified`. FT_OK with
 * *status set (304 included); FT_EIO when no answer came (`err` says why); FT_ETOOBIG.
 * When `cancel` (may be NULL) turns true the call gives up within about a second (FT_EIO).
 */
int ft_http_get(const char *url, const char *const *headers, size_t nheaders, long timeout_ms,
                const atomic_bool *cancel, size_t max_body, struct ft_buf *body, int *status,
                char *last_modified, size_t lmcap, char *err, size_t errlen);

#endif
