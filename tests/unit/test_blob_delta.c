/* test_blob_delta.c: file contents stored as zstd deltas against an earlier
   version (storage/LAYOUT.md, blobs), on real shards: a chain of versions reads
   back exactly, depths are capped, deltas are far smaller than whole frames,
   missing or corrupt bases and cycles are CN_ECORRUPT naming the key, long
   merged chains still read, two shards that chose opposite bases merge into a
   store where both files read back, and understated depths are raised on append
   so that even mirror-image mistakes merge without a cycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "compress.h"
#include "errors.h"
#include "hash.h"
#include "merge.h"
#include "repo.h"
#include "shard_fx.h"
#include "shard_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NVER 20
#define FILE_LEN 100000

static void oid(uint8_t out[20], const char *seed, int i) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s%d", seed, i);
    uint8_t h[32];
    cn_blake2b(buf, strlen(buf), h);
    memcpy(out, h, 20);
}

static uint64_t rnd(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Source-like text: lines of words drawn at random, so it compresses like code
   (about 3-4x), not like a repeated pattern. */
static void make_text(char *p, size_t n, uint64_t seed) {
    static const char *const words[] = {"int",  "return", "if",   "(",      ")",  "{",     "}",     "buf",
                                        "len",  "size_t", "char", "const",  "*",  "=",     "==",    "0;",
                                        "rc",   "err",    "free", "static", "->", "data",  "while", "for",
                                        "next", "node",   "key",  "value",  "++", "break", "case",  "struct"};
    size_t i = 0;
    while (i < n) {
        const char *w = words[rnd(&seed) % (sizeof words / sizeof words[0])];
        for (size_t j = 0; w[j] && i < n; j++) p[i++] = w[j];
        if (i < n) p[i++] = rnd(&seed) % 9 == 0 ? '\n' : ' ';
    }
}

/* A small edit of the previous version: a few bytes in two places. */
static void edit(char *p, size_t n, uint64_t *seed) {
    for (int k = 0; k < 2; k++) {
        size_t at = rnd(seed) % (n - 16);
        for (int j = 0; j < 6; j++) p[at + j] = (char)('a' + rnd(seed) % 26);
    }
}

