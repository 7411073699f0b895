/* coord.h: the coordinator: its ROUTER and PUB sockets, the message loop, group
   commit and the outbox of replies that are sent only after the commit. Single
   thread: cn_coord_run owns everything until it returns. */
#ifndef CN_COORD_H
#define CN_COORD_H

#include <signal.h>
#include <stdint.h>

typedef struct {
    const char *data_dir; /* absolute; the store is data_dir/coordinator */
    const char *endpoint; /* ROUTER; NULL: ipc://<data>/coordinator.sock */
    const char *pub;      /* PUB; NULL: ipc://<data>/events.sock */
    uint32_t heartbeat_ms;
    uint32_t dead_after;
    uint32_t max_attempts;
    uint64_t backoff_ms;
} cn_coord_opts_t;

typedef struct cn_coord cn_coord_t;

/* Opens the store (rebuilding state), binds the sockets and writes
   <data>/coordinator.endpoints. Blocks on disk I/O. */
int cn_coord_new(const cn_coord_opts_t *opts, cn_coord_t **out);
/* Runs the loop until *stop is set (by a signal handler). Returns 0, or a
   negative CN_E* code when the store cannot be written (state would be lost). */
int cn_coord_run(cn_coord_t *c, volatile sig_atomic_t *stop);
/* Commits what is staged, closes sockets and the store. Safe on NULL. */
void cn_coord_destroy(cn_coord_t **self_p);

#endif
