/* test_journal.c: the scan journal and its derived tables on a real shard
   (storage/journal.h, storage/scanidx.h): entries are written uncommitted and
   only committed ones are listed and indexed; ids increase strictly under
   concurrent appenders; --ls/--stat answers come from the index; dropping the
   index and replaying the journal gives byte-identical answers; a fenced
   second lease of a job is listed once, and `canopy query scan` lists a job's
   winning lease over the merged store's older copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "journal.h"
#include "scanidx.h"
#include "shard_fx.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void build(cn_buf_t *out, int variant) {
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/data", 5);
    const char *paths[] = {"", "bin", "bin/ls", "bin/sh", "etc", "etc/passwd", "etc/x\xff", "lib", "lib/l"};
    for (size_t i = 0; i < CN_ARRAY_LEN(paths); i++) {
        if (variant == 1 && strcmp(paths[i], "bin/sh") == 0) continue;
        bool dir = i == 0 || strchr(paths[i], '/') == NULL;
        cn_pstat_t st = {.type = dir ? CN_PT_DIR : CN_PT_FILE,
                         .mode = dir ? 040755 : 0100644,
                         .size = i * 10,
                         .mtime_ns = 1700000000000000000LL + (int64_t)i};
        const char *tg = NULL;
        if (strcmp(paths[i], "lib/l") == 0) {
            st.type = CN_PT_SYMLINK;
            tg = "../bin/ls";
        }
        assert_int_equal(cn_ptb_add(b, (const uint8_t *)paths[i], strlen(paths[i]), &st, (const uint8_t *)tg,
                                    tg ? strlen(tg) : 0),
                         0);
    }
    assert_int_equal(cn_ptb_finish(b, out, NULL, NULL), 0);
    cn_ptb_destroy(&b);
}

/* A scan of build(variant) stored as the scan job stores it. */
static uint64_t scan(cn_shard_t *s, const char *space, uint64_t job, uint64_t lease, int variant,
                     bool commit) {
    cn_buf_t data = {0};
    build(&data, variant);
    uint64_t id = put_scan(s, &data, space, 9, job, lease, 1000 + job, commit, NULL);
    cn_buf_free(&data);
    return id;
}

static int print_child(void *arg, const cn_scan_ent_t *e) {
    cn_buf_t *o = arg;
    cn_buf_printf(o, " %.*s:%u:%llu:%d", (int)e->name_len, (const char *)e->name, e->st.type,
                  (unsigned long long)e->st.size, e->link);
    if (e->link == CN_LINK_INSIDE) cn_buf_printf(o, "=%.*s", (int)e->resolved_len, (const char *)e->resolved);
    return 0;
}

/* Every answer the queries give, as one string. */
static void answers(cn_shard_t *s, cn_buf_t *o) {
    cn_scan_t *v = NULL;
    size_t n = 0;
    assert_int_equal(cn_scanidx_list(s, NULL, &v, &n), 0);
    const char *paths[] = {"",           "bin",       "bin/ls", "bin/sh", "etc",
                           "etc/passwd", "etc/x\xff", "lib",    "lib/l",  "nope"};
    for (size_t i = 0; i < n; i++) {
        cn_buf_printf(o, "scan %s job %llu jid %llu\n", v[i].meta->space, (unsigned long long)v[i].job_id,
                      (unsigned long long)v[i].journal_id);
        for (size_t p = 0; p < CN_ARRAY_LEN(paths); p++) {
            cn_buf_t raw = {0};
            cn_scan_ent_t e;
            int rc =
                cn_scanidx_stat(s, v[i].journal_id, (const uint8_t *)paths[p], strlen(paths[p]), &raw, &e);
            cn_buf_printf(o, "  stat %s rc %d", paths[p], rc);
            if (rc == 0) print_child(o, &e);
            cn_buf_reset(&raw);
            if (cn_scanidx_dir(s, v[i].journal_id, (const uint8_t *)paths[p], strlen(paths[p]), &raw) == 0) {
                cn_buf_printf(o, " ls");
                assert_int_equal(cn_scanidx_parse(raw.data, raw.len, NULL, print_child, o), 0);
            }
            cn_buf_putc(o, '\n');
            cn_buf_free(&raw);
        }
    }
    cn_scanidx_free(v, n);
}

