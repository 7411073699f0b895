/* test_merge.c: the merge stage (storage/merge.h) on real shards written the
   way the download and scan jobs write them: shards merged in two orders give
   identical content; a second merge is empty; a job killed before its commit
   and a fenced attempt contribute no pointers; a project downloaded on two
   workers becomes one project with the later heads; versioned records keep the
   highest version; scan journals are ordered and indexed on the merged store;
   a later, higher lease supersedes what was merged before. */
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

static void oid(uint8_t out[20], const char *seed) {
    uint8_t h[32];
    cn_blake2b(seed, strlen(seed), h);
    memcpy(out, h, 20);
}

/* The content-addressed part of a download: n commits named prefix0..prefixN-1. */
static void put_commits(cn_batch_t *b, const char *prefix, int n) {
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
static void download(cn_shard_t *s, uint64_t job, uint64_t lease, uint64_t project, const char *prefix, int n,
                     bool commit) {
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

static void scan(cn_shard_t *s, const char *space, uint64_t job, uint64_t lease, uint64_t at, bool commit) {
    cn_ptb_t *pb = cn_ptb_new((const uint8_t *)"/data", 5);
    const char *paths[] = {"", "a", "a/f", "b"};
    for (size_t i = 0; i < CN_ARRAY_LEN(paths); i++) {
        bool dir = i < 2;
        cn_pstat_t st = {
            .type = dir ? CN_PT_DIR : CN_PT_FILE, .mode = dir ? 040755 : 0100644, .size = job * 10 + i};
        assert_int_equal(cn_ptb_add(pb, (const uint8_t *)paths[i], strlen(paths[i]), &st, NULL, 0), 0);
    }
    cn_buf_t data = {0}, meta = {0};
    assert_int_equal(cn_ptb_finish(pb, &data, NULL, NULL), 0);
    cn_ptb_destroy(&pb);
    Canopy__ScanMeta m = CANOPY__SCAN_META__INIT;
    m.space = (char *)space;
    m.entries = 4;
    cn_rec_pack(&m.base, &meta);
    Canopy__JournalCause cause = CANOPY__JOURNAL_CAUSE__INIT;
    cause.job_id = job;
    cause.lease_seq = lease;
    Canopy__JournalEntry e = CANOPY__JOURNAL_ENTRY__INIT;
    e.type = (char *)"scan";
    e.metadata = (ProtobufCBinaryData){meta.len, meta.data};
    e.cause = &cause;
    e.at_ms = at;
    uint8_t hash[32];
    assert_int_equal(cn_journal_append(s, &e, data.data, data.len, hash), 0);
    if (scan_between) scan_between();
    if (commit) {
        cn_ptree_t *t = NULL;
        assert_int_equal(cn_ptree_decode(data.data, data.len, 0, &t), 0);
        cn_batch_t *b = cn_batch_new();
        assert_int_equal(cn_scanidx_apply(s, &e, t, b), 0);
        cn_journal_commit(b, &e);
        cn_job_commit_t jc = {.job_id = job, .attempt = 1, .lease_seq = lease, .kind = "scan"};
        assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
        cn_batch_destroy(&b);
        cn_ptree_destroy(&t);
    }
    cn_buf_free(&data);
    cn_buf_free(&meta);
}

static void print_problem(void *arg, const char *problem) {
    (void)arg;
    fprintf(stderr, "fsck: %s\n", problem);
}

/* A merge that may hold at most budget bytes of a shard's new records (0: the default). */
static cn_merge_report_t *merge_within(const char *data, const char *const *shards, size_t n, size_t budget) {
    cn_merge_opts_t o = {.data_dir = data, .shards = shards, .nshards = n, .delta_bytes_max = budget};
    cn_merge_report_t *r = NULL;
    int rc = cn_merge_run(&o, &r);
    if (rc) fprintf(stderr, "merge: %s\n", cn_err_detail());
    assert_int_equal(rc, 0);
    return r;
}

static cn_merge_report_t *merge(const char *data, const char *const *shards, size_t n) {
    return merge_within(data, shards, n, 0);
}

static void digest(const char *data, cn_merge_digest_t *d) {
    cn_shard_t *m = NULL;
    assert_int_equal(cn_merge_open(data, &m), 0);
    assert_int_equal(cn_merge_digest(m, d), 0);
    cn_shard_close(&m);
}

static uint64_t total_new(const cn_merge_report_t *r) {
    uint64_t n = 0;
    for (int cf = 0; cf < CN_CF_COUNT_; cf++) n += r->records[cf].new_;
    return n;
}

static bool has_problem(const cn_merge_report_t *r, uint64_t job, const char *issue) {
    for (size_t i = 0; i < r->nproblems; i++)
        if (r->problems[i].job_id == job && strcmp(r->problems[i].issue, issue) == 0) return true;
    return false;
}

/* Two workers: w1 downloads project 5 (job 1, lease 10) and scans; w2
   downloads project 5 again later (job 2, lease 20) with more commits, holds a
   fenced attempt of job 3 (lease 30; lease 31 committed on w1) and a job killed
   before its commit (job 4). */
static void make_cluster(void) {
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
        cmocka_unit_test_setup_teardown(test_merge_reads_a_moved_shard_from_its_feed, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_reads_whole_when_new_values_pass_the_budget, in_dir,
                                        out_dir),
        cmocka_unit_test_setup_teardown(test_merge_stops_carrying_a_fenced_attempts_entry, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_keeps_the_highest_version, in_dir, out_dir),
        cmocka_unit_test_setup_teardown(test_merge_open_before_a_merge_says_so_and_an_empty_merge_is_openable,
                                        in_dir, out_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