static void assert_content(cn_shard_t *s, const uint8_t id[20], const void *want, size_t n) {
    cn_buf_t out = {0};
    int rc = cn_repo_get_content(s, id, 1u << 20, &out, NULL);
    if (rc) fprintf(stderr, "get: %s\n", cn_err_detail());
    assert_int_equal(rc, 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    cn_buf_free(&out);
}

static size_t stored_len(cn_shard_t *s, const uint8_t id[20]) {
    cn_buf_t v = {0};
    assert_int_equal(cn_shard_get(s, CN_CF_BLOBS, id, 20, &v), 0);
    size_t n = v.len;
    cn_buf_free(&v);
    return n;
}

static void test_chain_of_versions_reads_back_small_and_capped(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s");
    char *ver[NVER];
    uint8_t id[NVER][20];
    uint64_t seed = 42;
    size_t delta_bytes = 0, whole_bytes = 0;
    for (int i = 0; i < NVER; i++) {
        ver[i] = cn_xmalloc(FILE_LEN);
        oid(id[i], "v", i);
        cn_batch_t *b = cn_batch_new();
        unsigned d = 99;
        if (i == 0) {
            make_text(ver[0], FILE_LEN, 7);
            cn_repo_put_content(b, id[0], ver[0], FILE_LEN);
        } else {
            memcpy(ver[i], ver[i - 1], FILE_LEN);
            edit(ver[i], FILE_LEN, &seed);
            assert_int_equal(cn_repo_content_depth(s, id[i - 1], &d), 0);
            cn_repo_put_content_delta(b, id[i], ver[i], FILE_LEN, id[i - 1], ver[i - 1], FILE_LEN, d);
        }
        assert_int_equal(cn_shard_append(s, b, false), 0);
        cn_batch_destroy(&b);
        /* 1..16, then whole again (v17), then 1, 2 */
        unsigned want = i <= CN_BLOB_MAX_DEPTH ? (unsigned)i : (unsigned)(i - CN_BLOB_MAX_DEPTH - 1);
        assert_int_equal(cn_repo_content_depth(s, id[i], &d), 0);
        assert_int_equal(d, want);
        assert_int_equal(cn_blob_depth(s, id[i], 20, &d), 0);
        assert_int_equal(d, want);
        if (want > 0) {
            cn_buf_t whole = {0};
            assert_int_equal(cn_zstd_compress(ver[i], FILE_LEN, CN_ZSTD_LEVEL, &whole), 0);
            whole_bytes += whole.len;
            delta_bytes += stored_len(s, id[i]);
            cn_buf_free(&whole);
        }
    }
    fprintf(stderr, "18 versions: %zu bytes as deltas, %zu as whole frames\n", delta_bytes, whole_bytes);
    assert_true(delta_bytes * 10 < whole_bytes);
    for (int i = 0; i < NVER; i++) assert_content(s, id[i], ver[i], FILE_LEN);
    /* max bounds the result, not the bases */
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, id[16], 20, FILE_LEN - 1, &out), CN_ETOOBIG);
    uint8_t small[20];
    oid(small, "small", 0);
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_content_delta(b, small, ver[15], 1000, id[15], ver[15], FILE_LEN, 15);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_blob_get(s, small, 20, 1000, &out), 0);
    assert_int_equal(out.len, 1000);
    assert_memory_equal(out.data, ver[15], 1000);
    cn_buf_free(&out);
    /* unrelated bytes gain nothing from a base: stored whole */
    uint8_t noise_id[20], *noise = cn_xmalloc(FILE_LEN);
    oid(noise_id, "noise", 0);
    for (size_t i = 0; i < FILE_LEN; i++) noise[i] = (uint8_t)(rnd(&seed) >> 24);
    cn_repo_put_content_delta(b, noise_id, noise, FILE_LEN, id[19], ver[19], FILE_LEN, 2);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    unsigned d = 9;
    assert_int_equal(cn_repo_content_depth(s, noise_id, &d), 0);
    assert_int_equal(d, 0);
    assert_content(s, noise_id, noise, FILE_LEN);
    free(noise);
    cn_batch_destroy(&b);
    for (int i = 0; i < NVER; i++) free(ver[i]);
    cn_shard_close(&s);
}

static void assert_corrupt_naming(cn_shard_t *s, const uint8_t key[20], const uint8_t named[20],
                                  const char *what) {
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, key, 20, 1u << 20, &out), CN_ECORRUPT);
    assert_int_equal(out.len, 0);
    char hex[41];
    cn_hex(named, 20, hex);
    const char *detail = cn_err_detail();
    if (!strstr(detail, hex) || !strstr(detail, what)) fprintf(stderr, "detail: %s\n", detail);
    assert_non_null(strstr(detail, hex));
    assert_non_null(strstr(detail, what));
    cn_buf_free(&out);
}

static void test_missing_or_corrupt_base_is_corrupt_naming_it(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s");
    char a[4000], c[4000];
    make_text(a, sizeof a, 1);
    memcpy(c, a, sizeof a);
    c[100] = '#';
    uint8_t missing[20], x[20], bad[20], y[20], other[20], z[20];
    oid(missing, "missing", 0);
    oid(x, "x", 0);
    oid(bad, "bad", 0);
    oid(y, "y", 0);
    oid(other, "other", 0);
    oid(z, "z", 0);
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_content_delta(b, x, c, sizeof c, missing, a, sizeof a, 0);
    cn_batch_put(b, CN_CF_BLOBS, bad, 20, "\x02not a zstd frame", 17);
    cn_repo_put_content_delta(b, y, c, sizeof c, bad, a, sizeof a, 0);
    cn_repo_put_content(b, other, "other bytes", 11); /* a base whose bytes are not the ref */
    cn_repo_put_content_delta(b, z, c, sizeof c, other, a, sizeof a, 0);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    assert_corrupt_naming(s, x, missing, "missing");
    assert_corrupt_naming(s, y, bad, "does not decode");
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, z, 20, 1u << 20, &out), CN_ECORRUPT); /* wrong prefix: checksum */
    assert_int_equal(out.len, 0);
    cn_buf_free(&out);
    unsigned d = 0;
    assert_int_equal(cn_blob_depth(s, missing, 20, &d), CN_ENOTFOUND);
    assert_int_equal(cn_blob_depth(s, x, 20, &d), 0);
    assert_int_equal(d, 1);
    cn_shard_close(&s);
}

