/*
 * Unit tests of webhook signatures (src/webhook/signature.c) against the fixture table
 * tests/data/webhook/signatures.tsv (computed with Python's hmac).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "flagtrail/error.h"
#include "flagtrail/base.h"
#include "flagtrail/signature.h"
#include "helpers.h"

#include <string.h>
#include <fcntl.h>
#include <unistd.h>

struct row {
    char secret[512];
    char file[128];
    char hex[65];
};

static size_t load_rows(struct row *rows, size_t max)
{
    size_t len, n = 0;
    char *tsv = read_data("webhook/signatures.tsv", &len);
    for (char *line = tsv, *next; line < tsv + len && n < max; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : tsv + len;
        if (nl) *nl = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        cr_assert(tab2 != NULL, "malformed row: %s", line);
        snprintf(rows[n].secret, sizeof(rows[n].secret), "%.*s", (int)(tab1 - line), line);
        snprintf(rows[n].file, sizeof(rows[n].file), "%.*s", (int)(tab2 - tab1 - 1), tab1 + 1);
        snprintf(rows[n].hex, sizeof(rows[n].hex), "%s", tab2 + 1);
        n++;
    }
    free(tsv);
    return n;
}

Test(signature, every_fixture_row_signs_and_verifies)
{
    struct row rows[32];
    size_t n = load_rows(rows, 32);
    cr_assert(eq(sz, n, 9));
    for (size_t i = 0; i < n; i++) {
        char name[200], hex[65];
        size_t len;
        snprintf(name, sizeof(name), "webhook/%s", rows[i].file);
        char *body = read_data(name, &len);
        ft_signer *s = ft_signer_new(rows[i].secret, strlen(rows[i].secret));
        cr_assert(s != NULL);
        for (int again = 0; again < 3; again++) { /* a reused context gives the same answer */
            cr_assert(eq(int, ft_signer_hex(s, body, len, hex), FT_OK));
            cr_expect(eq(str, hex, rows[i].hex), "row %zu, try %d", i, again);
        }
        ft_verifier *v = ft_verifier_new();
        cr_assert(eq(int, ft_verifier_add(v, rows[i].secret, strlen(rows[i].secret)), FT_OK));
        cr_expect(eq(int, ft_verifier_check(v, body, len, rows[i].hex, 64), FT_OK));
        ft_verifier_free(v);
        ft_signer_free(s);
        free(body);
    }
}

static const char body[] = "{\"identity\": \"u\"}";
static const char secret[] = "my shared secret";

static ft_verifier *verifier_with(const char *const *secrets, size_t n)
{
    ft_verifier *v = ft_verifier_new();
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(int, ft_verifier_add(v, secrets[i], strlen(secrets[i])), FT_OK));
    return v;
}

static void sign(const char *key, const char *msg, size_t len, char hex[65])
{
    ft_signer *s = ft_signer_new(key, strlen(key));
    cr_assert(eq(int, ft_signer_hex(s, msg, len, hex), FT_OK));
    ft_signer_free(s);
}

Test(signature, any_one_bit_change_is_rejected)
{
    char hex[65];
    sign(secret, body, sizeof(body) - 1, hex);
    const char *const secrets[] = {secret};
    ft_verifier *v = verifier_with(secrets, 1);
    cr_assert(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_OK));
    char changed[sizeof(body)];
    for (size_t i = 0; i < (sizeof(body) - 1) * 8; i++) {
        memcpy(changed, body, sizeof(body));
        changed[i / 8] ^= (char)(1 << (i % 8));
        cr_expect(
            eq(int, ft_verifier_check(v, changed, sizeof(body) - 1, hex, 64), FT_ESIGMISMATCH),
            "body bit %zu", i);
    }
    for (size_t i = 0; i < 64; i++) {
        char bad[65];
        memcpy(bad, hex, 65);
        bad[i] = bad[i] == '0' ? '1' : '0';
        cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, bad, 64), FT_ESIGMISMATCH),
                  "signature digit %zu", i);
    }
    ft_verifier_free(v);
    char other[sizeof(secret)];
    for (size_t i = 0; i < (sizeof(secret) - 1) * 8; i++) {
        memcpy(other, secret, sizeof(secret));
        other[i / 8] ^= (char)(1 << (i % 8));
        ft_verifier *w = ft_verifier_new();
        cr_assert(eq(int, ft_verifier_add(w, other, sizeof(secret) - 1), FT_OK));
        cr_expect(eq(int, ft_verifier_check(w, body, sizeof(body) - 1, hex, 64), FT_ESIGMISMATCH),
                  "secret bit %zu", i);
        ft_verifier_free(w);
    }
}

