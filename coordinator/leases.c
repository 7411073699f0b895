/* leases.c: see leases.h. Worker states as the coordinator sees them:
     unknown --Hello--> connected --silent dead_after x hb--> dead (leases re-queued)
     connected --Bye--> dead;   dead/unknown --Hello--> connected
   A Heartbeat from a worker that is not connected is answered {unknown=true}. */
#include "leases.h"

#include "errors.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void adopt_one(void *arg, cn_qjob_t *j) {
    cn_leases_t *L = arg;
    const char *name = j->rec->worker && j->rec->worker[0] ? j->rec->worker : "?";
    cn_worker_t *w = cn_workers_get(L->ws, name);
    cn_worker_hold(w, j->id);
}

void cn_leases_adopt_stored(cn_leases_t *L, uint64_t now) {
    cn_queue_foreach_leased(L->q, adopt_one, L);
    for (size_t i = 0; i < cn_workers_count(L->ws); i++) {
        cn_worker_t *w = cn_workers_at(L->ws, i);
        w->last_seen_ms = now; /* it has the dead interval to say Hello again */
        CN_INFO("worker %s held %zu leases before the restart; waiting for it", w->name,
                cn_worker_nleases(w));
    }
}

/* Ends the lease of job id held by w (not via a result) and forgets it. */
static void lose_lease(cn_leases_t *L, cn_worker_t *w, uint64_t id, enum cn_qend how, int code,
                       const char *why, uint64_t now) {
    cn_worker_drop(w, id);
    cn_qjob_t *j = cn_queue_find(L->q, id);
    if (!j || j->place != CN_QP_LEASED || !j->rec->worker || strcmp(j->rec->worker, w->name) != 0) return;
    cn_queue_end(L->q, j, how, code, why, NULL, false, now);
}

static void lose_all(cn_leases_t *L, cn_worker_t *w, const char *why, uint64_t now) {
    size_t n;
    uint64_t *ids = cn_worker_lease_ids(w, &n);
    for (size_t i = 0; i < n; i++) lose_lease(L, w, ids[i], CN_QEND_LOST, CN_EUNREACHABLE, why, now);
    free(ids);
}

static bool listed(const Canopy__Hello *h, uint64_t id) {
    for (size_t i = 0; i < h->n_running; i++)
        if (h->running[i]->job_id == id) return true;
    return false;
}

void cn_leases_hello(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Hello *h, uint64_t now) {
    cn_worker_t *w = cn_workers_get(L->ws, h->name);
    bool was = w->connected;
    cn_worker_set_hello(w, peer, h, now);
    /* Leases we hold for it that it does not run any more: re-queue at once. */
    size_t n;
    uint64_t *ids = cn_worker_lease_ids(w, &n);
    char *why = cn_xasprintf("worker %s restarted and no longer runs it", w->name);
    for (size_t i = 0; i < n; i++)
        if (!listed(h, ids[i])) lose_lease(L, w, ids[i], CN_QEND_LOST, CN_EUNREACHABLE, why, now);
    free(why);
    free(ids);
    /* Leases it runs: adopt the current ones, fence the others. */
    size_t adopted = 0;
    for (size_t i = 0; i < h->n_running; i++) {
        const Canopy__LeaseRef *r = h->running[i];
        cn_qjob_t *j = cn_queue_find(L->q, r->job_id);
        if (j && j->place == CN_QP_LEASED && j->rec->lease_seq == r->lease_seq && j->rec->worker &&
            strcmp(j->rec->worker, w->name) == 0) {
            cn_worker_hold(w, j->id);
            adopted++;
        } else if (!cn_queue_lease_accepted(L->q, r->job_id, r->lease_seq)) {
            /* (A lease whose result we accepted is not stale: the worker only
               missed the ack and will resend the result.) */
            cn_worker_add_stale(w, r->job_id, r->lease_seq);
        }
    }
    CN_INFO("worker %s %s: %u slots, pid %u on %s, %zu leases adopted, %zu stale", w->name,
            was ? "said Hello again" : "joined", w->slots, w->pid, w->host, adopted, w->nstale);
}