/* A raw delta value: depth, base key, and the frame of data against ref. */
static void raw_delta(cn_batch_t *b, const uint8_t key[20], unsigned depth, const uint8_t base[20],
                      const void *data, size_t n, const void *ref, size_t rn) {
    cn_buf_t v = {0};
    cn_buf_putc(&v, CN_BLOB_DELTA);
    cn_buf_putc(&v, (uint8_t)depth);
    cn_buf_putc(&v, 20);
    cn_buf_append(&v, base, 20);
    assert_int_equal(cn_zstd_compress_ref(data, n, 3, ref, rn, &v), 0);
    cn_batch_put(b, CN_CF_BLOBS, key, 20, v.data, v.len);
    cn_buf_free(&v);
}

static void test_cycles_and_overlong_chains_are_corrupt_and_merged_chains_read(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s");
    uint8_t x[20], y[20], k[70][20];
    oid(x, "x", 0);
    oid(y, "y", 0);
    cn_batch_t *b = cn_batch_new();
    raw_delta(b, x, 1, y, "xx", 2, "yy", 2);
    raw_delta(b, y, 1, x, "yy", 2, "xx", 2);
    /* k0 whole, k1..k69 each a delta on the one before (depth bytes all 1, as a
       merge of shards that chose different bases may leave them) */
    char ver[70][32];
    for (int i = 0; i < 70; i++) {
        oid(k[i], "k", i);
        snprintf(ver[i], sizeof ver[i], "version %d of a file", i);
        if (i == 0)
            cn_repo_put_content(b, k[0], ver[0], strlen(ver[0]));
        else
            raw_delta(b, k[i], 1, k[i - 1], ver[i], strlen(ver[i]), ver[i - 1], strlen(ver[i - 1]));
    }
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    uint64_t t0 = cn_mono_ms();
    assert_corrupt_naming(s, x, y, "cycle");
    assert_corrupt_naming(s, y, x, "cycle");
    assert_true(cn_mono_ms() - t0 < 5000);
    /* 40 links (over CN_BLOB_MAX_DEPTH) read; 65 and more do not */
    assert_content(s, k[40], ver[40], strlen(ver[40]));
    assert_content(s, k[64], ver[64], strlen(ver[64]));
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, k[65], 20, 1024, &out), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "longer than 64"));
    assert_int_equal(cn_blob_get(s, k[69], 20, 1024, &out), CN_ECORRUPT);
    assert_int_equal(out.len, 0);
    cn_buf_free(&out);
    cn_shard_close(&s);
}

static void test_depth_of_missing_garbage_and_sizeless_contents(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s");
    uint8_t big[20], junk[20], none[20], shortd[20];
    oid(big, "big", 0);
    oid(junk, "junk", 0);
    oid(none, "none", 0);
    oid(shortd, "short", 0);
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_content_info(b, big, 5u << 20);
    cn_batch_put(b, CN_CF_BLOBS, junk, 20, "\x07junk", 5);
    cn_batch_put(b, CN_CF_BLOBS, shortd, 20,
                 "\x03\x01\x14"
                 "abc",
                 6); /* base key runs past the value */
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    unsigned d = 7;
    assert_int_equal(cn_repo_content_depth(s, big, &d), CN_ETOOBIG);
    assert_int_equal(cn_repo_content_depth(s, none, &d), CN_ENOTFOUND);
    assert_int_equal(cn_repo_content_depth(s, junk, &d), CN_ECORRUPT);
    assert_int_equal(cn_blob_depth(s, shortd, 20, &d), CN_ECORRUPT);
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, shortd, 20, 1024, &out), CN_ECORRUPT);
    assert_int_equal(d, 7);
    cn_buf_free(&out);
    cn_shard_close(&s);
}

