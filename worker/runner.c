/* runner.c: slot threads, the job context of job.h, and group commit.
   Leases wait in one FIFO queue (mutex + condvar); an idle slot thread takes the
   next one and, if more are waiting and another thread is idle, wakes exactly one
   more, so a burst of tiny jobs is drained by the threads already awake instead
   of waking every slot. Finished jobs go to a done list; the first one after each
   collect calls notify() so the loop wakes once per turn, not once per job. */
#include "runner.h"

#include "errors.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_job_ctx {
    cn_runner_t *runner;
    struct cn_job_ctx *prev, *next; /* in-flight list (runner lock) */
    struct cn_job_ctx *qnext;       /* pending queue or done list (runner lock) */
    uint64_t job_id, lease_seq, key_id, timeout_ms;
    uint32_t attempt;
    char *kind, *serial_key;
    uint8_t *spec;
    size_t spec_len;
    uint64_t deadline_us; /* 0: none; set when the job starts */
    cn_batch_t *batch;    /* pointer records, created on first use */
    atomic_uint stop;     /* CN_STOP_* bits */
    atomic_bool started;
    bool finished; /* parked on the done list (runner lock) */
    atomic_uint_fast64_t done, total;
    atomic_uint_fast64_t bytes_done, bytes_total;
    pthread_mutex_t unit_mu;
    char unit[32];
    /* Written by the slot thread before the job is parked as done. */
    int rc;
    int fail_code;
    bool fatal;
    char *fail_msg;
    char *summary;
};

struct cn_runner {
    cn_shard_t *shard;
    char *worker, *scratch_dir, *data_dir;
    void (*notify)(void *arg);
    void *notify_arg;
    unsigned nthreads;
    pthread_t *threads;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    cn_job_ctx_t *inflight;        /* every job not yet collected */
    cn_job_ctx_t *q_head, *q_tail; /* waiting for a slot */
    cn_job_ctx_t *done_head, *done_tail;
    size_t n_inflight;
    unsigned idle;   /* threads waiting on cv */
    unsigned waking; /* signalled, not yet awake */
    bool notified;   /* notify() called since the last collect */
    bool quit;
    cn_runner_stats_t stats;
};

/* ---- the job context (job.h) ---- */

cn_shard_t *cn_job_shard(cn_job_ctx_t *ctx) {
    return ctx->runner->shard;
}

cn_batch_t *cn_job_commit_batch(cn_job_ctx_t *ctx) {
    if (!ctx->batch) ctx->batch = cn_batch_new();
    return ctx->batch;
}

uint64_t cn_job_id(const cn_job_ctx_t *ctx) {
    return ctx->job_id;
}
uint32_t cn_job_attempt(const cn_job_ctx_t *ctx) {
    return ctx->attempt;
}
uint64_t cn_job_lease_seq(const cn_job_ctx_t *ctx) {
    return ctx->lease_seq;
}
uint64_t cn_job_key_id(const cn_job_ctx_t *ctx) {
    return ctx->key_id;
}
const char *cn_job_serial_key(const cn_job_ctx_t *ctx) {
    return ctx->serial_key;
}
const char *cn_job_worker_name(const cn_job_ctx_t *ctx) {
    return ctx->runner->worker;
}
const char *cn_job_scratch_dir(const cn_job_ctx_t *ctx) {
    return ctx->runner->scratch_dir;
}
const char *cn_job_data_dir(const cn_job_ctx_t *ctx) {
    return ctx->runner->data_dir;
}

void cn_job_progress(cn_job_ctx_t *ctx, uint64_t done, uint64_t total, const char *unit) {
    atomic_store_explicit(&ctx->done, done, memory_order_relaxed);
    atomic_store_explicit(&ctx->total, total, memory_order_relaxed);
    if (unit && strncmp(unit, ctx->unit, sizeof ctx->unit - 1) != 0) {
        pthread_mutex_lock(&ctx->unit_mu);
        snprintf(ctx->unit, sizeof ctx->unit, "%s", unit);
        pthread_mutex_unlock(&ctx->unit_mu);
    }
}

