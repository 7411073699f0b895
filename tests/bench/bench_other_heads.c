/* bench_other_heads.c: the cost of finding a project's newest heads in the other
   workers' shards (a download's first step), for tests/bench/other_heads.sh.
   Makes DIR/shards/{own,o1..oN} with live writers (in this process), each other
   shard holding RECORDS commit-like records in its WAL and memtable (never
   flushed) plus heads of 1,000 projects; then, after each of ROUNDS small jobs
   appended to every shard, times one lookup done two ways: "open" opens every
   other shard read-only and closes it again (the download's way before
   download_heads.c), "cached" calls cn_download_other_heads (secondaries kept
   open and caught up). Prints the median and the worst of each and the ratio.
   Usage: bench_other_heads DIR [OTHERS=3] [RECORDS=50000] [ROUNDS=20] */
#include "download.h"
#include "errors.h"
#include "repo.h"
#include "util.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROJECTS 1000
#define MAX_OTHERS 16

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* n commit-like records (20-byte keys, ~300-byte values), unsynced. */
static void put_records(cn_shard_t *s, size_t n) {
    cn_batch_t *b = cn_batch_new();
    uint8_t k[20], v[300];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof k; j += 4) {
            uint32_t r = (uint32_t)next_rand();
            memcpy(k + j, &r, 4);
        }
        for (size_t j = 0; j < sizeof v; j++) v[j] = (uint8_t)("commit message text "[j % 20] ^ (j % 7));
        cn_batch_put(b, CN_CF_COMMITS, k, sizeof k, v, sizeof v);
        if (cn_batch_count(b) == 1000 || i + 1 == n) {
            if (cn_shard_append(s, b, false) < 0) {
                fprintf(stderr, "append: %s\n", cn_err_detail());
                exit(1);
            }
        }
    }
    cn_batch_destroy(&b);
}

/* One download job's commit: heads of project for lease. */
static void put_heads(cn_shard_t *s, uint64_t project, uint64_t lease) {
    uint8_t oid[20];
    memset(oid, (int)(lease & 0xff), sizeof oid);
    Canopy__Ref ref = CANOPY__REF__INIT;
    ref.name = (ProtobufCBinaryData){15, (uint8_t *)"refs/heads/main"};
    ref.oid = (ProtobufCBinaryData){20, oid};
    Canopy__Ref *rp = &ref;
    Canopy__Heads h = CANOPY__HEADS__INIT;
    h.project_id = project;
    h.n_ref = 1;
    h.ref = &rp;
    h.job_id = h.lease_seq = lease;
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_heads(b, &h);
    cn_job_commit_t c = {
        .job_id = lease, .attempt = 1, .lease_seq = lease, .kind = "download", .key_id = project};
    if (cn_shard_commit_job(s, b, &c) < 0) {
        fprintf(stderr, "commit: %s\n", cn_err_detail());
        exit(1);
    }
    cn_batch_destroy(&b);
}