static void test_journal_lists_and_indexes_only_committed_entries(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("shard0");
    uint64_t j1 = scan(s, "host:/data", 7, 1, 0, true);
    uint64_t j2 = scan(s, "host:/data", 8, 1, 1, false); /* the job died before its commit */
    uint64_t j3 = scan(s, "host:/data", 9, 1, 1, true);
    assert_true(j1 < j2 && j2 < j3);
    bool committed = true;
    Canopy__JournalEntry *e = NULL;
    assert_int_equal(cn_journal_get(s, j2, &e, &committed), 0);
    assert_false(committed);
    cn_rec_free(&e->base);
    assert_int_equal(cn_journal_get(s, j3, &e, &committed), 0);
    assert_true(committed);
    cn_buf_t data = {0};
    assert_int_equal(cn_journal_data(s, e, &data), 0);
    cn_rec_free(&e->base);
    cn_buf_free(&data);
    cn_scan_t *v = NULL;
    size_t n = 0;
    assert_int_equal(cn_scanidx_list(s, "host:/data", &v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].job_id, 7);
    assert_int_equal(v[1].job_id, 9);
    cn_scanidx_free(v, n);
    assert_int_equal(cn_scanidx_list(s, "other", &v, &n), 0);
    assert_int_equal(n, 0);
    cn_scanidx_free(v, n);
    /* stat and ls from the index */
    cn_buf_t raw = {0}, o = {0};
    cn_scan_ent_t ent;
    assert_int_equal(cn_scanidx_stat(s, j1, (const uint8_t *)"bin/sh", 6, &raw, &ent), 0);
    assert_int_equal(ent.st.size, 30);
    assert_int_equal(cn_scanidx_stat(s, j3, (const uint8_t *)"bin/sh", 6, &raw, &ent), CN_ENOTFOUND);
    assert_int_equal(cn_scanidx_stat(s, j1, (const uint8_t *)"lib/l", 5, &raw, &ent), 0);
    assert_int_equal(ent.link, CN_LINK_INSIDE);
    assert_memory_equal(ent.resolved, "bin/ls", 6);
    cn_buf_reset(&raw);
    assert_int_equal(cn_scanidx_dir(s, j1, (const uint8_t *)"etc", 3, &raw), 0);
    assert_int_equal(cn_scanidx_parse(raw.data, raw.len, NULL, print_child, &o), 0);
    assert_string_equal(cn_buf_cstr(&o), " passwd:2:50:0 x\xff:2:60:0");
    cn_buf_free(&raw);
    cn_buf_free(&o);
    cn_shard_close(&s);
}

static void test_journal_replay_rebuilds_identical_answers(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("shard1");
    scan(s, "a", 1, 1, 0, true);
    scan(s, "b", 2, 1, 1, true);
    scan(s, "a", 3, 1, 1, false);
    scan(s, "a", 4, 1, 1, true);
    cn_buf_t before = {0}, after = {0}, dropped = {0};
    answers(s, &before);
    assert_non_null(strstr(cn_buf_cstr(&before), "scan a job 4"));
    assert_int_equal(cn_shard_drop_cf(s, CN_CF_SCANIDX), 0);
    answers(s, &dropped);
    assert_int_equal(dropped.len, 0); /* nothing derived is left */
    cn_scanidx_stats_t st;
    assert_int_equal(cn_scanidx_rebuild(s, &st), 0);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.applied, 3);
    assert_int_equal(st.uncommitted, 1);
    answers(s, &after);
    assert_string_equal(cn_buf_cstr(&before), cn_buf_cstr(&after));
    /* and again, after reopening the shard */
    cn_shard_close(&s);
    s = open_writer("shard1");
    assert_int_equal(cn_scanidx_rebuild(s, &st), 0);
    cn_buf_reset(&after);
    answers(s, &after);
    assert_string_equal(cn_buf_cstr(&before), cn_buf_cstr(&after));
    cn_buf_free(&before);
    cn_buf_free(&after);
    cn_buf_free(&dropped);
    cn_shard_close(&s);
}

static void test_journal_lists_a_fenced_job_once(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("shard3");
    scan(s, "sp", 5, 1, 0, true);
    uint64_t j = scan(s, "sp", 5, 2, 1, true); /* the same job re-leased and committed again */
    cn_scan_t *v = NULL;
    size_t n = 0;
    assert_int_equal(cn_scanidx_list(s, "sp", &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].lease_seq, 2);
    assert_int_equal(v[0].journal_id, j);
    cn_scanidx_free(v, n);
    cn_shard_close(&s);
}

/* `canopy query scan` across stores: the merged store holds job 5's scan under
   lease 1, then a shard commits the job again under lease 2 (its first result
   was lost and the job re-leased). Only the winning lease's scan is listed,
   even though the merged store's copy is read first. */
