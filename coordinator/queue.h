/* queue.h: the coordinator's durable job store (RocksDB through storage/rocks.h)
   and its in-memory scheduling state. Only jobs that are not finished live in
   RAM; finished ones are read back from the store. Every change is staged and
   written by cn_queue_commit in one synced batch (the loop's group commit) by a
   writer thread of its own. Called only by the coordinator loop thread (and
   unit tests). */
#ifndef CN_QUEUE_H
#define CN_QUEUE_H

#include "canopy.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_queue cn_queue_t;

/* Where an active job sits in the scheduler. */
enum cn_qplace {
    CN_QP_NONE = 0,
    CN_QP_READY,   /* in its kind's ready heap */
    CN_QP_TIMER,   /* waiting for its backoff (state FAILED) */
    CN_QP_WAITING, /* waiting for `after` jobs */
    CN_QP_BLOCKED, /* ready, but its serial key is held by a running job */
    CN_QP_LEASED,  /* leased or running */
    CN_QP_DONE     /* finished in this loop turn; freed after the commit */
};

/* One active job. rec is the durable record; its fields are malloc-allocated
   (protobuf-c's default allocator), so it is freed with canopy__job__free_unpacked. */
typedef struct cn_qjob {
    Canopy__Job *rec;
    uint64_t id;
    int32_t prio; /* rec->spec->priority, kept here so heap compares touch one line */
    uint32_t heap_idx;
    uint16_t kind;
    uint8_t place;
    bool dirty;
    bool in_done;       /* listed for freeing after the commit */
    bool fresh;         /* submitted this turn: nothing of it is stored yet */
    uint64_t batch_key; /* its only stored record is in this submit batch (0: a record of its own) */
    uint32_t deps_left;
    uint32_t nwaiters, capwaiters;
    uint64_t *waiters;            /* ids of jobs that run after this one */
    struct cn_qjob *next_blocked; /* list of jobs blocked on one serial key */
    struct cn_qjob *next_dirty;
} cn_qjob_t;

typedef struct {
    uint32_t max_attempts;   /* default for JobSpec.max_attempts = 0 (3) */
    uint64_t backoff_ms;     /* first retry delay (500), x2 per attempt */
    uint64_t backoff_cap_ms; /* (60000) */
    uint64_t grace_ms;       /* added to a job's timeout for the backstop (2 heartbeats) */
} cn_queue_opts_t;

/* How a lease ended. */
enum cn_qend {
    CN_QEND_OK = 1,
    CN_QEND_ERROR,    /* retry after backoff, or dead after max_attempts */
    CN_QEND_FATAL,    /* dead at once */
    CN_QEND_CANCELED, /* cancelled */
    CN_QEND_RELEASED, /* re-queued, the attempt does not count */
    CN_QEND_LOST,     /* worker lost: re-queued at once (dead after max_attempts) */
};

/* Called after every state change of a job (for events and counters). */
typedef void (*cn_queue_event_fn)(void *arg, const cn_qjob_t *j);

/* Opens (creating) the store in dir and rebuilds the scheduling state from it.
   Blocks on disk I/O (a scan of every job). */
int cn_queue_open(const char *dir, const cn_queue_opts_t *opts, uint64_t now_ms, cn_queue_t **out);
/* Writes what is staged, then closes. Safe on NULL. */
void cn_queue_close(cn_queue_t **self_p);
void cn_queue_set_event_cb(cn_queue_t *q, cn_queue_event_fn fn, void *arg);

/* Checks a spec before anything of its Submit is applied: kind, sizes, `after`
   ids that exist. Returns 0 or CN_EINVAL with a detail. */
int cn_queue_check(const cn_queue_t *q, const Canopy__JobSpec *spec);
/* Adds a job (staged). Takes ownership of *spec and sets it NULL. A dedup key
   seen before returns that job's id with *existing = true. */
int cn_queue_submit(cn_queue_t *q, Canopy__JobSpec **spec, uint64_t now, uint64_t *id, bool *existing);
/* The id of a serial key (assigned forever when create); 0 when absent. */
int cn_queue_key(cn_queue_t *q, const char *key, bool create, uint64_t *id);