/* The window and the match tables cover ref + src: a 1 MiB incompressible file
   with one byte changed costs a few bytes, also at level 1 (whose own window is
   512 KiB and whose tables index 64 KiB of a prefix). */
static void test_compress_ref_window_and_limits(void **state) {
    (void)state;
    size_t n = 1u << 20;
    uint8_t *ref = cn_xmalloc(n), *src = cn_xmalloc(n);
    uint64_t seed = 9;
    for (size_t i = 0; i < n; i++) ref[i] = (uint8_t)rnd(&seed);
    memcpy(src, ref, n);
    src[n / 2] ^= 0x55;
    for (int level = 1; level <= 3; level += 2) {
        cn_buf_t f = {0}, out = {0};
        assert_int_equal(cn_zstd_compress_ref(src, n, level, ref, n, &f), 0);
        assert_true(f.len < 2000);
        assert_int_equal(cn_zstd_decompress_ref(f.data, f.len, n, ref, n, &out), 0);
        assert_int_equal(out.len, n);
        assert_memory_equal(out.data, src, n);
        cn_buf_reset(&out);
        assert_int_equal(cn_zstd_decompress_ref(f.data, f.len, n - 1, ref, n, &out), CN_ETOOBIG);
        uint8_t *other = cn_xcalloc(n, 1); /* another ref: the checksum says so */
        assert_int_equal(cn_zstd_decompress_ref(f.data, f.len, n, other, n, &out), CN_ECORRUPT);
        free(other);
        assert_int_equal(cn_zstd_decompress(f.data, f.len, n, &out), CN_ECORRUPT); /* no ref */
        /* the plain path after a ref call references nothing */
        cn_buf_reset(&f);
        assert_int_equal(cn_zstd_compress(src, 1000, level, &f), 0);
        assert_int_equal(cn_zstd_decompress(f.data, f.len, 1000, &out), 0);
        assert_memory_equal(out.data, src, 1000);
        cn_buf_free(&f);
        cn_buf_free(&out);
    }
    cn_buf_t f = {0};
    uint8_t *huge = cn_xcalloc(CN_ZSTD_REF_MAX + 1u, 1);
    assert_int_equal(cn_zstd_compress_ref(src, 10, 1, huge, CN_ZSTD_REF_MAX + 1u, &f), CN_EINVAL);
    assert_int_equal(cn_zstd_decompress_ref(src, 10, 10, huge, CN_ZSTD_REF_MAX + 1u, &f), CN_EINVAL);
    assert_int_equal(f.len, 0);
    free(huge);
    free(ref);
    free(src);
}

static void merge(const char *const *shards, size_t n) {
    cn_merge_opts_t o = {.data_dir = ".", .shards = shards, .nshards = n};
    cn_merge_report_t *r = NULL;
    int rc = cn_merge_run(&o, &r);
    if (rc) fprintf(stderr, "merge: %s\n", cn_err_detail());
    assert_int_equal(rc, 0);
    cn_merge_report_free(&r);
}

/* Shard a: z whole, y on z, x on y. Shard b, the same bytes the other way:
   x whole, y on x, z on y. The merged store keeps whole x and z and a depth-1 y:
   no cycle, every file reads, fsck is clean. Merged in one run, and again with a
   first run that saw only shard a. */
