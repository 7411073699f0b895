/* main.c: canopy-coordinator's command line: parses arguments, sets up logging
   and signals, and runs the coordinator loop (coord.c) until SIGTERM/SIGINT,
   then commits and closes the store cleanly. */
#include "coord.h"

#include "errors.h"
#include "log.h"
#include "net.h"
#include "util.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: canopy-coordinator [options]\n"
            "  --data DIR          data directory (default ./canopy-data); the job store is DIR/coordinator\n"
            "  --endpoint EP       ROUTER endpoint (default ipc://<abs DIR>/coordinator.sock)\n"
            "  --pub EP            event PUB endpoint (default ipc://<abs DIR>/events.sock)\n"
            "  --heartbeat-ms N    worker heartbeat interval (default 1000)\n"
            "  --dead-after N      missed heartbeats before a worker is dead (default 3)\n"
            "  --max-attempts N    default attempts per job (default 3)\n"
            "  --backoff-ms N      first retry delay, doubled per attempt (default 500)\n"
            "  --help              this text\n");
}

static int parse_num(const char *opt, const char *v, uint64_t max, uint64_t *out) {
    if (!v || !cn_parse_u64(v, out) || *out == 0 || *out > max) {
        fprintf(stderr, "canopy-coordinator: %s needs a number from 1 to %llu\n", opt,
                (unsigned long long)max);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, cn_coord_opts_t *o, const char **data) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "canopy-coordinator: unknown option or missing value: %s\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--data") == 0) {
            *data = v;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = v;
        } else if (strcmp(a, "--pub") == 0) {
            o->pub = v;
        } else if (strcmp(a, "--heartbeat-ms") == 0) {
            if (parse_num(a, v, 3600000, &n)) return -1;
            o->heartbeat_ms = (uint32_t)n;
        } else if (strcmp(a, "--dead-after") == 0) {
            if (parse_num(a, v, 1000, &n)) return -1;
            o->dead_after = (uint32_t)n;
        } else if (strcmp(a, "--max-attempts") == 0) {
            if (parse_num(a, v, 1000, &n)) return -1;
            o->max_attempts = (uint32_t)n;
        } else if (strcmp(a, "--backoff-ms") == 0) {
            if (parse_num(a, v, 3600000, &n)) return -1;
            o->backoff_ms = n;
        } else {
            fprintf(stderr, "canopy-coordinator: unknown option: %s (see --help)\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    cn_coord_opts_t o = {.heartbeat_ms = 1000, .dead_after = 3, .max_attempts = 3, .backoff_ms = 500};
    const char *data = "./canopy-data";
    if (parse_args(argc, argv, &o, &data) != 0) return 2;
    cn_log_init("coordinator", CN_LOG_INFO);
    if (cn_mkdir_p(data) != 0) {
        fprintf(stderr, "canopy-coordinator: cannot create %s: %s\n", data, cn_err_detail());
        return 1;
    }
    char abs[PATH_MAX];
    if (!realpath(data, abs)) {
        fprintf(stderr, "canopy-coordinator: cannot resolve %s\n", data);
        return 1;
    }
    o.data_dir = abs;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the poll returns so the loop sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cn_coord_t *c;
    int rc = cn_coord_new(&o, &c);
    if (rc) {
        fprintf(stderr, "canopy-coordinator: %s: %s\n", cn_strerror(rc), cn_err_detail());
        return 1;
    }
    rc = cn_coord_run(c, &stop_flag);
    cn_coord_destroy(&c);
    cn_net_shutdown();
    if (rc) fprintf(stderr, "canopy-coordinator: %s\n", cn_strerror(rc));
    return rc ? 1 : 0;
}
