/* test_shard_fsck.c: fsck finds what is wrong in a shard (a blob whose content
   does not match its key, a blob whose bytes were flipped, a record that does not
   decode, a commit whose pointer is gone, a pointer naming an uncommitted job, a
   delta blob whose base is missing) and finds a clean shard clean; a WAL corrupted in the middle fails fsck's
   open instead of losing records silently; savepoints read "as of"; checkpoints open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compress.h"
#include "errors.h"
#include "rocks.h"
#include "shard.h"

static cn_shard_t *open_writer(const char *dir) {
    cn_shard_opts_t o = {.create = true, .worker = "w1"};
    cn_shard_t *s = NULL;
    assert_int_equal(cn_shard_open(dir, &o, &s), 0);
    return s;
}

/* Opens the shard's database directly, as a bad disk or a bug would write it. */
static cn_rocks_t *open_raw(const char *dir) {
    const char *names[CN_CF_COUNT_];
    for (int i = 0; i < CN_CF_COUNT_; i++) names[i] = cn_cf_name((cn_cf_t)i);
    cn_rocks_t *db = NULL;
    assert_int_equal(cn_rocks_open(dir, names, CN_CF_COUNT_, &(cn_rocks_opts_t){0}, &db), 0);
    return db;
}

static void raw_put(cn_rocks_t *db, cn_cf_t cf, const void *k, size_t kl, const void *v, size_t vl) {
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    cn_rocks_batch_put(b, db, (int)cf, k, kl, v, vl);
    assert_int_equal(cn_rocks_write(db, b, true), 0);
    cn_rocks_batch_destroy(&b);
}

typedef struct {
    char all[4096];
    int n;
} problems_t;

static void collect(void *arg, const char *problem) {
    problems_t *p = arg;
    size_t used = strlen(p->all);
    snprintf(p->all + used, sizeof p->all - used, "%s\n", problem);
    p->n++;
}

/* A shard with a committed job: blobs, a heads pointer, commits. */
static void fill(cn_shard_t *s, uint8_t h1[32], uint8_t h2[32]) {
    cn_batch_t *b = cn_batch_new();
    cn_blob_put(b, NULL, 0, "first content", 13, h1);
    cn_blob_put(b, NULL, 0, "second content", 14, h2);
    cn_blob_put(b, "0123456789abcdefghij", 20, "a git blob", 10, NULL);
    Canopy__Commit c;
    canopy__commit__init(&c);
    c.oid = (ProtobufCBinaryData){.len = 20, .data = (uint8_t *)"0123456789abcdefghiZ"};
    c.message = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"hello"};
    cn_buf_t v = {0};
    cn_rec_pack(&c.base, &v);
    cn_batch_put(b, CN_CF_COMMITS, c.oid.data, 20, v.data, v.len);
    cn_buf_free(&v);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    Canopy__Heads h;
    canopy__heads__init(&h);
    h.project_id = 1;
    h.job_id = 10;
    h.lease_seq = 20;
    cn_rec_pack(&h.base, &v);
    uint8_t hk[16];
    cn_put_be64(hk, 1);
    cn_put_be64(hk + 8, 20);
    cn_batch_put(b, CN_CF_HEADS, hk, 16, v.data, v.len);
    cn_buf_free(&v);
    cn_job_commit_t jc = {.job_id = 10, .attempt = 1, .lease_seq = 20, .kind = "download"};
    assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
    cn_batch_destroy(&b);
}

