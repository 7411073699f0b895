/* leases.h: the worker side of the protocol (proto/PROTOCOL.md): Hello and
   re-adoption of leases, heartbeats with cancel/stale lists, results with
   stale-lease fencing, credit-based dispatch in batched Leases messages, and the
   sweep that finds dead workers and timed-out jobs. State changes go through the
   queue (staged for the loop's group commit). Coordinator loop thread only. */
#ifndef CN_LEASES_H
#define CN_LEASES_H

#include "queue.h"
#include "workers.h"

typedef struct {
    cn_queue_t *q;
    cn_workers_t *ws;
    uint32_t hb_ms;
    uint32_t dead_after;
    uint64_t stale_results;
    size_t rr; /* round-robin start of dispatch */
} cn_leases_t;

/* At start: registers (not connected) the workers named by leased jobs of the
   store, so they can re-adopt them or lose them after the dead interval. */
void cn_leases_adopt_stored(cn_leases_t *L, uint64_t now);
void cn_leases_hello(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Hello *h, uint64_t now);
/* Fills reply (init'ed by the caller); free it with cn_leases_reply_free. */
void cn_leases_heartbeat(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Heartbeat *hb, uint64_t now,
                         Canopy__HeartbeatReply *reply);
void cn_leases_reply_free(Canopy__HeartbeatReply *reply);
/* Fills acks (init'ed by the caller); free with cn_leases_acks_free. */
void cn_leases_results(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Results *rs, uint64_t now,
                       Canopy__ResultAcks *acks);
void cn_leases_acks_free(Canopy__ResultAcks *acks);
/* A Bye over the worker's current pipe: it lost its leases and is gone. */
void cn_leases_bye(cn_leases_t *L, const cn_peer_t *peer, const Canopy__Bye *b, uint64_t now);

/* Hands ready jobs to connected workers up to their free slots; calls send once
   per worker with all its new leases (valid only during the call). */
typedef void (*cn_leases_send_fn)(void *arg, cn_worker_t *w, const Canopy__Leases *msg);
void cn_leases_dispatch(cn_leases_t *L, uint64_t now, cn_leases_send_fn send, void *arg);
/* Dead workers lose their leases; jobs past timeout + grace are failed and fenced. */
void cn_leases_sweep(cn_leases_t *L, uint64_t now);

#endif
