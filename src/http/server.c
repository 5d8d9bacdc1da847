/*
 * The libmicrohttpd-based server of src/http/server.h.
 *
 * Life of a request: MHD's URI-log callback (right after the request line) allocates the
 * request and stamps its start; the access handler is called once headers are in (routing and
 * early answers), once per body chunk (gathered into a capped buffer), and once at the end
 * (the route's handler). A pending request suspends its connection; ft_http_complete stores
 * the answer and resumes it, and MHD calls the access handler again to send it. The race
 * between a handler suspending and another thread completing is settled with one atomic state.
 *
 * flagtrail accepts connections itself, on an acceptor thread, and hands each to MHD
 * (MHD_add_connection), which places it on a pool thread by its descriptor: MHD's own accept
 * lets whichever pool thread wakes first take a burst of new connections, which left one
 * thread with nearly all of them (measured: 64 connections from wrk, one thread busy, one
 * idle) and halved the throughput of a two-core machine.
 *
 * Connections are also tracked (MHD's connection notifications) so a reaper thread can cut, by
 * shutdown(2), any connection whose current request outlives its deadline: MHD's own timeout
 * only measures idleness, which a slow sender defeats with a byte every few seconds.
 */
#include "http/server.h"
#include "base/clock.h"
#include "flagtrail/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum req_state { REQ_RUNNING, REQ_SUSPENDED, REQ_COMPLETED };

struct conn {
    struct conn *prev, *next;
    int fd;
    int64_t phase_start_ns; /* accepted, or the previous request's end */
    bool cut;
};

#define UPFRONT (256u << 10) /* body bytes allocated before they arrive, at most */

struct ft_http_request {
    ft_http_server *srv;
    struct MHD_Connection *conn;
    const struct ft_http_route *route;
    const char *method, *path;
    int64_t started_ns;
    struct ft_buf body;
    size_t counted;         /* body bytes kept, counted against the server's budget */
    size_t received;        /* body bytes seen, kept or not */
    size_t declared;        /* Content-Length, when given (at most max_body) */
    bool headers_seen;
    bool too_large, over_budget, answered;
    int status;             /* what was answered */
    atomic_int state;
    struct ft_http_response pending; /* the answer from ft_http_complete */
    char *pending_body;
    char *pending_header;   /* name NUL value NUL */
    void *user;
};

struct ft_http_server {
    struct ft_http_options opt;
    struct MHD_Daemon *daemon;
    int listen_fd;
    char address[64];
    atomic_long in_flight;
    atomic_size_t buffered;
    pthread_mutex_t conns_lock;
    struct conn conns; /* list head */
    pthread_t reaper, acceptor;
    atomic_bool stopping;
    atomic_bool accepting;
    bool reaper_started, acceptor_started;
};

/* --- answers --- */

/* Whether the request's path takes cross-origin answers (ft_http_options.cors). */
static bool cors_applies(const ft_http_request *r)
{
    const struct ft_http_cors *c = r->srv->opt.cors;
    return c && r->path && strncmp(r->path, c->path_prefix, strlen(c->path_prefix)) == 0;
}

/* The CORS headers of an answer, as django-cors-headers adds them with every origin allowed
 * and no credentials: Vary always, the rest only for a request that names its Origin. */
static void add_cors_headers(ft_http_request *r, struct MHD_Response *m)
{
    const struct ft_http_cors *c = r->srv->opt.cors;
    MHD_add_response_header(m, MHD_HTTP_HEADER_VARY, "Origin");
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin || !*origin) return;
    MHD_add_response_header(m, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if (strcmp(r->method, MHD_HTTP_METHOD_OPTIONS) != 0) return;
    MHD_add_response_header(m, "Access-Control-Allow-Headers", c->allow_headers);
    MHD_add_response_header(m, "Access-Control-Allow-Methods", c->allow_methods);
    MHD_add_response_header(m, "Access-Control-Max-Age", c->max_age);
}

