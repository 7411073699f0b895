/* bench_worker.c: the worker side of dispatch. Runs W real canopy-worker
   processes against an in-process fake coordinator (a ROUTER that keeps every
   worker's credit full of no-op leases and acks each Results at once, with no
   durable queue) and prints no-op jobs/s through leases, slots, group commits and
   results. tests/bench/worker.sh compares it with beanstalkd (bench_beanstalk).
   Usage: bench_worker CN_BIN DIR [JOBS] [WORKERS] [SLOTS] */
#include "errors.h"
#include "net.h"
#include "util.h"
#include "wire.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    uint64_t jobs, issued, done, failed, next_id, results_msgs;
    unsigned slots;
    cn_sock_t *router;
} bench_t;

static void send_leases(bench_t *b, const cn_peer_t *to, size_t n) {
    n = CN_MIN(n, b->jobs - b->issued);
    if (n == 0) return;
    Canopy__Lease *l = cn_xcalloc(n, sizeof *l);
    Canopy__Lease **lp = cn_xcalloc(n, sizeof *lp);
    for (size_t i = 0; i < n; i++) {
        canopy__lease__init(&l[i]);
        l[i].job_id = ++b->next_id;
        l[i].attempt = 1;
        l[i].lease_seq = b->next_id;
        l[i].kind = (char *)"noop";
        lp[i] = &l[i];
    }
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__Leases ls = CANOPY__LEASES__INIT;
    ls.n_lease = n;
    ls.lease = lp;
    env.body_case = CANOPY__ENVELOPE__BODY_LEASES;
    env.leases = &ls;
    if (cn_sock_send(b->router, to, &env, true) == 0) b->issued += n;
    free(lp);
    free(l);
}

static void on_results(bench_t *b, const cn_peer_t *from, const Canopy__Results *rs) {
    Canopy__ResultAck *a = cn_xcalloc(rs->n_result ? rs->n_result : 1, sizeof *a);
    Canopy__ResultAck **ap = cn_xcalloc(rs->n_result ? rs->n_result : 1, sizeof *ap);
    for (size_t i = 0; i < rs->n_result; i++) {
        canopy__result_ack__init(&a[i]);
        a[i].job_id = rs->result[i]->job_id;
        a[i].lease_seq = rs->result[i]->lease_seq;
        a[i].accepted = true;
        ap[i] = &a[i];
        if (rs->result[i]->outcome != CANOPY__OUTCOME__OK) b->failed++;
    }
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    Canopy__ResultAcks acks = CANOPY__RESULT_ACKS__INIT;
    acks.n_ack = rs->n_result;
    acks.ack = ap;
    env.body_case = CANOPY__ENVELOPE__BODY_RESULT_ACKS;
    env.result_acks = &acks;
    cn_sock_send(b->router, from, &env, true);
    free(ap);
    free(a);
    b->done += rs->n_result;
    b->results_msgs++;
    send_leases(b, from, rs->n_result); /* credit came back */
}

static void on_message(bench_t *b, const cn_peer_t *from, const Canopy__Envelope *in) {
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    if (in->body_case == CANOPY__ENVELOPE__BODY_HELLO) {
        Canopy__Welcome w = CANOPY__WELCOME__INIT;
        w.heartbeat_ms = 1000;
        w.dead_after = 3;
        env.body_case = CANOPY__ENVELOPE__BODY_WELCOME;
        env.welcome = &w;
        cn_sock_send(b->router, from, &env, true);
        if (in->hello->slots) send_leases(b, from, in->hello->slots);
    } else if (in->body_case == CANOPY__ENVELOPE__BODY_HEARTBEAT) {
        Canopy__HeartbeatReply r = CANOPY__HEARTBEAT_REPLY__INIT;
        env.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT_REPLY;
        env.heartbeat_reply = &r;
        cn_sock_send(b->router, from, &env, true);
    } else if (in->body_case == CANOPY__ENVELOPE__BODY_RESULTS) {
        on_results(b, from, in->results);
    }
}

static pid_t spawn(const char *bin, const char *dir, const char *ep, int i, const char *slots) {
    char name[16], log[512];
    snprintf(name, sizeof name, "w%d", i);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "a", stderr)) _exit(127);
        execl(bin, bin, "--data", dir, "--coordinator", ep, "--name", name, "--slots", slots, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_worker CN_BIN DIR [JOBS] [WORKERS] [SLOTS]\n");
        return 2;
    }
    bench_t b = {.jobs = 200000};
    uint64_t workers = 2, slots = 256;
    if (argc > 3) cn_parse_u64(argv[3], &b.jobs);
    if (argc > 4) cn_parse_u64(argv[4], &workers);
    if (argc > 5) cn_parse_u64(argv[5], &slots);
    if (workers < 1 || workers > 64) workers = 2;
    char *bin = cn_xasprintf("%s/canopy-worker", argv[1]);
    char *ep = cn_xasprintf("ipc://%s/bench.sock", argv[2]);
    char slots_s[16];
    snprintf(slots_s, sizeof slots_s, "%llu", (unsigned long long)slots);
    if (cn_sock_new(CN_SOCK_ROUTER, NULL, &b.router) || cn_sock_bind(b.router, ep)) {
        fprintf(stderr, "bench_worker: %s\n", cn_err_detail());
        return 1;
    }
    pid_t pids[64];
    for (uint64_t i = 0; i < workers; i++) pids[i] = spawn(bin, argv[2], ep, (int)i + 1, slots_s);
    uint64_t t0 = 0, deadline = cn_mono_ms() + 120000;
    while (b.done < b.jobs && cn_mono_ms() < deadline) {
        cn_peer_t from;
        Canopy__Envelope *env;
        if (cn_sock_recv(b.router, &from, &env, 1000) != 0) continue;
        if (!t0 && env->body_case == CANOPY__ENVELOPE__BODY_HELLO) t0 = cn_mono_us();
        on_message(&b, &from, env);
        cn_wire_free(env);
    }
    double secs = (double)(cn_mono_us() - t0) / 1e6;
    printf("canopy-worker: %llu no-op jobs, %llu workers x %llu slots, fake coordinator: %.0f jobs/s "
           "(%.1f results per Results message, %llu failed)\n",
           (unsigned long long)b.done, (unsigned long long)workers, (unsigned long long)slots,
           (double)b.done / secs, b.results_msgs ? (double)b.done / (double)b.results_msgs : 0.0,
           (unsigned long long)b.failed);
    for (uint64_t i = 0; i < workers; i++) kill(pids[i], SIGTERM);
    /* Keep acking while they stop so that they exit at once. */
    uint64_t end = cn_mono_ms() + 5000;
    size_t exited = 0;
    while (exited < workers && cn_mono_ms() < end) {
        cn_peer_t from;
        Canopy__Envelope *env;
        if (cn_sock_recv(b.router, &from, &env, 50) == 0) {
            on_message(&b, &from, env);
            cn_wire_free(env);
        }
        while (exited < workers && waitpid(-1, NULL, WNOHANG) > 0) exited++;
    }
    cn_sock_destroy(&b.router);
    cn_net_shutdown();
    free(bin);
    free(ep);
    return b.done == b.jobs && b.failed == 0 ? 0 : 1;
}
