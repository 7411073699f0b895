/* bench_shard.c: appends N commit-like records through the shard API (batches of
   1,000 with a synced write each) and prints records/s, for tests/bench/shard.sh
   to compare with db_bench fillseq of the same key and value sizes.
   Usage: bench_shard DIR [N] [KEY_SIZE] [VALUE_SIZE] [FAMILY: commits|sync]
   Records: keys of KEY_SIZE bytes, a big-endian counter then hash-like bytes (so
   they arrive in key order, as fillseq's do); values of VALUE_SIZE bytes on
   average (VALUE_SIZE/2 .. 3*VALUE_SIZE/2), half text, half hash-like bytes, like
   a packed Commit (oids, author, message). Then measures the append-only
   existence check both ways: one batched multi_get per 1,000 keys against one
   get per key (half the keys exist, half do not). */
#include "errors.h"
#include "shard_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void make_value(uint8_t *v, size_t n, uint64_t i) {
    static const char text[] = "Fix the frobnicator when the widget count overflows; see issue #1234. "
                               "Author: A. Person <a.person@example.org> ";
    size_t half = n / 2;
    for (size_t k = 0; k < half; k++) v[k] = (uint8_t)text[(k + i) % (sizeof text - 1)];
    for (size_t k = half; k < n; k += 8) {
        uint64_t r = next_rand();
        memcpy(v + k, &r, CN_MIN(8, n - k));
    }
}

/* Existence checks of n keys (half stored, half new), batched and one by one. */
static void bench_checks(cn_shard_t *s, cn_cf_t cf, size_t ks) {
    enum { N = 200000 };
    uint8_t *keys = cn_xmalloc((size_t)N * ks);
    cn_iter_t *it = NULL;
    size_t n = 0, kl = 0;
    cn_iter_new(s, cf, NULL, 0, &it);
    for (uint64_t i = 0; cn_iter_valid(it) && n < N / 2; cn_iter_next(it), i++) {
        if (i % 7) continue; /* spread over the whole family */
        memcpy(keys + n++ * ks, cn_iter_key(it, &kl), ks);
    }
    cn_iter_destroy(&it);
    for (; n < N; n++)
        for (size_t k = 0; k < ks; k++) keys[n * ks + k] = (uint8_t)next_rand();
    const void *ptrs[BATCH];
    size_t lens[BATCH];
    bool found[BATCH];
    size_t hits = 0;
    uint64_t t0 = cn_mono_us();
    for (size_t i = 0; i + BATCH <= n; i += BATCH) {
        for (size_t j = 0; j < BATCH; j++) ptrs[j] = keys + ((i + j) * 7919 % n) * ks, lens[j] = ks;
        cn_rocks_multi_get(s->db, (int)cf, ptrs, lens, BATCH, found, NULL);
        for (size_t j = 0; j < BATCH; j++) hits += found[j];
    }
    uint64_t t1 = cn_mono_us();
    for (size_t i = 0; i < n; i++)
        hits += cn_rocks_get(s->db, (int)cf, keys + (i * 7919 % n) * ks, ks, NULL) == 0;
    uint64_t t2 = cn_mono_us();
    printf("existence checks: multi_get of %d keys %.0f keys/s, one get per key %.0f keys/s (%zu hits)\n",
           BATCH, (double)n / ((double)(t1 - t0) / 1e6), (double)n / ((double)(t2 - t1) / 1e6), hits);
    free(keys);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_shard DIR [N] [KEY_SIZE] [VALUE_SIZE] [commits|sync]\n");
        return 2;
    }
    uint64_t n = 2000000, ks = 32, vs = 200;
    if (argc > 2 && !cn_parse_u64(argv[2], &n)) return 2;
    if (argc > 3 && (!cn_parse_u64(argv[3], &ks) || ks < 8 || ks > 256)) return 2;
    if (argc > 4 && (!cn_parse_u64(argv[4], &vs) || vs < 2 || vs > 65536)) return 2;
    cn_cf_t cf = argc > 5 && strcmp(argv[5], "sync") == 0 ? CN_CF_SYNC : CN_CF_COMMITS;
    cn_shard_t *s = NULL;
    cn_shard_opts_t o = {.create = true, .worker = "bench"};
    if (cn_shard_open(argv[1], &o, &s) < 0) {
        fprintf(stderr, "bench_shard: %s\n", cn_err_detail());
        return 1;
    }
    cn_batch_t *b = cn_batch_new();
    uint8_t key[256], val[3 * 65536 / 2 + 8];
    uint64_t bytes = 0;
    uint64_t t0 = cn_mono_us();
    for (uint64_t i = 0; i < n; i++) {
        cn_put_be64(key, i);
        for (size_t k = 8; k < ks; k += 8) {
            uint64_t r = next_rand();
            memcpy(key + k, &r, CN_MIN(8, ks - k));
        }
        size_t vl = vs / 2 + (size_t)(next_rand() % (vs + 1));
        make_value(val, vl, i);
        cn_batch_put(b, cf, key, ks, val, vl);
        bytes += ks + vl;
        if (cn_batch_count(b) == BATCH || i + 1 == n) {
            if (cn_shard_append(s, b, true) < 0) {
                fprintf(stderr, "bench_shard: append: %s\n", cn_err_detail());
                return 1;
            }
        }
    }
    uint64_t us = cn_mono_us() - t0;
    double secs = (double)us / 1e6;
    printf("bench_shard: %llu records (%llu B keys, ~%llu B values, family %s) in %.3f s: %.0f records/s, "
           "%.1f MB/s\n",
           (unsigned long long)n, (unsigned long long)ks, (unsigned long long)vs, cn_cf_name(cf), secs,
           (double)n / secs, (double)bytes / secs / 1e6);
    if (getenv("BENCH_CHECKS")) bench_checks(s, cf, ks);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
    return 0;
}
