/* commit.c: the queue's group commit. Each loop turn's changes (dirty job
   records, counters, keys) go into one batch; a writer thread writes it synced
   while the loop stages the next turn (a two-stage pipeline), so the loop does
   not sit idle in fsync. Jobs finished in a batch leave RAM, and its new dedup
   and serial keys leave the in-turn maps, only once the batch is durable.
   The loop thread calls everything here; the writer thread only writes. */
#include "queue_int.h"

#include "errors.h"
#include "hash.h"
#include "log.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pend_clear(cn_u64map_t *m) {
    size_t pos = 0;
    uint64_t k;
    void *v;
    while (cn_u64map_next(m, &pos, &k, &v)) {
        for (cn_qpend_t *p = v, *n; p; p = n) {
            n = p->next;
            free(p->s);
            free(p);
        }
    }
    cn_u64map_free(m);
}

static uint64_t str_hash(const char *s) {
    uint64_t h = cn_hash64(s, strlen(s));
    return h ? h : 1;
}

static uint64_t pend_find(const cn_u64map_t *m, uint64_t h, const char *s) {
    for (cn_qpend_t *p = cn_u64map_get(m, h); p; p = p->next)
        if (strcmp(p->s, s) == 0) return p->id;
    return 0;
}

uint64_t cn_q_pend_get(const cn_queue_t *q, int which, const char *s) {
    uint64_t h = str_hash(s);
    uint64_t id = pend_find(which ? &q->stage.pend_keys : &q->stage.pend_dedup, h, s);
    if (!id) id = pend_find(which ? &q->fly.pend_keys : &q->fly.pend_dedup, h, s);
    return id;
}

void cn_q_pend_put(cn_u64map_t *m, const char *s, uint64_t id) {
    uint64_t h = str_hash(s);
    cn_qpend_t *p = cn_xmalloc(sizeof *p);
    p->s = cn_xstrdup(s);
    p->id = id;
    p->next = cn_u64map_get(m, h);
    cn_u64map_put(m, h, p);
}

void cn_q_gen_free(cn_qgen_t *g) {
    free(g->done);
    g->done = NULL;
    g->ndone = g->capdone = 0;
    pend_clear(&g->pend_dedup);
    pend_clear(&g->pend_keys);
    cn_rocks_batch_destroy(&g->batch);
}

static void *writer_main(void *arg) {
    cn_queue_t *q = arg;
    pthread_mutex_lock(&q->w.mu);
    for (;;) {
        while (!q->w.busy && !q->w.quit) pthread_cond_wait(&q->w.cv, &q->w.mu);
        if (!q->w.busy) break;
        pthread_mutex_unlock(&q->w.mu);
        int rc = cn_rocks_write(q->db, q->fly.batch, true);
        pthread_mutex_lock(&q->w.mu);
        q->w.rc = rc;
        if (rc) snprintf(q->w.err, sizeof q->w.err, "%s", cn_err_detail());
        q->w.busy = false;
        pthread_cond_broadcast(&q->w.cv);
    }
    pthread_mutex_unlock(&q->w.mu);
    return NULL;
}

void cn_q_writer_start(cn_queue_t *q) {
    pthread_mutex_init(&q->w.mu, NULL);
    pthread_cond_init(&q->w.cv, NULL);
    if (pthread_create(&q->w.th, NULL, writer_main, q) != 0) abort();
    pthread_setname_np(q->w.th, "cn-commit");
    q->w.started = true;
}

void cn_q_writer_stop(cn_queue_t *q) {
    if (!q->w.started) return;
    cn_queue_commit_wait(q);
    pthread_mutex_lock(&q->w.mu);
    q->w.quit = true;
    pthread_cond_broadcast(&q->w.cv);
    pthread_mutex_unlock(&q->w.mu);
    pthread_join(q->w.th, NULL);
    pthread_cond_destroy(&q->w.cv);
    pthread_mutex_destroy(&q->w.mu);
    q->w.started = false;
}

bool cn_queue_has_staged(const cn_queue_t *q) {
    return q->dirty || q->meta_dirty || q->stage.ndone || cn_rocks_batch_count(q->stage.batch) > 0;
}

bool cn_queue_flying(const cn_queue_t *q) {
    return q->flying;
}

/* A job that got a record of its own leaves its submit batch; the batch goes
   when no job is left in it (in the same write). */
static void batch_release(cn_queue_t *q, cn_qjob_t *j) {
    uintptr_t left = (uintptr_t)cn_u64map_get(&q->batches, j->batch_key);
    if (left > 1) {
        cn_u64map_put(&q->batches, j->batch_key, (void *)(left - 1));
    } else {
        uint8_t k[8];
        cn_put_be64(k, j->batch_key);
        cn_rocks_batch_delete(q->stage.batch, q->db, CF_BATCHES, k, 8);
        cn_u64map_del(&q->batches, j->batch_key);
    }
    j->batch_key = 0;
}

/* The turn's new jobs that are still queued: one entry for all of them (a
   JobInfoReply used as a list of jobs), keyed by the first (smallest) id. */
