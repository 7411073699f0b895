/* test_merge.c: the merge stage (storage/merge.h) on real shards written the
   way the download and scan jobs write them: shards merged in two orders give
   identical content; a second merge is empty; a job killed before its commit
   and a fenced attempt contribute no pointers; a project downloaded on two
   workers becomes one project with the later heads; versioned records keep the
   highest version; scan journals are ordered and indexed on the merged store;
   a later, higher lease supersedes what was merged before. */
#include "merge_fx.h"

static void test_merge_is_deterministic_and_idempotent(void **state) {
    (void)state;
    make_cluster();
    const char *ab[] = {"shards/w1", "shards/w2"}, *ba[] = {"shards/w2", "shards/w1"};
    cn_merge_report_t *r1 = merge("d1", ab, 2), *r2 = merge("d2", ba, 2);
    cn_merge_digest_t d1, d2;
    digest("d1", &d1);
    digest("d2", &d2);
    assert_memory_equal(d1.records, d2.records, sizeof d1.records);
    assert_memory_equal(d1.hash, d2.hash, sizeof d1.hash);
    assert_int_equal(total_new(r1), total_new(r2));
    assert_true(total_new(r1) > 0);
    assert_int_equal(r1->records[CN_CF_JOBS].new_, 6); /* jobs 1, 2, 3 (lease 31), 6, 9, 12 (51) */
    assert_int_equal(r1->records[CN_CF_JOBS].dropped, 2);
    assert_true(has_problem(r1, 3, "more than one committed result"));
    assert_true(has_problem(r1, 10, "no committed result"));
    assert_true(has_problem(r1, 12, "more than one committed result"));
    assert_false(has_problem(r1, 1, "more than one committed result"));
    cn_merge_report_t *again = merge("d1", ab, 2);
    assert_int_equal(total_new(again), 0);
    assert_int_equal(again->shards_skipped, 2);
    cn_merge_digest_t d3;
    digest("d1", &d3);
    assert_memory_equal(d1.hash, d3.hash, sizeof d1.hash);
    /* a merged generation removed by hand: the next merge starts over from the shards */
    char *gen = cn_merge_current_dir("d1");
    assert_non_null(gen);
    assert_int_equal(cn_rm_rf(gen), 0);
    free(gen);
    cn_merge_report_t *redo = merge("d1", ab, 2);
    assert_int_equal(total_new(redo), total_new(r1));
    cn_merge_report_free(&redo);
    digest("d1", &d3);
    assert_memory_equal(d1.hash, d3.hash, sizeof d1.hash);
    cn_buf_t js = {0};
    cn_merge_report_json(r1, &js);
    assert_non_null(strstr(cn_buf_cstr(&js), "\"commits\":{\"new\":"));
    assert_non_null(strstr(cn_buf_cstr(&js), "\"download\":3"));
    cn_buf_free(&js);
    cn_merge_report_free(&r1);
    cn_merge_report_free(&r2);
    cn_merge_report_free(&again);
}

static void test_merge_keeps_one_project_with_later_heads_and_no_fenced_records(void **state) {
    (void)state;
    make_cluster();
    cn_merge_report_free(&(cn_merge_report_t *){merge(".", NULL, 0)});
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(".", &m), 0);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(m, 5, &h), 0);
    assert_int_equal(h->lease_seq, 20); /* the later download */
    uint8_t want[20];
    oid(want, "c4");
    assert_memory_equal(h->ref[0]->oid.data, want, 20);
    cn_rec_free(&h->base);
    for (int i = 0; i < 5; i++) { /* the union of the commits */
        char seed[8];
        snprintf(seed, sizeof seed, "c%d", i);
        oid(want, seed);
        assert_true(cn_repo_has_commit(m, want));
    }
    /* job 3: only lease 31's pointers */
    uint8_t key[16];
    cn_repo_project_key(key, 7, 30);
    assert_false(cn_shard_has(m, CN_CF_HEADS, key, sizeof key));
    cn_repo_project_key(key, 7, 31);
    assert_true(cn_shard_has(m, CN_CF_HEADS, key, sizeof key));
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(m, 3, 30, &jc), CN_ENOTFOUND);
    assert_int_equal(cn_shard_job_commit(m, 3, 0, &jc), 0);
    assert_int_equal(jc->lease_seq, 31);
    cn_rec_free(&jc->base);
    /* job 4 (killed): no heads, no log, no commit record */
    assert_int_equal(cn_repo_latest_heads(m, 8, &h), CN_ENOTFOUND);
    assert_int_equal(cn_shard_job_commit(m, 4, 0, &jc), CN_ENOTFOUND);
    /* one project record per id */
    Canopy__Project *p = NULL;
    assert_int_equal(cn_repo_get_project(m, 5, &p), 0);
    cn_rec_free(&p->base);
    /* the merged store passes fsck: every commit's pointers (renumbered journal
       ids included) exist, every pointer names a commit */
    cn_fsck_report_t fr = {0};
    assert_int_equal(cn_shard_fsck(m, print_problem, NULL, &fr), 0);
    assert_int_equal(fr.problems, 0);
    assert_true(fr.commits_checked >= 6);
    cn_shard_close(&m);
}

