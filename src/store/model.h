/*
 * The warehouse model's canonical form: the order of a set's members and the set's id.
 *
 * Each member is encoded to bytes that hold every stored field (numbers big-endian with the
 * sign flipped so they sort as numbers, strings length-prefixed, values with their JSON type
 * and exact text); members are sorted by those bytes and the set id is the first 8 bytes of the
 * SHA-256 of the kind and the sorted encodings. Equal sets get equal ids whatever order the
 * webhook listed them in; flags end up ordered by feature id, segments by id. The chance that
 * two different sets share an id is about n^2 / 2^65 for n distinct sets of one kind (3e-6 at
 * ten million).
 */
#ifndef FT_STORE_MODEL_H
#define FT_STORE_MODEL_H

#include "flagtrail/base.h"
#include "flagtrail/payload.h"
#include "store/store.h"

enum { FT_MODEL_MEMO = 8 };                     /* lists remembered per kind */
#define FT_MODEL_MEMO_TEXT ((size_t)128 << 10) /* longer lists' text is not kept */

struct ft_model_memo {
    char *text; /* a list's JSON text, NULL while the slot is free */
    size_t len;
    int64_t id;
};

struct ft_model {
    struct ft_buf enc;   /* encodings of the current set's members */
    size_t *spans;       /* offset of each member's encoding in enc, then its length */
    size_t *order;
    size_t cap;
    void *scratch;       /* a copy of the members, reordered */
    size_t scratch_cap;
    struct evp_md_ctx_st *md; /* OpenSSL's EVP_MD_CTX, reused */
    struct evp_md_st *sha256; /* fetched once */
    struct ft_model_memo memo[3][FT_MODEL_MEMO]; /* flags, traits, segments */
    unsigned memo_next[3];                       /* the slot replaced next (FIFO) */
};

void ft_model_init(struct ft_model *m);
void ft_model_free(struct ft_model *m);

/* Puts the payload's flags, traits and segments in canonical order (in place) and computes
 * the three set ids. */
void ft_model_canonicalize(struct ft_model *m, struct ft_payload *p, int64_t *flags_set,
                           int64_t *traits_set, int64_t *segments_set);

/* The three set ids alone, for a caller that does not need the members in order: a list whose
 * JSON text (p->lists_json) equals one of the last FT_MODEL_MEMO of its kind gets that list's
 * id without encoding, sorting or hashing; the others are canonicalized (reordering them). */
void ft_model_set_ids(struct ft_model *m, struct ft_payload *p, int64_t ids[3]);

#endif
