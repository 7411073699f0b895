/* test_shard_secondary.c: RocksDB secondary instances of a shard on real RocksDB
   (cn_shard_opts_t.secondary_dir, cn_shard_catch_up) beside a live writer in the
   same process: new writes are seen after a catch-up and not before, across a
   flush and a writer closed and reopened; a shard's identity; and the download's cache of the other
   shards' secondaries (cn_download_other_heads): the newest lease wins, the own
   shard is skipped, later heads and later shards are found, removed shards are
   dropped and replaced ones opened again, several threads at once, and
   close_all removes its folder in the worker's scratch directory (and the first
   use what a killed process left there). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "download.h"
#include "errors.h"
#include "repo.h"
#include "rocks.h"
#include "shard.h"
#include "shard_fx.h"
#include "shard_int.h"

static cn_shard_t *open_secondary(const char *dir, const char *sec) {
    cn_shard_opts_t o = {.secondary_dir = sec};
    cn_shard_t *s = NULL;
    int rc = cn_shard_open(dir, &o, &s);
    if (rc) fail_msg("secondary of %s: %s", dir, cn_err_detail());
    return s;
}

/* Appends n records "<tag><i>" -> "v<i>" to the projects family, unsynced. */
static void put_n(cn_shard_t *s, const char *tag, int n) {
    cn_batch_t *b = cn_batch_new();
    for (int i = 0; i < n; i++) {
        char k[64], v[64];
        int kl = snprintf(k, sizeof k, "%s%d", tag, i), vl = snprintf(v, sizeof v, "v%d", i);
        cn_batch_put(b, CN_CF_PROJECTS, k, (size_t)kl, v, (size_t)vl);
        if (cn_batch_count(b) == 500 || i == n - 1) assert_int_equal(cn_shard_append(s, b, false), 0);
    }
    cn_batch_destroy(&b);
}

/* How many of "<tag>0".."<tag><n-1>" s has, each with its value. */
static int count_n(cn_shard_t *s, const char *tag, int n) {
    int found = 0;
    for (int i = 0; i < n; i++) {
        char k[64], v[64];
        int kl = snprintf(k, sizeof k, "%s%d", tag, i);
        snprintf(v, sizeof v, "v%d", i);
        cn_buf_t got = {0};
        if (cn_shard_get(s, CN_CF_PROJECTS, k, (size_t)kl, &got) == 0) {
            assert_string_equal(cn_buf_cstr(&got), v);
            found++;
        }
        cn_buf_free(&got);
    }
    return found;
}

static void test_secondary_sees_new_writes_after_catch_up_only(void **state) {
    (void)state;
    cn_shard_t *w = open_writer("s1");
    put_n(w, "a", 10);
    uint64_t seq = cn_shard_seq(w);
    cn_shard_t *r = open_secondary("s1", "sec1");
    assert_int_equal(cn_shard_seq(w), seq); /* the open wrote nothing (no session) */
    assert_int_equal(count_n(r, "a", 10), 10);
    put_n(w, "b", 3000); /* in the writer's WAL and memtable, not flushed */
    assert_int_equal(count_n(r, "b", 3000), 0);
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "b", 3000), 3000);
    assert_int_equal(cn_shard_seq(r), cn_shard_seq(w));
    /* Read-only semantics: no writes, and the writer's lock was not needed. */
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_PROJECTS, "x", 1, "y", 1);
    assert_int_equal(cn_shard_append(r, b, false), CN_EPERM);
    cn_batch_destroy(&b);
    /* A flush moves the memtable into a table file and retires the WAL. */
    assert_int_equal(cn_rocks_flush(w->db), 0);
    put_n(w, "c", 100);
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "b", 3000), 3000);
    assert_int_equal(count_n(r, "c", 100), 100);
    cn_shard_close(&r);
    cn_shard_close(&w);
}

static void test_secondary_survives_writer_close_and_reopen(void **state) {
    (void)state;
    cn_shard_t *w = open_writer("s2");
    put_n(w, "a", 200);
    cn_shard_t *r = open_secondary("s2", "sec2");
    cn_shard_close(&w); /* a worker restart: a new MANIFEST, the WAL recovered */
    w = open_writer("s2");
    put_n(w, "b", 200);
    assert_int_equal(count_n(r, "b", 200), 0);
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "a", 200), 200);
    assert_int_equal(count_n(r, "b", 200), 200);
    cn_shard_close(&w); /* no writer at all: what it left is read */
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "b", 200), 200);
    w = open_writer("s2");
    put_n(w, "c", 50);
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "c", 50), 50);
    cn_shard_close(&r);
    cn_shard_close(&w);
}