static void test_merge_orders_scan_journals_and_indexes_them(void **state) {
    (void)state;
    make_cluster();
    cn_merge_report_t *r = merge(".", NULL, 0);
    assert_int_equal(r->journal_entries, 3);
    cn_merge_report_free(&r);
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(".", &m), 0);
    cn_scan_t *v = NULL;
    size_t n = 0;
    assert_int_equal(cn_scanidx_list(m, "host:/data", &v, &n), 0);
    assert_int_equal(n, 3); /* job 10 never committed; job 12 once */
    /* ids follow time: w2's scan (at 4000) before w1's (at 5000) */
    for (size_t i = 0; i < n; i++) {
        if (v[i].job_id == 9) assert_int_equal(v[i].journal_id, 1);
        if (v[i].job_id == 6) assert_int_equal(v[i].journal_id, 2);
        if (v[i].job_id == 12) assert_int_equal(v[i].lease_seq, 51); /* not the fenced lease 50 */
        if (v[i].job_id == 12) assert_int_equal(v[i].journal_id, 3);
    }
    cn_buf_t raw = {0};
    cn_scan_ent_t e;
    assert_int_equal(cn_scanidx_stat(m, 1, (const uint8_t *)"a/f", 3, &raw, &e), 0);
    assert_int_equal(e.st.size, 92); /* job 9's tree */
    cn_buf_free(&raw);
    cn_scanidx_free(v, n);
    cn_shard_close(&m);
}

static void test_merge_is_incremental_and_a_higher_lease_supersedes(void **state) {
    (void)state;
    cn_shard_t *w1 = open_writer("shards/w1"), *w2 = open_writer("shards/w2");
    download(w1, 1, 10, 5, "c", 3, true);
    download(w2, 2, 20, 6, "d", 2, true);
    cn_merge_report_t *r = merge(".", NULL, 0);
    uint64_t first = total_new(r);
    cn_merge_report_free(&r);
    /* w1 adds one job; job 1 also commits later under lease 50 on w2 (w1's
       attempt was fenced after the first merge saw it) */
    download(w1, 11, 60, 9, "e", 1, true);
    download(w2, 1, 50, 5, "c", 4, true);
    cn_shard_close(&w1);
    cn_shard_close(&w2);
    r = merge(".", NULL, 0);
    assert_int_equal(r->records[CN_CF_JOBS].new_, 2);
    assert_int_equal(r->records[CN_CF_COMMITS].new_, 2); /* e0 and c3 */
    assert_true(total_new(r) < first);
    assert_true(has_problem(r, 1, "more than one committed result"));
    cn_merge_report_free(&r);
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(".", &m), 0);
    uint8_t key[16];
    cn_repo_project_key(key, 5, 10);
    assert_false(cn_shard_has(m, CN_CF_HEADS, key, sizeof key)); /* superseded */
    assert_false(cn_shard_has(m, CN_CF_PROJLOG, key, sizeof key));
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(m, 1, 10, &jc), CN_ENOTFOUND);
    cn_shard_close(&m);
}

/* chunks: file_id BE64 | version BE64 | lease_seq BE64 -> chunk */
static void put_chunk(cn_shard_t *s, uint64_t job, uint64_t lease, uint64_t file, uint64_t version) {
    uint8_t k[24];
    cn_put_be64(k, file);
    cn_put_be64(k + 8, version);
    cn_put_be64(k + 16, lease);
    char v[32];
    int n = snprintf(v, sizeof v, "v%llu/l%llu", (unsigned long long)version, (unsigned long long)lease);
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_CHUNKS, k, sizeof k, v, (size_t)n);
    cn_job_commit_t jc = {.job_id = job, .attempt = 1, .lease_seq = lease, .kind = "compile-task"};
    assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
    cn_batch_destroy(&b);
}

static int count_chunks(cn_shard_t *m, uint64_t file, char *last, size_t n) {
    uint8_t p[8];
    cn_put_be64(p, file);
    cn_iter_t *it = NULL;
    assert_int_equal(cn_iter_new(m, CN_CF_CHUNKS, p, 8, &it), 0);
    int c = 0;
    for (; cn_iter_valid(it); cn_iter_next(it), c++) {
        size_t vl;
        const uint8_t *v = cn_iter_value(it, &vl);
        snprintf(last, n, "%.*s", (int)vl, (const char *)v);
    }
    cn_iter_destroy(&it);
    return c;
}