static void test_clean_shard_is_clean(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f1");
    uint8_t h1[32], h2[32];
    fill(s, h1, h2);
    problems_t p = {{0}, 0};
    cn_fsck_report_t r;
    assert_int_equal(cn_shard_fsck(s, collect, &p, &r), 0);
    assert_int_equal(r.problems, 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(r.blobs_checked, 3);
    assert_int_equal(r.commits_checked, 1);
    assert_true(r.records >= 8); /* 3 blobs, commit, heads, job, stamp, session */
    cn_shard_close(&s);
}

static void test_fsck_finds_corrupt_values(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f2");
    uint8_t h1[32], h2[32];
    fill(s, h1, h2);
    cn_shard_close(&s);

    cn_rocks_t *db = open_raw("f2");
    /* A valid blob of other content under h1. */
    cn_buf_t v = {0};
    cn_buf_putc(&v, 0x01);
    assert_int_equal(cn_zstd_compress("other content", 13, 3, &v), 0);
    raw_put(db, CN_CF_BLOBS, h1, 32, v.data, v.len);
    /* h2's stored bytes with one byte flipped. */
    cn_buf_reset(&v);
    assert_int_equal(cn_rocks_get(db, CN_CF_BLOBS, h2, 32, &v), 0);
    v.data[v.len - 5] ^= 0x40;
    raw_put(db, CN_CF_BLOBS, h2, 32, v.data, v.len);
    cn_buf_free(&v);
    /* A commit record that is not a Commit. */
    raw_put(db, CN_CF_COMMITS, "0123456789abcdefghiZ", 20, "\xff\xff\xff", 3);
    /* A heads record naming a job that never committed. */
    Canopy__Heads h;
    canopy__heads__init(&h);
    h.project_id = 2;
    h.job_id = 99;
    h.lease_seq = 7;
    cn_rec_pack(&h.base, &v);
    uint8_t hk[16];
    cn_put_be64(hk, 2);
    cn_put_be64(hk + 8, 7);
    raw_put(db, CN_CF_HEADS, hk, 16, v.data, v.len);
    cn_buf_free(&v);
    /* The committed job's pointer is gone. */
    cn_put_be64(hk, 1);
    cn_put_be64(hk + 8, 20);
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    cn_rocks_batch_delete(b, db, CN_CF_HEADS, hk, 16);
    assert_int_equal(cn_rocks_write(db, b, true), 0);
    cn_rocks_batch_destroy(&b);
    cn_rocks_close(&db);

    s = open_writer("f2");
    problems_t p = {{0}, 0};
    cn_fsck_report_t r;
    assert_int_equal(cn_shard_fsck(s, collect, &p, &r), CN_ECORRUPT);
    /* the missing pointer twice: its commit record and its feed record name it */
    assert_int_equal(r.problems, 6);
    assert_int_equal(p.n, 6);
    assert_non_null(strstr(p.all, "lists a heads record that does not exist"));
    assert_non_null(strstr(p.all, "BLAKE2b-256 does not match its key"));
    assert_non_null(strstr(p.all, "does not decompress"));
    assert_non_null(strstr(p.all, "does not decode as Commit"));
    assert_non_null(strstr(p.all, "names job 99 lease 7, which has no commit record"));
    assert_non_null(strstr(p.all, "pointer 0 (family heads) of job 10 is missing"));
    /* Without a callback it still counts. */
    assert_int_equal(cn_shard_fsck(s, NULL, NULL, &r), CN_ECORRUPT);
    assert_int_equal(r.problems, 6);
    cn_shard_close(&s);
}

static void test_fsck_accepts_dropped_derived_pointers(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f5");
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_SCANIDX, "S-row", 5, "derived", 7);
    cn_job_commit_t jc = {.job_id = 11, .attempt = 1, .lease_seq = 21, .kind = "scan"};
    assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
    assert_int_equal(cn_shard_drop_cf(s, CN_CF_SCANIDX), 0);
    cn_fsck_report_t r;
    assert_int_equal(cn_shard_fsck(s, NULL, NULL, &r), 0);
    assert_int_equal(r.commits_checked, 1);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
}

/* Deltas are decoded through their bases: a chain that reads is clean; a delta
   whose base is missing, or whose own frame is damaged, is a problem. */
