/*
 * Text from webhooks shown to a person: on a terminal (tables, reports, messages) or in an
 * HTML page. Identities, trait values, flag values and segment names are chosen by whoever
 * sends the webhooks, so a value may hold an escape sequence that clears a terminal or
 * rewrites its title, a line break that splits a table row, or a control byte that no HTML
 * or SVG parser accepts. These functions show such characters as visible escapes instead.
 */
#ifndef FT_BASE_DISPLAY_H
#define FT_BASE_DISPLAY_H

#include "flagtrail/base.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Appends the `len` bytes of `s` to `b` with every C0 control character, DEL and C1 control
 * character written as an escape (`\n`, `\t`, `\r`, `\x1b`, `\x7f`, `\u0085`) and every byte that
 * does not belong to a UTF-8 character as `\xHH`; the rest is copied. Returns the number of
 * characters appended (the display width, counting one per code point).
 */
size_t ft_display_append(struct ft_buf *b, const char *s, size_t len);

/* ft_display_append of the NUL-terminated `s` into a new string (free it); NULL gives "". */
char *ft_display_dup(const char *s);

/* The number of code points of the NUL-terminated UTF-8 `s`: its display width. */
size_t ft_display_width(const char *s);

#endif
