/* test_merge_feed.c: the merge reading shards through their change feeds
   (storage/merge_feed.c): a moved shard is read from its feed; a shard whose
   new records pass the feed's byte budget is read whole, with the same digest;
   a killed attempt's journal entry stops being carried once a higher lease of
   its job has committed. */
#include "merge_fx.h"

static const char *const feed_shards[] = {"shards/big", "shards/small"};

static void merge_inc_midway(void) {
    cn_merge_report_t *r = merge("inc", feed_shards, 2);
    /* the new download (3 commits), the heads without a commit yet, a blob
       and the scan's uncommitted entry: not the 20 x 50 commits of the shard */
    assert_int_equal(r->shards_incremental, 1);
    assert_int_equal(r->shards_skipped, 1);
    assert_int_equal(r->records[CN_CF_COMMITS].new_, 3);
    assert_int_equal(r->records[CN_CF_HEADS].dropped, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].dropped, 1);
    assert_true(r->records_read < 40);
    cn_merge_report_free(&r);
}

/* A shard that moved is read from its change feed: only the records appended
   since the last merge (and those left out then for lack of a commit), and the
   result equals a fresh merge that reads every shard whole. */
static void test_merge_reads_a_moved_shard_from_its_feed(void **state) {
    (void)state;
    cn_shard_t *big = open_writer("shards/big"), *small = open_writer("shards/small");
    for (int j = 0; j < 20; j++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "b%d_", j);
        download(big, 100 + (uint64_t)j, 100 + (uint64_t)j, 1000 + (uint64_t)j, prefix, 50, true);
    }
    download(small, 1, 10, 5, "c", 3, true);
    cn_merge_report_t *r = merge("inc", feed_shards, 2);
    assert_int_equal(r->shards_incremental, 0); /* no feed watermark yet: read whole */
    assert_true(r->records_read > 20 * 50 * 3);
    cn_merge_report_free(&r);
    download(big, 200, 200, 2000, "n", 3, true);
    /* heads written before their job's commit, and a scan whose entry is
       merged before its commit: both must arrive with the commit later */
    cn_batch_t *b = cn_batch_new();
    Canopy__Heads h = CANOPY__HEADS__INIT;
    h.project_id = 77;
    h.job_id = 70;
    h.lease_seq = 70;
    cn_repo_put_heads(b, &h);
    assert_int_equal(cn_shard_append(big, b, false), 0);
    scan_between = merge_inc_midway;
    scan(big, "host:/data", 71, 71, 9000, true);
    scan_between = NULL;
    cn_job_commit_t jc = {.job_id = 70, .attempt = 1, .lease_seq = 70, .kind = "download", .key_id = 77};
    assert_int_equal(cn_shard_commit_job(big, b, &jc), 0);
    cn_batch_destroy(&b);
    cn_shard_close(&big);
    cn_shard_close(&small);
    r = merge("inc", feed_shards, 2);
    assert_int_equal(r->shards_incremental, 2); /* small moved too: its session ended */
    assert_int_equal(r->records[CN_CF_JOBS].new_, 2);
    assert_int_equal(r->records[CN_CF_HEADS].new_, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].new_, 1);
    assert_true(r->records_read < 40);
    cn_buf_t js = {0};
    cn_merge_report_json(r, &js);
    assert_non_null(strstr(cn_buf_cstr(&js), "\"shards_incremental\":2"));
    cn_buf_free(&js);
    cn_merge_report_free(&r);
    cn_merge_report_t *full = merge("full", feed_shards, 2);
    assert_int_equal(full->shards_incremental, 0);
    cn_merge_report_free(&full);
    cn_merge_digest_t di, df;
    digest("inc", &di);
    digest("full", &df);
    assert_memory_equal(di.records, df.records, sizeof di.records);
    assert_memory_equal(di.hash, df.hash, sizeof di.hash);
    assert_int_equal(di.records[CN_CF_HEADS], 23); /* 20 + small + job 200 + job 70 */
}

/* A few new keys with large values (file contents) pass the delta's byte
   budget: the shard is read whole, as a fresh merge would, with the same
   result; under the default budget the same shard is read from its feed. */
