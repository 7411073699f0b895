/* noop.c: the "noop" job kind: does nothing and succeeds. It exists to measure
   the cluster's dispatch path (lease, run, group commit, result, ack) without
   any work in the way. Runs on any slot thread. */
#include "job.h"

static int noop_run(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len) {
    (void)ctx;
    (void)spec;
    (void)spec_len;
    return 0;
}

static cn_job_kind_t noop_kind = {.name = "noop", .run = noop_run};
CN_JOB_KIND(noop_kind)
