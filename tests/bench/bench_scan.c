/* bench_scan.c: measurements for tests/bench/scan.sh (not run by CTest).
     bench_scan gen N                 prints N paths shaped like a real tree, in
                                      component order (the 10M-path input)
     bench_scan walk ROOT [THREADS]   the parallel walk alone: entries/s
     bench_scan build LIST            path tree from a list of paths (one per
                                      line): paths/s, bytes per path
     bench_scan scan ROOT DATA SPACE  walk + build + store as the scan job does,
                                      into DATA/shards/w1 (queryable by the CLI),
                                      then --ls/--stat/--find latency in-process
   Every mode ends with a line of key=value pairs and the peak RSS. */
#include "errors.h"
#include "hash.h"
#include "journal.h"
#include "pathtree.h"
#include "scanidx.h"
#include "walk.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- gen: a deterministic tree with repeated and unique names ---- */
static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const words[] = {
    "lib",     "src",           "include",      "share", "doc",    "man",      "bin",    "test",   "tests",
    "python3", "site-packages", "node_modules", "core",  "util",   "utils",    "common", "net",    "http",
    "json",    "xml",           "io",           "fs",    "os",     "crypto",   "data",   "config", "locale",
    "icons",   "hicolor",       "scalable",     "apps",  "kernel", "drivers",  "arch",   "x86",    "media",
    "sound",   "usb",           "gpu",          "drm",   "fonts",  "truetype", "perl5",  "ruby",   "gems",
    "cache",   "debug",         "build",        "dist",  "vendor"};
static const char *const files[] = {"__init__", "Makefile", "README",     "LICENSE", "index",
                                    "main",     "setup",    "module",     "config",  "test_",
                                    "util",     "Kconfig",  "CMakeLists", "package", "changelog"};
static const char *const exts[] = {".py", ".c",  ".h",  ".js",  ".json", ".txt",
                                   ".md", ".so", ".gz", ".png", "",      ".pyc"};

typedef struct {
    char name[64];
    bool dir;
} gname_t;

