/*
 * flagtrail events import: loads metric events from CSV or JSON lines into a store, in
 * batches, with a progress bar on a terminal. Each event is keyed by the import's source and
 * its line, so importing a file again adds nothing twice.
 */
#include "base/clock.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "flagtrail/error.h"
#include "receive/csv.h"
#include "receive/events.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH 10000
#define STDIN_MAX ((size_t)1 << 30)

void help_events(void)
{
    puts("Usage: flagtrail events import FILE [--store URL] [--format csv|jsonl] [--source NAME]\n"
         "\n"
         "Loads metric events (conversions, revenue, ...) for `flagtrail experiment`.\n"
         "\n"
         "  CSV: a header row naming the columns identity, event, and optionally value and\n"
         "       timestamp (any order; other columns are ignored), e.g.\n"
         "         identity,event,value,timestamp\n"
         "         user-42,purchase,12.50,2026-11-24T05:25:52Z\n"
         "  JSON lines: one {\"identity\", \"event\", \"value\"?, \"timestamp\"?} object a line.\n"
         "\n"
         "A timestamp is ISO-8601 or seconds since 1970; without one the event counts as now.\n"
         "An empty value means none (a conversion). The first bad line stops the import with\n"
         "its number; the batches before it are kept, and importing again after a fix adds\n"
         "each event once (events are keyed by source and line).\n"
         "\n"
         "  --store URL     the warehouse (default sqlite:./flagtrail.db)\n"
         "  --format F      csv or jsonl (default: from the file name; .csv is CSV)\n"
         "  --source NAME   the import's name (default import:<file name>)\n"
         "  -h, --help      this help");
}

struct input {
    const char *data;
    size_t len;
    bool mapped;
    struct ft_buf buf;
};

static int open_input(const char *path, struct input *in, char *err, size_t errlen)
{
    *in = (struct input){0};
    if (strcmp(path, "-") == 0) {
        int rc = cli_read_input(NULL, STDIN_MAX, &in->buf, err, errlen);
        in->data = in->buf.data ? in->buf.data : "";
        in->len = in->buf.len;
        return rc;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return FT_EIO;
    }
    in->len = (size_t)st.st_size;
    in->data = "";
    if (in->len) {
        void *m = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return FT_EIO;
        }
        in->data = m;
        in->mapped = true;
    }
    close(fd);
    return FT_OK;
}

static void close_input(struct input *in)
{
    if (in->mapped) munmap((void *)in->data, in->len);
    ft_buf_free(&in->buf);
}

struct importer {
    ft_store *store;
    const char *source;
    const char *file;
    struct ft_store_event events[BATCH];
    size_t n;
    uint64_t total;
    int64_t now;
    struct ft_arena arena; /* strings of the current batch */
    struct cli_progress bar;
    size_t file_len;
};

static int flush(struct importer *im, size_t pos)
{
    if (!im->n) return FT_OK;
    struct ft_store_batch b = {.source = im->source, .events = im->events, .nevents = im->n,
                               .keep_checkpoint = true};
    int rc = ft_store_write(im->store, &b);
    if (rc) return cli_fail("events", "the warehouse failed: %s", ft_store_errmsg(im->store));
    im->total += im->n;
    im->n = 0;
    ft_arena_reset(&im->arena);
    cli_progress_update(&im->bar, pos, im->file_len, im->total);
    return FT_OK;
}

static int add(struct importer *im, uint64_t line, const struct ft_event *e, size_t pos)
{
    im->events[im->n++] = (struct ft_store_event){
        .lsn = line,
        .identity = {ft_arena_strndup(&im->arena, e->identity.ptr, e->identity.len), e->identity.len},
        .event = {ft_arena_strndup(&im->arena, e->event.ptr, e->event.len), e->event.len},
        .has_value = e->has_value,
        .value = e->value,
        .occurred_at = e->has_time ? e->occurred_at : im->now,
        .received_at = im->now,
    };
    return im->n == BATCH ? flush(im, pos) : FT_OK;
}

