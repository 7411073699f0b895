/* dlstore.h: the download's second thread and its base cache. The walk
   (download_walk.c) fills units: a batch of encoded records plus the raw file
   contents its commits name, each with the earlier version of its path as a
   delta base when there is one. The store thread compresses the contents into
   the unit's batch and appends the units to the shard in the order they were
   handed over, so a commit is never visible before what it names, while the
   walk goes on reading git. The base cache keeps the bytes of recently stored
   contents, so the base of a modified file is rarely read from git twice. */
#ifndef CN_DLSTORE_H
#define CN_DLSTORE_H

#include "git.h"
#include "keyset.h"
#include "shard.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shared, immutable bytes (a file's content) that another object owns (a git
   blob, read once), released with the last reference. */
typedef struct {
    atomic_uint refs;
    size_t len;
    const uint8_t *data;
    void (*release)(void *owner);
    void *owner;
} cn_dlbuf_t;

/* Wraps data owned by owner; release(owner) runs with the last reference, on
   whichever thread drops it. */
cn_dlbuf_t *cn_dlbuf_wrap(const void *data, size_t len, void (*release)(void *owner), void *owner);
cn_dlbuf_t *cn_dlbuf_ref(cn_dlbuf_t *b);
void cn_dlbuf_unref(cn_dlbuf_t *b); /* NULL is fine */

/* ---- the base cache: oid -> stored depth, and the bytes while they fit ---- */
typedef struct cn_bcache cn_bcache_t;

cn_bcache_t *cn_bcache_new(size_t max_bytes);
void cn_bcache_free(cn_bcache_t **self_p);
/* How a content this job stored is stored. */
typedef struct {
    unsigned depth;           /* 0: whole */
    bool has_root;            /* root is known: this job stored the whole one */
    uint8_t root[CN_OID_LEN]; /* the whole content its chain starts from */
} cn_bcache_info_t;

/* Remembers a content stored as *info; keeps a reference to buf (may be
   NULL). The oldest bytes are dropped past max_bytes; the infos stay. */
void cn_bcache_put(cn_bcache_t *c, const uint8_t oid[CN_OID_LEN], const cn_bcache_info_t *info,
                   cn_dlbuf_t *buf);
/* True when oid was stored by this job: *info, and *buf a new reference to
   its bytes or NULL when they were dropped. */
bool cn_bcache_get(const cn_bcache_t *c, const uint8_t oid[CN_OID_LEN], cn_bcache_info_t *info,
                   cn_dlbuf_t **buf);

/* ---- a commit's records (dlrecords.c, on the store thread) ---- */
typedef struct {
    size_t path_off, path_len; /* the path's bytes (as in the tree) in a buffer
                                  the caller passes beside the changes */
    uint8_t oid[CN_OID_LEN];   /* the new blob (or submodule commit) */
    uint32_t mode;
    bool deleted;
} cn_dlchange_t;

typedef struct {
    cn_keyset_t paths, users; /* queued by this store */
    uint64_t paths_new, users_new;
    void *chg;   /* Canopy__Change scratch, and its pointers and keys */
    void **chgp; /* (kept between commits) */
    uint8_t *keys;
    size_t cap;
} cn_dlrec_t;

void cn_dlrec_init(cn_dlrec_t *r);
void cn_dlrec_free(cn_dlrec_t *r);
/* Queues the Changes record of chg[0..n) (their paths in paths), new paths
   and users, then the Commit. */
void cn_dlrec_commit(cn_dlrec_t *r, cn_batch_t *b, const uint8_t oid[CN_OID_LEN], const cn_git_commit_t *c,
                     const uint8_t *paths, const cn_dlchange_t *chg, size_t n);

/* ---- the store thread ---- */
typedef struct cn_dlstore cn_dlstore_t;

/* Starts the thread; units hold at most max_inflight raw bytes in all. */
int cn_dlstore_start(cn_shard_t *shard, size_t max_inflight, cn_dlstore_t **out);
/* The batch of the unit being filled (it changes at each flush). */
cn_batch_t *cn_dlstore_batch(cn_dlstore_t *s);
/* Queues a content for the current unit, stored whole (base NULL) or as a
   delta against base (base_depth: the base's own stored depth). Takes new
   references to data and base. */
void cn_dlstore_content(cn_dlstore_t *s, const uint8_t oid[CN_OID_LEN], cn_dlbuf_t *data,
                        const uint8_t *base_oid, cn_dlbuf_t *base, unsigned base_depth);
/* Queues a change of the commit being walked (path copied; oid NULL when
   deleted). */
void cn_dlstore_change(cn_dlstore_t *s, const uint8_t *path, size_t path_len, const uint8_t *oid,
                       uint32_t mode);
/* The changes queued since the last commit belong to commit oid, whose
   records the store thread builds; it takes c (and frees it there). */
void cn_dlstore_commit(cn_dlstore_t *s, const uint8_t oid[CN_OID_LEN], cn_git_commit_t *c);
/* Forgets the changes queued since the last commit (a commit not stored). */
void cn_dlstore_drop_changes(cn_dlstore_t *s);
/* True when the current unit is big enough to hand over: 500 commits, or
   8 MiB of records, changes and raw contents. */
bool cn_dlstore_full(const cn_dlstore_t *s);
/* Hands the current unit over and starts a new one; blocks while too much is
   in flight. Returns the thread's first error (with its detail), if any. */
int cn_dlstore_flush(cn_dlstore_t *s);
typedef struct {
    uint64_t stored_bytes; /* compressed content bytes queued */
    uint64_t paths_new, users_new;
} cn_dlstore_stats_t;

/* Flushes and waits until every unit is appended; *st: what the thread did. */
int cn_dlstore_finish(cn_dlstore_t *s, cn_dlstore_stats_t *st);
/* Stops the thread, dropping units not appended yet (a failed or cancelled
   download: what was appended is content-addressed and harmless). */
void cn_dlstore_free(cn_dlstore_t **self_p);

#endif
