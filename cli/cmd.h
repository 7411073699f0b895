/* cmd.h: private to the `canopy` CLI: the subcommands (one cmd_<verb>.c each),
   option parsing and printing helpers they share (cli/args.c, cli/print.c), and
   the wait-for-jobs loop (cli/wait.c). Single-threaded. Exit statuses: 0 success,
   1 failure, 2 usage error. */
#ifndef CN_CLI_CMD_H
#define CN_CLI_CMD_H

#include "cli.h"
#include "errors.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

/* One subcommand: argv[0] is the verb. Returns the exit status. */
typedef struct {
    const char *name;
    int (*run)(cn_cli_t *g, int argc, char **argv);
    const char *summary;
} cn_cmd_t;

int cn_cmd_up(cn_cli_t *g, int argc, char **argv);
int cn_cmd_down(cn_cli_t *g, int argc, char **argv);
int cn_cmd_coordinator(cn_cli_t *g, int argc, char **argv);
int cn_cmd_worker(cn_cli_t *g, int argc, char **argv);
int cn_cmd_submit(cn_cli_t *g, int argc, char **argv);
int cn_cmd_status(cn_cli_t *g, int argc, char **argv);
int cn_cmd_watch(cn_cli_t *g, int argc, char **argv);
int cn_cmd_jobs(cn_cli_t *g, int argc, char **argv);
int cn_cmd_job(cn_cli_t *g, int argc, char **argv);
int cn_cmd_cancel(cn_cli_t *g, int argc, char **argv);
int cn_cmd_retry(cn_cli_t *g, int argc, char **argv);
int cn_cmd_query(cn_cli_t *g, int argc, char **argv);
int cn_cmd_merge(cn_cli_t *g, int argc, char **argv); /* cli/cmd_merge.c */
int cn_cmd_fsck(cn_cli_t *g, int argc, char **argv);
int cn_cmd_keygen(cn_cli_t *g, int argc, char **argv);
/* The supervisor pid in <data>/up.pid if it is alive, else 0 (cli/cmd_up.c). */
int cn_up_running(const char *data);
/* The path of a binary installed next to canopy (owned by the caller). */
char *cn_sibling_binary(const char *name);
/* cancel and retry: one Control request per id (cli/cmd_cancel.c). */
int cn_control_run(cn_cli_t *g, int argc, char **argv, int op, const char *usage);

/* ---- arguments (cli/args.c) ---- */
#define CN_EXIT_FAIL 1
#define CN_EXIT_USAGE 2

/* True for -h / --help. */
bool cn_arg_help(const char *a);
/* Matches argv[*i] against --name VALUE or --name=VALUE. Returns 1 (value in
 *val, *i on the value's word), 0 (no match) or CN_EINVAL (missing value). */
int cn_arg_value(int argc, char **argv, int *i, const char *name, const char **val);
/* Consumes a global option (--data, --coordinator, --json) at argv[*i]: returns
   1 if it was one, 0 if not, CN_EINVAL if its value is missing. */
int cn_arg_global(cn_cli_t *g, int argc, char **argv, int *i);
/* Prints "canopy: <msg>" (and "usage: ..." when usage is given); returns 2. */
int cn_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "canopy: <detail of code>" and returns 1. */
int cn_fail(int code);
/* Prints usage (to stdout) and returns 0: the --help of a command. */
int cn_print_help(const char *usage);
/* Durations: "250ms", "2s", "1.5m", "1h"; a bare number is seconds. */
bool cn_parse_duration_ms(const char *s, uint64_t *ms);
/* A job id ("12" or "#12"). */
bool cn_parse_job_id(const char *s, uint64_t *id);

/* ---- printing (cli/print.c) ---- */
const char *cn_state_name(int state);
/* Parses a state name; 0 if unknown. */
int cn_state_parse(const char *s);
/* True for succeeded, cancelled and dead: a job that will not run again unless
   retried. */
bool cn_state_final(int state);
/* Appends one job as a JSON object; full adds the spec, history and timings. */
void cn_job_json(cn_buf_t *b, const Canopy__Job *j, bool full);
/* Writes "12.3s" / "450ms" / "2m05s" for a duration in ms. */
void cn_fmt_duration(char *out, size_t n, uint64_t ms);
/* A progress bar of width cells for done/total into out. */
void cn_fmt_bar(char *out, size_t n, uint64_t done, uint64_t total, int width);
/* Writes a byte count in decimal units: "512 B", "45.2 MB", "1.3 GB". */
void cn_fmt_bytes(char *out, size_t n, uint64_t bytes);
/* Appends lead, then "1200/19252 commits, 45.2 MB of 310.0 MB": the units when
   done or total is set, the bytes when bytes_done or bytes_total is (" of ..."
   only when bytes_total is known). Nothing, not even lead, when all are 0:
   returns whether it wrote. unit may be NULL. */
bool cn_fmt_progress(cn_buf_t *b, const char *lead, uint64_t done, uint64_t total, const char *unit,
                     uint64_t bytes_done, uint64_t bytes_total);
/* Writes b to stdout followed by a newline and frees it. */
void cn_print_buf(cn_buf_t *b);

/* ---- waiting for jobs (cli/wait.c) ---- */
/* Fetches jobs by id (pipelined JobInfo requests) and calls cb for each one the
   coordinator knows. Returns 0 or a connection error. */
int cn_fetch_jobs(cn_client_t *c, const uint64_t *ids, size_t n, void (*cb)(void *arg, const Canopy__Job *j),
                  void *arg);
typedef struct {
    uint64_t total, succeeded, dead, cancelled;
} cn_wait_result_t;
/* Polls JobInfo for ids until every job is final or timeout_ms passes (0:
   forever). Shows a bar on a terminal (stderr), plain lines otherwise (quiet:
   neither). Returns 0, CN_ETIMEOUT or a connection error. */
int cn_wait_jobs(cn_client_t *c, const uint64_t *ids, size_t n, uint64_t timeout_ms, bool quiet,
                 cn_wait_result_t *res);

/* ---- a snapshot of the cluster (cli/cmd_status.c, used by watch and up) ---- */
int cn_status_fetch(cn_client_t *c, Canopy__Envelope **reply);
/* Appends a human-readable status to b (with bars when tty). */
void cn_status_text(cn_buf_t *b, const Canopy__StatusReply *s, bool tty);
void cn_status_json(cn_buf_t *b, const Canopy__StatusReply *s);

#endif
