/*
 * The store's front door (src/store/store.h): picks a backend by URL scheme and forwards.
 */
#include "store/store.h"
#include "flagtrail/error.h"

#include <stdio.h>
#include <string.h>

extern const struct ft_store_ops ft__store_sqlite, ft__store_postgres, ft__store_clickhouse;

static const struct ft_store_ops *const backends[] = {&ft__store_sqlite, &ft__store_postgres,
                                                      &ft__store_clickhouse};

/* Only a write tells a refusal apart; everywhere else a failure is FT_ESTORE. */
static int failure(int rc)
{
    return rc == FT_EREFUSED ? FT_ESTORE : rc;
}

int ft_store_open(const char *url, ft_store **out, char *err, size_t errlen)
{
    return ft_store_open_flags(url, 0, out, err, errlen);
}

int ft_store_open_flags(const char *url, unsigned flags, ft_store **out, char *err,
                        size_t errlen)
{
    const char *colon = strchr(url, ':');
    if (colon) {
        size_t n = (size_t)(colon - url);
        for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
            const struct ft_store_ops *ops = backends[i];
            if (strlen(ops->scheme) == n && strncmp(url, ops->scheme, n) == 0) {
                const char *location = colon + 1;
                if (strncmp(location, "//", 2) == 0) location += 2;
                return failure(ops->open(location, flags, out, err, errlen));
            }
        }
    }
    snprintf(err, errlen,
             "unknown store '%s' (expected sqlite:PATH, postgres://USER@HOST:PORT/DB or"
             " clickhouse://HOST:PORT/DB)",
             url);
    return FT_EINVAL;
}

int ft_store_checkpoint(ft_store *st, const char *source, uint64_t *lsn)
{
    return failure(st->ops->checkpoint(st, source, lsn));
}

int ft_store_write(ft_store *st, const struct ft_store_batch *b)
{
    return st->ops->write(st, b);
}

int ft_store_query(ft_store *st, const char *sql, const struct ft_cell *params, size_t nparams,
                   ft_store_row_fn row, void *arg)
{
    return failure(st->ops->query(st, sql, params, nparams, row, arg));
}

const char *ft_store_dialect(const ft_store *st)
{
    return st->ops->scheme;
}

int ft_store_ping(ft_store *st)
{
    return st->ops->ping(st);
}

const char *ft_store_errmsg(ft_store *st)
{
    return st->ops->errmsg(st);
}

void ft_store_close(ft_store *st)
{
    if (st) st->ops->close(st);
}

const char *ft_store_redact(const char *url, char *out, size_t cap)
{
    const char *auth = strstr(url, "://");
    const char *at = NULL; /* the last '@' of the authority: a password may hold a raw '@' */
    for (const char *p = auth ? auth + 3 : ""; *p && *p != '/'; p++)
        if (*p == '@') at = p;
    const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;
    if (!colon) snprintf(out, cap, "%s", url);
    else snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
    return out;
}
