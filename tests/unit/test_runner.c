/* test_runner.c: the worker's slots run noop and sleep jobs against a real shard:
   a success leaves a commit record with the lease's job_id/attempt/lease_seq and
   its pointer records, a failure leaves neither; cancellation, timeouts, stale
   leases and shutdown each give their outcome; fatal and retryable failures are
   told apart; jobs finished together are committed in one synced write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "job.h"
#include "runner.h"
#include "shard.h"
#include "util.h"
#include "wire.h"

/* A kind that writes one pointer record (HEADS) and fails if its spec says so. */
static int pointer_run(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len) {
    uint8_t key[16];
    cn_put_be64(key, 99);
    cn_put_be64(key + 8, cn_job_lease_seq(ctx));
    cn_batch_put(cn_job_commit_batch(ctx), CN_CF_HEADS, key, sizeof key, "head", 4);
    if (spec_len == 4 && memcmp(spec, "fail", 4) == 0)
        return cn_job_fail(ctx, CN_EIO, false, "asked to fail");
    return 0;
}
static cn_job_kind_t pointer_kind = {.name = "test-pointer", .run = pointer_run};
CN_JOB_KIND(pointer_kind)

typedef struct {
    cn_shard_t *shard;
    cn_runner_t *runner;
} fix_t;

static int setup_n(void **state, unsigned slots) {
    static int n;
    char dir[64];
    snprintf(dir, sizeof dir, "shard-%d", n++);
    fix_t *f = cn_xcalloc(1, sizeof *f);
    cn_shard_opts_t so = {.create = true, .worker = "wt"};
    assert_int_equal(cn_shard_open(dir, &so, &f->shard), 0);
    cn_runner_opts_t ro = {
        .shard = f->shard, .worker = "wt", .scratch_dir = ".", .data_dir = ".", .slots = slots};
    assert_int_equal(cn_runner_new(&ro, &f->runner), 0);
    *state = f;
    return 0;
}
static int setup2(void **state) {
    return setup_n(state, 2);
}
static int setup4(void **state) {
    return setup_n(state, 4);
}

static int teardown(void **state) {
    fix_t *f = *state;
    cn_runner_destroy(&f->runner);
    cn_shard_close(&f->shard);
    free(f);
    return 0;
}

static void submit(fix_t *f, uint64_t job, uint32_t attempt, uint64_t seq, const char *kind, const void *spec,
                   size_t len, uint64_t timeout_ms) {
    Canopy__Lease l = CANOPY__LEASE__INIT;
    l.job_id = job;
    l.attempt = attempt;
    l.lease_seq = seq;
    l.kind = (char *)kind;
    l.spec.data = (uint8_t *)spec;
    l.spec.len = len;
    l.timeout_ms = timeout_ms;
    Canopy__Lease *lp = &l;
    cn_runner_submit(f->runner, &lp, 1);
}

static void submit_sleep(fix_t *f, uint64_t job, uint32_t attempt, uint64_t seq, uint32_t ms,
                         uint32_t fail_attempts, bool fatal, uint64_t timeout_ms) {
    Canopy__SleepSpec s = CANOPY__SLEEP_SPEC__INIT;
    s.ms = ms;
    s.fail_attempts = fail_attempts;
    s.fatal = fatal;
    s.message = (char *)"disk on fire";
    uint8_t buf[128];
    size_t n = canopy__sleep_spec__pack(&s, buf);
    submit(f, job, attempt, seq, "sleep", buf, n, timeout_ms);
}

/* Collects until n results arrived (10 s at most). */
static cn_job_result_t *wait_results(fix_t *f, size_t n) {
    cn_job_result_t *all = cn_xcalloc(n, sizeof *all);
    size_t got = 0;
    uint64_t end = cn_mono_ms() + 10000;
    while (got < n && cn_mono_ms() < end) {
        cn_job_result_t *res;
        size_t k;
        assert_int_equal(cn_runner_collect(f->runner, &res, &k), 0);
        assert_true(got + k <= n);
        if (k) memcpy(all + got, res, k * sizeof *res);
        got += k;
        free(res);
        if (got < n) cn_sleep_ms(2);
    }
    assert_int_equal(got, n);
    return all;
}

static bool has_commit(fix_t *f, uint64_t job, uint64_t seq) {
    Canopy__JobCommit *jc = NULL;
    int rc = cn_shard_job_commit(f->shard, job, seq, &jc);
    if (jc) cn_rec_free(&jc->base);
    if (rc != 0) assert_int_equal(rc, CN_ENOTFOUND);
    return rc == 0;
}