static enum MHD_Result send_response(ft_http_request *r, const struct ft_http_response *resp)
{
    const char *body = resp->body ? resp->body : "";
    struct MHD_Response *m =
        MHD_create_response_from_buffer(resp->len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!m) return MHD_NO;
    MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->header_name) MHD_add_response_header(m, resp->header_name, resp->header_value);
    if (cors_applies(r)) add_cors_headers(r, m);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)resp->status, m);
    MHD_destroy_response(m);
    r->answered = true;
    r->status = resp->status;
    return rc;
}

static enum MHD_Result answer(ft_http_request *r, int status, const char *json)
{
    struct ft_http_response resp = {.status = status, .body = json, .len = strlen(json)};
    return send_response(r, &resp);
}

void ft_http_complete(ft_http_request *r, const struct ft_http_response *resp)
{
    r->pending = *resp;
    if (resp->body) {
        r->pending_body = ft_xstrndup(resp->body, resp->len);
        r->pending.body = r->pending_body;
    }
    if (resp->header_name) {
        size_t a = strlen(resp->header_name), b = strlen(resp->header_value);
        r->pending_header = ft_xmalloc(a + b + 2);
        memcpy(r->pending_header, resp->header_name, a + 1);
        memcpy(r->pending_header + a + 1, resp->header_value, b + 1);
        r->pending.header_name = r->pending_header;
        r->pending.header_value = r->pending_header + a + 1;
    }
    if (atomic_exchange(&r->state, REQ_COMPLETED) == REQ_SUSPENDED)
        MHD_resume_connection(r->conn);
}

/* --- routing --- */

static const struct ft_http_route *find_route(const ft_http_server *s, const char *method,
                                              const char *path, char *allow, size_t cap)
{
    bool path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < s->opt.nroutes; i++) {
        const struct ft_http_route *rt = &s->opt.routes[i];
        if (strcmp(rt->path, path) != 0) continue;
        if (strcmp(rt->method, method) == 0) return rt;
        size_t n = strlen(allow);
        snprintf(allow + n, cap - n, "%s%s", path_known ? ", " : "", rt->method);
        path_known = true;
    }
    return NULL;
}

/* A browser's preflight (OPTIONS with Access-Control-Request-Method) on a cross-origin path:
 * answered before routing and before any key is checked, as django-cors-headers does. */
static bool is_preflight(ft_http_request *r)
{
    return cors_applies(r) && strcmp(r->method, MHD_HTTP_METHOD_OPTIONS) == 0 &&
           MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                       "Access-Control-Request-Method") != NULL;
}

/* Called on the first invocation, when headers are in. */
static enum MHD_Result on_headers(ft_http_request *r)
{
    ft_http_server *s = r->srv;
    if (is_preflight(r)) {
        struct ft_http_response resp = {.status = 200, .content_type = "text/html; charset=utf-8"};
        return send_response(r, &resp);
    }
    char allow[64];
    r->route = find_route(s, r->method, r->path, allow, sizeof(allow));
    if (!r->route) {
        if (!allow[0]) return answer(r, 404, "{\"error\":\"not_found\"}");
        struct ft_http_response resp = {.status = 405,
                                        .body = "{\"error\":\"method_not_allowed\"}",
                                        .len = 30,
                                        .header_name = "Allow",
                                        .header_value = allow};
        return send_response(r, &resp);
    }
    if (r->route->has_body) {
        const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->opt.max_body)
                return answer(r, 413, "{\"error\":\"payload_too_large\"}");
            r->declared = (size_t)n;
        }
    }
    struct ft_http_response resp = {0};
    if (r->route->check && r->route->check(s->opt.ctx, r, &resp)) return send_response(r, &resp);
    return MHD_YES;
}

