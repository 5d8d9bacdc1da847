/*
 * flagtrail validate: checks a webhook body against the payload schema, as the receiver does.
 */
#include "cli/cli.h"
#include "flagtrail/error.h"
#include "flagtrail/payload.h"

#include <getopt.h>
#include <stdio.h>

#define VALIDATE_DEFAULT_MAX ((size_t)1 << 20)

void help_validate(void)
{
    puts("Usage: flagtrail validate [--max-body SIZE] [FILE|-]\n"
         "\n"
         "Checks that FILE (standard input when '-' or absent) is a webhook body flagtrail\n"
         "receive would accept: strict JSON with the identity webhook's schema. Prints 'ok'\n"
         "and exits 0, or prints the first error with its path and exits 1, e.g.\n"
         "  invalid_payload: flags[1].feature.name: expected string, got number\n"
         "\n"
         "  --max-body SIZE  largest body accepted, as receive's option (default 1M)\n"
         "  -h, --help       this help");
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-body", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    size_t max_body = VALIDATE_DEFAULT_MAX;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!cli_parse_size(optarg, &max_body) || max_body == 0)
                return cli_usage("validate", "--max-body: not a size: %s", optarg);
            break;
        case 'h': help_validate(); return CLI_OK;
        default: return cli_bad_option("validate", c, argv);
        }
    }
    if (argc - optind > 1) return cli_usage("validate", "expected at most one FILE");
    struct ft_buf body;
    char err[256];
    int rc = cli_read_input(optind < argc ? argv[optind] : NULL, max_body, &body, err, sizeof(err));
    if (rc == FT_ETOOBIG) {
        printf("too_large: %s\n", err);
        ft_buf_free(&body);
        return CLI_FAIL;
    }
    if (rc) {
        ft_buf_free(&body);
        return cli_fail("validate", "%s", err);
    }
    struct ft_json_limits limits = {.max_size = max_body};
    ft_json_doc *doc = ft_json_doc_new(&limits);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_payload payload;
    struct ft_payload_error perr;
    rc = ft_payload_parse(doc, body.data, body.len, &arena, &payload, &perr);
    if (rc == FT_OK)
        puts("ok");
    else
        printf("%s: %s\n", rc == FT_EPAYLOAD ? "invalid_payload" : "invalid_json", perr.detail);
    ft_arena_free(&arena);
    ft_json_doc_free(doc);
    ft_buf_free(&body);
    return rc == FT_OK ? CLI_OK : CLI_FAIL;
}
