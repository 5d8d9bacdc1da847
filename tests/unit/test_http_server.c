/*
 * Unit tests of the HTTP server (src/http/server.c) over loopback: the body budget counts
 * bytes received, not bytes declared (slow senders that declare large bodies cannot make
 * everyone else's request a 503); a repeated query parameter gives its last value, as
 * Django's QueryDict does; cross-origin answers on the configured paths only.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static ft_http_server *srv;
static char answer_buf[64];

static enum ft_http_outcome echo_length(void *ctx, ft_http_request *req,
                                        struct ft_http_response *resp)
{
    (void)ctx;
    snprintf(answer_buf, sizeof(answer_buf), "%zu", ft_http_body(req).len);
    *resp = (struct ft_http_response){.status = 200, .body = answer_buf, .len = strlen(answer_buf)};
    return FT_HTTP_DONE;
}

static enum ft_http_outcome echo_query(void *ctx, ft_http_request *req,
                                       struct ft_http_response *resp)
{
    (void)ctx;
    size_t len;
    const char *v = ft_http_query(req, "k", &len);
    snprintf(answer_buf, sizeof(answer_buf), "[%.*s]", v ? (int)len : 4, v ? v : "none");
    *resp = (struct ft_http_response){.status = 200, .body = answer_buf, .len = strlen(answer_buf)};
    return FT_HTTP_DONE;
}

static const struct ft_http_route routes[] = {
    {"POST", "/body", true, NULL, echo_length, 0},
    {"GET", "/q", false, NULL, echo_query, 1},
    {"GET", "/c/x", false, NULL, echo_query, 2},
};

static const struct ft_http_cors cors = {"/c/", "x-environment-key", "GET, POST", "60"};

static void start(void)
{
    struct ft_http_options o = {.listen = "127.0.0.1:0",
                                .threads = 1,
                                .max_body = 1u << 20,
                                .max_buffered = 64u << 10,
                                .routes = routes,
                                .nroutes = sizeof(routes) / sizeof(routes[0]),
                                .cors = &cors};
    char err[256];
    cr_assert_eq(ft_http_start(&o, &srv, err, sizeof(err)), FT_OK, "%s", err);
}

static void stop(void)
{
    ft_http_stop(srv);
}

TestSuite(http_server, .init = start, .fini = stop, .timeout = 30);

static int connect_to_server(void)
{
    const char *addr = ft_http_address(srv);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_port = htons((uint16_t)strtoul(strrchr(addr, ':') + 1, NULL, 10));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        cr_assert(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

/* Sends a whole request on a new connection and reads the answer until the server closes. */
static char *exchange(const char *request, const char *body, size_t body_len)
{
    int fd = connect_to_server();
    send_all(fd, request, strlen(request));
    if (body_len) send_all(fd, body, body_len);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - len - 1, 0)) > 0) {
        len += (size_t)n;
        if (len + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fd);
    return out;
}

static char *post(size_t body_len)
{
    char head[256];
    snprintf(head, sizeof(head),
             "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n",
             body_len);
    char *body = calloc(1, body_len + 1);
    memset(body, 'b', body_len);
    char *answer = exchange(head, body, body_len);
    free(body);
    return answer;
}

/* Opens a connection that declares a body of `declared` bytes and sends `sent` of them. */
static int slow_sender(size_t declared, size_t sent)
{
    int fd = connect_to_server();
    char head[128];
    snprintf(head, sizeof(head), "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             declared);
    send_all(fd, head, strlen(head));
    char *part = calloc(1, sent);
    send_all(fd, part, sent);
    free(part);
    return fd;
}

static void settle(void)
{
    struct timespec ts = {0, 300 * 1000 * 1000}; /* the server reads what was sent */
    nanosleep(&ts, NULL);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

Test(http_server, declared_bodies_hold_no_budget_until_they_arrive)
{
    int slow[8]; /* 128 KiB declared against a 64 KiB budget, 8 bytes sent */
    for (int i = 0; i < 8; i++)
        slow[i] = slow_sender(16u << 10, 1);
    settle();
    char *answer = post(1000);
    cr_expect(starts_with(answer, "HTTP/1.1 200"), "%s", answer);
    cr_expect(strstr(answer, "\r\n\r\n1000") != NULL, "%s", answer);
    free(answer);
    for (int i = 0; i < 8; i++)
        close(slow[i]);
}

Test(http_server, bytes_received_count_against_the_budget)
{
    int held = slow_sender(1u << 20, 60u << 10); /* 60 KiB of a 64 KiB budget, kept */
    settle();
    char *answer = post(8u << 10);
    cr_expect(starts_with(answer, "HTTP/1.1 503"), "%s", answer);
    free(answer);
    close(held);
    settle();
    answer = post(8u << 10);
    cr_expect(starts_with(answer, "HTTP/1.1 200"), "the budget is back: %s", answer);
    free(answer);
}

Test(http_server, a_repeated_query_parameter_gives_its_last_value)
{
    const char *cases[][2] = {{"/q?k=a&k=b", "[b]"},     {"/q?k=a", "[a]"},
                              {"/q?k=a&j=c&k=%20d", "[ d]"}, {"/q?j=1", "[none]"},
                              {"/q?k=a&k=", "[]"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 cases[i][0]);
        char *answer = exchange(req, NULL, 0);
        const char *body = strstr(answer, "\r\n\r\n");
        cr_expect(body && strcmp(body + 4, cases[i][1]) == 0, "%s: %s", cases[i][0], answer);
        free(answer);
    }
}

Test(http_server, cross_origin_answers_on_the_configured_paths)
{
    char *pre = exchange("OPTIONS /c/anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Origin: https://a.example\r\nAccess-Control-Request-Method: GET\r\n\r\n",
                         NULL, 0);
    cr_expect(starts_with(pre, "HTTP/1.1 200"), "%s", pre);
    cr_expect(strstr(pre, "Access-Control-Allow-Origin: *\r\n") != NULL, "%s", pre);
    cr_expect(strstr(pre, "Access-Control-Allow-Headers: x-environment-key\r\n") != NULL);
    cr_expect(strstr(pre, "Access-Control-Allow-Methods: GET, POST\r\n") != NULL);
    cr_expect(strstr(pre, "Access-Control-Max-Age: 60\r\n") != NULL);
    cr_expect(strstr(pre, "Vary: Origin\r\n") != NULL);
    free(pre);
    char *get = exchange("GET /c/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Origin: https://a.example\r\n\r\n",
                         NULL, 0);
    cr_expect(strstr(get, "Access-Control-Allow-Origin: *\r\n") != NULL, "%s", get);
    cr_expect(strstr(get, "Access-Control-Allow-Methods") == NULL, "only for OPTIONS: %s", get);
    free(get);
    char *other = exchange("OPTIONS /q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Origin: https://a.example\r\n"
                           "Access-Control-Request-Method: GET\r\n\r\n",
                           NULL, 0);
    cr_expect(starts_with(other, "HTTP/1.1 405"), "not a cross-origin path: %s", other);
    cr_expect(strstr(other, "Access-Control") == NULL && strstr(other, "Vary") == NULL);
    free(other);
}