/* A copy of a shard (a restored backup under another name) adds nothing. */
static void test_merge_of_a_copied_shard_adds_nothing(void **state) {
    (void)state;
    make_cluster();
    assert_int_equal(system("cp -a shards/w2 shards/w2copy"), 0);
    unlink("shards/w2copy/canopy.lock");
    const char *two[] = {"shards/w1", "shards/w2"}, *three[] = {"shards/w1", "shards/w2", "shards/w2copy"};
    cn_merge_report_t *r2 = merge("d2", two, 2), *r3 = merge("d3", three, 3);
    cn_merge_digest_t d2, d3;
    digest("d2", &d2);
    digest("d3", &d3);
    assert_memory_equal(d2.records, d3.records, sizeof d2.records);
    assert_memory_equal(d2.hash, d3.hash, sizeof d2.hash);
    assert_int_equal(total_new(r2), total_new(r3));
    assert_false(has_problem(r3, 9, "more than one committed result"));
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open("d3", &m), 0);
    cn_fsck_report_t fr = {0};
    assert_int_equal(cn_shard_fsck(m, print_problem, NULL, &fr), 0);
    cn_shard_close(&m);
    cn_merge_report_free(&r2);
    cn_merge_report_free(&r3);
}

static void test_merge_keeps_the_highest_version(void **state) {
    (void)state;
    cn_shard_t *w1 = open_writer("shards/w1"), *w2 = open_writer("shards/w2");
    put_chunk(w1, 1, 10, 100, 1);
    put_chunk(w2, 2, 11, 100, 3);
    put_chunk(w1, 3, 12, 100, 2);
    put_chunk(w1, 4, 13, 200, 1);
    put_chunk(w2, 5, 14, 200, 1); /* a tie on version: the higher lease wins */
    put_chunk(w1, 8, 17, 300, 3);
    cn_merge_report_t *r = merge(".", NULL, 0);
    cn_merge_report_free(&r);
    cn_shard_t *m = NULL;
    char last[32];
    assert_int_equal(cn_merge_open(".", &m), 0);
    assert_int_equal(count_chunks(m, 100, last, sizeof last), 1);
    assert_string_equal(last, "v3/l11");
    assert_int_equal(count_chunks(m, 200, last, sizeof last), 1);
    assert_string_equal(last, "v1/l14");
    cn_shard_close(&m);
    /* a newer version later replaces the merged one; an older one does not */
    put_chunk(w1, 6, 15, 100, 4);
    put_chunk(w1, 7, 16, 200, 0);
    put_chunk(w2, 8, 21, 300, 2); /* job 8 again, under a higher lease: lease 17 was fenced */
    cn_shard_close(&w1);
    cn_shard_close(&w2);
    r = merge(".", NULL, 0);
    cn_merge_report_free(&r);
    assert_int_equal(cn_merge_open(".", &m), 0);
    assert_int_equal(count_chunks(m, 100, last, sizeof last), 1);
    assert_string_equal(last, "v4/l15");
    assert_int_equal(count_chunks(m, 200, last, sizeof last), 1);
    assert_string_equal(last, "v1/l14");
    assert_int_equal(count_chunks(m, 300, last, sizeof last), 1);
    assert_string_equal(last, "v2/l21"); /* the fenced lease's higher version is gone */
    cn_shard_close(&m);
}

static void test_merge_open_before_a_merge_says_so_and_an_empty_merge_is_openable(void **state) {
    (void)state;
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open("nowhere", &m), CN_ENOTFOUND);
    assert_non_null(strstr(cn_err_detail(), "canopy merge"));
    /* the first merge makes a store, even from no shards */
    cn_merge_report_t *r = merge("empty", NULL, 0);
    assert_int_equal(r->generation, 1);
    cn_merge_report_free(&r);
    cn_merge_digest_t d;
    digest("empty", &d);
    assert_int_equal(d.total, 0);
    r = merge("empty", NULL, 0); /* and a second one changes nothing */
    assert_int_equal(r->generation, 1);
    cn_merge_report_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_is_deterministic_and_idempotent, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_keeps_one_project_with_later_heads_and_no_fenced_records,
                                        in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_orders_scan_journals_and_indexes_them, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_is_incremental_and_a_higher_lease_supersedes, in_dir,
                                        out_dir),
        cmocka_unit_test_setup_teardown(test_merge_of_a_copied_shard_adds_nothing, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_keeps_the_highest_version, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_open_before_a_merge_says_so_and_an_empty_merge_is_openable,
                                        in_dir, out_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
