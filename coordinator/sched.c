/* sched.c: the queue's scheduling rules: ready heaps per kind ordered by
   (priority desc, id asc), backoff timers, `after` dependencies, serial keys
   (at most one leased job per key), leases and how they end, cancel and retry.
   Every state change is staged for the next commit (queue.c). Single-threaded. */
#include "queue_int.h"

#include "errors.h"
#include "log.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

bool cn_q_ready_less(const void *a, const void *b) {
    const cn_qjob_t *x = a, *y = b;
    return x->prio != y->prio ? x->prio > y->prio : x->id < y->id;
}

bool cn_q_timer_less(const void *a, const void *b) {
    const cn_qjob_t *x = a, *y = b;
    uint64_t tx = x->rec->not_before_ms, ty = y->rec->not_before_ms;
    return tx != ty ? tx < ty : x->id < y->id;
}

void cn_q_dirty(cn_queue_t *q, cn_qjob_t *j) {
    if (j->dirty) return;
    j->dirty = true;
    j->next_dirty = q->dirty;
    q->dirty = j;
}

void cn_q_set_state(cn_queue_t *q, cn_qjob_t *j, Canopy__JobState st) {
    uint64_t *c = q->kinds[j->kind].count;
    if ((unsigned)j->rec->state < CN_QNSTATES && c[j->rec->state]) c[j->rec->state]--;
    c[st]++;
    j->rec->state = st;
    cn_q_dirty(q, j);
    if (q->ev) q->ev(q->ev_arg, j);
}

void cn_q_set_str(char **field, const char *s) {
    if (*field && *field != protobuf_c_empty_string) free(*field);
    *field = cn_xstrdup(s ? s : "");
}

uint32_t cn_q_max_attempts(const cn_queue_t *q, const cn_qjob_t *j) {
    return j->rec->spec->max_attempts ? j->rec->spec->max_attempts : q->o.max_attempts;
}

/* ---- serial keys ---- */

static cn_qkey_t *key_get(cn_queue_t *q, uint64_t key_id, bool create) {
    cn_qkey_t *k = cn_u64map_get(&q->keys, key_id);
    if (!k && create) {
        k = cn_xcalloc(1, sizeof *k);
        cn_u64map_put(&q->keys, key_id, k);
    }
    return k;
}

static void key_maybe_free(cn_queue_t *q, uint64_t key_id, cn_qkey_t *k) {
    if (k->holder == 0 && !k->blocked) free(cn_u64map_del(&q->keys, key_id));
}

void cn_q_key_hold(cn_queue_t *q, cn_qjob_t *j) {
    if (j->rec->key_id) key_get(q, j->rec->key_id, true)->holder = j->id;
}

static void key_block(cn_queue_t *q, cn_qkey_t *k, cn_qjob_t *j) {
    cn_qjob_t **pp = &k->blocked;
    while (*pp && !cn_q_ready_less(j, *pp)) pp = &(*pp)->next_blocked;
    j->next_blocked = *pp;
    *pp = j;
    j->place = CN_QP_BLOCKED;
    (void)q;
}

/* The lease of j ends: the best job blocked on its key becomes ready. */
static void key_release(cn_queue_t *q, cn_qjob_t *j) {
    if (!j->rec->key_id) return;
    cn_qkey_t *k = key_get(q, j->rec->key_id, false);
    if (!k || k->holder != j->id) return;
    k->holder = 0;
    cn_qjob_t *b = k->blocked;
    if (b) {
        k->blocked = b->next_blocked;
        b->next_blocked = NULL;
        b->place = CN_QP_READY;
        cn_heap_push(&q->kinds[b->kind].ready, b);
    }
    key_maybe_free(q, j->rec->key_id, k);
}

/* ---- placement ---- */

/* Takes j out of whatever structure holds it. */
static void unplace(cn_queue_t *q, cn_qjob_t *j) {
    switch (j->place) {
    case CN_QP_READY:
        cn_heap_remove(&q->kinds[j->kind].ready, j);
        break;
    case CN_QP_TIMER:
        cn_heap_remove(&q->timer, j);
        break;
    case CN_QP_BLOCKED: {
        cn_qkey_t *k = key_get(q, j->rec->key_id, false);
        if (!k) break;
        for (cn_qjob_t **pp = &k->blocked; *pp; pp = &(*pp)->next_blocked) {
            if (*pp == j) {
                *pp = j->next_blocked;
                break;
            }
        }
        j->next_blocked = NULL;
        key_maybe_free(q, j->rec->key_id, k);
        break;
    }
    case CN_QP_LEASED:
        key_release(q, j);
        break;
    default:
        break;
    }
    j->place = CN_QP_NONE;
}

