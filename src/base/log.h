/*
 * Logging: one line per event on stderr, as text or as JSON lines, with a level filter.
 *
 * An event has a dotted name ("receive.listening") and string key/value fields. Callers pass
 * identifiers, sizes and digests, never secrets and never whole bodies (a body is named by its
 * SHA-256). Only the programs log; the library modules return errors instead.
 */
#ifndef FT_BASE_LOG_H
#define FT_BASE_LOG_H

#include <stdbool.h>

enum ft_log_level { FT_LOG_DEBUG, FT_LOG_INFO, FT_LOG_WARN, FT_LOG_ERROR };
enum ft_log_format { FT_LOG_TEXT, FT_LOG_JSON };

/* Sets the output format and the lowest level written (defaults: text, info). */
void ft_log_setup(enum ft_log_format format, enum ft_log_level min_level);

/* Parses "text"/"json" and "debug"/"info"/"warn"/"error"; false on anything else. */
bool ft_log_parse_format(const char *s, enum ft_log_format *out);
bool ft_log_parse_level(const char *s, enum ft_log_level *out);

/*
 * Writes one event. The variadic part is pairs of `const char *` key and value, ended by a
 * NULL key: ft_log(FT_LOG_INFO, "receive.listening", "listen", addr, NULL). A NULL value is
 * written as JSON null / "-". Thread-safe: each line is written with one write(2).
 */
void ft_log(enum ft_log_level level, const char *event, ...);

#endif