/* The lookup as download.c did it before the cache: open every other shard. */
static void open_each(const char *shards_dir, const char *own, uint64_t project, Canopy__Heads **out) {
    DIR *dir = opendir(shards_dir);
    char *rown = realpath(own, NULL);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        if (e->d_name[0] == '.') continue;
        char *p = cn_path_join(shards_dir, e->d_name), *rp = realpath(p, NULL);
        cn_shard_opts_t o = {.read_only = true};
        cn_shard_t *s = NULL;
        if (rp && strcmp(rp, rown) != 0 && cn_shard_open(p, &o, &s) == 0) {
            Canopy__Heads *h = NULL;
            if (cn_repo_latest_heads(s, project, &h) == 0 && (!*out || h->lease_seq > (*out)->lease_seq)) {
                if (*out) cn_rec_free(&(*out)->base);
                *out = h;
            } else if (h) {
                cn_rec_free(&h->base);
            }
            cn_shard_close(&s);
        }
        free(rp);
        free(p);
    }
    free(rown);
    if (dir) closedir(dir);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *us, size_t n) {
    qsort(us, n, sizeof *us, cmp_u64);
    printf("%-7s median %8.2f ms  worst %8.2f ms  (%zu lookups)\n", what, us[n / 2] / 1000.0,
           us[n - 1] / 1000.0, n);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_other_heads DIR [OTHERS] [RECORDS] [ROUNDS]\n");
        return 2;
    }
    size_t others = argc > 2 ? strtoul(argv[2], NULL, 10) : 3;
    size_t records = argc > 3 ? strtoul(argv[3], NULL, 10) : 50000;
    size_t rounds = argc > 4 ? strtoul(argv[4], NULL, 10) : 20;
    if (others < 1 || others > MAX_OTHERS || rounds < 1) return 2;
    char *shards = cn_path_join(argv[1], "shards"), *own = cn_path_join(shards, "own");
    char *scratch = cn_path_join(argv[1], "scratch");
    cn_shard_opts_t wo = {.create = true, .worker = "bench"};
    cn_shard_t *mine = NULL, *w[MAX_OTHERS] = {0};
    if (cn_shard_open(own, &wo, &mine) < 0) return fprintf(stderr, "%s\n", cn_err_detail()), 1;
    uint64_t lease = 1;
    for (size_t i = 0; i < others; i++) {
        char name[32];
        snprintf(name, sizeof name, "o%zu", i + 1);
        char *p = cn_path_join(shards, name);
        if (cn_shard_open(p, &wo, &w[i]) < 0) return fprintf(stderr, "%s\n", cn_err_detail()), 1;
        free(p);
        put_records(w[i], records);
        for (uint64_t pr = 1; pr <= PROJECTS; pr += 7) put_heads(w[i], pr, lease++);
    }
    uint64_t *t_open = cn_xcalloc(rounds, sizeof *t_open), *t_cached = cn_xcalloc(rounds, sizeof *t_cached);
    Canopy__Heads *h = NULL;
    uint64_t t0 = cn_mono_us();
    cn_download_other_heads(shards, scratch, own, 1, &h); /* opens the secondaries */
    uint64_t first = cn_mono_us() - t0;
    for (size_t r = 0; r < rounds; r++) {
        /* A job in every other shard since the last lookup: 200 records, heads. */
        for (size_t i = 0; i < others; i++) {
            put_records(w[i], 200);
            put_heads(w[i], 1, lease++);
        }
        Canopy__Heads *a = NULL, *b = NULL;
        t0 = cn_mono_us();
        open_each(shards, own, 1, &a);
        t_open[r] = cn_mono_us() - t0;
        t0 = cn_mono_us();
        cn_download_other_heads(shards, scratch, own, 1, &b);
        t_cached[r] = cn_mono_us() - t0;
        if (!a || !b || a->lease_seq != lease - 1 || b->lease_seq != lease - 1) {
            fprintf(stderr, "wrong heads: open %llu, cached %llu, want %llu\n",
                    (unsigned long long)(a ? a->lease_seq : 0), (unsigned long long)(b ? b->lease_seq : 0),
                    (unsigned long long)(lease - 1));
            return 1;
        }
        cn_rec_free(&a->base);
        cn_rec_free(&b->base);
    }
    printf("# %zu other shards, live writers, %zu records each in the WAL (unflushed), %zu rounds\n", others,
           records, rounds);
    printf("cached: first call (opens the secondaries) %.2f ms\n", first / 1000.0);
    uint64_t mo, mc;
    report("open", t_open, rounds);
    mo = t_open[rounds / 2];
    report("cached", t_cached, rounds);
    mc = t_cached[rounds / 2];
    printf("ratio open/cached (median): %.1fx\n", mc ? (double)mo / (double)mc : 0.0);
    if (h) cn_rec_free(&h->base);
    cn_download_heads_close_all();
    for (size_t i = 0; i < others; i++) cn_shard_close(&w[i]);
    cn_shard_close(&mine);
    free(t_open);
    free(t_cached);
    free(scratch);
    free(own);
    free(shards);
    return 0;
}
