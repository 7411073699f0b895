/* test_download.c: the download job's core run directly against a real shard
   and real repositories made with the git command: full history, incremental
   updates, no-change runs, an uncommitted (killed) run leaving nothing visible,
   and each bad input (not a repository, missing path, disallowed scheme, empty
   repository, missing objects with and without allow_partial, thousands of refs,
   huge files, non-UTF-8 paths and messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download.h"
#include "errors.h"
#include "repo.h"
#include "util.h"
#include "wire.h"

typedef struct {
    char dir[256];
    char *src, *mirror, *url;
    cn_shard_t *shard;
    uint64_t lease;
    uint64_t project; /* one project id per URL, as the coordinator gives them */
} fx_t;

static void sh(fx_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sh(fx_t *f, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cn_buf_t full = {0};
    cn_buf_printf(&full,
                  "cd '%s' && export GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@x GIT_COMMITTER_NAME=Bob "
                  "GIT_COMMITTER_EMAIL=bob@x GIT_CONFIG_NOSYSTEM=1 HOME='%s' && (%s) >/dev/null 2>&1",
                  f->dir, f->dir, cmd);
    int rc = system(cn_buf_cstr(&full));
    if (rc != 0) fail_msg("command failed (%d): %s", rc, cmd);
    cn_buf_free(&full);
}

/* Output of a command run in the source repository. */
static char *out(fx_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *out(fx_t *f, const char *fmt, ...) {
    char cmd[4096], full[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd '%s' && %s", f->src, cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    cn_buf_t b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) cn_buf_append(&b, buf, n);
    assert_int_equal(pclose(p), 0);
    char *s = cn_xstrdup(cn_buf_cstr(&b));
    cn_buf_free(&b);
    return s;
}

static int setup(void **state) {
    fx_t *f = cn_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/dl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->src = cn_path_join(f->dir, "src");
    f->mirror = cn_path_join(f->dir, "mirror/1.git");
    f->url = cn_xasprintf("file://%s", f->src);
    char *sd = cn_path_join(f->dir, "shard");
    cn_shard_opts_t so = {.create = true, .worker = "wt"};
    assert_int_equal(cn_shard_open(sd, &so, &f->shard), 0);
    free(sd);
    f->lease = 100;
    f->project = 1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    cn_shard_close(&f->shard);
    cn_rm_rf(f->dir);
    free(f->src), free(f->mirror), free(f->url);
    free(f);
    return 0;
}

typedef struct {
    bool partial, no_commit;
    bool others; /* other workers' shards live beside this one (in f->dir) */
    uint64_t max_file;
    const char *url;
} run_opts_t;

/* One attempt as the runner does it: run, then commit the pointers. */
static int run(fx_t *f, const run_opts_t *o, cn_download_stats_t *st, bool *fatal) {
    cn_batch_t *b = cn_batch_new();
    uint64_t lease = ++f->lease;
    cn_download_t d = {.shard = f->shard,
                       .pointers = b,
                       .mirror_dir = f->mirror,
                       .url = o && o->url ? o->url : f->url,
                       .project_id = f->project,
                       .job_id = lease,
                       .lease_seq = lease,
                       .attempt = 1,
                       .allow_partial = o && o->partial,
                       .max_file_size = o ? o->max_file : 0,
                       .shards_dir = o && o->others ? f->dir : NULL};
    bool fat = false;
    int rc = cn_download_run(&d, st, &fat);
    if (fatal) *fatal = fat;
    if (rc == 0 && !(o && o->no_commit)) {
        cn_job_commit_t c = {
            .job_id = lease, .attempt = 1, .lease_seq = lease, .kind = "download", .key_id = f->project};
        assert_int_equal(cn_shard_commit_job(f->shard, b, &c), 0);
    } else if (rc < 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cn_err_detail());
        assert_int_equal(cn_download_log_error(&d, msg), 0);
        cn_err(rc, "%s", msg);
    }
    cn_batch_destroy(&b);
    return rc;
}

static void expect_ok(fx_t *f, const run_opts_t *o, cn_download_stats_t *st) {
    int rc = run(f, o, st, NULL);
    if (rc != 0) fail_msg("download failed: %s", cn_err_detail());
}

static int last_log(void *arg, Canopy__ProjectLog *l) {
    Canopy__ProjectLog **keep = arg;
    if (*keep) cn_rec_free(&(*keep)->base);
    *keep = l;
    return 0;
}

static Canopy__ProjectLog *latest_log(fx_t *f) {
    Canopy__ProjectLog *l = NULL;
    assert_int_equal(cn_repo_each_log(f->shard, f->project, last_log, &l), 0);
    assert_non_null(l);
    return l;
}

static void oid_of(const char *hex, uint8_t oid[20]) {
    char h[41];
    memcpy(h, hex, 40), h[40] = '\0';
    assert_true(cn_unhex(h, oid, 20));
}

/* Every commit of the source is stored, with its message bytes exactly. */
static void check_all_commits(fx_t *f) {
    char *revs = out(f, "git rev-list --all");
    for (char *l = revs; *l; l += 41) {
        uint8_t oid[20];
        oid_of(l, oid);
        Canopy__Commit *c = NULL;
        if (cn_repo_get_commit(f->shard, oid, &c) != 0) fail_msg("commit %.40s not stored", l);
        char *msg = out(f, "git cat-file commit %.40s | sed '1,/^$/d'", l);
        assert_int_equal(c->message.len, strlen(msg));
        assert_memory_equal(c->message.data, msg, c->message.len);
        Canopy__Changes *ch = NULL;
        assert_int_equal(cn_repo_get_changes(f->shard, oid, &ch), 0);
        cn_rec_free(&ch->base);
        cn_rec_free(&c->base);
        free(msg);
    }
    free(revs);
}

static size_t count_refs(const Canopy__Heads *h, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < h->n_ref; i++)
        if (!name ||
            (h->ref[i]->name.len == strlen(name) && memcmp(h->ref[i]->name.data, name, strlen(name)) == 0))
            n++;
    return n;
}

static void make_history(fx_t *f) {
    sh(f,
       "git init -q src && cd src && echo a > a && mkdir d && echo b > d/b && git add -A && "
       "git commit -qm first && printf 'caf\\351 message\\n' > m && echo c >> a && "
       "printf x > \"$(printf 'na\\357me')\" && git add -A && git commit -q -F m && "
       "git checkout -qb side && echo s > s && git add s && git commit -qm side && git checkout -q master && "
       "echo d > d/e && git add -A && git commit -qm main2 && git merge -q --no-edit side && "
       "head -c 5000 /dev/urandom > big && git add big && git commit -qm big && git tag v1 && "
       "git tag -a -m annotated v2 HEAD~1");
}

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
                       .shards_dir = f->dir};
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