static int gname_cmp(const void *a, const void *b) {
    const gname_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static uint64_t emitted, limit;

static void gen_dir(char *path, size_t plen, int depth) {
    gname_t v[96];
    size_t n = 0;
    size_t nd = depth < 7 ? rnd() % (depth < 2 ? 12 : 6) : 0, nf = rnd() % 40;
    for (size_t i = 0; i < nd; i++, n++) {
        v[n].dir = true;
        const char *w = words[rnd() % CN_ARRAY_LEN(words)];
        if (rnd() % 3 == 0)
            snprintf(v[n].name, sizeof v[n].name, "%s-%llu.%llu", w, (unsigned long long)(rnd() % 40),
                     (unsigned long long)(rnd() % 20));
        else
            snprintf(v[n].name, sizeof v[n].name, "%s", w);
    }
    for (size_t i = 0; i < nf; i++, n++) {
        v[n].dir = false;
        const char *f = files[rnd() % CN_ARRAY_LEN(files)], *e = exts[rnd() % CN_ARRAY_LEN(exts)];
        if (rnd() % 2)
            snprintf(v[n].name, sizeof v[n].name, "%s%s", f, e);
        else
            snprintf(v[n].name, sizeof v[n].name, "%s_%llx%s", f, (unsigned long long)(rnd() % 100000), e);
    }
    qsort(v, n, sizeof *v, gname_cmp);
    for (size_t i = 0; i < n && emitted < limit; i++) {
        if (i && strcmp(v[i].name, v[i - 1].name) == 0) continue;
        size_t l = strlen(v[i].name);
        path[plen] = '/';
        memcpy(path + plen + 1, v[i].name, l + 1);
        fwrite(path, 1, plen + 1 + l, stdout);
        putchar('\n');
        emitted++;
        if (v[i].dir) gen_dir(path, plen + 1 + l, depth + 1);
    }
    path[plen] = 0;
}

static int gen(uint64_t n) {
    char path[4096] = "/gen";
    limit = n;
    printf("/gen\n");
    emitted = 1;
    for (unsigned top = 0; emitted < limit; top++) {
        int l = snprintf(path + 4, sizeof path - 4, "/pkg%06u", top);
        printf("%s\n", path);
        emitted++;
        gen_dir(path, (size_t)(4 + l), 1);
    }
    return 0;
}

/* ---- build: a path tree from a list ---- */
typedef struct {
    char *p;
    size_t len;
} line_t;

static int line_cmp(const void *a, const void *b) {
    const line_t *x = a, *y = b;
    return cn_path_cmp((const uint8_t *)x->p, x->len, (const uint8_t *)y->p, y->len);
}

static int build(const char *list) {
    FILE *f = fopen(list, "rb");
    if (!f) return fprintf(stderr, "cannot open %s\n", list), 1;
    line_t *v = NULL;
    size_t n = 0, cap = 0, blen = 0;
    char *buf = NULL;
    ssize_t r;
    uint64_t name_bytes = 0;
    while ((r = getline(&buf, &blen, f)) > 0) {
        if (buf[r - 1] == '\n') r--;
        while (r > 1 && buf[r - 1] == '/') r--;
        if (n == cap) v = cn_xrealloc(v, (cap = cap ? cap * 2 : 1 << 20) * sizeof *v);
        v[n++] = (line_t){cn_xmemdup(buf, (size_t)r + 1), (size_t)r};
    }
    free(buf);
    fclose(f);
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) sorted = line_cmp(&v[i - 1], &v[i]) < 0;
    if (!sorted) qsort(v, n, sizeof *v, line_cmp);
    if (n == 0) return fprintf(stderr, "empty list\n"), 1;
    size_t rl = v[0].len; /* the root: the first path in component order */
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)v[0].p, rl);
    uint64_t t0 = cn_mono_us();
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (v[i].len <= rl + 1 || memcmp(v[i].p, v[0].p, rl) != 0) continue;
        const char *rel = v[i].p + rl + (v[0].p[rl - 1] == '/' ? 0 : 1);
        size_t len = v[i].len - (size_t)(rel - v[i].p);
        bool dir = i + 1 < n && v[i + 1].len > v[i].len && memcmp(v[i + 1].p, v[i].p, v[i].len) == 0 &&
                   v[i + 1].p[v[i].len] == '/';
        cn_pstat_t st = {.type = dir ? CN_PT_DIR : CN_PT_FILE};
        const char *slash = memchr(rel, '/', len) ? strrchr(rel, '/') + 1 : rel;
        name_bytes += len - (size_t)(slash - rel);
        rc = cn_ptb_add(b, (const uint8_t *)rel, len, &st, NULL, 0);
    }
    cn_buf_t out = {0};
    size_t nb = 0, sb = 0;
    if (rc == 0) rc = cn_ptb_finish(b, &out, &nb, &sb);
    uint64_t t1 = cn_mono_us();
    if (rc) fprintf(stderr, "build failed: %s\n", cn_err_detail());
    double s = (double)(t1 - t0) / 1e6;
    printf("build paths=%zu seconds=%.3f paths_per_s=%.0f names_tree_bytes=%zu stat_bytes=%zu "
           "names_tree_bytes_per_path=%.2f name_bytes=%llu peak_rss_kb=%ld sorted_input=%d\n",
           n, s, (double)n / s, nb, sb, (double)nb / (double)n, (unsigned long long)name_bytes, peak_rss_kb(),
           sorted);
    if (getenv("BENCH_SCAN_TREE_OUT")) cn_write_file_atomic(getenv("BENCH_SCAN_TREE_OUT"), out.data, out.len);
    cn_ptb_destroy(&b);
    cn_buf_free(&out);
    for (size_t i = 0; i < n; i++) free(v[i].p);
    free(v);
    return rc != 0;
}