void cn_q_admit(cn_queue_t *q, cn_qjob_t *j, uint64_t now) {
    if (j->deps_left > 0) {
        j->place = CN_QP_WAITING;
    } else if (j->rec->not_before_ms > now) {
        j->place = CN_QP_TIMER;
        cn_heap_push(&q->timer, j);
    } else {
        if (j->rec->state != CANOPY__JOB_STATE__QUEUED) cn_q_set_state(q, j, CANOPY__JOB_STATE__QUEUED);
        j->place = CN_QP_READY;
        cn_heap_push(&q->kinds[j->kind].ready, j);
    }
}

static void add_waiter(cn_qjob_t *dep, uint64_t id) {
    if (dep->nwaiters == dep->capwaiters) {
        dep->capwaiters = dep->capwaiters ? dep->capwaiters * 2 : 4;
        dep->waiters = cn_xrealloc(dep->waiters, dep->capwaiters * sizeof *dep->waiters);
    }
    dep->waiters[dep->nwaiters++] = id;
}

static const char *state_word(Canopy__JobState s) {
    static const char *const names[CN_QNSTATES] = {"unknown",   "queued", "leased",    "running",
                                                   "succeeded", "failed", "cancelled", "dead"};
    return (unsigned)s < CN_QNSTATES ? names[s] : "unknown";
}

static void push_done(cn_queue_t *q, cn_qjob_t *j) {
    if (j->in_done) return;
    if (q->stage.ndone == q->stage.capdone) {
        q->stage.capdone = q->stage.capdone ? q->stage.capdone * 2 : 64;
        q->stage.done = cn_xrealloc(q->stage.done, q->stage.capdone * sizeof *q->stage.done);
    }
    q->stage.done[q->stage.ndone++] = j;
    j->in_done = true;
}

static void cancel_for_dep(cn_queue_t *q, cn_qjob_t *j, uint64_t dep, Canopy__JobState st, uint64_t now) {
    char *msg = cn_xasprintf("job %llu, which this job runs after, ended %s", (unsigned long long)dep,
                             state_word(st));
    cn_q_set_str(&j->rec->error, msg);
    j->rec->error_code = CN_ECANCELLED;
    free(msg);
    unplace(q, j);
    cn_q_finish(q, j, CANOPY__JOB_STATE__CANCELLED, now);
}

void cn_q_admit_new(cn_queue_t *q, cn_qjob_t *j, uint64_t now) {
    const Canopy__JobSpec *s = j->rec->spec;
    j->deps_left = 0;
    for (size_t i = 0; i < s->n_after; i++) {
        uint64_t dep_id = s->after[i];
        cn_qjob_t *dep = cn_queue_find(q, dep_id);
        Canopy__JobState st;
        if (dep && dep->place != CN_QP_DONE) {
            add_waiter(dep, j->id);
            j->deps_left++;
            continue;
        }
        if (dep) {
            st = dep->rec->state;
        } else {
            Canopy__Job *rec;
            if (cn_q_load(q, dep_id, &rec) != 0) {
                st = CANOPY__JOB_STATE__DEAD; /* checked at submit; a lost record cannot be waited for */
            } else {
                st = rec->state;
                cn_rec_free(&rec->base);
            }
        }
        if (st != CANOPY__JOB_STATE__SUCCEEDED) {
            cancel_for_dep(q, j, dep_id, st, now);
            return;
        }
    }
    cn_q_admit(q, j, now);
}

/* Releases or cancels the jobs waiting for j (iteratively: chains may be long). */
static void notify_waiters(cn_queue_t *q, cn_qjob_t *first, uint64_t now) {
    cn_qjob_t **stack = NULL;
    size_t n = 0, cap = 0;
    cn_qjob_t *j = first;
    for (;;) {
        for (uint32_t i = 0; i < j->nwaiters; i++) {
            cn_qjob_t *w = cn_queue_find(q, j->waiters[i]);
            if (!w || w->place != CN_QP_WAITING) continue;
            if (j->rec->state == CANOPY__JOB_STATE__SUCCEEDED) {
                if (--w->deps_left == 0) cn_q_admit(q, w, now);
                continue;
            }
            char *msg = cn_xasprintf("job %llu, which this job runs after, ended %s",
                                     (unsigned long long)j->id, state_word(j->rec->state));
            cn_q_set_str(&w->rec->error, msg);
            free(msg);
            w->rec->error_code = CN_ECANCELLED;
            w->place = CN_QP_DONE;
            w->rec->finished_ms = now;
            cn_q_set_state(q, w, CANOPY__JOB_STATE__CANCELLED);
            push_done(q, w);
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                stack = cn_xrealloc(stack, cap * sizeof *stack);
            }
            stack[n++] = w;
        }
        free(j->waiters);
        j->waiters = NULL;
        j->nwaiters = j->capwaiters = 0;
        if (n == 0) break;
        j = stack[--n];
    }
    free(stack);
}

