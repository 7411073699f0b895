/* test_cli_args.c: the CLI's parsing, without processes: durations, job ids,
   --name VALUE options, the kind table building sleep/noop specs, `submit --from`
   lines with their job options and errors naming the line, job JSON, progress
   text (units and bytes) and state names; and the queries' fencing rule (which
   lease of a job counts, over real shards). The CLI is an executable, so its
   sources are compiled in here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/args.c"
#include "../../cli/kind_noop.c"
#include "../../cli/kind_sleep.c"
#include "../../cli/kinds.c"
#include "../../cli/print.c"
#include "../../cli/stores.c"
#include "../../cli/submit_jobs.c"
#include "repo.h"

static void test_durations_take_units_and_reject_junk(void **state) {
    (void)state;
    uint64_t ms = 0;
    assert_true(cn_parse_duration_ms("250ms", &ms));
    assert_int_equal(ms, 250);
    assert_true(cn_parse_duration_ms("2s", &ms));
    assert_int_equal(ms, 2000);
    assert_true(cn_parse_duration_ms("1.5m", &ms));
    assert_int_equal(ms, 90000);
    assert_true(cn_parse_duration_ms("1h", &ms));
    assert_int_equal(ms, 3600000);
    assert_true(cn_parse_duration_ms("3", &ms)); /* a bare number is seconds */
    assert_int_equal(ms, 3000);
    const char *bad[] = {"", "x", "-1s", "5d", "1e300", "2 s", "ms", "nan"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) assert_false(cn_parse_duration_ms(bad[i], &ms));
}

static void test_job_ids_are_positive_integers(void **state) {
    (void)state;
    uint64_t id = 0;
    assert_true(cn_parse_job_id("12", &id));
    assert_int_equal(id, 12);
    assert_true(cn_parse_job_id("#7", &id));
    assert_int_equal(id, 7);
    assert_false(cn_parse_job_id("0", &id));
    assert_false(cn_parse_job_id("12a", &id));
    assert_false(cn_parse_job_id("-3", &id));
    assert_false(cn_parse_job_id("99999999999999999999999", &id));
}

static void test_option_values_both_spellings(void **state) {
    (void)state;
    char *argv[] = {(char *)"x",      (char *)"--key=a", (char *)"--key", (char *)"b",
                    (char *)"--keyx", (char *)"c",       (char *)"--key"};
    int argc = 7, i = 1;
    const char *v = NULL;
    assert_int_equal(cn_arg_value(argc, argv, &i, "--key", &v), 1);
    assert_string_equal(v, "a");
    i = 2;
    assert_int_equal(cn_arg_value(argc, argv, &i, "--key", &v), 1);
    assert_string_equal(v, "b");
    assert_int_equal(i, 3);
    i = 4;
    assert_int_equal(cn_arg_value(argc, argv, &i, "--key", &v), 0);
    i = 6;
    assert_int_equal(cn_arg_value(argc, argv, &i, "--key", &v), CN_EINVAL);
    cn_cli_t g = {.data = "d"};
    char *gv[] = {(char *)"x", (char *)"--json", (char *)"--data", (char *)"/tmp/q",
                  (char *)"--coordinator=tcp://h:1"};
    for (i = 1; i < 5; i++) assert_int_equal(cn_arg_global(&g, 5, gv, &i), 1);
    assert_true(g.json);
    assert_string_equal(g.data, "/tmp/q");
    assert_string_equal(g.coordinator, "tcp://h:1");
}

/* Builds a spec through the kind table from key=value pairs. */
static int build(const char *kind, const char *const *kv, cn_buf_t *spec) {
    cn_json_obj_t o = {cn_xcalloc(8, sizeof(cn_json_pair_t)), 0};
    for (; kv[0]; kv += 2) o.pair[o.n++] = (cn_json_pair_t){(char *)kv[0], (char *)kv[1], CN_JSON_STR};
    char *serial = NULL;
    const cn_cli_kind_t *k = cn_cli_kind_find(kind);
    assert_non_null(k);
    int rc = k->build(&o, spec, &serial);
    free(serial);
    free(o.pair);
    return rc;
}

