/* shard_fx.h: fixtures of the shard-level unit tests (test_shard*.c,
   test_merge.c, test_blob_delta.c): each test in a fresh directory of its
   own, a writer shard, and a one-branch Heads record as a download commits it.
   Static functions (each test is its own executable); include after cmocka.h. */
#ifndef CN_SHARD_FX_H
#define CN_SHARD_FX_H

#include "errors.h"
#include "repo.h"
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

#endif
