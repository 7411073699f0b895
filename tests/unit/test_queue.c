/* test_queue.c: the coordinator's job queue against a real RocksDB store:
   priority order and FIFO, dedup, `after`, serial keys, backoff, dead after
   max attempts, retry, stale results, cancel, progress (units and bytes, in the
   RUNNING event, cleared on re-lease), memory that holds only active jobs, and a
   reopen that rebuilds the same state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "qutil.h"
#include "queue.h"
#include "util.h"
#include "wire.h"

#define T0 1000000ull

static cn_queue_t *open_q(const char *dir) {
    cn_queue_opts_t o = {.max_attempts = 3, .backoff_ms = 500, .backoff_cap_ms = 60000, .grace_ms = 2000};
    cn_queue_t *q = NULL;
    assert_int_equal(cn_queue_open(dir, &o, T0, &q), 0);
    return q;
}

typedef struct {
    int32_t prio;
    const char *dedup, *serial;
    uint64_t after;
    uint32_t max_attempts;
    uint64_t timeout_ms;
} spec_t;

static uint64_t submit(cn_queue_t *q, const char *kind, spec_t s, bool *existing) {
    Canopy__JobSpec *js = cn_xmalloc(sizeof *js);
    canopy__job_spec__init(js);
    js->kind = cn_xstrdup(kind);
    js->priority = s.prio;
    if (s.dedup) js->dedup_key = cn_xstrdup(s.dedup);
    if (s.serial) js->serial_key = cn_xstrdup(s.serial);
    if (s.after) {
        js->after = cn_xmalloc(sizeof *js->after);
        js->after[0] = s.after;
        js->n_after = 1;
    }
    js->max_attempts = s.max_attempts;
    js->timeout_ms = s.timeout_ms;
    uint64_t id = 0;
    bool ex = false;
    assert_int_equal(cn_queue_submit(q, &js, T0, &id, &ex), 0);
    assert_null(js);
    if (existing) *existing = ex;
    return id;
}

static uint64_t lease(cn_queue_t *q, uint64_t now) {
    cn_qjob_t *j = cn_queue_lease_next(q, NULL, 0, "w1", now);
    return j ? j->id : 0;
}

static int result(cn_queue_t *q, uint64_t id, Canopy__Outcome o, uint64_t now) {
    cn_qjob_t *j = cn_queue_find(q, id);
    Canopy__Result r = CANOPY__RESULT__INIT;
    r.job_id = id;
    r.lease_seq = j ? j->rec->lease_seq : 0;
    r.outcome = o;
    r.error = (char *)"it broke";
    return cn_queue_result(q, &r, now);
}

static Canopy__JobState state_of(cn_queue_t *q, uint64_t id) {
    Canopy__Job *rec;
    bool owned;
    assert_int_equal(cn_queue_lookup(q, id, &rec, &owned), 0);
    Canopy__JobState st = rec->state;
    if (owned) cn_rec_free(&rec->base);
    return st;
}

static void test_priority_order_then_fifo(void **state) {
    (void)state;
    cn_queue_t *q = open_q("prio");
    uint64_t a = submit(q, "noop", (spec_t){.prio = 0}, NULL);
    uint64_t b = submit(q, "noop", (spec_t){.prio = 5}, NULL);
    uint64_t c = submit(q, "noop", (spec_t){.prio = 0}, NULL);
    uint64_t d = submit(q, "noop", (spec_t){.prio = 5}, NULL);
    uint64_t e = submit(q, "noop", (spec_t){.prio = 1}, NULL);
    assert_int_equal(cn_queue_commit(q), 0);
    uint64_t want[] = {b, d, e, a, c};
    for (size_t i = 0; i < 5; i++) assert_int_equal(lease(q, T0), want[i]);
    assert_int_equal(lease(q, T0), 0);
    cn_queue_close(&q);
}

static void test_kind_filter_leases_only_kinds_a_worker_runs(void **state) {
    (void)state;
    cn_queue_t *q = open_q("kinds");
    submit(q, "scan", (spec_t){.prio = 9}, NULL);
    uint64_t n = submit(q, "noop", (spec_t){0}, NULL);
    char *kinds[] = {(char *)"noop"};
    cn_qjob_t *j = cn_queue_lease_next(q, kinds, 1, "w1", T0);
    assert_non_null(j);
    assert_int_equal(j->id, n);
    assert_null(cn_queue_lease_next(q, kinds, 1, "w1", T0));
    cn_queue_close(&q);
}

static void test_dedup_key_returns_the_first_job(void **state) {
    (void)state;
    cn_queue_t *q = open_q("dedup");
    bool ex;
    uint64_t a = submit(q, "noop", (spec_t){.dedup = "k1"}, &ex);
    assert_false(ex);
    uint64_t b = submit(q, "noop", (spec_t){.dedup = "k1"}, &ex); /* same turn */
    assert_true(ex);
    assert_int_equal(a, b);
    assert_int_equal(cn_queue_commit(q), 0);
    cn_queue_close(&q);
    q = open_q("dedup");
    uint64_t c = submit(q, "noop", (spec_t){.dedup = "k1"}, &ex); /* after a reopen */
    assert_true(ex);
    assert_int_equal(a, c);
    uint64_t d = submit(q, "noop", (spec_t){.dedup = "k2"}, &ex);
    assert_false(ex);
    assert_int_not_equal(d, a);
    assert_int_equal(cn_queue_submitted_total(q), 2);
    cn_queue_close(&q);
}