Test(signature, upper_case_hex_is_accepted)
{
    char hex[65];
    sign(secret, body, sizeof(body) - 1, hex);
    for (int i = 0; i < 64; i++)
        if (hex[i] >= 'a') hex[i] = (char)(hex[i] - 32);
    const char *const secrets[] = {secret};
    ft_verifier *v = verifier_with(secrets, 1);
    cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_OK));
    ft_verifier_free(v);
}

Test(signature, malformed_and_missing_headers)
{
    char hex[65];
    sign(secret, body, sizeof(body) - 1, hex);
    const char *const secrets[] = {secret};
    ft_verifier *v = verifier_with(secrets, 1);
    size_t n = sizeof(body) - 1;
    cr_expect(eq(int, ft_verifier_check(v, body, n, NULL, 0), FT_ESIGMISSING));
    cr_expect(eq(int, ft_verifier_check(v, body, n, "", 0), FT_ESIGMISSING));
    cr_expect(eq(int, ft_verifier_check(v, body, n, hex, 63), FT_ESIGMALFORMED));
    char longer[70];
    snprintf(longer, sizeof(longer), "%s00", hex);
    cr_expect(eq(int, ft_verifier_check(v, body, n, longer, 66), FT_ESIGMALFORMED));
    char prefixed[80];
    snprintf(prefixed, sizeof(prefixed), "sha256=%s", hex);
    cr_expect(eq(int, ft_verifier_check(v, body, n, prefixed, strlen(prefixed)), FT_ESIGMALFORMED));
    char bad[65];
    memcpy(bad, hex, 65);
    bad[10] = 'g';
    cr_expect(eq(int, ft_verifier_check(v, body, n, bad, 64), FT_ESIGMALFORMED));
    bad[10] = ' ';
    cr_expect(eq(int, ft_verifier_check(v, body, n, bad, 64), FT_ESIGMALFORMED));
    ft_verifier_free(v);
}

Test(signature, rotation_accepts_every_listed_secret)
{
    const char *const secrets[] = {"old secret", "new secret"};
    ft_verifier *v = verifier_with(secrets, 2);
    cr_expect(eq(sz, ft_verifier_count(v), 2));
    char hex[65];
    sign("old secret", body, sizeof(body) - 1, hex);
    cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_OK));
    sign("new secret", body, sizeof(body) - 1, hex);
    cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_OK));
    sign("other secret", body, sizeof(body) - 1, hex);
    cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_ESIGMISMATCH));
    ft_verifier *copy = ft_verifier_dup(v);
    sign("new secret", body, sizeof(body) - 1, hex);
    cr_expect(eq(int, ft_verifier_check(copy, body, sizeof(body) - 1, hex, 64), FT_OK));
    ft_verifier_free(copy);
    ft_verifier_free(v);
}

Test(signature, empty_secret_and_no_secret)
{
    ft_verifier *v = ft_verifier_new();
    cr_expect(eq(int, ft_verifier_add(v, "", 0), FT_EINVAL));
    char hex[65];
    sign("x", body, sizeof(body) - 1, hex);
    cr_expect(eq(int, ft_verifier_check(v, body, sizeof(body) - 1, hex, 64), FT_ESIGMISMATCH),
              "a verifier without secrets accepts nothing");
    ft_verifier_free(v);
}

Test(signature, secret_files)
{
    char path[] = "/tmp/ft-secret-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert(write(fd, "s3cret\r\n", 8) == 8);
    close(fd);
    char *s, err[256];
    size_t len;
    cr_assert(eq(int, ft_secret_read_file(path, &s, &len, err, sizeof(err)), FT_OK));
    cr_expect(eq(sz, len, 6));
    cr_expect(memcmp(s, "s3cret", 6) == 0);
    ft_free_secure(s, len);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert(write(fd, "\n", 1) == 1);
    close(fd);
    cr_expect(eq(int, ft_secret_read_file(path, &s, &len, err, sizeof(err)), FT_EINVAL));
    cr_expect(strstr(err, "is empty") != NULL);
    fd = open(path, O_WRONLY | O_TRUNC);
    char big[FT_SECRET_MAX + 10];
    memset(big, 'a', sizeof(big));
    cr_assert(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
    close(fd);
    cr_expect(eq(int, ft_secret_read_file(path, &s, &len, err, sizeof(err)), FT_ETOOBIG));
    unlink(path);
    cr_expect(eq(int, ft_secret_read_file(path, &s, &len, err, sizeof(err)), FT_EIO));
    cr_expect(strstr(err, "cannot open") != NULL);
}
