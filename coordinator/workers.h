/* workers.h: the coordinator's registry of workers by name: slots, leases held
   (the credit of credit-based dispatch), last heartbeat, pid and host, and the
   stale leases to tell it about. Used only by the coordinator loop thread. */
#ifndef CN_WORKERS_H
#define CN_WORKERS_H

#include "canopy.pb-c.h"
#include "net.h"
#include "qutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_worker {
    char *name;
    cn_peer_t peer;
    bool connected; /* said Hello to this coordinator process and is not dead */
    bool alive;     /* false once it missed dead_after heartbeats */
    uint32_t slots, free_slots, pid;
    char *host;
    char **kinds; /* job kinds it runs; none: every kind */
    size_t nkinds;
    uint64_t last_seen_ms;
    cn_u64map_t leases;       /* ids of jobs leased to it (outstanding = leases.n) */
    Canopy__LeaseRef **stale; /* leases taken away, told in the next HeartbeatReply */
    size_t nstale, capstale;
} cn_worker_t;

typedef struct cn_workers cn_workers_t;

cn_workers_t *cn_workers_new(void);
void cn_workers_destroy(cn_workers_t **self_p);
/* NULL when unknown. */
cn_worker_t *cn_workers_find(const cn_workers_t *ws, const char *name);
/* Finds or adds (not connected) a worker. */
cn_worker_t *cn_workers_get(cn_workers_t *ws, const char *name);
size_t cn_workers_count(const cn_workers_t *ws);
cn_worker_t *cn_workers_at(const cn_workers_t *ws, size_t i);

/* Copies what a Hello says about the worker (slots, pid, host, kinds). */
void cn_worker_set_hello(cn_worker_t *w, const cn_peer_t *peer, const Canopy__Hello *h, uint64_t now);
void cn_worker_hold(cn_worker_t *w, uint64_t job_id);
bool cn_worker_holds(const cn_worker_t *w, uint64_t job_id);
/* Returns false if w did not hold job_id. */
size_t cn_worker_nleases(const cn_worker_t *w);
/* The ids of its leases in a new array (*n of them; the caller frees it). */
uint64_t *cn_worker_lease_ids(const cn_worker_t *w, size_t *n);
bool cn_worker_drop(cn_worker_t *w, uint64_t job_id);
void cn_worker_add_stale(cn_worker_t *w, uint64_t job_id, uint64_t lease_seq);
/* Moves the stale list out (the caller frees each element and the array). */
Canopy__LeaseRef **cn_worker_take_stale(cn_worker_t *w, size_t *n);

#endif
