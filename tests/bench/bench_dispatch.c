/* bench_dispatch.c: durable no-op jobs/s from submit to succeeded through a real
   canopy-coordinator and canopy-workers, and the same work (put, reserve,
   delete) through beanstalkd with a C client, for tests/bench/dispatch.sh.
   Usage:
     bench_dispatch canopy CN_BIN DIR JOBS WORKERS SLOTS [fake]
       (fake: in-process no-op workers instead of canopy-worker processes)
     bench_dispatch latency CN_BIN DIR SAMPLES
     bench_dispatch beanstalk DIR JOBS CONSUMERS PORT [fsync]
       (fsync: beanstalkd -f0, an fsync per binlog write) */
#include "errors.h"
#include "net.h"
#include "util.h"
#include "wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 1000
#define WINDOW 20000

static pid_t children[16];
static int nchildren;

static pid_t spawn(char *const argv[]) {
    pid_t p = fork();
    if (p == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    children[nchildren++] = p;
    return p;
}

static void kill_children(void) {
    for (int i = nchildren - 1; i >= 0; i--) {
        kill(children[i], SIGTERM);
        waitpid(children[i], NULL, 0);
    }
    nchildren = 0;
}

static char *read_router(const char *dir) {
    char *f = cn_path_join(dir, "coordinator.endpoints");
    cn_buf_t b = {0};
    for (int i = 0; i < 1000 && cn_read_file(f, 4096, &b) != 0; i++) cn_sleep_ms(10);
    free(f);
    const char *s = cn_buf_cstr(&b), *p = strstr(s, "\"router\":\"");
    if (!p) {
        fprintf(stderr, "no coordinator.endpoints in %s\n", dir);
        exit(1);
    }
    p += 10;
    char *out = cn_xmemdup(p, (size_t)(strchr(p, '"') - p) + 1);
    out[strchr(p, '"') - p] = 0;
    cn_buf_free(&b);
    return out;
}

static pid_t start_coordinator(const char *bin, const char *dir, char **router) {
    char *exe = cn_xasprintf("%s/canopy-coordinator", bin);
    char *argv[] = {exe, (char *)"--data", (char *)dir, NULL};
    pid_t p = spawn(argv);
    free(exe);
    *router = read_router(dir);
    return p;
}

/* A "VmXXX:" figure of /proc/PID/status in KiB. */
static uint64_t vm_kib(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t kib = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) kib = strtoull(line + n, NULL, 10);
    if (f) fclose(f);
    return kib;
}

static uint64_t vm_hwm_kib(pid_t pid) {
    return vm_kib(pid, "VmHWM:");
}

