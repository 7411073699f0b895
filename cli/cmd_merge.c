/* cmd_merge.c: `canopy merge`: folds every shard under --data into the merged
   store (storage/merge.h) in this process, reading the shards read-only while
   workers keep writing, and prints the reconciliation report (--json: the
   report object). `--digest` prints the merged store's record counts and hash
   instead of merging. No coordinator needed. */
#include "cmd.h"

#include "merge.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const usage =
    "canopy merge [--json] [--threads N] [--shard DIR]... [--digest]\n"
    "  Folds every shard (DATA/shards/*) into DATA/merged/ and prints what was merged:\n"
    "  jobs per kind, records new/existing/dropped per family, and every job with no\n"
    "  committed result or more than one. Incremental: shards unchanged since the last\n"
    "  merge are skipped. --shard merges only the given shard directories.\n"
    "  --digest prints the merged store's record counts and content hash (no merge).";

static int print_digest(const cn_cli_t *g) {
    cn_shard_t *s = NULL;
    int rc = cn_merge_open(g->data, &s);
    if (rc < 0) return cn_fail(rc);
    cn_merge_digest_t d;
    rc = cn_merge_digest(s, &d);
    cn_shard_close(&s);
    if (rc < 0) return cn_fail(rc);
    char hex[65];
    cn_hex(d.hash, sizeof d.hash, hex);
    cn_buf_t b = {0};
    if (g->json) {
        cn_buf_printf(&b, "{\"total\":%" PRIu64 ",\"hash\":\"%s\",\"records\":{", d.total, hex);
        for (int cf = 1; cf < CN_CF_COUNT_; cf++) {
            cn_json_key(&b, cn_cf_name((cn_cf_t)cf), cf == 1);
            cn_buf_printf(&b, "%" PRIu64, d.records[cf]);
        }
        cn_buf_printf(&b, "}}");
    } else {
        cn_buf_printf(&b, "%" PRIu64 " records, blake2b %s\n", d.total, hex);
        for (int cf = 1; cf < CN_CF_COUNT_; cf++)
            if (d.records[cf])
                cn_buf_printf(&b, "%-10s %12" PRIu64 "\n", cn_cf_name((cn_cf_t)cf), d.records[cf]);
        if (b.len) b.len--; /* cn_print_buf adds the last newline */
    }
    cn_print_buf(&b);
    return 0;
}

typedef struct {
    bool tty;
    uint64_t start_ms, last_ms;
} progress_t;

/* Long merges show progress on stderr: one line redrawn on a terminal, else a
   plain line at most every 2 s. */
static void on_progress(void *arg, const char *phase, uint64_t done, uint64_t total, uint64_t records) {
    progress_t *p = arg;
    uint64_t now = cn_mono_ms();
    if (p->tty) {
        char bar[64];
        cn_fmt_bar(bar, sizeof bar, done, total, 20);
        fprintf(stderr, "\r%s %-8s %" PRIu64 "/%" PRIu64 "  %" PRIu64 " records read  %.1fs ", bar, phase,
                done, total, records, (double)(now - p->start_ms) / 1000.0);
        if (strcmp(phase, "switch") == 0) fputc('\n', stderr);
    } else if (now - p->last_ms >= 2000) {
        fprintf(stderr, "merge: %s %" PRIu64 "/%" PRIu64 ", %" PRIu64 " records read after %.1fs\n", phase,
                done, total, records, (double)(now - p->start_ms) / 1000.0);
        p->last_ms = now;
    }
}

/* Parses the arguments; returns -1 to go on, else the exit status. */
static int parse(cn_cli_t *g, int argc, char **argv, const char **shards, size_t *nshards, uint64_t *threads,
                 bool *digest) {
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (cn_arg_help(argv[i])) return cn_print_help(usage);
        if ((r = cn_arg_global(g, argc, argv, &i)) != 0) {
            if (r < 0) return cn_usage_error(usage, "%s", cn_err_detail());
        } else if ((r = cn_arg_value(argc, argv, &i, "--shard", &v)) != 0) {
            if (r < 0) return cn_usage_error(usage, "%s", cn_err_detail());
            shards[(*nshards)++] = v;
        } else if ((r = cn_arg_value(argc, argv, &i, "--threads", &v)) != 0) {
            if (r < 0 || !cn_parse_u64(v, threads) || *threads == 0 || *threads > 8)
                return cn_usage_error(usage, "--threads takes a number from 1 to 8");
        } else if (strcmp(argv[i], "--digest") == 0) {
            *digest = true;
        } else {
            return cn_usage_error(usage, "unknown argument '%s'", argv[i]);
        }
    }
    return -1;
}

int cn_cmd_merge(cn_cli_t *g, int argc, char **argv) {
    const char **shards = cn_xcalloc((size_t)argc, sizeof *shards);
    size_t nshards = 0;
    uint64_t threads = 0;
    bool digest = false;
    int status = parse(g, argc, argv, shards, &nshards, &threads, &digest);
    if (status >= 0) {
        free(shards);
        return status;
    }
    if (digest) {
        free(shards);
        return print_digest(g);
    }
    cn_merge_opts_t o = {.data_dir = g->data,
                         .shards = nshards ? shards : NULL,
                         .nshards = nshards,
                         .threads = (unsigned)threads,
                         .progress = on_progress};
    progress_t prog = {.tty = isatty(2) == 1, .start_ms = cn_mono_ms()};
    prog.last_ms = prog.start_ms;
    o.progress_arg = &prog;
    cn_merge_report_t *rep = NULL;
    int rc = cn_merge_run(&o, &rep);
    free(shards);
    if (rc < 0) return cn_fail(rc);
    cn_buf_t b = {0};
    if (g->json) {
        cn_merge_report_json(rep, &b);
    } else {
        cn_merge_report_text(rep, &b);
        if (b.len) b.len--;
    }
    cn_print_buf(&b);
    cn_merge_report_free(&rep);
    return 0;
}
