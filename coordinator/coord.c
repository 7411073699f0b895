/* coord.c: the coordinator loop. Each wake-up: receive at most MAX_PER_TURN
   messages and dispatch them by envelope body through one table, run timers
   (backoff, dead workers, timeouts), hand out leases, write every change of the
   turn in one synced batch (group commit), then send the replies, leases and
   acks queued in the outbox and publish the turn's events. Single-threaded. */
#include "coord.h"

#include "errors.h"
#include "json.h"
#include "leases.h"
#include "log.h"
#include "net.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "workers.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PER_TURN 512
#define SWEEP_MS 100

typedef struct {
    cn_peer_t peer;
    size_t off, len;
} out_item_t;

/* Packed replies and events waiting for the commit of their loop turn. */
typedef struct {
    cn_buf_t data;
    out_item_t *items;
    size_t n, cap;
    cn_buf_t events; /* packed Event envelopes, each prefixed by its be32 length */
} outbox_t;

struct cn_coord {
    cn_coord_opts_t o;
    char *data_dir, *endpoint, *pub_ep, *endpoints_file;
    cn_sock_t *router, *pub;
    cn_queue_t *q;
    cn_workers_t *ws;
    cn_leases_t leases;
    cn_status_t *status;
    outbox_t out[2]; /* out[cur]: this turn's; the other waits for the batch in flight */
    int cur;
    uint64_t rejected; /* well-formed messages a peer may not send */
    uint64_t start_ms, next_sweep;
    uint64_t messages, commits; /* for the log line at exit */
    int subscriptions;          /* distinct topics subscribed on the event socket */
    cn_buf_t frame;
    bool wrote_endpoints;
};

/* ---- outbox ---- */

static void out_env(cn_coord_t *c, const cn_peer_t *to, uint64_t req_id, Canopy__Envelope *env) {
    outbox_t *o = &c->out[c->cur];
    env->req_id = req_id;
    size_t off = o->data.len;
    int rc = cn_wire_pack(env, &o->data);
    if (rc) {
        CN_WARN("reply dropped: %s", cn_err_detail());
        return;
    }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->items = cn_xrealloc(o->items, o->cap * sizeof *o->items);
    }
    out_item_t *it = &o->items[o->n++];
    it->peer.len = to->len;
    memcpy(it->peer.id, to->id, to->len);
    it->off = off;
    it->len = o->data.len - off;
}

static void out_error(cn_coord_t *c, const cn_peer_t *to, uint64_t req_id, int code, const char *msg) {
    Canopy__Error e = CANOPY__ERROR__INIT;
    e.code = code;
    e.message = (char *)msg;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_ERROR;
    env.error = &e;
    out_env(c, to, req_id, &env);
}

static void out_flush(cn_coord_t *c, outbox_t *o) {
    for (size_t i = 0; i < o->n; i++) {
        out_item_t *it = &o->items[i];
        int rc = cn_sock_send_raw(c->router, &it->peer, o->data.data + it->off, it->len, false);
        /* NEEDSWORK: a Leases message dropped at a full queue stays leased until
           the worker's next Hello or its death; a retry queue would be better. */
        if (rc == CN_EAGAIN)
            CN_WARN("a peer's queue is full; a message to it was dropped");
        else if (rc && rc != CN_EUNREACHABLE)
            CN_WARN("send failed: %s", cn_err_detail());
    }
    o->n = 0;
    cn_buf_reset(&o->data);
    if (o->data.cap > (16u << 20)) cn_buf_free(&o->data);
    const uint8_t *p = o->events.data, *end = p + o->events.len;
    while (p < end) {
        uint32_t n = cn_get_be32(p);
        cn_sock_send_raw(c->pub, NULL, p + 4, n, false);
        p += 4 + n;
    }
    cn_buf_reset(&o->events);
    if (o->events.cap > (16u << 20)) cn_buf_free(&o->events);
}

static void publish(cn_coord_t *c, Canopy__Event *ev) {
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_EVENT;
    env.event = ev;
    cn_buf_t *b = &c->out[c->cur].events;
    size_t at = b->len;
    cn_buf_put_be32(b, 0);
    if (cn_wire_pack(&env, b) != 0) {
        b->len = at;
        return;
    }
    cn_put_be32(b->data + at, (uint32_t)(b->len - at - 4));
}

