/* status.h: what the coordinator tells clients about the cluster: StatusReply
   (workers, counts by kind and state, throughput over the last 10 s, totals,
   bad and stale message counters, running jobs), JobsReply (paged from the
   store) and JobInfoReply. Replies point into live records: pack them before
   the loop changes anything. Coordinator loop thread only. */
#ifndef CN_STATUS_H
#define CN_STATUS_H

#include "leases.h"
#include "queue.h"
#include "workers.h"

typedef struct cn_status cn_status_t;

cn_status_t *cn_status_new(uint64_t now_ms);
void cn_status_destroy(cn_status_t **self_p);
/* Samples the succeeded total (call every loop turn; it keeps 4 samples/s). */
void cn_status_tick(cn_status_t *s, uint64_t now_ms, uint64_t succeeded_total);
/* Succeeded jobs per second over the last 10 s. */
double cn_status_rate(const cn_status_t *s, uint64_t now_ms, uint64_t succeeded_total);

typedef struct {
    cn_queue_t *q;
    cn_workers_t *ws;
    const cn_leases_t *leases;
    uint64_t bad_messages;
    uint64_t start_ms;
} cn_status_src_t;

/* Fills out (init'ed by the caller); free with cn_status_reply_free. */
void cn_status_build(cn_status_t *s, const cn_status_src_t *src, uint64_t now_ms, Canopy__StatusReply *out);
void cn_status_reply_free(Canopy__StatusReply *r);

/* Fills a JobsReply from the store; free with cn_status_jobs_free. */
int cn_status_jobs(cn_queue_t *q, const Canopy__JobsRequest *req, Canopy__JobsReply *out);
void cn_status_jobs_free(cn_queue_t *q, Canopy__JobsReply *r);
/* Fills a JobInfoReply (missing ids left out); free with cn_status_info_free. */
void cn_status_info(cn_queue_t *q, const Canopy__JobInfoRequest *req, Canopy__JobInfoReply *out,
                    bool **owned);
void cn_status_info_free(Canopy__JobInfoReply *r, bool *owned);

#endif
