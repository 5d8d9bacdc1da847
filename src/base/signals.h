/*
 * A server's signals: SIGTERM and SIGINT stop it, SIGHUP reloads something, SIGPIPE is
 * ignored (a peer that closes its socket is an error return, not a death).
 */
#ifndef FT_BASE_SIGNALS_H
#define FT_BASE_SIGNALS_H

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, and so in every thread it starts
 * afterwards (call it first), and ignores SIGPIPE: the signals then wait for ft_signals_wait. */
void ft_signals_block(void);

/* Waits for SIGTERM or SIGINT, calling `on_hup(arg)` at every SIGHUP meanwhile; returns the
 * name of the signal that ended the wait: "TERM" or "INT". */
const char *ft_signals_wait(void (*on_hup)(void *arg), void *arg);

#endif