/* The best ready job whose kind is in kinds (all when nkinds == 0) and whose
   serial key is free, leased to worker: LEASED, attempts+1, a new lease_seq.
   NULL when there is none. The lease is durable after the next commit. */
cn_qjob_t *cn_queue_lease_next(cn_queue_t *q, char *const *kinds, size_t nkinds, const char *worker,
                               uint64_t now);
/* An active job, or NULL. */
cn_qjob_t *cn_queue_find(const cn_queue_t *q, uint64_t id);
/* A job's record: the active one (*owned = false) or read from the store
   (*owned = true: free with cn_rec_free). CN_ENOTFOUND if none. */
int cn_queue_lookup(cn_queue_t *q, uint64_t id, Canopy__Job **out, bool *owned);

/* Ends the current lease of leased job j. error/summary may be NULL. */
void cn_queue_end(cn_queue_t *q, cn_qjob_t *j, enum cn_qend how, int code, const char *error,
                  const char *summary, bool from_result, uint64_t now);
/* A worker's result: 1 accepted now, 0 accepted before (a resend), CN_ESTALE
   when the lease is not the job's current one. */
int cn_queue_result(cn_queue_t *q, const Canopy__Result *r, uint64_t now);
/* True when a result for (job_id, lease_seq) was accepted before. */
bool cn_queue_lease_accepted(cn_queue_t *q, uint64_t job_id, uint64_t lease_seq);
/* Progress of a leased job (units done/total, bytes done/total, 0: not
   known) as a heartbeat reports it: LEASED -> RUNNING on the first report. */
void cn_queue_progress(cn_queue_t *q, cn_qjob_t *j, const Canopy__Progress *p);
/* Control: cancel (queued: at once; leased: cancel_requested) and retry
   (dead/failed/cancelled -> queued, fresh attempt budget). */
int cn_queue_cancel(cn_queue_t *q, uint64_t id, uint64_t now);
int cn_queue_retry(cn_queue_t *q, uint64_t id, uint64_t now);

/* Moves jobs whose backoff has passed to the ready heaps; returns the next
   backoff deadline (UINT64_MAX if none). */
uint64_t cn_queue_tick(cn_queue_t *q, uint64_t now);
/* Writes everything staged in one synced batch and waits. Returns 0 or CN_EIO. */
int cn_queue_commit(cn_queue_t *q);
/* The pipelined form: start hands what is staged to the writer thread (after
   waiting for the previous batch) and returns; wait blocks until that batch is
   durable (0, or the write's error). flying: a batch is being written. */
void cn_queue_commit_start(cn_queue_t *q);
int cn_queue_commit_wait(cn_queue_t *q);
bool cn_queue_flying(const cn_queue_t *q);
bool cn_queue_has_staged(const cn_queue_t *q);

/* Iterates leased/running jobs (for re-adoption and the timeout backstop). */
typedef void (*cn_queue_job_fn)(void *arg, cn_qjob_t *j);
void cn_queue_foreach_leased(cn_queue_t *q, cn_queue_job_fn fn, void *arg);

/* Paged listing from the store (active records are taken from RAM).
 *out is an array of n records to free with cn_queue_list_free. */
int cn_queue_list(cn_queue_t *q, Canopy__JobState state, const char *kind, uint64_t after_id, uint32_t limit,
                  Canopy__Job ***out, size_t *n, bool *more);
void cn_queue_list_free(cn_queue_t *q, Canopy__Job **jobs, size_t n);

/* Counters (kept in RAM, rebuilt from the store at open). */
size_t cn_queue_nkinds(const cn_queue_t *q);
const char *cn_queue_kind_name(const cn_queue_t *q, size_t kind);
uint64_t cn_queue_count(const cn_queue_t *q, size_t kind, Canopy__JobState state);
uint64_t cn_queue_submitted_total(const cn_queue_t *q);
uint64_t cn_queue_succeeded_total(const cn_queue_t *q);
size_t cn_queue_active(const cn_queue_t *q); /* jobs held in RAM */
size_t cn_queue_ready(const cn_queue_t *q);  /* jobs in the ready heaps */

#endif