static void test_noop_success_writes_commit_record(void **state) {
    fix_t *f = *state;
    submit(f, 7, 2, 42, "noop", NULL, 0, 0);
    cn_job_result_t *r = wait_results(f, 1);
    assert_int_equal(r[0].outcome, CANOPY__OUTCOME__OK);
    assert_true(r[0].committed);
    assert_int_equal(r[0].job_id, 7);
    assert_int_equal(r[0].lease_seq, 42);
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(f->shard, 7, 42, &jc), 0);
    assert_int_equal(jc->job_id, 7);
    assert_int_equal(jc->attempt, 2);
    assert_int_equal(jc->lease_seq, 42);
    assert_string_equal(jc->kind, "noop");
    cn_rec_free(&jc->base);
    assert_false(has_commit(f, 7, 41));
    cn_runner_results_free(r, 1);
}

static void test_failure_leaves_no_commit_and_no_pointers(void **state) {
    fix_t *f = *state;
    submit(f, 1, 1, 10, "test-pointer", "fail", 4, 0);
    submit(f, 2, 1, 11, "test-pointer", "ok", 2, 0);
    cn_job_result_t *r = wait_results(f, 2);
    for (int i = 0; i < 2; i++) {
        uint8_t key[16];
        cn_put_be64(key, 99);
        cn_put_be64(key + 8, r[i].lease_seq);
        bool head = cn_shard_has(f->shard, CN_CF_HEADS, key, sizeof key);
        if (r[i].job_id == 1) {
            assert_int_equal(r[i].outcome, CANOPY__OUTCOME__ERROR);
            assert_int_equal(r[i].error_code, CN_EIO);
            assert_string_equal(r[i].error, "asked to fail");
            assert_false(r[i].committed);
            assert_false(head);
            assert_false(has_commit(f, 1, 10));
        } else {
            assert_int_equal(r[i].outcome, CANOPY__OUTCOME__OK);
            assert_true(head);
            assert_true(has_commit(f, 2, 11));
        }
    }
    cn_runner_results_free(r, 2);
}

static void test_sleep_fails_first_attempts_then_succeeds(void **state) {
    fix_t *f = *state;
    submit_sleep(f, 3, 1, 20, 10, 1, false, 0);
    cn_job_result_t *r = wait_results(f, 1);
    assert_int_equal(r[0].outcome, CANOPY__OUTCOME__ERROR);
    assert_non_null(strstr(r[0].error, "disk on fire"));
    assert_false(has_commit(f, 3, 20));
    cn_runner_results_free(r, 1);

    submit_sleep(f, 3, 2, 21, 10, 1, false, 0);
    r = wait_results(f, 1);
    assert_int_equal(r[0].outcome, CANOPY__OUTCOME__OK);
    assert_true(has_commit(f, 3, 21));
    Canopy__JobCommit *jc = NULL;
    assert_int_equal(cn_shard_job_commit(f->shard, 3, 0, &jc), 0);
    assert_int_equal(jc->lease_seq, 21);
    assert_string_equal(jc->summary, "{\"slept_ms\":10}");
    cn_rec_free(&jc->base);
    cn_runner_results_free(r, 1);
}

static void test_fatal_unknown_kind_and_bad_spec(void **state) {
    fix_t *f = *state;
    submit_sleep(f, 4, 1, 30, 0, 5, true, 0);
    submit(f, 5, 1, 31, "no-such-kind", NULL, 0, 0);
    submit(f, 6, 1, 32, "sleep", "\xff\xff\xff", 3, 0);
    cn_job_result_t *r = wait_results(f, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].outcome, CANOPY__OUTCOME__FATAL);
        assert_false(r[i].committed);
        assert_true(r[i].error_code < 0);
        if (r[i].job_id == 5) assert_non_null(strstr(r[i].error, "no-such-kind"));
        if (r[i].job_id == 6) assert_non_null(strstr(r[i].error, "SleepSpec"));
    }
    cn_runner_results_free(r, 3);
}

typedef struct {
    uint64_t job;
    bool running;
} probe_t;

static void probe(void *arg, const cn_job_info_t *info) {
    probe_t *p = arg;
    if (info->job_id == p->job && info->started && info->done > 0) p->running = true;
}

/* Waits until the job is on a slot and has reported progress. */
static void wait_started(fix_t *f, uint64_t job) {
    uint64_t end = cn_mono_ms() + 5000;
    probe_t p = {.job = job};
    while (!p.running) {
        assert_true(cn_mono_ms() < end);
        cn_sleep_ms(5);
        cn_runner_each(f->runner, probe, &p);
    }
}