/* ---- walk ---- */
static int walk(const char *root, int threads) {
    cn_walk_opts_t o = {.threads = threads};
    cn_walk_t *w = NULL;
    uint64_t t0 = cn_mono_us();
    if (cn_walk_start(root, &o, &w) < 0) return fprintf(stderr, "%s\n", cn_err_detail()), 1;
    cn_walk_wait(w);
    double s = (double)(cn_mono_us() - t0) / 1e6;
    printf("walk entries=%llu seconds=%.3f entries_per_s=%.0f threads=%d errors=%llu peak_rss_kb=%ld\n",
           (unsigned long long)cn_walk_count(w), s, (double)cn_walk_count(w) / s, threads,
           (unsigned long long)cn_walk_errors_total(w), peak_rss_kb());
    cn_walk_destroy(&w);
    return 0;
}

/* ---- scan: the job's pipeline into a real shard, then query latency ---- */
static int feed(void *arg, const uint8_t *path, size_t len, const cn_walk_entry_t *e) {
    return cn_ptb_add(arg, path, len, &e->st, e->target, e->target_len);
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *us, size_t n) {
    qsort(us, n, sizeof *us, u64_cmp);
    printf("%s_median_us=%llu %s_p99_us=%llu ", what, (unsigned long long)us[n / 2], what,
           (unsigned long long)us[n * 99 / 100]);
}

static int store(cn_shard_t *s, const char *root, const char *space, const cn_buf_t *data,
                 const cn_ptree_t *t, uint64_t *jid) {
    Canopy__ScanMeta m = CANOPY__SCAN_META__INIT;
    m.space = (char *)space;
    m.root.data = (uint8_t *)root;
    m.root.len = strlen(root);
    m.entries = cn_ptree_count(t);
    m.tree_bytes = data->len;
    m.finished_ms = cn_wall_ms();
    cn_buf_t meta = {0};
    cn_rec_pack(&m.base, &meta);
    Canopy__JournalCause cause = CANOPY__JOURNAL_CAUSE__INIT;
    cause.job_id = cn_wall_ms(); /* a unique id: the bench is not a cluster */
    cause.lease_seq = 1;
    Canopy__JournalEntry e = CANOPY__JOURNAL_ENTRY__INIT;
    e.type = (char *)"scan";
    e.metadata.data = meta.data;
    e.metadata.len = meta.len;
    e.at_ms = m.finished_ms;
    e.cause = &cause;
    uint8_t hash[32];
    cn_batch_t *b = cn_batch_new();
    int rc = cn_journal_append(s, &e, data->data, data->len, hash);
    if (rc == 0) rc = cn_scanidx_apply(s, &e, t, b);
    if (rc == 0) cn_journal_commit(b, &e);
    cn_job_commit_t jc = {.job_id = cause.job_id, .attempt = 1, .lease_seq = 1, .kind = "scan"};
    if (rc == 0) rc = cn_shard_commit_job(s, b, &jc);
    cn_batch_destroy(&b);
    cn_buf_free(&meta);
    *jid = e.journal_id;
    return rc;
}

static bool count_found(void *arg, uint32_t node) {
    (void)node;
    ++*(uint64_t *)arg;
    return true;
}