static int bad_line(struct importer *im, uint64_t line, const char *msg)
{
    return cli_fail("events", "%s:%" PRIu64 ": %s", im->file, line, msg);
}

static int import_jsonl(struct importer *im, const struct input *in)
{
    ft_json_doc *doc = ft_json_doc_new(NULL);
    int rc = FT_OK;
    uint64_t line = 0;
    for (const char *p = in->data, *end = in->data + in->len; p < end && rc == FT_OK;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        line++;
        size_t len = (size_t)(stop - p);
        while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            struct ft_json_error jerr;
            struct ft_events_error eerr;
            struct ft_event e;
            if (ft_json_parse(doc, p, len, &jerr)) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s at column %zu", jerr.message, jerr.offset + 1);
                rc = bad_line(im, line, msg);
            } else if (ft_event_read(doc, ft_json_root(doc), "", &e, &eerr)) {
                rc = bad_line(im, line, eerr.detail);
            } else {
                rc = add(im, line, &e, (size_t)(stop - in->data));
            }
        }
        p = stop + (nl ? 1 : 0);
    }
    ft_json_doc_free(doc);
    return rc;
}

/* Column positions from the CSV header; -1 when absent. */
struct columns {
    int identity, event, value, timestamp;
};

static int read_header(struct importer *im, const struct ft_str *f, size_t n, struct columns *c)
{
    *c = (struct columns){-1, -1, -1, -1};
    for (size_t i = 0; i < n; i++) {
        struct ft_str name = f[i];
        if (i == 0 && name.len >= 3 && memcmp(name.ptr, "\xef\xbb\xbf", 3) == 0) {
            name.ptr += 3; /* a byte-order mark, as spreadsheets write */
            name.len -= 3;
        }
        if (ft_str_eq_c(name, "identity")) c->identity = (int)i;
        else if (ft_str_eq_c(name, "event")) c->event = (int)i;
        else if (ft_str_eq_c(name, "value")) c->value = (int)i;
        else if (ft_str_eq_c(name, "timestamp")) c->timestamp = (int)i;
    }
    if (c->identity < 0 || c->event < 0)
        return bad_line(im, 1, "the header must name the columns identity and event");
    return FT_OK;
}

static int csv_event(struct importer *im, uint64_t line, const struct columns *c,
                     const struct ft_str *f, size_t n, struct ft_event *e)
{
    *e = (struct ft_event){0};
    int need = c->identity > c->event ? c->identity : c->event;
    if ((int)n <= need) return bad_line(im, line, "missing columns");
    e->identity = f[c->identity];
    e->event = f[c->event];
    const char *field, *msg = ft_event_check_strings(e->identity, e->event, &field);
    if (msg) {
        char text[256];
        snprintf(text, sizeof(text), "%s: %s", field, msg);
        return bad_line(im, line, text);
    }
    char tmp[64];
    if (c->value >= 0 && c->value < (int)n && f[c->value].len) {
        struct ft_str v = f[c->value];
        while (v.len && (v.ptr[0] == ' ' || v.ptr[0] == '\t')) /* " 12", as spreadsheets write */
            v.ptr++, v.len--;
        while (v.len && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
            v.len--;
        char *endp;
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(v.len < 63 ? v.len : 63), v.ptr);
        /* decimal only: no nan, inf or hex, and nothing a double cannot hold */
        bool decimal = strspn(tmp, "0123456789+-.eE") == strlen(tmp);
        e->value = strtod(tmp, &endp);
        if (v.len > 63 || *endp || endp == tmp || !decimal ||
            !ft_str_number_in_range(ft_str_c(tmp)))
            return bad_line(im, line, "value: not a number");
        e->has_value = true;
    }
    if (c->timestamp >= 0 && c->timestamp < (int)n && f[c->timestamp].len) {
        struct ft_str t = f[c->timestamp];
        char *endp;
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(t.len < 63 ? t.len : 63), t.ptr);
        double secs = strtod(tmp, &endp);
        if (t.len <= 63 && !*endp && endp != tmp && secs >= 0 && secs < 32503680000.0)
            e->occurred_at = (int64_t)(secs * 1e6);
        else if (!ft_clock_parse_iso(t.ptr, t.len, &e->occurred_at))
            return bad_line(im, line, "timestamp: expected ISO-8601 or seconds since 1970");
        e->has_time = true;
    }
    return FT_OK;
}

