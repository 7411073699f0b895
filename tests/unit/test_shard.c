/* test_shard.c: the shard store on real RocksDB: one writer at a time (in this
   process and from a forked child) while readers open alongside, the append-only
   rule, a kill -9 between data batches and a commit record, the stamp and the
   session log, blobs, job commit lookups and dropping derived families, and
   the change feed (one record per append, no gaps, older shards get it). fsck, savepoints and checkpoints:
   test_shard_fsck.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "rocks.h"
#include "shard.h"
#include "shard_int.h"

static cn_shard_t *open_writer(const char *dir) {
    cn_shard_opts_t o = {.create = true, .worker = "w1"};
    cn_shard_t *s = NULL;
    int rc = cn_shard_open(dir, &o, &s);
    if (rc) fprintf(stderr, "open %s: %s\n", dir, cn_err_detail());
    assert_int_equal(rc, 0);
    return s;
}

static cn_shard_t *open_reader(const char *dir) {
    cn_shard_opts_t o = {.read_only = true};
    cn_shard_t *s = NULL;
    assert_int_equal(cn_shard_open(dir, &o, &s), 0);
    return s;
}

static int put1(cn_shard_t *s, cn_cf_t cf, const char *k, const char *v) {
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, cf, k, strlen(k), v, strlen(v));
    int rc = cn_shard_append(s, b, false);
    cn_batch_destroy(&b);
    return rc;
}

static void assert_get(cn_shard_t *s, cn_cf_t cf, const char *k, const char *want) {
    cn_buf_t v = {0};
    int rc = cn_shard_get(s, cf, k, strlen(k), &v);
    if (want) {
        assert_int_equal(rc, 0);
        assert_string_equal(cn_buf_cstr(&v), want);
    } else {
        assert_int_equal(rc, CN_ENOTFOUND);
    }
    cn_buf_free(&v);
}

static void test_second_writer_refused_in_process_and_from_child(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s1");
    cn_shard_opts_t o = {.create = true};
    cn_shard_t *s2 = NULL;
    assert_int_equal(cn_shard_open("s1", &o, &s2), CN_ELOCKED);
    assert_null(s2);
    char want[96];
    snprintf(want, sizeof want, "shard s1 is locked by pid %ld", (long)getpid());
    assert_non_null(strstr(cn_err_detail(), want));
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        cn_shard_t *x = NULL;
        int rc = cn_shard_open("s1", &o, &x);
        _exit(rc == CN_ELOCKED && strstr(cn_err_detail(), want) ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cn_shard_close(&s);
    assert_null(s);
    s = open_writer("s1");
    cn_shard_close(&s);
}

static void test_read_only_open_while_writer_is_active(void **state) {
    (void)state;
    cn_shard_t *w = open_writer("s2");
    assert_int_equal(put1(w, CN_CF_PROJECTS, "p1", "one"), 0);
    cn_shard_t *r = open_reader("s2");
    assert_get(r, CN_CF_PROJECTS, "p1", "one");
    assert_int_equal(put1(r, CN_CF_PROJECTS, "p2", "two"), CN_EPERM);
    assert_non_null(cn_shard_info(r)->stamp);
    assert_false(cn_shard_info(r)->unclean_last_session);
    cn_shard_close(&r);
    cn_shard_close(&w);
    cn_shard_opts_t o = {.read_only = true};
    assert_int_equal(cn_shard_open("missing", &o, &r), CN_ENOTFOUND);
    o = (cn_shard_opts_t){0}; /* a writer without create does not make one */
    assert_int_equal(cn_shard_open("missing", &o, &r), CN_ENOTFOUND);
}