static void write_raw_refusal(ft_http_request *r)
{
    static const char too_large[] = "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 29\r\n"
                                    "\r\n{\"error\":\"payload_too_large\"}";
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                               "Retry-After: 1\r\nContent-Type: application/json\r\n"
                               "Content-Length: 22\r\n\r\n{\"error\":\"overloaded\"}";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    const char *msg = r->too_large ? too_large : busy;
    size_t len = r->too_large ? sizeof(too_large) - 1 : sizeof(busy) - 1;
    ssize_t n = send(ci->connect_fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    r->answered = true;
    r->status = r->too_large ? 413 : 503;
}

/* Gathers a chunk of body; past the limits the rest is counted and dropped. */
static enum MHD_Result on_chunk(ft_http_request *r, const char *data, size_t len)
{
    ft_http_server *s = r->srv;
    r->received += len;
    if (r->too_large || r->over_budget) {
        /* Dropped: the answer goes out when the body ends. A sender that keeps streaming
         * long past the limit gets the answer written straight to the socket (MHD cannot
         * queue one mid-body) and the connection is closed. */
        if (r->received <= 2 * s->opt.max_body + (1u << 20)) return MHD_YES;
        if (!s->opt.tls_cert_pem) write_raw_refusal(r);
        return MHD_NO;
    }
    if (r->body.len + len > s->opt.max_body) {
        r->too_large = true;
        return MHD_YES;
    }
    /* The budget counts the bytes received, not the bytes declared: a sender that declares
     * a large body and trickles it holds only what it really sent, so holding the budget
     * costs it those bytes. */
    if (atomic_fetch_add(&s->buffered, len) + len > s->opt.max_buffered) {
        atomic_fetch_sub(&s->buffered, len);
        r->over_budget = true;
        return MHD_YES;
    }
    r->counted += len;
    /* With a declared length, the first chunk allocates it (up to UPFRONT): a webhook is
     * copied once, not through a doubling buffer. Past UPFRONT the buffer grows with what
     * arrives, so a sender that declares a large body and sends little makes the server hold
     * little, resident or not (glibc serves large blocks from the heap once freed ones have
     * raised its mmap threshold, and reused heap pages are resident). */
    if (r->body.len == 0 && r->declared > len)
        ft_buf_reserve(&r->body, r->declared < UPFRONT ? r->declared : UPFRONT - 1); /* +NUL */
    ft_buf_append(&r->body, data, len);
    return MHD_YES;
}

static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn);

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    ft_http_request *r = *con_cls;
    if (!r) /* MHD skipped the request-line callback: start the request here */
        *con_cls = r = on_request_line(cls, url, conn);
    if (!r->headers_seen) {
        r->headers_seen = true;
        r->conn = conn;
        r->method = method;
        r->path = url;
        return on_headers(r);
    }
    if (*upload_size) {
        enum MHD_Result rc = on_chunk(r, upload, *upload_size);
        *upload_size = 0;
        return rc;
    }
    if (atomic_load(&r->state) == REQ_COMPLETED) return send_response(r, &r->pending);
    if (r->too_large) return answer(r, 413, "{\"error\":\"payload_too_large\"}");
    if (r->over_budget) {
        struct ft_http_response resp = {
            .status = 503, .body = "{\"error\":\"overloaded\"}", .len = 22,
            .header_name = "Retry-After", .header_value = "1"};
        return send_response(r, &resp);
    }
    struct ft_http_response resp = {0};
    if (r->route->handle(r->srv->opt.ctx, r, &resp) == FT_HTTP_DONE) return send_response(r, &resp);
    MHD_suspend_connection(conn);
    int expected = REQ_RUNNING;
    if (!atomic_compare_exchange_strong(&r->state, &expected, REQ_SUSPENDED))
        MHD_resume_connection(conn); /* completed already: answer on the next call */
    return MHD_YES;
}

/* --- request lifetime --- */