static int import_csv(struct importer *im, const struct input *in)
{
    struct ft_arena scratch;
    ft_arena_init(&scratch, 0);
    struct ft_str f[FT_CSV_MAX_FIELDS];
    struct columns cols = {-1, -1, -1, -1};
    const char *p = in->data, *end = in->data + in->len, *next = end;
    size_t n;
    struct ft_csv_error cerr;
    int rc = FT_OK;
    uint64_t line = 1;
    if (p == end) rc = bad_line(im, 1, "empty file: a header row is required");
    else if (ft_csv_row(p, end, &scratch, f, FT_CSV_MAX_FIELDS, &n, &next, &cerr))
        rc = bad_line(im, 1, cerr.message);
    else
        rc = read_header(im, f, n, &cols);
    p = next;
    while (rc == FT_OK && p < end) {
        line++;
        ft_arena_reset(&scratch);
        if (ft_csv_row(p, end, &scratch, f, FT_CSV_MAX_FIELDS, &n, &next, &cerr)) {
            rc = bad_line(im, line, cerr.message);
            break;
        }
        /* quoted fields may span lines; count them */
        for (const char *q = p; q < next - 1; q++)
            line += *q == '\n';
        struct ft_event e;
        if (n == 1 && f[0].len == 0) {
            p = next; /* an empty line */
            continue;
        }
        if ((rc = csv_event(im, line, &cols, f, n, &e))) break;
        rc = add(im, line, &e, (size_t)(next - in->data));
        p = next;
    }
    ft_arena_free(&scratch);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"source", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store_url = "sqlite:./flagtrail.db", *format = NULL, *source = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': store_url = optarg; break;
        case 'f': format = optarg; break;
        case 'n': source = optarg; break;
        case 'h': help_events(); return CLI_OK;
        default: return cli_bad_option("events", c, argv);
        }
    }
    if (optind >= argc || strcmp(argv[optind], "import") != 0)
        return cli_usage("events", "expected: flagtrail events import FILE");
    if (optind + 2 != argc) return cli_usage("events", "expected one FILE to import");
    const char *file = argv[optind + 1];
    bool csv = format ? strcmp(format, "csv") == 0 : ends_with(file, ".csv");
    if (format && !csv && strcmp(format, "jsonl") != 0)
        return cli_usage("events", "--format: expected csv or jsonl, got %s", format);
    char source_buf[300];
    if (!source) {
        const char *base = strrchr(file, '/');
        snprintf(source_buf, sizeof(source_buf), "import:%s", base ? base + 1 : file);
        source = source_buf;
    }
    char err[512];
    struct input in;
    if (open_input(file, &in, err, sizeof(err))) {
        close_input(&in);
        return cli_fail("events", "%s", err);
    }
    struct importer *im = ft_xcalloc(1, sizeof(*im));
    im->source = source;
    im->file = file;
    im->now = ft_clock_now_us();
    im->file_len = in.len;
    ft_arena_init(&im->arena, 1 << 20);
    int rc = ft_store_open(store_url, &im->store, err, sizeof(err));
    if (rc) {
        rc = cli_fail("events", "%s", err);
    } else {
        cli_progress_start(&im->bar, "import");
        rc = csv ? import_csv(im, &in) : import_jsonl(im, &in);
        if (rc == FT_OK) rc = flush(im, in.len);
        cli_progress_finish(&im->bar, in.len, in.len, im->total);
        if (rc == FT_OK)
            printf("imported %" PRIu64 " events from %s into %s as %s\n", im->total, file,
                   store_url, source);
        rc = rc ? CLI_FAIL : CLI_OK;
    }
    ft_store_close(im->store);
    ft_arena_free(&im->arena);
    free(im);
    close_input(&in);
    return rc;
}