static void test_append_only_conflict_refused_same_value_noop(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s3");
    assert_int_equal(put1(s, CN_CF_HEADS, "k", "v1"), 0);
    uint64_t seq = cn_shard_seq(s);
    assert_int_equal(put1(s, CN_CF_HEADS, "k", "v1"), 0); /* same value: dropped */
    assert_int_equal(cn_shard_seq(s), seq);

    /* A different value refuses the whole batch: "other" is not written either. */
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_HEADS, "other", 5, "x", 1);
    cn_batch_put(b, CN_CF_HEADS, "k", 1, "v2", 2);
    assert_int_equal(cn_batch_count(b), 2);
    assert_int_equal(cn_batch_bytes(b), 5 + 1 + 1 + 2);
    assert_int_equal(cn_shard_append(s, b, true), CN_ECONFLICT);
    assert_non_null(strstr(cn_err_detail(), "heads"));
    assert_int_equal(cn_batch_count(b), 2); /* kept for the caller */
    assert_get(s, CN_CF_HEADS, "k", "v1");
    assert_get(s, CN_CF_HEADS, "other", NULL);
    cn_batch_clear(b);

    /* Twice in one batch: same value once, different value refused. */
    cn_batch_put(b, CN_CF_PROJECTS, "d", 1, "same", 4);
    cn_batch_put(b, CN_CF_PROJECTS, "d", 1, "same", 4);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_batch_count(b), 0);
    cn_batch_put(b, CN_CF_PROJECTS, "e", 1, "one", 3);
    cn_batch_put(b, CN_CF_PROJECTS, "e", 1, "two", 3);
    assert_int_equal(cn_shard_append(s, b, false), CN_ECONFLICT);
    assert_get(s, CN_CF_PROJECTS, "e", NULL);
    cn_batch_clear(b);

    /* Content-addressed families skip the comparison: the first value stays. */
    assert_int_equal(put1(s, CN_CF_USERS, "u", "first"), 0);
    assert_int_equal(put1(s, CN_CF_USERS, "u", "second"), 0);
    assert_get(s, CN_CF_USERS, "u", "first");

    /* Mutable families are rewritten and deleted; deletes elsewhere are refused. */
    assert_int_equal(put1(s, CN_CF_SCANIDX, "i", "a"), 0);
    assert_int_equal(put1(s, CN_CF_SCANIDX, "i", "b"), 0);
    assert_get(s, CN_CF_SCANIDX, "i", "b");
    cn_batch_delete(b, CN_CF_SCANIDX, "i", 1);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_get(s, CN_CF_SCANIDX, "i", NULL);
    cn_batch_delete(b, CN_CF_HEADS, "k", 1);
    assert_int_equal(cn_shard_append(s, b, false), CN_EINVAL);
    assert_get(s, CN_CF_HEADS, "k", "v1");
    cn_batch_destroy(&b);
    cn_shard_close(&s);

    /* verify_append compares content-addressed values too. */
    cn_shard_opts_t o = {.create = true, .verify_append = true};
    assert_int_equal(cn_shard_open("s3", &o, &s), 0);
    assert_int_equal(put1(s, CN_CF_USERS, "u", "second"), CN_ECONFLICT);
    assert_int_equal(put1(s, CN_CF_USERS, "u", "first"), 0);
    cn_shard_close(&s);
}

static void heads_key(uint8_t k[16], uint64_t project, uint64_t lease) {
    cn_put_be64(k, project);
    cn_put_be64(k + 8, lease);
}

/* The child process (exec'd, see test_rocks.c): job A's data, A's commit, then
   job B's data, then waits to be killed. */
static _Noreturn void crash_child(int ready_fd) {
    cn_shard_opts_t o = {.create = true, .worker = "crashy"};
    cn_shard_t *s = NULL;
    if (cn_shard_open("s4", &o, &s) != 0) _exit(2);
    cn_batch_t *b = cn_batch_new();
    char data[64];
    for (int i = 0; i < 3; i++) {
        snprintf(data, sizeof data, "job A content %d", i);
        cn_blob_put(b, NULL, 0, data, strlen(data), NULL);
        if (cn_shard_append(s, b, false) != 0) _exit(3);
    }
    uint8_t hk[16];
    heads_key(hk, 7, 100);
    cn_batch_put(b, CN_CF_HEADS, hk, 16, "heads of A", 10);
    cn_job_commit_t ca = {.job_id = 1, .attempt = 1, .lease_seq = 100, .kind = "download", .key_id = 7};
    if (cn_shard_commit_job(s, b, &ca) != 0) _exit(4);
    for (int i = 0; i < 3; i++) {
        snprintf(data, sizeof data, "job B content %d", i);
        cn_blob_put(b, NULL, 0, data, strlen(data), NULL);
        if (cn_shard_append(s, b, i == 2) != 0) _exit(5);
    }
    if (write(ready_fd, "r", 1) != 1) _exit(6);
    for (;;) pause();
}

