/* dldiff.h: the download's tree diffs on a pool of threads. The walk hands
   over chunks of commits in their order (each with its tree and its first
   parent's); the threads diff them in any order, each through its own git
   handle (cn_git_open_sibling: its own pack reader, no lock shared), and the
   walk takes the chunks back in the order it gave them, so contents, changes
   and commits still reach the store parents first. At most CN_DLDIFF_WINDOW
   chunks are out at a time. */
#ifndef CN_DLDIFF_H
#define CN_DLDIFF_H

#include "git.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_DLDIFF_CHUNK 128 /* commits per chunk */
#define CN_DLDIFF_WINDOW 8  /* chunks out at a time */

/* One change as a diff thread recorded it (cn_tdiff_change_t, kept). */
typedef struct {
    size_t path_off, path_len; /* into the chunk's path bytes */
    cn_oid_t oid, old_oid;
    uint32_t mode;
    bool deleted, has_old;
} cn_dldiff_change_t;

/* One commit of a chunk, filled by the walk; the pool adds its changes. */
typedef struct {
    bool diff; /* false: nothing to diff (skipped, or failed before) */
    bool has_parent;
    cn_oid_t tree, ptree;
    void *arg; /* the walk's own */
    /* A failure, the walk's before the diff or the diff's: CN_E* and detail. */
    int rc;
    char detail[256];
    size_t first, n; /* its changes in the chunk's array */
} cn_dldiff_item_t;

typedef struct {
    cn_dldiff_item_t items[CN_DLDIFF_CHUNK];
    size_t n;
    cn_dldiff_change_t *changes;
    size_t nchanges, cap;
    cn_buf_t paths;
} cn_dldiff_chunk_t;

typedef struct cn_dldiff cn_dldiff_t;

/* Starts threads (at least 1) diffing through siblings of g. */
int cn_dldiff_start(cn_git_t *g, int threads, cn_dldiff_t **out);
/* A chunk to fill (n = 0, no changes) when fewer than CN_DLDIFF_WINDOW are out,
   else NULL. */
cn_dldiff_chunk_t *cn_dldiff_next(cn_dldiff_t *p);
/* Hands the chunk from cn_dldiff_next to the threads (every chunk handed out
   is submitted before the next cn_dldiff_take). */
void cn_dldiff_submit(cn_dldiff_t *p, cn_dldiff_chunk_t *c);
/* The oldest chunk submitted, once diffed (blocks), or NULL when none is out.
   It stays the caller's until cn_dldiff_done, which gives it back. */
cn_dldiff_chunk_t *cn_dldiff_take(cn_dldiff_t *p);
void cn_dldiff_done(cn_dldiff_t *p);
/* After a failure: the threads diff nothing more, and cn_dldiff_take hands
   back a chunk not diffed yet at once (only one being diffed is waited for). */
void cn_dldiff_stop(cn_dldiff_t *p);
/* Stops and joins the threads (chunks not taken are dropped). */
void cn_dldiff_free(cn_dldiff_t **self_p);

#endif