/* Subscriptions to the event socket: an event nobody subscribed to is not built. */
static void read_subscriptions(cn_coord_t *c) {
    while (cn_sock_recv_frame(c->pub, &c->frame, 0) == 0) {
        if (c->frame.len < 1) continue;
        if (c->frame.data[0] == 1)
            c->subscriptions++;
        else if (c->frame.data[0] == 0 && c->subscriptions > 0)
            c->subscriptions--;
    }
}

static void on_job_event(void *arg, const cn_qjob_t *j) {
    cn_coord_t *c = arg;
    if (c->subscriptions == 0) return;
    const Canopy__Job *r = j->rec;
    Canopy__Event ev = CANOPY__EVENT__INIT;
    ev.job_id = r->id;
    ev.kind = r->spec->kind;
    ev.state = r->state;
    ev.attempt = r->attempts;
    ev.worker = r->worker;
    ev.at_ms = cn_wall_ms();
    ev.error = r->error;
    ev.progress_done = r->progress_done;
    ev.progress_total = r->progress_total;
    ev.progress_bytes_done = r->progress_bytes_done;
    ev.progress_bytes_total = r->progress_bytes_total;
    publish(c, &ev);
}

/* ---- worker messages ---- */

static void on_hello(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    const Canopy__Hello *h = env->hello;
    if (!h->name || !h->name[0] || strlen(h->name) > 200) {
        c->rejected++;
        out_error(c, from, env->req_id, CN_EINVAL, "Hello needs a worker name of 1 to 200 bytes");
        return;
    }
    cn_leases_hello(&c->leases, from, h, cn_wall_ms());
    Canopy__Welcome w = CANOPY__WELCOME__INIT;
    w.heartbeat_ms = c->o.heartbeat_ms;
    w.dead_after = c->o.dead_after;
    w.coordinator_start_ms = c->start_ms;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_WELCOME;
    out.welcome = &w;
    out_env(c, from, env->req_id, &out);
}

static void on_heartbeat(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    const Canopy__Heartbeat *hb = env->heartbeat;
    Canopy__HeartbeatReply r = CANOPY__HEARTBEAT_REPLY__INIT;
    cn_leases_heartbeat(&c->leases, from, hb, cn_wall_ms(), &r);
    if (!r.unknown) {
        /* Progress events, at most one per job per heartbeat. */
        for (size_t i = 0; i < hb->n_progress; i++) {
            cn_qjob_t *j = cn_queue_find(c->q, hb->progress[i]->job_id);
            if (j && j->place == CN_QP_LEASED && j->rec->lease_seq == hb->progress[i]->lease_seq)
                on_job_event(c, j);
        }
    }
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY;
    out.heartbeat_reply = &r;
    out_env(c, from, env->req_id, &out);
    cn_leases_reply_free(&r);
}

static void on_results(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    Canopy__ResultAcks acks = CANOPY__RESULT_ACKS__INIT;
    cn_leases_results(&c->leases, from, env->results, cn_wall_ms(), &acks);
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_RESULT_ACKS;
    out.result_acks = &acks;
    out_env(c, from, env->req_id, &out);
    cn_leases_acks_free(&acks);
}

static void on_bye(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    cn_leases_bye(&c->leases, from, env->bye, cn_wall_ms());
}

static void send_leases(void *arg, cn_worker_t *w, const Canopy__Leases *msg) {
    cn_coord_t *c = arg;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_LEASES;
    out.leases = (Canopy__Leases *)msg;
    out_env(c, &w->peer, 0, &out);
}

/* ---- client messages ---- */