static void test_kill9_between_data_and_commit_leaves_no_visible_job(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl("/proc/self/exe", "test_shard", "--crash-child", fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char ch = 0;
    assert_int_equal(read(p[0], &ch, 1), 1);
    close(p[0]);
    assert_int_equal(kill(c, SIGKILL), 0);
    int st = 0;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st));

    cn_shard_t *s = open_writer("s4");
    assert_true(cn_shard_info(s)->unclean_last_session);
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(s, 1, 100, &jc), 0);
    assert_int_equal(jc->job_id, 1);
    assert_string_equal(jc->worker, "crashy");
    assert_int_equal(jc->pointers_total, 1);
    assert_int_equal(jc->n_pointer, 1);
    assert_int_equal(jc->pointer[0]->cf, CN_CF_HEADS);
    cn_rec_free(&jc->base);
    assert_int_equal(cn_shard_job_commit(s, 2, 0, &jc), CN_ENOTFOUND);
    assert_null(jc);
    uint8_t hk[16];
    heads_key(hk, 7, 100);
    assert_true(cn_shard_has(s, CN_CF_HEADS, hk, 16));
    cn_shard_close(&s);
    /* That session ended cleanly: the next open says so. */
    s = open_writer("s4");
    assert_false(cn_shard_info(s)->unclean_last_session);
    cn_shard_close(&s);
}

static void test_stamp_and_session_log(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s5");
    const Canopy__Stamp *st = cn_shard_info(s)->stamp;
    assert_non_null(st);
    assert_string_equal(st->version, cn_build_version());
    assert_string_equal(st->git_commit, cn_build_commit());
    assert_int_equal(st->format, CN_SHARD_FORMAT);
    assert_false(cn_shard_info(s)->unclean_last_session);
    assert_string_equal(cn_shard_dir(s), "s5");
    cn_shard_close(&s);
    s = open_writer("s5");
    cn_shard_close(&s);
    s = open_reader("s5");
    cn_iter_t *it = NULL;
    assert_int_equal(cn_iter_new(s, CN_CF_META, "session/", 8, &it), 0);
    size_t n = 0;
    for (; cn_iter_valid(it); cn_iter_next(it), n++) {
        size_t kl, vl;
        const uint8_t *k = cn_iter_key(it, &kl);
        assert_int_equal(kl, 16);
        assert_int_equal(cn_get_be64(k + 8), n + 1);
        const uint8_t *v = cn_iter_value(it, &vl);
        ProtobufCMessage *m = NULL;
        assert_int_equal(cn_rec_unpack(&canopy__session__descriptor, v, vl, &m), 0);
        Canopy__Session *se = (Canopy__Session *)m;
        assert_true(se->end_ms >= se->start_ms && se->start_ms > 0);
        assert_int_equal(se->pid, (uint32_t)getpid());
        assert_string_equal(se->worker, "w1");
        assert_string_equal(se->stamp->version, cn_build_version());
        cn_rec_free(m);
    }
    assert_int_equal(n, 2);
    cn_iter_destroy(&it);
    cn_shard_close(&s);
    /* A RocksDB database without our stamp is not a shard. */
    static const char *const cfs[] = {"meta"};
    cn_rocks_t *db = NULL;
    assert_int_equal(cn_rocks_open("plain", cfs, 1, &(cn_rocks_opts_t){.create = true}, &db), 0);
    cn_rocks_close(&db);
    assert_int_equal(cn_shard_open("plain", &(cn_shard_opts_t){.read_only = true}, &s), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "not a canopy shard"));
}

static void test_blobs_round_trip_by_hash_and_by_key(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s6");
    cn_batch_t *b = cn_batch_new();
    char big[10000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 7);
    uint8_t h[32], h2[32];
    cn_blob_put(b, NULL, 0, big, sizeof big, h);
    cn_blob_put(b, NULL, 0, big, sizeof big, h2); /* the same content twice: one record */
    assert_memory_equal(h, h2, 32);
    const uint8_t oid[20] = {0xde, 0xad, 0xbe, 0xef};
    cn_blob_put(b, oid, sizeof oid, "git blob", 8, NULL);
    assert_true(cn_batch_bytes(b) < sizeof big); /* compressed */
    assert_int_equal(cn_shard_append(s, b, true), 0);
    cn_buf_t out = {0};
    assert_int_equal(cn_blob_get(s, h, 32, 1 << 20, &out), 0);
    assert_int_equal(out.len, sizeof big);
    assert_memory_equal(out.data, big, sizeof big);
    cn_buf_reset(&out);
    assert_int_equal(cn_blob_get(s, h, 32, 100, &out), CN_ETOOBIG);
    assert_int_equal(out.len, 0);
    assert_int_equal(cn_blob_get(s, oid, sizeof oid, 100, &out), 0);
    assert_memory_equal(out.data, "git blob", 8);
    assert_int_equal(cn_blob_get(s, "nope", 4, 100, &out), CN_ENOTFOUND);
    cn_buf_free(&out);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
}

