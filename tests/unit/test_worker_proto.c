/* test_worker_proto.c: the real canopy-worker process ($CN_BIN/canopy-worker)
   against a fake coordinator made of a real ZeroMQ ROUTER socket in this test:
   Hello with its slots and kinds, no more than `slots` jobs at once, Results only
   for leases it got (kept and resent until acked), Hello again after
   HeartbeatReply{unknown}, a new Hello when the coordinator goes silent, RELEASED
   and exit 0 on SIGTERM, and a kill -9ed worker restarted under the same name
   reopening its shard and reporting the unclean session; once idle its shard
   has no log left to replay; over tcp:// it uses CurveZMQ with the keys in its
   data dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "net.h"
#include "shard.h"
#include "util.h"
#include "wire.h"

typedef struct {
    char dir[64]; /* this test's data dir (relative to the test's cwd) */
    char sockdir[32];
    char ep[64];
    cn_sock_t *router;
    cn_peer_t peer;
    pid_t pid;
    unsigned dead_after; /* what Welcome says */
    bool answer_hb;      /* reply to heartbeats with an empty HeartbeatReply */
    size_t max_progress; /* most jobs a heartbeat reported running at once */
    size_t heartbeats;
} fc_t;

static int setup(void **state) {
    static int n;
    fc_t *c = cn_xcalloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "data-%d", n++);
    assert_int_equal(cn_mkdir_p(c->dir), 0);
    /* ipc:// paths are limited to about 100 bytes: keep the socket under /tmp. */
    snprintf(c->sockdir, sizeof c->sockdir, "/tmp/cnwp.XXXXXX");
    assert_non_null(mkdtemp(c->sockdir));
    snprintf(c->ep, sizeof c->ep, "ipc://%s/c.sock", c->sockdir);
    assert_int_equal(cn_sock_new(CN_SOCK_ROUTER, NULL, &c->router), 0);
    assert_int_equal(cn_sock_bind(c->router, c->ep), 0);
    c->answer_hb = true;
    c->dead_after = 10; /* 1 s of silence: robust on a loaded machine */
    memcpy(c->peer.id, "w1", 2);
    c->peer.len = 2;
    *state = c;
    return 0;
}

static int teardown(void **state) {
    fc_t *c = *state;
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    cn_sock_destroy(&c->router);
    cn_rm_rf(c->sockdir);
    free(c);
    return 0;
}

static void spawn(fc_t *c, const char *slots, const char *grace) {
    const char *bin_dir = getenv("CN_BIN") ? getenv("CN_BIN") : ".";
    char *bin = cn_xasprintf("%s/canopy-worker", bin_dir);
    char *log = cn_xasprintf("%s/w1.log", c->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, STDERR_FILENO);
        execl(bin, bin, "--data", c->dir, "--coordinator", c->ep, "--name", "w1", "--slots", slots,
              "--heartbeat-ms", "100", "--grace-ms", grace, (char *)NULL);
        _exit(127);
    }
    c->pid = pid;
    free(bin);
    free(log);
}

/* Waits for the worker to exit; returns its exit status (-1 if killed). */
static int wait_exit(fc_t *c, int timeout_ms) {
    uint64_t end = cn_mono_ms() + (uint64_t)timeout_ms;
    int st;
    while (cn_mono_ms() < end) {
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        cn_sleep_ms(10);
    }
    fail_msg("canopy-worker did not exit within %d ms", timeout_ms);
    return -1;
}

static void send_to(fc_t *c, Canopy__Envelope *env) {
    assert_int_equal(cn_sock_send(c->router, &c->peer, env, true), 0);
}

static void send_welcome(fc_t *c) {
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Welcome w = CANOPY__WELCOME__INIT;
    w.heartbeat_ms = 100;
    w.dead_after = c->dead_after;
    env.body_case = CANOPY__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    send_to(c, &env);
}

static void send_hb_reply(fc_t *c, bool unknown) {
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__HeartbeatReply r = CANOPY__HEARTBEAT_REPLY__INIT;
    r.unknown = unknown;
    env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY;
    env.heartbeat_reply = &r;
    send_to(c, &env);
}