static void on_submit(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    Canopy__Submit *s = env->submit;
    for (size_t i = 0; i < s->n_job; i++) {
        int rc = cn_queue_check(c->q, s->job[i]);
        if (rc) {
            char *msg = cn_xasprintf("job %zu of the batch: %s", i + 1, cn_err_detail());
            out_error(c, from, env->req_id, rc, msg);
            free(msg);
            return;
        }
    }
    Canopy__SubmitReply r = CANOPY__SUBMIT_REPLY__INIT;
    r.id = cn_xcalloc(s->n_job + 1, sizeof *r.id);
    r.existing = cn_xcalloc(s->n_job + 1, sizeof *r.existing);
    uint64_t now = cn_wall_ms();
    for (size_t i = 0; i < s->n_job; i++) {
        /* The queue takes the spec; the envelope frees the rest (NULL entries are skipped). */
        bool existing = false;
        int rc = cn_queue_submit(c->q, &s->job[i], now, &r.id[i], &existing);
        if (rc) {
            out_error(c, from, env->req_id, rc, cn_err_detail());
            goto done;
        }
        r.existing[i] = existing;
    }
    r.n_id = r.n_existing = s->n_job;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_SUBMIT_REPLY;
    out.submit_reply = &r;
    out_env(c, from, env->req_id, &out);
done:
    free(r.id);
    free(r.existing);
}

/* Tells a running job's worker at once (a HeartbeatReply it did not ask for;
   the next one repeats it), so a cancel does not wait for the next heartbeat. */
static void push_cancel(cn_coord_t *c, uint64_t job_id) {
    cn_qjob_t *j = cn_queue_find(c->q, job_id);
    if (!j || j->place != CN_QP_LEASED || !j->rec->cancel_requested || !j->rec->worker) return;
    cn_worker_t *w = cn_workers_find(c->ws, j->rec->worker);
    if (!w || !w->connected) return;
    Canopy__LeaseRef ref = CANOPY__LEASE_REF__INIT, *rp = &ref;
    ref.job_id = j->id;
    ref.lease_seq = j->rec->lease_seq;
    Canopy__HeartbeatReply r = CANOPY__HEARTBEAT_REPLY__INIT;
    r.cancel = &rp;
    r.n_cancel = 1;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY;
    out.heartbeat_reply = &r;
    out_env(c, &w->peer, 0, &out);
}

static void on_control(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    const Canopy__Control *ctl = env->control;
    uint64_t now = cn_wall_ms();
    int rc;
    if (ctl->op == CANOPY__CONTROL_OP__CANCEL) {
        rc = cn_queue_cancel(c->q, ctl->job_id, now);
        if (rc == 0) push_cancel(c, ctl->job_id);
    } else if (ctl->op == CANOPY__CONTROL_OP__RETRY)
        rc = cn_queue_retry(c->q, ctl->job_id, now);
    else
        rc = cn_err(CN_EINVAL, "unknown control operation %d", (int)ctl->op);
    Canopy__Job *job = NULL;
    bool owned = false;
    if (rc == 0) rc = cn_queue_lookup(c->q, ctl->job_id, &job, &owned);
    if (rc) {
        out_error(c, from, env->req_id, rc, cn_err_detail());
        return;
    }
    Canopy__ControlReply r = CANOPY__CONTROL_REPLY__INIT;
    r.job = job;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_CONTROL_REPLY;
    out.control_reply = &r;
    out_env(c, from, env->req_id, &out);
    if (owned) cn_rec_free(&job->base);
}

static void on_status(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    uint64_t now = cn_wall_ms();
    cn_status_src_t src = {c->q, c->ws, &c->leases, cn_sock_bad_count(c->router) + c->rejected, c->start_ms};
    Canopy__StatusReply r = CANOPY__STATUS_REPLY__INIT;
    cn_status_build(c->status, &src, now, &r);
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_STATUS_REPLY;
    out.status_reply = &r;
    out_env(c, from, env->req_id, &out);
    cn_status_reply_free(&r);
}

static void on_jobs(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    Canopy__JobsReply r = CANOPY__JOBS_REPLY__INIT;
    int rc = cn_status_jobs(c->q, env->jobs, &r);
    if (rc) {
        out_error(c, from, env->req_id, rc, cn_err_detail());
    } else {
        Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
        out.body_case = CANOPY__ENVELOPE__BODY_JOBS_REPLY;
        out.jobs_reply = &r;
        out_env(c, from, env->req_id, &out);
    }
    cn_status_jobs_free(c->q, &r);
}

