/* main.c: canopy-worker's command line. Parses arguments, finds the coordinator,
   opens the worker's shard (<data>/shards/<name>/) and scratch directory, installs
   the SIGTERM/SIGINT handlers and runs the loop in worker.c. Single-threaded
   until cn_worker_run starts the slots. */
#include "errors.h"
#include "log.h"
#include "net.h"
#include "shard.h"
#include "util.h"
#include "worker.h"
#include "wproto.h"

#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig) {
    (void)sig;
    if (stop_signals < 100) stop_signals++;
}

static const char usage[] =
    "usage: canopy-worker [options]\n"
    "Runs jobs for a canopy coordinator in N slots and appends what they produce\n"
    "to this worker's shard (<data>/shards/<name>/).\n"
    "\n"
    "  --data DIR          data directory (default ./canopy-data)\n"
    "  --coordinator EP    coordinator ROUTER endpoint (default: \"router\" in\n"
    "                      <data>/coordinator.endpoints, else ipc://<data>/coordinator.sock)\n"
    "  --name NAME         stable worker name: its shard and scratch directories\n"
    "                      (default <hostname>-<n>, the first n whose shard is free)\n"
    "  --slots N           jobs run at once (default: number of cores)\n"
    "  --heartbeat-ms N    heartbeat interval (default: what the coordinator says)\n"
    "  --grace-ms N        on SIGTERM, how long running jobs may finish before they\n"
    "                      are released to other workers (default 10000)\n"
    "  --key NAME          over tcp://, use the CurveZMQ key pair <data>/keys/NAME.public\n"
    "                      and NAME.secret (default: the worker's name, else \"worker\")\n"
    "                      with the coordinator's <data>/keys/coordinator.public\n"
    "  --help              show this help\n"
    "\n"
    "SIGTERM or SIGINT stops it cleanly (a second one releases running jobs at once).\n";

typedef struct {
    const char *data;
    const char *coordinator;
    const char *name;
    const char *key;
    uint64_t slots, heartbeat_ms, grace_ms;
} args_t;

static int parse_num(const char *opt, const char *s, uint64_t max, uint64_t *out) {
    if (!cn_parse_u64(s, out) || *out > max) {
        fprintf(stderr, "canopy-worker: %s wants a number up to %llu, not \"%s\"\n", opt,
                (unsigned long long)max, s);
        return -1;
    }
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error. */
static int parse_args(int argc, char **argv, args_t *a) {
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"coordinator", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},
        {"slots", required_argument, NULL, 's'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"grace-ms", required_argument, NULL, 'g'},
        {"key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *a = (args_t){.data = "./canopy-data", .slots = cores > 0 ? (uint64_t)cores : 1, .grace_ms = 10000};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'd':
            a->data = optarg;
            break;
        case 'c':
            a->coordinator = optarg;
            break;
        case 'n':
            a->name = optarg;
            break;
        case 'k':
            a->key = optarg;
            break;
        case 's':
            rc = parse_num("--slots", optarg, 4096, &a->slots);
            break;
        case 'b':
            rc = parse_num("--heartbeat-ms", optarg, 600000, &a->heartbeat_ms);
            break;
        case 'g':
            rc = parse_num("--grace-ms", optarg, 86400000, &a->grace_ms);
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        default:
            fputs(usage, stderr);
            return -1;
        }
        if (rc) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "canopy-worker: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return -1;
    }
    if (a->slots == 0) {
        fprintf(stderr, "canopy-worker: --slots must be at least 1\n");
        return -1;
    }
    if (a->name && (!a->name[0] || strchr(a->name, '/') || strcmp(a->name, ".") == 0 ||
                    strcmp(a->name, "..") == 0 || strlen(a->name) > 200)) {
        fprintf(stderr, "canopy-worker: --name must be 1-200 characters without '/'\n");
        return -1;
    }
    return 0;
}

static int open_shard(const char *data, const char *name, cn_shard_t **out) {
    char *shards = cn_path_join(data, "shards");
    char *dir = cn_path_join(shards, name);
    int rc = cn_mkdir_p(shards);
    cn_shard_opts_t so = {.create = true, .worker = name};
    if (rc == 0) rc = cn_shard_open(dir, &so, out);
    free(dir);
    free(shards);
    return rc;
}

/* Opens the named shard, or picks <hostname>-<n>: the first whose shard no other
   worker holds, so a restarted worker gets its old name back. *name is owned. */
static int open_named_shard(const char *data, const char *want, char **name, cn_shard_t **out) {
    if (want) {
        *name = cn_xstrdup(want);
        return open_shard(data, want, out);
    }
    char host[256];
    cn_hostname(host, sizeof host);
    for (int n = 1; n <= 64; n++) {
        *name = cn_xasprintf("%s-%d", host, n);
        int rc = open_shard(data, *name, out);
        if (rc != CN_ELOCKED) return rc;
        free(*name);
    }
    *name = NULL;
    return cn_err(CN_ELOCKED, "64 workers of host %s already run on %s; pass --name", host, data);
}

