/* job.h: the job-kind plugin interface. Each kind is one file in worker/jobs/
   that defines a cn_job_kind_t and registers it with CN_JOB_KIND(). The runner
   (worker/runner.c) calls run() on a slot thread with a context that gives the
   job its shard, a progress callback, a cancellation check and scratch space.
   run() may be called on several slot threads at once (one job each). */
#ifndef CN_JOB_H
#define CN_JOB_H

#include "shard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_job_ctx cn_job_ctx_t;

typedef struct cn_job_kind {
    const char *name; /* "sleep", "download", ... (JobSpec.kind) */
    /* Runs one attempt. spec is the kind's packed spec message. Content-addressed
       data may be appended to the shard in many batches during the run; pointer
       records go into cn_job_commit_batch(ctx) and are written by the runner in
       one synced batch with the job's commit record after run() returns 0.
       Returns 0 on success or a negative CN_E* code after cn_job_fail(). */
    int (*run)(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len);
    /* Optional: releases what the kind keeps for the life of the process (the
       worker calls it once at exit, after the last job). */
    void (*shutdown)(void);
    struct cn_job_kind *next; /* registry link, set by cn_job_register */
} cn_job_kind_t;

void cn_job_register(cn_job_kind_t *kind);
/* Finds a registered kind by name; NULL if none. */
const cn_job_kind_t *cn_job_find(const char *name);
/* Iterates registered kinds: pass NULL for the first. */
const cn_job_kind_t *cn_job_next(const cn_job_kind_t *prev);

/* Registers a kind at program start. */
#define CN_JOB_KIND(var)                                                                                     \
    static void cn_job_register_##var(void) __attribute__((constructor));                                    \
    static void cn_job_register_##var(void) {                                                                \
        cn_job_register(&(var));                                                                             \
    }

/* ---- what a running job can use ---- */
cn_shard_t *cn_job_shard(cn_job_ctx_t *ctx);
/* Pointer records to write with the commit record (owned by the context). */
cn_batch_t *cn_job_commit_batch(cn_job_ctx_t *ctx);
uint64_t cn_job_id(const cn_job_ctx_t *ctx);
uint32_t cn_job_attempt(const cn_job_ctx_t *ctx);
uint64_t cn_job_lease_seq(const cn_job_ctx_t *ctx);
/* Id of the job's serial key (a download's project id), 0 if none. */
uint64_t cn_job_key_id(const cn_job_ctx_t *ctx);
const char *cn_job_serial_key(const cn_job_ctx_t *ctx);
const char *cn_job_worker_name(const cn_job_ctx_t *ctx);
/* A directory private to this worker for temporary files and caches
   (scratch/<worker>/); it persists across jobs (the git mirror cache). */
const char *cn_job_scratch_dir(const cn_job_ctx_t *ctx);
/* The data directory of the cluster (--data), for kinds that read other stores. */
const char *cn_job_data_dir(const cn_job_ctx_t *ctx);

/* Reports progress (cheap: stores numbers the next heartbeat sends). */
void cn_job_progress(cn_job_ctx_t *ctx, uint64_t done, uint64_t total, const char *unit);
/* Reports bytes handled so far and expected in all (0: not known), beside the
   units of cn_job_progress (cheap: the next heartbeat sends them). */
void cn_job_progress_bytes(cn_job_ctx_t *ctx, uint64_t done, uint64_t total);
/* True when the job should stop now: cancelled, timed out, lease taken away,
   or the worker is shutting down. Check between units of work (< 1 s apart). */
bool cn_job_cancelled(cn_job_ctx_t *ctx);
/* Records why the attempt failed (a message a person understands) and returns
   code. fatal: retrying cannot help (bad input), the job goes dead at once. */
int cn_job_fail(cn_job_ctx_t *ctx, int code, bool fatal, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the JSON summary reported with success (copied). */
void cn_job_set_summary(cn_job_ctx_t *ctx, const char *json);

#endif
