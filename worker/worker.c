/* worker.c: the worker loop (see worker.h). One thread; the slot threads of the
   runner wake it through an inproc socket when jobs finish.

   state        sends                        accepts
   CONNECTING   Hello (retried with backoff)  Welcome -> READY (then resend unacked
                                              results); ResultAcks, Leases
   READY        Heartbeat every hb ms,        HeartbeatReply (unknown -> Hello,
                Results after group commit,   CONNECTING), Leases, ResultAcks,
                Hello{slots=0} when stopping, Welcome
                Bye at the end
   Any state: silent coordinator for dead_after heartbeats -> new socket, Hello.
   Anything else is counted and dropped. */
#include "worker.h"

#include "errors.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "runner.h"
#include "util.h"
#include "wproto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MSGS_PER_TURN 128
#define BACKOFF_CAP_MS 5000u
#define RESULTS_PER_MSG 1000u
/* A shard idle this long after its last result has its memtables written out
   (cn_shard_flush_start): a query opening it then replays no log, which after a
   download took it most of a second. */
#define IDLE_FLUSH_MS 500u

enum state { CONNECTING, READY };

typedef struct {
    const cn_worker_opts_t *o;
    char *endpoint;
    cn_sock_t *sock;
    cn_sock_t *wake_rx, *wake_tx;
    pthread_mutex_t wake_mu;
    cn_buf_t wake_msg;
    cn_runner_t *runner;
    enum state state;
    unsigned hb_ms, dead_after;
    uint64_t now, last_heard, next_hb, next_hello, backoff_ms;
    bool draining, jobs_stopped, done;
    unsigned hello_slots; /* slots in the last Hello sent */
    uint64_t grace_deadline, ack_deadline;
    uint64_t flush_at; /* when to flush the shard if still idle (0: nothing new) */
    cn_job_result_t *unacked;
    size_t n_unacked, cap_unacked;
    uint64_t dropped, rejected, results_sent, leases_got;
} worker_t;

/* ---- sending ---- */

static void send_env(worker_t *w, Canopy__Envelope *env) {
    int rc = cn_sock_send(w->sock, NULL, env, false);
    if (rc) CN_WARN("cannot send %s to the coordinator: %s", cn_wire_body_name(env), cn_err_detail());
}

static void send_hello(worker_t *w) {
    unsigned slots = w->draining ? 0 : w->o->slots;
    w->hello_slots = slots;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Hello hello = CANOPY__HELLO__INIT;
    cn_wp_hello_fill(&hello, w->o->name, slots, w->runner, w->unacked, w->n_unacked);
    env.body_case = CANOPY__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    send_env(w, &env);
    cn_wp_hello_clear(&hello);
}

static void send_heartbeat(worker_t *w) {
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Heartbeat hb = CANOPY__HEARTBEAT__INIT;
    size_t inflight = cn_runner_inflight(w->runner);
    hb.name = (char *)w->o->name;
    hb.free_slots = w->draining || inflight >= w->o->slots ? 0 : (uint32_t)(w->o->slots - inflight);
    cn_wp_progress_fill(&hb, w->runner);
    env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    send_env(w, &env);
    cn_wp_progress_clear(&hb);
}

/* Sends results[0..n) in Results messages of at most RESULTS_PER_MSG. */
static void send_results(worker_t *w, const cn_job_result_t *res, size_t n) {
    for (size_t off = 0; off < n; off += RESULTS_PER_MSG) {
        size_t k = CN_MIN(n - off, RESULTS_PER_MSG);
        Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
        Canopy__Results rs = CANOPY__RESULTS__INIT;
        cn_wp_results_fill(&rs, w->o->name, res + off, k);
        env.body_case = CANOPY__ENVELOPE__BODY_RESULTS;
        env.results = &rs;
        send_env(w, &env);
        cn_wp_results_clear(&rs);
        w->results_sent += k;
    }
}

/* Keeps res (taking its strings) until the coordinator acknowledges it. */
static void keep_unacked(worker_t *w, cn_job_result_t *res) {
    if (w->n_unacked == w->cap_unacked) {
        w->cap_unacked = w->cap_unacked ? w->cap_unacked * 2 : 64;
        w->unacked = cn_xrealloc(w->unacked, w->cap_unacked * sizeof *w->unacked);
    }
    w->unacked[w->n_unacked++] = *res;
    memset(res, 0, sizeof *res);
}

