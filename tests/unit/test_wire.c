/* test_wire.c: envelopes round-trip; wrong versions, garbage, truncation and
   oversized frames are refused with the right error; real sockets carry them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "net.h"
#include "wire.h"

static void make_heartbeat(Canopy__Envelope *env, Canopy__Heartbeat *hb) {
    canopy__envelope__init(env);
    canopy__heartbeat__init(hb);
    hb->name = (char *)"w1";
    hb->free_slots = 3;
    env->body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
    env->heartbeat = hb;
    env->req_id = 42;
}

static void test_envelope_round_trip(void **state) {
    (void)state;
    Canopy__Envelope env;
    Canopy__Heartbeat hb;
    make_heartbeat(&env, &hb);
    cn_buf_t b = {0};
    assert_int_equal(cn_wire_pack(&env, &b), 0);
    Canopy__Envelope *out;
    assert_int_equal(cn_wire_unpack(b.data, b.len, &out), 0);
    assert_int_equal(out->body_case, CANOPY__ENVELOPE__BODY_HEARTBEAT);
    assert_string_equal(out->heartbeat->name, "w1");
    assert_int_equal(out->heartbeat->free_slots, 3);
    assert_int_equal(out->req_id, 42);
    assert_string_equal(cn_wire_body_name(out), "heartbeat");
    cn_wire_free(out);
    cn_buf_free(&b);
}

static void test_wrong_version_is_refused(void **state) {
    (void)state;
    Canopy__Envelope env;
    Canopy__Heartbeat hb;
    make_heartbeat(&env, &hb);
    env.version = 99;
    size_t n = canopy__envelope__get_packed_size(&env);
    uint8_t *p = malloc(n);
    canopy__envelope__pack(&env, p);
    Canopy__Envelope *out;
    assert_int_equal(cn_wire_unpack(p, n, &out), CN_EVERSION);
    assert_null(out);
    free(p);
}

static void test_garbage_truncated_and_empty_frames_are_refused(void **state) {
    (void)state;
    Canopy__Envelope *out;
    assert_int_equal(cn_wire_unpack("", 0, &out), CN_EPROTO);
    assert_int_equal(cn_wire_unpack("\xff\xff\xff\xff\xff", 5, &out), CN_EPROTO);
    Canopy__Envelope env;
    Canopy__Heartbeat hb;
    make_heartbeat(&env, &hb);
    cn_buf_t b = {0};
    cn_wire_pack(&env, &b);
    for (size_t cut = 1; cut < b.len; cut++) {
        int rc = cn_wire_unpack(b.data, cut, &out);
        if (rc == 0)
            cn_wire_free(out); /* a prefix may happen to be valid */
        else
            assert_true(rc == CN_EPROTO || rc == CN_EVERSION);
    }
    /* A versioned envelope with no body. */
    Canopy__Envelope empty;
    canopy__envelope__init(&empty);
    cn_buf_reset(&b);
    cn_wire_pack(&empty, &b);
    assert_int_equal(cn_wire_unpack(b.data, b.len, &out), CN_EPROTO);
    cn_buf_free(&b);
}

static void test_oversized_frame_is_refused_before_decoding(void **state) {
    (void)state;
    size_t n = CN_WIRE_MAX_FRAME + 1;
    uint8_t *p = calloc(1, n);
    Canopy__Envelope *out;
    assert_int_equal(cn_wire_unpack(p, n, &out), CN_ETOOBIG);
    free(p);
    Canopy__Envelope env;
    Canopy__Error err;
    canopy__envelope__init(&env);
    canopy__error__init(&err);
    char *big = malloc(CN_WIRE_MAX_FRAME + 10);
    memset(big, 'x', CN_WIRE_MAX_FRAME + 9);
    big[CN_WIRE_MAX_FRAME + 9] = 0;
    err.message = big;
    env.body_case = CANOPY__ENVELOPE__BODY_ERROR;
    env.error = &err;
    cn_buf_t b = {0};
    assert_int_equal(cn_wire_pack(&env, &b), CN_ETOOBIG);
    free(big);
    cn_buf_free(&b);
}

static void test_sockets_count_and_drop_bad_frames(void **state) {
    (void)state;
    cn_sock_t *router, *dealer;
    assert_int_equal(cn_sock_new(CN_SOCK_ROUTER, NULL, &router), 0);
    assert_int_equal(cn_sock_bind(router, "inproc://t"), 0);
    cn_sock_opts_t o = {.identity = "dealer-1"};
    assert_int_equal(cn_sock_new(CN_SOCK_DEALER, &o, &dealer), 0);
    assert_int_equal(cn_sock_connect(dealer, "inproc://t"), 0);
    assert_int_equal(cn_sock_send_raw(dealer, NULL, "junk", 4, true), 0);
    Canopy__Envelope env, *got;
    Canopy__Heartbeat hb;
    make_heartbeat(&env, &hb);
    assert_int_equal(cn_sock_send(dealer, NULL, &env, true), 0);
    cn_peer_t from;
    assert_int_equal(cn_sock_recv(router, &from, &got, 2000), CN_EPROTO);
    assert_int_equal(cn_sock_bad_count(router), 1);
    assert_int_equal(cn_sock_recv(router, &from, &got, 2000), 0);
    assert_memory_equal(from.id, "dealer-1", 8);
    assert_string_equal(got->heartbeat->name, "w1");
    /* Reply through the router to the dealer. */
    assert_int_equal(cn_sock_send(router, &from, got, true), 0);
    cn_wire_free(got);
    assert_int_equal(cn_sock_recv(dealer, NULL, &got, 2000), 0);
    cn_wire_free(got);
    /* ROUTER_MANDATORY: an unknown peer is an error, not a silent drop. */
    cn_peer_t nobody = {.id = "ghost", .len = 5};
    assert_int_equal(cn_sock_send(router, &nobody, &env, false), CN_EUNREACHABLE);
    assert_int_equal(cn_sock_recv(router, &from, &got, 10), CN_EAGAIN);
    cn_sock_destroy(&dealer);
    cn_sock_destroy(&router);
    cn_net_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_wrong_version_is_refused),
        cmocka_unit_test(test_garbage_truncated_and_empty_frames_are_refused),
        cmocka_unit_test(test_oversized_frame_is_refused_before_decoding),
        cmocka_unit_test(test_sockets_count_and_drop_bad_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