static void test_secondary_of_some_families_reads_the_others_as_empty(void **state) {
    (void)state;
    cn_shard_t *w = open_writer("s4");
    cn_shard_opts_t o = {.secondary_dir = "sec4", .only_families = 1u << CN_CF_HEADS};
    cn_shard_t *r = NULL;
    assert_int_equal(cn_shard_open("s4", &o, &r), 0);
    put_n(w, "a", 100);
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_HEADS, "h", 1, "heads", 5);
    assert_int_equal(cn_shard_append(w, b, false), 0);
    cn_batch_destroy(&b);
    assert_int_equal(cn_shard_catch_up(r), 0);
    cn_buf_t v = {0};
    assert_int_equal(cn_shard_get(r, CN_CF_HEADS, "h", 1, &v), 0);
    assert_string_equal(cn_buf_cstr(&v), "heads");
    cn_buf_free(&v);
    assert_int_equal(count_n(r, "a", 100), 0); /* projects: not opened */
    assert_non_null(cn_shard_info(r)->stamp);  /* meta always is */
    cn_shard_close(&r);
    cn_shard_close(&w);
}

static void test_catch_up_is_a_noop_for_writers_and_read_only_opens(void **state) {
    (void)state;
    cn_shard_t *w = open_writer("s3");
    cn_shard_opts_t o = {.read_only = true};
    cn_shard_t *r = NULL;
    assert_int_equal(cn_shard_open("s3", &o, &r), 0);
    put_n(w, "a", 5);
    assert_int_equal(cn_shard_catch_up(w), 0);
    assert_int_equal(cn_shard_catch_up(r), 0);
    assert_int_equal(count_n(r, "a", 5), 0); /* a read-only open stays as of open */
    cn_shard_close(&r);
    cn_shard_close(&w);
    o = (cn_shard_opts_t){.secondary_dir = "sec3"};
    assert_int_equal(cn_shard_open("missing", &o, &r), CN_ENOTFOUND);
}

/* A shard's identity holds across reopens and changes when the shard is made
   again under the same name; a folder without a database has none. */
static void test_identity_changes_only_when_the_shard_is_made_again(void **state) {
    (void)state;
    char id1[64], id2[64], id3[64];
    cn_shard_t *w = open_writer("s5");
    assert_int_equal(cn_shard_identity("s5", id1, sizeof id1), 0);
    assert_true(strlen(id1) > 8);
    cn_shard_close(&w);
    w = open_writer("s5");
    assert_int_equal(cn_shard_identity("s5", id2, sizeof id2), 0);
    assert_string_equal(id1, id2);
    cn_shard_close(&w);
    assert_int_equal(cn_rm_rf("s5"), 0);
    w = open_writer("s5");
    assert_int_equal(cn_shard_identity("s5", id3, sizeof id3), 0);
    assert_string_not_equal(id1, id3);
    cn_shard_close(&w);
    char small[4];
    assert_int_equal(cn_shard_identity("s5", small, sizeof small), 0);
    assert_int_equal(strlen(small), 3); /* cut to fit */
    assert_int_equal(mkdir("plain", 0755), 0);
    assert_int_equal(cn_shard_identity("plain", id1, sizeof id1), CN_ENOTFOUND);
    assert_string_equal(id1, "");
    assert_int_equal(cn_shard_identity("missing", id1, sizeof id1), CN_ENOTFOUND);
}

/* ---- cn_download_other_heads ---- */

static void put_heads(cn_shard_t *s, uint64_t project, uint64_t lease) {
    uint8_t oid[20];
    memset(oid, (int)lease, sizeof oid);
    cn_batch_t *b = cn_batch_new();
    put_main_head(b, project, lease, lease, oid);
    cn_job_commit_t c = {
        .job_id = lease, .attempt = 1, .lease_seq = lease, .kind = "download", .key_id = project};
    assert_int_equal(cn_shard_commit_job(s, b, &c), 0);
    cn_batch_destroy(&b);
}

/* The lease of the heads other_heads finds (0: none), starting from NULL. */
static uint64_t found_lease(const char *own, uint64_t project) {
    Canopy__Heads *h = NULL;
    cn_download_other_heads("sd", "scratch", own, project, &h);
    uint64_t lease = h ? h->lease_seq : 0;
    if (h) {
        assert_int_equal(h->project_id, project);
        assert_int_equal(h->n_ref, 1);
        assert_int_equal(h->ref[0]->oid.data[0], (uint8_t)lease);
        cn_rec_free(&h->base);
    }
    return lease;
}