/* user + system CPU seconds of a process so far. */
static double cpu_secs(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* fields after the command: state(3) ... utime(14) stime(15) */
    if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- canopy client ---- */

static void send_submit(cn_sock_t *s, uint64_t req_id, size_t n) {
    static Canopy__JobSpec specs[BATCH];
    static Canopy__JobSpec *sp[BATCH];
    for (size_t i = 0; i < n; i++) {
        canopy__job_spec__init(&specs[i]);
        specs[i].kind = (char *)"noop";
        sp[i] = &specs[i];
    }
    Canopy__Submit sub = CANOPY__SUBMIT__INIT;
    sub.job = sp;
    sub.n_job = n;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_SUBMIT;
    env.submit = &sub;
    env.req_id = req_id;
    if (cn_sock_send(s, NULL, &env, true) != 0) {
        fprintf(stderr, "submit: %s\n", cn_err_detail());
        exit(1);
    }
}

static void send_status(cn_sock_t *s, uint64_t req_id) {
    Canopy__StatusRequest sr = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &sr;
    env.req_id = req_id;
    cn_sock_send(s, NULL, &env, true);
}

/* Fake worker: a DEALER that runs every lease as a no-op and reports it at once. */
typedef struct {
    char *router;
    char name[32];
    unsigned slots;
    volatile int stop;
} fake_t;

static void fake_results(cn_sock_t *s, const char *name, Canopy__Leases *ls) {
    size_t n = ls->n_lease;
    Canopy__Result *r = cn_xcalloc(n, sizeof *r);
    Canopy__Result **rp = cn_xcalloc(n, sizeof *rp);
    for (size_t i = 0; i < n; i++) {
        canopy__result__init(&r[i]);
        r[i].job_id = ls->lease[i]->job_id;
        r[i].lease_seq = ls->lease[i]->lease_seq;
        r[i].outcome = CANOPY__OUTCOME__OK;
        rp[i] = &r[i];
    }
    Canopy__Results rs = CANOPY__RESULTS__INIT;
    rs.name = (char *)name;
    rs.result = rp;
    rs.n_result = n;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_RESULTS;
    env.results = &rs;
    cn_sock_send(s, NULL, &env, true);
    free(rp);
    free(r);
}

static void *fake_main(void *arg) {
    fake_t *f = arg;
    cn_sock_opts_t o = {.identity = f->name};
    cn_sock_t *s;
    cn_sock_new(CN_SOCK_DEALER, &o, &s);
    cn_sock_connect(s, f->router);
    Canopy__Hello h = CANOPY__HELLO__INIT;
    h.name = f->name;
    h.slots = f->slots;
    h.pid = (uint32_t)getpid();
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    cn_sock_send(s, NULL, &env, true);
    uint64_t last_hb = cn_mono_ms();
    while (!f->stop) {
        Canopy__Envelope *in;
        int rc = cn_sock_recv(s, NULL, &in, 100);
        if (rc == 0) {
            if (in->body_case == CANOPY__ENVELOPE__BODY_LEASES) fake_results(s, f->name, in->leases);
            cn_wire_free(in);
        }
        if (cn_mono_ms() - last_hb >= 500) {
            Canopy__Heartbeat hb = CANOPY__HEARTBEAT__INIT;
            hb.name = f->name;
            Canopy__Envelope e2 = CANOPY__ENVELOPE__INIT;
            e2.body_case = CANOPY__ENVELOPE__BODY_HEARTBEAT;
            e2.heartbeat = &hb;
            cn_sock_send(s, NULL, &e2, true);
            last_hb = cn_mono_ms();
        }
    }
    cn_sock_destroy(&s);
    return NULL;
}

/* Drains replies; sends a StatusRequest when may_send and none is pending.
   Returns the succeeded total of a StatusReply, or UINT64_MAX if none came. */
static uint64_t poll_status(cn_sock_t *s, uint64_t *req, bool may_send, bool *pending, bool *sent,
                            uint64_t *submitted_acked) {
    uint64_t succeeded = UINT64_MAX;
    Canopy__Envelope *env;
    *sent = false;
    while (cn_sock_recv(s, NULL, &env, 0) == 0) {
        if (env->body_case == CANOPY__ENVELOPE__BODY_SUBMIT_REPLY) {
            *submitted_acked += env->submit_reply->n_id;
        } else if (env->body_case == CANOPY__ENVELOPE__BODY_STATUS_REPLY) {
            succeeded = env->status_reply->succeeded_total;
            *pending = false;
        } else if (env->body_case == CANOPY__ENVELOPE__BODY_ERROR) {
            fprintf(stderr, "error: %s\n", env->error->message);
            exit(1);
        }
        cn_wire_free(env);
    }
    if (may_send && !*pending) {
        send_status(s, ++*req);
        *pending = *sent = true;
    }
    return succeeded;
}

static cn_sock_t *client(const char *router) {
    cn_sock_t *s;
    if (cn_sock_new(CN_SOCK_DEALER, NULL, &s) || cn_sock_connect(s, router)) {
        fprintf(stderr, "client: %s\n", cn_err_detail());
        exit(1);
    }
    return s;
}

static void start_workers(const char *bin, const char *dir, const char *router, int workers, unsigned slots,
                          bool fake, fake_t *fakes, pthread_t *threads) {
    for (int i = 0; i < workers; i++) {
        if (fake) {
            fakes[i].router = (char *)router;
            snprintf(fakes[i].name, sizeof fakes[i].name, "fake%d", i + 1);
            fakes[i].slots = slots;
            pthread_create(&threads[i], NULL, fake_main, &fakes[i]);
            continue;
        }
        char *exe = cn_xasprintf("%s/canopy-worker", bin);
        char *name = cn_xasprintf("w%d", i + 1), *sl = cn_xasprintf("%u", slots);
        char *argv[] = {exe,
                        (char *)"--data",
                        (char *)dir,
                        (char *)"--coordinator",
                        (char *)router,
                        (char *)"--name",
                        name,
                        (char *)"--slots",
                        sl,
                        NULL};
        spawn(argv);
        free(exe);
        free(name);
        free(sl);
    }
}

static void wait_workers(cn_sock_t *s, int workers) {
    for (int tries = 0; tries < 200; tries++) {
        send_status(s, 1);
        Canopy__Envelope *env;
        if (cn_sock_recv(s, NULL, &env, 1000) != 0) continue;
        int alive = 0;
        if (env->body_case == CANOPY__ENVELOPE__BODY_STATUS_REPLY)
            for (size_t i = 0; i < env->status_reply->n_worker; i++)
                alive += env->status_reply->worker[i]->alive;
        cn_wire_free(env);
        if (alive >= workers) return;
        cn_sleep_ms(50);
    }
    fprintf(stderr, "workers did not connect\n");
    exit(1);
}

static int run_canopy(const char *bin, const char *dir, uint64_t jobs, int workers, unsigned slots,
                      bool fake) {
    char *router;
    pid_t coord = start_coordinator(bin, dir, &router);
    fake_t fakes[8] = {0};
    pthread_t threads[8];
    start_workers(bin, dir, router, workers, slots, fake, fakes, threads);
    cn_sock_t *s = client(router);
    wait_workers(s, workers);
    uint64_t t0 = cn_mono_us(), submitted = 0, acked = 0, succeeded = 0, req = 10, last_poll = 0;
    bool pending = false;
    uint64_t rss[4] = {0};
    int quarter = 0;
    while (succeeded < jobs) {
        while (submitted < jobs && submitted - succeeded < WINDOW) {
            size_t n = (size_t)CN_MIN((uint64_t)BATCH, jobs - submitted);
            send_submit(s, ++req, n);
            submitted += n;
        }
        cn_sock_t *socks[1] = {s};
        bool ready, sent;
        cn_poll(socks, &ready, 1, 5);
        uint64_t now = cn_mono_us();
        /* At most 10 status polls a second: the client must not load the coordinator. */
        uint64_t got = poll_status(s, &req, now - last_poll > 100000, &pending, &sent, &acked);
        if (sent) last_poll = now;
        if (got != UINT64_MAX) succeeded = got;
        while (quarter < 4 && succeeded >= jobs * (quarter + 1) / 4) rss[quarter++] = vm_kib(coord, "VmRSS:");
    }
    double secs = (double)(cn_mono_us() - t0) / 1e6;
    printf("canopy: %llu durable no-op jobs, %d %s workers x %u slots: %.2f s, %.0f jobs/s\n",
           (unsigned long long)jobs, workers, fake ? "fake" : "canopy-worker", slots, secs,
           (double)jobs / secs);
    double cpu = cpu_secs(coord);
    printf("canopy: coordinator CPU %.2f s = %.1f us per job (%.0f jobs/s per core of coordinator time)\n",
           cpu, cpu * 1e6 / (double)jobs, (double)jobs / cpu);
    if (!fake) {
        double wcpu = 0;
        for (int i = 1; i < nchildren; i++) wcpu += cpu_secs(children[i]);
        printf("canopy: workers CPU %.2f s = %.1f us per job\n", wcpu, wcpu * 1e6 / (double)jobs);
    }
    printf(
        "canopy: coordinator peak RSS (VmHWM) %.1f MiB; RSS after 1/4, 2/4, 3/4, all jobs: %.0f, %.0f, %.0f, "
        "%.0f MiB\n",
        (double)vm_hwm_kib(coord) / 1024.0, (double)rss[0] / 1024.0, (double)rss[1] / 1024.0,
        (double)rss[2] / 1024.0, (double)rss[3] / 1024.0);
    fflush(stdout);
    for (int i = 0; i < workers && fake; i++) fakes[i].stop = 1;
    for (int i = 0; i < workers && fake; i++) pthread_join(threads[i], NULL);
    cn_sock_destroy(&s);
    kill_children();
    free(router);
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Submit-to-lease latency on an idle cluster: the LEASED event of each job. */
static int run_latency(const char *bin, const char *dir, int samples) {
    char *router;
    start_coordinator(bin, dir, &router);
    start_workers(bin, dir, router, 2, 4, false, NULL, NULL);
    cn_sock_t *s = client(router);
    wait_workers(s, 2);
    char *pub = cn_xasprintf("%.*s/events.sock", (int)(strrchr(router, '/') - router), router);
    cn_sock_t *sub;
    cn_sock_new(CN_SOCK_SUB, NULL, &sub);
    cn_sock_subscribe_all(sub);
    cn_sock_connect(sub, pub);
    cn_sleep_ms(300);
    uint64_t *lat = cn_xcalloc((size_t)samples, sizeof *lat);
    for (int i = 0; i < samples; i++) {
        uint64_t t0 = cn_mono_us(), id = 0, leased_at = 0, leased_id = 0;
        send_submit(s, 100 + (uint64_t)i, 1);
        while (!id || leased_id != id) {
            Canopy__Envelope *env;
            if (cn_sock_recv(s, NULL, &env, 0) == 0) {
                if (env->body_case == CANOPY__ENVELOPE__BODY_SUBMIT_REPLY) id = env->submit_reply->id[0];
                cn_wire_free(env);
            }
            if (cn_sock_recv(sub, NULL, &env, 1) == 0) {
                if (env->event->state == CANOPY__JOB_STATE__LEASED) {
                    leased_id = env->event->job_id;
                    leased_at = cn_mono_us();
                }
                cn_wire_free(env);
            }
        }
        lat[i] = leased_at - t0;
        cn_sleep_ms(2);
    }
    qsort(lat, (size_t)samples, sizeof *lat, cmp_u64);
    printf("canopy: submit-to-lease latency, idle cluster, %d jobs: p50 %.3f ms, p99 %.3f ms\n", samples,
           (double)lat[samples / 2] / 1000.0, (double)lat[samples * 99 / 100] / 1000.0);
    free(lat);
    free(pub);
    cn_sock_destroy(&sub);
    cn_sock_destroy(&s);
    kill_children();
    free(router);
    return 0;
}

/* ---- beanstalkd: a small C client of its text protocol ---- */

typedef struct {
    int fd;
    char buf[65536];
    size_t len, off;
} bconn_t;

static int bs_connect(bconn_t *c, int port) {
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static void bs_write(bconn_t *c, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w <= 0) {
            perror("beanstalkd write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one line (without \r\n) into out. */
static void bs_line(bconn_t *c, char *out, size_t max) {
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl) {
            size_t n = (size_t)(nl - (c->buf + c->off));
            size_t k = CN_MIN(n, max - 1);
            memcpy(out, c->buf + c->off, k);
            out[k > 0 && out[k - 1] == '\r' ? k - 1 : k] = 0;
            c->off += n + 1;
            return;
        }
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0) {
            fprintf(stderr, "beanstalkd closed the connection\n");
            exit(1);
        }
        c->len += (size_t)r;
    }
}

typedef struct {
    int port;
    uint64_t jobs;
    volatile uint64_t done; /* updated with atomics */
} bs_shared_t;

static void *bs_consumer(void *arg) {
    bs_shared_t *sh = arg;
    bconn_t c;
    if (bs_connect(&c, sh->port) != 0) return NULL;
    char line[256], cmd[128];
    bs_write(&c, "reserve-with-timeout 1\r\n", 24);
    for (;;) {
        bs_line(&c, line, sizeof line);
        unsigned long long id;
        if (sscanf(line, "RESERVED %llu", &id) != 1) {
            if (__atomic_load_n(&sh->done, __ATOMIC_RELAXED) >= sh->jobs) break;
            bs_write(&c, "reserve-with-timeout 1\r\n", 24);
            continue;
        }
        bs_line(&c, line, sizeof line); /* the (empty) body */
        /* Pipelined: delete this one and ask for the next in one write. */
        int n = snprintf(cmd, sizeof cmd, "delete %llu\r\nreserve-with-timeout 1\r\n", id);
        bs_write(&c, cmd, (size_t)n);
        bs_line(&c, line, sizeof line);
        if (strcmp(line, "DELETED") != 0) fprintf(stderr, "beanstalkd: %s\n", line);
        __atomic_add_fetch(&sh->done, 1, __ATOMIC_RELAXED);
    }
    close(c.fd);
    return NULL;
}

static int run_beanstalk(const char *dir, uint64_t jobs, int consumers, int port, bool fsync_each) {
    char *ports = cn_xasprintf("%d", port);
    char *argv[] = {(char *)"/usr/bin/beanstalkd",
                    (char *)"-b",
                    (char *)dir,
                    (char *)"-l",
                    (char *)"127.0.0.1",
                    (char *)"-p",
                    ports,
                    fsync_each ? (char *)"-f0" : NULL,
                    NULL};
    cn_mkdir_p(dir);
    spawn(argv);
    bconn_t p;
    bool up = false;
    for (int i = 0; i < 500 && !up; i++) {
        up = bs_connect(&p, port) == 0;
        if (!up) {
            close(p.fd);
            cn_sleep_ms(10);
        }
    }
    if (!up) {
        fprintf(stderr, "beanstalkd did not start on port %d\n", port);
        return 1;
    }
    bs_shared_t sh = {.port = port, .jobs = jobs};
    pthread_t th[8];
    uint64_t t0 = cn_mono_us();
    for (int i = 0; i < consumers; i++) pthread_create(&th[i], NULL, bs_consumer, &sh);
    const char put[] = "put 0 0 60 0\r\n\r\n";
    char line[256];
    cn_buf_t b = {0};
    for (uint64_t sent = 0; sent < jobs;) {
        while (sent - __atomic_load_n(&sh.done, __ATOMIC_RELAXED) >= WINDOW) cn_sleep_ms(1);
        size_t n = (size_t)CN_MIN((uint64_t)BATCH, jobs - sent);
        cn_buf_reset(&b);
        for (size_t i = 0; i < n; i++) cn_buf_append(&b, put, sizeof put - 1);
        bs_write(&p, (const char *)b.data, b.len);
        for (size_t i = 0; i < n; i++) {
            bs_line(&p, line, sizeof line);
            if (strncmp(line, "INSERTED", 8) != 0) fprintf(stderr, "beanstalkd: %s\n", line);
        }
        sent += n;
    }
    for (int i = 0; i < consumers; i++) pthread_join(th[i], NULL);
    double secs = (double)(cn_mono_us() - t0) / 1e6;
    printf("beanstalkd: %llu no-op jobs (put, reserve, delete; binlog -b, %s), "
           "%d consumers: %.2f s, %.0f jobs/s\n",
           (unsigned long long)jobs,
           fsync_each ? "-f0: fsync every binlog write" : "its default fsync every 50 ms", consumers, secs,
           (double)jobs / secs);
    fflush(stdout);
    cn_buf_free(&b);
    close(p.fd);
    free(ports);
    kill_children();
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_children);
    if (argc >= 7 && strcmp(argv[1], "canopy") == 0)
        return run_canopy(argv[2], argv[3], strtoull(argv[4], NULL, 10), (int)strtol(argv[5], NULL, 10),
                          (unsigned)strtoul(argv[6], NULL, 10), argc > 7 && strcmp(argv[7], "fake") == 0);
    if (argc == 5 && strcmp(argv[1], "latency") == 0)
        return run_latency(argv[2], argv[3], (int)strtol(argv[4], NULL, 10));
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "beanstalk") == 0)
        return run_beanstalk(argv[2], strtoull(argv[3], NULL, 10), (int)strtol(argv[4], NULL, 10),
                             (int)strtol(argv[5], NULL, 10), argc == 7 && strcmp(argv[6], "fsync") == 0);
    fprintf(stderr, "usage: bench_dispatch canopy CN_BIN DIR JOBS WORKERS SLOTS [fake]\n"
                    "       bench_dispatch latency CN_BIN DIR SAMPLES\n"
                    "       bench_dispatch beanstalk DIR JOBS CONSUMERS PORT [fsync]\n");
    return 2;
}
