/* cmd_query.c: `canopy query NAME ...`: dispatches to the query of each dataset
   (query_scan.c, query_git.c); names of datasets not built yet get a clear
   error. Global options may appear anywhere and are taken out first. */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "canopy query NAME [ARGS...] [--json]\n\n"
    "Queries the datasets. NAME:\n"
    "  scan SPACE ...              filesystem scans (canopy query scan --help)\n"
    "  projects | log | heads | commits | changes | file ...\n"
    "                              downloaded git repositories (canopy query log --help)\n"
    "  journal | defs | refs | records    (not available yet)\n";

static const char *const git_queries[] = {"projects", "log", "heads", "commits", "changes", "file"};
static const char *const later[] = {"journal", "defs", "refs", "records", "sync", "chunks"};

int cn_cmd_query(cn_cli_t *g, int argc, char **argv) {
    char **rest = cn_xcalloc((size_t)argc + 1, sizeof *rest);
    int n = 0, rc;
    for (int i = 1; i < argc; i++) {
        if ((rc = cn_arg_global(g, argc, argv, &i)) < 0) {
            free(rest);
            return cn_usage_error(usage_text, "%s", cn_err_detail());
        }
        if (rc == 0) rest[n++] = argv[i];
    }
    int status;
    if (n == 0) {
        status = cn_usage_error("canopy query NAME [ARGS...] (see canopy query --help)", "which query?");
    } else if (cn_arg_help(rest[0])) {
        status = cn_print_help(usage_text);
    } else if (strcmp(rest[0], "scan") == 0) {
        status = cn_query_scan(g, n, rest);
    } else {
        status = -1;
        for (size_t k = 0; k < CN_ARRAY_LEN(git_queries) && status < 0; k++)
            if (strcmp(rest[0], git_queries[k]) == 0) status = cn_query_git(g, rest[0], n, rest);
        for (size_t k = 0; k < CN_ARRAY_LEN(later) && status < 0; k++)
            if (strcmp(rest[0], later[k]) == 0) {
                fprintf(stderr, "canopy: query %s is not available yet in this build\n", rest[0]);
                status = CN_EXIT_FAIL;
            }
        if (status < 0) status = cn_usage_error(usage_text, "unknown query '%s'", rest[0]);
    }
    free(rest);
    return status;
}
