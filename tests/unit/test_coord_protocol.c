/* test_coord_protocol.c: the real canopy-coordinator against fake workers and a
   client over real ZeroMQ sockets: credit-based batched leases, result acks and
   resends, cancellation through HeartbeatReply, a dead worker's leases re-leased
   with a higher lease_seq and its late result fenced, the timeout backstop,
   re-adoption of leases after the coordinator is killed with SIGKILL, and a
   heartbeat or Bye from a pipe the worker left not taking its leases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "net.h"
#include "util.h"
#include "wire.h"

#define HB_MS 100

static pid_t coord_pid;
static char data_dir[256], endpoint[512];
static uint64_t next_req = 1000;

static void start_coordinator_dead_after(const char *dead_after) {
    if (!data_dir[0]) {
        char tmpl[] = "/tmp/cn-coord-proto-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        snprintf(data_dir, sizeof data_dir, "%s", tmpl);
        snprintf(endpoint, sizeof endpoint, "ipc://%s/coordinator.sock", data_dir);
    }
    char *ep = cn_path_join(data_dir, "coordinator.endpoints");
    unlink(ep);
    const char *bin = getenv("CN_BIN");
    char *exe = cn_xasprintf("%s/canopy-coordinator", bin ? bin : ".");
    coord_pid = fork();
    assert_true(coord_pid >= 0);
    if (coord_pid == 0) {
        execl(exe, exe, "--data", data_dir, "--heartbeat-ms", "100", "--dead-after", dead_after,
              "--backoff-ms", "50", (char *)NULL);
        _exit(127);
    }
    free(exe);
    for (int i = 0; i < 500 && access(ep, F_OK) != 0; i++) cn_sleep_ms(10);
    assert_int_equal(access(ep, F_OK), 0);
    free(ep);
}

static void start_coordinator(void) {
    start_coordinator_dead_after("3");
}

static void kill_coordinator(void) {
    if (coord_pid > 0) {
        kill(coord_pid, SIGKILL);
        waitpid(coord_pid, NULL, 0);
        coord_pid = 0;
    }
}

static int teardown(void **state) {
    (void)state;
    kill_coordinator();
    if (data_dir[0]) cn_rm_rf(data_dir);
    data_dir[0] = 0;
    return 0;
}

static cn_sock_t *dealer(const char *identity) {
    cn_sock_opts_t o = {.identity = identity};
    cn_sock_t *s;
    assert_int_equal(cn_sock_new(CN_SOCK_DEALER, &o, &s), 0);
    assert_int_equal(cn_sock_connect(s, endpoint), 0);
    return s;
}

static uint64_t send_env(cn_sock_t *s, Canopy__Envelope *env) {
    env->req_id = ++next_req;
    assert_int_equal(cn_sock_send(s, NULL, env, true), 0);
    return env->req_id;
}

/* Next message with this body (and req_id, unless 0; others are dropped);
   NULL after timeout_ms. */
static Canopy__Envelope *expect_req(cn_sock_t *s, int body, uint64_t req_id, int timeout_ms) {
    uint64_t end = cn_mono_ms() + (uint64_t)timeout_ms;
    while (cn_mono_ms() < end) {
        Canopy__Envelope *env;
        if (cn_sock_recv(s, NULL, &env, 20) != 0) continue;
        if ((int)env->body_case == body && (!req_id || env->req_id == req_id)) return env;
        cn_wire_free(env);
    }
    return NULL;
}

static Canopy__Envelope *expect(cn_sock_t *s, int body, int timeout_ms) {
    return expect_req(s, body, 0, timeout_ms);
}

static void hello(cn_sock_t *s, const char *name, uint32_t slots, Canopy__LeaseRef **running, size_t n) {
    Canopy__Hello h = CANOPY__HELLO__INIT;
    h.name = (char *)name;
    h.slots = slots;
    h.running = running;
    h.n_running = n;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env(s, &env);
    Canopy__Envelope *w = expect(s, CANOPY__ENVELOPE__BODY_WELCOME, 3000);
    assert_non_null(w);
    assert_int_equal(w->welcome->heartbeat_ms, HB_MS);
    cn_wire_free(w);
}