static void on_job_info(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    Canopy__JobInfoReply r = CANOPY__JOB_INFO_REPLY__INIT;
    bool *owned;
    cn_status_info(c->q, env->job_info, &r, &owned);
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_JOB_INFO_REPLY;
    out.job_info_reply = &r;
    out_env(c, from, env->req_id, &out);
    cn_status_info_free(&r, owned);
}

static void on_key(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    const Canopy__KeyRequest *k = env->key;
    uint64_t id = 0;
    int rc = !k->key || !k->key[0] ? cn_err(CN_EINVAL, "an empty key has no id")
                                   : cn_queue_key(c->q, k->key, k->create, &id);
    if (rc) {
        out_error(c, from, env->req_id, rc, cn_err_detail());
        return;
    }
    Canopy__KeyReply r = CANOPY__KEY_REPLY__INIT;
    r.id = id;
    r.key = k->key;
    Canopy__Envelope out = CANOPY__ENVELOPE__INIT;
    out.body_case = CANOPY__ENVELOPE__BODY_KEY_REPLY;
    out.key_reply = &r;
    out_env(c, from, env->req_id, &out);
}

/* Messages only the coordinator sends: a peer that sends one is confused. */
static void on_reject(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    c->rejected++;
    char *msg = cn_xasprintf("the coordinator does not accept %s messages", cn_wire_body_name(env));
    out_error(c, from, env->req_id, CN_EPROTO, msg);
    free(msg);
}

typedef void (*handler_fn)(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env);

static const handler_fn handlers[] = {
    [CANOPY__ENVELOPE__BODY_HELLO] = on_hello,       [CANOPY__ENVELOPE__BODY_HEARTBEAT] = on_heartbeat,
    [CANOPY__ENVELOPE__BODY_RESULTS] = on_results,   [CANOPY__ENVELOPE__BODY_BYE] = on_bye,
    [CANOPY__ENVELOPE__BODY_SUBMIT] = on_submit,     [CANOPY__ENVELOPE__BODY_CONTROL] = on_control,
    [CANOPY__ENVELOPE__BODY_STATUS] = on_status,     [CANOPY__ENVELOPE__BODY_JOBS] = on_jobs,
    [CANOPY__ENVELOPE__BODY_JOB_INFO] = on_job_info, [CANOPY__ENVELOPE__BODY_KEY] = on_key,
};

static void dispatch(cn_coord_t *c, const cn_peer_t *from, Canopy__Envelope *env) {
    size_t k = (size_t)env->body_case;
    handler_fn h = k < CN_ARRAY_LEN(handlers) ? handlers[k] : NULL;
    (h ? h : on_reject)(c, from, env);
}

/* ---- setup and loop ---- */

static int write_endpoints(cn_coord_t *c) {
    cn_buf_t b = {0};
    cn_buf_printf(&b, "{");
    cn_json_key(&b, "router", true);
    cn_json_str(&b, c->endpoint, strlen(c->endpoint));
    cn_json_key(&b, "pub", false);
    cn_json_str(&b, c->pub_ep, strlen(c->pub_ep));
    cn_json_key(&b, "pid", false);
    cn_buf_printf(&b, "%ld}\n", (long)getpid());
    int rc = cn_write_file_atomic(c->endpoints_file, b.data, b.len);
    cn_buf_free(&b);
    c->wrote_endpoints = rc == 0;
    return rc;
}

/* Over tcp://, the ROUTER is a CurveZMQ server when <data>/keys/coordinator.secret
   exists; clients and workers must then hold a key listed in keys/allowed/
   (every key when that folder is empty or missing). Returns the secret or NULL. */