static void test_sleep_kind_packs_its_spec_and_refuses_bad_args(void **state) {
    (void)state;
    cn_buf_t spec = {0};
    const char *ok[] = {"ms",      "20",   "fail_attempts", "2",         "fatal", "true",
                        "message", "boom", "bytes",         "300000000", NULL};
    assert_int_equal(build("sleep", ok, &spec), 0);
    Canopy__SleepSpec *m = canopy__sleep_spec__unpack(NULL, spec.len, spec.data);
    assert_non_null(m);
    assert_int_equal(m->ms, 20);
    assert_int_equal(m->fail_attempts, 2);
    assert_true(m->fatal);
    assert_string_equal(m->message, "boom");
    assert_int_equal(m->bytes, 300000000);
    canopy__sleep_spec__free_unpacked(m, NULL);
    cn_buf_reset(&spec);
    const char *unknown[] = {"ms", "5", "colour", "red", NULL};
    assert_int_equal(build("sleep", unknown, &spec), CN_EINVAL);
    assert_non_null(strstr(cn_err_detail(), "colour"));
    const char *negative[] = {"ms", "-3", NULL};
    assert_int_equal(build("sleep", negative, &spec), CN_EINVAL);
    const char *notbool[] = {"fatal", "maybe", NULL};
    assert_int_equal(build("sleep", notbool, &spec), CN_EINVAL);
    const char *none[] = {NULL};
    cn_buf_reset(&spec);
    assert_int_equal(build("noop", none, &spec), 0);
    assert_int_equal(build("noop", ok, &spec), CN_EINVAL);
    assert_null(cn_cli_kind_find("nosuchkind"));
    cn_buf_free(&spec);
}

static void test_kinds_are_listed_in_name_order(void **state) {
    (void)state;
    const cn_cli_kind_t *prev = NULL;
    int n = 0;
    for (const cn_cli_kind_t *k = cn_cli_kind_next(NULL); k; k = cn_cli_kind_next(k), n++) {
        if (prev) assert_true(strcmp(prev->name, k->name) < 0);
        prev = k;
    }
    assert_int_equal(n, 2);
}

static const char *write_tmp(const char *name, const char *text) {
    FILE *f = fopen(name, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return name;
}

static void test_from_lines_carry_job_options(void **state) {
    (void)state;
    const char *path =
        write_tmp("jobs.txt", "# a comment\n"
                              "{\"ms\": 20}\n"
                              "\n"
                              "  {\"ms\": 5, \"fail_attempts\": 1, \"priority\": -4, \"key\": \"k\"}\n"
                              "{\"kind\": \"noop\", \"after\": [3, 4], \"max_attempts\": 7, "
                              "\"timeout_ms\": 900}\n"
                              "{\"ms\": 1, \"after\": 9}\r\n");
    uint64_t after[] = {1};
    cn_job_opts_t def = {.priority = 2, .after = after, .n_after = 1, .max_attempts = 3};
    cn_joblist_t l = {0};
    assert_int_equal(cn_submit_from(&l, path, "sleep", &def), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0]->kind, "sleep");
    assert_int_equal(l.v[0]->priority, 2); /* the command line's options */
    assert_int_equal(l.v[0]->n_after, 1);
    assert_int_equal(l.v[0]->after[0], 1);
    assert_int_equal(l.v[1]->priority, -4);
    assert_string_equal(l.v[1]->dedup_key, "k");
    Canopy__SleepSpec *m = canopy__sleep_spec__unpack(NULL, l.v[1]->spec.len, l.v[1]->spec.data);
    assert_non_null(m);
    assert_int_equal(m->ms, 5);
    assert_int_equal(m->fail_attempts, 1);
    canopy__sleep_spec__free_unpacked(m, NULL);
    assert_string_equal(l.v[2]->kind, "noop");
    assert_int_equal(l.v[2]->n_after, 2);
    assert_int_equal(l.v[2]->after[1], 4);
    assert_int_equal(l.v[2]->max_attempts, 7);
    assert_int_equal(l.v[2]->timeout_ms, 900);
    assert_int_equal(l.v[3]->n_after, 1);
    assert_int_equal(l.v[3]->after[0], 9);
    cn_joblist_free(&l);
}