/* Entries in a folder (-1: there is none). */
static int entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_other_heads_newest_lease_wins_and_own_is_skipped(void **state) {
    (void)state;
    cn_shard_t *a = open_writer("sd/a"), *b = open_writer("sd/b"), *c = open_writer("sd/c");
    assert_int_equal(mkdir("sd/junk", 0755), 0); /* not a shard: skipped */
    put_heads(a, 7, 50);                         /* our own: never counted */
    put_heads(b, 7, 10);
    put_heads(c, 7, 20);
    put_heads(b, 8, 11);
    /* Left in the worker's scratch by an earlier process killed -9: removed;
       the rest of the scratch (the mirrors) is kept. */
    assert_int_equal(cn_mkdir_p("scratch/secondaries/b.999"), 0);
    assert_int_equal(cn_mkdir_p("scratch/git"), 0);
    assert_int_equal(found_lease("sd/a", 7), 20);
    assert_int_equal(access("scratch/secondaries/b.999", F_OK), -1);
    assert_int_equal(access("scratch/git", F_OK), 0);
    assert_int_equal(found_lease("sd/a", 8), 11);
    assert_int_equal(found_lease("sd/a", 9), 0);
    assert_int_equal(found_lease(NULL, 7), 50); /* no own shard: all count */
    /* Heads already newer than the other shards' are left as they are. */
    Canopy__Heads *mine = NULL;
    assert_int_equal(cn_repo_latest_heads(a, 7, &mine), 0);
    Canopy__Heads *keep = mine;
    cn_download_other_heads("sd", "scratch", "sd/a", 7, &mine);
    assert_ptr_equal(mine, keep);
    assert_int_equal(mine->lease_seq, 50);
    cn_rec_free(&mine->base);
    /* Appended after the cache was made: seen on the next call. */
    put_heads(b, 7, 40);
    assert_int_equal(found_lease("sd/a", 7), 40);
    /* A shard made later is found; one removed is dropped. */
    cn_shard_t *d = open_writer("sd/d");
    put_heads(d, 7, 45);
    assert_int_equal(found_lease("sd/a", 7), 45);
    cn_shard_close(&d);
    assert_int_equal(cn_rm_rf("sd/d"), 0);
    assert_int_equal(found_lease("sd/a", 7), 40);
    /* A writer restarted under the cached secondary. */
    cn_shard_close(&b);
    b = open_writer("sd/b");
    put_heads(b, 7, 42);
    assert_int_equal(found_lease("sd/a", 7), 42);
    /* A shard replaced by a new one under the same name (restored, re-made):
       the cached secondary must not go on answering from the old one. */
    cn_shard_close(&c);
    assert_int_equal(cn_rm_rf("sd/c"), 0);
    c = open_writer("sd/c");
    put_heads(c, 7, 77);
    assert_int_equal(found_lease("sd/a", 7), 77);
    assert_int_equal(entries("scratch/secondaries"), 2); /* b and c: a is ours, d is gone */
    assert_int_equal(entries(getenv("TMPDIR")), 0);      /* nothing outside the scratch */
    cn_download_heads_close_all();
    assert_int_equal(entries("scratch/secondaries"), -1);
    assert_int_equal(access("scratch/git", F_OK), 0);
    assert_int_equal(found_lease("sd/a", 7), 77); /* opened again after close_all */
    cn_download_heads_close_all();
    cn_shard_close(&a);
    cn_shard_close(&b);
    cn_shard_close(&c);
}

typedef struct {
    cn_shard_t *writer;
    int calls;
    bool ok;
} race_t;

static void *lookup_thread(void *arg) {
    race_t *r = arg;
    uint64_t last = 0;
    for (int i = 0; i < r->calls; i++) {
        Canopy__Heads *h = NULL;
        cn_download_other_heads("sd", "scratch", "sd/a", 7, &h);
        uint64_t lease = h ? h->lease_seq : 0;
        if (h) cn_rec_free(&h->base);
        if (lease < last || lease < 100) r->ok = false; /* never older than seen */
        last = lease;
    }
    return NULL;
}

static void test_other_heads_from_several_threads_while_a_writer_appends(void **state) {
    (void)state;
    cn_shard_t *a = open_writer("sd/a"), *b = open_writer("sd/b");
    put_heads(b, 7, 100);
    race_t r[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (race_t){.writer = b, .calls = 30, .ok = true};
        assert_int_equal(pthread_create(&t[i], NULL, lookup_thread, &r[i]), 0);
    }
    for (uint64_t lease = 101; lease < 131; lease++) put_heads(b, 7, lease);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(r[i].ok);
    }
    assert_int_equal(found_lease("sd/a", 7), 130);
    cn_download_heads_close_all();
    cn_shard_close(&a);
    cn_shard_close(&b);
}

static int setup(void **state) {
    (void)state;
    cn_rm_rf("sd");
    cn_rm_rf("scratch");
    return 0;
}

int main(void) {
    char cwd[PATH_MAX - 16], tmp[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return 1;
    snprintf(tmp, sizeof tmp, "%s/tmp", cwd);
    cn_rm_rf(tmp);
    if (mkdir(tmp, 0755) != 0 || setenv("TMPDIR", tmp, 1) != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secondary_sees_new_writes_after_catch_up_only),
        cmocka_unit_test(test_secondary_survives_writer_close_and_reopen),
        cmocka_unit_test(test_secondary_of_some_families_reads_the_others_as_empty),
        cmocka_unit_test(test_catch_up_is_a_noop_for_writers_and_read_only_opens),
        cmocka_unit_test(test_identity_changes_only_when_the_shard_is_made_again),
        cmocka_unit_test_setup(test_other_heads_newest_lease_wins_and_own_is_skipped, setup),
        cmocka_unit_test_setup(test_other_heads_from_several_threads_while_a_writer_appends, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