static Canopy__HeartbeatReply *heartbeat(cn_sock_t *s, const char *name, Canopy__Envelope **holder) {
    Canopy__Heartbeat hb = CANOPY__HEARTBEAT__INIT;
    hb.name = (char *)name;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    uint64_t req = send_env(s, &env);
    *holder = expect_req(s, CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY, req, 3000);
    assert_non_null(*holder);
    return (*holder)->heartbeat_reply;
}

static void submit(cn_sock_t *c, size_t n, uint64_t timeout_ms, uint64_t *ids) {
    Canopy__JobSpec js[8], *jp[8];
    for (size_t i = 0; i < n; i++) {
        canopy__job_spec__init(&js[i]);
        js[i].kind = (char *)"noop";
        js[i].timeout_ms = timeout_ms;
        js[i].max_attempts = 5;
        jp[i] = &js[i];
    }
    Canopy__Submit sub = CANOPY__SUBMIT__INIT;
    sub.job = jp;
    sub.n_job = n;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    send_env(c, &env);
    Canopy__Envelope *r = expect(c, CANOPY__ENVELOPE__BODY_SUBMIT_REPLY, 3000);
    assert_non_null(r);
    assert_int_equal(r->submit_reply->n_id, n);
    for (size_t i = 0; i < n; i++) ids[i] = r->submit_reply->id[i];
    cn_wire_free(r);
}

/* Sends one result and returns whether it was accepted. */
static bool result(cn_sock_t *s, const char *name, uint64_t job, uint64_t seq, Canopy__Outcome o) {
    Canopy__Result r = CANOPY__RESULT__INIT;
    r.job_id = job;
    r.lease_seq = seq;
    r.outcome = o;
    Canopy__Result *rp = &r;
    Canopy__Results rs = CANOPY__RESULTS__INIT;
    rs.name = (char *)name;
    rs.result = &rp;
    rs.n_result = 1;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_RESULTS;
    env.results = &rs;
    send_env(s, &env);
    Canopy__Envelope *a = expect(s, CANOPY__ENVELOPE__BODY_RESULT_ACKS, 3000);
    assert_non_null(a);
    assert_int_equal(a->result_acks->n_ack, 1);
    assert_int_equal(a->result_acks->ack[0]->job_id, job);
    bool ok = a->result_acks->ack[0]->accepted;
    cn_wire_free(a);
    return ok;
}

static Canopy__Job *job_info(cn_sock_t *c, uint64_t id, Canopy__Envelope **holder) {
    Canopy__JobInfoRequest q = CANOPY__JOB_INFO_REQUEST__INIT;
    q.id = &id;
    q.n_id = 1;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_JOB_INFO;
    env.job_info = &q;
    send_env(c, &env);
    *holder = expect(c, CANOPY__ENVELOPE__BODY_JOB_INFO_REPLY, 3000);
    assert_non_null(*holder);
    assert_int_equal((*holder)->job_info_reply->n_job, 1);
    return (*holder)->job_info_reply->job[0];
}

static Canopy__JobState state_of(cn_sock_t *c, uint64_t id) {
    Canopy__Envelope *h;
    Canopy__JobState st = job_info(c, id, &h)->state;
    cn_wire_free(h);
    return st;
}

static uint64_t stale_count(cn_sock_t *c) {
    Canopy__StatusRequest sr = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &sr;
    send_env(c, &env);
    Canopy__Envelope *r = expect(c, CANOPY__ENVELOPE__BODY_STATUS_REPLY, 3000);
    assert_non_null(r);
    uint64_t n = r->status_reply->stale_results;
    cn_wire_free(r);
    return n;
}

/* Waits for a Leases message, heartbeating as a live worker does meanwhile. */
static Canopy__Envelope *wait_leases(cn_sock_t *s, const char *name, int timeout_ms) {
    uint64_t end = cn_mono_ms() + (uint64_t)timeout_ms, last_hb = 0;
    while (cn_mono_ms() < end) {
        if (cn_mono_ms() - last_hb >= HB_MS / 2) {
            Canopy__Heartbeat hb = CANOPY__HEARTBEAT__INIT;
            hb.name = (char *)name;
            Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
            env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
            env.heartbeat = &hb;
            send_env(s, &env);
            last_hb = cn_mono_ms();
        }
        Canopy__Envelope *env;
        if (cn_sock_recv(s, NULL, &env, 10) != 0) continue;
        if (env->body_case == CANOPY__ENVELOPE__BODY_LEASES) return env;
        cn_wire_free(env);
    }
    return NULL;
}

