/* test_download.c: the download job's core run directly against a real shard
   and real repositories made with the git command: full history, incremental
   updates, no-change runs, an uncommitted (killed) run leaving nothing visible,
   and each bad input (not a repository, missing path, disallowed scheme, empty
   repository, missing objects with and without allow_partial, thousands of refs,
   huge files, non-UTF-8 paths and messages). */
#include "download_fx.h"

static void test_first_download_stores_full_history(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_download_stats_t st;
    run_opts_t o = {.max_file = 4096};
    expect_ok(f, &o, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_OK);
    assert_int_equal(st.commits_new, 6);
    assert_int_equal(st.contents_too_big, 1);
    check_all_commits(f);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(h->n_ref, 4); /* master, side, v1, v2 */
    assert_int_equal(count_refs(h, "refs/tags/v2"), 1);
    /* The annotated tag is stored peeled to its commit. */
    char *v2 = out(f, "git rev-parse 'v2^{commit}'");
    for (size_t i = 0; i < h->n_ref; i++)
        if (count_refs(h, "refs/tags/v2") && h->ref[i]->name.len == 12 &&
            memcmp(h->ref[i]->name.data, "refs/tags/v2", 12) == 0) {
            uint8_t oid[20];
            oid_of(v2, oid);
            assert_memory_equal(h->ref[i]->oid.data, oid, 20);
        }
    free(v2);
    cn_rec_free(&h->base);
    /* Contents: bytes exactly as git stores them; the big file only by size. */
    char *a = out(f, "git rev-parse HEAD:a"), *big = out(f, "git rev-parse HEAD:big");
    uint8_t oid[20];
    oid_of(a, oid);
    cn_buf_t b = {0};
    assert_int_equal(cn_repo_get_content(f->shard, oid, 1 << 20, &b, NULL), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a\nc\n", 4);
    cn_buf_reset(&b);
    uint64_t size = 0;
    oid_of(big, oid);
    assert_int_equal(cn_repo_get_content(f->shard, oid, 1 << 20, &b, &size), CN_ETOOBIG);
    assert_int_equal(size, 5000);
    cn_buf_free(&b);
    free(a), free(big);
    Canopy__ProjectLog *l = latest_log(f);
    assert_int_equal(l->kind, CANOPY__LOG_KIND__LOG_OK);
    assert_int_equal(l->commits_new, 6);
    assert_non_null(l->stamp);
    cn_rec_free(&l->base);
    Canopy__Project *p = NULL;
    assert_int_equal(cn_repo_get_project(f->shard, 1, &p), 0);
    assert_string_equal(p->url, f->url);
    cn_rec_free(&p->base);
    assert_int_equal(cn_shard_fsck(f->shard, NULL, NULL, NULL), 0);
}

static void test_redownload_without_change_is_nochange(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    uint64_t seq = cn_shard_seq(f->shard);
    expect_ok(f, NULL, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
    assert_int_equal(st.commits_new + st.contents_new + st.paths_new, 0);
    /* Only the pointer batch was written: project (dropped, same value), log, commit record. */
    assert_true(cn_shard_seq(f->shard) - seq <= 3);
    Canopy__ProjectLog *l = latest_log(f);
    assert_int_equal(l->kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
    cn_rec_free(&l->base);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(h->lease_seq, f->lease - 1); /* heads stay those of the last change */
    cn_rec_free(&h->base);
}

static void test_incremental_update_stores_only_new(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    uint64_t contents = st.contents_new;
    sh(f, "cd src && echo more >> a && git commit -qam n1 && echo z > z && git add z && git commit -qm n2 && "
          "git branch -D side && git checkout -qb feature && echo q > q && git add q && git commit -qm n3 && "
          "git checkout -q master");
    expect_ok(f, NULL, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_OK);
    assert_int_equal(st.commits_new, 3);
    assert_int_equal(st.commits_skipped, 0);
    assert_int_equal(st.contents_new, 3); /* a, z, q */
    assert_true(contents > 3);
    check_all_commits(f);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(count_refs(h, "refs/heads/side"), 0);
    assert_int_equal(count_refs(h, "refs/heads/feature"), 1);
    assert_int_equal(h->n_ref, 4);
    cn_rec_free(&h->base);
}

static void test_uncommitted_run_leaves_nothing_visible(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_download_stats_t st;
    run_opts_t o = {.no_commit = true};
    expect_ok(f, &o, &st); /* the job "dies" before its commit batch */
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), CN_ENOTFOUND);
    Canopy__ProjectLog *l = NULL;
    assert_int_equal(cn_repo_each_log(f->shard, 1, last_log, &l), 0);
    assert_null(l);
    /* The next attempt finds the stored commits and commits the heads. */
    expect_ok(f, NULL, &st);
    assert_int_equal(st.commits_new, 0);
    assert_int_equal(st.commits_skipped, 6);
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    cn_rec_free(&h->base);
}

static void test_empty_repository_is_ok_with_zero_commits(void **state) {
    fx_t *f = *state;
    sh(f, "git init -q src");
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_OK);
    assert_int_equal(st.commits_new, 0);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(h->n_ref, 0);
    cn_rec_free(&h->base);
    expect_ok(f, NULL, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
}

static void expect_failure(fx_t *f, const char *url, int code, bool want_fatal, const char *detail_part) {
    cn_download_stats_t st;
    bool fatal = false;
    run_opts_t o = {.url = url};
    f->project++;
    int rc = run(f, &o, &st, &fatal);
    assert_int_equal(rc, code);
    if (!strstr(cn_err_detail(), detail_part))
        fail_msg("detail '%s' lacks '%s'", cn_err_detail(), detail_part);
    assert_int_equal(fatal, want_fatal);
    Canopy__ProjectLog *l = latest_log(f);
    assert_int_equal(l->kind, CANOPY__LOG_KIND__LOG_ERROR);
    assert_non_null(strstr(l->message, detail_part));
    cn_rec_free(&l->base);
}

static void test_bad_inputs_fail_with_a_clear_message(void **state) {
    fx_t *f = *state;
    sh(f, "mkdir notrepo && echo x > notrepo/f");
    char *notrepo = cn_xasprintf("file://%s/notrepo", f->dir),
         *missing = cn_xasprintf("file://%s/nope", f->dir);
    expect_failure(f, notrepo, CN_EGIT, true, "is not a git repository");
    expect_failure(f, missing, CN_EUNREACHABLE, true, "no such path");
    expect_failure(f, "ftp://example.org/r", CN_EUNSUPPORTED, true, "not allowed");
    free(notrepo), free(missing);
    /* The error entries are committed: fsck finds nothing dangling. */
    assert_int_equal(cn_shard_fsck(f->shard, NULL, NULL, NULL), 0);
    /* And a good download afterwards works. */
    f->project = 1;
    make_history(f);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    assert_int_equal(st.commits_new, 6);
}

/* A mirror with a blob missing (loose objects pushed from the source). */
static char *corrupt_mirror(fx_t *f) {
    sh(f, "mkdir -p mirror && rm -rf mirror/1.git && git init -q --bare mirror/1.git && cd src && "
          "git push -q ../mirror/1.git 'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*'");
    char *blob = out(f, "git rev-parse bad:only-bad");
    blob[40] = '\0';
    sh(f, "rm mirror/1.git/objects/%.2s/%s", blob, blob + 2);
    return blob;
}

static void test_missing_object_fails_or_stores_what_is_consistent(void **state) {
    fx_t *f = *state;
    sh(f, "git init -q src && cd src && echo a > a && git add a && git commit -qm one && "
          "git checkout -qb bad && echo secret > only-bad && git add only-bad && git commit -qm bad && "
          "echo more > more && git add more && git commit -qm after-bad && git checkout -q master && "
          "echo b > b && git add b && git commit -qm two");
    char *blob = corrupt_mirror(f);
    cn_download_stats_t st;
    bool fatal = true;
    assert_int_equal(run(f, NULL, &st, &fatal), CN_ECORRUPT);
    if (!strstr(cn_err_detail(), blob)) fail_msg("'%s' does not name %s", cn_err_detail(), blob);
    assert_false(fatal);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), CN_ENOTFOUND);
    /* With allow_partial: master is stored, the bad branch and its commits are not. */
    free(corrupt_mirror(f));
    run_opts_t o = {.partial = true};
    expect_ok(f, &o, &st);
    assert_int_equal(st.commits_new, 2);
    assert_true(st.missing >= 1);
    assert_non_null(strstr(st.message, blob));
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(h->n_ref, 1);
    assert_int_equal(count_refs(h, "refs/heads/master"), 1);
    cn_rec_free(&h->base);
    Canopy__ProjectLog *l = latest_log(f);
    assert_int_equal(l->kind, CANOPY__LOG_KIND__LOG_OK);
    assert_non_null(strstr(l->message, "missing"));
    cn_rec_free(&l->base);
    free(blob);
}