typedef struct {
    char *server, *pub, *sec;
} keys_t;

static void keys_free(keys_t *k) {
    free(k->server);
    free(k->pub);
    free(k->sec);
    *k = (keys_t){0};
}

/* Over tcp://: the coordinator's public key and our key pair (--key; else the
   worker's name, else "worker"), all three or none. */
static void find_keys(const char *data, const char *endpoint, const char *key, const char *name, keys_t *k) {
    *k = (keys_t){0};
    if (strncmp(endpoint, "tcp://", 6) != 0) return;
    const char *names[] = {key ? key : name, key ? NULL : "worker"};
    for (size_t i = 0; i < CN_ARRAY_LEN(names) && names[i] && !k->sec; i++) {
        free(k->pub);
        k->pub = cn_curve_data_key(data, names[i], "public");
        k->sec = k->pub ? cn_curve_data_key(data, names[i], "secret") : NULL;
    }
    k->server = cn_curve_data_key(data, "coordinator", "public");
    if (k->server && k->pub && k->sec) {
        CN_INFO("CurveZMQ to %s with keys from %s/keys/", endpoint, data);
        return;
    }
    CN_WARN("%s without CurveZMQ: %s/keys/ has no %s", endpoint, data,
            k->server ? "key pair for this worker (canopy keygen --name NAME)" : "coordinator.public");
    keys_free(k);
}

static void install_signals(void) {
    /* Blocked here, so every thread started from now on (RocksDB, ZeroMQ, slots)
       inherits the block; cn_worker_run unblocks them on the loop thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int run(const args_t *a, const char *data) {
    char *name = NULL, *endpoints_file = NULL, *endpoint = NULL, *scratch = NULL, *sdir = NULL;
    cn_shard_t *shard = NULL;
    int rc = open_named_shard(data, a->name, &name, &shard);
    if (rc) {
        fprintf(stderr, "canopy-worker: cannot open the shard: %s\n", cn_err_detail());
        goto out;
    }
    char comp[256];
    snprintf(comp, sizeof comp, "worker %s", name);
    cn_log_init(comp, CN_LOG_INFO);
    if (cn_shard_info(shard)->unclean_last_session)
        CN_WARN("shard %s: the previous session ended uncleanly (worker killed?); its uncommitted jobs "
                "left only unreferenced data",
                cn_shard_dir(shard));
    sdir = cn_path_join(data, "scratch");
    scratch = cn_path_join(sdir, name);
    if ((rc = cn_mkdir_p(scratch)) != 0) {
        CN_ERROR("cannot create the scratch directory: %s", cn_err_detail());
        goto out;
    }
    if (a->coordinator) {
        endpoint = cn_xstrdup(a->coordinator);
    } else {
        endpoints_file = cn_path_join(data, "coordinator.endpoints");
        endpoint = cn_wp_read_router(endpoints_file);
        if (!endpoint) endpoint = cn_xasprintf("ipc://%s/coordinator.sock", data);
    }
    keys_t keys;
    find_keys(data, endpoint, a->key, name, &keys);
    cn_worker_opts_t wo = {.name = name,
                           .curve_server_key = keys.server,
                           .curve_public = keys.pub,
                           .curve_secret = keys.sec,
                           .endpoint = endpoint,
                           .endpoints_file = endpoints_file,
                           .data_dir = data,
                           .scratch_dir = scratch,
                           .shard = shard,
                           .slots = (unsigned)a->slots,
                           .heartbeat_ms = (unsigned)a->heartbeat_ms,
                           .grace_ms = (unsigned)a->grace_ms,
                           .stop = &stop_signals};
    rc = cn_worker_run(&wo);
    keys_free(&keys);
out:
    for (const cn_job_kind_t *k = cn_job_next(NULL); k; k = cn_job_next(k))
        if (k->shutdown) k->shutdown();
    cn_shard_close(&shard);
    free(endpoint);
    free(endpoints_file);
    free(scratch);
    free(sdir);
    free(name);
    return rc;
}

int main(int argc, char **argv) {
    args_t a;
    int prc = parse_args(argc, argv, &a);
    if (prc) return prc > 0 ? 0 : 2;
    cn_log_init("worker", CN_LOG_INFO);
    install_signals();
    if (cn_mkdir_p(a.data) != 0) {
        fprintf(stderr, "canopy-worker: cannot create %s: %s\n", a.data, cn_err_detail());
        return 1;
    }
    char data[PATH_MAX];
    if (!realpath(a.data, data)) {
        fprintf(stderr, "canopy-worker: cannot resolve %s\n", a.data);
        return 1;
    }
    int rc = run(&a, data);
    cn_net_shutdown();
    return rc ? 1 : 0;
}
