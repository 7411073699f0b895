/* status.c: see status.h. Throughput is a ring of (time, succeeded total)
   samples taken four times a second; counts come from the queue's counters. */
#include "status.h"

#include "util.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define RING 48
#define SAMPLE_MS 250
#define WINDOW_MS 10000
#define MAX_RUNNING 1000
#define MAX_INFO 1000

struct cn_status {
    uint64_t t[RING], v[RING];
    size_t head, n;
};

cn_status_t *cn_status_new(uint64_t now_ms) {
    cn_status_t *s = cn_xcalloc(1, sizeof *s);
    s->t[0] = now_ms;
    s->n = 1;
    return s;
}

void cn_status_destroy(cn_status_t **self_p) {
    if (!self_p || !*self_p) return;
    free(*self_p);
    *self_p = NULL;
}

void cn_status_tick(cn_status_t *s, uint64_t now_ms, uint64_t total) {
    if (now_ms < s->t[s->head] + SAMPLE_MS) return;
    s->head = (s->head + 1) % RING;
    s->t[s->head] = now_ms;
    s->v[s->head] = total;
    if (s->n < RING) s->n++;
}

double cn_status_rate(const cn_status_t *s, uint64_t now_ms, uint64_t total) {
    /* The oldest sample still inside the window. */
    size_t best = s->head;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (s->head + RING - k) % RING;
        if (now_ms - s->t[i] > WINDOW_MS) break;
        best = i;
    }
    uint64_t dt = now_ms - s->t[best];
    if (dt < 100) return 0;
    return (double)(total - s->v[best]) * 1000.0 / (double)dt;
}

static Canopy__WorkerStatus *worker_status(const cn_worker_t *w) {
    Canopy__WorkerStatus *ws = cn_xmalloc(sizeof *ws);
    canopy__worker_status__init(ws);
    ws->name = w->name;
    ws->slots = w->slots;
    ws->free_slots = w->slots > cn_worker_nleases(w) ? w->slots - (uint32_t)cn_worker_nleases(w) : 0;
    ws->running = cn_worker_lease_ids(w, &ws->n_running);
    ws->last_seen_ms = w->last_seen_ms;
    ws->host = w->host;
    ws->pid = w->pid;
    ws->alive = w->alive && w->connected;
    return ws;
}

static void build_counts(cn_queue_t *q, Canopy__StatusReply *out) {
    size_t nk = cn_queue_nkinds(q), n = 0;
    out->count = cn_xcalloc(nk * 8 + 1, sizeof *out->count);
    for (size_t k = 0; k < nk; k++) {
        for (int st = 1; st < 8; st++) {
            uint64_t c = cn_queue_count(q, k, (Canopy__JobState)st);
            if (!c) continue;
            Canopy__KindCount *kc = cn_xmalloc(sizeof *kc);
            canopy__kind_count__init(kc);
            kc->kind = (char *)cn_queue_kind_name(q, k);
            kc->state = (Canopy__JobState)st;
            kc->count = c;
            out->count[n++] = kc;
        }
    }
    out->n_count = n;
}

void cn_status_build(cn_status_t *s, const cn_status_src_t *src, uint64_t now_ms, Canopy__StatusReply *out) {
    size_t nw = cn_workers_count(src->ws);
    out->worker = cn_xcalloc(nw + 1, sizeof *out->worker);
    for (size_t i = 0; i < nw; i++) out->worker[i] = worker_status(cn_workers_at(src->ws, i));
    out->n_worker = nw;
    build_counts(src->q, out);
    uint64_t succ = cn_queue_succeeded_total(src->q);
    out->jobs_per_sec = cn_status_rate(s, now_ms, succ);
    out->submitted_total = cn_queue_submitted_total(src->q);
    out->succeeded_total = succ;
    out->bad_messages = src->bad_messages;
    out->stale_results = src->leases->stale_results;
    out->uptime_ms = now_ms - src->start_ms;
    /* Running jobs through the workers' leases: bounded by slots, not by the queue. */
    out->running = cn_xcalloc(MAX_RUNNING, sizeof *out->running);
    for (size_t i = 0; i < nw && out->n_running < MAX_RUNNING; i++) {
        const cn_worker_t *w = cn_workers_at(src->ws, i);
        size_t n;
        uint64_t *ids = cn_worker_lease_ids(w, &n);
        for (size_t k = 0; k < n && out->n_running < MAX_RUNNING; k++) {
            cn_qjob_t *j = cn_queue_find(src->q, ids[k]);
            if (j && j->place == CN_QP_LEASED) out->running[out->n_running++] = j->rec;
        }
        free(ids);
    }
}

void cn_status_reply_free(Canopy__StatusReply *r) {
    for (size_t i = 0; i < r->n_worker; i++) {
        free(r->worker[i]->running);
        free(r->worker[i]);
    }
    free(r->worker);
    for (size_t i = 0; i < r->n_count; i++) free(r->count[i]);
    free(r->count);
    free(r->running); /* the records belong to the queue */
}

int cn_status_jobs(cn_queue_t *q, const Canopy__JobsRequest *req, Canopy__JobsReply *out) {
    size_t n;
    bool more;
    int rc = cn_queue_list(q, req->state, req->kind, req->after_id, req->limit, &out->job, &n, &more);
    out->n_job = n;
    out->more = more;
    return rc;
}

void cn_status_jobs_free(cn_queue_t *q, Canopy__JobsReply *r) {
    cn_queue_list_free(q, r->job, r->n_job);
}

void cn_status_info(cn_queue_t *q, const Canopy__JobInfoRequest *req, Canopy__JobInfoReply *out,
                    bool **owned) {
    size_t n = CN_MIN(req->n_id, (size_t)MAX_INFO), k = 0;
    out->job = cn_xcalloc(n + 1, sizeof *out->job);
    *owned = cn_xcalloc(n + 1, sizeof **owned);
    for (size_t i = 0; i < n; i++)
        if (cn_queue_lookup(q, req->id[i], &out->job[k], &(*owned)[k]) == 0) k++;
    out->n_job = k;
}

void cn_status_info_free(Canopy__JobInfoReply *r, bool *owned) {
    for (size_t i = 0; i < r->n_job; i++)
        if (owned[i]) cn_rec_free(&r->job[i]->base);
    free(r->job);
    free(owned);
}
