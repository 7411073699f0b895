/* runner.h: the worker's job slots. N threads take leases from one queue, run
   them through their kind (job.h) and park them as finished; the worker loop
   collects the finished jobs and commits the successful ones to the shard in one
   synced write (group commit). Threading: every function here is called from one
   thread (the worker loop); slot threads only call the notify callback. */
#ifndef CN_RUNNER_H
#define CN_RUNNER_H

#include "job.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_runner cn_runner_t;

typedef struct {
    cn_shard_t *shard;       /* borrowed; outlives the runner */
    const char *worker;      /* worker name (copied) */
    const char *scratch_dir; /* copied */
    const char *data_dir;    /* copied */
    unsigned slots;          /* number of slot threads (>= 1) */
    /* Called from a slot thread when a job finishes and the loop has not been
       told since its last cn_runner_collect: one wake-up per loop turn. */
    void (*notify)(void *arg);
    void *notify_arg;
} cn_runner_opts_t;

/* Why a job is asked to stop (bits; cn_job_cancelled() is true for any). */
enum {
    CN_STOP_CANCEL = 1u,   /* the user cancelled the job: CANCELED */
    CN_STOP_STALE = 2u,    /* the lease was taken away: no commit, no result */
    CN_STOP_SHUTDOWN = 4u, /* the worker is stopping: RELEASED */
    CN_STOP_TIMEOUT = 8u,  /* Lease.timeout_ms passed: ERROR CN_ETIMEOUT */
};

/* One finished job, ready to go into a Results message. */
typedef struct {
    uint64_t job_id;
    uint64_t lease_seq;
    uint32_t attempt;
    Canopy__Outcome outcome;
    int error_code; /* negative CN_E*, 0 on success */
    char *error;    /* owned; NULL on success */
    char *summary;  /* owned JSON object; may be NULL */
    bool committed; /* its commit record is synced in the shard */
    bool drop;      /* stale lease: send nothing */
    bool acked;     /* the worker loop's mark: the coordinator acknowledged it */
} cn_job_result_t;

/* What the loop needs to know about a job in flight. */
typedef struct {
    uint64_t job_id;
    uint64_t lease_seq;
    bool started;  /* a slot thread took it */
    bool finished; /* run() returned; waiting for cn_runner_collect */
    uint64_t done, total;
    uint64_t bytes_done, bytes_total; /* cn_job_progress_bytes */
    char unit[32];
} cn_job_info_t;

typedef struct {
    uint64_t submitted;     /* leases taken */
    uint64_t finished;      /* run() returned (or was skipped) */
    uint64_t committed;     /* jobs whose commit record is written */
    uint64_t group_commits; /* synced writes that carried them */
    uint64_t failed;        /* results other than OK */
} cn_runner_stats_t;

/* Starts opts->slots threads. Returns 0 or a negative CN_E* code. */
int cn_runner_new(const cn_runner_opts_t *opts, cn_runner_t **out);
/* Asks every job to stop (shutdown), joins the threads and frees everything,
   finished-but-uncollected jobs included (nothing is committed). Safe on NULL.
   Blocks until the running jobs return. */
void cn_runner_destroy(cn_runner_t **self_p);

/* Queues n leases (copied). Never blocks on a job. */
void cn_runner_submit(cn_runner_t *r, Canopy__Lease *const *leases, size_t n);
/* Sets stop bits on the job in flight with this lease. False if not found. */
bool cn_runner_stop(cn_runner_t *r, uint64_t job_id, uint64_t lease_seq, unsigned reason);
/* Sets stop bits on every job in flight. */
void cn_runner_stop_all(cn_runner_t *r, unsigned reason);
/* Jobs submitted and not yet collected. */
size_t cn_runner_inflight(cn_runner_t *r);
/* Calls fn for every job in flight (queued, running, or finished and not yet
   collected), under the runner's lock: fn must not call back into the runner. */
void cn_runner_each(cn_runner_t *r, void (*fn)(void *arg, const cn_job_info_t *info), void *arg);

/* Takes every finished job, writes the commit records of the successful ones
   (with their pointer batches) in ONE synced write, and returns all their results
   in *out (free with cn_runner_results_free), in finishing order. Returns 0 (with
   *n possibly 0) or a negative code if the shard refused every commit (the jobs
   are then reported as ERROR). Blocks on the fsync. */
int cn_runner_collect(cn_runner_t *r, cn_job_result_t **out, size_t *n);
void cn_runner_results_free(cn_job_result_t *res, size_t n);
/* Frees the strings of one result (not the result itself). */
void cn_job_result_clear(cn_job_result_t *res);

void cn_runner_stats(cn_runner_t *r, cn_runner_stats_t *out);

#endif
