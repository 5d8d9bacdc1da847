/*
 * HMAC-SHA256 signatures with OpenSSL 3's EVP_MAC (include/flagtrail/signature.h).
 *
 * The HMAC algorithm is fetched once per process. Each signer's context is keyed once; passing
 * a NULL key to EVP_MAC_init resets it for the next message without rehashing the key.
 */
#include "flagtrail/signature.h"
#include "flagtrail/base.h"
#include "flagtrail/error.h"
#include "base/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

struct ft_signer {
    EVP_MAC_CTX *ctx;
};

struct ft_verifier {
    ft_signer **signers;
    size_t n;
};

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void fetch_hmac(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* --- signer --- */

ft_signer *ft_signer_new(const void *secret, size_t secret_len)
{
    pthread_once(&hmac_once, fetch_hmac);
    if (!hmac_alg) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx) return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    /* HMAC with an empty key is valid; OpenSSL wants a non-NULL pointer for it. */
    static const unsigned char empty[1];
    if (!EVP_MAC_init(ctx, secret_len ? secret : empty, secret_len, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    ft_signer *s = ft_xmalloc(sizeof(*s));
    s->ctx = ctx;
    return s;
}

ft_signer *ft_signer_dup(const ft_signer *s)
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(s->ctx);
    if (!ctx) return NULL;
    ft_signer *d = ft_xmalloc(sizeof(*d));
    d->ctx = ctx;
    return d;
}

void ft_signer_free(ft_signer *s)
{
    if (!s) return;
    EVP_MAC_CTX_free(s->ctx);
    free(s);
}

int ft_signer_digest(ft_signer *s, const void *body, size_t len, uint8_t out[32])
{
    size_t outl = 0;
    if (!EVP_MAC_init(s->ctx, NULL, 0, NULL) || !EVP_MAC_update(s->ctx, body, len) ||
        !EVP_MAC_final(s->ctx, out, &outl, 32) || outl != 32)
        return FT_ECRYPTO;
    return FT_OK;
}

int ft_signer_hex(ft_signer *s, const void *body, size_t len, char out[65])
{
    uint8_t digest[32];
    int rc = ft_signer_digest(s, body, len, digest);
    if (rc) return rc;
    ft_hex_encode(digest, 32, out);
    return FT_OK;
}

/* --- verifier --- */

ft_verifier *ft_verifier_new(void)
{
    return ft_xcalloc(1, sizeof(ft_verifier));
}

int ft_verifier_add(ft_verifier *v, const void *secret, size_t secret_len)
{
    if (secret_len == 0) return FT_EINVAL;
    ft_signer *s = ft_signer_new(secret, secret_len);
    if (!s) return FT_ECRYPTO;
    v->signers = ft_xrealloc(v->signers, sizeof(*v->signers) * (v->n + 1));
    v->signers[v->n++] = s;
    return FT_OK;
}

size_t ft_verifier_count(const ft_verifier *v)
{
    return v->n;
}

ft_verifier *ft_verifier_dup(const ft_verifier *v)
{
    ft_verifier *d = ft_verifier_new();
    d->signers = ft_xcalloc(v->n ? v->n : 1, sizeof(*d->signers));
    for (size_t i = 0; i < v->n; i++) {
        if (!(d->signers[i] = ft_signer_dup(v->signers[i]))) {
            ft_verifier_free(d);
            return NULL;
        }
        d->n++;
    }
    return d;
}

void ft_verifier_free(ft_verifier *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++)
        ft_signer_free(v->signers[i]);
    free(v->signers);
    free(v);
}

int ft_verifier_check(ft_verifier *v, const void *body, size_t len, const char *header,
                      size_t header_len)
{
    if (!header || header_len == 0) return FT_ESIGMISSING;
    uint8_t given[32];
    if (!ft_hex_decode(header, header_len, given, sizeof(given))) return FT_ESIGMALFORMED;
    int matched = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint8_t expected[32];
        if (ft_signer_digest(v->signers[i], body, len, expected)) return FT_ECRYPTO;
        matched |= CRYPTO_memcmp(expected, given, sizeof(given)) == 0;
        OPENSSL_cleanse(expected, sizeof(expected));
    }
    return matched ? FT_OK : FT_ESIGMISMATCH;
}