static void test_thousands_of_refs(void **state) {
    fx_t *f = *state;
    sh(f, "git init -q src && cd src && echo a > a && git add a && git commit -qm one && "
          "h=$(git rev-parse HEAD) && for i in $(seq 1 2000); do echo \"create refs/tags/t$i $h\"; done | "
          "git update-ref --stdin && git update-ref refs/pull/1/head $h");
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), 0);
    assert_int_equal(h->n_ref, 2001); /* the pull-request ref is not a head */
    assert_int_equal(count_refs(h, "refs/pull/1/head"), 0);
    cn_rec_free(&h->base);
    expect_ok(f, NULL, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
}

static void test_project_downloaded_by_another_worker_is_updated_not_copied(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_download_stats_t st;
    expect_ok(f, NULL, &st); /* into "shard": worker 1 */
    char *other = cn_path_join(f->dir, "w2");
    cn_shard_opts_t so = {.create = true, .worker = "w2"};
    cn_shard_t *mine = f->shard, *s2 = NULL;
    assert_int_equal(cn_shard_open(other, &so, &s2), 0);
    /* Worker 2 (its own mirror and shard) sees worker 1's heads: no change. */
    free(f->mirror);
    f->mirror = cn_path_join(f->dir, "mirror2/1.git");
    f->shard = s2;
    cn_batch_t *b = cn_batch_new();
    cn_download_t d = {.shard = s2,
                       .pointers = b,
                       .mirror_dir = f->mirror,
                       .url = f->url,
                       .project_id = 1,
                       .job_id = 900,
                       .lease_seq = 900,
                       .attempt = 1,
                       .shards_dir = f->dir,
                       .scratch_dir = f->scratch};
    bool fatal;
    assert_int_equal(cn_download_run(&d, &st, &fatal), 0);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
    sh(f, "cd src && echo n >> a && git commit -qam next");
    cn_batch_clear(b);
    d.lease_seq = d.job_id = 901;
    assert_int_equal(cn_download_run(&d, &st, &fatal), 0);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_OK);
    assert_int_equal(st.commits_new, 1);
    cn_job_commit_t c = {.job_id = 901, .attempt = 1, .lease_seq = 901, .kind = "download", .key_id = 1};
    assert_int_equal(cn_shard_commit_job(s2, b, &c), 0);
    cn_batch_destroy(&b);
    /* Worker 1 again: its own shard's heads are older than worker 2's, which
       already hold the new commit: no change (not the update walked again). */
    f->shard = mine;
    free(f->mirror);
    f->mirror = cn_path_join(f->dir, "mirror/1.git");
    f->lease = 1000;
    run_opts_t ro = {.others = true};
    expect_ok(f, &ro, &st);
    assert_int_equal(st.log_kind, CANOPY__LOG_KIND__LOG_NO_CHANGE);
    assert_int_equal(st.commits_new, 0);
    cn_shard_close(&s2);
    free(other);
}

