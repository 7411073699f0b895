/* test_fuzz_seeds.c: builds the seed corpora of fuzz_wire (real packed envelopes
   of every peer's main messages) and fuzz_records (stored blob values and packed
   shard records), and checks that each decodes and re-encodes to the same bytes.
   With CN_WRITE_SEEDS=<source dir> it also writes them into tests/fuzz/corpus/
   (run once by hand; the files are committed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "errors.h"
#include "shard_int.h"
#include "wire.h"

static void save(const char *corpus, const char *name, const cn_buf_t *b) {
    const char *src = getenv("CN_WRITE_SEEDS");
    if (!src || !*src) return;
    char *dir = cn_xasprintf("%s/tests/fuzz/corpus/%s", src, corpus);
    assert_int_equal(cn_mkdir_p(dir), 0);
    char *path = cn_path_join(dir, name);
    assert_int_equal(cn_write_file_atomic(path, b->data, b->len), 0);
    free(path);
    free(dir);
}

/* Packs env, checks it decodes to the same body and re-packs to the same bytes. */
static void envelope_seed(const char *name, Canopy__Envelope *env) {
    cn_buf_t b = {0}, again = {0};
    assert_int_equal(cn_wire_pack(env, &b), 0);
    Canopy__Envelope *out = NULL;
    assert_int_equal(cn_wire_unpack(b.data, b.len, &out), 0);
    assert_int_equal(out->body_case, env->body_case);
    assert_int_equal(cn_wire_pack(out, &again), 0);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    cn_wire_free(out);
    save("fuzz_wire", name, &b);
    cn_buf_free(&again);
    cn_buf_free(&b);
}

#define ENV(var, field, CASE)                                                                                \
    Canopy__Envelope var;                                                                                    \
    canopy__envelope__init(&var);                                                                            \
    var.req_id = __LINE__;                                                                                   \
    var.body_case = CANOPY__ENVELOPE__BODY_##CASE;                                                           \
    var.field

static void test_worker_envelopes_round_trip(void **state) {
    (void)state;
    Canopy__Hello hello;
    canopy__hello__init(&hello);
    hello.name = (char *)"w1";
    hello.slots = 4;
    hello.pid = 1234;
    hello.host = (char *)"host-a";
    char *kinds[] = {(char *)"scan", (char *)"download", (char *)"sleep"};
    hello.n_kinds = 3;
    hello.kinds = kinds;
    Canopy__LeaseRef lr;
    canopy__lease_ref__init(&lr);
    lr.job_id = 17;
    lr.lease_seq = 99;
    Canopy__LeaseRef *lrs[] = {&lr};
    hello.n_running = 1;
    hello.running = lrs;
    ENV(e1, hello, HELLO) = &hello;
    envelope_seed("hello", &e1);

    Canopy__Progress pr;
    canopy__progress__init(&pr);
    pr.job_id = 17;
    pr.lease_seq = 99;
    pr.done = 500;
    pr.total = 1000;
    pr.unit = (char *)"commits";
    Canopy__Progress *prs[] = {&pr};
    Canopy__Heartbeat hb;
    canopy__heartbeat__init(&hb);
    hb.name = (char *)"w1";
    hb.free_slots = 3;
    hb.n_progress = 1;
    hb.progress = prs;
    ENV(e2, heartbeat, HEARTBEAT) = &hb;
    envelope_seed("heartbeat", &e2);

    Canopy__HeartbeatReply hr;
    canopy__heartbeat_reply__init(&hr);
    hr.n_cancel = 1;
    hr.cancel = lrs;
    hr.n_stale = 1;
    hr.stale = lrs;
    ENV(e3, heartbeat_reply, HEARTBEAT_REPLY) = &hr;
    envelope_seed("heartbeat_reply", &e3);
}