static void test_job_commits_group_and_latest_lease(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s7");
    cn_batch_t *p[3] = {cn_batch_new(), cn_batch_new(), NULL};
    uint8_t k[16];
    heads_key(k, 1, 5);
    cn_batch_put(p[0], CN_CF_HEADS, k, 16, "h5", 2);
    heads_key(k, 1, 9);
    cn_batch_put(p[1], CN_CF_HEADS, k, 16, "h9", 2);
    cn_job_commit_t c[3] = {
        {.job_id = 3, .attempt = 1, .lease_seq = 5, .kind = "download", .summary = "{\"n\":1}"},
        {.job_id = 3, .attempt = 2, .lease_seq = 9, .kind = "download"},
        {.job_id = 4, .attempt = 1, .lease_seq = 10, .kind = "noop"},
    };
    uint64_t seq = cn_shard_seq(s);
    assert_int_equal(cn_shard_commit_jobs(s, p, c, 3), 0);
    assert_int_equal(cn_shard_seq(s), seq + 6); /* one write: 2 pointers + 3 commits + 1 feed record */
    assert_int_equal(cn_batch_count(p[0]), 0);
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(s, 3, 0, &jc), 0);
    assert_int_equal(jc->lease_seq, 9);
    assert_int_equal(jc->attempt, 2);
    cn_rec_free(&jc->base);
    assert_int_equal(cn_shard_job_commit(s, 3, 5, &jc), 0);
    assert_string_equal(jc->summary, "{\"n\":1}");
    assert_string_equal(jc->stamp->git_commit, cn_build_commit());
    cn_rec_free(&jc->base);
    assert_int_equal(cn_shard_job_commit(s, 4, 0, &jc), 0);
    assert_int_equal(jc->n_pointer, 0);
    cn_rec_free(&jc->base);
    /* Committing the same lease again is refused, and the pointers stay. */
    heads_key(k, 2, 10);
    cn_batch_put(p[0], CN_CF_HEADS, k, 16, "new", 3);
    assert_int_equal(cn_shard_commit_job(s, p[0], &c[2]), CN_ECONFLICT);
    assert_int_equal(cn_batch_count(p[0]), 1);
    assert_false(cn_shard_has(s, CN_CF_HEADS, k, 16));
    cn_batch_destroy(&p[0]);
    cn_batch_destroy(&p[1]);
    cn_shard_close(&s);
}

static void test_drop_cf_only_for_derived_families(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s8");
    assert_int_equal(put1(s, CN_CF_SCANIDX, "a", "1"), 0);
    assert_int_equal(put1(s, CN_CF_COMMITS, "c", "1"), 0);
    assert_int_equal(cn_shard_drop_cf(s, CN_CF_COMMITS), CN_EPERM);
    assert_int_equal(cn_shard_drop_cf(s, CN_CF_META), CN_EPERM);
    assert_int_equal(cn_shard_drop_cf(s, CN_CF_SCANIDX), 0);
    assert_get(s, CN_CF_SCANIDX, "a", NULL);
    assert_get(s, CN_CF_COMMITS, "c", "1");
    assert_int_equal(put1(s, CN_CF_SCANIDX, "b", "2"), 0);
    assert_get(s, CN_CF_SCANIDX, "b", "2");
    cn_shard_close(&s);
}

static void test_prefix_iteration(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s9");
    cn_batch_t *b = cn_batch_new();
    uint8_t k[16];
    for (uint64_t p = 1; p <= 3; p++)
        for (uint64_t l = 1; l <= 4; l++) {
            heads_key(k, p, l * 100);
            cn_batch_put(b, CN_CF_PROJLOG, k, 16, "x", 1);
        }
    assert_int_equal(cn_shard_append(s, b, false), 0);
    cn_iter_t *it = NULL;
    uint8_t pre[8];
    cn_put_be64(pre, 2);
    assert_int_equal(cn_iter_new(s, CN_CF_PROJLOG, pre, 8, &it), 0);
    uint64_t want = 100;
    size_t kl;
    for (; cn_iter_valid(it); cn_iter_next(it), want += 100) {
        const uint8_t *key = cn_iter_key(it, &kl);
        assert_int_equal(cn_get_be64(key), 2);
        assert_int_equal(cn_get_be64(key + 8), want);
    }
    assert_int_equal(want, 500);
    cn_iter_seek_last(it);
    assert_int_equal(cn_get_be64(cn_iter_key(it, &kl) + 8), 400);
    cn_iter_prev(it);
    assert_int_equal(cn_get_be64(cn_iter_key(it, &kl) + 8), 300);
    heads_key(k, 2, 250);
    cn_iter_seek(it, k, 16);
    assert_int_equal(cn_get_be64(cn_iter_key(it, &kl) + 8), 300);
    cn_iter_destroy(&it);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
}