static void latency(cn_shard_t *s, uint64_t jid, const cn_ptree_t *t, const char *find_name) {
    enum { K = 2000 };
    uint64_t *ls = cn_xmalloc(K * sizeof *ls), *st = cn_xmalloc(K * sizeof *st);
    uint32_t n = cn_ptree_count(t);
    cn_buf_t path = {0}, raw = {0};
    size_t nls = 0;
    for (size_t i = 0; i < K; i++) {
        uint32_t x = (uint32_t)(rnd() % n);
        cn_pstat_t ps;
        cn_ptree_stat(t, x, &ps);
        cn_buf_reset(&path);
        cn_ptree_path(t, x, &path);
        cn_scan_ent_t e;
        uint64_t t0 = cn_mono_us();
        cn_scanidx_stat(s, jid, path.data, path.len, &raw, &e);
        st[i] = cn_mono_us() - t0;
        if (ps.type == CN_PT_DIR) {
            t0 = cn_mono_us();
            cn_buf_reset(&raw);
            if (cn_scanidx_dir(s, jid, path.data, path.len, &raw) == 0)
                cn_scanidx_parse(raw.data, raw.len, NULL, NULL, NULL);
            ls[nls++] = cn_mono_us() - t0;
        }
    }
    if (nls) report("ls", ls, nls);
    report("stat", st, K);
    uint64_t t0 = cn_mono_us(), hits = 0;
    cn_ptree_t *t2 = NULL;
    if (cn_scanidx_tree(s, jid, &t2) == 0) cn_ptree_find(t2, find_name, count_found, &hits);
    printf("find_ms=%.2f find_hits=%llu ", (double)(cn_mono_us() - t0) / 1000.0, (unsigned long long)hits);
    cn_ptree_destroy(&t2);
    cn_buf_free(&path);
    cn_buf_free(&raw);
    free(ls);
    free(st);
}

static int scan(const char *root, const char *data, const char *space, const char *find_name) {
    cn_walk_opts_t o = {.threads = 4};
    cn_walk_t *w = NULL;
    uint64_t t0 = cn_mono_us();
    if (cn_walk_start(root, &o, &w) < 0) return fprintf(stderr, "%s\n", cn_err_detail()), 1;
    cn_walk_wait(w);
    uint64_t t1 = cn_mono_us();
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)root, strlen(root));
    int rc = cn_walk_sorted(w, feed, b);
    cn_buf_t out = {0};
    size_t nb = 0, sb = 0;
    if (rc == 0) rc = cn_ptb_finish(b, &out, &nb, &sb);
    cn_ptb_destroy(&b);
    uint64_t t2 = cn_mono_us(), n = cn_walk_count(w);
    cn_walk_destroy(&w);
    cn_ptree_t *t = NULL;
    if (rc == 0) rc = cn_ptree_decode(out.data, out.len, 0, &t);
    char *shards = cn_xasprintf("%s/shards/w1", data);
    cn_mkdir_p(shards);
    cn_shard_opts_t so = {.create = true, .worker = "bench"};
    cn_shard_t *s = NULL;
    uint64_t jid = 0;
    if (rc == 0) rc = cn_shard_open(shards, &so, &s);
    uint64_t t3 = cn_mono_us();
    if (rc == 0) rc = store(s, root, space, &out, t, &jid);
    uint64_t t4 = cn_mono_us();
    if (rc) {
        fprintf(stderr, "scan failed: %s\n", cn_err_detail());
    } else {
        printf("scan entries=%llu walk_s=%.3f build_s=%.3f store_s=%.3f names_tree_bytes=%zu stat_bytes=%zu "
               "names_tree_bytes_per_path=%.2f stat_bytes_per_path=%.2f ",
               (unsigned long long)n, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
               (double)(t4 - t3) / 1e6, nb, sb, (double)nb / (double)n, (double)sb / (double)n);
        latency(s, jid, t, find_name);
        printf("peak_rss_kb=%ld\n", peak_rss_kb());
    }
    cn_shard_close(&s);
    cn_ptree_destroy(&t);
    cn_buf_free(&out);
    free(shards);
    return rc != 0;
}

int main(int argc, char **argv) {
    cn_hash_init();
    if (argc >= 3 && strcmp(argv[1], "gen") == 0) return gen(strtoull(argv[2], NULL, 10));
    if (argc >= 3 && strcmp(argv[1], "walk") == 0)
        return walk(argv[2], argc > 3 ? (int)strtol(argv[3], NULL, 10) : 4);
    if (argc >= 3 && strcmp(argv[1], "build") == 0) return build(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "scan") == 0)
        return scan(argv[2], argv[3], argv[4], argc > 5 ? argv[5] : "ls");
    fprintf(stderr,
            "usage: bench_scan gen N | walk ROOT [THREADS] | build LIST | scan ROOT DATA SPACE [NAME]\n");
    return 2;
}
