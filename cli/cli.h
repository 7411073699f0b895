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
    const char *data;        /* --data DIR (default ./canopy-data) */
    const char *coordinator; /* --coordinator ENDPOINT (default: from data dir) */
    bool json;               /* --json */
    int timeout_ms;          /* request timeout */
} cn_cli_t;

/* Query subcommands (canopy query NAME ...), one file each. Each returns the
   process exit status. argv[0] is the query's name ("scan", "log", ...) as in
   main(); the global options (--data, --coordinator, --json) have already been
   taken out of argv into g wherever they appeared. */
int cn_query_scan(const cn_cli_t *g, int argc, char **argv);                  /* cli/query_scan.c */
int cn_query_git(const cn_cli_t *g, const char *what, int argc, char **argv); /* cli/query_git.c:
    projects, log, heads, commits, changes, file */

/* ---- the connection to the coordinator (cli/client.c) ----
   A DEALER connected to --coordinator, else the "router" of
   <data>/coordinator.endpoints, else ipc://<data>/coordinator.sock. Requests carry
   a fresh req_id so several may be in flight (pipelining). Blocking calls. */
typedef struct cn_client cn_client_t;

/* Connects (lazily, as ZeroMQ does). Returns 0 or a negative CN_E* code. */
int cn_client_open(const cn_cli_t *g, cn_client_t **out);
void cn_client_close(cn_client_t **self_p);
/* Where the client connects, and the PUB endpoint of events (NULL if unknown). */
const char *cn_client_endpoint(const cn_client_t *c);
const char *cn_client_events(const cn_client_t *c);
/* Sends req (setting its req_id, returned in *req_id) without waiting. */
int cn_client_send(cn_client_t *c, Canopy__Envelope *req, uint64_t *req_id);
/* Receives the next reply (any req_id) within timeout_ms (<0: the client's
   timeout). An Error body is returned as its code with cn_err detail and *reply
   NULL. CN_ETIMEOUT says "no coordinator at ENDPOINT ...". Free with cn_wire_free. */
int cn_client_recv(cn_client_t *c, Canopy__Envelope **reply, int timeout_ms);
/* Like cn_client_recv, but an Error body is returned as the envelope (with its
   req_id) for callers that pipeline and must know which request failed. */
int cn_client_recv_env(cn_client_t *c, Canopy__Envelope **reply, int timeout_ms);
/* Sends req and waits for its reply (other replies are dropped); checks that the
   reply's body is `expect`. */
int cn_client_call(cn_client_t *c, Canopy__Envelope *req, Canopy__Envelope__BodyCase expect,
                   Canopy__Envelope **reply);

#endif