static void test_after_waits_for_success_and_cancels_on_dead(void **state) {
    (void)state;
    cn_queue_t *q = open_q("after");
    uint64_t a = submit(q, "noop", (spec_t){0}, NULL);
    uint64_t b = submit(q, "noop", (spec_t){.prio = 9, .after = a}, NULL);
    assert_int_equal(lease(q, T0), a);
    assert_int_equal(lease(q, T0), 0); /* b waits although its priority is higher */
    assert_int_equal(result(q, a, CANOPY__OUTCOME__OK, T0), 1);
    assert_int_equal(lease(q, T0), b);
    uint64_t c = submit(q, "noop", (spec_t){0}, NULL);
    uint64_t d = submit(q, "noop", (spec_t){.after = c}, NULL);
    uint64_t e = submit(q, "noop", (spec_t){.after = d}, NULL);
    assert_int_equal(lease(q, T0), c);
    assert_int_equal(result(q, c, CANOPY__OUTCOME__FATAL, T0), 1);
    assert_int_equal(state_of(q, c), CANOPY__JOB_STATE__DEAD);
    assert_int_equal(state_of(q, d), CANOPY__JOB_STATE__CANCELLED);
    assert_int_equal(state_of(q, e), CANOPY__JOB_STATE__CANCELLED); /* the chain goes on */
    Canopy__Job *rec;
    bool owned;
    assert_int_equal(cn_queue_lookup(q, d, &rec, &owned), 0);
    char want[64];
    snprintf(want, sizeof want, "job %llu,", (unsigned long long)c);
    assert_non_null(strstr(rec->error, want));
    assert_non_null(strstr(rec->error, "dead"));
    if (owned) cn_rec_free(&rec->base);
    /* A job submitted after its dependency is already dead is cancelled at once. */
    assert_int_equal(cn_queue_commit(q), 0);
    uint64_t f = submit(q, "noop", (spec_t){.after = c}, NULL);
    assert_int_equal(state_of(q, f), CANOPY__JOB_STATE__CANCELLED);
    cn_queue_close(&q);
}

static void test_serial_key_runs_one_job_at_a_time(void **state) {
    (void)state;
    cn_queue_t *q = open_q("serial");
    uint64_t a = submit(q, "download", (spec_t){.serial = "https://x/repo"}, NULL);
    uint64_t b = submit(q, "download", (spec_t){.serial = "https://x/repo"}, NULL);
    uint64_t c = submit(q, "download", (spec_t){.serial = "https://x/other"}, NULL);
    uint64_t k1 = 0, k2 = 0;
    assert_int_equal(cn_queue_key(q, "https://x/repo", false, &k1), 0);
    assert_int_equal(cn_queue_key(q, "https://x/other", false, &k2), 0);
    assert_true(k1 != 0 && k2 != 0 && k1 != k2);
    assert_int_equal(cn_queue_find(q, a)->rec->key_id, k1);
    assert_int_equal(cn_queue_find(q, b)->rec->key_id, k1);
    assert_int_equal(lease(q, T0), a);
    assert_int_equal(lease(q, T0), c); /* b is blocked by a */
    assert_int_equal(lease(q, T0), 0);
    assert_int_equal(result(q, a, CANOPY__OUTCOME__OK, T0), 1);
    assert_int_equal(lease(q, T0), b);
    assert_int_equal(cn_queue_commit(q), 0);
    cn_queue_close(&q);
    q = open_q("serial"); /* key ids are forever */
    uint64_t k3 = 0;
    assert_int_equal(cn_queue_key(q, "https://x/repo", true, &k3), 0);
    assert_int_equal(k3, k1);
    assert_int_equal(cn_queue_key(q, "never seen", false, &k3), 0);
    assert_int_equal(k3, 0);
    cn_queue_close(&q);
}

