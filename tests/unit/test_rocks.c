/* test_rocks.c: the RocksDB wrapper on a real database: the folder lock refuses a
   second writer (same process and a forked child) while read-only opens work,
   batches, multi_get, prefix iteration, checkpoints, dropped families and SST
   ingestion behave as rocks.h says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "rocks.h"

static int atoi_safe(const char *s) {
    uint64_t v = 0;
    return cn_parse_u64(s, &v) && v < 1024 ? (int)v : -1;
}

static const char *const cfs[] = {"meta", "data", "other"};

static cn_rocks_t *open_rw(const char *dir) {
    cn_rocks_opts_t o = {.create = true};
    cn_rocks_t *db = NULL;
    assert_int_equal(cn_rocks_open(dir, cfs, 3, &o, &db), 0);
    return db;
}

static void put(cn_rocks_t *db, int cf, const char *k, const char *v, bool sync) {
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    cn_rocks_batch_put(b, db, cf, k, strlen(k), v, strlen(v));
    assert_int_equal(cn_rocks_batch_count(b), 1);
    assert_int_equal(cn_rocks_write(db, b, sync), 0);
    cn_rocks_batch_destroy(&b);
    assert_null(b);
}

static void assert_value(cn_rocks_t *db, int cf, const char *k, const char *want) {
    cn_buf_t v = {0};
    int rc = cn_rocks_get(db, cf, k, strlen(k), &v);
    if (!want) {
        assert_int_equal(rc, CN_ENOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(cn_buf_cstr(&v), want);
    }
    cn_buf_free(&v);
}

static void test_second_writer_is_refused_naming_the_pid(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db1");
    cn_rocks_opts_t o = {.create = true};
    cn_rocks_t *db2 = NULL;
    assert_int_equal(cn_rocks_open("db1", cfs, 3, &o, &db2), CN_ELOCKED);
    assert_null(db2);
    char want[64];
    snprintf(want, sizeof want, "locked by pid %ld", (long)getpid());
    assert_non_null(strstr(cn_err_detail(), want));

    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        cn_rocks_t *c = NULL;
        int rc = cn_rocks_open("db1", cfs, 3, &o, &c);
        _exit(rc == CN_ELOCKED && strstr(cn_err_detail(), want) ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    cn_rocks_close(&db);
    assert_null(db);
    db = open_rw("db1"); /* the lock is released on close */
    cn_rocks_close(&db);
}

static void test_read_only_open_alongside_writer_and_refresh(void **state) {
    (void)state;
    cn_rocks_t *w = open_rw("db2");
    put(w, 1, "a", "1", true);
    cn_rocks_opts_t ro = {.read_only = true};
    cn_rocks_t *r = NULL;
    assert_int_equal(cn_rocks_open("db2", cfs, 3, &ro, &r), 0);
    assert_value(r, 1, "a", "1");
    put(w, 1, "b", "2", true);
    assert_value(r, 1, "b", NULL); /* as of open */
    assert_int_equal(cn_rocks_refresh(r), 0);
    assert_value(r, 1, "b", "2");
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    cn_rocks_batch_put(b, r, 1, "c", 1, "3", 1);
    assert_int_equal(cn_rocks_write(r, b, false), CN_EPERM);
    cn_rocks_batch_destroy(&b);
    cn_rocks_close(&r);
    cn_rocks_close(&w);
    /* A missing database is not created by readers. */
    assert_int_equal(cn_rocks_open("nope", cfs, 3, &ro, &r), CN_ENOTFOUND);
}

static void test_multi_get_reports_which_keys_exist(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db3");
    put(db, 1, "k1", "v1", false);
    put(db, 1, "k3", "v3", false);
    put(db, 2, "k2", "other", false);
    const void *keys[] = {"k1", "k2", "k3"};
    size_t kl[] = {2, 2, 2};
    bool found[3];
    cn_buf_t vals[3] = {{0}};
    assert_int_equal(cn_rocks_multi_get(db, 1, keys, kl, 3, found, vals), 0);
    assert_true(found[0]);
    assert_false(found[1]);
    assert_true(found[2]);
    assert_memory_equal(vals[2].data, "v3", 2);
    assert_int_equal(vals[1].len, 0);
    for (int i = 0; i < 3; i++) cn_buf_free(&vals[i]);
    assert_int_equal(cn_rocks_multi_get(db, 2, keys, kl, 3, found, NULL), 0);
    assert_false(found[0]);
    assert_true(found[1]);
    /* Unsorted and duplicate keys take RocksDB's own sort. */
    const void *mixed[] = {"k3", "k2", "k1", "k3"};
    size_t ml[] = {2, 2, 2, 2};
    bool f4[4];
    cn_buf_t v4[4] = {{0}};
    assert_int_equal(cn_rocks_multi_get(db, 1, mixed, ml, 4, f4, v4), 0);
    assert_true(f4[0] && !f4[1] && f4[2] && f4[3]);
    assert_memory_equal(v4[0].data, "v3", 2);
    assert_memory_equal(v4[2].data, "v1", 2);
    assert_memory_equal(v4[3].data, "v3", 2);
    for (int i = 0; i < 4; i++) cn_buf_free(&v4[i]);
    cn_rocks_close(&db);
}

