/*
 * The webhook signature: X-Flagsmith-Signature is the hex HMAC-SHA256 of the raw body, keyed
 * by the shared secret's UTF-8 bytes.
 *
 * A signer holds one keyed HMAC context, set up once and reset per message, so signing costs
 * about one SHA-256 pass over the body. A verifier holds one signer per accepted secret
 * (several during a rotation) and compares digests in constant time after checking the
 * header's form. Neither keeps the secret's bytes; OpenSSL wipes its key schedule when a
 * context is freed. Signers and verifiers are not thread-safe: give each thread its own copy
 * (the _dup functions).
 */
#ifndef FLAGTRAIL_SIGNATURE_H
#define FLAGTRAIL_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FT_SIGNATURE_HEADER  "X-Flagsmith-Signature"
#define FT_SIGNATURE_HEX_LEN 64
#define FT_SECRET_MAX        4096

typedef struct ft_signer ft_signer;
typedef struct ft_verifier ft_verifier;

/* A signer keyed by `secret` (not kept). NULL if the crypto library fails. */
ft_signer *ft_signer_new(const void *secret, size_t secret_len);
/* An independent copy with the same key, for another thread. NULL on failure. */
ft_signer *ft_signer_dup(const ft_signer *s);
void ft_signer_free(ft_signer *s);

/* The raw HMAC-SHA256 of `body`. FT_OK or FT_ECRYPTO. */
int ft_signer_digest(ft_signer *s, const void *body, size_t len, uint8_t out[32]);
/* The lowercase hex header value (64 digits and a NUL). FT_OK or FT_ECRYPTO. */
int ft_signer_hex(ft_signer *s, const void *body, size_t len, char out[65]);

/* An empty verifier; it accepts nothing until secrets are added. */
ft_verifier *ft_verifier_new(void);
/* Adds an accepted secret (not kept). FT_OK, FT_EINVAL (empty), FT_ECRYPTO. */
int ft_verifier_add(ft_verifier *v, const void *secret, size_t secret_len);
size_t ft_verifier_count(const ft_verifier *v);
ft_verifier *ft_verifier_dup(const ft_verifier *v);
void ft_verifier_free(ft_verifier *v);

/*
 * Checks a header value against the body. Returns FT_OK when it is the signature of one of
 * the secrets; FT_ESIGMISSING when `header` is NULL or empty; FT_ESIGMALFORMED when it is not
 * 64 hex digits (either case); FT_ESIGMISMATCH otherwise. Every secret is tried and digests
 * are compared with CRYPTO_memcmp, so timing tells nothing about the expected value.
 */
int ft_verifier_check(ft_verifier *v, const void *body, size_t len, const char *header,
                      size_t header_len);

/* --- Standard Webhooks (standardwebhooks.com) --- */

/*
 * The optional second scheme: webhook-signature is "v1," and the base64 HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<body>"; several space-separated signatures may be given.
 * flagtrail keys it with the same secret bytes as X-Flagsmith-Signature.
 */
#define FT_STANDARD_SIGNATURE_MAX 64 /* "v1," + 44 base64 characters + NUL, with room */

/* The webhook-signature value for a delivery ("v1,..."). FT_OK or FT_ECRYPTO. */
int ft_signer_standard(ft_signer *s, const char *id, const char *timestamp, const void *body,
                       size_t len, char out[FT_STANDARD_SIGNATURE_MAX]);

/*
 * Checks a webhook-signature header against the id, timestamp and body for every secret.
 * FT_OK when one of its v1 signatures matches; FT_ESIGMISSING, FT_ESIGMALFORMED (no v1
 * signature of 32 bytes in it) or FT_ESIGMISMATCH otherwise. Constant-time comparisons.
 */
int ft_verifier_check_standard(ft_verifier *v, const char *id, const char *timestamp,
                               const void *body, size_t len, const char *header);

/*
 * Reads a secret from a file: its bytes with trailing CR/LF removed. Returns FT_OK with
 * *out (wipe and free with ft_free_secure(*out, *out_len)); FT_EIO when unreadable, FT_EINVAL
 * when empty, FT_ETOOBIG past FT_SECRET_MAX bytes. `errbuf` (may be NULL) gets a reason.
 */
int ft_secret_read_file(const char *path, char **out, size_t *out_len, char *errbuf, size_t errlen);

/* Wraps a secret from the environment or elsewhere in the same rules (copy, trim, limits). */
int ft_secret_from_string(const char *s, size_t len, char **out, size_t *out_len);

#endif
