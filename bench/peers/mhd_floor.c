/*
 * The floor of receive's design, a peer for bench/receive: libmicrohttpd set up as flagtrail's
 * server is (epoll, a pool of one thread per core, MHD_USE_TURBO, connections accepted by an
 * acceptor thread and handed over with MHD_add_connection), reading each request's body and
 * answering {"status":"accepted"}, and doing nothing else: no signature, no parsing, no disk.
 *
 *   mhd_floor PORT plain      answer from the handler
 *   mhd_floor PORT suspend    suspend each request and resume it from another thread, as
 *                             receive does around its group commit (with a sync that takes
 *                             no time)
 *
 * Whatever flagtrail adds (verification, parsing, the spool, fdatasync, the loader) comes on
 * top of the second line, so its ratio to nginx bounds what receive can reach here.
 */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define QUEUE 4096

static struct MHD_Response *accepted;
static bool suspend_mode;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct MHD_Connection *queue[QUEUE];
static int queued;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (!*state) { /* headers: nothing to check */
        *state = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) { /* body bytes: read and dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (suspend_mode && *state == (void *)1) {
        *state = (void *)2;
        pthread_mutex_lock(&lock);
        if (queued < QUEUE) {
            MHD_suspend_connection(c);
            queue[queued++] = c;
            pthread_cond_signal(&cond);
            pthread_mutex_unlock(&lock);
            return MHD_YES;
        }
        pthread_mutex_unlock(&lock);
    }
    return MHD_queue_response(c, 200, accepted);
}

/* Resumes every suspended request as soon as there is one: a group commit of zero length. */
static void *resumer(void *arg)
{
    (void)arg;
    static struct MHD_Connection *batch[QUEUE];
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!queued)
            pthread_cond_wait(&cond, &lock);
        int n = queued;
        memcpy(batch, queue, sizeof(*batch) * (size_t)n);
        queued = 0;
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < n; i++)
            MHD_resume_connection(batch[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mhd_floor PORT plain|suspend\n");
        return 2;
    }
    suspend_mode = strcmp(argv[2], "suspend") == 0;
    signal(SIGPIPE, SIG_IGN);
    static const char body[] = "{\"status\":\"accepted\"}";
    accepted = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body,
                                               MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(accepted, "Content-Type", "application/json");
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)sysconf(_SC_NPROCESSORS_ONLN), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)16 * 1024, MHD_OPTION_END);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (!d || fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0) {
        perror("mhd_floor: cannot listen");
        return 1;
    }
    pthread_t t;
    if (suspend_mode && pthread_create(&t, NULL, resumer, NULL) != 0) return 1;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (c >= 0) MHD_add_connection(d, c, (struct sockaddr *)&ss, len);
    }
}