void cn_job_progress_bytes(cn_job_ctx_t *ctx, uint64_t done, uint64_t total) {
    atomic_store_explicit(&ctx->bytes_done, done, memory_order_relaxed);
    atomic_store_explicit(&ctx->bytes_total, total, memory_order_relaxed);
}

bool cn_job_cancelled(cn_job_ctx_t *ctx) {
    if (atomic_load_explicit(&ctx->stop, memory_order_relaxed)) return true;
    if (ctx->deadline_us && cn_mono_us() >= ctx->deadline_us) {
        atomic_fetch_or(&ctx->stop, CN_STOP_TIMEOUT);
        return true;
    }
    return false;
}

int cn_job_fail(cn_job_ctx_t *ctx, int code, bool fatal, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(ctx->fail_msg);
    ctx->fail_msg = cn_xstrdup(msg);
    ctx->fail_code = code < 0 ? code : CN_EINVAL;
    ctx->fatal = fatal;
    return ctx->fail_code;
}

void cn_job_set_summary(cn_job_ctx_t *ctx, const char *json) {
    free(ctx->summary);
    ctx->summary = json ? cn_xstrdup(json) : NULL;
}

/* One allocation per job: the context, then the spec, kind and serial key
   copied behind it (tiny jobs at 100k/s make every malloc count). */
static cn_job_ctx_t *ctx_new(cn_runner_t *r, const Canopy__Lease *l) {
    const char *kind = l->kind ? l->kind : "", *skey = l->serial_key ? l->serial_key : "";
    size_t klen = strlen(kind) + 1, slen = strlen(skey) + 1;
    cn_job_ctx_t *c = cn_xcalloc(1, sizeof *c + l->spec.len + klen + slen);
    uint8_t *tail = (uint8_t *)(c + 1);
    c->runner = r;
    c->job_id = l->job_id;
    c->lease_seq = l->lease_seq;
    c->attempt = l->attempt;
    c->key_id = l->key_id;
    c->timeout_ms = l->timeout_ms;
    c->spec_len = l->spec.len;
    c->spec = l->spec.len ? memcpy(tail, l->spec.data, l->spec.len) : NULL;
    c->kind = memcpy(tail + l->spec.len, kind, klen);
    c->serial_key = memcpy(tail + l->spec.len + klen, skey, slen);
    atomic_init(&c->stop, 0);
    atomic_init(&c->started, false);
    atomic_init(&c->done, 0);
    atomic_init(&c->total, 0);
    atomic_init(&c->bytes_done, 0);
    atomic_init(&c->bytes_total, 0);
    pthread_mutex_init(&c->unit_mu, NULL);
    return c;
}

static void ctx_free(cn_job_ctx_t *c) {
    if (!c) return;
    cn_batch_destroy(&c->batch);
    pthread_mutex_destroy(&c->unit_mu);
    free(c->fail_msg);
    free(c->summary);
    free(c);
}

/* ---- slot threads ---- */

/* Runs one job on the calling slot thread. */
static void run_job(cn_job_ctx_t *c) {
    if (c->timeout_ms) {
        uint64_t ms = CN_MIN(c->timeout_ms, (uint64_t)1 << 40); /* no overflow below */
        c->deadline_us = cn_mono_us() + ms * 1000;
    }
    atomic_store(&c->started, true);
    if (atomic_load(&c->stop)) {
        c->rc = CN_ECANCELLED; /* stopped before it started */
        return;
    }
    const cn_job_kind_t *k = cn_job_find(c->kind);
    if (!k) {
        c->rc = cn_job_fail(c, CN_EUNSUPPORTED, true, "worker %s has no job kind \"%s\"", c->runner->worker,
                            c->kind);
        return;
    }
    cn_err_clear();
    c->rc = k->run(c, c->spec, c->spec_len);
    if (c->rc > 0) c->rc = CN_EINVAL; /* a kind's bug: treat as a failure */
    if (c->rc && !c->fail_msg) {
        const char *d = cn_err_detail();
        c->fail_code = c->rc;
        c->fail_msg = cn_xstrdup(d[0] ? d : cn_strerror(c->rc));
    }
}