/* Leases jobs [first, first+n) (lease_seq = 10 * job id) of one kind. */
static void send_leases(fc_t *c, uint64_t first, size_t n, const char *kind, uint32_t sleep_ms) {
    Canopy__SleepSpec s = CANOPY__SLEEP_SPEC__INIT;
    s.ms = sleep_ms;
    uint8_t spec[32];
    size_t slen = strcmp(kind, "sleep") == 0 ? canopy__sleep_spec__pack(&s, spec) : 0;
    Canopy__Lease *l = cn_xcalloc(n, sizeof *l);
    Canopy__Lease **lp = cn_xcalloc(n, sizeof *lp);
    for (size_t i = 0; i < n; i++) {
        canopy__lease__init(&l[i]);
        l[i].job_id = first + i;
        l[i].attempt = 1;
        l[i].lease_seq = 10 * (first + i);
        l[i].kind = (char *)kind;
        l[i].spec = (ProtobufCBinaryData){.len = slen, .data = spec};
        lp[i] = &l[i];
    }
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Leases ls = CANOPY__LEASES__INIT;
    ls.n_lease = n;
    ls.lease = lp;
    env.body_case = CANOPY__ENVELOPE__BODY_LEASES;
    env.leases = &ls;
    send_to(c, &env);
    free(lp);
    free(l);
}

static void send_acks(fc_t *c, const Canopy__Results *rs) {
    Canopy__ResultAck *a = cn_xcalloc(rs->n_result, sizeof *a);
    Canopy__ResultAck **ap = cn_xcalloc(rs->n_result, sizeof *ap);
    for (size_t i = 0; i < rs->n_result; i++) {
        canopy__result_ack__init(&a[i]);
        a[i].job_id = rs->result[i]->job_id;
        a[i].lease_seq = rs->result[i]->lease_seq;
        a[i].accepted = true;
        ap[i] = &a[i];
    }
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__ResultAcks acks = CANOPY__RESULT_ACKS__INIT;
    acks.n_ack = rs->n_result;
    acks.ack = ap;
    env.body_case = CANOPY__ENVELOPE__BODY_RESULT_ACKS;
    env.result_acks = &acks;
    send_to(c, &env);
    free(ap);
    free(a);
}

/* Receives until a message with body `want` arrives (heartbeats are counted and
   answered on the way unless want is a heartbeat). Any other body fails. */
static Canopy__Envelope *expect(fc_t *c, Canopy__Envelope__BodyCase want, int timeout_ms) {
    uint64_t end = cn_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = cn_mono_ms();
        if (now >= end) fail_msg("no %d message within %d ms", (int)want, timeout_ms);
        Canopy__Envelope *env = NULL;
        cn_peer_t from;
        int rc = cn_sock_recv(c->router, &from, &env, (int)(end - now));
        if (rc == CN_EAGAIN) continue;
        assert_int_equal(rc, 0);
        if (from.len != 2 || memcmp(from.id, "w1", 2) != 0) {
            /* The pipe the worker left when it reconnected: the ROUTER handed "w1"
               to the new pipe and renamed the old one, whose last heartbeat may
               still come in. Only a heartbeat may. */
            assert_int_equal(env->body_case, CANOPY__ENVELOPE__BODY_HEARTBEAT);
            cn_wire_free(env);
            continue;
        }
        if (env->body_case == CANOPY__ENVELOPE__BODY_HEARTBEAT) {
            c->heartbeats++;
            c->max_progress = CN_MAX(c->max_progress, env->heartbeat->n_progress);
            assert_string_equal(env->heartbeat->name, "w1");
        }
        if (env->body_case == want) return env;
        if (env->body_case != CANOPY__ENVELOPE__BODY_HEARTBEAT)
            fail_msg("expected body %d, got %s", (int)want, cn_wire_body_name(env));
        if (c->answer_hb) send_hb_reply(c, false);
        cn_wire_free(env);
    }
}