/* The connected worker named `name` if the message came over its current pipe.
   Only a Hello sets a worker's peer: when a worker reconnects, the ROUTER hands
   its name to the new pipe and renames the old one, whose last queued messages
   still arrive from another routing id. Acting on them would send leases to a
   dead pipe (a heartbeat) or drop the reconnected worker's leases (a Bye). */
static cn_worker_t *sender(cn_leases_t *L, const char *name, const cn_peer_t *peer) {
    cn_worker_t *w = name ? cn_workers_find(L->ws, name) : NULL;
    return w && w->connected && cn_peer_eq(&w->peer, peer) ? w : NULL;
}

void cn_leases_heartbeat(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Heartbeat *hb, uint64_t now,
                         Canopy__HeartbeatReply *reply) {
    cn_worker_t *w = sender(L, hb->name, peer);
    if (!w) {
        reply->unknown = true;
        return;
    }
    w->last_seen_ms = now;
    w->free_slots = hb->free_slots;
    for (size_t i = 0; i < hb->n_progress; i++) {
        const Canopy__Progress *p = hb->progress[i];
        cn_qjob_t *j = cn_queue_find(L->q, p->job_id);
        if (j && j->place == CN_QP_LEASED && j->rec->lease_seq == p->lease_seq) {
            cn_queue_progress(L->q, j, p);
        }
    }
    size_t n;
    uint64_t *ids = cn_worker_lease_ids(w, &n);
    for (size_t i = 0; i < n; i++) {
        cn_qjob_t *j = cn_queue_find(L->q, ids[i]);
        if (!j || j->place != CN_QP_LEASED || !j->rec->cancel_requested) continue;
        reply->cancel = cn_xrealloc(reply->cancel, (reply->n_cancel + 1) * sizeof *reply->cancel);
        Canopy__LeaseRef *r = cn_xmalloc(sizeof *r);
        canopy__lease_ref__init(r);
        r->job_id = j->id;
        r->lease_seq = j->rec->lease_seq;
        reply->cancel[reply->n_cancel++] = r;
    }
    free(ids);
    reply->stale = cn_worker_take_stale(w, &reply->n_stale);
}

void cn_leases_reply_free(Canopy__HeartbeatReply *reply) {
    for (size_t i = 0; i < reply->n_cancel; i++) free(reply->cancel[i]);
    for (size_t i = 0; i < reply->n_stale; i++) free(reply->stale[i]);
    free(reply->cancel);
    free(reply->stale);
}

void cn_leases_results(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Results *rs, uint64_t now,
                       Canopy__ResultAcks *acks) {
    /* Results from a pipe the worker left are still results (fenced by their
       lease), but they say nothing of the worker being alive now. */
    cn_worker_t *w = sender(L, rs->name, peer);
    if (w) w->last_seen_ms = now;
    acks->n_ack = 0;
    if (!rs->n_result) return;
    acks->ack = cn_xcalloc(rs->n_result, sizeof *acks->ack);
    Canopy__ResultAck *a = cn_xcalloc(rs->n_result, sizeof *a);
    for (size_t i = 0; i < rs->n_result; i++) {
        const Canopy__Result *r = rs->result[i];
        cn_qjob_t *j = cn_queue_find(L->q, r->job_id);
        cn_worker_t *holder = NULL;
        if (j && j->place == CN_QP_LEASED && j->rec->lease_seq == r->lease_seq && j->rec->worker)
            holder = cn_workers_find(L->ws, j->rec->worker);
        int rc = cn_queue_result(L->q, r, now);
        if (rc == 1 && holder) cn_worker_drop(holder, r->job_id);
        if (rc < 0) L->stale_results++;
        canopy__result_ack__init(&a[i]);
        a[i].job_id = r->job_id;
        a[i].lease_seq = r->lease_seq;
        a[i].accepted = rc >= 0;
        acks->ack[i] = &a[i];
    }
    acks->n_ack = rs->n_result;
}

void cn_leases_acks_free(Canopy__ResultAcks *acks) {
    if (acks->n_ack) free(acks->ack[0]); /* the array of all acks */
    free(acks->ack);
}