static void test_fsck_decodes_deltas_through_their_bases(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f6");
    char v1[3000], v2[3000];
    for (size_t i = 0; i < sizeof v1; i++) v1[i] = (char)('a' + (i * 7 + i / 11) % 26);
    memcpy(v2, v1, sizeof v1);
    v2[1500] = '!';
    cn_batch_t *b = cn_batch_new();
    cn_blob_put(b, "x-version-1", 11, v1, sizeof v1, NULL);
    cn_blob_put_delta(b, "x-version-2", 11, v2, sizeof v2, "x-version-1", 11, v1, sizeof v1, 0);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_fsck_report_t r;
    assert_int_equal(cn_shard_fsck(s, NULL, NULL, &r), 0);
    assert_int_equal(r.blobs_checked, 2);
    cn_blob_put_delta(b, "y-on-missing", 12, v2, sizeof v2, "y-missing-base", 14, v1, sizeof v1, 3);
    cn_blob_put_delta(b, "z-damaged", 9, v2, sizeof v2, "x-version-1", 11, v1, sizeof v1, 0);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
    cn_rocks_t *db = open_raw("f6");
    cn_buf_t v = {0};
    assert_int_equal(cn_rocks_get(db, CN_CF_BLOBS, "z-damaged", 9, &v), 0);
    v.data[v.len - 6] ^= 0x40; /* inside the frame: its checksum fails */
    raw_put(db, CN_CF_BLOBS, "z-damaged", 9, v.data, v.len);
    cn_buf_free(&v);
    cn_rocks_close(&db);
    s = open_writer("f6");
    problems_t p = {{0}, 0};
    assert_int_equal(cn_shard_fsck(s, collect, &p, &r), CN_ECORRUPT);
    assert_int_equal(r.blobs_checked, 4);
    assert_int_equal(r.problems, 2);
    char hex[2 * 14 + 1];
    cn_hex((const uint8_t *)"y-missing-base", 14, hex);
    assert_non_null(strstr(p.all, hex));
    assert_non_null(strstr(p.all, "is missing"));
    cn_hex((const uint8_t *)"z-damaged", 9, hex);
    assert_non_null(strstr(p.all, hex));
    cn_shard_close(&s);
}

static void test_savepoints_read_as_of(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f3");
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_SYNC, "a", 1, "A", 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_shard_savepoint(s, "sp-1"), 0);
    cn_batch_put(b, CN_CF_SYNC, "b", 1, "B", 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_shard_savepoint(s, "sp-2"), 0);
    cn_batch_put(b, CN_CF_SYNC, "c", 1, "C", 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_shard_savepoint(s, "sp-1"), CN_EEXIST);
    assert_int_equal(cn_shard_savepoint(s, "../x"), CN_EINVAL);
    assert_int_equal(cn_shard_savepoint(s, ""), CN_EINVAL);

    Canopy__Savepoint **sp = NULL;
    size_t n = 0;
    assert_int_equal(cn_shard_savepoints(s, &sp, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(sp[0]->name, "sp-1");
    assert_string_equal(sp[1]->name, "sp-2");
    assert_true(sp[0]->seq < sp[1]->seq);
    assert_string_equal(sp[0]->dir, "savepoints/sp-1");
    cn_shard_savepoints_free(sp, n);

    cn_shard_t *r = NULL;
    assert_int_equal(cn_shard_open_savepoint("f3", "sp-1", &r), 0);
    assert_true(cn_shard_has(r, CN_CF_SYNC, "a", 1));
    assert_false(cn_shard_has(r, CN_CF_SYNC, "b", 1));
    assert_non_null(cn_shard_info(r)->stamp);
    cn_shard_close(&r);
    assert_int_equal(cn_shard_open_savepoint("f3", "sp-2", &r), 0);
    assert_true(cn_shard_has(r, CN_CF_SYNC, "b", 1));
    assert_false(cn_shard_has(r, CN_CF_SYNC, "c", 1));
    cn_shard_close(&r);
    assert_int_equal(cn_shard_open_savepoint("f3", "nope", &r), CN_ENOTFOUND);
    problems_t p = {{0}, 0};
    int rc = cn_shard_fsck(s, collect, &p, NULL);
    if (rc) fprintf(stderr, "%s", p.all);
    assert_int_equal(rc, 0);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
    /* They survive a reopen, and readers can list them. */
    assert_int_equal(cn_shard_open("f3", &(cn_shard_opts_t){.read_only = true}, &r), 0);
    assert_int_equal(cn_shard_savepoints(r, &sp, &n), 0);
    assert_int_equal(n, 2);
    cn_shard_savepoints_free(sp, n);
    assert_int_equal(cn_shard_savepoint(r, "sp-3"), CN_EPERM);
    cn_shard_close(&r);
}

static void test_checkpoint_opens_read_only(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("f4");
    uint8_t h1[32], h2[32];
    fill(s, h1, h2);
    assert_int_equal(cn_shard_checkpoint(s, "f4.copy"), 0);
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_PROJECTS, "late", 4, "x", 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_batch_destroy(&b);
    cn_shard_t *r = NULL;
    assert_int_equal(cn_shard_open("f4.copy", &(cn_shard_opts_t){.read_only = true}, &r), 0);
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(r, h1, 32, 100, &out), 0);
    assert_memory_equal(out.data, "first content", 13);
    cn_buf_free(&out);
    assert_false(cn_shard_has(r, CN_CF_PROJECTS, "late", 4));
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(r, 10, 0, &jc), 0);
    cn_rec_free(&jc->base);
    assert_int_equal(cn_shard_fsck(r, NULL, NULL, NULL), 0);
    cn_shard_close(&r);
    /* A checkpoint is a full shard: a writer can open it too. */
    r = open_writer("f4.copy");
    cn_shard_close(&r);
    cn_shard_close(&s);
}

