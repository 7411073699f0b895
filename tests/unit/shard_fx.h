/* shard_fx.h: fixtures of the shard-level unit tests (test_shard*.c,
   test_merge*.c, test_journal.c, test_blob_delta.c): each test in a fresh
   directory of its own, a writer shard, a one-branch Heads record as a
   download commits it, and a scan stored as the scan job stores it.
   Static functions (each test is its own executable); include after cmocka.h. */
#ifndef CN_SHARD_FX_H
#define CN_SHARD_FX_H

#include "errors.h"
#include "journal.h"
#include "repo.h"
#include "scanidx.h"
#include "shard.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define FX_UNUSED __attribute__((unused))

/* setup/teardown: a fresh directory under the current one, entered and left. */
FX_UNUSED static int in_dir(void **state) {
    (void)state;
    char tmpl[] = "tXXXXXX";
    if (!mkdtemp(tmpl) || chdir(tmpl) != 0) return -1;
    return 0;
}

FX_UNUSED static int out_dir(void **state) {
    (void)state;
    return chdir("..");
}

/* A writer shard at dir (created), or the test fails naming why. */
FX_UNUSED static cn_shard_t *open_writer(const char *dir) {
    cn_shard_opts_t o = {.create = true, .worker = "test"};
    cn_shard_t *s = NULL;
    int rc = cn_shard_open(dir, &o, &s);
    if (rc) fail_msg("open %s: %s", dir, cn_err_detail());
    return s;
}

/* Queues project's heads, one branch refs/heads/main at head, for job's lease. */
FX_UNUSED static void put_main_head(cn_batch_t *b, uint64_t project, uint64_t job, uint64_t lease,
                                    const uint8_t head[20]) {
    Canopy__Ref r = CANOPY__REF__INIT;
    r.name = (ProtobufCBinaryData){15, (uint8_t *)"refs/heads/main"};
    r.oid = (ProtobufCBinaryData){20, (uint8_t *)head};
    Canopy__Ref *rp = &r;
    Canopy__Heads h = CANOPY__HEADS__INIT;
    h.project_id = project;
    h.n_ref = 1;
    h.ref = &rp;
    h.job_id = job;
    h.lease_seq = lease;
    h.at_ms = 1000 * lease;
    cn_repo_put_heads(b, &h);
}

/* The scan job's storage steps for a path tree `tree` (rooted at /data): the
   journal entry appended uncommitted, then (between called in between, if
   set) indexed and committed under job's lease when commit. Returns the
   entry's journal id. */
FX_UNUSED static uint64_t put_scan(cn_shard_t *s, const cn_buf_t *tree, const char *space, uint64_t entries,
                                   uint64_t job, uint64_t lease, uint64_t at, bool commit,
                                   void (*between)(void)) {
    cn_buf_t meta = {0};
    Canopy__ScanMeta m = CANOPY__SCAN_META__INIT;
    m.space = (char *)space;
    m.root = (ProtobufCBinaryData){5, (uint8_t *)"/data"};
    m.entries = entries;
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
    assert_int_equal(cn_journal_append(s, &e, tree->data, tree->len, hash), 0);
    if (between) between();
    if (commit) {
        cn_ptree_t *t = NULL;
        assert_int_equal(cn_ptree_decode(tree->data, tree->len, 0, &t), 0);
        cn_batch_t *b = cn_batch_new();
        assert_int_equal(cn_scanidx_apply(s, &e, t, b), 0);
        cn_journal_commit(b, &e);
        cn_job_commit_t jc = {.job_id = job, .attempt = 1, .lease_seq = lease, .kind = "scan"};
        assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
        cn_batch_destroy(&b);
        cn_ptree_destroy(&t);
    }
    cn_buf_free(&meta);
    return e.journal_id;
}

#endif
