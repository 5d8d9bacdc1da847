/*
 * flagtrail sign: prints the X-Flagsmith-Signature value of a body.
 */
#include "cli/cli.h"
#include "flagtrail/error.h"

#include <getopt.h>
#include <stdio.h>

#define SIGN_MAX_INPUT ((size_t)1 << 30)

void help_sign(void)
{
    puts("Usage: flagtrail sign [--secret-file FILE] [FILE|-]\n"
         "\n"
         "Prints the X-Flagsmith-Signature header value for the body in FILE (standard input\n"
         "when FILE is '-' or absent): the lowercase hex HMAC-SHA256 of its exact bytes.\n"
         "\n"
         "  --secret-file FILE  the shared secret (trailing newlines are ignored);\n"
         "                      without it, the FLAGTRAIL_SECRET environment variable\n"
         "  -h, --help          this help\n"
         "\n"
         "Example:\n"
         "  curl -H \"X-Flagsmith-Signature: $(flagtrail sign --secret-file s body.json)\" ...");
}

int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret-file", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *secret_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': secret_file = optarg; break;
        case 'h': help_sign(); return CLI_OK;
        default: return cli_bad_option("sign", c, argv);
        }
    }
    if (argc - optind > 1) return cli_usage("sign", "expected at most one FILE");
    ft_signer *signer;
    int rc = cli_load_signer("sign", secret_file, &signer);
    if (rc) return rc;
    struct ft_buf body;
    char err[256], hex[65];
    if (cli_read_input(optind < argc ? argv[optind] : NULL, SIGN_MAX_INPUT, &body, err,
                       sizeof(err))) {
        rc = cli_fail("sign", "%s", err);
    } else if (ft_signer_hex(signer, body.data, body.len, hex)) {
        rc = cli_fail("sign", "%s", ft_strerror(FT_ECRYPTO));
    } else {
        puts(hex);
    }
    ft_buf_free(&body);
    ft_signer_free(signer);
    return rc;
}