static void hello_welcome(fc_t *c, const char *slots) {
    Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_HELLO, 10000);
    Canopy__Hello *h = env->hello;
    assert_string_equal(h->name, "w1");
    assert_int_equal(h->slots, strtoul(slots, NULL, 10));
    assert_int_equal(h->pid, c->pid);
    bool noop = false, sleep = false;
    for (size_t i = 0; i < h->n_kinds; i++) {
        noop |= strcmp(h->kinds[i], "noop") == 0;
        sleep |= strcmp(h->kinds[i], "sleep") == 0;
    }
    assert_true(noop && sleep);
    assert_int_equal(h->n_running, 0);
    cn_wire_free(env);
    send_welcome(c);
}

/* Collects n results (acking each Results message); seen[job - base] counts. */
static void collect_results(fc_t *c, size_t n, uint64_t base, int *seen, size_t nseen, Canopy__Outcome want) {
    size_t got = 0;
    while (got < n) {
        Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_RESULTS, 10000);
        Canopy__Results *rs = env->results;
        assert_string_equal(rs->name, "w1");
        for (size_t i = 0; i < rs->n_result; i++) {
            Canopy__Result *r = rs->result[i];
            assert_true(r->job_id >= base && r->job_id < base + nseen); /* only leases it got */
            assert_int_equal(r->lease_seq, 10 * r->job_id);
            assert_int_equal(r->outcome, want);
            seen[r->job_id - base]++;
            got++;
        }
        send_acks(c, rs);
        cn_wire_free(env);
    }
}

static void stop_worker(fc_t *c) {
    /* A heartbeat proves it took our Welcome (it is READY). */
    Canopy__Envelope *hb = expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000);
    cn_wire_free(hb);
    send_hb_reply(c, false);
    kill(c->pid, SIGTERM);
    Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_HELLO, 5000);
    assert_int_equal(env->hello->slots, 0); /* no more leases, please */
    cn_wire_free(env);
    env = expect(c, CANOPY__ENVELOPE__BODY_BYE, 5000);
    cn_wire_free(env);
    assert_int_equal(wait_exit(c, 5000), 0);
}

static bool shard_has_commit(fc_t *c, uint64_t job) {
    char *dir = cn_xasprintf("%s/shards/w1", c->dir);
    cn_shard_opts_t so = {.read_only = true};
    cn_shard_t *s = NULL;
    assert_int_equal(cn_shard_open(dir, &so, &s), 0);
    Canopy__JobCommit *jc = NULL;
    int rc = cn_shard_job_commit(s, job, 10 * job, &jc);
    if (jc) cn_rec_free(&jc->base);
    cn_shard_close(&s);
    free(dir);
    return rc == 0;
}

static void test_runs_at_most_slots_jobs_and_reports_each_lease_once(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "1000");
    hello_welcome(c, "2");
    /* Four 400 ms sleeps on two slots: two rounds, never three at once. */
    uint64_t t0 = cn_mono_ms();
    send_leases(c, 100, 4, "sleep", 400);
    int seen[7] = {0};
    collect_results(c, 4, 100, seen, 7, CANOPY__OUTCOME__OK);
    assert_true(cn_mono_ms() - t0 >= 780);
    assert_true(c->max_progress >= 1 && c->max_progress <= 2);
    send_leases(c, 104, 3, "noop", 0);
    collect_results(c, 3, 100, seen, 7, CANOPY__OUTCOME__OK);
    for (int i = 0; i < 7; i++) assert_int_equal(seen[i], 1);
    stop_worker(c);
    for (uint64_t j = 100; j < 107; j++) assert_true(shard_has_commit(c, j));
}

static void test_unknown_gets_hello_again_and_unacked_results_resent(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "1000");
    hello_welcome(c, "2");
    send_leases(c, 5, 1, "noop", 0);
    Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_RESULTS, 5000);
    assert_int_equal(env->results->n_result, 1);
    assert_int_equal(env->results->result[0]->job_id, 5);
    cn_wire_free(env); /* not acked */
    env = expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000);
    cn_wire_free(env);
    send_hb_reply(c, true);
    env = expect(c, CANOPY__ENVELOPE__BODY_HELLO, 5000);
    /* The unacked lease is still listed so a coordinator keeps it. */
    assert_int_equal(env->hello->n_running, 1);
    assert_int_equal(env->hello->running[0]->job_id, 5);
    assert_int_equal(env->hello->running[0]->lease_seq, 50);
    assert_int_equal(env->hello->slots, 2);
    cn_wire_free(env);
    send_welcome(c);
    int seen[1] = {0};
    collect_results(c, 1, 5, seen, 1, CANOPY__OUTCOME__OK);
    assert_int_equal(seen[0], 1);
    stop_worker(c);
}