static void put_batch(cn_queue_t *q, size_t n, uint64_t key) {
    Canopy__JobInfoReply list = CANOPY__JOB_INFO_REPLY__INIT;
    list.job = q->fresh;
    list.n_job = n;
    uint8_t k[8];
    cn_put_be64(k, key);
    cn_buf_reset(&q->scratch);
    cn_rec_pack(&list.base, &q->scratch);
    cn_rocks_batch_put(q->stage.batch, q->db, CF_BATCHES, k, 8, q->scratch.data, q->scratch.len);
    cn_u64map_put(&q->batches, key, (void *)(uintptr_t)n);
}

/* Packs the dirty records into the staged batch, in key order (RocksDB's
   memtable inserts ascending keys faster). Jobs submitted in this turn that
   are still queued go into one batch entry instead of a record each. */
static void pack_dirty(cn_queue_t *q) {
    size_t nd = 0;
    for (cn_qjob_t *j = q->dirty; j; j = j->next_dirty) nd++;
    if (nd > q->capsorted) {
        q->capsorted = nd * 2;
        q->sorted = cn_xrealloc(q->sorted, q->capsorted * sizeof *q->sorted);
    }
    nd = 0;
    for (cn_qjob_t *j = q->dirty; j; j = j->next_dirty) q->sorted[nd++] = j;
    if (nd) qsort(q->sorted, nd, sizeof *q->sorted, cn_q_cmp_id);
    size_t nfresh = 0;
    uint64_t key = 0; /* the batch entry of the fresh jobs: the first one's id */
    if (nd > q->capfresh) {
        q->capfresh = nd * 2;
        q->fresh = cn_xrealloc(q->fresh, q->capfresh * sizeof *q->fresh);
    }
    for (size_t i = 0; i < nd; i++) {
        cn_qjob_t *j = q->sorted[i];
        j->next_dirty = NULL;
        j->dirty = false;
        if (j->fresh && j->rec->state == CANOPY__JOB_STATE__QUEUED) {
            if (!nfresh) key = j->id;    /* sorted: the smallest */
            q->fresh[nfresh++] = j->rec; /* stored with its batch, below */
            j->fresh = false;
            j->batch_key = key;
            continue;
        }
        j->fresh = false;
        uint8_t k[8];
        cn_put_be64(k, j->id);
        cn_buf_reset(&q->scratch);
        cn_rec_pack(&j->rec->base, &q->scratch);
        cn_rocks_batch_put(q->stage.batch, q->db, CF_JOBS, k, 8, q->scratch.data, q->scratch.len);
        if (j->batch_key) batch_release(q, j);
    }
    q->dirty = NULL;
    if (nfresh) put_batch(q, nfresh, key);
    if (q->meta_dirty) {
        cn_q_put_meta(q, "next_job_id", q->next_id);
        cn_q_put_meta(q, "lease_seq", q->lease_seq);
        cn_q_put_meta(q, "next_key_id", q->next_key_id);
        q->meta_dirty = false;
    }
}

void cn_queue_commit_start(cn_queue_t *q) {
    cn_queue_commit_wait(q); /* one batch in flight at most */
    if (!cn_queue_has_staged(q)) return;
    pack_dirty(q);
    cn_qgen_t t = q->fly;
    q->fly = q->stage;
    q->stage = t;
    q->flying = true;
    pthread_mutex_lock(&q->w.mu);
    q->w.busy = true;
    pthread_cond_broadcast(&q->w.cv);
    pthread_mutex_unlock(&q->w.mu);
}

/* The in-flight batch is durable: its finished jobs leave RAM, its keys the maps. */
static void retire(cn_queue_t *q) {
    cn_qgen_t *g = &q->fly;
    for (size_t i = 0; i < g->ndone; i++) {
        cn_qjob_t *j = g->done[i];
        if (j->place == CN_QP_DONE && j->dirty) {
            /* Revived and finished again since: its newest record is still staged. */
            if (q->stage.ndone == q->stage.capdone) {
                q->stage.capdone = q->stage.capdone ? q->stage.capdone * 2 : 64;
                q->stage.done = cn_xrealloc(q->stage.done, q->stage.capdone * sizeof *q->stage.done);
            }
            q->stage.done[q->stage.ndone++] = j;
            continue;
        }
        j->in_done = false;
        if (j->place != CN_QP_DONE) continue;
        cn_u64map_del(&q->jobs, j->id);
        cn_q_job_free(j);
    }
    g->ndone = 0;
    if (g->capdone > 4096) {
        free(g->done);
        g->done = NULL;
        g->capdone = 0;
    }
    pend_clear(&g->pend_dedup);
    pend_clear(&g->pend_keys);
    cn_rocks_batch_clear(g->batch);
}

int cn_queue_commit_wait(cn_queue_t *q) {
    if (!q->flying) return 0;
    pthread_mutex_lock(&q->w.mu);
    while (q->w.busy) pthread_cond_wait(&q->w.cv, &q->w.mu);
    int rc = q->w.rc;
    pthread_mutex_unlock(&q->w.mu);
    q->flying = false;
    if (rc) return cn_err(rc, "%s", q->w.err);
    retire(q);
    return 0;
}

int cn_queue_commit(cn_queue_t *q) {
    cn_queue_commit_start(q);
    return cn_queue_commit_wait(q);
}