static void test_prefix_iteration_is_ordered_and_bounded(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db4");
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    const uint8_t keys[][3] = {{1, 0, 0},       {1, 0xff, 1}, {1, 0xff, 2},
                               {1, 0xff, 0xff}, {2, 0, 0},    {0xff, 0xff, 1}};
    for (size_t i = 0; i < CN_ARRAY_LEN(keys); i++) cn_rocks_batch_put(b, db, 1, keys[i], 3, "v", 1);
    assert_int_equal(cn_rocks_write(db, b, false), 0);
    cn_rocks_batch_destroy(&b);

    const uint8_t p1[] = {1, 0xff};
    cn_rocks_iter_t *it = NULL;
    assert_int_equal(cn_rocks_iter_new(db, 1, p1, 2, &it), 0);
    size_t n = 0, kl;
    for (; cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) {
        const uint8_t *k = cn_rocks_iter_key(it, &kl);
        assert_int_equal(kl, 3);
        assert_memory_equal(k, keys[1 + n], 3);
        n++;
    }
    assert_int_equal(n, 3);
    cn_rocks_iter_seek_last(it);
    assert_true(cn_rocks_iter_valid(it));
    assert_memory_equal(cn_rocks_iter_key(it, &kl), keys[3], 3);
    cn_rocks_iter_prev(it);
    assert_memory_equal(cn_rocks_iter_key(it, &kl), keys[2], 3);
    cn_rocks_iter_prev(it);
    cn_rocks_iter_prev(it);
    assert_false(cn_rocks_iter_valid(it)); /* left the prefix */
    const uint8_t below[] = {0};
    cn_rocks_iter_seek(it, below, 1);
    assert_memory_equal(cn_rocks_iter_key(it, &kl), keys[1], 3);
    cn_rocks_iter_destroy(&it);

    const uint8_t pff[] = {0xff, 0xff}; /* no successor: bounded by the prefix check */
    assert_int_equal(cn_rocks_iter_new(db, 1, pff, 2, &it), 0);
    assert_true(cn_rocks_iter_valid(it));
    cn_rocks_iter_seek_last(it);
    assert_memory_equal(cn_rocks_iter_key(it, &kl), keys[5], 3);
    cn_rocks_iter_destroy(&it);

    assert_int_equal(cn_rocks_iter_new(db, 1, NULL, 0, &it), 0);
    for (n = 0; cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) n++;
    assert_int_equal(n, CN_ARRAY_LEN(keys));
    cn_rocks_iter_destroy(&it);
    cn_rocks_close(&db);
}

static void test_checkpoint_opens_with_the_data_as_of_then(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db5");
    put(db, 0, "x", "before", false);
    assert_int_equal(cn_rocks_checkpoint(db, "db5.cp"), 0);
    put(db, 0, "y", "after", false);
    uint64_t s1 = cn_rocks_seq(db);
    assert_true(s1 >= 2);
    cn_rocks_opts_t ro = {.read_only = true};
    cn_rocks_t *cp = NULL;
    assert_int_equal(cn_rocks_open("db5.cp", cfs, 3, &ro, &cp), 0);
    assert_value(cp, 0, "x", "before");
    assert_value(cp, 0, "y", NULL);
    cn_rocks_close(&cp);
    assert_int_equal(cn_rocks_checkpoint(db, "db5.cp"), CN_EIO); /* exists */
    cn_rocks_close(&db);
}

static void test_drop_cf_empties_only_that_family(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db6");
    put(db, 1, "a", "1", false);
    put(db, 2, "a", "2", false);
    assert_int_equal(cn_rocks_flush(db), 0);
    assert_true(cn_rocks_estimate_keys(db, 1) >= 1);
    assert_int_equal(cn_rocks_drop_cf(db, 1), 0);
    assert_value(db, 1, "a", NULL);
    assert_value(db, 2, "a", "2");
    put(db, 1, "b", "3", false);
    cn_rocks_close(&db);
    db = open_rw("db6");
    assert_value(db, 1, "b", "3");
    assert_value(db, 1, "a", NULL);
    cn_rocks_close(&db);
}