static void test_from_errors_name_the_line(void **state) {
    (void)state;
    cn_job_opts_t def = {0};
    cn_joblist_t l = {0};
    const char *bad[][2] = {
        {"{\"ms\": 5}\n{\"ms\": \n", "bad.txt:2"},
        {"{\"ms\": 5}\n{\"kind\": \"frob\"}\n", "unknown job kind 'frob'"},
        {"{\"ms\": 5, \"priority\": \"high\"}\n", "priority"},
        {"{\"ms\": 5, \"after\": \"x\"}\n", "after"},
        {"{\"colour\": 1}\n", "colour"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) {
        write_tmp("bad.txt", bad[i][0]);
        assert_int_equal(cn_submit_from(&l, "bad.txt", "sleep", &def), CN_EINVAL);
        assert_non_null(strstr(cn_err_detail(), bad[i][1]));
        cn_joblist_free(&l);
    }
    assert_int_not_equal(cn_submit_from(&l, "missing.txt", "sleep", &def), 0);
    assert_int_equal(cn_submit_from(&l, write_tmp("nokind.txt", "{}\n"), NULL, &def), CN_EINVAL);
    cn_joblist_free(&l);
}

static void test_after_lists(void **state) {
    (void)state;
    cn_job_opts_t o = {0};
    assert_int_equal(cn_parse_after("12,13,#14", &o), 0);
    assert_int_equal(o.n_after, 3);
    assert_int_equal(o.after[2], 14);
    assert_int_equal(cn_parse_after("12,,13", &o), CN_EINVAL);
    assert_int_equal(cn_parse_after("x", &o), CN_EINVAL);
    free(o.after);
}

static void test_job_json_shows_spec_and_history(void **state) {
    (void)state;
    Canopy__SleepSpec sp = CANOPY__SLEEP_SPEC__INIT;
    sp.ms = 20;
    cn_buf_t packed = {0};
    cn_rec_pack(&sp.base, &packed);
    Canopy__JobSpec js = CANOPY__JOB_SPEC__INIT;
    js.kind = (char *)"sleep";
    js.spec.data = packed.data;
    js.spec.len = packed.len;
    Canopy__AttemptRecord h = CANOPY__ATTEMPT_RECORD__INIT, *hp = &h;
    h.attempt = 1;
    h.worker = (char *)"w1";
    h.outcome = CANOPY__JOB_STATE__SUCCEEDED;
    h.result_accepted = true;
    Canopy__Job j = CANOPY__JOB__INIT;
    j.id = 5;
    j.spec = &js;
    j.state = CANOPY__JOB_STATE__SUCCEEDED;
    j.error = (char *)"quote \" here";
    j.history = &hp;
    j.n_history = 1;
    j.progress_bytes_done = 45200000;
    j.progress_bytes_total = 310000000;
    cn_buf_t b = {0};
    cn_job_json(&b, &j, true);
    const char *s = cn_buf_cstr(&b);
    assert_non_null(strstr(s, "\"id\":5,\"kind\":\"sleep\",\"state\":\"succeeded\""));
    assert_non_null(
        strstr(s, "\"spec\":{\"ms\":20,\"fail_attempts\":0,\"fatal\":false,\"message\":\"\",\"bytes\":0}"));
    assert_non_null(strstr(s, "\"progress_bytes_done\":45200000,\"progress_bytes_total\":310000000"));
    assert_non_null(strstr(s, "\"error\":\"quote \\\" here\""));
    assert_non_null(strstr(s, "\"outcome\":\"succeeded\",\"error\":\"\",\"result_accepted\":true"));
    cn_json_obj_t o;
    assert_int_equal(cn_json_parse_object(s, b.len, &o), 0); /* well-formed */
    cn_json_obj_free(&o);
    cn_buf_free(&b);
    cn_buf_free(&packed);
}

static void progress_is(uint64_t done, uint64_t total, const char *unit, uint64_t bd, uint64_t bt,
                        const char *want) {
    cn_buf_t b = {0};
    bool wrote = cn_fmt_progress(&b, "> ", done, total, unit, bd, bt);
    assert_int_equal(wrote, want[0] != '\0'); /* the lead only with something after it */
    char full[128];
    snprintf(full, sizeof full, "%s%s", want[0] ? "> " : "", want);
    assert_string_equal(cn_buf_cstr(&b), full);
    cn_buf_free(&b);
}

static void test_progress_text_says_units_then_bytes(void **state) {
    (void)state;
    progress_is(1200, 19252, "commits", 45200000, 310000000, "1200/19252 commits, 45.2 MB of 310.0 MB");
    progress_is(1200, 19252, "commits", 0, 0, "1200/19252 commits");         /* no bytes reported */
    progress_is(3, 0, "objects", 1500, 0, "3/0 objects, 1.5 kB");            /* total not known */
    progress_is(0, 0, "objects", 0, 999, "0 B of 999 B");                    /* bytes only */
    progress_is(5, 9, NULL, 999950, 2000000000000, "5/9, 1.0 MB of 2.0 TB"); /* no unit (events) */
    progress_is(0, 0, "ms", 0, 0, "");
    char out[32];
    cn_fmt_bytes(out, sizeof out, 999999);
    assert_string_equal(out, "1.0 MB"); /* never "1000.0 kB" */
    cn_fmt_bytes(out, sizeof out, UINT64_MAX);
    assert_string_equal(out, "18.4 EB");
}

/* Heads of (job, lease) for project 1, committed or not. */
static void put_heads(cn_shard_t *s, uint64_t job, uint64_t lease, bool commit) {
    cn_batch_t *b = cn_batch_new();
    Canopy__Heads h = CANOPY__HEADS__INIT;
    h.project_id = 1;
    h.job_id = job;
    h.lease_seq = lease;
    cn_repo_put_heads(b, &h);
    cn_job_commit_t jc = {.job_id = job, .attempt = 1, .lease_seq = lease, .kind = "download", .key_id = 1};
    assert_int_equal(commit ? cn_shard_commit_job(s, b, &jc) : cn_shard_append(s, b, true), 0);
    cn_batch_destroy(&b);
}

static bool won(void *arg, const Canopy__Heads *h) {
    return cn_stores_lease_won(arg, h->job_id, h->lease_seq);
}

static void test_only_the_highest_committed_lease_counts(void **state) {
    (void)state;
    cn_shard_opts_t o = {.create = true, .worker = "test"};
    cn_shard_t *sh[2] = {NULL, NULL};
    assert_int_equal(cn_shard_open("a", &o, &sh[0]), 0);
    assert_int_equal(cn_shard_open("b", &o, &sh[1]), 0);
    put_heads(sh[0], 5, 10, true);  /* fenced by lease 12 in the other shard */
    put_heads(sh[0], 7, 13, false); /* never committed */
    put_heads(sh[1], 5, 12, true);
    for (uint64_t job = 100; job < 400; job++) { /* enough jobs to grow the cache */
        cn_batch_t *b = cn_batch_new();
        cn_job_commit_t jc = {.job_id = job, .attempt = 1, .lease_seq = job + 1000, .kind = "noop"};
        assert_int_equal(cn_shard_commit_job(sh[job % 2], b, &jc), 0);
        cn_batch_destroy(&b);
    }
    char *names[2] = {cn_xstrdup("a"), cn_xstrdup("b")};
    cn_stores_t st = {.s = cn_xmemdup(sh, sizeof sh), .name = cn_xmemdup(names, sizeof names), .n = 2};
    assert_false(cn_stores_lease_won(&st, 5, 10));
    assert_true(cn_stores_lease_won(&st, 5, 12));
    assert_false(cn_stores_lease_won(&st, 7, 13));
    assert_true(cn_stores_lease_won(&st, 0, 99)); /* records older than job ids */
    for (int pass = 0; pass < 2; pass++)          /* the second pass reads the cache */
        for (uint64_t job = 100; job < 400; job++) {
            assert_true(cn_stores_lease_won(&st, job, job + 1000));
            assert_false(cn_stores_lease_won(&st, job, job + 999));
        }
    assert_int_equal(st.won.n, 2 + 300);
    Canopy__Heads *h = NULL;
    assert_int_equal(cn_repo_latest_heads(sh[0], 1, &h), 0); /* unfiltered: the newest */
    assert_int_equal(h->lease_seq, 13);
    cn_rec_free(&h->base);
    assert_int_equal(cn_repo_newest_heads(sh[0], 1, won, &st, &h), CN_ENOTFOUND);
    assert_int_equal(cn_repo_newest_heads(sh[1], 1, won, &st, &h), 0);
    assert_int_equal(h->lease_seq, 12);
    cn_rec_free(&h->base);
    cn_stores_close(&st);
}

static void test_state_names_round_trip(void **state) {
    (void)state;
    for (int st = 1; st <= 7; st++) assert_int_equal(cn_state_parse(cn_state_name(st)), st);
    assert_int_equal(cn_state_parse("sleepy"), 0);
    assert_true(cn_state_final(CANOPY__JOB_STATE__DEAD));
    assert_false(cn_state_final(CANOPY__JOB_STATE__FAILED)); /* failed attempts are retried */
    char d[32];
    cn_fmt_duration(d, sizeof d, 450);
    assert_string_equal(d, "450ms");
    cn_fmt_duration(d, sizeof d, 125000);
    assert_string_equal(d, "2m05s");
    char bar[16];
    cn_fmt_bar(bar, sizeof bar, 5, 10, 10);
    assert_string_equal(bar, "[#####.....]");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations_take_units_and_reject_junk),
        cmocka_unit_test(test_job_ids_are_positive_integers),
        cmocka_unit_test(test_option_values_both_spellings),
        cmocka_unit_test(test_sleep_kind_packs_its_spec_and_refuses_bad_args),
        cmocka_unit_test(test_kinds_are_listed_in_name_order),
        cmocka_unit_test(test_from_lines_carry_job_options),
        cmocka_unit_test(test_from_errors_name_the_line),
        cmocka_unit_test(test_after_lists),
        cmocka_unit_test(test_job_json_shows_spec_and_history),
        cmocka_unit_test(test_progress_text_says_units_then_bytes),
        cmocka_unit_test(test_state_names_round_trip),
        cmocka_unit_test(test_only_the_highest_committed_lease_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