void cn_q_finish(cn_queue_t *q, cn_qjob_t *j, Canopy__JobState st, uint64_t now) {
    unplace(q, j);
    j->rec->finished_ms = now;
    j->rec->deadline_ms = 0;
    j->place = CN_QP_DONE;
    if (st == CANOPY__JOB_STATE__SUCCEEDED) q->succeeded_total++;
    cn_q_set_state(q, j, st);
    push_done(q, j);
    notify_waiters(q, j, now);
}

/* ---- leases ---- */

static cn_qjob_t *best_ready(cn_queue_t *q, char *const *kinds, size_t nkinds) {
    cn_qjob_t *best = NULL;
    for (size_t i = 0; i < (nkinds ? nkinds : q->nkinds); i++) {
        int k = nkinds ? cn_q_kind_index(q, kinds[i], false) : (int)i;
        if (k < 0) continue;
        cn_qjob_t *top = cn_heap_peek(&q->kinds[k].ready);
        if (top && (!best || cn_q_ready_less(top, best))) best = top;
    }
    return best;
}

static void history_add(cn_qjob_t *j, const char *worker, uint64_t now) {
    Canopy__Job *r = j->rec;
    if (r->n_history == CN_QMAX_HISTORY) {
        canopy__attempt_record__free_unpacked(r->history[0], NULL);
        memmove(r->history, r->history + 1, (r->n_history - 1) * sizeof *r->history);
        r->n_history--;
    }
    r->history = cn_xrealloc(r->history, (r->n_history + 1) * sizeof *r->history);
    Canopy__AttemptRecord *h = cn_xmalloc(sizeof *h);
    canopy__attempt_record__init(h);
    h->attempt = r->attempts;
    h->lease_seq = r->lease_seq;
    h->worker = cn_xstrdup(worker);
    h->started_ms = now;
    h->outcome = CANOPY__JOB_STATE__LEASED;
    r->history[r->n_history++] = h;
}

cn_qjob_t *cn_queue_lease_next(cn_queue_t *q, char *const *kinds, size_t nkinds, const char *worker,
                               uint64_t now) {
    cn_qjob_t *j;
    for (;;) {
        j = best_ready(q, kinds, nkinds);
        if (!j) return NULL;
        cn_heap_remove(&q->kinds[j->kind].ready, j);
        j->place = CN_QP_NONE;
        if (!j->rec->key_id) break;
        cn_qkey_t *k = key_get(q, j->rec->key_id, true);
        if (k->holder == 0 || k->holder == j->id) break;
        key_block(q, k, j);
    }
    Canopy__Job *r = j->rec;
    cn_q_key_hold(q, j);
    r->attempts++;
    r->lease_seq = ++q->lease_seq;
    q->meta_dirty = true;
    cn_q_set_str(&r->worker, worker);
    r->started_ms = now;
    r->deadline_ms = r->spec->timeout_ms ? now + r->spec->timeout_ms + q->o.grace_ms : 0;
    r->progress_done = r->progress_total = 0;
    r->progress_bytes_done = r->progress_bytes_total = 0;
    history_add(j, worker, now);
    j->place = CN_QP_LEASED;
    cn_q_set_state(q, j, CANOPY__JOB_STATE__LEASED);
    return j;
}

static uint64_t backoff(cn_queue_t *q, uint32_t attempts) {
    uint64_t d = q->o.backoff_ms;
    for (uint32_t i = 1; i < attempts && d < q->o.backoff_cap_ms; i++) d *= 2;
    if (d > q->o.backoff_cap_ms) d = q->o.backoff_cap_ms;
    q->rng ^= q->rng << 13;
    q->rng ^= q->rng >> 7;
    q->rng ^= q->rng << 17;
    /* +-25% jitter so that jobs failed together do not retry together. */
    uint64_t span = d / 2;
    return d - d / 4 + (span ? q->rng % (span + 1) : 0);
}

static Canopy__JobState history_outcome(enum cn_qend how) {
    switch (how) {
    case CN_QEND_OK:
        return CANOPY__JOB_STATE__SUCCEEDED;
    case CN_QEND_FATAL:
        return CANOPY__JOB_STATE__DEAD;
    case CN_QEND_CANCELED:
        return CANOPY__JOB_STATE__CANCELLED;
    case CN_QEND_RELEASED:
        return CANOPY__JOB_STATE__QUEUED;
    default:
        return CANOPY__JOB_STATE__FAILED;
    }
}

