/*
 * The CLI progress bar (src/cli/progress.h).
 */
#include "cli/progress.h"
#include "base/clock.h"

#include <stdio.h>
#include <unistd.h>

void cli_progress_start(struct cli_progress *p, const char *label)
{
    p->tty = isatty(STDERR_FILENO);
    p->label = label;
    p->started_ns = ft_clock_mono_ns();
    p->drawn_ns = 0;
}

static void draw(struct cli_progress *p, uint64_t done, uint64_t total, uint64_t count)
{
    double secs = (double)(ft_clock_mono_ns() - p->started_ns) / 1e9;
    double rate = secs > 0 ? (double)count / secs : 0;
    if (total) {
        double frac = done >= total ? 1.0 : (double)done / (double)total;
        int filled = (int)(frac * 30);
        char bar[31];
        for (int i = 0; i < 30; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%%  %llu  %.0f/s ", p->label, bar, frac * 100,
                (unsigned long long)count, rate);
    } else {
        fprintf(stderr, "\r%s %llu  %.0f/s ", p->label, (unsigned long long)count, rate);
    }
    fflush(stderr);
}

void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total, uint64_t count)
{
    if (!p->tty) return;
    int64_t now = ft_clock_mono_ns();
    if (now - p->drawn_ns < 100000000) return;
    p->drawn_ns = now;
    draw(p, done, total, count);
}

void cli_progress_finish(struct cli_progress *p, uint64_t done, uint64_t total, uint64_t count)
{
    if (!p->tty) return;
    draw(p, done, total, count);
    fputc('\n', stderr);
}
