/* test_download_delta.c: file contents stored as deltas against the previous
   version of their path (DESIGN §5, shard no larger than 1.2x the pack): a
   file edited in many commits is stored far smaller than whole, every version
   reads back exactly, chains are cut at CN_BLOB_MAX_DEPTH, bases evicted from
   the job's cache are read from git again, and an update deltas against a base
   stored by an earlier job. Real repositories made with the git command. The
   cache itself (dlcache.c on a keyset map) keeps every info and only the
   newest bytes. */
#include "download_fx.h"

#define VERSIONS 40

/* A ~40 KB text file edited in commits from+1..to (one line each), then a
   small file g (re)written. */
static void make_edits(fx_t *f, int from, int to) {
    if (from == 0)
        sh(f,
           "git init -q src && cd src && for i in $(seq 1 2000); do echo \"line $i of the file\"; done > f "
           "&& git add f && git commit -qm v0");
    sh(f,
       "cd src && for v in $(seq %d %d); do sed -i \"$((v * 37 %% 2000 + 1))s/.*/edited in version $v/\" f "
       "&& "
       "git commit -qam v$v; done && echo once %d > g && git add g && git commit -qm g%d",
       from + 1, to, to, to);
}

/* Every version of f in the source reads back from the shard byte for byte. */
static void check_every_version(fx_t *f) {
    char *blobs = out(f, "git log --format= --raw --no-abbrev -- f | awk '{print $4}' | sort -u");
    int n = 0;
    for (char *l = blobs; *l; l += 41, n++) {
        uint8_t oid[20];
        oid_of(l, oid);
        cn_buf_t got = {0};
        if (cn_repo_get_content(f->shard, oid, 1 << 20, &got, NULL) != 0)
            fail_msg("content %.40s: %s", l, cn_err_detail());
        char *want = out(f, "git cat-file blob %.40s", l);
        assert_int_equal(got.len, strlen(want));
        assert_memory_equal(got.data, want, got.len);
        free(want);
        cn_buf_free(&got);
    }
    assert_true(n >= VERSIONS);
    free(blobs);
}

static void test_edited_file_is_stored_as_deltas(void **state) {
    fx_t *f = *state;
    make_edits(f, 0, VERSIONS);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    assert_int_equal(st.contents_new, VERSIONS + 2);
    /* v0 whole, every later version a delta: past the depth cap a chain goes
       on from its whole root (depth 1) instead of a whole copy */
    assert_int_equal(st.contents_delta, VERSIONS);
    assert_int_equal(st.base_reads, 0); /* every base was still in the cache */
    /* Whole, each version costs ~9 KB compressed; a one-line delta a few dozen bytes. */
    assert_true(st.content_stored_bytes < st.content_bytes / 40);
    check_every_version(f);
    char *head = out(f, "git rev-parse HEAD:f");
    uint8_t oid[20];
    oid_of(head, oid);
    unsigned depth = 99;
    assert_int_equal(cn_repo_content_depth(f->shard, oid, &depth), 0);
    assert_true(depth >= 1 && depth <= CN_BLOB_MAX_DEPTH);
    free(head);
    assert_int_equal(cn_shard_fsck(f->shard, NULL, NULL, NULL), 0);
}

static void test_bases_out_of_the_cache_are_read_again(void **state) {
    fx_t *f = *state;
    make_edits(f, 0, VERSIONS);
    cn_download_stats_t st;
    run_opts_t o = {.cache_bytes = 1}; /* nothing fits: every base comes from git */
    expect_ok(f, &o, &st);
    assert_int_equal(st.base_reads, st.contents_delta);
    assert_true(st.contents_delta > VERSIONS / 2);
    check_every_version(f);
}

static void test_update_deltas_against_an_earlier_jobs_content(void **state) {
    fx_t *f = *state;
    make_edits(f, 0, 3);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    make_edits(f, 3, VERSIONS);
    expect_ok(f, NULL, &st);
    assert_int_equal(st.commits_new, VERSIONS - 3 + 1);
    /* The first new versions of f and g are deltas on contents of the first
       job, whose bytes come from git again. That chain's root is the first
       job's: at the cap (v17) f is stored whole once; past the next cap (v34)
       it goes on from v17. So f v4..v40 and g, less one. */
    assert_int_equal(st.contents_delta, VERSIONS - 3 + 1 - 1);
    assert_int_equal(st.base_reads, 2);
    check_every_version(f);
}