/* ---- connection ---- */

static void reread_endpoint(worker_t *w) {
    if (!w->o->endpoints_file) return;
    char *ep = cn_wp_read_router(w->o->endpoints_file);
    if (ep && strcmp(ep, w->endpoint) != 0) {
        CN_INFO("coordinator endpoint is now %s (from %s)", ep, w->o->endpoints_file);
        free(w->endpoint);
        w->endpoint = ep;
        ep = NULL;
    }
    free(ep);
}

/* Drops the old socket, connects a new one and says Hello. */
static int reconnect(worker_t *w) {
    cn_sock_destroy(&w->sock);
    reread_endpoint(w);
    cn_sock_opts_t so = {.identity = w->o->name,
                         .curve_server_key = w->o->curve_server_key,
                         .curve_public = w->o->curve_public,
                         .curve_secret = w->o->curve_secret};
    int rc = cn_sock_new(CN_SOCK_DEALER, &so, &w->sock);
    if (rc == 0) rc = cn_sock_connect(w->sock, w->endpoint);
    if (rc) return rc;
    w->state = CONNECTING;
    send_hello(w);
    /* Jitter of +-20% so that many workers do not come back in lock step. */
    uint64_t jitter = w->backoff_ms / 5;
    uint64_t wait = w->backoff_ms - jitter + (jitter ? (uint64_t)rand() % (2 * jitter + 1) : 0);
    w->next_hello = w->now + wait;
    w->backoff_ms = CN_MIN(w->backoff_ms * 2, BACKOFF_CAP_MS);
    w->last_heard = w->now;
    return 0;
}

/* ---- handlers, one per accepted body ---- */

static void on_welcome(worker_t *w, const Canopy__Envelope *env) {
    const Canopy__Welcome *wl = env->welcome;
    if (!w->o->heartbeat_ms && wl->heartbeat_ms) w->hb_ms = CN_MAX(wl->heartbeat_ms, 10u);
    if (wl->dead_after) w->dead_after = wl->dead_after;
    if (w->state != READY)
        CN_INFO("registered with the coordinator at %s (heartbeat %u ms, dead after %u)", w->endpoint,
                w->hb_ms, w->dead_after);
    w->state = READY;
    w->backoff_ms = (uint64_t)w->hb_ms * w->dead_after;
    w->next_hb = w->now + w->hb_ms;
    /* Stopping began while a Hello with slots was on its way: take them back. */
    if (w->draining && w->hello_slots) send_hello(w);
    /* Whatever was not acknowledged may have been lost with the old connection;
       the coordinator acks a repeated result again without counting it twice. */
    send_results(w, w->unacked, w->n_unacked);
}

static void on_heartbeat_reply(worker_t *w, const Canopy__Envelope *env) {
    const Canopy__HeartbeatReply *r = env->heartbeat_reply;
    for (size_t i = 0; i < r->n_cancel; i++)
        if (cn_runner_stop(w->runner, r->cancel[i]->job_id, r->cancel[i]->lease_seq, CN_STOP_CANCEL))
            CN_INFO("job %llu: cancelling", (unsigned long long)r->cancel[i]->job_id);
    for (size_t i = 0; i < r->n_stale; i++)
        if (cn_runner_stop(w->runner, r->stale[i]->job_id, r->stale[i]->lease_seq, CN_STOP_STALE))
            CN_WARN("job %llu: lease %llu was taken away; stopping it without a commit",
                    (unsigned long long)r->stale[i]->job_id, (unsigned long long)r->stale[i]->lease_seq);
    if (r->unknown) {
        CN_INFO("the coordinator does not know this worker; saying Hello again");
        w->state = CONNECTING;
        send_hello(w);
        w->next_hello = w->now + w->backoff_ms;
    }
}