static void test_query_lists_the_winning_lease_over_the_merged_copy(void **state) {
    (void)state;
    assert_int_equal(cn_mkdir_p("data/shards"), 0);
    cn_shard_t *m = open_writer("data/merged/gen-000001"), *w = open_writer("data/shards/w1");
    assert_int_equal(symlink("gen-000001", "data/merged/current"), 0); /* as a merge leaves it */
    scan(m, "sp", 5, 1, 0, true);
    uint64_t j7 = scan(m, "sp", 7, 4, 0, true); /* merged and never run again */
    uint64_t j = scan(w, "sp", 5, 2, 1, true);
    scan(w, "sp", 6, 3, 0, true);
    cn_shard_close(&m);
    cn_shard_close(&w);
    const char *bin = getenv("CN_BIN") ? getenv("CN_BIN") : ".";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s/canopy' --data data --json query scan sp", bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    char want[128];
    snprintf(want, sizeof want, "{\"job\":5,\"lease_seq\":2,\"journal_id\":%llu,\"shard\":\"w1\"",
             (unsigned long long)j);
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "\"lease_seq\":1,"));               /* the fenced copy */
    assert_non_null(strstr(out, "\"job\":6,\"lease_seq\":3,")); /* and the rest */
    snprintf(want, sizeof want, "{\"job\":7,\"lease_seq\":4,\"journal_id\":%llu,\"shard\":\"merged\"",
             (unsigned long long)j7);
    assert_non_null(strstr(out, want));
}

static void test_journal_replay_skips_an_unreadable_entry(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("shard5");
    scan(s, "a", 1, 1, 0, true);
    /* a committed entry whose data is not a path tree (a newer format, say) */
    Canopy__JournalCause cause = CANOPY__JOURNAL_CAUSE__INIT;
    cause.job_id = 2;
    cause.lease_seq = 1;
    Canopy__JournalEntry e = CANOPY__JOURNAL_ENTRY__INIT;
    e.type = (char *)"scan";
    e.cause = &cause;
    uint8_t hash[32];
    assert_int_equal(cn_journal_append(s, &e, "not a tree", 10, hash), 0);
    cn_batch_t *b = cn_batch_new();
    cn_journal_commit(b, &e);
    cn_job_commit_t jc = {.job_id = 2, .attempt = 1, .lease_seq = 1, .kind = "scan"};
    assert_int_equal(cn_shard_commit_job(s, b, &jc), 0);
    cn_batch_destroy(&b);
    scan(s, "a", 3, 1, 1, true);
    cn_scanidx_stats_t st;
    assert_int_equal(cn_scanidx_rebuild(s, &st), 0);
    assert_int_equal(st.applied, 2);
    assert_int_equal(st.unreadable, 1);
    cn_scan_t *v = NULL;
    size_t n = 0;
    assert_int_equal(cn_scanidx_list(s, "a", &v, &n), 0);
    assert_int_equal(n, 2);
    cn_scanidx_free(v, n);
    cn_shard_close(&s);
}

typedef struct {
    cn_shard_t *s;
    uint64_t ids[25];
} appender_t;

static void *append_many(void *arg) {
    appender_t *a = arg;
    for (int i = 0; i < 25; i++) {
        Canopy__JournalEntry e = CANOPY__JOURNAL_ENTRY__INIT;
        e.type = (char *)"test";
        uint8_t hash[32];
        char data[32];
        int n = snprintf(data, sizeof data, "%p %d", arg, i);
        if (cn_journal_append(a->s, &e, data, (size_t)n, hash) != 0) return NULL;
        a->ids[i] = e.journal_id;
    }
    return arg;
}

static void test_journal_ids_increase_strictly_under_concurrent_appends(void **state) {
    (void)state;
    cn_shard_t *s = open_writer("shard4");
    appender_t a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i].s = s;
        pthread_create(&t[i], NULL, append_many, &a[i]);
    }
    uint8_t seen[101] = {0};
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        assert_non_null(r);
        for (int k = 0; k < 25; k++) {
            assert_true(a[i].ids[k] >= 1 && a[i].ids[k] <= 100);
            assert_int_equal(seen[a[i].ids[k]]++, 0);
            if (k) assert_true(a[i].ids[k] > a[i].ids[k - 1]);
        }
    }
    assert_int_equal(cn_journal_last(s), 100);
    cn_shard_close(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_lists_and_indexes_only_committed_entries),
        cmocka_unit_test(test_journal_replay_rebuilds_identical_answers),
        cmocka_unit_test(test_journal_lists_a_fenced_job_once),
        cmocka_unit_test(test_query_lists_the_winning_lease_over_the_merged_copy),
        cmocka_unit_test(test_journal_replay_skips_an_unreadable_entry),
        cmocka_unit_test(test_journal_ids_increase_strictly_under_concurrent_appends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