static void test_leases_batched_by_credit_and_results_acked_once(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w = dealer("w1"), *c = dealer(NULL);
    hello(w, "w1", 2, NULL, 0);
    uint64_t ids[3];
    submit(c, 3, 0, ids);
    Canopy__Envelope *l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->n_lease, 2); /* one message, at most the free slots */
    assert_int_equal(l->leases->lease[0]->job_id, ids[0]);
    assert_int_equal(l->leases->lease[1]->job_id, ids[1]);
    assert_true(l->leases->lease[1]->lease_seq > l->leases->lease[0]->lease_seq);
    assert_int_equal(l->leases->lease[0]->attempt, 1);
    assert_string_equal(l->leases->lease[0]->kind, "noop");
    uint64_t seq0 = l->leases->lease[0]->lease_seq;
    cn_wire_free(l);
    assert_null(wait_leases(w, "w1", 300)); /* no credit left */
    assert_true(result(w, "w1", ids[0], seq0, CANOPY__OUTCOME__OK));
    l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->n_lease, 1);
    assert_int_equal(l->leases->lease[0]->job_id, ids[2]);
    cn_wire_free(l);
    assert_true(result(w, "w1", ids[0], seq0, CANOPY__OUTCOME__OK)); /* a resend */
    Canopy__Envelope *h;
    Canopy__Job *j = job_info(c, ids[0], &h);
    assert_int_equal(j->state, CANOPY__JOB_STATE__SUCCEEDED);
    assert_int_equal(j->accepted_results, 1);
    assert_string_equal(j->worker, "w1");
    cn_wire_free(h);
    assert_int_equal(stale_count(c), 0);
    cn_sock_destroy(&w);
    cn_sock_destroy(&c);
}

/* After a reconnect the ROUTER renames the worker's old pipe, whose last queued
   messages still arrive from another routing id: a heartbeat must not redirect
   the worker's leases there... */
static void test_a_pipe_the_worker_left_does_not_take_its_leases(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w = dealer("w1"), *old = dealer("old-pipe"), *c = dealer(NULL);
    hello(w, "w1", 1, NULL, 0);
    Canopy__Envelope *h;
    assert_true(heartbeat(old, "w1", &h)->unknown);
    cn_wire_free(h);
    uint64_t id;
    submit(c, 1, 0, &id);
    Canopy__Envelope *l = expect(w, CANOPY__ENVELOPE__BODY_LEASES, 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->lease[0]->job_id, id);
    cn_wire_free(l);
    assert_null(expect(old, CANOPY__ENVELOPE__BODY_LEASES, 300));
    /* ...nor does a Bye from it take the worker out with its lease. */
    Canopy__Bye bye = CANOPY__BYE__INIT;
    bye.name = (char *)"w1";
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_BYE;
    env.bye = &bye;
    send_env(old, &env);
    assert_true(heartbeat(old, "w1", &h)->unknown); /* the Bye before it was handled */
    cn_wire_free(h);
    assert_false(heartbeat(w, "w1", &h)->unknown);
    cn_wire_free(h);
    assert_int_equal(state_of(c, id), CANOPY__JOB_STATE__LEASED);
    cn_sock_destroy(&w);
    cn_sock_destroy(&old);
    cn_sock_destroy(&c);
}

