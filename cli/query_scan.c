/* query_scan.c: canopy query scan [SPACE] [--scan JOB] [--ls PATH | --stat PATH
   | --find PATTERN | --diff JOB_A JOB_B | --rebuild]. Opens the stores that hold
   scans (stores.h: the merged store first, then every shard, read-only) and
   answers through storage/scanidx.h, which takes one opened store. Output
   formatting: query_scan_out.c. */
#include "cmd.h"
#include "query_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "canopy query scan [SPACE] [--scan JOB] [--ls PATH | --stat PATH | --find PATTERN |\n"
    "                  --diff JOB_A JOB_B | --rebuild] [--json]\n\n"
    "Filesystem scans. Without an action: lists the scans of SPACE (all spaces if none).\n"
    "  --scan JOB        use the scan made by job JOB (default: the latest of SPACE)\n"
    "  --ls PATH         list a directory (PATH absolute under the root, or relative)\n"
    "  --stat PATH       type, mode, owner, size, mtime and symlink target of PATH\n"
    "  --find PATTERN    entries whose name matches PATTERN (a glob; with '/': the path)\n"
    "  --diff A B        added, removed and changed entries from scan A to scan B\n"
    "  --rebuild         drop the derived scan tables of every shard and replay the\n"
    "                    journals (shards must not be open by a running worker)\n";

/* Every committed scan of space (NULL: all), with the store it lives in. */
static void list_all(cn_stores_t *st, const char *space, cn_qs_scan_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < st->n; i++) {
        cn_scan_t *v = NULL;
        size_t k = 0;
        if (cn_scanidx_list(st->s[i], space, &v, &k) < 0) continue;
        *out = cn_xrealloc(*out, (*n + k + 1) * sizeof **out);
        for (size_t j = 0; j < k; j++) (*out)[(*n)++] = (cn_qs_scan_t){v[j], i};
        free(v); /* the metas moved into out */
    }
}

static void free_all(cn_qs_scan_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) cn_rec_free(v[i].scan.meta ? &v[i].scan.meta->base : NULL);
    free(v);
}

static int by_job(const void *a, const void *b) {
    const cn_qs_scan_t *x = a, *y = b;
    int c = strcmp(x->scan.meta->space, y->scan.meta->space);
    if (c) return c;
    if (x->scan.job_id != y->scan.job_id) return x->scan.job_id < y->scan.job_id ? -1 : 1;
    return x->store < y->store ? -1 : x->store > y->store; /* the merged store first */
}

/* After sorting: one scan per (space, job), of the job's winning lease (the
   rule of the git queries, cn_stores_lease_won: a scan of a fenced lease does
   not count, even in the merged store), from the first store that has it (the
   merged store). */
static size_t dedupe(cn_stores_t *st, cn_qs_scan_t *v, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool copy = k && v[k - 1].scan.job_id == v[i].scan.job_id && v[i].scan.job_id != 0 &&
                    strcmp(v[k - 1].scan.meta->space, v[i].scan.meta->space) == 0;
        if (copy || !cn_stores_lease_won(st, v[i].scan.job_id, v[i].scan.lease_seq)) {
            cn_rec_free(&v[i].scan.meta->base);
            continue;
        }
        v[k++] = v[i];
    }
    return k;
}

/* The scan of job (0: the latest of the space). NULL with a message if none. */
static const cn_qs_scan_t *pick(const cn_qs_scan_t *v, size_t n, const char *space, uint64_t job) {
    const cn_qs_scan_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (job ? v[i].scan.job_id == job : (!best || v[i].scan.job_id > best->scan.job_id)) best = &v[i];
    }
    if (!best && job)
        fprintf(stderr, "canopy: job %llu made no committed scan of space %s\n", (unsigned long long)job,
                space);
    if (!best && !job) fprintf(stderr, "canopy: no committed scans of space %s\n", space);
    return best;
}

