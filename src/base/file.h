/*
 * Small state files (a checkpoint, a marker) written so that a crash leaves the old content
 * or the new, never a mix.
 */
#ifndef FT_BASE_FILE_H
#define FT_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* Replaces `path` with `len` bytes, durably: written to PATH.tmp, synced, renamed over `path`,
 * and the directory synced. FT_OK or FT_EIO (PATH.tmp removed). */
int ft_file_replace(const char *path, const void *data, size_t len);

/* Syncs the directory holding `path`, so that a rename or a creation there is durable. */
bool ft_file_sync_parent(const char *path);

/* Reads at most `cap - 1` bytes of `path` into `out`, NUL-terminated. The number read, or -1
 * when the file cannot be opened or read (`out` is then ""). */
long ft_file_read_small(const char *path, char *out, size_t cap);

#endif