static void on_leases(worker_t *w, const Canopy__Envelope *env) {
    const Canopy__Leases *ls = env->leases;
    w->leases_got += ls->n_lease;
    if (!w->draining) {
        cn_runner_submit(w->runner, ls->lease, ls->n_lease);
        return;
    }
    /* Stopping: hand them straight back, not run and not counted as attempts. */
    size_t first = w->n_unacked;
    for (size_t i = 0; i < ls->n_lease; i++) {
        cn_job_result_t res = {.job_id = ls->lease[i]->job_id,
                               .lease_seq = ls->lease[i]->lease_seq,
                               .attempt = ls->lease[i]->attempt,
                               .outcome = CANOPY__OUTCOME__RELEASED,
                               .error_code = CN_ECANCELLED,
                               .error = cn_xasprintf("released: worker %s is shutting down", w->o->name)};
        keep_unacked(w, &res);
    }
    send_results(w, w->unacked + first, w->n_unacked - first);
}

/* Acks come in the order the results were sent and unacked is kept in that
   order, so each lookup starts where the previous one matched: a batch of acks
   costs one pass, not one scan per ack. */
static void on_result_acks(worker_t *w, const Canopy__Envelope *env) {
    const Canopy__ResultAcks *a = env->result_acks;
    size_t hint = 0, acked = 0;
    for (size_t i = 0; i < a->n_ack && w->n_unacked; i++) {
        const Canopy__ResultAck *ack = a->ack[i];
        for (size_t k = 0; k < w->n_unacked; k++) {
            size_t j = (hint + k) % w->n_unacked;
            cn_job_result_t *u = &w->unacked[j];
            if (u->acked || u->job_id != ack->job_id || u->lease_seq != ack->lease_seq) continue;
            if (!ack->accepted) {
                w->rejected++;
                CN_WARN("job %llu: result for lease %llu rejected as stale", (unsigned long long)u->job_id,
                        (unsigned long long)u->lease_seq);
            }
            u->acked = true;
            acked++;
            hint = j + 1;
            break;
        }
    }
    if (!acked) return;
    size_t keep = 0;
    for (size_t j = 0; j < w->n_unacked; j++) {
        if (w->unacked[j].acked)
            cn_job_result_clear(&w->unacked[j]);
        else
            w->unacked[keep++] = w->unacked[j];
    }
    w->n_unacked = keep;
}

static void on_error(worker_t *w, const Canopy__Envelope *env) {
    (void)w;
    CN_WARN("coordinator error %d: %s", env->error->code, env->error->message ? env->error->message : "");
}

typedef void (*handler_fn)(worker_t *w, const Canopy__Envelope *env);
static const struct {
    Canopy__Envelope__BodyCase body;
    handler_fn fn;
} handlers[] = {
    {CANOPY__ENVELOPE__BODY_WELCOME, on_welcome},
    {CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY, on_heartbeat_reply},
    {CANOPY__ENVELOPE__BODY_LEASES, on_leases},
    {CANOPY__ENVELOPE__BODY_RESULT_ACKS, on_result_acks},
    {CANOPY__ENVELOPE__BODY_ERROR, on_error},
};

static void dispatch(worker_t *w, const Canopy__Envelope *env) {
    w->last_heard = w->now;
    CN_DEBUG("received %s", cn_wire_body_name(env));
    for (size_t i = 0; i < CN_ARRAY_LEN(handlers); i++) {
        if (handlers[i].body == env->body_case) {
            handlers[i].fn(w, env);
            return;
        }
    }
    w->dropped++;
    CN_DEBUG("dropped a %s message the worker does not accept", cn_wire_body_name(env));
}

/* ---- one loop turn ---- */

static void wake_notify(void *arg) {
    worker_t *w = arg;
    pthread_mutex_lock(&w->wake_mu);
    cn_sock_send_raw(w->wake_tx, NULL, w->wake_msg.data, w->wake_msg.len, false);
    pthread_mutex_unlock(&w->wake_mu);
}

static void receive(worker_t *w) {
    Canopy__Envelope *env;
    for (int i = 0; i < MAX_MSGS_PER_TURN; i++) {
        int rc = cn_sock_recv(w->sock, NULL, &env, 0);
        if (rc == CN_EAGAIN) break;
        if (rc) continue; /* malformed: counted by net.c and dropped */
        dispatch(w, env);
        cn_wire_free(env);
    }
    while (cn_sock_recv(w->wake_rx, NULL, &env, 0) == 0) cn_wire_free(env);
}

