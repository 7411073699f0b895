/* wproto.h: builds the worker's outgoing messages (Hello, Heartbeat progress,
   Results) from the runner's state, and reads the coordinator's endpoints file.
   Private to worker/; called from the worker loop thread only. Each *_fill
   allocates what it points to; the matching *_clear frees it. */
#ifndef CN_WPROTO_H
#define CN_WPROTO_H

#include "runner.h"
#include "wire.h"

#include <stddef.h>

/* Hello{name, slots, pid, host, kinds, running}: running lists the jobs in the
   runner and the leases whose results are not yet acknowledged. */
void cn_wp_hello_fill(Canopy__Hello *h, const char *name, unsigned slots, cn_runner_t *r,
                      const cn_job_result_t *unacked, size_t n_unacked);
void cn_wp_hello_clear(Canopy__Hello *h);
/* Heartbeat.progress for every job running now (started, not finished). */
void cn_wp_progress_fill(Canopy__Heartbeat *hb, cn_runner_t *r);
void cn_wp_progress_clear(Canopy__Heartbeat *hb);
/* Results{name, result[n]} pointing into res (which must outlive rs). */
void cn_wp_results_fill(Canopy__Results *rs, const char *name, const cn_job_result_t *res, size_t n);
void cn_wp_results_clear(Canopy__Results *rs);

/* The "router" endpoint in a coordinator.endpoints file; NULL if the file is
   missing or has none. Owned by the caller. */
char *cn_wp_read_router(const char *path);

#endif