/* A child writes synced batches and dies without closing (kill -9 as far as the
   WAL is concerned); the parent has not touched RocksDB, so the fork is safe. */
static void write_wal_and_die(const char *dir) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cn_shard_t *s = open_writer(dir);
        cn_batch_t *b = cn_batch_new();
        char val[200];
        memset(val, 'v', sizeof val);
        for (uint64_t i = 0; i < 400; i++) {
            uint8_t key[8];
            cn_put_be64(key, i);
            cn_batch_put(b, CN_CF_COMMITS, key, 8, val, sizeof val);
            if (i % 20 == 19 && cn_shard_append(s, b, true) != 0) _exit(1);
        }
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Flips bytes in the middle of the newest WAL file. */
static void corrupt_wal(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "f=$(ls -t %s/*.log | head -1) && n=$(stat -c %%s \"$f\") && "
             "printf 'XXXXXXXXXXXXXXXX' | dd of=\"$f\" bs=1 seek=$((n / 2)) conv=notrunc status=none",
             dir);
    assert_int_equal(system(cmd), 0);
}

static void test_fsck_open_refuses_a_corrupt_wal(void **state) {
    (void)state;
    write_wal_and_die("walshard");
    corrupt_wal("walshard");
    /* fsck's paranoid open fails instead of silently dropping the records after
       the damage (RocksDB's default recovery cuts the log there). */
    cn_shard_opts_t strict = {.read_only = true, .paranoid = true};
    cn_shard_t *s = NULL;
    assert_true(cn_shard_open("walshard", &strict, &s) < 0);
    assert_null(s);
    cn_shard_opts_t lax = {.read_only = true};
    assert_int_equal(cn_shard_open("walshard", &lax, &s), 0);
    cn_iter_t *it = NULL;
    assert_int_equal(cn_iter_new(s, CN_CF_COMMITS, NULL, 0, &it), 0);
    uint64_t n = 0;
    for (; cn_iter_valid(it); cn_iter_next(it)) n++;
    assert_true(n < 400); /* what the lax open lost is what fsck must not hide */
    cn_iter_destroy(&it);
    cn_shard_close(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_shard_is_clean),
        cmocka_unit_test(test_fsck_open_refuses_a_corrupt_wal),
        cmocka_unit_test(test_fsck_finds_corrupt_values),
        cmocka_unit_test(test_fsck_accepts_dropped_derived_pointers),
        cmocka_unit_test(test_fsck_decodes_deltas_through_their_bases),
        cmocka_unit_test(test_savepoints_read_as_of),
        cmocka_unit_test(test_checkpoint_opens_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