void cn_leases_bye(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Bye *b, uint64_t now) {
    cn_worker_t *w = sender(L, b->name, peer);
    if (!w) return;
    char *why = cn_xasprintf("worker %s left (Bye) while running it", w->name);
    lose_all(L, w, why, now);
    free(why);
    w->connected = false;
    w->alive = false;
    CN_INFO("worker %s said Bye", w->name);
}

static void fill_lease(Canopy__Lease *l, const cn_qjob_t *j) {
    const Canopy__Job *r = j->rec;
    canopy__lease__init(l);
    l->job_id = r->id;
    l->attempt = r->attempts;
    l->lease_seq = r->lease_seq;
    l->kind = r->spec->kind;
    l->spec = r->spec->spec;
    l->timeout_ms = r->spec->timeout_ms;
    l->key_id = r->key_id;
    l->serial_key = r->spec->serial_key;
}

static void dispatch_one(cn_leases_t *L, cn_worker_t *w, uint64_t now, cn_leases_send_fn send, void *arg) {
    size_t held = cn_worker_nleases(w);
    if (!w->connected || held >= w->slots) return;
    size_t credit = w->slots - held, n = 0;
    Canopy__Lease *ls = cn_xcalloc(credit, sizeof *ls);
    Canopy__Lease **lp = cn_xcalloc(credit, sizeof *lp);
    while (n < credit) {
        cn_qjob_t *j = cn_queue_lease_next(L->q, w->kinds, w->nkinds, w->name, now);
        if (!j) break;
        cn_worker_hold(w, j->id);
        fill_lease(&ls[n], j);
        lp[n] = &ls[n];
        n++;
    }
    if (n) {
        Canopy__Leases msg = CANOPY__LEASES__INIT;
        msg.lease = lp;
        msg.n_lease = n;
        send(arg, w, &msg);
    }
    free(lp);
    free(ls);
}

void cn_leases_dispatch(cn_leases_t *L, uint64_t now, cn_leases_send_fn send, void *arg) {
    size_t nw = cn_workers_count(L->ws);
    if (!nw || cn_queue_ready(L->q) == 0) return;
    L->rr++;
    for (size_t k = 0; k < nw && cn_queue_ready(L->q) > 0; k++)
        dispatch_one(L, cn_workers_at(L->ws, (L->rr + k) % nw), now, send, arg);
}

static void sweep_timeouts(cn_leases_t *L, cn_worker_t *w, uint64_t now) {
    size_t n;
    uint64_t *ids = cn_worker_lease_ids(w, &n);
    for (size_t i = 0; i < n; i++) {
        cn_qjob_t *j = cn_queue_find(L->q, ids[i]);
        if (!j || j->place != CN_QP_LEASED || !j->rec->deadline_ms || now <= j->rec->deadline_ms) continue;
        char *why = cn_xasprintf("timed out: no result from worker %s within %llu ms", w->name,
                                 (unsigned long long)j->rec->spec->timeout_ms);
        cn_worker_add_stale(w, j->id, j->rec->lease_seq);
        lose_lease(L, w, j->id, CN_QEND_ERROR, CN_ETIMEOUT, why, now);
        free(why);
    }
    free(ids);
}

void cn_leases_sweep(cn_leases_t *L, uint64_t now) {
    uint64_t dead_ms = (uint64_t)L->hb_ms * L->dead_after;
    for (size_t i = 0; i < cn_workers_count(L->ws); i++) {
        cn_worker_t *w = cn_workers_at(L->ws, i);
        bool watching = w->connected || cn_worker_nleases(w) > 0;
        if (watching && w->alive && now > w->last_seen_ms + dead_ms) {
            CN_WARN("worker %s missed %u heartbeats: %zu leases re-queued", w->name, L->dead_after,
                    cn_worker_nleases(w));
            char *why = cn_xasprintf("worker %s stopped heartbeating while running it", w->name);
            lose_all(L, w, why, now);
            free(why);
            w->connected = false;
            w->alive = false;
            continue;
        }
        if (cn_worker_nleases(w)) sweep_timeouts(L, w, now);
    }
}