static void test_cancel_reaches_a_running_job_through_heartbeat(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w = dealer("w1"), *c = dealer(NULL);
    hello(w, "w1", 1, NULL, 0);
    uint64_t id;
    submit(c, 1, 0, &id);
    Canopy__Envelope *l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    uint64_t seq = l->leases->lease[0]->lease_seq;
    cn_wire_free(l);
    Canopy__Control ctl = CANOPY__CONTROL__INIT;
    ctl.op = CANOPY__CONTROL_OP__CANCEL;
    ctl.job_id = id;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_CONTROL;
    env.control = &ctl;
    send_env(c, &env);
    Canopy__Envelope *r = expect(c, CANOPY__ENVELOPE__BODY_CONTROL_REPLY, 3000);
    assert_non_null(r);
    assert_true(r->control_reply->job->cancel_requested);
    cn_wire_free(r);
    /* The worker hears it at once, without waiting for its next heartbeat... */
    while ((r = expect(w, CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY, 1000)) && r->req_id != 0)
        cn_wire_free(r); /* answers to heartbeats sent while waiting for the lease */
    assert_non_null(r);
    assert_int_equal(r->heartbeat_reply->n_cancel, 1);
    assert_int_equal(r->heartbeat_reply->cancel[0]->job_id, id);
    cn_wire_free(r);
    /* ...and again with every heartbeat until the job stops. */
    Canopy__Envelope *h;
    Canopy__HeartbeatReply *hr = heartbeat(w, "w1", &h);
    assert_false(hr->unknown);
    assert_int_equal(hr->n_cancel, 1);
    assert_int_equal(hr->cancel[0]->job_id, id);
    assert_int_equal(hr->cancel[0]->lease_seq, seq);
    cn_wire_free(h);
    assert_true(result(w, "w1", id, seq, CANOPY__OUTCOME__CANCELED));
    assert_int_equal(state_of(c, id), CANOPY__JOB_STATE__CANCELLED);
    cn_sock_destroy(&w);
    cn_sock_destroy(&c);
}

static void test_dead_worker_loses_its_lease_and_its_late_result_is_fenced(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w1 = dealer("w1"), *w2 = dealer("w2"), *c = dealer(NULL);
    hello(w1, "w1", 1, NULL, 0);
    uint64_t id;
    submit(c, 1, 0, &id);
    Canopy__Envelope *l = wait_leases(w1, "w1", 3000);
    assert_non_null(l);
    uint64_t seq1 = l->leases->lease[0]->lease_seq;
    cn_wire_free(l);
    /* w1 goes silent; w2 joins and heartbeats: after 3 missed beats the job is w2's. */
    hello(w2, "w2", 1, NULL, 0);
    l = wait_leases(w2, "w2", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->lease[0]->job_id, id);
    uint64_t seq2 = l->leases->lease[0]->lease_seq;
    assert_true(seq2 > seq1);
    assert_int_equal(l->leases->lease[0]->attempt, 2);
    cn_wire_free(l);
    assert_false(result(w1, "w1", id, seq1, CANOPY__OUTCOME__OK)); /* fenced */
    assert_int_equal(stale_count(c), 1);
    Canopy__Envelope *h;
    assert_true(heartbeat(w1, "w1", &h)->unknown); /* it must say Hello again */
    cn_wire_free(h);
    assert_true(result(w2, "w2", id, seq2, CANOPY__OUTCOME__OK));
    Canopy__Job *j = job_info(c, id, &h);
    assert_int_equal(j->state, CANOPY__JOB_STATE__SUCCEEDED);
    assert_int_equal(j->accepted_results, 1);
    assert_string_equal(j->worker, "w2");
    cn_wire_free(h);
    cn_sock_destroy(&w1);
    cn_sock_destroy(&w2);
    cn_sock_destroy(&c);
}

static void test_timeout_backstop_fences_the_lease(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w = dealer("w1"), *c = dealer(NULL);
    hello(w, "w1", 1, NULL, 0);
    uint64_t id;
    submit(c, 1, 100, &id);
    Canopy__Envelope *l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    uint64_t seq1 = l->leases->lease[0]->lease_seq;
    cn_wire_free(l);
    /* The worker heartbeats but never reports: after 100 ms + 2 heartbeats the
       coordinator fails the attempt, tells the worker the lease is stale, and
       leases the job again after its backoff. */
    bool told = false;
    for (int i = 0; i < 40 && !told; i++) {
        Canopy__Envelope *h;
        Canopy__HeartbeatReply *hr = heartbeat(w, "w1", &h);
        for (size_t k = 0; k < hr->n_stale; k++)
            told |= hr->stale[k]->job_id == id && hr->stale[k]->lease_seq == seq1;
        cn_wire_free(h);
        cn_sleep_ms(50);
    }
    assert_true(told);
    l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->lease[0]->job_id, id);
    assert_true(l->leases->lease[0]->lease_seq > seq1);
    cn_wire_free(l);
    assert_false(result(w, "w1", id, seq1, CANOPY__OUTCOME__OK));
    Canopy__Envelope *h;
    Canopy__Job *j = job_info(c, id, &h);
    assert_int_equal(j->error_code, CN_ETIMEOUT);
    /* The second lease may time out too before we ask (a loaded machine). */
    assert_true(j->attempts >= 2);
    cn_wire_free(h);
    cn_sock_destroy(&w);
    cn_sock_destroy(&c);
}