static void test_cancel_stops_a_sleep_within_a_second(void **state) {
    fix_t *f = *state;
    submit_sleep(f, 8, 1, 40, 60000, 0, false, 0);
    wait_started(f, 8);
    uint64_t t0 = cn_mono_ms();
    assert_true(cn_runner_stop(f->runner, 8, 40, CN_STOP_CANCEL));
    assert_false(cn_runner_stop(f->runner, 8, 39, CN_STOP_CANCEL)); /* another lease */
    cn_job_result_t *r = wait_results(f, 1);
    assert_true(cn_mono_ms() - t0 < 1000);
    assert_int_equal(r[0].outcome, CANOPY__OUTCOME__CANCELED);
    assert_int_equal(r[0].error_code, CN_ECANCELLED);
    assert_false(has_commit(f, 8, 40));
    cn_runner_results_free(r, 1);
}

static void test_timeout_is_an_error_with_etimeout(void **state) {
    fix_t *f = *state;
    uint64_t t0 = cn_mono_ms();
    submit_sleep(f, 9, 1, 50, 60000, 0, false, 200);
    cn_job_result_t *r = wait_results(f, 1);
    assert_true(cn_mono_ms() - t0 >= 200);
    assert_int_equal(r[0].outcome, CANOPY__OUTCOME__ERROR);
    assert_int_equal(r[0].error_code, CN_ETIMEOUT);
    assert_non_null(strstr(r[0].error, "timed out"));
    assert_false(has_commit(f, 9, 50));
    cn_runner_results_free(r, 1);
}

static void test_stale_lease_is_dropped_and_shutdown_releases(void **state) {
    fix_t *f = *state;
    submit_sleep(f, 10, 1, 60, 60000, 0, false, 0);
    submit_sleep(f, 11, 1, 61, 60000, 0, false, 0);
    wait_started(f, 10);
    wait_started(f, 11);
    assert_int_equal(cn_runner_inflight(f->runner), 2);
    cn_runner_stop(f->runner, 10, 60, CN_STOP_STALE);
    cn_runner_stop_all(f->runner, CN_STOP_SHUTDOWN);
    cn_job_result_t *r = wait_results(f, 2);
    for (int i = 0; i < 2; i++) {
        if (r[i].job_id == 10)
            assert_true(r[i].drop);
        else
            assert_int_equal(r[i].outcome, CANOPY__OUTCOME__RELEASED);
        assert_false(r[i].committed);
    }
    assert_false(has_commit(f, 10, 60));
    assert_false(has_commit(f, 11, 61));
    assert_int_equal(cn_runner_inflight(f->runner), 0);
    cn_runner_results_free(r, 2);
}

static void test_jobs_finished_together_share_one_synced_write(void **state) {
    fix_t *f = *state;
    enum { N = 200 };
    for (uint64_t i = 1; i <= N; i++) submit(f, 1000 + i, 1, 5000 + i, "noop", NULL, 0, 0);
    /* Let all of them finish before the first collect. */
    uint64_t end = cn_mono_ms() + 10000;
    cn_runner_stats_t st;
    do {
        cn_runner_stats(f->runner, &st);
        cn_sleep_ms(2);
    } while (st.finished < N && cn_mono_ms() < end);
    assert_int_equal(st.finished, N);
    cn_job_result_t *r = wait_results(f, N);
    cn_runner_stats(f->runner, &st);
    assert_int_equal(st.committed, N);
    assert_int_equal(st.group_commits, 1);
    for (uint64_t i = 1; i <= N; i++) assert_true(has_commit(f, 1000 + i, 5000 + i));
    for (size_t i = 0; i < N; i++) assert_true(r[i].committed);
    cn_runner_results_free(r, N);
}

static void test_slots_bound_concurrency(void **state) {
    fix_t *f = *state; /* 4 slots */
    for (uint64_t i = 1; i <= 8; i++) submit_sleep(f, 100 + i, 1, 100 + i, 150, 0, false, 0);
    uint64_t t0 = cn_mono_ms();
    cn_job_result_t *r = wait_results(f, 8);
    /* Eight 150 ms sleeps on four slots take two rounds. */
    assert_true(cn_mono_ms() - t0 >= 290);
    for (int i = 0; i < 8; i++) assert_int_equal(r[i].outcome, CANOPY__OUTCOME__OK);
    cn_runner_results_free(r, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_noop_success_writes_commit_record, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_failure_leaves_no_commit_and_no_pointers, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_sleep_fails_first_attempts_then_succeeds, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_unknown_kind_and_bad_spec, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_stops_a_sleep_within_a_second, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_an_error_with_etimeout, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_stale_lease_is_dropped_and_shutdown_releases, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_finished_together_share_one_synced_write, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_slots_bound_concurrency, setup4, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
