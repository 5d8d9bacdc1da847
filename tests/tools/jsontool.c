/*
 * A test tool over the library, for differential tests against Python:
 *
 *   jsontool dump [FILE]      prints json.dumps(json.loads(input), sort_keys=True), or
 *                             "error: <message>" and exits 1
 *   jsontool payload [FILE]   prints ft_payload_emit(ft_payload_parse(input)), or the error
 *   jsontool lines [FILE]     like dump, for each line of the input (one document a line)
 */
#include "flagtrail/error.h"
#include "flagtrail/json.h"
#include "flagtrail/payload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    bool use_stdin = !path || strcmp(path, "-") == 0;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    struct ft_buf b;
    ft_buf_init(&b, 0);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ft_buf_append(&b, chunk, n);
    if (!use_stdin) fclose(f);
    *len = b.len;
    return b.data ? b.data : ft_xcalloc(1, 1);
}

static int dump(ft_json_doc *doc, const char *s, size_t len, struct ft_buf *out)
{
    struct ft_json_error err;
    int rc = ft_json_parse(doc, s, len, &err);
    if (rc) {
        ft_buf_printf(out, "error: %s", err.message);
        return 1;
    }
    ft_json_write_value(out, doc, ft_json_root(doc));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jsontool dump|payload|lines [FILE]\n");
        return 2;
    }
    size_t len;
    char *input = slurp(argc > 2 ? argv[2] : NULL, &len);
    if (!input) {
        perror("jsontool");
        return 2;
    }
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_buf out;
    ft_buf_init(&out, 0);
    int rc = 0;
    if (strcmp(argv[1], "dump") == 0) {
        rc = dump(doc, input, len, &out);
    } else if (strcmp(argv[1], "lines") == 0) {
        for (char *line = input, *end = input + len; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
            dump(doc, line, n, &out);
            ft_buf_append_char(&out, '\n');
            line += n + 1;
        }
    } else if (strcmp(argv[1], "payload") == 0) {
        struct ft_arena arena;
        ft_arena_init(&arena, 0);
        struct ft_payload p;
        struct ft_payload_error err;
        if (ft_payload_parse(doc, input, len, &arena, &p, &err)) {
            ft_buf_printf(&out, "error: %s", err.detail);
            rc = 1;
        } else {
            ft_payload_emit(&p, &out);
        }
        ft_arena_free(&arena);
    } else {
        fprintf(stderr, "jsontool: unknown mode %s\n", argv[1]);
        rc = 2;
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    ft_buf_free(&out);
    ft_json_doc_free(doc);
    free(input);
    return rc;
}