static void test_merge_reads_whole_when_new_values_pass_the_budget(void **state) {
    (void)state;
    const char *one[] = {"shards/w1"};
    cn_shard_t *w1 = open_writer("shards/w1");
    download(w1, 1, 10, 5, "c", 3, true);
    cn_merge_report_t *a = merge("a", one, 1), *b = merge("b", one, 1);
    cn_merge_report_free(&a);
    cn_merge_report_free(&b);
    cn_batch_t *batch = cn_batch_new();
    uint8_t *big = cn_xmalloc(512 << 10), h[32];
    for (int i = 0; i < 4; i++) { /* incompressible: 4 x 512 KiB stored */
        for (uint64_t j = 0; j < (512 << 10); j += 32) {
            uint64_t seed[2] = {(uint64_t)i, j};
            cn_blake2b(seed, sizeof seed, big + j);
        }
        cn_blob_put(batch, NULL, 0, big, 512 << 10, h);
    }
    free(big);
    assert_int_equal(cn_shard_append(w1, batch, false), 0);
    cn_batch_destroy(&batch);
    download(w1, 2, 20, 6, "d", 1, true);
    cn_shard_close(&w1);
    a = merge_within("a", one, 1, 1 << 20);
    b = merge("b", one, 1);
    assert_int_equal(a->shards_incremental, 0); /* 9 new keys, but 2 MiB of values */
    assert_int_equal(b->shards_incremental, 1);
    assert_int_equal(a->records[CN_CF_BLOBS].new_, 5);
    assert_int_equal(b->records[CN_CF_BLOBS].new_, 5);
    cn_merge_report_free(&a);
    cn_merge_report_free(&b);
    cn_merge_digest_t da, db;
    digest("a", &da);
    digest("b", &db);
    assert_memory_equal(da.hash, db.hash, sizeof da.hash);
}

/* The bytes of the keys the merged store in data keeps pending for shard w1. */
static size_t pending_bytes(const char *data) {
    cn_shard_t *m = NULL;
    cn_buf_t v = {0};
    assert_int_equal(cn_merge_open(data, &m), 0);
    assert_int_equal(cn_shard_get(m, CN_CF_META, "feedpend/w1", 11, &v), 0);
    size_t n = v.len;
    cn_buf_free(&v);
    cn_shard_close(&m);
    return n;
}

/* A scan attempt killed before its commit leaves an entry that merges read
   again in case its marker comes; once a higher lease of its job commits it
   never can, and merges stop carrying it from one to the next. */
static void test_merge_stops_carrying_a_fenced_attempts_entry(void **state) {
    (void)state;
    const char *one[] = {"shards/w1"};
    cn_shard_t *w1 = open_writer("shards/w1");
    download(w1, 1, 10, 5, "c", 1, true);
    cn_merge_report_t *r = merge(".", one, 1); /* whole; the feed mark is set */
    cn_merge_report_free(&r);
    scan(w1, "host:/data", 20, 200, 5000, false); /* killed before its commit */
    r = merge(".", one, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].dropped, 1);
    assert_true(has_problem(r, 20, "no committed result"));
    cn_merge_report_free(&r);
    assert_true(pending_bytes(".") > 0);
    scan(w1, "host:/data", 20, 201, 6000, true); /* the retry commits */
    r = merge(".", one, 1);
    assert_int_equal(r->shards_incremental, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].new_, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].dropped, 1); /* read once more, then let go */
    cn_merge_report_free(&r);
    assert_int_equal(pending_bytes("."), 0);
    download(w1, 21, 210, 6, "d", 1, true);
    cn_shard_close(&w1);
    r = merge(".", one, 1);
    assert_int_equal(r->shards_incremental, 1);
    assert_int_equal(r->records[CN_CF_JOURNAL].dropped, 0);
    assert_int_equal(r->records[CN_CF_JOBS].new_, 1);
    cn_merge_report_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_reads_a_moved_shard_from_its_feed, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_reads_whole_when_new_values_pass_the_budget, in_dir,
                                        out_dir),
        cmocka_unit_test_setup_teardown(test_merge_stops_carrying_a_fenced_attempts_entry, in_dir, out_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
