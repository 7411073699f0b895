/* merge.c: the "merge" job kind (MergeSpec): runs one merge of every shard of
   the data directory into <data>/merged/ (storage/merge.h) on a slot thread, so
   the coordinator can schedule merges like any job. The CLI gives it the serial
   key "merge": one merge at a time in the cluster (merged/merge.lock also keeps
   out a concurrent `canopy merge`). The summary is the reconciliation report. */
#include "errors.h"
#include "job.h"
#include "merge.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define SUMMARY_MAX (64u << 10)

static bool merge_stop(void *arg) {
    return cn_job_cancelled(arg);
}

static int merge_run(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len) {
    Canopy__MergeSpec *s = NULL;
    if (cn_rec_unpack(&canopy__merge_spec__descriptor, spec, spec_len, (ProtobufCMessage **)&s) < 0)
        return cn_job_fail(ctx, CN_EINVAL, true, "merge: the spec (%zu bytes) is not a MergeSpec", spec_len);
    const char *data = s->data_dir && s->data_dir[0] ? s->data_dir : cn_job_data_dir(ctx);
    cn_merge_opts_t o = {.data_dir = data, .threads = 2, .stop = merge_stop, .stop_arg = ctx};
    cn_merge_report_t *rep = NULL;
    cn_job_progress(ctx, 0, 1, "merges");
    int rc = cn_merge_run(&o, &rep);
    if (rc < 0) {
        /* Another merge holds the lock: retrying later helps; so does a stop. */
        rc = cn_job_fail(ctx, rc, false, "merge of %s failed: %s", data, cn_err_detail());
    } else {
        cn_buf_t b = {0};
        cn_merge_report_json(rep, &b);
        if (b.len > SUMMARY_MAX) { /* a huge problem list: keep the counts */
            cn_merge_report_t small = *rep;
            small.nproblems = 0;
            cn_buf_reset(&b);
            cn_merge_report_json(&small, &b);
        }
        cn_job_set_summary(ctx, cn_buf_cstr(&b));
        cn_buf_free(&b);
        cn_job_progress(ctx, 1, 1, "merges");
        cn_merge_report_free(&rep);
    }
    cn_rec_free(&s->base);
    return rc;
}

static cn_job_kind_t merge_kind = {.name = "merge", .run = merge_run};
CN_JOB_KIND(merge_kind)
