/* supervise.h: private to `canopy up` (cmd_up.c, supervise.c): the local cluster's
   processes (one coordinator, N workers), started with their logs under
   <data>/logs/, restarted with backoff when they die, and stopped in order
   (workers, then the coordinator). Single-threaded; signals are handled
   synchronously (sigtimedwait), never in handlers. */
#ifndef CN_CLI_SUPERVISE_H
#define CN_CLI_SUPERVISE_H

#include "cmd.h"

#include <signal.h>
#include <sys/types.h>

typedef struct {
    char *name;          /* "coordinator", "w1", ... */
    char **argv;         /* exec arguments, argv[0] is the binary's path (owned) */
    char *log;           /* log file (appended to) */
    pid_t pid;           /* 0 when not running */
    uint64_t started_ms; /* monotonic */
    uint64_t backoff_ms; /* wait before the next restart */
    uint64_t restart_at; /* monotonic; 0: no restart scheduled */
    unsigned restarts;
    bool always_restart; /* the coordinator: restarted on any exit */
} cn_child_t;

typedef struct {
    char *data;     /* absolute */
    char *endpoint; /* coordinator router endpoint clients use */
    char *events;   /* its event PUB endpoint, once it answered (may be NULL) */
    cn_child_t coord;
    cn_child_t *workers;
    int n_workers;
    sigset_t sigs; /* SIGCHLD, SIGTERM, SIGINT, SIGHUP: blocked, waited for */
} cn_cluster_t;

/* Blocks the supervisor's signals (before any child is started). */
void cn_sup_block_signals(cn_cluster_t *cl);
/* Forks and execs ch (its own process group, output to its log). */
int cn_sup_start(cn_cluster_t *cl, cn_child_t *ch);
/* Reaps exited children and schedules restarts; returns how many exited. */
int cn_sup_reap(cn_cluster_t *cl, bool restart);
/* Runs until SIGTERM/SIGINT/SIGHUP: restarts children that die. */
void cn_sup_loop(cn_cluster_t *cl);
/* Stops the workers (SIGTERM, then SIGKILL after a grace period), then the
   coordinator. */
void cn_sup_stop(cn_cluster_t *cl);
/* The last lines of a log file, for an error message. */
char *cn_sup_log_tail(const char *path, int lines);

#endif