static void test_leases_are_readopted_after_coordinator_kill9(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *w = dealer("w1"), *c = dealer(NULL);
    hello(w, "w1", 2, NULL, 0);
    uint64_t ids[2];
    submit(c, 2, 0, ids);
    Canopy__Envelope *l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->n_lease, 2);
    uint64_t seq_a = l->leases->lease[0]->lease_seq, seq_b = l->leases->lease[1]->lease_seq;
    cn_wire_free(l);
    uint64_t queued; /* no credit left: it stays queued (stored in its submit batch) */
    submit(c, 1, 0, &queued);
    kill_coordinator();
    /* A longer dead interval here: the worker's reconnect is not part of this test. */
    start_coordinator_dead_after("20");
    /* A worker reconnects with a new socket; the restarted coordinator does not
       know it until it says Hello again. */
    cn_sock_destroy(&w);
    w = dealer("w1");
    Canopy__Envelope *h;
    assert_true(heartbeat(w, "w1", &h)->unknown);
    cn_wire_free(h);
    Canopy__LeaseRef ra = CANOPY__LEASE_REF__INIT, *rp = &ra;
    ra.job_id = ids[0];
    ra.lease_seq = seq_a;
    hello(w, "w1", 2, &rp, 1); /* it still runs a; b was lost */
    l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->n_lease, 1);
    assert_int_equal(l->leases->lease[0]->job_id, ids[1]);
    assert_true(l->leases->lease[0]->lease_seq > seq_b);
    cn_wire_free(l);
    assert_true(result(w, "w1", ids[0], seq_a, CANOPY__OUTCOME__OK)); /* adopted */
    Canopy__Job *j = job_info(c, ids[0], &h);
    assert_int_equal(j->state, CANOPY__JOB_STATE__SUCCEEDED);
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->accepted_results, 1);
    cn_wire_free(h);
    /* a's slot is free again: the job that was queued before the kill comes next. */
    l = wait_leases(w, "w1", 3000);
    assert_non_null(l);
    assert_int_equal(l->leases->lease[0]->job_id, queued);
    cn_wire_free(l);
    assert_false(result(w, "w1", ids[1], seq_b, CANOPY__OUTCOME__OK)); /* b's old lease */
    cn_sock_destroy(&w);
    cn_sock_destroy(&c);
}

static void test_events_reach_a_subscriber(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *c = dealer(NULL), *w = dealer("w1"), *sub;
    assert_int_equal(cn_sock_new(CN_SOCK_SUB, NULL, &sub), 0);
    assert_int_equal(cn_sock_subscribe_all(sub), 0);
    char *ep = cn_xasprintf("ipc://%s/events.sock", data_dir);
    assert_int_equal(cn_sock_connect(sub, ep), 0);
    free(ep);
    hello(w, "w1", 1, NULL, 0);
    /* A subscription takes a moment to reach the publisher: submit until events flow. */
    uint64_t id = 0;
    Canopy__Envelope *ev = NULL;
    for (int i = 0; i < 50 && !ev; i++) {
        submit(c, 1, 0, &id);
        ev = expect(sub, CANOPY__ENVELOPE__BODY_EVENT, 100);
    }
    assert_non_null(ev);
    cn_wire_free(ev);
    /* Every state change of the last job is published: queued or leased, then succeeded. */
    bool leased = false, succeeded = false;
    for (int i = 0; i < 50 && !succeeded; i++) {
        Canopy__Envelope *l = wait_leases(w, "w1", 100);
        if (l) {
            for (size_t k = 0; k < l->leases->n_lease; k++)
                result(w, "w1", l->leases->lease[k]->job_id, l->leases->lease[k]->lease_seq,
                       CANOPY__OUTCOME__OK);
            cn_wire_free(l);
        }
        while ((ev = expect(sub, CANOPY__ENVELOPE__BODY_EVENT, 20)) != NULL) {
            if (ev->event->job_id == id) {
                assert_string_equal(ev->event->kind, "noop");
                leased |= ev->event->state == CANOPY__JOB_STATE__LEASED;
                succeeded |= ev->event->state == CANOPY__JOB_STATE__SUCCEEDED;
            }
            cn_wire_free(ev);
        }
    }
    assert_true(leased);
    assert_true(succeeded);
    cn_sock_destroy(&sub);
    cn_sock_destroy(&w);
    cn_sock_destroy(&c);
}