static void test_backoff_then_dead_after_max_attempts_then_retry(void **state) {
    (void)state;
    cn_queue_t *q = open_q("backoff");
    uint64_t a = submit(q, "noop", (spec_t){0}, NULL);
    uint64_t now = T0;
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(lease(q, now), a);
        assert_int_equal(cn_queue_find(q, a)->rec->attempts, attempt);
        assert_int_equal(result(q, a, CANOPY__OUTCOME__ERROR, now), 1);
        if (attempt == 3) break;
        assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__FAILED);
        uint64_t nb = cn_queue_find(q, a)->rec->not_before_ms, base = 500ull << (attempt - 1);
        assert_true(nb >= now + base * 3 / 4 && nb <= now + base * 5 / 4); /* 2^n x 500 ms +-25% */
        assert_int_equal(lease(q, now), 0);
        assert_int_equal(cn_queue_tick(q, now), nb);
        now = nb;
        cn_queue_tick(q, now);
        assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__QUEUED);
    }
    assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__DEAD);
    assert_int_equal(cn_queue_commit(q), 0);
    assert_null(cn_queue_find(q, a)); /* finished: out of RAM */
    assert_int_equal(cn_queue_retry(q, a, now), 0);
    assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__QUEUED);
    assert_int_equal(lease(q, now), a);
    assert_int_equal(cn_queue_find(q, a)->rec->attempts, 1);
    assert_int_equal(result(q, a, CANOPY__OUTCOME__OK, now), 1);
    assert_int_equal(cn_queue_find(q, a)->rec->accepted_results, 4);
    assert_int_not_equal(cn_queue_retry(q, a, now), 0); /* succeeded jobs are not retried */
    cn_queue_close(&q);
}

static void test_stale_and_repeated_results(void **state) {
    (void)state;
    cn_queue_t *q = open_q("stale");
    uint64_t a = submit(q, "noop", (spec_t){0}, NULL);
    assert_int_equal(lease(q, T0), a);
    uint64_t seq1 = cn_queue_find(q, a)->rec->lease_seq;
    cn_queue_end(q, cn_queue_find(q, a), CN_QEND_LOST, CN_EUNREACHABLE, "worker lost", NULL, false, T0);
    assert_int_equal(lease(q, T0), a);
    uint64_t seq2 = cn_queue_find(q, a)->rec->lease_seq;
    assert_true(seq2 > seq1);
    Canopy__Result r = CANOPY__RESULT__INIT;
    r.job_id = a;
    r.lease_seq = seq1;
    r.outcome = CANOPY__OUTCOME__OK;
    assert_int_equal(cn_queue_result(q, &r, T0), CN_ESTALE); /* fenced */
    r.lease_seq = seq2;
    assert_int_equal(cn_queue_result(q, &r, T0), 1);
    assert_int_equal(cn_queue_result(q, &r, T0), 0); /* a resend: acked, not counted */
    assert_int_equal(cn_queue_commit(q), 0);
    assert_int_equal(cn_queue_result(q, &r, T0), 0); /* also when read from the store */
    r.job_id = 999;
    assert_int_equal(cn_queue_result(q, &r, T0), CN_ESTALE); /* never issued */
    Canopy__Job *rec;
    bool owned;
    assert_int_equal(cn_queue_lookup(q, a, &rec, &owned), 0);
    assert_int_equal(rec->accepted_results, 1);
    assert_int_equal(rec->state, CANOPY__JOB_STATE__SUCCEEDED);
    assert_int_equal(rec->n_history, 2);
    if (owned) cn_rec_free(&rec->base);
    cn_queue_close(&q);
}

