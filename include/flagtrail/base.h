/*
 * Building blocks shared by every flagtrail module: string views, capped growable buffers
 * and arenas.
 *
 * Strings from the wire are views (pointer + length) into memory someone else owns; they are
 * NUL-terminated only where they leave the library. Buffers filled from the network always
 * carry a limit, so no sender can make them grow without bound. Request-scoped memory comes
 * from an arena and is released all at once.
 *
 * Allocation failure is not a recoverable error in flagtrail: the allocators below abort the
 * process with a message (see docs/ARCHITECTURE.md, "Out of memory").
 */
#ifndef FLAGTRAIL_BASE_H
#define FLAGTRAIL_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* --- string views --- */

struct ft_str {
    const char *ptr;
    size_t len;
};

#define FT_STR(lit) ((struct ft_str){(lit), sizeof(lit) - 1})

/* A view of a NUL-terminated string (NULL gives the empty view). */
struct ft_str ft_str_c(const char *s);

/* True when both views hold the same bytes. */
bool ft_str_eq(struct ft_str a, struct ft_str b);

/* True when the view holds exactly the NUL-terminated string `s`. */
bool ft_str_eq_c(struct ft_str a, const char *s);

/* memcmp-style order of the bytes (for UTF-8 this is code point order). */
int ft_str_cmp(struct ft_str a, struct ft_str b);

/* The number in `s` (strtod's syntax), read in full however long it is. */
double ft_str_double(struct ft_str s);

/*
 * False when the number in `s` overflows a double to infinity or, nonzero, underflows to 0:
 * the values PostgreSQL's double precision refuses, and that no JSON writer can print (so do
 * "inf" and "nan"). Plain decimal text (digits, sign, point) under 300 characters is in range
 * without being read.
 */
bool ft_str_number_in_range(struct ft_str s);

/*
 * Copies the message `in` to `out` (at most `cap` bytes, NUL included) on one line: each line
 * break with the blanks around it becomes "; ", trailing ones are dropped. For the multi-line
 * messages of servers and libraries (libpq's "...\n\tHINT...\n") in one-line errors and logs.
 */
void ft_one_line(const char *in, char *out, size_t cap);

/* --- allocation (aborts on out of memory) --- */

void *ft_xmalloc(size_t size);
void *ft_xcalloc(size_t n, size_t size);
void *ft_xrealloc(void *p, size_t size);
char *ft_xstrdup(const char *s);
/* A NUL-terminated copy of a view; the caller frees it. */
char *ft_xstrndup(const char *s, size_t len);

/* Overwrites `len` bytes in a way the compiler cannot elide, then frees `p` (NULL is fine). */
void ft_free_secure(void *p, size_t len);

/* --- capped growable buffer --- */

struct ft_buf {
    char *data;   /* owned; NUL-terminated after every append (not counted in len) */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    size_t limit; /* appends that would pass this many bytes fail with FT_ETOOBIG; 0 = none */
};

/* Initializes an empty buffer that may hold at most `limit` bytes (0: no limit). */
void ft_buf_init(struct ft_buf *b, size_t limit);
/* Frees the memory; the buffer can be initialized again. */
void ft_buf_free(struct ft_buf *b);
/* Empties the buffer, keeping its memory. */
void ft_buf_reset(struct ft_buf *b);
/* Makes room for `extra` more bytes. FT_ETOOBIG when that passes the limit. */
int ft_buf_reserve(struct ft_buf *b, size_t extra);
/* Appends: FT_ETOOBIG (and nothing appended) when that would pass the limit. They are inline
 * for what fits the memory the buffer has: an answer is hundreds of small appends, most of them
 * string literals whose length and copy the compiler then does at the call. */
int ft__buf_append_grow(struct ft_buf *b, const void *data, size_t len);

static inline int ft_buf_append(struct ft_buf *b, const void *data, size_t len)
{
    if (len >= b->cap - b->len || (b->limit && len > b->limit - b->len))
        return ft__buf_append_grow(b, data, len);
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static inline int ft_buf_append_str(struct ft_buf *b, const char *s)
{
    return ft_buf_append(b, s, strlen(s));
}

static inline int ft_buf_append_char(struct ft_buf *b, char c)
{
    return ft_buf_append(b, &c, 1);
}

int ft_buf_printf(struct ft_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- arena --- */

/*
 * A bump allocator: many small allocations, one release. Memory is 16-byte aligned and
 * zeroed only where asked. Not thread-safe.
 */
struct ft_arena_chunk;
struct ft_arena {
    struct ft_arena_chunk *head;
    size_t chunk_size;
    size_t used; /* bytes handed out since init or reset */
};

void ft_arena_init(struct ft_arena *a, size_t chunk_size);
void ft_arena_free(struct ft_arena *a);
/* Releases every allocation but keeps the first chunk for reuse. */
void ft_arena_reset(struct ft_arena *a);
void *ft_arena_alloc(struct ft_arena *a, size_t size);
void *ft_arena_zalloc(struct ft_arena *a, size_t size);
/* Copies `len` bytes into the arena and NUL-terminates them. */
char *ft_arena_strndup(struct ft_arena *a, const char *s, size_t len);

#endif