#define RACE_THREADS 4
#define RACE_KEYS 500

typedef struct {
    cn_shard_t *s;
    int id;
    atomic_int *wins;
} racer_t;

/* Every thread puts its own value under the same keys, with some content-addressed
   data on the side: for each key exactly one thread may win. */
static void *racer(void *arg) {
    racer_t *r = arg;
    cn_batch_t *b = cn_batch_new();
    char k[16], v[16];
    for (int i = 0; i < RACE_KEYS; i++) {
        snprintf(k, sizeof k, "race%04d", i);
        snprintf(v, sizeof v, "thread%d", r->id);
        cn_batch_put(b, CN_CF_SYNC, k, strlen(k), v, strlen(v));
        cn_blob_put(b, NULL, 0, k, strlen(k), NULL);
        int rc = cn_shard_append(r->s, b, i % 50 == 0);
        if (rc == 0)
            atomic_fetch_add(&r->wins[i], 1);
        else if (rc != CN_ECONFLICT)
            atomic_fetch_add(&r->wins[i], 100);
        cn_batch_clear(b);
    }
    cn_batch_destroy(&b);
    return NULL;
}

static void test_concurrent_appends_one_value_wins_per_key(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("s10");
    atomic_int wins[RACE_KEYS];
    for (int i = 0; i < RACE_KEYS; i++) atomic_init(&wins[i], 0);
    pthread_t t[RACE_THREADS];
    racer_t r[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        r[i] = (racer_t){.s = s, .id = i, .wins = wins};
        assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
    }
    for (int i = 0; i < RACE_THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < RACE_KEYS; i++) assert_int_equal(atomic_load(&wins[i]), 1);
    assert_int_equal(cn_shard_fsck(s, NULL, NULL, NULL), 0);
    cn_shard_close(&s);
}

/* The (family, key) pairs of feed record n, as "family:key " text. */
static void feed_text(cn_shard_t *s, uint64_t n, cn_buf_t *out) {
    uint8_t k[8];
    cn_put_be64(k, n);
    cn_buf_t v = {0};
    assert_int_equal(cn_shard_get(s, CN_CF_FEED, k, sizeof k, &v), 0);
    const uint8_t *p = v.data, *key;
    size_t kl;
    cn_cf_t cf;
    cn_buf_reset(out);
    while (cn_feed_next(&p, v.data + v.len, &cf, &key, &kl) == 1)
        cn_buf_printf(out, "%s:%.*s ", cn_cf_name(cf), (int)kl, (const char *)key);
    assert_true(p == v.data + v.len);
    cn_buf_free(&v);
}

static void *feed_appender(void *arg) {
    cn_shard_t *s = arg;
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "t%p-%d", (void *)&i, i);
        if (put1(s, CN_CF_BLOBS, k, "x") != 0) return (void *)1;
    }
    return NULL;
}

