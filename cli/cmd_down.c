/* cmd_down.c: `canopy down`: signals the supervisor recorded in <data>/up.pid
   (SIGTERM: it stops the workers, then the coordinator) and waits until it has
   exited, which it does only after every process of the cluster has. */
#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] = "canopy down [--data DIR] [--timeout DUR]\n\n"
                                 "Stops the local cluster that canopy up started in DIR and waits until\n"
                                 "every process has exited (default: up to 60s).\n";

/* True while pid exists and is not a zombie (an unreaped zombie has exited). */
static bool alive(int pid) {
    if (kill(pid, 0) != 0) return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    cn_buf_t b = {0};
    bool live = true;
    if (cn_read_file(path, 4096, &b) == 0) {
        const char *p = memchr(b.data, ')', b.len);
        const char *end = (const char *)b.data + b.len;
        if (p && p + 2 < end && (p[2] == 'Z' || p[2] == 'X')) live = false;
    }
    cn_buf_free(&b);
    return live;
}

int cn_cmd_down(cn_cli_t *g, int argc, char **argv) {
    uint64_t timeout = 60000;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--timeout", &v)) > 0 &&
            !cn_parse_duration_ms(v, &timeout))
            return cn_usage_error(usage_text, "--timeout takes a duration like 30s, not '%s'", v);
        if (rc <= 0) return cn_usage_error(usage_text, "unexpected argument '%s'", argv[i]);
    }
    int pid = cn_up_running(g->data);
    if (!pid)
        return cn_fail(
            cn_err(CN_ENOTFOUND, "no cluster is up in %s (no live supervisor in up.pid)", g->data));
    if (kill(pid, SIGTERM) != 0)
        return cn_fail(cn_err(CN_ESYS, "cannot signal the supervisor (pid %d): %m", pid));
    uint64_t start = cn_mono_ms();
    while (alive(pid)) {
        if (cn_mono_ms() - start > timeout)
            return cn_fail(cn_err(CN_ETIMEOUT, "the cluster (supervisor pid %d) did not stop within %llu ms",
                                  pid, (unsigned long long)timeout));
        cn_sleep_ms(20);
    }
    if (!g->json)
        printf("cluster in %s stopped\n", g->data);
    else
        printf("{\"stopped\":true,\"supervisor_pid\":%d}\n", pid);
    return 0;
}