typedef struct {
    uint64_t done, total, bytes, bytes_calls;
} prog_t;

static void on_progress(void *arg, uint64_t done, uint64_t total, const char *unit) {
    prog_t *p = arg;
    if (strcmp(unit, "commits") != 0) return;
    assert_true(done >= p->done); /* never backwards */
    p->done = done;
    p->total = total;
}

static void on_bytes(void *arg, uint64_t done, uint64_t total) {
    prog_t *p = arg;
    if (total) assert_true(done <= total);
    p->bytes = done;
    p->bytes_calls++;
}

/* Progress: commits done out of the commits to walk, and the content bytes read. */
static void test_progress_reports_commits_and_bytes(void **state) {
    fx_t *f = *state;
    make_edits(f, 0, VERSIONS);
    prog_t p = {0};
    run_opts_t o = {.progress = on_progress, .progress_bytes = on_bytes, .arg = &p};
    cn_download_stats_t st;
    expect_ok(f, &o, &st);
    assert_int_equal(p.total, VERSIONS + 2);
    assert_int_equal(p.done, VERSIONS + 2);
    assert_true(p.bytes_calls >= 1);
    assert_int_equal(p.bytes, st.content_bytes);
    assert_true(st.content_bytes > 40 * 40000);
}

static int released;
static void count_release(void *owner) {
    (void)owner;
    released++;
}

/* An oid whose first 8 bytes are shared by every fourth one, so the keyset
   map's probing sees collisions. */
static void test_oid(uint32_t i, uint8_t oid[CN_OID_LEN]) {
    memset(oid, 0, CN_OID_LEN);
    uint32_t home = i / 4;
    memcpy(oid, &home, sizeof home);
    memcpy(oid + 16, &i, sizeof i);
}

static void test_base_cache_keeps_every_info_and_the_newest_bytes(void **state) {
    (void)state;
    enum { N = 5000, LEN = 100, KEEP = 10 }; /* past several doublings of the map */
    static const uint8_t bytes[LEN];
    cn_bcache_t *c = cn_bcache_new(KEEP * LEN);
    released = 0;
    uint8_t oid[CN_OID_LEN];
    for (uint32_t i = 0; i < N; i++) {
        test_oid(i, oid);
        cn_bcache_info_t info = {.depth = i % 7, .has_root = i % 2};
        memset(info.root, (int)i, CN_OID_LEN);
        cn_dlbuf_t *b = cn_dlbuf_wrap(bytes, LEN, count_release, NULL);
        cn_bcache_put(c, oid, &info, b);
        cn_dlbuf_unref(b);
    }
    assert_int_equal(released, N - KEEP); /* the oldest bytes were dropped */
    test_oid(0, oid);
    cn_bcache_info_t again = {.depth = 6};
    cn_bcache_put(c, oid, &again, NULL); /* stored once per job: ignored */
    for (uint32_t i = 0; i < N; i++) {
        test_oid(i, oid);
        cn_bcache_info_t info;
        cn_dlbuf_t *b = (cn_dlbuf_t *)&info; /* must be overwritten */
        assert_true(cn_bcache_get(c, oid, &info, &b));
        assert_int_equal(info.depth, i % 7);
        assert_int_equal(info.has_root, i % 2);
        assert_int_equal(info.root[0], (uint8_t)i);
        assert_true(i >= N - KEEP ? b != NULL : b == NULL);
        cn_dlbuf_unref(b);
    }
    test_oid(N, oid);
    cn_bcache_info_t info;
    cn_dlbuf_t *b = NULL;
    assert_false(cn_bcache_get(c, oid, &info, &b));
    cn_bcache_free(&c);
    assert_int_equal(released, N);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edited_file_is_stored_as_deltas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bases_out_of_the_cache_are_read_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_deltas_against_an_earlier_jobs_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_reports_commits_and_bytes, setup, teardown),
        cmocka_unit_test(test_base_cache_keeps_every_info_and_the_newest_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
