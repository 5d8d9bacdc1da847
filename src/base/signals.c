/*
 * A server's signals (src/base/signals.h), taken synchronously with sigwait.
 */
#include "base/signals.h"

#include <signal.h>
#include <stddef.h>

static void server_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void ft_signals_block(void)
{
    sigset_t set;
    server_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *ft_signals_wait(void (*on_hup)(void *arg), void *arg)
{
    sigset_t set;
    server_signals(&set);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            on_hup(arg);
            continue;
        }
        return sig == SIGTERM ? "TERM" : "INT";
    }
}
