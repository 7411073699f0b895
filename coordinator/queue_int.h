/* queue_int.h: the parts of the queue that queue.c (store, submit, listing) and
   sched.c (heaps, leases, retries, dependencies, serial keys) share. Private to
   coordinator/queue*.c and sched.c. Single-threaded. */
#ifndef CN_QUEUE_INT_H
#define CN_QUEUE_INT_H

#include "queue.h"
#include "qutil.h"
#include "rocks.h"

#include <pthread.h>

#define CN_QMAX_KINDS 256
#define CN_QNSTATES 8
#define CN_QMAX_HISTORY 32
#define CN_QMAX_KIND_LEN 64

/* batches: be64(first id) -> the jobs of one turn's submits that were still
   queued when it was written (one entry instead of one per job); a job leaves
   its batch when it gets a record of its own, and the batch is deleted when
   none is left (see commit.c). */
enum { CF_DEFAULT, CF_JOBS, CF_DEDUP, CF_KEYS, CF_KEYIDS, CF_META, CF_BATCHES, CF_COUNT_ };

typedef struct {
    char *name;
    cn_heap_t ready;
    uint64_t count[CN_QNSTATES];
} cn_qkind_t;

/* A serial key that is held or has jobs waiting for it. */
typedef struct {
    uint64_t holder;    /* job id leased with this key, 0 if none */
    cn_qjob_t *blocked; /* sorted by (priority desc, id asc) */
} cn_qkey_t;

/* A string -> id entry staged in this loop turn (dedup keys, serial keys). */
typedef struct cn_qpend {
    char *s;
    uint64_t id;
    struct cn_qpend *next;
} cn_qpend_t;

/* What one commit writes and what waits for it: the batch, the jobs finished in
   it (freed once it is durable) and the dedup/serial keys it adds. */
typedef struct {
    cn_rocks_batch_t *batch;
    cn_qjob_t **done;
    size_t ndone, capdone;
    cn_u64map_t pend_dedup, pend_keys; /* hash -> cn_qpend_t chain */
} cn_qgen_t;

/* The writer thread: writes one generation's batch (synced) while the loop
   stages the next. Only the batch and the database are shared with it. */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, quit, busy;
    int rc;
    char err[256];
} cn_qwriter_t;

struct cn_queue {
    cn_rocks_t *db;
    cn_qgen_t stage; /* this loop turn */
    cn_qgen_t fly;   /* being written by the writer thread */
    bool flying;
    cn_qwriter_t w;
    cn_queue_opts_t o;
    cn_u64map_t jobs;    /* id -> cn_qjob_t*, active jobs */
    cn_u64map_t keys;    /* key id -> cn_qkey_t* */
    cn_u64map_t batches; /* batch key -> jobs still only in it (as a pointer-sized count) */
    Canopy__Job **fresh; /* commit: fresh queued jobs of the turn */
    size_t capfresh;
    cn_heap_t timer;
    cn_qkind_t kinds[CN_QMAX_KINDS];
    size_t nkinds;
    cn_qjob_t *dirty;
    cn_qjob_t **sorted; /* commit: dirty jobs by id */
    size_t capsorted;
    uint64_t next_id, lease_seq, next_key_id;
    bool meta_dirty;
    uint64_t submitted_total, succeeded_total;
    uint64_t rng;
    cn_queue_event_fn ev;
    void *ev_arg;
    cn_buf_t scratch;
};

/* sched.c */
bool cn_q_ready_less(const void *a, const void *b);
bool cn_q_timer_less(const void *a, const void *b);
void cn_q_dirty(cn_queue_t *q, cn_qjob_t *j);
void cn_q_set_state(cn_queue_t *q, cn_qjob_t *j, Canopy__JobState st);
/* Resolves j's `after` list and places it (ready, timer, waiting) or cancels it. */
void cn_q_admit_new(cn_queue_t *q, cn_qjob_t *j, uint64_t now);
void cn_q_admit(cn_queue_t *q, cn_qjob_t *j, uint64_t now);
void cn_q_finish(cn_queue_t *q, cn_qjob_t *j, Canopy__JobState st, uint64_t now);
void cn_q_key_hold(cn_queue_t *q, cn_qjob_t *j);
void cn_q_set_str(char **field, const char *s);
uint32_t cn_q_max_attempts(const cn_queue_t *q, const cn_qjob_t *j);

/* commit.c */
uint64_t cn_q_pend_get(const cn_queue_t *q, int which, const char *s); /* 0 dedup, 1 keys */
void cn_q_pend_put(cn_u64map_t *m, const char *s, uint64_t id);
void cn_q_gen_free(cn_qgen_t *g);
void cn_q_writer_start(cn_queue_t *q);
void cn_q_writer_stop(cn_queue_t *q);

/* rebuild.c */
typedef struct {
    uint64_t id, lease_seq, state;
    const uint8_t *kind;
    uint64_t kind_len;
} job_peek_t;
/* The id, state, lease_seq and kind of a packed Job without unpacking it;
   false when it is malformed. */
bool cn_q_peek_job(const uint8_t *p, const uint8_t *end, job_peek_t *out);
int cn_q_cmp_id(const void *a, const void *b); /* qsort of cn_qjob_t* by id */
int cn_q_rebuild(cn_queue_t *q, uint64_t now);

/* queue.c */
void cn_q_put_meta(cn_queue_t *q, const char *name, uint64_t v);
int cn_q_kind_index(cn_queue_t *q, const char *name, bool create);
cn_qjob_t *cn_q_job_new(cn_queue_t *q, Canopy__Job *rec);
void cn_q_job_free(cn_qjob_t *j);
/* Reads a finished job's record from the store (free with cn_rec_free). */
int cn_q_load(cn_queue_t *q, uint64_t id, Canopy__Job **out);

#endif