static void test_coordinator_envelopes_round_trip(void **state) {
    (void)state;
    Canopy__Lease l;
    canopy__lease__init(&l);
    l.job_id = 17;
    l.attempt = 2;
    l.lease_seq = 99;
    l.kind = (char *)"scan";
    l.spec = (ProtobufCBinaryData){.len = 6, .data = (uint8_t *)"\x0a\x04/tmp"};
    l.timeout_ms = 60000;
    l.key_id = 5;
    l.serial_key = (char *)"space:home";
    Canopy__Lease *ls[] = {&l, &l};
    Canopy__Leases leases;
    canopy__leases__init(&leases);
    leases.n_lease = 2;
    leases.lease = ls;
    ENV(e4, leases, LEASES) = &leases;
    envelope_seed("leases", &e4);

    Canopy__Result r;
    canopy__result__init(&r);
    r.job_id = 17;
    r.lease_seq = 99;
    r.outcome = CANOPY__OUTCOME__ERROR;
    r.error_code = CN_EGIT;
    r.error = (char *)"cannot clone file:///nope: not a repository";
    r.summary = (char *)"{\"commits\":0}";
    Canopy__Result *rs[] = {&r};
    Canopy__Results res;
    canopy__results__init(&res);
    res.name = (char *)"w1";
    res.n_result = 1;
    res.result = rs;
    ENV(e5, results, RESULTS) = &res;
    envelope_seed("results", &e5);

    Canopy__ResultAck ack;
    canopy__result_ack__init(&ack);
    ack.job_id = 17;
    ack.lease_seq = 99;
    ack.accepted = true;
    Canopy__ResultAck *acks[] = {&ack};
    Canopy__ResultAcks ra;
    canopy__result_acks__init(&ra);
    ra.n_ack = 1;
    ra.ack = acks;
    ENV(e6, result_acks, RESULT_ACKS) = &ra;
    envelope_seed("result_acks", &e6);

    Canopy__Welcome w;
    canopy__welcome__init(&w);
    w.heartbeat_ms = 1000;
    w.dead_after = 3;
    w.coordinator_start_ms = 1700000000000ull;
    ENV(e7, welcome, WELCOME) = &w;
    envelope_seed("welcome", &e7);

    Canopy__Bye bye;
    canopy__bye__init(&bye);
    bye.name = (char *)"w1";
    ENV(e8, bye, BYE) = &bye;
    envelope_seed("bye", &e8);
}

static void test_client_envelopes_round_trip(void **state) {
    (void)state;
    Canopy__JobSpec js;
    canopy__job_spec__init(&js);
    js.kind = (char *)"download";
    js.spec = (ProtobufCBinaryData){.len = 21, .data = (uint8_t *)"\x0a\x13https://x.org/r.git"};
    js.priority = 5;
    js.dedup_key = (char *)"dl-1";
    uint64_t after[] = {3, 4};
    js.n_after = 2;
    js.after = after;
    js.max_attempts = 3;
    js.timeout_ms = 600000;
    js.serial_key = (char *)"https://x.org/r.git";
    Canopy__JobSpec *jss[] = {&js};
    Canopy__Submit sub;
    canopy__submit__init(&sub);
    sub.n_job = 1;
    sub.job = jss;
    ENV(e1, submit, SUBMIT) = &sub;
    envelope_seed("submit", &e1);

    Canopy__Control c;
    canopy__control__init(&c);
    c.op = CANOPY__CONTROL_OP__CANCEL;
    c.job_id = 17;
    ENV(e2, control, CONTROL) = &c;
    envelope_seed("control", &e2);

    Canopy__StatusRequest sr;
    canopy__status_request__init(&sr);
    ENV(e3, status, STATUS) = &sr;
    envelope_seed("status", &e3);

    Canopy__JobsRequest jr;
    canopy__jobs_request__init(&jr);
    jr.state = CANOPY__JOB_STATE__DEAD;
    jr.kind = (char *)"scan";
    jr.limit = 50;
    ENV(e4, jobs, JOBS) = &jr;
    envelope_seed("jobs", &e4);

    Canopy__Job job;
    canopy__job__init(&job);
    job.id = 17;
    job.spec = &js;
    job.state = CANOPY__JOB_STATE__FAILED;
    job.attempts = 2;
    job.error = (char *)"timed out after 60000 ms";
    Canopy__Job *jobs[] = {&job};
    Canopy__JobsReply jrep;
    canopy__jobs_reply__init(&jrep);
    jrep.n_job = 1;
    jrep.job = jobs;
    jrep.more = true;
    ENV(e5, jobs_reply, JOBS_REPLY) = &jrep;
    envelope_seed("jobs_reply", &e5);

    Canopy__KeyRequest kr;
    canopy__key_request__init(&kr);
    kr.key = (char *)"https://x.org/r.git";
    kr.create = true;
    ENV(e6, key, KEY) = &kr;
    envelope_seed("key", &e6);

    Canopy__Event ev;
    canopy__event__init(&ev);
    ev.job_id = 17;
    ev.kind = (char *)"scan";
    ev.state = CANOPY__JOB_STATE__SUCCEEDED;
    ev.worker = (char *)"w2";
    ev.at_ms = 1700000000000ull;
    ENV(e7, event, EVENT) = &ev;
    envelope_seed("event", &e7);

    Canopy__Error err;
    canopy__error__init(&err);
    err.code = CN_EPROTO;
    err.message = (char *)"malformed message";
    ENV(e8, error, ERROR) = &err;
    envelope_seed("error", &e8);
}

