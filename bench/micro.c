/*
 * bench/micro: the webhook core's two primitives beside their peers, in one run.
 *
 *   JSON reader  flagtrail's ft_json_parse vs cJSON (cJSON_ParseWithLength + cJSON_Delete) on
 *                the seed payload and on a generated 60 KB payload (200 flags, 50 traits);
 *                ft_payload_parse (reader + schema checks) shown beside them.
 *   HMAC         ft_signer_digest (HMAC-SHA256, keyed context reused) vs OpenSSL's raw SHA-256
 *                (EVP_Digest* with a reused context) on 1 KB and 40 KB.
 *   CRC-32C      ft_crc32c (three streams of the SSE4.2 instruction, joined) vs one chain of
 *                the same instruction, on 1 KB (a seed record) and 60 KB.
 *
 * Each case runs in rounds of at least 0.2 s; the best of 5 rounds is reported. Prints a
 * Markdown table with absolute numbers and ratios; bench/run saves it in bench/results/.
 */
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "flagtrail/payload.h"
#include "flagtrail/signature.h"
#include "base/clock.h"
#include "base/crc32c.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- timing --- */

typedef void (*bench_fn)(void *ctx);

/* Best nanoseconds per call over 5 rounds of at least 0.2 s each. */
static double time_per_call(bench_fn fn, void *ctx)
{
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        long iters = 0;
        int64_t start = ft_clock_mono_ns(), now;
        do {
            for (int i = 0; i < 64; i++)
                fn(ctx);
            iters += 64;
            now = ft_clock_mono_ns();
        } while (now - start < 200000000);
        double per = (double)(now - start) / (double)iters;
        if (per < best) best = per;
    }
    return best;
}

/* --- inputs --- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) exit(1);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A realistic large webhook: 200 flags (a third multivariate), 50 traits, 20 segments. */
static char *generate_payload(size_t *len)
{
    static char names[300][48], values[300][48], dates[200][40];
    struct ft_flag flags[200];
    struct ft_trait traits[50];
    struct ft_segment segments[20];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "flag_%03d_checkout", i);
        snprintf(values[i], sizeof(values[i]), "variant_%c_%d", 'a' + i % 3, i);
        snprintf(dates[i], sizeof(dates[i]), "2024-0%d-1%dT17:%02d:23.645334Z", 1 + i % 9, i % 10,
                 i % 60);
        bool mv = i % 3 == 0;
        flags[i] = (struct ft_flag){
            .enabled = i % 4 != 0,
            .environment = 12561,
            .feature = {.id = 15000 + i,
                        .name = ft_str_c(names[i]),
                        .type = mv ? FT_STR("MULTIVARIATE") : FT_STR("STANDARD"),
                        .created_date = ft_str_c(dates[i]),
                        .default_enabled = i % 2 == 0,
                        .description = i % 5 == 0 ? FT_STR("Checkout flow \xe2\x80\x94 variant B")
                                                  : (struct ft_str){NULL, 0},
                        .initial_value = FT_STR("control")},
            .feature_segment = {.null = i % 7 != 0, .value = 4400 + i},
            .value = i % 2 ? (struct ft_value){FT_VALUE_STRING, ft_str_c(values[i])}
                           : (struct ft_value){FT_VALUE_FLOAT, FT_STR("12.5")},
            .id = 78000 + i,
            .identity = {.null = true},
            .has_percentage_allocation = true,
            .percentage_allocation = mv ? (struct ft_value){FT_VALUE_FLOAT, FT_STR("33.3")}
                                        : (struct ft_value){FT_VALUE_NULL, FT_STR("")},
        };
    }
    for (int i = 0; i < 50; i++) {
        snprintf(names[200 + i], sizeof(names[0]), "trait_key_%02d", i);
        snprintf(values[200 + i], sizeof(values[0]), "%d", i * 37);
        traits[i] = (struct ft_trait){
            .id = {.null = i % 10 == 9, .value = 100 + i},
            .key = ft_str_c(names[200 + i]),
            .value = i % 2 ? (struct ft_value){FT_VALUE_INT, ft_str_c(values[200 + i])}
                           : (struct ft_value){FT_VALUE_STRING, FT_STR("Z\xc3\xbcrich")},
            .has_transient = true,
            .transient = i % 10 == 9,
        };
    }
    for (int i = 0; i < 20; i++) {
        snprintf(names[250 + i], sizeof(names[0]), "segment_%02d", i);
        segments[i] = (struct ft_segment){
            .id = 16 + i, .name = ft_str_c(names[250 + i]), .member = i % 3 == 0};
    }
    struct ft_payload p = {.identity = FT_STR("user-42@example.com"),
                           .flags = flags,
                           .nflags = 200,
                           .traits = traits,
                           .ntraits = 50,
                           .segments = segments,
                           .nsegments = 20};
    struct ft_buf out;
    ft_buf_init(&out, 0);
    if (ft_payload_emit(&p, &out)) exit(1);
    *len = out.len;
    return out.data;
}

/* --- cases --- */

struct input {
    const char *data;
    size_t len;
    ft_json_doc *doc;
    struct ft_arena arena;
    ft_signer *signer;
    EVP_MD_CTX *md;
    const EVP_MD *sha256;
};