static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    ft_http_server *s = cls;
    ft_http_request *r = ft_xcalloc(1, sizeof(*r));
    r->srv = s;
    r->conn = conn;
    r->started_ns = ft_clock_mono_ns();
    ft_buf_init(&r->body, s->opt.max_body);
    atomic_init(&r->state, REQ_RUNNING);
    atomic_fetch_add(&s->in_flight, 1);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    ft_http_server *s = cls;
    ft_http_request *r = *con_cls;
    if (!r) return;
    if (s->opt.on_done) {
        struct ft_http_done_info info = {
            .route = r->route ? r->route->metric_id : -1,
            .status = r->answered ? r->status : 0,
            .duration_ns = ft_clock_mono_ns() - r->started_ns,
            .body_bytes = r->received,
        };
        s->opt.on_done(s->opt.ctx, &info);
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        struct conn *c = ci->socket_context;
        pthread_mutex_lock(&s->conns_lock);
        c->phase_start_ns = ft_clock_mono_ns();
        pthread_mutex_unlock(&s->conns_lock);
    }
    atomic_fetch_sub(&s->buffered, r->counted);
    ft_buf_free(&r->body);
    free(r->pending_body);
    free(r->pending_header);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ft_http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = ft_xcalloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        c->phase_start_ns = ft_clock_mono_ns();
        pthread_mutex_lock(&s->conns_lock);
        c->next = s->conns.next;
        c->prev = &s->conns;
        s->conns.next->prev = c;
        s->conns.next = c;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = c;
    } else if (*socket_context) {
        struct conn *c = *socket_context;
        pthread_mutex_lock(&s->conns_lock);
        c->prev->next = c->next;
        c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conns_lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Cuts connections whose request takes longer than the deadline. */
static void *reaper_main(void *arg)
{
    ft_http_server *s = arg;
    int64_t limit = (int64_t)s->opt.request_timeout_s * 1000000000;
    while (!atomic_load(&s->stopping)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t now = ft_clock_mono_ns();
        pthread_mutex_lock(&s->conns_lock);
        for (struct conn *c = s->conns.next; c != &s->conns; c = c->next) {
            if (!c->cut && c->fd >= 0 && now - c->phase_start_ns > limit) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
            }
        }
        pthread_mutex_unlock(&s->conns_lock);
    }
    return NULL;
}

/* Accepts connections and gives each to MHD, until told to stop (checked every 200 ms). */
static void *acceptor_main(void *arg)
{
    ft_http_server *s = arg;
    while (atomic_load(&s->accepting)) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0) continue;
        for (;;) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                    errno != ECONNABORTED) {
                    /* out of descriptors or memory, or worse: back off rather than spin */
                    struct timespec ts = {0, 10 * 1000 * 1000};
                    nanosleep(&ts, NULL);
                }
                break;
            }
            /* past the connection cap MHD refuses it; either way MHD closes the socket */
            MHD_add_connection(s->daemon, fd, (struct sockaddr *)&ss, len);
        }
    }
    return NULL;
}

static void stop_accepting(ft_http_server *s)
{
    if (s->acceptor_started) {
        atomic_store(&s->accepting, false);
        pthread_join(s->acceptor, NULL);
        s->acceptor_started = false;
    }
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
}