static int rebuild(const cn_cli_t *g) {
    cn_stores_t st;
    int rc = cn_stores_open(g, true, &st);
    if (rc < 0) {
        if (rc == CN_ELOCKED)
            fprintf(stderr, "canopy: a running worker holds a shard; stop the cluster (canopy down) first\n");
        cn_stores_close(&st);
        return CN_EXIT_FAIL;
    }
    cn_buf_t out = {0};
    uint64_t bad = 0;
    if (g->json) cn_buf_putc(&out, '[');
    for (size_t i = 0; i < st.n && rc == 0; i++) {
        cn_scanidx_stats_t s;
        uint64_t t0 = cn_mono_ms();
        rc = cn_scanidx_rebuild(st.s[i], &s);
        if (rc < 0) {
            fprintf(stderr, "canopy: rebuilding shard %s: %s\n", st.name[i], cn_err_detail());
            break;
        }
        if (g->json) {
            cn_buf_printf(&out, "%s{\"shard\":", i ? "," : "");
            cn_json_str(&out, st.name[i], strlen(st.name[i]));
            cn_buf_printf(
                &out,
                ",\"entries\":%llu,\"replayed\":%llu,\"uncommitted\":%llu,\"unreadable\":%llu,\"ms\":%llu}",
                (unsigned long long)s.entries, (unsigned long long)s.applied,
                (unsigned long long)s.uncommitted, (unsigned long long)s.unreadable,
                (unsigned long long)(cn_mono_ms() - t0));
        } else {
            cn_buf_printf(&out,
                          "%sshard %s: %llu journal entries, %llu scans replayed, %llu uncommitted skipped",
                          i ? "\n" : "", st.name[i], (unsigned long long)s.entries,
                          (unsigned long long)s.applied, (unsigned long long)s.uncommitted);
            if (s.unreadable)
                cn_buf_printf(&out, ", %llu UNREADABLE (skipped; see the warnings above)",
                              (unsigned long long)s.unreadable);
        }
        bad += s.unreadable;
    }
    if (g->json) cn_buf_putc(&out, ']');
    cn_stores_close(&st);
    if (rc < 0) {
        cn_buf_free(&out);
        return CN_EXIT_FAIL;
    }
    cn_print_buf(&out);
    return bad ? CN_EXIT_FAIL : 0;
}

typedef struct {
    const char *space, *ls, *stat, *find;
    uint64_t job, diff_a, diff_b;
    bool diff, rebuild;
} qs_args_t;

static int parse(int argc, char **argv, qs_args_t *a) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = cn_arg_value(argc, argv, &i, "--scan", &v)) != 0) {
            if (r < 0 || !cn_parse_job_id(v, &a->job))
                return cn_usage_error(usage_text, "--scan needs a job id");
        } else if ((r = cn_arg_value(argc, argv, &i, "--ls", &a->ls)) != 0 ||
                   (r = cn_arg_value(argc, argv, &i, "--stat", &a->stat)) != 0 ||
                   (r = cn_arg_value(argc, argv, &i, "--find", &a->find)) != 0) {
            if (r < 0) return cn_usage_error(usage_text, "%s needs a value", argv[i]);
        } else if (strcmp(argv[i], "--diff") == 0) {
            if (i + 2 >= argc || !cn_parse_job_id(argv[i + 1], &a->diff_a) ||
                !cn_parse_job_id(argv[i + 2], &a->diff_b))
                return cn_usage_error(usage_text, "--diff needs two job ids (scans of one space)");
            a->diff = true;
            i += 2;
        } else if (strcmp(argv[i], "--rebuild") == 0) {
            a->rebuild = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return cn_usage_error(usage_text, "unknown option %s", argv[i]);
        } else if (!a->space) {
            a->space = argv[i];
        } else {
            return cn_usage_error(usage_text, "one SPACE only (got '%s' too)", argv[i]);
        }
    }
    int actions = !!a->ls + !!a->stat + !!a->find + a->diff + a->rebuild;
    if (actions > 1)
        return cn_usage_error(usage_text, "choose one of --ls, --stat, --find, --diff, --rebuild");
    if (actions && !a->rebuild && !a->space) return cn_usage_error(usage_text, "which SPACE?");
    return 0;
}

int cn_query_scan(const cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
    qs_args_t a;
    int status = parse(argc, argv, &a);
    if (status) return status;
    if (a.rebuild) return rebuild(g);
    cn_stores_t st;
    if (cn_stores_open(g, false, &st) < 0) {
        cn_stores_close(&st);
        return cn_fail(CN_ENOTFOUND);
    }
    cn_qs_scan_t *v = NULL;
    size_t n = 0;
    list_all(&st, a.space, &v, &n);
    qsort(v, n, sizeof *v, by_job);
    n = dedupe(&st, v, n);
    const cn_qs_scan_t *sc = NULL;
    if (!a.ls && !a.stat && !a.find && !a.diff) {
        status = cn_qs_print_list(g, v, n, &st);
    } else if (a.diff) {
        const cn_qs_scan_t *x = pick(v, n, a.space, a.diff_a), *y = x ? pick(v, n, a.space, a.diff_b) : NULL;
        status = y ? cn_qs_diff(g, &st, x, y) : CN_EXIT_FAIL;
    } else if ((sc = pick(v, n, a.space, a.job)) == NULL) {
        status = CN_EXIT_FAIL;
    } else if (a.ls) {
        status = cn_qs_ls(g, st.s[sc->store], sc, a.ls);
    } else if (a.stat) {
        status = cn_qs_stat(g, st.s[sc->store], sc, a.stat);
    } else {
        status = cn_qs_find(g, st.s[sc->store], sc, a.find);
    }
    free_all(v, n);
    cn_stores_close(&st);
    return status;
}
