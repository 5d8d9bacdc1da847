/*
 * The HTTP server shared by receive and serve, on libmicrohttpd (epoll, a thread pool).
 *
 * It owns what every endpoint needs and no endpoint should repeat: routing by exact path with
 * 404 and 405 (with Allow), request bodies gathered into capped buffers (413 decided from
 * Content-Length before the body is read, and enforced while a chunked body streams in), a
 * global budget of buffered body bytes, counted as they arrive (503 past it), idle timeouts, a
 * per-request deadline that cuts slow senders (a slowloris client cannot hold a slot), a
 * connection cap, and asynchronous answers: a handler may leave a request pending (the
 * connection is suspended, no thread waits) and complete it later from any thread. Paths may
 * take cross-origin answers (CORS) for browsers.
 *
 * Handlers run on the pool's threads (keep per-thread state in thread-local storage).
 */
#ifndef FT_HTTP_SERVER_H
#define FT_HTTP_SERVER_H

#include "flagtrail/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_http_server ft_http_server;
typedef struct ft_http_request ft_http_request;

struct ft_http_response {
    int status;
    const char *body;        /* copied by the server; NULL: empty */
    size_t len;
    const char *content_type; /* default "application/json" */
    const char *header_name;  /* one extra header (Allow, Retry-After), or NULL */
    const char *header_value;
};

enum ft_http_outcome { FT_HTTP_DONE, FT_HTTP_PENDING };

struct ft_http_route {
    const char *method;
    const char *path;
    bool has_body;
    /* Optional, when headers are in (before any body): answer at once by filling *resp and
     * returning true (415, early 401, ...). */
    bool (*check)(void *ctx, ft_http_request *req, struct ft_http_response *resp);
    /* With the complete body: fill *resp and return FT_HTTP_DONE, or return FT_HTTP_PENDING
     * and later call ft_http_complete exactly once. */
    enum ft_http_outcome (*handle)(void *ctx, ft_http_request *req, struct ft_http_response *resp);
    int metric_id; /* index for per-route accounting */
};

/* What the server reports when a request ends (for metrics and logs). */
struct ft_http_done_info {
    int route;             /* route's metric_id, or -1 when no route matched */
    int status;
    int64_t duration_ns;   /* from the request line to the answer */
    size_t body_bytes;     /* request body bytes received */
};

/* Cross-origin answers for browsers (CORS), as django-cors-headers gives them with every
 * origin allowed and no credentials. On paths that start with `path_prefix`: every answer
 * carries "Vary: Origin"; one to a request with an Origin header also carries
 * "Access-Control-Allow-Origin: *", and for an OPTIONS request the allowed headers, methods
 * and max age; a preflight (OPTIONS with Access-Control-Request-Method) gets an empty 200
 * before routing, whatever the path's routes. */
struct ft_http_cors {
    const char *path_prefix;   /* "/api/" */
    const char *allow_headers; /* Access-Control-Allow-Headers */
    const char *allow_methods; /* Access-Control-Allow-Methods */
    const char *max_age;       /* Access-Control-Max-Age, seconds */
};

struct ft_http_options {
    const char *listen;          /* "127.0.0.1:8080", "[::1]:8080", ":8080" (any address) */
    unsigned threads;            /* 0: one per core */
    unsigned max_connections;    /* default 1024 */
    size_t max_body;             /* default 1 MiB */
    size_t max_buffered;         /* all requests' buffered bodies together; default 256 MiB */
    unsigned idle_timeout_s;     /* no bytes for this long closes a connection; default 15 */
    unsigned request_timeout_s;  /* a request must complete within this; default 30 */
    const char *tls_cert_pem;    /* certificate and key (PEM text) for HTTPS, or NULL */
    const char *tls_key_pem;
    const struct ft_http_route *routes;
    size_t nroutes;
    const struct ft_http_cors *cors; /* NULL: no cross-origin answers */
    void *ctx;                   /* passed to handlers */
    void (*on_done)(void *ctx, const struct ft_http_done_info *info);
};

/* Binds, listens and starts the pool. FT_OK; FT_EINVAL (bad address, `err` says why); FT_EIO
 * (cannot bind or start). */
int ft_http_start(const struct ft_http_options *opt, ft_http_server **out, char *err,
                  size_t errlen);

/* The address actually bound ("127.0.0.1:43817"), useful with port 0. */
const char *ft_http_address(const ft_http_server *s);

/* Stops accepting connections; requests in flight continue. */
void ft_http_quiesce(ft_http_server *s);

/* Waits up to `timeout_ms` for requests in flight to finish; true when none is left. */
bool ft_http_drain(ft_http_server *s, int timeout_ms);

/* Stops the server and frees it. Call after every pending request was completed. */
void ft_http_stop(ft_http_server *s);

/* --- inside a handler --- */

const char *ft_http_method(const ft_http_request *r);
const char *ft_http_path(const ft_http_request *r);
/* A request header's value, or NULL. */
const char *ft_http_header(ft_http_request *r, const char *name);
/* A query string argument's value (decoded), or NULL; *len is its decoded length, which counts
 * any NUL a %00 put inside it. A name given several times has its last value, as Django's
 * QueryDict.get gives. */
const char *ft_http_query(ft_http_request *r, const char *name, size_t *len);
/* The complete request body (valid until the request ends). */
struct ft_str ft_http_body(const ft_http_request *r);
/* Per-request slot for the application (freed by nobody: point it at request-lifetime data). */
void **ft_http_user(ft_http_request *r);

/* Answers a pending request, from any thread, exactly once. The response is copied. */
void ft_http_complete(ft_http_request *r, const struct ft_http_response *resp);

#endif