static void test_silent_coordinator_gets_a_new_hello(void **state) {
    fc_t *c = *state;
    c->dead_after = 3;
    spawn(c, "1", "1000");
    hello_welcome(c, "1");
    c->answer_hb = false; /* 3 x 100 ms of silence: the worker reconnects */
    uint64_t t0 = cn_mono_ms();
    Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_HELLO, 5000);
    assert_true(cn_mono_ms() - t0 >= 250);
    assert_true(c->heartbeats >= 2);
    cn_wire_free(env);
    c->answer_hb = true;
    send_welcome(c);
    /* Bad input never crashes it: a garbage frame is dropped, work goes on. */
    assert_int_equal(cn_sock_send_raw(c->router, &c->peer, "\xff\x01garbage", 9, true), 0);
    send_leases(c, 7, 1, "noop", 0);
    int seen[1] = {0};
    collect_results(c, 1, 7, seen, 1, CANOPY__OUTCOME__OK);
    stop_worker(c);
}

/* Bytes in the shard's write-ahead logs (RocksDB's *.log files). */
static uint64_t log_bytes(fc_t *c) {
    char *pat = cn_xasprintf("%s/shards/w1/*.log", c->dir);
    glob_t g;
    uint64_t n = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            if (stat(g.gl_pathv[i], &st) == 0) n += (uint64_t)st.st_size;
        }
        globfree(&g);
    }
    free(pat);
    return n;
}

/* Once idle, the worker writes its shard's memtables out: a query opening the
   shard then has no log to replay (it replayed the whole log before). */
static void test_idle_worker_leaves_no_log_to_replay(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "1000");
    hello_welcome(c, "2");
    send_leases(c, 30, 2, "noop", 0);
    int seen[2] = {0};
    collect_results(c, 2, 30, seen, 2, CANOPY__OUTCOME__OK);
    uint64_t end = cn_mono_ms() + 5000;
    while (log_bytes(c) > 0 && cn_mono_ms() < end) {
        Canopy__Envelope *hb = expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000);
        send_hb_reply(c, false);
        cn_wire_free(hb);
    }
    assert_int_equal(log_bytes(c), 0);
    stop_worker(c);
}

static void test_sigterm_releases_a_long_sleep_and_exits_0(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "300");
    hello_welcome(c, "2");
    send_leases(c, 9, 1, "sleep", 60000);
    do { /* wait until it runs */
        Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000);
        send_hb_reply(c, false);
        cn_wire_free(env);
    } while (c->max_progress == 0);
    kill(c->pid, SIGTERM);
    Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_HELLO, 5000);
    assert_int_equal(env->hello->slots, 0);
    assert_int_equal(env->hello->n_running, 1);
    cn_wire_free(env);
    send_welcome(c);
    /* A lease that arrives while stopping is handed back at once. */
    send_leases(c, 10, 1, "noop", 0);
    int seen[2] = {0};
    collect_results(c, 2, 9, seen, 2, CANOPY__OUTCOME__RELEASED);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    env = expect(c, CANOPY__ENVELOPE__BODY_BYE, 5000);
    assert_string_equal(env->bye->name, "w1");
    cn_wire_free(env);
    assert_int_equal(wait_exit(c, 5000), 0);
    assert_false(shard_has_commit(c, 9));
    assert_false(shard_has_commit(c, 10));
}