static void record_seed(const char *name, const ProtobufCMessage *m) {
    cn_buf_t b = {0};
    cn_rec_pack(m, &b);
    ProtobufCMessage *out = NULL;
    assert_int_equal(cn_rec_unpack(m->descriptor, b.data, b.len, &out), 0);
    cn_rec_free(out);
    save("fuzz_records", name, &b);
    cn_buf_free(&b);
}

static void blob_seed(const char *name, uint8_t kind, const void *data, size_t n) {
    cn_buf_t b = {0}, out = {0};
    cn_buf_putc(&b, kind);
    assert_int_equal(cn_zstd_compress(data, n, CN_ZSTD_LEVEL, &b), 0);
    int k = 0;
    assert_int_equal(cn_blob_decode(b.data, b.len, n, &out, &k), 0);
    assert_int_equal(k, kind);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, data, n);
    save("fuzz_records", name, &b);
    cn_buf_free(&out);
    cn_buf_free(&b);
}

/* A delta value (storage/LAYOUT.md) of data against base: decodes with it. */
static void delta_seed(const char *name, const void *data, size_t n, const void *base, size_t bn) {
    cn_buf_t b = {0}, out = {0};
    cn_buf_putc(&b, CN_BLOB_DELTA);
    cn_buf_putc(&b, 1);
    cn_buf_putc(&b, 20);
    cn_buf_append(&b, "0123456789abcdefghij", 20);
    assert_int_equal(cn_zstd_compress_ref(data, n, CN_ZSTD_LEVEL, base, bn, &b), 0);
    assert_int_equal(cn_blob_decode_delta(b.data, b.len, base, bn, n, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, data, n);
    cn_blob_delta_t d;
    assert_int_equal(cn_blob_parse_delta(b.data, b.len, &d), 0);
    assert_int_equal(d.depth, 1);
    assert_memory_equal(d.base_key, "0123456789abcdefghij", 20);
    save("fuzz_records", name, &b);
    cn_buf_free(&out);
    cn_buf_free(&b);
}

static void test_shard_records_round_trip(void **state) {
    (void)state;
    char text[3000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = "int main(void) { return 0; }\n"[i % 29];
    blob_seed("blob_hashed", CN_BLOB_HASHED, text, sizeof text);
    blob_seed("blob_keyed", CN_BLOB_KEYED, "tiny", 4);
    blob_seed("blob_empty", CN_BLOB_HASHED, "", 0);
    /* fuzz_records decodes every input as a delta on this same text */
    char edited[3000];
    memcpy(edited, text, sizeof text);
    memcpy(edited + 1200, "/* edited */", 12);
    delta_seed("blob_delta", edited, sizeof edited, text, sizeof text);

    Canopy__Stamp st;
    cn_stamp_fill(&st);
    record_seed("stamp", &st.base);
    Canopy__Session se;
    canopy__session__init(&se);
    se.start_ms = 1700000000000ull;
    se.stamp = &st;
    se.pid = 42;
    se.host = (char *)"host-a";
    se.worker = (char *)"w1";
    record_seed("session", &se.base);
    Canopy__Savepoint sp;
    canopy__savepoint__init(&sp);
    sp.name = (char *)"nightly";
    sp.seq = 12345;
    sp.dir = (char *)"savepoints/nightly";
    record_seed("savepoint", &sp.base);

    Canopy__PointerRef pr;
    canopy__pointer_ref__init(&pr);
    pr.cf = CN_CF_HEADS;
    pr.key = (ProtobufCBinaryData){.len = 16, .data = (uint8_t *)"\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\x14"};
    Canopy__PointerRef *prs[] = {&pr};
    Canopy__JobCommit jc;
    canopy__job_commit__init(&jc);
    jc.job_id = 10;
    jc.attempt = 1;
    jc.lease_seq = 20;
    jc.stamp = &st;
    jc.kind = (char *)"download";
    jc.worker = (char *)"w1";
    jc.summary = (char *)"{\"commits\":12}";
    jc.n_pointer = 1;
    jc.pointer = prs;
    jc.pointers_total = 1;
    record_seed("job_commit", &jc.base);
}

static void test_git_records_round_trip(void **state) {
    (void)state;
    Canopy__Signature sig;
    canopy__signature__init(&sig);
    sig.name = (ProtobufCBinaryData){.len = 9, .data = (uint8_t *)"A. Person"};
    sig.email = (ProtobufCBinaryData){.len = 13, .data = (uint8_t *)"a@example.org"};
    sig.time = 1700000000;
    sig.tz_offset_min = 60;
    uint8_t oid[20] = {1, 2, 3};
    ProtobufCBinaryData parents[] = {{.len = 20, .data = oid}};
    Canopy__Commit c;
    canopy__commit__init(&c);
    c.oid = (ProtobufCBinaryData){.len = 20, .data = oid};
    c.n_parents = 1;
    c.parents = parents;
    c.author = &sig;
    c.committer = &sig;
    c.message = (ProtobufCBinaryData){.len = 16, .data = (uint8_t *)"Fix the widget\n\n"};
    c.tree = (ProtobufCBinaryData){.len = 20, .data = oid};
    record_seed("commit", &c.base);

    Canopy__Ref ref;
    canopy__ref__init(&ref);
    ref.name = (ProtobufCBinaryData){.len = 15, .data = (uint8_t *)"refs/heads/main"};
    ref.oid = (ProtobufCBinaryData){.len = 20, .data = oid};
    Canopy__Ref *refs[] = {&ref};
    Canopy__Heads h;
    canopy__heads__init(&h);
    h.project_id = 1;
    h.n_ref = 1;
    h.ref = refs;
    h.job_id = 10;
    h.lease_seq = 20;
    record_seed("heads", &h.base);

    Canopy__JournalCause cause;
    canopy__journal_cause__init(&cause);
    cause.job_id = 10;
    cause.lease_seq = 20;
    Canopy__JournalEntry je;
    canopy__journal_entry__init(&je);
    je.journal_id = 3;
    je.type = (char *)"scan";
    je.committed = true;
    je.cause = &cause;
    je.data_hash = (ProtobufCBinaryData){.len = 20, .data = oid};
    record_seed("journal_entry", &je.base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_envelopes_round_trip),
        cmocka_unit_test(test_coordinator_envelopes_round_trip),
        cmocka_unit_test(test_client_envelopes_round_trip),
        cmocka_unit_test(test_shard_records_round_trip),
        cmocka_unit_test(test_git_records_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
