/*
 * A progress bar on stderr for long CLI work, drawn only when stderr is a terminal.
 */
#ifndef FT_CLI_PROGRESS_H
#define FT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct cli_progress {
    bool tty;
    const char *label;
    int64_t started_ns, drawn_ns;
};

void cli_progress_start(struct cli_progress *p, const char *label);
/* Redraws at most ten times a second: `done` of `total` (total 0: unknown), `count` items. */
void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total, uint64_t count);
/* Draws the final state and ends the line. */
void cli_progress_finish(struct cli_progress *p, uint64_t done, uint64_t total, uint64_t count);

#endif