/* Wakes one idle slot thread if jobs wait and no other thread is already on its
   way: threads join one at a time while the awake ones drain the queue, so a
   burst of tiny jobs costs a few wake-ups, not one per job. Runner lock held. */
static void wake_one(cn_runner_t *r) {
    if (r->q_head && r->idle > r->waking && r->waking == 0) {
        r->waking++;
        pthread_cond_signal(&r->cv);
    }
}

static void *slot_main(void *arg) {
    cn_runner_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->q_head && !r->quit) {
            r->idle++;
            pthread_cond_wait(&r->cv, &r->mu);
            r->idle--;
            if (r->waking) r->waking--;
        }
        if (!r->q_head) break; /* quit */
        cn_job_ctx_t *c = r->q_head;
        r->q_head = c->qnext;
        if (!r->q_head) r->q_tail = NULL;
        c->qnext = NULL;
        wake_one(r); /* hand the rest on */
        pthread_mutex_unlock(&r->mu);

        run_job(c);

        pthread_mutex_lock(&r->mu);
        if (r->done_tail)
            r->done_tail->qnext = c;
        else
            r->done_head = c;
        r->done_tail = c;
        c->finished = true;
        r->stats.finished++;
        bool wake = !r->notified;
        r->notified = true;
        if (wake && r->notify) {
            pthread_mutex_unlock(&r->mu);
            r->notify(r->notify_arg);
            pthread_mutex_lock(&r->mu);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the runner ---- */

int cn_runner_new(const cn_runner_opts_t *o, cn_runner_t **out) {
    *out = NULL;
    if (!o || !o->shard || o->slots == 0 || o->slots > 4096)
        return cn_err(CN_EINVAL, "a runner needs a shard and 1 to 4096 slots");
    cn_runner_t *r = cn_xcalloc(1, sizeof *r);
    r->shard = o->shard;
    r->worker = cn_xstrdup(o->worker ? o->worker : "worker");
    r->scratch_dir = cn_xstrdup(o->scratch_dir ? o->scratch_dir : ".");
    r->data_dir = cn_xstrdup(o->data_dir ? o->data_dir : ".");
    r->notify = o->notify;
    r->notify_arg = o->notify_arg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->threads = cn_xcalloc(o->slots, sizeof *r->threads);
    for (unsigned i = 0; i < o->slots; i++) {
        if (pthread_create(&r->threads[i], NULL, slot_main, r) != 0) {
            cn_runner_destroy(&r);
            return cn_err(CN_ESYS, "cannot start slot thread %u of %u", i + 1, o->slots);
        }
        r->nthreads++;
    }
    *out = r;
    return 0;
}

void cn_runner_destroy(cn_runner_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_runner_t *r = *self_p;
    pthread_mutex_lock(&r->mu);
    for (cn_job_ctx_t *c = r->inflight; c; c = c->next) atomic_fetch_or(&c->stop, CN_STOP_SHUTDOWN);
    r->quit = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
    for (cn_job_ctx_t *c = r->inflight, *n; c; c = n) {
        n = c->next;
        ctx_free(c);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->threads);
    free(r->worker);
    free(r->scratch_dir);
    free(r->data_dir);
    free(r);
    *self_p = NULL;
}

void cn_runner_submit(cn_runner_t *r, Canopy__Lease *const *leases, size_t n) {
    if (n == 0) return;
    /* Copy outside the lock; link in under it. */
    cn_job_ctx_t *first = NULL, *last = NULL;
    for (size_t i = 0; i < n; i++) {
        cn_job_ctx_t *c = ctx_new(r, leases[i]);
        if (last)
            last->qnext = c;
        else
            first = c;
        last = c;
    }
    pthread_mutex_lock(&r->mu);
    for (cn_job_ctx_t *c = first; c; c = c->qnext) {
        c->next = r->inflight;
        if (r->inflight) r->inflight->prev = c;
        r->inflight = c;
    }
    if (r->q_tail)
        r->q_tail->qnext = first;
    else
        r->q_head = first;
    r->q_tail = last;
    r->n_inflight += n;
    r->stats.submitted += n;
    wake_one(r); /* the woken thread wakes the next */
    pthread_mutex_unlock(&r->mu);
}

bool cn_runner_stop(cn_runner_t *r, uint64_t job_id, uint64_t lease_seq, unsigned reason) {
    bool found = false;
    pthread_mutex_lock(&r->mu);
    for (cn_job_ctx_t *c = r->inflight; c; c = c->next) {
        if (c->job_id == job_id && (lease_seq == 0 || c->lease_seq == lease_seq)) {
            atomic_fetch_or(&c->stop, reason);
            found = true;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

void cn_runner_stop_all(cn_runner_t *r, unsigned reason) {
    pthread_mutex_lock(&r->mu);
    for (cn_job_ctx_t *c = r->inflight; c; c = c->next) atomic_fetch_or(&c->stop, reason);
    pthread_mutex_unlock(&r->mu);
}

size_t cn_runner_inflight(cn_runner_t *r) {
    pthread_mutex_lock(&r->mu);
    size_t n = r->n_inflight;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void cn_runner_each(cn_runner_t *r, void (*fn)(void *arg, const cn_job_info_t *info), void *arg) {
    pthread_mutex_lock(&r->mu);
    for (cn_job_ctx_t *c = r->inflight; c; c = c->next) {
        cn_job_info_t info = {.job_id = c->job_id, .lease_seq = c->lease_seq};
        info.started = atomic_load(&c->started);
        info.finished = c->finished;
        info.done = atomic_load_explicit(&c->done, memory_order_relaxed);
        info.total = atomic_load_explicit(&c->total, memory_order_relaxed);
        info.bytes_done = atomic_load_explicit(&c->bytes_done, memory_order_relaxed);
        info.bytes_total = atomic_load_explicit(&c->bytes_total, memory_order_relaxed);
        pthread_mutex_lock(&c->unit_mu);
        memcpy(info.unit, c->unit, sizeof info.unit);
        pthread_mutex_unlock(&c->unit_mu);
        fn(arg, &info);
    }
    pthread_mutex_unlock(&r->mu);
}

void cn_runner_stats(cn_runner_t *r, cn_runner_stats_t *out) {
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

/* ---- collect: outcomes and group commit ---- */

/* The outcome of a job whose run() failed, from its stop bits first: a lease
   taken away is never reported, a cancel beats a timeout beats a shutdown. */
static void fill_failure(cn_job_ctx_t *c, cn_job_result_t *res) {
    unsigned stop = atomic_load(&c->stop);
    if (stop & CN_STOP_STALE) {
        res->drop = true;
        res->outcome = CANOPY__OUTCOME__ERROR;
        res->error_code = CN_ESTALE;
        res->error = cn_xstrdup("the lease was taken away");
    } else if (stop & CN_STOP_CANCEL) {
        res->outcome = CANOPY__OUTCOME__CANCELED;
        res->error_code = CN_ECANCELLED;
        res->error = cn_xstrdup("cancelled at the user's request");
    } else if (stop & CN_STOP_TIMEOUT) {
        res->outcome = CANOPY__OUTCOME__ERROR;
        res->error_code = CN_ETIMEOUT;
        res->error = c->fail_code == CN_ETIMEOUT && c->fail_msg
                         ? cn_xstrdup(c->fail_msg)
                         : cn_xasprintf("timed out after %llu ms", (unsigned long long)c->timeout_ms);
    } else if (stop & CN_STOP_SHUTDOWN) {
        res->outcome = CANOPY__OUTCOME__RELEASED;
        res->error_code = CN_ECANCELLED;
        res->error = cn_xasprintf("released: worker %s is shutting down", c->runner->worker);
    } else {
        res->outcome = c->fatal ? CANOPY__OUTCOME__FATAL : CANOPY__OUTCOME__ERROR;
        res->error_code = c->fail_code ? c->fail_code : c->rc;
        res->error = cn_xstrdup(c->fail_msg ? c->fail_msg : cn_strerror(c->rc));
    }
}

/* Commits jobs[0..n) in one synced write; if the shard refuses the group (one
   job's pointers conflict), commits them one by one so only the bad one fails. */
static int commit_group(cn_runner_t *r, cn_job_ctx_t **jobs, cn_job_result_t **res, size_t n) {
    cn_batch_t **ptrs = cn_xcalloc(n, sizeof *ptrs);
    cn_job_commit_t *cs = cn_xcalloc(n, sizeof *cs);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = jobs[i]->batch; /* NULL when the job wrote no pointers */
        cs[i] = (cn_job_commit_t){.job_id = jobs[i]->job_id,
                                  .attempt = jobs[i]->attempt,
                                  .lease_seq = jobs[i]->lease_seq,
                                  .kind = jobs[i]->kind,
                                  .key_id = jobs[i]->key_id,
                                  .summary = jobs[i]->summary};
    }
    int rc = cn_shard_commit_jobs(r->shard, ptrs, cs, n);
    size_t ok = 0;
    size_t writes = 0;
    if (rc == 0) {
        ok = n;
        for (size_t i = 0; i < n; i++) res[i]->committed = true;
        writes = 1;
    } else {
        CN_WARN("group commit of %zu jobs failed (%s: %s); committing them one by one", n, cn_strerror(rc),
                cn_err_detail());
        for (size_t i = 0; i < n; i++) {
            int one = cn_shard_commit_job(r->shard, ptrs[i], &cs[i]);
            if (one == 0) {
                res[i]->committed = true;
                writes++;
                ok++;
                continue;
            }
            res[i]->outcome = CANOPY__OUTCOME__ERROR;
            res[i]->error_code = one;
            res[i]->error = cn_xasprintf("cannot commit the job's records: %s", cn_err_detail());
        }
    }
    pthread_mutex_lock(&r->mu);
    r->stats.committed += ok;
    r->stats.group_commits += writes;
    pthread_mutex_unlock(&r->mu);
    free(ptrs);
    free(cs);
    return ok || n == 0 ? 0 : rc;
}

int cn_runner_collect(cn_runner_t *r, cn_job_result_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&r->mu);
    cn_job_ctx_t *done = r->done_head;
    r->done_head = r->done_tail = NULL;
    r->notified = false;
    size_t count = 0;
    for (cn_job_ctx_t *c = done; c; c = c->qnext) {
        if (c->prev)
            c->prev->next = c->next;
        else
            r->inflight = c->next;
        if (c->next) c->next->prev = c->prev;
        count++;
    }
    r->n_inflight -= count;
    pthread_mutex_unlock(&r->mu);
    if (count == 0) return 0;

    cn_job_result_t *res = cn_xcalloc(count, sizeof *res);
    cn_job_ctx_t **ok = cn_xcalloc(count, sizeof *ok);
    cn_job_result_t **okres = cn_xcalloc(count, sizeof *okres);
    size_t nok = 0, i = 0;
    for (cn_job_ctx_t *c = done; c; c = c->qnext, i++) {
        res[i] = (cn_job_result_t){.job_id = c->job_id, .lease_seq = c->lease_seq, .attempt = c->attempt};
        if (c->rc == 0 && !(atomic_load(&c->stop) & CN_STOP_STALE)) {
            res[i].outcome = CANOPY__OUTCOME__OK;
            res[i].summary = c->summary ? cn_xstrdup(c->summary) : NULL;
            ok[nok] = c;
            okres[nok++] = &res[i];
        } else {
            fill_failure(c, &res[i]);
        }
    }
    int rc = nok ? commit_group(r, ok, okres, nok) : 0;
    size_t failed = 0;
    for (cn_job_ctx_t *c = done, *next; c; c = next) {
        next = c->qnext;
        ctx_free(c);
    }
    for (i = 0; i < count; i++) failed += res[i].outcome != CANOPY__OUTCOME__OK;
    pthread_mutex_lock(&r->mu);
    r->stats.failed += failed;
    pthread_mutex_unlock(&r->mu);
    free(ok);
    free(okres);
    *out = res;
    *n = count;
    return rc;
}

void cn_job_result_clear(cn_job_result_t *res) {
    free(res->error);
    free(res->summary);
    res->error = res->summary = NULL;
}

void cn_runner_results_free(cn_job_result_t *res, size_t n) {
    for (size_t i = 0; i < n; i++) cn_job_result_clear(&res[i]);
    free(res);
}