static void test_cancel_queued_and_leased(void **state) {
    (void)state;
    cn_queue_t *q = open_q("cancel");
    uint64_t a = submit(q, "noop", (spec_t){0}, NULL);
    uint64_t b = submit(q, "noop", (spec_t){0}, NULL);
    assert_int_equal(lease(q, T0), a);
    assert_int_equal(cn_queue_cancel(q, b, T0), 0);
    assert_int_equal(state_of(q, b), CANOPY__JOB_STATE__CANCELLED);
    assert_int_equal(cn_queue_cancel(q, a, T0), 0);
    assert_true(cn_queue_find(q, a)->rec->cancel_requested);
    assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__LEASED);
    assert_int_equal(result(q, a, CANOPY__OUTCOME__ERROR, T0), 1); /* no retry once cancelled */
    assert_int_equal(state_of(q, a), CANOPY__JOB_STATE__CANCELLED);
    assert_int_equal(cn_queue_cancel(q, 12345, T0), CN_ENOTFOUND);
    cn_queue_close(&q);
}

typedef struct {
    int events;
    Canopy__JobState state;
    uint64_t bytes_done, bytes_total;
} seen_t;

static void on_event(void *arg, const cn_qjob_t *j) {
    seen_t *s = arg;
    s->events++;
    s->state = j->rec->state;
    s->bytes_done = j->rec->progress_bytes_done;
    s->bytes_total = j->rec->progress_bytes_total;
}

static void test_progress_bytes_kept_while_leased_cleared_on_release(void **state) {
    (void)state;
    cn_queue_t *q = open_q("progress");
    seen_t seen = {0};
    cn_queue_set_event_cb(q, on_event, &seen);
    uint64_t a = submit(q, "download", (spec_t){0}, NULL);
    assert_int_equal(lease(q, T0), a);
    cn_qjob_t *j = cn_queue_find(q, a);
    Canopy__Progress p = {.base = PROTOBUF_C_MESSAGE_INIT(&canopy__progress__descriptor),
                          .done = 1200,
                          .total = 19252,
                          .unit = (char *)"commits"};
    p.bytes_done = 45200000;
    p.bytes_total = 310000000;
    cn_queue_progress(q, j, &p);
    /* The event of LEASED -> RUNNING already carries the bytes. */
    assert_int_equal(seen.state, CANOPY__JOB_STATE__RUNNING);
    assert_int_equal(seen.bytes_done, 45200000);
    assert_int_equal(seen.bytes_total, 310000000);
    assert_int_equal(j->rec->progress_done, 1200);
    assert_int_equal(j->rec->progress_bytes_total, 310000000);
    /* The worker is lost: the next lease starts from nothing. */
    cn_queue_end(q, j, CN_QEND_LOST, CN_EUNREACHABLE, "worker lost", NULL, false, T0);
    assert_int_equal(lease(q, T0), a);
    j = cn_queue_find(q, a);
    assert_int_equal(j->rec->progress_done, 0);
    assert_int_equal(j->rec->progress_bytes_done, 0);
    assert_int_equal(j->rec->progress_bytes_total, 0);
    /* Bytes with an unknown total, and a job no longer leased is left alone. */
    p = (Canopy__Progress){.base = PROTOBUF_C_MESSAGE_INIT(&canopy__progress__descriptor), .bytes_done = 777};
    cn_queue_progress(q, j, &p);
    assert_int_equal(j->rec->progress_bytes_done, 777);
    assert_int_equal(result(q, a, CANOPY__OUTCOME__OK, T0), 1);
    p.bytes_done = 999;
    p.bytes_total = 1000;
    cn_queue_progress(q, j, &p);
    assert_int_equal(j->rec->progress_bytes_done, 777);
    assert_int_equal(j->rec->progress_bytes_total, 0);
    cn_queue_close(&q);
}