static void end_record(cn_qjob_t *j, enum cn_qend how, int code, const char *error, bool from_result,
                       uint64_t now) {
    Canopy__Job *r = j->rec;
    if (r->n_history) {
        Canopy__AttemptRecord *h = r->history[r->n_history - 1];
        h->finished_ms = now;
        h->outcome = history_outcome(how);
        h->result_accepted = from_result;
        if (error && error[0]) cn_q_set_str(&h->error, error);
    }
    if (from_result) r->accepted_results++;
    if (how != CN_QEND_OK && how != CN_QEND_RELEASED && (code || (error && error[0]))) {
        r->error_code = code;
        cn_q_set_str(&r->error, error);
    }
}

void cn_queue_end(cn_queue_t *q, cn_qjob_t *j, enum cn_qend how, int code, const char *error,
                  const char *summary, bool from_result, uint64_t now) {
    if (j->place != CN_QP_LEASED) return;
    Canopy__Job *r = j->rec;
    end_record(j, how, code, error, from_result, now);
    unplace(q, j);
    r->deadline_ms = 0;
    bool out_of_attempts = r->attempts >= cn_q_max_attempts(q, j);
    if (how != CN_QEND_OK && r->cancel_requested) how = CN_QEND_CANCELED;
    switch (how) {
    case CN_QEND_OK:
        cn_q_set_str(&r->summary, summary);
        cn_q_finish(q, j, CANOPY__JOB_STATE__SUCCEEDED, now);
        return;
    case CN_QEND_FATAL:
        cn_q_finish(q, j, CANOPY__JOB_STATE__DEAD, now);
        return;
    case CN_QEND_CANCELED:
        if (!r->error || !r->error[0]) cn_q_set_str(&r->error, "cancelled");
        cn_q_finish(q, j, CANOPY__JOB_STATE__CANCELLED, now);
        return;
    case CN_QEND_RELEASED:
        if (r->attempts) r->attempts--;
        r->not_before_ms = 0;
        cn_q_set_state(q, j, CANOPY__JOB_STATE__QUEUED);
        cn_q_admit(q, j, now);
        return;
    case CN_QEND_LOST:
    case CN_QEND_ERROR:
        if (out_of_attempts) {
            cn_q_finish(q, j, CANOPY__JOB_STATE__DEAD, now);
            return;
        }
        r->not_before_ms = how == CN_QEND_ERROR ? now + backoff(q, r->attempts) : 0;
        cn_q_set_state(q, j, how == CN_QEND_ERROR ? CANOPY__JOB_STATE__FAILED : CANOPY__JOB_STATE__QUEUED);
        cn_q_admit(q, j, now);
        return;
    }
}

static enum cn_qend outcome_end(Canopy__Outcome o) {
    switch (o) {
    case CANOPY__OUTCOME__OK:
        return CN_QEND_OK;
    case CANOPY__OUTCOME__CANCELED:
        return CN_QEND_CANCELED;
    case CANOPY__OUTCOME__RELEASED:
        return CN_QEND_RELEASED;
    case CANOPY__OUTCOME__FATAL:
        return CN_QEND_FATAL;
    default:
        return CN_QEND_ERROR;
    }
}

static bool accepted_before(const Canopy__Job *r, uint64_t lease_seq) {
    for (size_t i = 0; i < r->n_history; i++)
        if (r->history[i]->lease_seq == lease_seq && r->history[i]->result_accepted) return true;
    return false;
}

int cn_queue_result(cn_queue_t *q, const Canopy__Result *res, uint64_t now) {
    if (res->job_id == 0 || res->lease_seq == 0) return CN_ESTALE;
    cn_qjob_t *j = cn_queue_find(q, res->job_id);
    if (j && j->place == CN_QP_LEASED && j->rec->lease_seq == res->lease_seq) {
        const char *err = res->error;
        if (res->outcome == CANOPY__OUTCOME__OUTCOME_UNKNOWN && (!err || !err[0]))
            err = "the worker reported an unknown outcome";
        cn_queue_end(q, j, outcome_end(res->outcome), res->error_code, err, res->summary, true, now);
        return 1;
    }
    return cn_queue_lease_accepted(q, res->job_id, res->lease_seq) ? 0 : CN_ESTALE;
}

bool cn_queue_lease_accepted(cn_queue_t *q, uint64_t job_id, uint64_t lease_seq) {
    cn_qjob_t *j = cn_queue_find(q, job_id);
    if (j) return accepted_before(j->rec, lease_seq);
    Canopy__Job *rec;
    if (cn_q_load(q, job_id, &rec) != 0) return false;
    bool ok = accepted_before(rec, lease_seq);
    cn_rec_free(&rec->base);
    return ok;
}

