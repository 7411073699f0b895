/* main.c: `canopy`, the command-line interface: global options, then one
   subcommand from the table below (each in cli/cmd_<verb>.c). Exit status 0 on
   success, 1 with a one-line "canopy: <message>" on failure, 2 on bad usage. */
#include "cmd.h"

#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cn_cmd_t commands[] = {
    {"up", cn_cmd_up, "start a local cluster (a coordinator and N workers)"},
    {"down", cn_cmd_down, "stop the local cluster started by up"},
    {"coordinator", cn_cmd_coordinator, "run the coordinator daemon (canopy-coordinator)"},
    {"worker", cn_cmd_worker, "run a worker daemon (canopy-worker)"},
    {"submit", cn_cmd_submit, "submit jobs"},
    {"status", cn_cmd_status, "workers, queue depth by kind and state, throughput"},
    {"watch", cn_cmd_watch, "the status, live"},
    {"jobs", cn_cmd_jobs, "list jobs"},
    {"job", cn_cmd_job, "one job: spec, attempts, worker, errors, timings"},
    {"cancel", cn_cmd_cancel, "cancel a job (queued or running)"},
    {"retry", cn_cmd_retry, "re-queue a dead, failed or cancelled job"},
    {"merge", cn_cmd_merge, "fold every shard into the merged store that queries read"},
    {"query", cn_cmd_query, "query the datasets"},
    {"fsck", cn_cmd_fsck, "check every shard's data"},
    {"keygen", cn_cmd_keygen, "make a CurveZMQ key pair for tcp:// clusters"},
};

static int usage(FILE *f) {
    fprintf(f, "usage: canopy [--data DIR] [--coordinator ENDPOINT] [--json] COMMAND [ARGS...]\n\n"
               "canopy runs a cluster of workers that build append-only datasets about software.\n\n"
               "global options:\n"
               "  --data DIR              data directory (default ./canopy-data, or $CANOPY_DATA)\n"
               "  --coordinator ENDPOINT  coordinator to talk to (default: from DIR/coordinator.endpoints)\n"
               "  --json                  print data as JSON\n"
               "  --help                  this help; COMMAND --help for a command's\n\n"
               "commands:\n");
    for (size_t i = 0; i < CN_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: CANOPY_TIMEOUT_MS (request timeout, default 10000), CANOPY_KEY\n");
    return f == stdout ? 0 : CN_EXIT_USAGE;
}

int main(int argc, char **argv) {
    cn_cli_t g = {0};
    const char *env = getenv("CANOPY_DATA");
    g.data = env && *env ? env : "./canopy-data";
    env = getenv("CANOPY_TIMEOUT_MS");
    uint64_t t;
    g.timeout_ms = env && cn_parse_u64(env, &t) && t > 0 && t < 3600000 ? (int)t : 10000;
    cn_log_init("cli", CN_LOG_WARN);
    /* A closed pipe (canopy jobs | head) ends us quietly, not with SIGPIPE noise. */
    signal(SIGPIPE, SIG_DFL);

    int i = 1;
    for (; i < argc; i++) {
        if (cn_arg_help(argv[i])) return usage(stdout);
        int rc = cn_arg_global(&g, argc, argv, &i);
        if (rc < 0) return cn_usage_error(NULL, "%s", cn_err_detail());
        if (rc == 0) break;
    }
    if (i >= argc) return usage(stderr);
    if (argv[i][0] == '-') return cn_usage_error(NULL, "unknown option %s (see canopy --help)", argv[i]);
    if (strcmp(argv[i], "help") == 0) return usage(stdout);
    if (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0) {
        printf("canopy %s (%s)\n", CN_VERSION, CN_GIT_COMMIT);
        return 0;
    }
    for (size_t k = 0; k < CN_ARRAY_LEN(commands); k++) {
        if (strcmp(commands[k].name, argv[i]) == 0) {
            int rc = commands[k].run(&g, argc - i, argv + i);
            cn_net_shutdown();
            return rc;
        }
    }
    return cn_usage_error(NULL, "unknown command '%s' (see canopy --help)", argv[i]);
}