static char *curve_setup(cn_coord_t *c) {
    if (strncmp(c->endpoint, "tcp://", 6) != 0) return NULL;
    char *secret = cn_curve_data_key(c->data_dir, "coordinator", "secret");
    if (!secret) {
        CN_WARN("%s without CurveZMQ: %s/keys/ has no coordinator.secret (canopy keygen --name coordinator)",
                c->endpoint, c->data_dir);
        return NULL;
    }
    char *dir = cn_xasprintf("%s/keys/allowed", c->data_dir);
    char **allowed = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 7, ".public") != 0) continue;
        char *path = cn_path_join(dir, e->d_name);
        char *key = cn_curve_read_key(path);
        free(path);
        if (!key) continue;
        allowed = cn_xrealloc(allowed, (n + 1) * sizeof *allowed);
        allowed[n++] = key;
    }
    if (d) closedir(d);
    cn_zap_start((const char *const *)allowed, n);
    if (n)
        CN_INFO("CurveZMQ on %s: %zu allowed keys from %s", c->endpoint, n, dir);
    else
        CN_WARN("CurveZMQ on %s: %s lists no keys, so every client key is allowed", c->endpoint, dir);
    for (size_t i = 0; i < n; i++) free(allowed[i]);
    free(allowed);
    free(dir);
    return secret;
}

static int open_sockets(cn_coord_t *c) {
    char *secret = curve_setup(c);
    cn_sock_opts_t o = {.curve_server = secret != NULL, .curve_secret = secret};
    int rc = cn_sock_new(CN_SOCK_ROUTER, &o, &c->router);
    free(secret);
    if (rc) return rc;
    rc = cn_sock_bind(c->router, c->endpoint);
    if (rc) return rc;
    rc = cn_sock_new(CN_SOCK_XPUB, NULL, &c->pub);
    if (rc) return rc;
    return cn_sock_bind(c->pub, c->pub_ep);
}

int cn_coord_new(const cn_coord_opts_t *opts, cn_coord_t **out) {
    cn_coord_t *c = cn_xcalloc(1, sizeof *c);
    c->o = *opts;
    if (!c->o.heartbeat_ms) c->o.heartbeat_ms = 1000;
    if (!c->o.dead_after) c->o.dead_after = 3;
    c->data_dir = cn_xstrdup(opts->data_dir);
    c->endpoint =
        opts->endpoint ? cn_xstrdup(opts->endpoint) : cn_xasprintf("ipc://%s/coordinator.sock", c->data_dir);
    c->pub_ep = opts->pub ? cn_xstrdup(opts->pub) : cn_xasprintf("ipc://%s/events.sock", c->data_dir);
    c->endpoints_file = cn_path_join(c->data_dir, "coordinator.endpoints");
    c->start_ms = cn_wall_ms();
    char *store = cn_path_join(c->data_dir, "coordinator");
    int rc = cn_mkdir_p(store);
    cn_queue_opts_t qo = {.max_attempts = c->o.max_attempts,
                          .backoff_ms = c->o.backoff_ms,
                          .grace_ms = 2ull * c->o.heartbeat_ms};
    if (rc == 0) rc = cn_queue_open(store, &qo, c->start_ms, &c->q);
    free(store);
    if (rc) goto fail;
    c->ws = cn_workers_new();
    c->leases =
        (cn_leases_t){.q = c->q, .ws = c->ws, .hb_ms = c->o.heartbeat_ms, .dead_after = c->o.dead_after};
    cn_leases_adopt_stored(&c->leases, c->start_ms);
    cn_queue_set_event_cb(c->q, on_job_event, c);
    c->status = cn_status_new(c->start_ms);
    rc = open_sockets(c);
    if (rc == 0) rc = write_endpoints(c);
    if (rc) goto fail;
    CN_INFO("coordinator on %s (events %s): %zu active jobs, %llu submitted so far", c->endpoint, c->pub_ep,
            cn_queue_active(c->q), (unsigned long long)cn_queue_submitted_total(c->q));
    *out = c;
    return 0;
fail:
    cn_coord_destroy(&c);
    return rc;
}

static int poll_timeout(cn_coord_t *c, uint64_t now) {
    if (cn_queue_has_staged(c->q) || c->out[c->cur].n) return 0;
    uint64_t next = c->next_sweep;
    uint64_t t = cn_queue_tick(c->q, now);
    if (t < next) next = t;
    if (next <= now) return 0;
    return (int)CN_MIN(next - now, (uint64_t)250);
}