static void test_memory_holds_only_active_jobs(void **state) {
    (void)state;
    cn_queue_t *q = open_q("memory");
    uint64_t now = T0;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++) submit(q, "noop", (spec_t){0}, NULL);
        assert_int_equal(cn_queue_commit(q), 0);
        uint64_t id;
        while ((id = lease(q, now)) != 0) assert_int_equal(result(q, id, CANOPY__OUTCOME__OK, now), 1);
        assert_int_equal(cn_queue_commit(q), 0);
        assert_int_equal(cn_queue_active(q), 0);
    }
    assert_int_equal(cn_queue_succeeded_total(q), 20000);
    assert_int_equal(cn_queue_count(q, 0, CANOPY__JOB_STATE__SUCCEEDED), 20000);
    assert_int_equal(state_of(q, 12345), CANOPY__JOB_STATE__SUCCEEDED); /* read from the store */
    Canopy__Job **jobs;
    size_t n;
    bool more;
    assert_int_equal(cn_queue_list(q, CANOPY__JOB_STATE__SUCCEEDED, "noop", 100, 50, &jobs, &n, &more), 0);
    assert_int_equal(n, 50);
    assert_true(more);
    assert_int_equal(jobs[0]->id, 101);
    cn_queue_list_free(q, jobs, n);
    uint64_t x = submit(q, "scan", (spec_t){0}, NULL);
    assert_int_equal(lease(q, now), x);
    assert_int_equal(result(q, x, CANOPY__OUTCOME__FATAL, now), 1);
    cn_queue_close(&q);
    /* The start-up scan counts every stored job again (without keeping them). */
    q = open_q("memory");
    assert_int_equal(cn_queue_active(q), 0);
    assert_int_equal(cn_queue_submitted_total(q), 20001);
    assert_int_equal(cn_queue_succeeded_total(q), 20000);
    assert_int_equal(cn_queue_count(q, 0, CANOPY__JOB_STATE__SUCCEEDED), 20000);
    assert_int_equal(cn_queue_nkinds(q), 2);
    assert_string_equal(cn_queue_kind_name(q, 1), "scan");
    assert_int_equal(cn_queue_count(q, 1, CANOPY__JOB_STATE__DEAD), 1);
    assert_int_equal(submit(q, "noop", (spec_t){0}, NULL), 20002);
    assert_int_equal(lease(q, now), 20002);
    assert_true(cn_queue_find(q, 20002)->rec->lease_seq > 20001); /* above every earlier lease */
    cn_queue_close(&q);
}

typedef struct {
    uint64_t ids[8];
    size_t n;
} leased_t;

static void collect(void *arg, cn_qjob_t *j) {
    leased_t *l = arg;
    if (l->n < 8) l->ids[l->n++] = j->id;
}

static void test_reopen_rebuilds_the_same_state(void **state) {
    (void)state;
    cn_queue_t *q = open_q("reopen");
    uint64_t a = submit(q, "noop", (spec_t){.prio = 1}, NULL);
    uint64_t b = submit(q, "noop", (spec_t){.prio = 3}, NULL);
    uint64_t c = submit(q, "noop", (spec_t){.prio = 2, .serial = "s"}, NULL);
    uint64_t d = submit(q, "noop", (spec_t){.prio = 2, .serial = "s"}, NULL);
    uint64_t e = submit(q, "noop", (spec_t){.after = a}, NULL);
    uint64_t f = submit(q, "noop", (spec_t){.prio = 0}, NULL);
    assert_int_equal(lease(q, T0), b); /* b leased */
    assert_int_equal(lease(q, T0), c); /* c leased, holds key s */
    assert_int_equal(lease(q, T0), a); /* a: error, in backoff */
    assert_int_equal(result(q, a, CANOPY__OUTCOME__ERROR, T0), 1);
    uint64_t seq_b = cn_queue_find(q, b)->rec->lease_seq;
    assert_int_equal(cn_queue_commit(q), 0);
    cn_queue_close(&q);

    q = open_q("reopen");
    assert_int_equal(cn_queue_active(q), 6);
    leased_t l = {0};
    cn_queue_foreach_leased(q, collect, &l);
    assert_int_equal(l.n, 2);
    assert_true((l.ids[0] == b && l.ids[1] == c) || (l.ids[0] == c && l.ids[1] == b));
    assert_int_equal(cn_queue_find(q, b)->rec->lease_seq, seq_b);
    assert_int_equal(cn_queue_count(q, 0, CANOPY__JOB_STATE__LEASED), 2);
    assert_int_equal(cn_queue_count(q, 0, CANOPY__JOB_STATE__FAILED), 1);
    assert_int_equal(cn_queue_count(q, 0, CANOPY__JOB_STATE__QUEUED), 3);
    /* d is blocked on c's key, e waits for a, a is in backoff: only f is ready. */
    assert_int_equal(lease(q, T0), f);
    assert_int_equal(lease(q, T0), 0);
    assert_int_equal(result(q, c, CANOPY__OUTCOME__OK, T0), 1);
    assert_int_equal(lease(q, T0), d);
    uint64_t later = T0 + 120000;
    cn_queue_tick(q, later);
    assert_int_equal(lease(q, later), a);
    assert_int_equal(result(q, a, CANOPY__OUTCOME__OK, later), 1);
    assert_int_equal(lease(q, later), e);
    /* A new lease after the reopen is above every earlier one. */
    assert_true(cn_queue_find(q, e)->rec->lease_seq > seq_b);
    cn_queue_close(&q);
}

