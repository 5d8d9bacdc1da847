/*
 * flagtrail receive: the verified, durable webhook endpoint and its loader.
 *
 * A request passes the HTTP limits (src/http/server.c), then the signature check on the raw
 * bytes, then the payload schema; the body is appended to the spool and the connection is
 * suspended until the group commit makes it durable; only then does the sender get 200. The
 * loader moves spooled webhooks into the warehouse in the background. SIGTERM and SIGINT
 * drain; SIGHUP reloads the secrets.
 */
#ifndef FT_RECEIVE_H
#define FT_RECEIVE_H

#include "base/log.h"
#include "spool/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FT_RECEIVE_MAX_SECRET_FILES 16

struct ft_receive_config {
    const char *listen;        /* default 127.0.0.1:8080 */
    const char *path;          /* default /webhook */
    const char *store_url;     /* default sqlite:./flagtrail.db */
    const char *spool_dir;     /* default ./flagtrail-spool */
    const char *source;        /* default: the host name */
    const char *secret_files[FT_RECEIVE_MAX_SECRET_FILES];
    size_t nsecret_files;
    bool use_env_secret;       /* also accept FLAGTRAIL_SECRET */
    bool allow_unsigned;
    bool standard_webhooks;    /* honour webhook-id / -timestamp / -signature */
    unsigned tolerance_s;      /* webhook-timestamp must be this close to now (default 300) */
    size_t max_body;           /* default 1 MiB */
    enum ft_spool_durability durability;
    uint64_t spool_max_bytes;  /* backlog bound; default 1 GiB */
    const char *tls_cert, *tls_key; /* PEM files, both or neither */
    unsigned threads;          /* HTTP threads; 0: one per core */
    unsigned max_connections;
    unsigned idle_timeout_s, request_timeout_s;
    unsigned drain_timeout_s;  /* on SIGTERM: requests and loader, each; default 10 */
};

/* Fills the defaults. */
void ft_receive_config_init(struct ft_receive_config *cfg);

/*
 * Runs the receiver until SIGTERM or SIGINT; returns a process exit code (0 after a clean
 * drain, 1 when it could not start). Logs through src/base/log.h.
 */
int ft_receive_run(const struct ft_receive_config *cfg);

#endif