/* Group-commits what finished and sends the results in one message. */
static void collect(worker_t *w) {
    cn_job_result_t *res;
    size_t n;
    int rc = cn_runner_collect(w->runner, &res, &n);
    if (rc) CN_ERROR("the shard refused every commit of this turn: %s", cn_err_detail());
    if (n == 0) return;
    w->flush_at = w->now + IDLE_FLUSH_MS;
    size_t first = w->n_unacked;
    for (size_t i = 0; i < n; i++) {
        if (res[i].drop) {
            cn_job_result_clear(&res[i]);
            continue;
        }
        if (res[i].outcome != CANOPY__OUTCOME__OK)
            CN_INFO(
                "job %llu attempt %u: %s (%s)", (unsigned long long)res[i].job_id, res[i].attempt,
                protobuf_c_enum_descriptor_get_value(&canopy__outcome__descriptor, (int)res[i].outcome)->name,
                res[i].error ? res[i].error : "");
        keep_unacked(w, &res[i]);
    }
    free(res);
    if (w->state == READY) send_results(w, w->unacked + first, w->n_unacked - first);
}

static void flush_when_idle(worker_t *w) {
    if (!w->flush_at || w->now < w->flush_at) return;
    if (cn_runner_inflight(w->runner)) {
        w->flush_at = w->now + IDLE_FLUSH_MS; /* busy: RocksDB flushes as memtables fill */
        return;
    }
    w->flush_at = 0;
    if (cn_shard_flush_start(w->o->shard) < 0) CN_WARN("cannot flush the shard: %s", cn_err_detail());
}

static void timers(worker_t *w) {
    uint64_t silent_limit = (uint64_t)w->hb_ms * w->dead_after;
    flush_when_idle(w);
    if (w->state == READY && w->now >= w->next_hb) {
        send_heartbeat(w);
        w->next_hb = w->now + w->hb_ms;
    }
    if (w->state == READY && w->now - w->last_heard > silent_limit) {
        CN_WARN("no word from the coordinator for %llu ms; reconnecting",
                (unsigned long long)(w->now - w->last_heard));
        w->backoff_ms = silent_limit;
        reconnect(w);
    } else if (w->state == CONNECTING && w->now >= w->next_hello) {
        reconnect(w);
    }
}

/* The graceful stop: no new leases, grace for running jobs, then release them,
   wait (bounded) for the acks, say Bye. */
static void stopping(worker_t *w) {
    int sig = *w->o->stop;
    if (sig && !w->draining) {
        w->draining = true;
        w->grace_deadline = w->now + w->o->grace_ms;
        CN_INFO("stopping: %zu jobs in flight get %u ms to finish", cn_runner_inflight(w->runner),
                w->o->grace_ms);
        if (w->state == READY) send_hello(w); /* slots=0: no more leases */
    }
    if (!w->draining) return;
    if (!w->jobs_stopped && (w->now >= w->grace_deadline || sig >= 2)) {
        w->jobs_stopped = true;
        size_t n = cn_runner_inflight(w->runner);
        if (n) CN_INFO("grace period over: releasing %zu jobs", n);
        cn_runner_stop_all(w->runner, CN_STOP_SHUTDOWN);
    }
    if (cn_runner_inflight(w->runner)) return;
    if (w->n_unacked && !w->ack_deadline) w->ack_deadline = w->now + CN_MAX(2000u, 2 * w->hb_ms);
    if (w->n_unacked && w->now < w->ack_deadline) return;
    if (w->n_unacked)
        CN_WARN("%zu results were not acknowledged; the coordinator will re-lease them", w->n_unacked);
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Bye bye = CANOPY__BYE__INIT;
    bye.name = (char *)w->o->name;
    env.body_case = CANOPY__ENVELOPE__BODY_BYE;
    env.bye = &bye;
    send_env(w, &env);
    w->done = true;
}