static void test_broken_mirror_is_cloned_again(void **state) {
    fx_t *f = *state;
    make_history(f);
    /* A mirror directory that is not a repository (a crash, a disk problem). */
    sh(f, "mkdir -p mirror/1.git && echo junk > mirror/1.git/HEAD");
    cn_download_stats_t st;
    expect_ok(f, NULL, &st);
    assert_int_equal(st.commits_new, 6);
    check_all_commits(f);
}

static void test_unreachable_network_url_fails_and_may_be_retried(void **state) {
    fx_t *f = *state;
    cn_download_stats_t st;
    bool fatal = true;
    run_opts_t o = {.url = "http://127.0.0.1:9/nobody/here"};
    int rc = run(f, &o, &st, &fatal);
    assert_true(rc == CN_EUNREACHABLE || rc == CN_EGIT);
    assert_false(fatal); /* a network may come back: the job is retried */
    assert_non_null(strstr(cn_err_detail(), "127.0.0.1"));
}

static bool always(void *arg) {
    (void)arg;
    return true;
}

static void test_cancelled_download_stops_and_commits_nothing(void **state) {
    fx_t *f = *state;
    make_history(f);
    cn_batch_t *b = cn_batch_new();
    cn_download_t d = {.shard = f->shard,
                       .pointers = b,
                       .mirror_dir = f->mirror,
                       .url = f->url,
                       .project_id = 1,
                       .job_id = 7,
                       .lease_seq = 7,
                       .attempt = 1,
                       .cancelled = always};
    cn_download_stats_t st;
    bool fatal = true;
    assert_int_equal(cn_download_run(&d, &st, &fatal), CN_ECANCELLED);
    assert_false(fatal);
    assert_int_equal(st.commits_new, 0);
    cn_batch_destroy(&b);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(f->shard, 1, &h), CN_ENOTFOUND);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_download_stores_full_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redownload_without_change_is_nochange, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_update_stores_only_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_run_leaves_nothing_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_repository_is_ok_with_zero_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs_fail_with_a_clear_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_object_fails_or_stores_what_is_consistent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_thousands_of_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_mirror_is_cloned_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_network_url_fails_and_may_be_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cancelled_download_stops_and_commits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_downloaded_by_another_worker_is_updated_not_copied,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