static void test_feed_lists_each_append_once_without_gaps(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("feed1");
    assert_int_equal(cn_feed_last(s), 0);
    assert_int_equal(put1(s, CN_CF_COMMITS, "a", "1"), 0);
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_COMMITS, "a", 1, "1", 1); /* present: dropped, not listed */
    cn_batch_put(b, CN_CF_COMMITS, "b", 1, "2", 1);
    cn_batch_put(b, CN_CF_HEADS, "h", 1, "3", 1);
    uint64_t seq = cn_shard_seq(s);
    assert_int_equal(cn_shard_append(s, b, true), 0);
    assert_int_equal(cn_shard_seq(s), seq + 3); /* 2 records + 1 feed record, one write */
    cn_buf_t t = {0};
    feed_text(s, 1, &t);
    assert_string_equal(cn_buf_cstr(&t), "commits:a ");
    feed_text(s, 2, &t);
    assert_string_equal(cn_buf_cstr(&t), "commits:b heads:h ");
    cn_batch_put(b, CN_CF_COMMITS, "b", 1, "2", 1); /* everything dropped: no record */
    assert_int_equal(cn_shard_append(s, b, false), 0);
    assert_int_equal(cn_feed_last(s), 2);
    cn_batch_destroy(&b);
    cn_shard_close(&s);
    s = open_writer("feed1"); /* the counter is restored from the last key */
    assert_int_equal(put1(s, CN_CF_COMMITS, "c", "4"), 0);
    feed_text(s, 3, &t);
    assert_string_equal(cn_buf_cstr(&t), "commits:c ");
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, feed_appender, s), 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    assert_int_equal(cn_feed_last(s), 403);
    cn_iter_t *it = NULL;
    assert_int_equal(cn_iter_new(s, CN_CF_FEED, NULL, 0, &it), 0);
    uint64_t want = 1;
    for (; cn_iter_valid(it); cn_iter_next(it), want++) {
        size_t kl;
        const uint8_t *k = cn_iter_key(it, &kl);
        assert_int_equal(kl, 8);
        assert_int_equal(cn_get_be64(k), want);
    }
    assert_int_equal(want, 404);
    cn_iter_destroy(&it);
    cn_buf_free(&t);
    cn_shard_close(&s);
}

/* A shard made before the feed (16 families): readers see no feed, a writer
   opening it (without create) adds the family and starts at counter 1. */
static void test_feed_family_added_to_an_older_shard(void **state) {
    (void)state;
    const char *names[CN_CF_FEED];
    for (int i = 0; i < CN_CF_FEED; i++) names[i] = cn_cf_name((cn_cf_t)i);
    cn_rocks_t *db = NULL;
    assert_int_equal(cn_rocks_open("old", names, CN_CF_FEED, &(cn_rocks_opts_t){.create = true}, &db), 0);
    Canopy__Stamp st = CANOPY__STAMP__INIT;
    st.version = (char *)"0.0.9";
    st.git_commit = (char *)"old";
    st.format = 1;
    cn_buf_t v = {0};
    cn_rec_pack(&st.base, &v);
    cn_rocks_batch_t *rb = cn_rocks_batch_new();
    cn_rocks_batch_put(rb, db, CN_CF_META, "stamp", 5, v.data, v.len);
    cn_rocks_batch_put(rb, db, CN_CF_COMMITS, "a", 1, "1", 1);
    assert_int_equal(cn_rocks_write(db, rb, true), 0);
    cn_rocks_batch_destroy(&rb);
    cn_buf_free(&v);
    cn_rocks_close(&db);
    cn_shard_t *r = open_reader("old");
    assert_false(cn_rocks_has_cf(r->db, CN_CF_FEED));
    assert_int_equal(cn_feed_last(r), 0);
    assert_get(r, CN_CF_COMMITS, "a", "1");
    cn_shard_close(&r);
    cn_shard_t *s = NULL;
    assert_int_equal(cn_shard_open("old", &(cn_shard_opts_t){.worker = "w"}, &s), 0);
    assert_int_equal(put1(s, CN_CF_COMMITS, "b", "2"), 0);
    assert_int_equal(cn_feed_last(s), 1);
    cn_shard_close(&s);
    r = open_reader("old");
    assert_true(cn_rocks_has_cf(r->db, CN_CF_FEED));
    assert_int_equal(cn_feed_last(r), 1);
    cn_shard_close(&r);
}

int main(int argc, char **argv) {
    uint64_t fd = 0;
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0 && cn_parse_u64(argv[2], &fd) && fd < 1024)
        crash_child((int)fd);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_writer_refused_in_process_and_from_child),
        cmocka_unit_test(test_read_only_open_while_writer_is_active),
        cmocka_unit_test(test_append_only_conflict_refused_same_value_noop),
        cmocka_unit_test(test_kill9_between_data_and_commit_leaves_no_visible_job),
        cmocka_unit_test(test_stamp_and_session_log),
        cmocka_unit_test(test_blobs_round_trip_by_hash_and_by_key),
        cmocka_unit_test(test_job_commits_group_and_latest_lease),
        cmocka_unit_test(test_drop_cf_only_for_derived_families),
        cmocka_unit_test(test_prefix_iteration),
        cmocka_unit_test(test_concurrent_appends_one_value_wins_per_key),
        cmocka_unit_test(test_feed_lists_each_append_once_without_gaps),
        cmocka_unit_test(test_feed_family_added_to_an_older_shard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