static int poll_timeout(worker_t *w) {
    uint64_t next = w->now + 200; /* a backstop for signals */
    if (w->state == READY)
        next = CN_MIN(next, w->next_hb);
    else
        next = CN_MIN(next, w->next_hello);
    next = CN_MIN(next, w->last_heard + (uint64_t)w->hb_ms * w->dead_after + 1);
    if (w->draining && !w->jobs_stopped) next = CN_MIN(next, w->grace_deadline);
    if (w->ack_deadline) next = CN_MIN(next, w->ack_deadline);
    if (w->flush_at) next = CN_MIN(next, w->flush_at);
    return next > w->now ? (int)(next - w->now) : 0;
}

/* ---- set-up and the loop ---- */

static int setup(worker_t *w, const cn_worker_opts_t *o) {
    w->o = o;
    w->endpoint = cn_xstrdup(o->endpoint);
    w->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : 1000;
    w->dead_after = 3;
    w->now = cn_mono_ms();
    w->backoff_ms = (uint64_t)w->hb_ms * w->dead_after;
    srand((unsigned)getpid() ^ (unsigned)cn_mono_us()); /* reconnect jitter differs per worker */
    pthread_mutex_init(&w->wake_mu, NULL);
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Bye bye = CANOPY__BYE__INIT; /* any small valid envelope will do */
    env.body_case = CANOPY__ENVELOPE__BODY_BYE;
    env.bye = &bye;
    cn_wire_pack(&env, &w->wake_msg);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://worker-wake-%p", (void *)w);
    int rc = cn_sock_new(CN_SOCK_DEALER, NULL, &w->wake_rx);
    if (rc == 0) rc = cn_sock_bind(w->wake_rx, ep);
    if (rc == 0) rc = cn_sock_new(CN_SOCK_DEALER, NULL, &w->wake_tx);
    if (rc == 0) rc = cn_sock_connect(w->wake_tx, ep);
    if (rc) return rc;
    cn_runner_opts_t ro = {.shard = o->shard,
                           .worker = o->name,
                           .scratch_dir = o->scratch_dir,
                           .data_dir = o->data_dir,
                           .slots = o->slots,
                           .notify = wake_notify,
                           .notify_arg = w};
    return cn_runner_new(&ro, &w->runner);
}

static void teardown(worker_t *w) {
    cn_runner_stats_t st = {0};
    if (w->runner) cn_runner_stats(w->runner, &st);
    CN_INFO("stopped: %llu leases, %llu committed in %llu synced writes, %llu failed, %llu results sent, "
            "%llu rejected, %llu messages dropped",
            (unsigned long long)w->leases_got, (unsigned long long)st.committed,
            (unsigned long long)st.group_commits, (unsigned long long)st.failed,
            (unsigned long long)w->results_sent, (unsigned long long)w->rejected,
            (unsigned long long)(w->dropped + (w->sock ? cn_sock_bad_count(w->sock) : 0)));
    cn_runner_destroy(&w->runner);
    for (size_t i = 0; i < w->n_unacked; i++) cn_job_result_clear(&w->unacked[i]);
    free(w->unacked);
    cn_sock_destroy(&w->sock);
    cn_sock_destroy(&w->wake_tx);
    cn_sock_destroy(&w->wake_rx);
    cn_buf_free(&w->wake_msg);
    pthread_mutex_destroy(&w->wake_mu);
    free(w->endpoint);
}

int cn_worker_run(const cn_worker_opts_t *o) {
    worker_t w = {0};
    int rc = setup(&w, o);
    if (rc == 0) rc = reconnect(&w);
    if (rc) {
        CN_ERROR("cannot start the worker: %s", cn_err_detail());
        teardown(&w);
        return rc;
    }
    /* Only this thread takes SIGTERM/SIGINT, so they interrupt its poll. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    CN_INFO("worker %s: %u slots, coordinator %s", o->name, o->slots, w.endpoint);
    while (!w.done) {
        cn_sock_t *socks[2] = {w.sock, w.wake_rx};
        bool ready[2];
        /* Either socket may be ready, or a timer or signal is due: every step
           below is cheap when it has nothing to do. */
        (void)cn_poll(socks, ready, 2, poll_timeout(&w));
        w.now = cn_mono_ms();
        receive(&w);
        collect(&w);
        timers(&w);
        stopping(&w);
    }
    teardown(&w);
    return 0;
}
