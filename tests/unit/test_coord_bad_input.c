/* test_coord_bad_input.c: the real canopy-coordinator binary takes garbage,
   truncated, oversized, wrong-version, empty and multipart frames, messages only
   it may send, and a result for a lease it never issued, over real ZeroMQ
   DEALER sockets; it counts them (StatusReply.bad_messages, stale_results),
   stays up, and still accepts a normal Submit. */
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
#include <zmq.h>

#include "errors.h"
#include "net.h"
#include "util.h"
#include "wire.h"

static pid_t coord_pid;
static char data_dir[256], endpoint[512];

static void start_coordinator(void) {
    char tmpl[] = "/tmp/cn-coord-bad-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(data_dir, sizeof data_dir, "%s", tmpl);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/coordinator.sock", data_dir);
    const char *bin = getenv("CN_BIN");
    char *exe = cn_xasprintf("%s/canopy-coordinator", bin ? bin : ".");
    coord_pid = fork();
    assert_true(coord_pid >= 0);
    if (coord_pid == 0) {
        execl(exe, exe, "--data", data_dir, "--heartbeat-ms", "200", (char *)NULL);
        _exit(127);
    }
    free(exe);
    char *ep = cn_path_join(data_dir, "coordinator.endpoints");
    for (int i = 0; i < 500 && access(ep, F_OK) != 0; i++) cn_sleep_ms(10);
    assert_int_equal(access(ep, F_OK), 0);
    free(ep);
}

static void stop_coordinator(void) {
    if (coord_pid > 0) {
        kill(coord_pid, SIGKILL);
        waitpid(coord_pid, NULL, 0);
        coord_pid = 0;
    }
    cn_rm_rf(data_dir);
}

static cn_sock_t *dealer(void) {
    cn_sock_t *s;
    assert_int_equal(cn_sock_new(CN_SOCK_DEALER, NULL, &s), 0);
    assert_int_equal(cn_sock_connect(s, endpoint), 0);
    return s;
}

/* Waits for the reply to req_id (skipping anything else). */
static Canopy__Envelope *reply(cn_sock_t *s, uint64_t req_id) {
    for (int i = 0; i < 100; i++) {
        Canopy__Envelope *env;
        int rc = cn_sock_recv(s, NULL, &env, 100);
        if (rc == CN_EAGAIN) continue;
        assert_int_equal(rc, 0);
        if (env->req_id == req_id) return env;
        cn_wire_free(env);
    }
    fail_msg("no reply to request %llu", (unsigned long long)req_id);
    return NULL;
}

static Canopy__StatusReply *status(cn_sock_t *s, Canopy__Envelope **holder) {
    Canopy__StatusRequest sr = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &sr;
    env.req_id = 900;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    *holder = reply(s, 900);
    assert_int_equal((*holder)->body_case, CANOPY__ENVELOPE__BODY_STATUS_REPLY);
    return (*holder)->status_reply;
}

static void pack_submit(cn_buf_t *b, uint64_t req_id, const char *kind) {
    Canopy__JobSpec js = CANOPY__JOB_SPEC__INIT;
    js.kind = (char *)kind;
    js.dedup_key = (char *)"a-dedup-key-long-enough-to-be-cut-in-the-middle-of-it";
    Canopy__JobSpec *jp = &js;
    Canopy__Submit sub = CANOPY__SUBMIT__INIT;
    sub.job = &jp;
    sub.n_job = 1;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    env.req_id = req_id;
    assert_int_equal(cn_wire_pack(&env, b), 0);
}

static int send_bad_frames(cn_sock_t *s) {
    int n = 0;
    const char garbage[] = "\xff\xfe this is not a protobuf \x01\x02\x03";
    assert_int_equal(cn_sock_send_raw(s, NULL, garbage, sizeof garbage, true), 0), n++;
    cn_buf_t b = {0};
    pack_submit(&b, 5, "noop");
    assert_int_equal(cn_sock_send_raw(s, NULL, b.data, b.len / 2, true), 0), n++; /* truncated */
    /* Wrong version: pack by hand, since cn_wire_pack sets the right one. */
    Canopy__StatusRequest sr = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &sr;
    env.version = 99;
    uint8_t vbuf[64];
    size_t vlen = canopy__envelope__pack(&env, vbuf);
    assert_int_equal(cn_sock_send_raw(s, NULL, vbuf, vlen, true), 0), n++;
    assert_int_equal(cn_sock_send_raw(s, NULL, "", 0, true), 0), n++; /* empty */
    env.version = 1;
    env.body_case = CANOPY__ENVELOPE__BODY__NOT_SET; /* no body */
    vlen = canopy__envelope__pack(&env, vbuf);
    assert_int_equal(cn_sock_send_raw(s, NULL, vbuf, vlen, true), 0), n++;
    size_t big = CN_WIRE_MAX_FRAME + 1;
    uint8_t *huge = cn_xcalloc(big, 1);
    memcpy(huge, b.data, b.len); /* a valid start does not make it acceptable */
    assert_int_equal(cn_sock_send_raw(s, NULL, huge, big, true), 0), n++;
    free(huge);
    cn_buf_free(&b);
    return n;
}

