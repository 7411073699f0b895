/* cli.h: what every `canopy` subcommand shares: global options, the connection
   to the coordinator, printing helpers, and the subcommand and query tables.
   Single-threaded. */
#ifndef CN_CLI_H
#define CN_CLI_H

#include "net.h"
#include "json.h"

#include <stdbool.h>

/* Global options, parsed before the subcommand. */
typedef struct {
    const char *data;          /* --data DIR (default ./canopy-data) */
    const char *coordinator;   /* --coordinator ENDPOINT (default: from data dir) */
    bool json;                 /* --json */
    int timeout_ms;            /* request timeout */
} cn_cli_t;

/* Query subcommands (canopy query NAME ...), one file each. Each returns the
   process exit status. */
int cn_query_scan(const cn_cli_t *g, int argc, char **argv);    /* cli/query_scan.c */
int cn_query_git(const cn_cli_t *g, const char *what, int argc, char **argv); /* cli/query_git.c:
    projects, log, heads, commits, changes, file */

#endif