/* --- starting and stopping --- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
                        char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon[1] == '\0') goto bad;
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host)) goto bad;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port > 65535) goto bad;
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) goto bad;
        *len = sizeof(*a);
        return FT_OK;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (hl == 0)
        a->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        goto bad;
    *len = sizeof(*a);
    return FT_OK;
bad:
    snprintf(err, errlen, "cannot use listen address '%s' (expected HOST:PORT, [V6]:PORT or :PORT)",
             listen);
    return FT_EINVAL;
}

static int open_listener(ft_http_server *s, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = parse_listen(s->opt.listen, &ss, &len, err, errlen);
    if (rc) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", s->opt.listen, strerror(errno));
        if (fd >= 0) close(fd);
        return FT_EIO;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char host[INET6_ADDRSTRLEN] = "";
    unsigned port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(s->address, sizeof(s->address), "[%s]:%u", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(s->address, sizeof(s->address), "%s:%u", host, port);
    }
    s->listen_fd = fd;
    return FT_OK;
}

int ft_http_start(const struct ft_http_options *opt, ft_http_server **out, char *err,
                  size_t errlen)
{
    ft_http_server *s = ft_xcalloc(1, sizeof(*s));
    s->opt = *opt;
    if (!s->opt.threads) s->opt.threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (!s->opt.threads) s->opt.threads = 1;
    if (!s->opt.max_connections) s->opt.max_connections = 1024;
    if (!s->opt.max_body) s->opt.max_body = 1u << 20;
    if (!s->opt.max_buffered) s->opt.max_buffered = 256u << 20;
    if (!s->opt.idle_timeout_s) s->opt.idle_timeout_s = 15;
    if (!s->opt.request_timeout_s) s->opt.request_timeout_s = 30;
    s->conns.next = s->conns.prev = &s->conns;
    pthread_mutex_init(&s->conns_lock, NULL);
    int rc = open_listener(s, err, errlen);
    if (rc) goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (s->opt.tls_cert_pem) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)s->opt.tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)s->opt.tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, s, MHD_OPTION_THREAD_POOL_SIZE, s->opt.threads,
        MHD_OPTION_CONNECTION_LIMIT, s->opt.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        s->opt.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_ARRAY,
        s->opt.tls_cert_pem ? tls : tls + 2, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot start the HTTP server on %s%s", s->address,
                 s->opt.tls_cert_pem ? " (check the TLS certificate and key)" : "");
        rc = FT_EIO;
        goto fail;
    }
    if (pthread_create(&s->reaper, NULL, reaper_main, s) == 0) s->reaper_started = true;
    atomic_store(&s->accepting, true);
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        snprintf(err, errlen, "cannot start the HTTP server's acceptor thread");
        ft_http_stop(s);
        return FT_EIO;
    }
    s->acceptor_started = true;
    *out = s;
    return FT_OK;
fail:
    if (s->listen_fd > 0) close(s->listen_fd);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
    return rc;
}

const char *ft_http_address(const ft_http_server *s)
{
    return s->address;
}

void ft_http_quiesce(ft_http_server *s)
{
    stop_accepting(s);
}

bool ft_http_drain(ft_http_server *s, int timeout_ms)
{
    for (int waited = 0; atomic_load(&s->in_flight) > 0; waited += 10) {
        if (waited >= timeout_ms) return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

void ft_http_stop(ft_http_server *s)
{
    if (!s) return;
    stop_accepting(s);
    atomic_store(&s->stopping, true);
    if (s->reaper_started) pthread_join(s->reaper, NULL);
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}

/* --- request accessors --- */

const char *ft_http_method(const ft_http_request *r)
{
    return r->method;
}

const char *ft_http_path(const ft_http_request *r)
{
    return r->path;
}

const char *ft_http_header(ft_http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct query_lookup {
    const char *name;
    size_t name_len;
    const char *value;
    size_t len;
};

/* Keeps the value of every occurrence of the name, so the last one stays. */
static enum MHD_Result keep_last(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct query_lookup *q = cls;
    if (key_size == q->name_len && memcmp(key, q->name, key_size) == 0) {
        q->value = value;
        q->len = value ? value_size : 0;
    }
    return MHD_YES;
}

const char *ft_http_query(ft_http_request *r, const char *name, size_t *len)
{
    struct query_lookup q = {name, strlen(name), NULL, 0};
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, keep_last, &q);
    *len = q.len;
    return q.value;
}

struct ft_str ft_http_body(const ft_http_request *r)
{
    return (struct ft_str){r->body.data ? r->body.data : "", r->body.len};
}

void **ft_http_user(ft_http_request *r)
{
    return &r->user;
}