static void run_ft_json(void *ctx)
{
    struct input *in = ctx;
    if (ft_json_parse(in->doc, in->data, in->len, NULL)) abort();
}

static void run_cjson(void *ctx)
{
    struct input *in = ctx;
    cJSON *c = cJSON_ParseWithLength(in->data, in->len);
    if (!c) abort();
    cJSON_Delete(c);
}

static void run_payload(void *ctx)
{
    struct input *in = ctx;
    struct ft_payload p;
    ft_arena_reset(&in->arena);
    if (ft_payload_parse(in->doc, in->data, in->len, &in->arena, &p, NULL)) abort();
}

static void run_hmac(void *ctx)
{
    struct input *in = ctx;
    uint8_t out[32];
    if (ft_signer_digest(in->signer, in->data, in->len, out)) abort();
}

static void run_sha256(void *ctx)
{
    struct input *in = ctx;
    uint8_t out[32];
    unsigned n;
    if (!EVP_DigestInit_ex(in->md, in->sha256, NULL) ||
        !EVP_DigestUpdate(in->md, in->data, in->len) || !EVP_DigestFinal_ex(in->md, out, &n))
        abort();
}

static double mbps(size_t len, double ns)
{
    return (double)len / ns * 1e9 / 1e6;
}

static void json_rows(const char *label, const char *data, size_t len)
{
    struct input in = {.data = data, .len = len, .doc = ft_json_doc_new(NULL)};
    ft_arena_init(&in.arena, 0);
    double ft = time_per_call(run_ft_json, &in);
    double cj = time_per_call(run_cjson, &in);
    double pl = time_per_call(run_payload, &in);
    printf("| JSON read, %s (%zu B) | flagtrail ft_json_parse | %.2f | %.0f | %.2fx |\n", label,
           len, ft / 1000, mbps(len, ft), cj / ft);
    printf("| | cJSON 1.7 parse + delete | %.2f | %.0f | 1.00x |\n", cj / 1000, mbps(len, cj));
    printf("| | flagtrail ft_payload_parse (read + schema) | %.2f | %.0f | %.2fx |\n", pl / 1000,
           mbps(len, pl), cj / pl);
    ft_arena_free(&in.arena);
    ft_json_doc_free(in.doc);
}

static void hmac_rows(size_t len)
{
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    struct input in = {.data = data, .len = len};
    in.signer = ft_signer_new("my shared secret", 16);
    in.md = EVP_MD_CTX_new();
    in.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    double h = time_per_call(run_hmac, &in);
    double s = time_per_call(run_sha256, &in);
    printf("| HMAC, %zu KB | flagtrail ft_signer_digest (HMAC-SHA256) | %.2f | %.0f | %.2fx |\n",
           len / 1024, h / 1000, mbps(len, h), s / h);
    printf("| | OpenSSL raw SHA-256 (EVP_Digest*) | %.2f | %.0f | 1.00x |\n", s / 1000,
           mbps(len, s));
    ft_signer_free(in.signer);
    EVP_MD_CTX_free(in.md);
    EVP_MD_free((EVP_MD *)in.sha256);
    free(data);
}

#if defined(__x86_64__)
/* The peer: one chain of the crc32 instruction, each step waiting for the last. */
__attribute__((target("sse4.2"))) static uint32_t crc_one_chain(const unsigned char *p, size_t len)
{
    uint64_t c = 0xffffffffu;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}

static volatile uint32_t crc_sink;

static void run_crc(void *ctx)
{
    struct input *in = ctx;
    crc_sink = ft_crc32c(0, in->data, in->len);
}

static void run_crc_one_chain(void *ctx)
{
    struct input *in = ctx;
    crc_sink = crc_one_chain((const unsigned char *)in->data, in->len);
}

static void crc_rows(size_t len)
{
    if (!__builtin_cpu_supports("sse4.2")) return;
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    struct input in = {.data = data, .len = len};
    if (ft_crc32c(0, data, len) != crc_one_chain((const unsigned char *)data, len)) abort();
    double three = time_per_call(run_crc, &in);
    double one = time_per_call(run_crc_one_chain, &in);
    printf("| CRC-32C, %zu KB | flagtrail ft_crc32c (three streams) | %.2f | %.0f | %.2fx |\n",
           len / 1024, three / 1000, mbps(len, three), one / three);
    printf("| | one chain of the crc32 instruction | %.2f | %.0f | 1.00x |\n", one / 1000,
           mbps(len, one));
    free(data);
}
#else
static void crc_rows(size_t len)
{
    (void)len;
}
#endif

int main(int argc, char **argv)
{
    const char *seed_path = argc > 1 ? argv[1] : "tests/data/webhook/seed_flagsmith_bytes.json";
    size_t seed_len, big_len;
    char *seed = read_file(seed_path, &seed_len);
    char *big = generate_payload(&big_len);
    printf("| case | implementation | µs/op | MB/s | speed vs peer |\n");
    printf("|---|---|---:|---:|---:|\n");
    json_rows("seed payload", seed, seed_len);
    json_rows("large payload", big, big_len);
    hmac_rows(1024);
    hmac_rows(40 * 1024);
    crc_rows(1024);
    crc_rows(60 * 1024);
    free(seed);
    free(big);
    return 0;
}