static void write_key(const char *dir, const char *name, const char *key) {
    char *path = cn_path_join(dir, name);
    assert_int_equal(cn_write_file_atomic(path, key, 40), 0);
    free(path);
}

/* Status over a CurveZMQ tcp connection with the given client key pair; false
   when no reply comes (the ZAP handler refused the key). */
static bool curve_status(const char *ep, const char *server_pub, const char *pub, const char *sec) {
    cn_sock_opts_t o = {.curve_server_key = server_pub, .curve_public = pub, .curve_secret = sec};
    cn_sock_t *s;
    assert_int_equal(cn_sock_new(CN_SOCK_DEALER, &o, &s), 0);
    assert_int_equal(cn_sock_connect(s, ep), 0);
    Canopy__StatusRequest sr = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &sr;
    env.req_id = 1;
    cn_sock_send(s, NULL, &env, false);
    Canopy__Envelope *r = expect(s, CANOPY__ENVELOPE__BODY_STATUS_REPLY, 1500);
    cn_wire_free(r);
    cn_sock_destroy(&s);
    return r != NULL;
}

static void test_tcp_router_is_curve_with_an_allow_list(void **state) {
    (void)state;
    char tmpl[] = "/tmp/cn-coord-curve-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(data_dir, sizeof data_dir, "%s", tmpl);
    char *keys = cn_path_join(data_dir, "keys/allowed");
    assert_int_equal(cn_mkdir_p(keys), 0);
    char spub[41], ssec[41], cpub[41], csec[41], xpub[41], xsec[41];
    assert_int_equal(cn_curve_keypair(spub, ssec), 0);
    assert_int_equal(cn_curve_keypair(cpub, csec), 0);
    assert_int_equal(cn_curve_keypair(xpub, xsec), 0);
    char *kdir = cn_path_join(data_dir, "keys");
    write_key(kdir, "coordinator.secret", ssec);
    write_key(keys, "client.public", cpub);
    int port = 30000 + (int)(getpid() % 20000);
    char *ep = cn_xasprintf("tcp://127.0.0.1:%d", port), *pub = cn_xasprintf("tcp://127.0.0.1:%d", port + 1);
    const char *bin = getenv("CN_BIN");
    char *exe = cn_xasprintf("%s/canopy-coordinator", bin ? bin : ".");
    coord_pid = fork();
    if (coord_pid == 0) {
        execl(exe, exe, "--data", data_dir, "--endpoint", ep, "--pub", pub, (char *)NULL);
        _exit(127);
    }
    char *epf = cn_path_join(data_dir, "coordinator.endpoints");
    for (int i = 0; i < 500 && access(epf, F_OK) != 0; i++) cn_sleep_ms(10);
    assert_int_equal(access(epf, F_OK), 0);
    assert_true(curve_status(ep, spub, cpub, csec));  /* an allowed key */
    assert_false(curve_status(ep, spub, xpub, xsec)); /* a key not in keys/allowed/ */
    free(epf);
    free(exe);
    free(ep);
    free(pub);
    free(kdir);
    free(keys);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_leases_batched_by_credit_and_results_acked_once, teardown),
        cmocka_unit_test_teardown(test_a_pipe_the_worker_left_does_not_take_its_leases, teardown),
        cmocka_unit_test_teardown(test_cancel_reaches_a_running_job_through_heartbeat, teardown),
        cmocka_unit_test_teardown(test_dead_worker_loses_its_lease_and_its_late_result_is_fenced, teardown),
        cmocka_unit_test_teardown(test_timeout_backstop_fences_the_lease, teardown),
        cmocka_unit_test_teardown(test_leases_are_readopted_after_coordinator_kill9, teardown),
        cmocka_unit_test_teardown(test_events_reach_a_subscriber, teardown),
        cmocka_unit_test_teardown(test_tcp_router_is_curve_with_an_allow_list, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