void cn_queue_progress(cn_queue_t *q, cn_qjob_t *j, const Canopy__Progress *p) {
    if (j->place != CN_QP_LEASED) return;
    Canopy__Job *r = j->rec;
    r->progress_done = p->done;
    r->progress_total = p->total;
    r->progress_bytes_done = p->bytes_done;
    r->progress_bytes_total = p->bytes_total;
    if (p->unit && strcmp(p->unit, r->progress_unit ? r->progress_unit : "") != 0)
        cn_q_set_str(&r->progress_unit, p->unit);
    /* after the fields: the RUNNING event carries them */
    if (r->state == CANOPY__JOB_STATE__LEASED) cn_q_set_state(q, j, CANOPY__JOB_STATE__RUNNING);
}

int cn_queue_cancel(cn_queue_t *q, uint64_t id, uint64_t now) {
    cn_qjob_t *j = cn_queue_find(q, id);
    if (!j || j->place == CN_QP_DONE) {
        if (j) return 0;
        Canopy__Job *rec;
        int rc = cn_q_load(q, id, &rec);
        if (rc)
            return rc == CN_ENOTFOUND ? cn_err(CN_ENOTFOUND, "there is no job %llu", (unsigned long long)id)
                                      : rc;
        cn_rec_free(&rec->base);
        return 0; /* already finished: nothing to cancel */
    }
    if (j->place == CN_QP_LEASED) {
        if (!j->rec->cancel_requested) {
            j->rec->cancel_requested = true;
            cn_q_dirty(q, j);
        }
        return 0;
    }
    cn_q_set_str(&j->rec->error, "cancelled");
    j->rec->error_code = CN_ECANCELLED;
    cn_q_finish(q, j, CANOPY__JOB_STATE__CANCELLED, now);
    return 0;
}

int cn_queue_retry(cn_queue_t *q, uint64_t id, uint64_t now) {
    cn_qjob_t *j = cn_queue_find(q, id);
    if (!j) {
        Canopy__Job *rec;
        int rc = cn_q_load(q, id, &rec);
        if (rc)
            return rc == CN_ENOTFOUND ? cn_err(CN_ENOTFOUND, "there is no job %llu", (unsigned long long)id)
                                      : rc;
        if (rec->state != CANOPY__JOB_STATE__DEAD && rec->state != CANOPY__JOB_STATE__CANCELLED) {
            rc = cn_err(CN_EINVAL, "job %llu is %s; only dead, failed or cancelled jobs can be retried",
                        (unsigned long long)id, state_word(rec->state));
            cn_rec_free(&rec->base);
            return rc;
        }
        j = cn_q_job_new(q, rec);
        j->place = CN_QP_NONE;
    } else {
        Canopy__JobState st = j->rec->state;
        if (st != CANOPY__JOB_STATE__DEAD && st != CANOPY__JOB_STATE__CANCELLED &&
            st != CANOPY__JOB_STATE__FAILED)
            return cn_err(CN_EINVAL, "job %llu is %s; only dead, failed or cancelled jobs can be retried",
                          (unsigned long long)id, state_word(st));
        if (j->place == CN_QP_DONE) j->place = CN_QP_NONE; /* revived before its commit */
        unplace(q, j);
    }
    Canopy__Job *r = j->rec;
    r->attempts = 0;
    r->not_before_ms = 0;
    r->finished_ms = 0;
    r->cancel_requested = false;
    r->error_code = 0;
    cn_q_set_str(&r->error, "");
    cn_q_set_state(q, j, CANOPY__JOB_STATE__QUEUED);
    cn_q_admit_new(q, j, now);
    return 0;
}

uint64_t cn_queue_tick(cn_queue_t *q, uint64_t now) {
    cn_qjob_t *j;
    while ((j = cn_heap_peek(&q->timer)) && j->rec->not_before_ms <= now) {
        cn_heap_remove(&q->timer, j);
        j->place = CN_QP_NONE;
        cn_q_admit(q, j, now);
    }
    return j ? j->rec->not_before_ms : UINT64_MAX;
}

void cn_queue_foreach_leased(cn_queue_t *q, cn_queue_job_fn fn, void *arg) {
    size_t pos = 0;
    uint64_t k;
    void *v;
    while (cn_u64map_next(&q->jobs, &pos, &k, &v)) {
        cn_qjob_t *j = v;
        if (j->place == CN_QP_LEASED) fn(arg, j);
    }
}