static void test_kill9_restart_reopens_the_same_shard(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "1000");
    hello_welcome(c, "2");
    send_leases(c, 11, 1, "noop", 0);
    int seen[1] = {0};
    collect_results(c, 1, 11, seen, 1, CANOPY__OUTCOME__OK);
    kill(c->pid, SIGKILL);
    assert_int_equal(wait_exit(c, 5000), -1);

    spawn(c, "2", "1000");
    hello_welcome(c, "2"); /* same name, nothing running */
    cn_buf_t log = {0};
    char *path = cn_xasprintf("%s/w1.log", c->dir);
    assert_int_equal(cn_read_file(path, 1 << 20, &log), 0);
    assert_non_null(strstr(cn_buf_cstr(&log), "uncleanly"));
    cn_buf_free(&log);
    free(path);
    stop_worker(c);
    assert_true(shard_has_commit(c, 11)); /* the first run's commit, same shard */
}

static void test_heartbeat_reply_cancels_and_fences_running_jobs(void **state) {
    fc_t *c = *state;
    spawn(c, "2", "1000");
    hello_welcome(c, "2");
    send_leases(c, 20, 2, "sleep", 60000);
    while (c->max_progress < 2) cn_wire_free(expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000));
    /* Job 20 is cancelled by the user; job 21's lease was given to someone else. */
    Canopy__LeaseRef cancel = CANOPY__LEASE_REF__INIT, stale = CANOPY__LEASE_REF__INIT;
    cancel.job_id = 20;
    cancel.lease_seq = 200;
    stale.job_id = 21;
    stale.lease_seq = 210;
    Canopy__LeaseRef *cp = &cancel, *sp = &stale;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__HeartbeatReply r = CANOPY__HEARTBEAT_REPLY__INIT;
    r.n_cancel = 1;
    r.cancel = &cp;
    r.n_stale = 1;
    r.stale = &sp;
    env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY;
    env.heartbeat_reply = &r;
    uint64_t t0 = cn_mono_ms();
    send_to(c, &env);
    Canopy__Envelope *res = expect(c, CANOPY__ENVELOPE__BODY_RESULTS, 5000);
    assert_true(cn_mono_ms() - t0 < 1000);       /* stops within a second */
    assert_int_equal(res->results->n_result, 1); /* nothing for the fenced lease */
    assert_int_equal(res->results->result[0]->job_id, 20);
    assert_int_equal(res->results->result[0]->outcome, CANOPY__OUTCOME__CANCELED);
    send_acks(c, res->results);
    cn_wire_free(res);
    /* Job 21 stops too (its slice ends within 50 ms): it leaves the heartbeats,
       and no result ever comes for it (expect() fails on any Results). */
    uint64_t end = cn_mono_ms() + 2000;
    for (int quiet = 0; quiet < 3;) {
        Canopy__Envelope *hb = expect(c, CANOPY__ENVELOPE__BODY_HEARTBEAT, 5000);
        if (hb->heartbeat->n_progress == 0) {
            assert_int_equal(hb->heartbeat->free_slots, 2);
            quiet++;
        } else {
            assert_int_equal(quiet, 0);
            assert_true(cn_mono_ms() < end);
        }
        cn_wire_free(hb);
        send_hb_reply(c, false);
    }
    stop_worker(c);
    assert_false(shard_has_commit(c, 20));
    assert_false(shard_has_commit(c, 21));
}

/* Keeps the worker's credit full of noop leases for a while, kills it with
   kill -9 in the middle of it, then checks that every result it had sent names a
   job whose commit record is in its shard: results go out only after the
   group commit (DESIGN §2.4). */