static void test_u64map_survives_churn_and_shrinks(void **state) {
    (void)state;
    cn_u64map_t m = {0};
    enum { N = 100000 };
    for (uint64_t i = 1; i <= N; i++) cn_u64map_put(&m, i * 7919, (void *)(uintptr_t)i);
    assert_int_equal(m.n, N);
    size_t peak = m.cap;
    /* Delete in a scrambled order; everything left must still be found. */
    for (uint64_t k = 0; k < N; k++) {
        uint64_t i = (k * 48271) % N + 1;
        assert_ptr_equal(cn_u64map_del(&m, i * 7919), (void *)(uintptr_t)i);
        if (k % 9973 == 0)
            for (uint64_t r = 1; r <= N; r += 997) {
                void *v = cn_u64map_get(&m, r * 7919);
                assert_true(v == NULL || v == (void *)(uintptr_t)r);
            }
    }
    assert_int_equal(m.n, 0);
    assert_true(m.cap < peak / 16); /* memory given back */
    cn_u64map_free(&m);
}

static void list_ids(cn_queue_t *q, Canopy__JobState st, uint64_t after, uint32_t limit, uint64_t *ids,
                     size_t *n, bool *more) {
    Canopy__Job **jobs;
    assert_int_equal(cn_queue_list(q, st, NULL, after, limit, &jobs, n, more), 0);
    for (size_t i = 0; i < *n; i++) ids[i] = jobs[i]->id;
    cn_queue_list_free(q, jobs, *n);
}

static void test_listing_merges_jobs_stored_only_in_their_submit_batch(void **state) {
    (void)state;
    cn_queue_t *q = open_q("list");
    for (int i = 0; i < 6; i++) submit(q, "noop", (spec_t){0}, NULL); /* one batch entry */
    assert_int_equal(cn_queue_commit(q), 0);
    assert_int_equal(lease(q, T0), 1); /* 1 and 3 get records of their own */
    assert_int_equal(result(q, 1, CANOPY__OUTCOME__OK, T0), 1);
    assert_int_equal(cn_queue_cancel(q, 3, T0), 0);
    submit(q, "noop", (spec_t){0}, NULL); /* 7: submitted this turn, nothing stored yet */
    uint64_t ids[16];
    size_t n;
    bool more;
    list_ids(q, 0, 0, 100, ids, &n, &more);
    assert_int_equal(n, 7); /* before the commit too: from RAM */
    assert_int_equal(cn_queue_commit(q), 0);
    list_ids(q, 0, 0, 100, ids, &n, &more);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], i + 1); /* merged in id order */
    assert_false(more);
    list_ids(q, CANOPY__JOB_STATE__QUEUED, 0, 100, ids, &n, &more);
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], 2);
    list_ids(q, 0, 2, 3, ids, &n, &more); /* paging */
    assert_int_equal(n, 3);
    assert_true(more);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[2], 5);
    cn_queue_close(&q);
    q = open_q("list"); /* the same after a reopen */
    assert_int_equal(cn_queue_active(q), 5);
    list_ids(q, 0, 0, 100, ids, &n, &more);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], i + 1);
    assert_int_equal(state_of(q, 3), CANOPY__JOB_STATE__CANCELLED); /* its own record wins */
    assert_int_equal(state_of(q, 1), CANOPY__JOB_STATE__SUCCEEDED);
    assert_int_equal(lease(q, T0), 2);
    cn_queue_close(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64map_survives_churn_and_shrinks),
        cmocka_unit_test(test_priority_order_then_fifo),
        cmocka_unit_test(test_kind_filter_leases_only_kinds_a_worker_runs),
        cmocka_unit_test(test_dedup_key_returns_the_first_job),
        cmocka_unit_test(test_after_waits_for_success_and_cancels_on_dead),
        cmocka_unit_test(test_serial_key_runs_one_job_at_a_time),
        cmocka_unit_test(test_backoff_then_dead_after_max_attempts_then_retry),
        cmocka_unit_test(test_stale_and_repeated_results),
        cmocka_unit_test(test_cancel_queued_and_leased),
        cmocka_unit_test(test_progress_bytes_kept_while_leased_cleared_on_release),
        cmocka_unit_test(test_memory_holds_only_active_jobs),
        cmocka_unit_test(test_listing_merges_jobs_stored_only_in_their_submit_batch),
        cmocka_unit_test(test_reopen_rebuilds_the_same_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
