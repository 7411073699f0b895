/* rebuild.c: the queue's state at start-up, from the store: every job record is
   read (finished ones only for the counters, without unpacking them), jobs
   found only in their submit batch come back as queued, and active jobs are
   placed again (leased ones stay leased for their workers to re-adopt).
   Called once by cn_queue_open, before the loop runs. */
#include "queue_int.h"

#include "errors.h"
#include "log.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static bool is_active_state(Canopy__JobState s) {
    return s == CANOPY__JOB_STATE__QUEUED || s == CANOPY__JOB_STATE__LEASED ||
           s == CANOPY__JOB_STATE__RUNNING || s == CANOPY__JOB_STATE__FAILED;
}

/* Skips one field of wire type wt; false when [*p, end) is malformed. */
static bool skip_field(const uint8_t **p, const uint8_t *end, uint64_t wt, uint64_t *len_out) {
    uint64_t v;
    switch (wt) {
    case 0:
        return cn_get_varint(p, end, &v);
    case 1:
        if (end - *p < 8) return false;
        *p += 8;
        return true;
    case 5:
        if (end - *p < 4) return false;
        *p += 4;
        return true;
    case 2:
        if (!cn_get_varint(p, end, &v) || v > (uint64_t)(end - *p)) return false;
        if (len_out) *len_out = v;
        *p += v;
        return true;
    default:
        return false;
    }
}

/* The fields the counters need from a packed Job, without unpacking it (the
   start-up scan reads every job ever submitted). False when malformed. */
bool cn_q_peek_job(const uint8_t *p, const uint8_t *end, job_peek_t *out) {
    memset(out, 0, sizeof *out);
    while (p < end) {
        uint64_t tag, v;
        if (!cn_get_varint(&p, end, &tag)) return false;
        uint64_t field = tag >> 3, wt = tag & 7;
        if (wt == 0 && (field == 1 || field == 3 || field == 5)) {
            if (!cn_get_varint(&p, end, &v)) return false;
            if (field == 1)
                out->id = v;
            else if (field == 3)
                out->state = v;
            else
                out->lease_seq = v;
        } else if (wt == 2 && field == 2) {
            uint64_t len = 0;
            if (!skip_field(&p, end, wt, &len)) return false;
            const uint8_t *sp = p - len;
            while (sp < p) { /* JobSpec: field 1 is the kind */
                uint64_t t2, l2 = 0;
                if (!cn_get_varint(&sp, p, &t2) || !skip_field(&sp, p, t2 & 7, &l2)) return false;
                if ((t2 >> 3) == 1 && (t2 & 7) == 2) {
                    out->kind = sp - l2;
                    out->kind_len = l2;
                }
            }
        } else if (!skip_field(&p, end, wt, NULL)) {
            return false;
        }
    }
    return out->id != 0 && out->kind && out->kind_len > 0 && out->kind_len <= CN_QMAX_KIND_LEN;
}

/* Loads one stored job into the counters, and into RAM when it is active. */
static int rebuild_one(cn_queue_t *q, const uint8_t *v, size_t vlen, cn_qjob_t ***act, size_t *nact,
                       size_t *capact) {
    job_peek_t pk;
    if (cn_q_peek_job(v, v + vlen, &pk) && pk.state < CN_QNSTATES &&
        !is_active_state((Canopy__JobState)pk.state)) {
        char kind[CN_QMAX_KIND_LEN + 1];
        memcpy(kind, pk.kind, pk.kind_len);
        kind[pk.kind_len] = '\0';
        int k = cn_q_kind_index(q, kind, true);
        if (k < 0) return k;
        q->kinds[k].count[pk.state]++;
        q->submitted_total++;
        if (pk.state == CANOPY__JOB_STATE__SUCCEEDED) q->succeeded_total++;
        if (pk.id >= q->next_id) q->next_id = pk.id + 1;
        if (pk.lease_seq > q->lease_seq) q->lease_seq = pk.lease_seq;
        return 0;
    }
    Canopy__Job *rec;
    int rc = cn_rec_unpack(&canopy__job__descriptor, v, vlen, (ProtobufCMessage **)&rec);
    if (rc) return rc;
    if (!rec->spec || !rec->spec->kind || rec->id == 0) {
        cn_rec_free(&rec->base);
        return cn_err(CN_ECORRUPT, "stored job without a spec or id");
    }
    int k = cn_q_kind_index(q, rec->spec->kind, true);
    if (k < 0) {
        cn_rec_free(&rec->base);
        return k;
    }
    unsigned st = rec->state < CN_QNSTATES ? (unsigned)rec->state : 0;
    q->kinds[k].count[st]++;
    q->submitted_total++;
    if (rec->state == CANOPY__JOB_STATE__SUCCEEDED) q->succeeded_total++;
    if (rec->id >= q->next_id) q->next_id = rec->id + 1;
    if (rec->lease_seq > q->lease_seq) q->lease_seq = rec->lease_seq;
    if (!is_active_state(rec->state)) {
        cn_rec_free(&rec->base);
        return 0;
    }
    if (*nact == *capact) {
        *capact = *capact ? *capact * 2 : 1024;
        *act = cn_xrealloc(*act, *capact * sizeof **act);
    }
    (*act)[(*nact)++] = cn_q_job_new(q, rec);
    return 0;
}

typedef struct {
    Canopy__Job *rec;
    uint64_t key;
} batched_t;

