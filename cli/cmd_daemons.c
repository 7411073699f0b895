/* cmd_daemons.c: `canopy coordinator ARGS...` and `canopy worker ARGS...`: exec
   the daemons that sit next to the canopy binary (found through
   /proc/self/exe), passing --data along unless ARGS give one. */
#include "cmd.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cn_sibling_binary(const char *name) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return cn_xstrdup(name); /* fall back to PATH */
    self[n] = '\0';
    return cn_xasprintf("%s/%s", dirname(self), name);
}

static int exec_daemon(cn_cli_t *g, const char *bin, int argc, char **argv) {
    bool has_data = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--data") == 0 || strncmp(argv[i], "--data=", 7) == 0) has_data = true;
    char **args = cn_xcalloc((size_t)argc + 4, sizeof *args);
    int k = 0;
    char *path = cn_sibling_binary(bin);
    args[k++] = (char *)bin;
    if (!has_data) {
        args[k++] = (char *)"--data";
        args[k++] = (char *)g->data;
    }
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    execv(path, args);
    execvp(bin, args);
    int rc = cn_err(CN_ESYS, "cannot run %s: %m", path);
    free(path);
    free(args);
    return cn_fail(rc);
}

int cn_cmd_coordinator(cn_cli_t *g, int argc, char **argv) {
    return exec_daemon(g, "canopy-coordinator", argc, argv);
}

int cn_cmd_worker(cn_cli_t *g, int argc, char **argv) {
    return exec_daemon(g, "canopy-worker", argc, argv);
}
