/* walk.h: the scan job's parallel directory walker. Threads take directories
   from a shared stack and read them with openat, getdents64 and fstatat; it
   never follows symlinks, stays on the root's filesystem unless asked, and
   works at any depth (paths longer than PATH_MAX are opened relative to an
   ancestor). Errors are counted and the first ones kept; the walk goes on.
   Start/poll/stop may be called from one controlling thread. */
#ifndef CN_WALK_H
#define CN_WALK_H

#include "pathtree.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *name;   /* not NUL-terminated; "" for the root */
    const uint8_t *target; /* symlink target or NULL */
    uint32_t parent;       /* index of the parent entry (the root's is 0) */
    uint16_t name_len;
    uint16_t target_len;
    cn_pstat_t st;
} cn_walk_entry_t;

typedef struct {
    int threads;       /* 0: 2 */
    bool cross_fs;     /* descend into other filesystems */
    size_t max_errors; /* errors kept with their path (0: 100); all are counted */
} cn_walk_opts_t;

typedef struct {
    char *path; /* relative to the root, NUL-terminated (may hold any byte but NUL) */
    int errnum;
    const char *what; /* "open directory", "read directory", "stat", "readlink" */
} cn_walk_error_t;

typedef struct cn_walk cn_walk_t;

/* Opens root and starts the threads. Fails with CN_ENOTFOUND (no such root),
   CN_EINVAL (not a directory) or CN_EPERM/CN_ESYS, with a detail naming the
   root. *out is owned by the caller (cn_walk_destroy). */
int cn_walk_start(const char *root, const cn_walk_opts_t *opts, cn_walk_t **out);
/* Non-blocking: progress so far; returns true when the walk has ended. */
bool cn_walk_poll(cn_walk_t *w, uint64_t *entries, uint64_t *name_bytes);
/* Asks the threads to stop soon (cancellation). */
void cn_walk_stop(cn_walk_t *w);
/* Joins the threads. Returns 0, or CN_ECANCELLED when stopped early. */
int cn_walk_wait(cn_walk_t *w);
void cn_walk_destroy(cn_walk_t **self_p);

/* After cn_walk_wait. */
uint64_t cn_walk_count(const cn_walk_t *w);
const cn_walk_entry_t *cn_walk_entry(const cn_walk_t *w, uint64_t i);
uint64_t cn_walk_errors_total(const cn_walk_t *w);
const cn_walk_error_t *cn_walk_errors(const cn_walk_t *w, size_t *n);

/* Calls cb for every entry (the root first, path "") in cn_path_cmp order with
   its path relative to the root. Stops and returns cb's value when non-zero. */
int cn_walk_sorted(cn_walk_t *w,
                   int (*cb)(void *arg, const uint8_t *path, size_t len, const cn_walk_entry_t *e),
                   void *arg);

#endif
