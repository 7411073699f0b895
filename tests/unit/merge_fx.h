/* merge_fx.h: the fixture of the merge stage's unit tests (test_merge*.c):
   shards written the way the download and scan jobs write them, a merge with
   its report, digests, and a two-worker cluster with fenced and killed
   attempts. Static functions: each test is its own executable. */
#ifndef CN_MERGE_FX_H
#define CN_MERGE_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "hash.h"
#include "journal.h"
#include "merge.h"
#include "repo.h"
#include "shard_fx.h"
#include "scanidx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FX_UNUSED static void oid(uint8_t out[20], const char *seed) {
    uint8_t h[32];
    cn_blake2b(seed, strlen(seed), h);
    memcpy(out, h, 20);
}

/* The content-addressed part of a download: n commits named prefix0..prefixN-1. */
FX_UNUSED static void put_commits(cn_batch_t *b, const char *prefix, int n) {
    for (int i = 0; i < n; i++) {
        char seed[64];
        snprintf(seed, sizeof seed, "%s%d", prefix, i);
        uint8_t id[20];
        oid(id, seed);
        Canopy__Commit c = CANOPY__COMMIT__INIT;
        c.oid = (ProtobufCBinaryData){20, id};
        c.message = (ProtobufCBinaryData){strlen(seed), (uint8_t *)seed};
        cn_repo_put_commit(b, &c);
        cn_repo_put_content(b, id, seed, strlen(seed));
        uint8_t ph[CN_REPO_PATH_HASH_LEN];
        cn_repo_path_hash(seed, strlen(seed), ph);
        cn_repo_put_path(b, ph, seed, strlen(seed));
        cn_repo_put_user(b, "A U Thor", "author@example.com");
    }
}

/* A download job: commits (unless committed is false: killed before its commit). */
FX_UNUSED static void download(cn_shard_t *s, uint64_t job, uint64_t lease, uint64_t project,
                               const char *prefix, int n, bool commit) {
    cn_batch_t *b = cn_batch_new();
    put_commits(b, prefix, n);
    assert_int_equal(cn_shard_append(s, b, false), 0);
    if (commit) {
        char seed[64];
        snprintf(seed, sizeof seed, "%s%d", prefix, n - 1);
        uint8_t head[20];
        oid(head, seed);
        put_main_head(b, project, job, lease, head);
        Canopy__ProjectLog l = CANOPY__PROJECT_LOG__INIT;
        l.project_id = project;
        l.kind = CANOPY__LOG_KIND__LOG_OK;
        l.job_id = job;
        l.lease_seq = lease;
        l.at_ms = 1000 * lease;
        cn_repo_put_log(b, &l);
        cn_repo_put_project(b, project, "https://example.com/p.git");
        cn_job_commit_t jc = {
            .job_id = job, .attempt = 1, .lease_seq = lease, .kind = "download", .key_id = project};
        assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
    }
    cn_batch_destroy(&b);
}

/* Called by scan() between the journal entry and the commit (may be NULL). */
static void (*scan_between)(void);

FX_UNUSED static void scan(cn_shard_t *s, const char *space, uint64_t job, uint64_t lease, uint64_t at,
                           bool commit) {
    cn_ptb_t *pb = cn_ptb_new((const uint8_t *)"/data", 5);
    const char *paths[] = {"", "a", "a/f", "b"};
    for (size_t i = 0; i < CN_ARRAY_LEN(paths); i++) {
        bool dir = i < 2;
        cn_pstat_t st = {
            .type = dir ? CN_PT_DIR : CN_PT_FILE, .mode = dir ? 040755 : 0100644, .size = job * 10 + i};
        assert_int_equal(cn_ptb_add(pb, (const uint8_t *)paths[i], strlen(paths[i]), &st, NULL, 0), 0);
    }
    cn_buf_t data = {0};
    assert_int_equal(cn_ptb_finish(pb, &data, NULL, NULL), 0);
    cn_ptb_destroy(&pb);
    put_scan(s, &data, space, 4, job, lease, at, commit, scan_between);
    cn_buf_free(&data);
}

FX_UNUSED static void print_problem(void *arg, const char *problem) {
    (void)arg;
    fprintf(stderr, "fsck: %s\n", problem);
}

/* A merge that may hold at most budget bytes of a shard's new records (0: the default). */
FX_UNUSED static cn_merge_report_t *merge_within(const char *data, const char *const *shards, size_t n,
                                                 size_t budget) {
    cn_merge_opts_t o = {.data_dir = data, .shards = shards, .nshards = n, .delta_bytes_max = budget};
    cn_merge_report_t *r = NULL;
    int rc = cn_merge_run(&o, &r);
    if (rc) fprintf(stderr, "merge: %s\n", cn_err_detail());
    assert_int_equal(rc, 0);
    return r;
}

FX_UNUSED static cn_merge_report_t *merge(const char *data, const char *const *shards, size_t n) {
    return merge_within(data, shards, n, 0);
}

FX_UNUSED static void digest(const char *data, cn_merge_digest_t *d) {
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(data, &m), 0);
    assert_int_equal(cn_merge_digest(m, d), 0);
    cn_shard_close(&m);
}

FX_UNUSED static uint64_t total_new(const cn_merge_report_t *r) {
    uint64_t n = 0;
    for (int cf = 0; cf < CN_CF_COUNT_; cf++) n += r->records[cf].new_;
    return n;
}

FX_UNUSED static bool has_problem(const cn_merge_report_t *r, uint64_t job, const char *issue) {
    for (size_t i = 0; i < r->nproblems; i++)
        if (r->problems[i].job_id == job && strcmp(r->problems[i].issue, issue) == 0) return true;
    return false;
}

/* Two workers: w1 downloads project 5 (job 1, lease 10) and scans; w2
   downloads project 5 again later (job 2, lease 20) with more commits, holds a
   fenced attempt of job 3 (lease 30; lease 31 committed on w1) and a job killed
   before its commit (job 4). */
FX_UNUSED static void make_cluster(void) {
    cn_shard_t *w1 = open_writer("shards/w1"), *w2 = open_writer("shards/w2");
    download(w1, 1, 10, 5, "c", 3, true);
    scan(w1, "host:/data", 6, 12, 5000, true);
    download(w2, 2, 20, 5, "c", 5, true);
    download(w2, 3, 30, 7, "x", 2, true); /* fenced: lease 31 won */
    download(w1, 3, 31, 7, "y", 2, true);
    download(w2, 4, 40, 8, "k", 2, false); /* killed before its commit */
    scan(w2, "host:/data", 9, 41, 4000, true);
    scan(w2, "host:/data", 10, 42, 6000, false);
    scan(w1, "host:/data", 12, 50, 7000, true); /* fenced: lease 51 won */
    scan(w2, "host:/data", 12, 51, 7001, true);
    cn_shard_close(&w1);
    cn_shard_close(&w2);
}

#endif