static void test_opposite_bases_merge_without_a_cycle(void **state) {
    (void)state;
    char v[3][5000];
    uint8_t id[3][20];
    for (int i = 0; i < 3; i++) {
        make_text(v[i], sizeof v[i], 3);
        v[i][1000 * (i + 1)] = (char)('0' + i);
        oid(id[i], "f", i);
    }
    const char *dirs[] = {"shards/a", "shards/b"};
    for (int sh = 0; sh < 2; sh++) {
        cn_shard_t *s = open_writer(dirs[sh]);
        int o[3] = {2, 1, 0}; /* a: z, y, x */
        if (sh == 1) o[0] = 0, o[2] = 2;
        cn_batch_t *b = cn_batch_new();
        cn_repo_put_content(b, id[o[0]], v[o[0]], sizeof v[0]);
        assert_int_equal(cn_shard_append(s, b, false), 0);
        for (int j = 1; j < 3; j++) {
            unsigned d = 0;
            assert_int_equal(cn_repo_content_depth(s, id[o[j - 1]], &d), 0);
            cn_repo_put_content_delta(b, id[o[j]], v[o[j]], sizeof v[0], id[o[j - 1]], v[o[j - 1]],
                                      sizeof v[0], d);
            assert_int_equal(cn_shard_append(s, b, false), 0);
        }
        cn_batch_destroy(&b);
        cn_shard_close(&s);
    }
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            assert_int_equal(cn_rm_rf("merged"), 0);
            merge(dirs, 1);
        }
        merge(dirs, 2);
        cn_shard_t *m = NULL;
        assert_int_equal(cn_merge_open(".", &m), 0);
        for (int i = 0; i < 3; i++) assert_content(m, id[i], v[i], sizeof v[i]);
        unsigned d = 9;
        assert_int_equal(cn_repo_content_depth(m, id[1], &d), 0);
        assert_int_equal(d, 1);
        assert_int_equal(cn_repo_content_depth(m, id[0], &d), 0);
        assert_int_equal(d, round == 0 ? 0 : 2); /* round 1: shard a's x (on y) was merged first */
        cn_fsck_report_t r;
        assert_int_equal(cn_shard_fsck(m, NULL, NULL, &r), 0);
        cn_shard_close(&m);
    }
}

/* Stores prefix0 (whole), prefix1..prefix4 each a delta on the one before, and
   last (bytes lv) a delta on prefix4: depth 5. */
static void put_chain(cn_shard_t *s, const char *prefix, const uint8_t last[20], const char *lv,
                      char (*v)[2000]) {
    cn_batch_t *b = cn_batch_new();
    uint8_t id[20], prev[20];
    for (int i = 0; i <= 5; i++) {
        if (i < 5)
            oid(id, prefix, i);
        else
            memcpy(id, last, 20);
        const char *bytes = i < 5 ? v[i] : lv;
        if (i == 0)
            cn_repo_put_content(b, id, bytes, 2000);
        else
            cn_repo_put_content_delta(b, id, bytes, 2000, prev, v[i - 1], 2000, (unsigned)i - 1);
        memcpy(prev, id, 20);
    }
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
}

/* A writer that counts depths from its own queue understates them when the base
   was already stored with another encoding (its own put of the base is dropped).
   cn_shard_append raises them from the stored base (and from a base in the same
   batch), so that two shards that each did it in mirror image still merge without
   a cycle: shard a holds y at depth 5 and x "at depth 1" on y, shard b holds x at
   depth 5 and y "at depth 1" on x. */
static void test_understated_depths_are_raised_so_a_merge_has_no_cycle(void **state) {
    (void)state;
    static char v[9][2000]; /* 0..4 the chains, 5 x, 6 y, 7 p, 8 q */
    for (int i = 0; i < 9; i++) {
        make_text(v[i], sizeof v[i], 11);
        memcpy(v[i] + 100 * i, "edit", 4);
    }
    uint8_t x[20], y[20], p[20], q[20];
    oid(x, "x", 0);
    oid(y, "y", 0);
    oid(p, "p", 0);
    oid(q, "q", 0);
    const char *dirs[] = {"shards/a", "shards/b"};
    for (int sh = 0; sh < 2; sh++) {
        cn_shard_t *s = open_writer(dirs[sh]);
        const uint8_t *deep = sh == 0 ? y : x, *other = sh == 0 ? x : y;
        const char *deep_v = sh == 0 ? v[6] : v[5], *other_v = sh == 0 ? v[5] : v[6];
        put_chain(s, sh == 0 ? "a" : "b", deep, deep_v, v);
        cn_batch_t *b = cn_batch_new();
        cn_repo_put_content(b, deep, deep_v, 2000); /* dropped: stored already */
        cn_repo_put_content_delta(b, other, other_v, 2000, deep, deep_v, 2000, 0);
        if (sh == 0) { /* a base raised in the same batch raises its delta */
            cn_repo_put_content_delta(b, p, v[7], 2000, other, other_v, 2000, 1);
            cn_repo_put_content_delta(b, q, v[8], 2000, p, v[7], 2000, 2);
        }
        assert_int_equal(cn_shard_append(s, b, false), 0);
        cn_batch_destroy(&b);
        unsigned d = 0;
        assert_int_equal(cn_blob_depth(s, other, 20, &d), 0);
        assert_int_equal(d, 6);
        if (sh == 0) {
            assert_int_equal(cn_blob_depth(s, p, 20, &d), 0);
            assert_int_equal(d, 7);
            assert_int_equal(cn_blob_depth(s, q, 20, &d), 0);
            assert_int_equal(d, 8);
            assert_content(s, q, v[8], 2000);
        }
        assert_content(s, other, other_v, 2000);
        cn_shard_close(&s);
    }
    merge(dirs, 2);
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(".", &m), 0);
    assert_content(m, x, v[5], 2000);
    assert_content(m, y, v[6], 2000);
    assert_content(m, q, v[8], 2000);
    cn_fsck_report_t r;
    assert_int_equal(cn_shard_fsck(m, NULL, NULL, &r), 0);
    cn_shard_close(&m);
}