static void test_sst_ingest_and_empty_sst(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db7");
    cn_rocks_sst_t *w = NULL;
    assert_int_equal(cn_rocks_sst_open(db, "one.sst", &w), 0);
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "key%03d", i);
        assert_int_equal(cn_rocks_sst_put(w, k, strlen(k), "v", 1), 0);
    }
    assert_int_not_equal(cn_rocks_sst_put(w, "key000", 6, "v", 1), 0); /* out of order */
    bool empty = true;
    assert_int_equal(cn_rocks_sst_finish(&w, &empty), 0);
    assert_false(empty);
    const char *paths[] = {"one.sst"};
    assert_int_equal(cn_rocks_ingest(db, 2, paths, 1), 0);
    assert_value(db, 2, "key042", "v");
    assert_int_equal(cn_rocks_sst_open(db, "two.sst", &w), 0);
    assert_int_equal(cn_rocks_sst_finish(&w, &empty), 0);
    assert_true(empty);
    assert_int_not_equal(access("two.sst", F_OK), 0);
    cn_rocks_close(&db);
}

static void test_reopen_with_fewer_families_keeps_the_others(void **state) {
    (void)state;
    cn_rocks_t *db = open_rw("db8");
    put(db, 2, "o", "kept", true);
    cn_rocks_close(&db);
    cn_rocks_opts_t o = {.create = true};
    assert_int_equal(cn_rocks_open("db8", cfs, 2, &o, &db), 0);
    cn_rocks_close(&db);
    db = open_rw("db8");
    assert_value(db, 2, "o", "kept");
    cn_rocks_close(&db);
    /* A reader naming a family the database lacks sees it empty. */
    static const char *const more[] = {"meta", "data", "other", "newer"};
    cn_rocks_opts_t ro = {.read_only = true};
    assert_int_equal(cn_rocks_open("db8", more, 4, &ro, &db), 0);
    assert_value(db, 3, "o", NULL);
    cn_rocks_iter_t *it = NULL;
    assert_int_equal(cn_rocks_iter_new(db, 3, NULL, 0, &it), 0);
    assert_false(cn_rocks_iter_valid(it));
    cn_rocks_iter_destroy(&it);
    cn_rocks_close(&db);
}

/* The writer process of the next test: writes and flushes batches of 500 keys
   until killed, and says so on ready_fd after the first. It runs in a freshly
   exec'd process: a forked copy of a process that already ran RocksDB has no
   background threads, so its flushes would wait forever. */
static int writer_main(int ready_fd) {
    cn_rocks_t *w = NULL;
    cn_rocks_opts_t o = {.create = true};
    if (cn_rocks_open("db9", cfs, 3, &o, &w) != 0) return 1;
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    uint8_t k[8];
    char v[100] = {0};
    for (uint64_t i = 0;; i++) {
        cn_put_be64(k, i);
        cn_rocks_batch_put(b, w, 1, k, 8, v, sizeof v);
        if (i % 500 != 499) continue;
        if (cn_rocks_write(w, b, false) != 0 || cn_rocks_flush(w) != 0) return 2;
        cn_rocks_batch_clear(b);
        if (i == 499 && write(ready_fd, "r", 1) != 1) return 3;
    }
}

/* A writer process flushes (so compactions delete files) while this one opens
   read-only again and again: every open works and sees whole batches only. */
static void test_read_only_opens_while_writer_flushes_and_compacts(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no writer running */
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl("/proc/self/exe", "test_rocks", "--writer", fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char ch;
    assert_int_equal(read(p[0], &ch, 1), 1);
    close(p[0]);
    uint64_t last = 0;
    for (int round = 0; round < 30; round++) {
        cn_rocks_opts_t ro = {.read_only = true};
        cn_rocks_t *r = NULL;
        int rc = cn_rocks_open("db9", cfs, 3, &ro, &r);
        if (rc) fprintf(stderr, "round %d: %s\n", round, cn_err_detail());
        assert_int_equal(rc, 0);
        cn_rocks_iter_t *it = NULL;
        assert_int_equal(cn_rocks_iter_new(r, 1, NULL, 0, &it), 0);
        cn_rocks_iter_seek_last(it);
        assert_true(cn_rocks_iter_valid(it));
        size_t kl;
        uint64_t top = cn_get_be64(cn_rocks_iter_key(it, &kl));
        assert_true(top >= last && top % 500 == 499); /* whole batches only */
        last = top;
        cn_rocks_iter_destroy(&it);
        cn_rocks_close(&r);
        cn_sleep_ms(30);
    }
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    assert_true(last > 499);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--writer") == 0) return writer_main(atoi_safe(argv[2]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_writer_is_refused_naming_the_pid),
        cmocka_unit_test(test_read_only_open_alongside_writer_and_refresh),
        cmocka_unit_test(test_multi_get_reports_which_keys_exist),
        cmocka_unit_test(test_prefix_iteration_is_ordered_and_bounded),
        cmocka_unit_test(test_checkpoint_opens_with_the_data_as_of_then),
        cmocka_unit_test(test_drop_cf_empties_only_that_family),
        cmocka_unit_test(test_sst_ingest_and_empty_sst),
        cmocka_unit_test(test_reopen_with_fewer_families_keeps_the_others),
        cmocka_unit_test(test_read_only_opens_while_writer_flushes_and_compacts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