/* Loads the submit batches: id -> the job as it was submitted. */
static void load_batches(cn_queue_t *q, cn_u64map_t *pending, size_t *bad) {
    cn_rocks_iter_t *it;
    if (cn_rocks_iter_new(q->db, CF_BATCHES, NULL, 0, &it) != 0) return;
    for (cn_rocks_iter_seek_first(it); cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = cn_rocks_iter_key(it, &klen);
        const uint8_t *v = cn_rocks_iter_value(it, &vlen);
        Canopy__JobInfoReply *list;
        if (klen != 8 ||
            cn_rec_unpack(&canopy__job_info_reply__descriptor, v, vlen, (ProtobufCMessage **)&list) != 0) {
            (*bad)++;
            continue;
        }
        uint64_t key = cn_get_be64(k);
        cn_u64map_put(&q->batches, key, (void *)(uintptr_t)0);
        for (size_t i = 0; i < list->n_job; i++) {
            Canopy__Job *rec = list->job[i];
            if (!rec->spec || !rec->spec->kind || !rec->id) continue;
            batched_t *b = cn_xmalloc(sizeof *b);
            b->rec = rec;
            b->key = key;
            list->job[i] = NULL; /* taken */
            batched_t *old = cn_u64map_get(pending, rec->id);
            if (old) {
                cn_rec_free(&old->rec->base);
                free(old);
            }
            cn_u64map_put(pending, rec->id, b);
        }
        cn_rec_free(&list->base);
    }
    cn_rocks_iter_destroy(&it);
}

/* Jobs found only in their submit batch are queued: back into RAM. */
static void adopt_batched(cn_queue_t *q, cn_u64map_t *pending, cn_qjob_t ***act, size_t *nact,
                          size_t *capact) {
    size_t pos = 0;
    uint64_t id;
    void *v;
    while (cn_u64map_next(pending, &pos, &id, &v)) {
        batched_t *b = v;
        int k = cn_q_kind_index(q, b->rec->spec->kind, true);
        if (k < 0) {
            cn_rec_free(&b->rec->base);
            free(b);
            continue;
        }
        q->kinds[k].count[CANOPY__JOB_STATE__QUEUED]++;
        q->submitted_total++;
        if (id >= q->next_id) q->next_id = id + 1;
        b->rec->state = CANOPY__JOB_STATE__QUEUED;
        if (*nact == *capact) {
            *capact = *capact ? *capact * 2 : 1024;
            *act = cn_xrealloc(*act, *capact * sizeof **act);
        }
        cn_qjob_t *j = cn_q_job_new(q, b->rec);
        j->batch_key = b->key;
        uintptr_t left = (uintptr_t)cn_u64map_get(&q->batches, b->key);
        cn_u64map_put(&q->batches, b->key, (void *)(left + 1));
        (*act)[(*nact)++] = j;
        free(b);
    }
    cn_u64map_free(pending);
    /* Batches whose every job has a record of its own are garbage. */
    pos = 0;
    size_t n = 0;
    uint64_t *gone = cn_xcalloc(q->batches.n + 1, sizeof *gone);
    while (cn_u64map_next(&q->batches, &pos, &id, &v))
        if ((uintptr_t)v == 0) gone[n++] = id;
    for (size_t i = 0; i < n; i++) {
        uint8_t k[8];
        cn_put_be64(k, gone[i]);
        cn_rocks_batch_delete(q->stage.batch, q->db, CF_BATCHES, k, 8);
        cn_u64map_del(&q->batches, gone[i]);
    }
    free(gone);
}

int cn_q_cmp_id(const void *a, const void *b) {
    uint64_t x = (*(cn_qjob_t *const *)a)->id, y = (*(cn_qjob_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

int cn_q_rebuild(cn_queue_t *q, uint64_t now) {
    cn_u64map_t pending = {0};
    size_t bad = 0;
    load_batches(q, &pending, &bad);
    cn_rocks_iter_t *it;
    int rc = cn_rocks_iter_new(q->db, CF_JOBS, NULL, 0, &it);
    if (rc) return rc;
    cn_qjob_t **act = NULL;
    size_t nact = 0, capact = 0;
    for (cn_rocks_iter_seek_first(it); cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = cn_rocks_iter_key(it, &klen);
        const uint8_t *v = cn_rocks_iter_value(it, &vlen);
        if (klen == 8 && pending.n) { /* a record of its own supersedes the batch's copy */
            batched_t *b = cn_u64map_del(&pending, cn_get_be64(k));
            if (b) {
                cn_rec_free(&b->rec->base);
                free(b);
            }
        }
        if (rebuild_one(q, v, vlen, &act, &nact, &capact) != 0) bad++;
    }
    cn_rocks_iter_destroy(&it);
    adopt_batched(q, &pending, &act, &nact, &capact);
    if (bad) CN_WARN("%zu stored jobs do not decode; they are skipped", bad);
    /* Ids ascend, and `after` only names older jobs, so every active dependency
       is in RAM before the jobs that wait for it are placed. */
    if (nact) qsort(act, nact, sizeof *act, cn_q_cmp_id);
    for (size_t i = 0; i < nact; i++) {
        cn_qjob_t *j = act[i];
        if (j->rec->state == CANOPY__JOB_STATE__LEASED || j->rec->state == CANOPY__JOB_STATE__RUNNING) {
            j->place = CN_QP_LEASED;
            cn_q_key_hold(q, j);
        }
    }
    for (size_t i = 0; i < nact; i++)
        if (act[i]->place == CN_QP_NONE) cn_q_admit_new(q, act[i], now);
    free(act);
    return 0;
}
