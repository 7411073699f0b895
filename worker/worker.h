/* worker.h: the worker's message loop (DESIGN §3, proto/PROTOCOL.md). One thread
   owns a DEALER socket to the coordinator (routing id = worker name): Hello and
   Welcome, heartbeats both ways, leases into the runner's slots, group-committed
   results out, reconnects, and a graceful stop. Called by worker/main.c. */
#ifndef CN_WORKER_H
#define CN_WORKER_H

#include "shard.h"

#include <signal.h>
#include <stdbool.h>

typedef struct {
    const char *name;           /* stable worker name (routing id) */
    const char *endpoint;       /* coordinator ROUTER endpoint */
    const char *endpoints_file; /* if set, re-read its "router" on each reconnect */
    const char *data_dir;
    const char *scratch_dir;
    cn_shard_t *shard; /* open for writing; borrowed */
    /* CurveZMQ (tcp://): the coordinator's public key and ours, z85; all three
       or none (plain). */
    const char *curve_server_key, *curve_public, *curve_secret;
    unsigned slots;
    unsigned heartbeat_ms; /* 0: what Welcome says (1,000 until then) */
    unsigned grace_ms;     /* on stop: how long running jobs may finish */
    /* Incremented by the SIGTERM/SIGINT handler: 1 = stop gracefully, 2+ = now. */
    volatile sig_atomic_t *stop;
} cn_worker_opts_t;

/* Runs the worker until *opts->stop is set and every job is finished, released
   and acknowledged (or the grace and ack waits have passed). Returns 0 after a
   clean stop or a negative CN_E* code if the loop cannot run. Blocks. */
int cn_worker_run(const cn_worker_opts_t *opts);

#endif
