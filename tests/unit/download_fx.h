/* download_fx.h: the fixture of the download core's unit tests (test_download*.c):
   a temp dir with a source repository made by the git command, a real shard,
   and one download attempt run and committed as the runner does it. Included
   by each test file (static functions: each test is its own executable). */
#ifndef CN_DOWNLOAD_FX_H
#define CN_DOWNLOAD_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "download.h"
#include "sh_fx.h"
#include "errors.h"
#include "repo.h"
#include "util.h"
#include "wire.h"

#define FX_UNUSED __attribute__((unused))

typedef struct {
    char dir[256];
    char *src, *mirror, *url;
    char *scratch; /* the worker's scratch directory (the secondaries' folder) */
    cn_shard_t *shard;
    uint64_t lease;
    uint64_t project; /* one project id per URL, as the coordinator gives them */
} fx_t;

FX_UNUSED static void sh(fx_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
FX_UNUSED static void sh(fx_t *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fx_vsh(f->dir,
           "GIT_AUTHOR_NAME=Ann GIT_AUTHOR_EMAIL=ann@x GIT_COMMITTER_NAME=Bob GIT_COMMITTER_EMAIL=bob@x", fmt,
           ap);
    va_end(ap);
}

/* Output of a command run in the source repository. */
FX_UNUSED static char *out(fx_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
FX_UNUSED static char *out(fx_t *f, const char *fmt, ...) {
    cn_buf_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    fx_vcapture(f->src, &b, fmt, ap);
    va_end(ap);
    char *s = cn_xstrdup(cn_buf_cstr(&b));
    cn_buf_free(&b);
    return s;
}

FX_UNUSED static int setup(void **state) {
    fx_t *f = cn_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/dl-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->src = cn_path_join(f->dir, "src");
    f->mirror = cn_path_join(f->dir, "mirror/1.git");
    f->scratch = cn_path_join(f->dir, "scratch");
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

FX_UNUSED static int teardown(void **state) {
    fx_t *f = *state;
    cn_shard_close(&f->shard);
    cn_download_heads_close_all(); /* its secondaries are in f->dir */
    cn_rm_rf(f->dir);
    free(f->src), free(f->mirror), free(f->url), free(f->scratch);
    free(f);
    return 0;
}

typedef struct {
    bool partial, no_commit;
    bool others; /* other workers' shards live beside this one (in f->dir) */
    uint64_t max_file;
    size_t cache_bytes; /* the base cache's budget (0: the default) */
    /* progress callbacks (NULL: none), called with arg */
    void (*progress)(void *arg, uint64_t done, uint64_t total, const char *unit);
    void (*progress_bytes)(void *arg, uint64_t done, uint64_t total);
    void *arg;
    const char *url;
} run_opts_t;

/* One attempt as the runner does it: run, then commit the pointers. */
FX_UNUSED static int run(fx_t *f, const run_opts_t *o, cn_download_stats_t *st, bool *fatal) {
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
                       .cache_bytes = o ? o->cache_bytes : 0,
                       .progress = o ? o->progress : NULL,
                       .progress_bytes = o ? o->progress_bytes : NULL,
                       .arg = o ? o->arg : NULL,
                       .shards_dir = o && o->others ? f->dir : NULL,
                       .scratch_dir = f->scratch};
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

FX_UNUSED static void expect_ok(fx_t *f, const run_opts_t *o, cn_download_stats_t *st) {
    int rc = run(f, o, st, NULL);
    if (rc != 0) fail_msg("download failed: %s", cn_err_detail());
}

FX_UNUSED static int last_log(void *arg, Canopy__ProjectLog *l) {
    Canopy__ProjectLog **keep = arg;
    if (*keep) cn_rec_free(&(*keep)->base);
    *keep = l;
    return 0;
}

FX_UNUSED static Canopy__ProjectLog *latest_log(fx_t *f) {
    Canopy__ProjectLog *l = NULL;
    assert_int_equal(cn_repo_each_log(f->shard, f->project, last_log, &l), 0);
    assert_non_null(l);
    return l;
}

FX_UNUSED static void oid_of(const char *hex, uint8_t oid[20]) {
    char h[41];
    memcpy(h, hex, 40), h[40] = '\0';
    assert_true(cn_unhex(h, oid, 20));
}

/* Every commit of the source is stored, with its message bytes exactly. */
FX_UNUSED static void check_all_commits(fx_t *f) {
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

FX_UNUSED static size_t count_refs(const Canopy__Heads *h, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < h->n_ref; i++)
        if (!name ||
            (h->ref[i]->name.len == strlen(name) && memcmp(h->ref[i]->name.data, name, strlen(name)) == 0))
            n++;
    return n;
}

FX_UNUSED static void make_history(fx_t *f) {
    sh(f,
       "git init -q src && cd src && echo a > a && mkdir d && echo b > d/b && git add -A && "
       "git commit -qm first && printf 'caf\\351 message\\n' > m && echo c >> a && "
       "printf x > \"$(printf 'na\\357me')\" && git add -A && git commit -q -F m && "
       "git checkout -qb side && echo s > s && git add s && git commit -qm side && git checkout -q master && "
       "echo d > d/e && git add -A && git commit -qm main2 && git merge -q --no-edit side && "
       "head -c 5000 /dev/urandom > big && git add big && git commit -qm big && git tag v1 && "
       "git tag -a -m annotated v2 HEAD~1");
}

#endif