/* --- Standard Webhooks --- */

/* HMAC of "id.timestamp.body" without copying the body. */
static int standard_digest(ft_signer *s, const char *id, const char *ts, const void *body,
                           size_t len, uint8_t out[32])
{
    size_t outl = 0;
    if (!EVP_MAC_init(s->ctx, NULL, 0, NULL) || !EVP_MAC_update(s->ctx, (const void *)id, strlen(id)) ||
        !EVP_MAC_update(s->ctx, (const void *)".", 1) ||
        !EVP_MAC_update(s->ctx, (const void *)ts, strlen(ts)) ||
        !EVP_MAC_update(s->ctx, (const void *)".", 1) || !EVP_MAC_update(s->ctx, body, len) ||
        !EVP_MAC_final(s->ctx, out, &outl, 32) || outl != 32)
        return FT_ECRYPTO;
    return FT_OK;
}

int ft_signer_standard(ft_signer *s, const char *id, const char *timestamp, const void *body,
                       size_t len, char out[FT_STANDARD_SIGNATURE_MAX])
{
    uint8_t mac[32];
    int rc = standard_digest(s, id, timestamp, body, len, mac);
    if (rc) return rc;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, 32);
    return FT_OK;
}

/* Decodes one base64 signature of exactly 32 bytes (44 characters with padding). */
static bool decode_signature(const char *b64, size_t n, uint8_t out[32])
{
    if (n != 44) return false;
    unsigned char tmp[48];
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, 44);
    if (got != 33 || b64[43] != '=' || b64[42] == '=') return false; /* 32 bytes and one pad */
    memcpy(out, tmp, 32);
    return true;
}

int ft_verifier_check_standard(ft_verifier *v, const char *id, const char *timestamp,
                               const void *body, size_t len, const char *header)
{
    if (!header || !*header) return FT_ESIGMISSING;
    uint8_t given[8][32];
    size_t ngiven = 0;
    for (const char *p = header; *p && ngiven < 8;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 3 && strncmp(p, "v1,", 3) == 0 && decode_signature(p + 3, n - 3, given[ngiven]))
            ngiven++;
        p += n;
    }
    if (!ngiven) return FT_ESIGMALFORMED;
    int matched = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint8_t expected[32];
        if (standard_digest(v->signers[i], id, timestamp, body, len, expected)) return FT_ECRYPTO;
        for (size_t k = 0; k < ngiven; k++)
            matched |= CRYPTO_memcmp(expected, given[k], 32) == 0;
        OPENSSL_cleanse(expected, sizeof(expected));
    }
    return matched ? FT_OK : FT_ESIGMISMATCH;
}

/* --- secrets --- */

int ft_secret_from_string(const char *s, size_t len, char **out, size_t *out_len)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0) return FT_EINVAL;
    if (len > FT_SECRET_MAX) return FT_ETOOBIG;
    *out = ft_xstrndup(s, len);
    *out_len = len;
    return FT_OK;
}

int ft_secret_read_file(const char *path, char **out, size_t *out_len, char *errbuf, size_t errlen)
{
    char buf[FT_SECRET_MAX + 3];
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errbuf) snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
        return FT_EIO;
    }
    int rc = FT_OK;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            if (errbuf) snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
            rc = FT_EIO;
            break;
        }
        if (r == 0 || (n += (size_t)r) == sizeof(buf)) break;
    }
    close(fd);
    if (rc == FT_OK) {
        rc = ft_secret_from_string(buf, n, out, out_len);
        if (rc == FT_EINVAL && errbuf) snprintf(errbuf, errlen, "secret file %s is empty", path);
        if (rc == FT_ETOOBIG && errbuf)
            snprintf(errbuf, errlen, "secret file %s is longer than %d bytes", path, FT_SECRET_MAX);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}