static int send_multipart_junk(void) {
    void *ctx = zmq_ctx_new();
    void *z = zmq_socket(ctx, ZMQ_DEALER);
    assert_int_equal(zmq_connect(z, endpoint), 0);
    cn_buf_t b = {0};
    pack_submit(&b, 6, "noop");
    /* A valid envelope followed by more parts is still refused as a whole. */
    assert_true(zmq_send(z, b.data, b.len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(z, "junk", 4, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(z, "more junk", 9, 0) >= 0);
    cn_buf_free(&b);
    cn_sleep_ms(200);
    int linger = 1000;
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(z);
    zmq_ctx_term(ctx);
    return 1;
}

static void test_bad_frames_are_counted_and_dropped(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *s = dealer();
    int bad = send_bad_frames(s) + send_multipart_junk();

    /* A message only the coordinator sends is refused with an Error and counted. */
    Canopy__Welcome w = CANOPY__WELCOME__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    env.req_id = 7;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    Canopy__Envelope *r = reply(s, 7);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CN_EPROTO);
    cn_wire_free(r);
    bad++;

    /* A result for a lease that was never issued: acked as not accepted. */
    Canopy__Result res = CANOPY__RESULT__INIT;
    res.job_id = 777;
    res.lease_seq = 5;
    res.outcome = CANOPY__OUTCOME__OK;
    Canopy__Result *rp = &res;
    Canopy__Results rs = CANOPY__RESULTS__INIT;
    rs.name = (char *)"nobody";
    rs.result = &rp;
    rs.n_result = 1;
    env = (Canopy__Envelope)CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_RESULTS;
    env.results = &rs;
    env.req_id = 8;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    r = reply(s, 8);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_RESULT_ACKS);
    assert_int_equal(r->result_acks->n_ack, 1);
    assert_int_equal(r->result_acks->ack[0]->job_id, 777);
    assert_false(r->result_acks->ack[0]->accepted);
    cn_wire_free(r);

    Canopy__Envelope *holder;
    Canopy__StatusReply *st = status(s, &holder);
    assert_int_equal(st->bad_messages, (uint64_t)bad);
    assert_int_equal(st->stale_results, 1);
    assert_int_equal(st->submitted_total, 0); /* neither the truncated nor the multipart submit got in */
    cn_wire_free(holder);

    /* A normal Submit still works, and is durable before its reply. */
    cn_buf_t b = {0};
    pack_submit(&b, 11, "noop");
    assert_int_equal(cn_sock_send_raw(s, NULL, b.data, b.len, true), 0);
    cn_buf_free(&b);
    r = reply(s, 11);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_SUBMIT_REPLY);
    assert_int_equal(r->submit_reply->n_id, 1);
    assert_int_equal(r->submit_reply->id[0], 1);
    cn_wire_free(r);
    assert_int_equal(kill(coord_pid, 0), 0); /* still running */

    cn_sock_destroy(&s);
    stop_coordinator();
}

static void test_bad_requests_get_errors_not_crashes(void **state) {
    (void)state;
    start_coordinator();
    cn_sock_t *s = dealer();
    /* after names a job that does not exist: the whole batch is refused. */
    Canopy__JobSpec js = CANOPY__JOB_SPEC__INIT;
    js.kind = (char *)"noop";
    uint64_t after = 42;
    js.after = &after;
    js.n_after = 1;
    Canopy__JobSpec *jp = &js;
    Canopy__Submit sub = CANOPY__SUBMIT__INIT;
    sub.job = &jp;
    sub.n_job = 1;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    env.req_id = 1;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    Canopy__Envelope *r = reply(s, 1);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_ERROR);
    assert_non_null(strstr(r->error->message, "42"));
    cn_wire_free(r);
    /* No kind, an empty Hello name, an unknown control op, a missing job. */
    js.n_after = 0;
    js.kind = (char *)"";
    env.req_id = 2;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    r = reply(s, 2);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_ERROR);
    cn_wire_free(r);
    Canopy__Hello h = CANOPY__HELLO__INIT;
    env = (Canopy__Envelope)CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    env.req_id = 3;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    r = reply(s, 3);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_ERROR);
    cn_wire_free(r);
    Canopy__Control ctl = CANOPY__CONTROL__INIT;
    ctl.op = CANOPY__CONTROL_OP__RETRY;
    ctl.job_id = 99;
    env = (Canopy__Envelope)CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_CONTROL;
    env.control = &ctl;
    env.req_id = 4;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    r = reply(s, 4);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_ERROR);
    assert_int_equal(r->error->code, CN_ENOTFOUND);
    cn_wire_free(r);
    /* A heartbeat from a worker it does not know: tell it to say Hello. */
    Canopy__Heartbeat hb = CANOPY__HEARTBEAT__INIT;
    hb.name = (char *)"ghost";
    env = (Canopy__Envelope)CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    env.req_id = 5;
    assert_int_equal(cn_sock_send(s, NULL, &env, true), 0);
    r = reply(s, 5);
    assert_int_equal(r->body_case, CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY);
    assert_true(r->heartbeat_reply->unknown);
    cn_wire_free(r);
    assert_int_equal(kill(coord_pid, 0), 0);
    cn_sock_destroy(&s);
    stop_coordinator();
}

static int teardown(void **state) {
    (void)state;
    stop_coordinator();
    return 0;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_frames_are_counted_and_dropped, teardown),
        cmocka_unit_test_teardown(test_bad_requests_get_errors_not_crashes, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
