/* sleep.c: the "sleep" job kind (SleepSpec): sleeps `ms` in slices of at most
   50 ms, checking for cancellation between slices, and fails its first
   `fail_attempts` attempts (ERROR, or FATAL if `fatal`) with `message`. The model
   for a kind: decode the spec, check cn_job_cancelled() between units of work,
   report progress, fail with a message a person understands. Any slot thread.
   With `bytes` set it also reports bytes (that many, spread evenly over ms). */
#include "errors.h"
#include "job.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>

static int sleep_run(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len) {
    Canopy__SleepSpec *s = NULL;
    if (cn_rec_unpack(&canopy__sleep_spec__descriptor, spec, spec_len, (ProtobufCMessage **)&s) < 0)
        return cn_job_fail(ctx, CN_EINVAL, true, "sleep: the spec (%zu bytes) is not a SleepSpec", spec_len);
    int rc = 0;
    uint64_t start = cn_mono_ms();
    for (;;) {
        uint64_t slept = cn_mono_ms() - start;
        cn_job_progress(ctx, CN_MIN(slept, s->ms), s->ms, "ms");
        if (s->bytes) { /* the share of bytes for the time slept (all of them at the end) */
            uint64_t b = slept >= s->ms ? s->bytes : (uint64_t)((double)s->bytes * (double)slept / s->ms);
            cn_job_progress_bytes(ctx, CN_MIN(b, s->bytes), s->bytes);
        }
        if (slept >= s->ms) break;
        if (cn_job_cancelled(ctx)) {
            /* The runner knows why (cancel, timeout, shutdown); say what we saw. */
            rc = cn_job_fail(ctx, CN_ECANCELLED, false, "sleep stopped after %llu of %u ms",
                             (unsigned long long)slept, s->ms);
            goto out;
        }
        cn_sleep_ms(CN_MIN(s->ms - slept, 50));
    }
    if (cn_job_attempt(ctx) <= s->fail_attempts) {
        const char *msg = s->message && s->message[0] ? s->message : "sleep failed as asked";
        rc = cn_job_fail(ctx, s->fatal ? CN_EINVAL : CN_EIO, s->fatal, "%s (attempt %u of %u set to fail)",
                         msg, cn_job_attempt(ctx), s->fail_attempts);
        goto out;
    }
    char summary[64];
    snprintf(summary, sizeof summary, "{\"slept_ms\":%u}", s->ms);
    cn_job_set_summary(ctx, summary);
out:
    cn_rec_free(&s->base);
    return rc;
}

static cn_job_kind_t sleep_kind = {.name = "sleep", .run = sleep_run};
CN_JOB_KIND(sleep_kind)