/* A delta merged after its base, when the merged base (from an earlier run and
   another shard) is deeper than the delta says, is rebuilt whole: otherwise its
   chain in the merged store is longer than its depth, and grows merge by merge.
   Shard b (merged first): x whole, y on x, z on y (depth 2). Shard a: z whole,
   then w on z (depth 1). */
static void test_delta_on_a_deeper_merged_base_is_rebuilt_whole(void **state) {
    (void)state;
    static char v[4][3000];
    uint8_t id[4][20]; /* x y z w */
    for (int i = 0; i < 4; i++) {
        make_text(v[i], sizeof v[i], 5);
        memcpy(v[i] + 500 * (i + 1), "edit", 4);
        oid(id[i], "g", i);
    }
    const char *dirs[] = {"shards/b", "shards/a"};
    cn_shard_t *s = open_writer(dirs[0]);
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_content(b, id[0], v[0], sizeof v[0]);
    cn_repo_put_content_delta(b, id[1], v[1], sizeof v[1], id[0], v[0], sizeof v[0], 0);
    cn_repo_put_content_delta(b, id[2], v[2], sizeof v[2], id[1], v[1], sizeof v[1], 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_shard_close(&s);
    merge(dirs, 1);
    s = open_writer(dirs[1]);
    cn_repo_put_content(b, id[2], v[2], sizeof v[2]);
    cn_repo_put_content_delta(b, id[3], v[3], sizeof v[3], id[2], v[2], sizeof v[2], 0);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    unsigned d = 9;
    assert_int_equal(cn_blob_depth(s, id[3], 20, &d), 0);
    assert_int_equal(d, 1);
    cn_shard_close(&s);
    merge(dirs, 2);
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(".", &m), 0);
    for (int i = 0; i < 4; i++) assert_content(m, id[i], v[i], sizeof v[i]);
    assert_int_equal(cn_blob_depth(m, id[2], 20, &d), 0);
    assert_int_equal(d, 2); /* z stays as the first merge took it */
    assert_int_equal(cn_blob_depth(m, id[3], 20, &d), 0);
    assert_int_equal(d, 0); /* w on a depth-2 z would be a 3-link chain saying 1 */
    cn_shard_close(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_of_versions_reads_back_small_and_capped, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_missing_or_corrupt_base_is_corrupt_naming_it, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_cycles_and_overlong_chains_are_corrupt_and_merged_chains_read,
                                        in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_depth_of_missing_garbage_and_sizeless_contents, in_dir, out_dir),
        cmocka_unit_test(test_compress_ref_window_and_limits),
        cmocka_unit_test_setup_teardown(test_opposite_bases_merge_without_a_cycle, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_understated_depths_are_raised_so_a_merge_has_no_cycle, in_dir,
                                        out_dir),
        cmocka_unit_test_setup_teardown(test_delta_on_a_deeper_merged_base_is_rebuilt_whole, in_dir, out_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