static void test_every_result_sent_is_committed_even_after_kill9(void **state) {
    fc_t *c = *state;
    spawn(c, "64", "1000");
    hello_welcome(c, "64");
    enum { MAX = 100000 };
    uint64_t *ok = cn_xcalloc(MAX, sizeof *ok);
    size_t nok = 0;
    uint64_t next = 1000;
    send_leases(c, next, 64, "noop", 0);
    next += 64;
    uint64_t end = cn_mono_ms() + 700;
    while (cn_mono_ms() < end && nok + 64 < MAX) {
        Canopy__Envelope *env = expect(c, CANOPY__ENVELOPE__BODY_RESULTS, 5000);
        Canopy__Results *rs = env->results;
        for (size_t i = 0; i < rs->n_result; i++) {
            assert_int_equal(rs->result[i]->outcome, CANOPY__OUTCOME__OK);
            ok[nok++] = rs->result[i]->job_id;
        }
        send_acks(c, rs);
        send_leases(c, next, rs->n_result, "noop", 0); /* credit came back */
        next += rs->n_result;
        cn_wire_free(env);
    }
    kill(c->pid, SIGKILL);
    assert_int_equal(wait_exit(c, 5000), -1);
    assert_true(nok > 64);
    char *dir = cn_xasprintf("%s/shards/w1", c->dir);
    cn_shard_opts_t so = {.read_only = true};
    cn_shard_t *sh = NULL;
    assert_int_equal(cn_shard_open(dir, &so, &sh), 0);
    for (size_t i = 0; i < nok; i++) {
        Canopy__JobCommit *jc = NULL;
        if (cn_shard_job_commit(sh, ok[i], 10 * ok[i], &jc) != 0)
            fail_msg("job %llu: result without commit", (unsigned long long)ok[i]);
        cn_rec_free(&jc->base);
    }
    cn_shard_close(&sh);
    free(dir);
    free(ok);
}

static void write_key(fc_t *c, const char *name, const char *ext, const char *key) {
    char *dir = cn_xasprintf("%s/keys", c->dir);
    char *path = cn_xasprintf("%s/%s.%s", dir, name, ext);
    assert_int_equal(cn_mkdir_p(dir), 0);
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", key);
    assert_int_equal(cn_write_file_atomic(path, line, (size_t)n), 0);
    free(path);
    free(dir);
}

/* Replaces the ipc ROUTER with a CurveZMQ ROUTER on a free loopback port. */
static void curve_router(fc_t *c, const char *server_secret) {
    cn_sock_destroy(&c->router);
    cn_sock_opts_t o = {.curve_server = true, .curve_secret = server_secret};
    for (int i = 0; i < 50; i++) {
        snprintf(c->ep, sizeof c->ep, "tcp://127.0.0.1:%d", 20000 + (int)((cn_mono_us() / 7) % 30000));
        assert_int_equal(cn_sock_new(CN_SOCK_ROUTER, &o, &c->router), 0);
        if (cn_sock_bind(c->router, c->ep) == 0) return;
        cn_sock_destroy(&c->router);
    }
    fail_msg("no free loopback port");
}

static void test_curve_over_tcp_uses_the_workers_key(void **state) {
    fc_t *c = *state;
    char spub[41], ssec[41], wpub[41], wsec[41], opub[41], osec[41];
    assert_int_equal(cn_curve_keypair(spub, ssec), 0);
    assert_int_equal(cn_curve_keypair(wpub, wsec), 0);
    assert_int_equal(cn_curve_keypair(opub, osec), 0);
    const char *allowed[] = {wpub};
    assert_int_equal(cn_zap_start(allowed, 1), 0);
    curve_router(c, ssec);
    write_key(c, "coordinator", "public", spub);
    write_key(c, "w1", "public", wpub);
    write_key(c, "w1", "secret", wsec);
    spawn(c, "1", "1000");
    hello_welcome(c, "1");
    send_leases(c, 12, 1, "noop", 0);
    int seen[1] = {0};
    collect_results(c, 1, 12, seen, 1, CANOPY__OUTCOME__OK);
    stop_worker(c);

    /* A key the coordinator does not allow: the handshake fails, no Hello. */
    write_key(c, "w1", "public", opub);
    write_key(c, "w1", "secret", osec);
    spawn(c, "1", "1000");
    Canopy__Envelope *env = NULL;
    assert_int_equal(cn_sock_recv(c->router, NULL, &env, 1500), CN_EAGAIN);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_at_most_slots_jobs_and_reports_each_lease_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_gets_hello_again_and_unacked_results_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_silent_coordinator_gets_a_new_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_worker_leaves_no_log_to_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_releases_a_long_sleep_and_exits_0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_restart_reopens_the_same_shard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_reply_cancels_and_fences_running_jobs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_result_sent_is_committed_even_after_kill9, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_curve_over_tcp_uses_the_workers_key, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cn_net_shutdown();
    return rc;
}