/* Waits for the batch in flight, then sends what waited for it. */
static int finish_flight(cn_coord_t *c) {
    if (!cn_queue_flying(c->q)) return 0;
    int rc = cn_queue_commit_wait(c->q);
    if (rc) {
        CN_ERROR(
            "cannot write the job store (%s): stopping so that nothing is acknowledged that is not durable",
            cn_err_detail());
        return rc;
    }
    out_flush(c, &c->out[c->cur ^ 1]);
    return 0;
}

/* One wake-up: messages, timers, dispatch, then the group commit. The commit of
   turn N is written by the queue's writer thread while turn N+1 is handled;
   turn N's replies, leases and events are sent once it is durable. */
static void receive(cn_coord_t *c) {
    for (int n = 0; n < MAX_PER_TURN; n++) {
        cn_peer_t from;
        Canopy__Envelope *env;
        int rc = cn_sock_recv(c->router, &from, &env, 0);
        if (rc == CN_EAGAIN) break;
        c->messages++;
        if (rc) {
            CN_DEBUG("bad frame dropped: %s", cn_err_detail());
            continue;
        }
        dispatch(c, &from, env);
        cn_wire_free(env);
    }
}

static int turn(cn_coord_t *c) {
    receive(c);
    if (cn_queue_flying(c->q)) {
        int rc = finish_flight(c);
        if (rc) return rc;
        receive(c); /* what arrived during the write joins this turn's batch */
    }
    uint64_t now = cn_wall_ms();
    cn_queue_tick(c->q, now);
    if (now >= c->next_sweep) {
        cn_leases_sweep(&c->leases, now);
        c->next_sweep = now + SWEEP_MS;
    }
    cn_leases_dispatch(&c->leases, now, send_leases, c);
    if (cn_queue_has_staged(c->q)) {
        c->commits++;
        cn_queue_commit_start(c->q);
        c->cur ^= 1; /* this turn's outbox now waits for its batch */
    } else {
        out_flush(c, &c->out[c->cur]);
    }
    cn_status_tick(c->status, now, cn_queue_succeeded_total(c->q));
    return 0;
}

int cn_coord_run(cn_coord_t *c, volatile sig_atomic_t *stop) {
    int rc = 0;
    while (!*stop && rc == 0) {
        cn_sock_t *socks[2] = {c->router, c->pub};
        bool ready[2] = {false, false};
        if (cn_queue_flying(c->q)) {
            /* Handle what has arrived meanwhile; with nothing to do, finish the write. */
            if (cn_poll(socks, ready, 2, 0) <= 0) {
                rc = finish_flight(c);
                continue;
            }
        } else if (cn_poll(socks, ready, 2, poll_timeout(c, cn_wall_ms())) < 0 && *stop) {
            break;
        }
        if (ready[1]) read_subscriptions(c);
        rc = turn(c);
    }
    if (rc == 0) rc = finish_flight(c);
    if (rc) return rc;
    CN_INFO("stopping: %zu active jobs are kept in the store (%llu messages in %llu group commits)",
            cn_queue_active(c->q), (unsigned long long)c->messages, (unsigned long long)c->commits);
    return 0;
}

void cn_coord_destroy(cn_coord_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_coord_t *c = *self_p;
    if (c->q && cn_queue_commit_wait(c->q) == 0 && c->router) out_flush(c, &c->out[c->cur ^ 1]);
    if (c->q && cn_queue_commit(c->q) == 0 && c->router) out_flush(c, &c->out[c->cur]);
    cn_sock_destroy(&c->router);
    cn_sock_destroy(&c->pub);
    if (c->wrote_endpoints) unlink(c->endpoints_file);
    cn_queue_close(&c->q);
    cn_workers_destroy(&c->ws);
    cn_status_destroy(&c->status);
    for (int i = 0; i < 2; i++) {
        cn_buf_free(&c->out[i].data);
        free(c->out[i].items);
        cn_buf_free(&c->out[i].events);
    }
    cn_buf_free(&c->frame);
    free(c->data_dir);
    free(c->endpoint);
    free(c->pub_ep);
    free(c->endpoints_file);
    free(c);
    *self_p = NULL;
}
