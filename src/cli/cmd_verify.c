/*
 * flagtrail verify: checks an X-Flagsmith-Signature value against a body and one or more
 * secrets, as the receiver does.
 */
#include "cli/cli.h"
#include "flagtrail/error.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define VERIFY_MAX_INPUT   ((size_t)1 << 30)
#define VERIFY_MAX_SECRETS 16

void help_verify(void)
{
    puts("Usage: flagtrail verify --signature HEX [--secret-file FILE]... [FILE|-]\n"
         "\n"
         "Checks that HEX is the X-Flagsmith-Signature of the body in FILE (standard input\n"
         "when FILE is '-' or absent) for one of the secrets. Prints 'ok' and exits 0 when\n"
         "it is; prints the reason and exits 1 when it is not; exits 2 on usage errors.\n"
         "\n"
         "  --signature HEX     the header value (64 hex digits, either case)\n"
         "  --secret-file FILE  an accepted secret; repeat it to accept several (rotation);\n"
         "                      without it, the FLAGTRAIL_SECRET environment variable\n"
         "  -h, --help          this help");
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"signature", required_argument, NULL, 'S'},
        {"secret-file", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *signature = NULL, *files[VERIFY_MAX_SECRETS];
    size_t nfiles = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'S': signature = optarg; break;
        case 's':
            if (nfiles == VERIFY_MAX_SECRETS)
                return cli_usage("verify", "at most %d --secret-file", VERIFY_MAX_SECRETS);
            files[nfiles++] = optarg;
            break;
        case 'h': help_verify(); return CLI_OK;
        default: return cli_bad_option("verify", c, argv);
        }
    }
    if (!signature) return cli_usage("verify", "--signature HEX is required");
    if (argc - optind > 1) return cli_usage("verify", "expected at most one FILE");
    ft_verifier *v = ft_verifier_new();
    int n = cli_load_secrets("verify", files, nfiles, v);
    if (n <= 0) {
        ft_verifier_free(v);
        if (n < 0) return CLI_FAIL;
        return cli_usage("verify", "no secret: give --secret-file FILE or set FLAGTRAIL_SECRET");
    }
    struct ft_buf body;
    char err[256];
    int rc;
    if (cli_read_input(optind < argc ? argv[optind] : NULL, VERIFY_MAX_INPUT, &body, err,
                       sizeof(err))) {
        rc = cli_fail("verify", "%s", err);
    } else {
        int check = ft_verifier_check(v, body.data, body.len, signature, strlen(signature));
        if (check == FT_OK) {
            puts("ok");
            rc = CLI_OK;
        } else {
            printf("invalid: %s\n", ft_strerror(check));
            rc = CLI_FAIL;
        }
    }
    ft_buf_free(&body);
    ft_verifier_free(v);
    return rc;
}
