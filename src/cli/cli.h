/*
 * Helpers shared by the subcommands of the flagtrail program: reading inputs with a size cap,
 * loading secrets, parsing sizes, and the conventions for messages and exit codes:
 *
 *   0  success (for checks: the input is valid)
 *   1  the check failed, or the work could not be done (unreadable file, server error)
 *   2  usage error (unknown option, missing argument)
 *
 * Messages about running the command go to stderr as "flagtrail <cmd>: <message>"; the
 * command's answer goes to stdout.
 */
#ifndef FT_CLI_H
#define FT_CLI_H

#include "flagtrail/base.h"
#include "flagtrail/signature.h"

#include <stdbool.h>
#include <stddef.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*help)(void);
};

/* Prints "flagtrail <cmd>: <message>" to stderr and returns CLI_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the message and a pointer to --help to stderr; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Reads a whole file, or stdin for NULL or "-", into `out` (initialized here). Fails with
 * FT_ETOOBIG, having read at most cap+1 bytes, when the input is longer than `cap`.
 */
int cli_read_input(const char *path, size_t cap, struct ft_buf *out, char *errbuf, size_t errlen);

/* The message for getopt_long's answer `c` ('?' unknown option, ':' missing value). */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Parses "1048576", "64K", "1M", "2G" (binary units), up to CLI_SIZE_MAX. */
#define CLI_SIZE_MAX ((size_t)1 << 40) /* 1 TiB: no size flagtrail takes is larger */
bool cli_parse_size(const char *s, size_t *out);

/* Parses a decimal integer that fits int64 (an id), nothing after it. */
bool cli_parse_int64(const char *s, int64_t *out);

/*
 * Adds the secrets from `files` (n of them) to `v`, or FLAGTRAIL_SECRET when n is 0. Returns
 * the number added, or -1 after printing why on stderr.
 */
int cli_load_secrets(const char *cmd, const char *const *files, size_t n, ft_verifier *v);

/*
 * Loads the one secret for signing (a file, else FLAGTRAIL_SECRET) into a signer. Returns an
 * exit code: CLI_OK with *out set, or CLI_USAGE / CLI_FAIL after a message.
 */
int cli_load_signer(const char *cmd, const char *file, ft_signer **out);

/* Subcommands. */
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_cohort(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
void help_sign(void);
void help_verify(void);
void help_validate(void);
void help_receive(void);
void help_replay(void);
void help_events(void);
void help_cohort(void);
void help_experiment(void);
void help_eval(void);
void help_serve(void);
void help_demo(void);

#endif
