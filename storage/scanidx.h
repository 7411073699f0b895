/* scanidx.h: the derived tables of scans (the per-space path index) in the
   scanidx family: one row per committed scan (listed by space) and one row per
   directory of each scan (its own stat and its children's), so --ls and --stat
   are one or two point reads. Droppable: cn_scanidx_rebuild replays the
   journal from zero. The read functions take any opened store (a shard, or the
   merged store later) and never write. Thread-safe. */
#ifndef CN_SCANIDX_H
#define CN_SCANIDX_H

#include "pathtree.h"
#include "shard.h"

#include <stdbool.h>
#include <stdint.h>

/* One committed scan, as listed. */
typedef struct {
    uint64_t job_id, lease_seq, attempt, journal_id, at_ms;
    Canopy__ScanMeta *meta; /* owned */
    uint8_t hash[32];       /* BLAKE2b-256 of the tree */
} cn_scan_t;

/* An entry as stored in a directory row. Pointers point into the row. */
enum { CN_LINK_NONE = 0, CN_LINK_BROKEN = 1, CN_LINK_OUTSIDE = 2, CN_LINK_INSIDE = 3 };
typedef struct {
    const uint8_t *name;
    size_t name_len;
    cn_pstat_t st;
    const uint8_t *target;
    size_t target_len;
    int link;                /* CN_LINK_* */
    const uint8_t *resolved; /* CN_LINK_INSIDE: path relative to the root */
    size_t resolved_len;
} cn_scan_ent_t;

/* ---- writing (job commit and replay) ---- */

/* Writes the directory rows of tree t for entry e (many unsynced batches: they
   are invisible until the scan row exists), then puts the scan row into
   commit (the job's commit batch) or, when commit is NULL, appends it.
   space is taken from e's ScanMeta. Returns 0 or a CN_E* code. */
int cn_scanidx_apply(cn_shard_t *s, const Canopy__JournalEntry *e, const cn_ptree_t *t, cn_batch_t *commit);

typedef struct {
    uint64_t entries, applied, uncommitted, other_types;
    uint64_t unreadable; /* committed scans whose tree is missing, corrupt or of an unknown version */
} cn_scanidx_stats_t;
/* Drops the scanidx family and rebuilds it by replaying every committed scan
   entry of the journal in id order. An entry whose tree cannot be read is
   counted (stats->unreadable, logged) and skipped: one bad entry does not keep
   the others out of the index. Writers only. Blocks (reads every tree). */
int cn_scanidx_rebuild(cn_shard_t *s, cn_scanidx_stats_t *stats);

/* ---- reading ---- */

/* Lists committed scans of space (NULL: all spaces), oldest job first; a job
   committed under more than one lease is listed once (the highest lease).
   *out: free with cn_scanidx_free. */
int cn_scanidx_list(cn_shard_t *s, const char *space, cn_scan_t **out, size_t *n);
void cn_scanidx_free(cn_scan_t *v, size_t n);

/* Reads the row of directory path (relative to the root, "" = root) of a
   scan into raw. CN_ENOTFOUND when the path is not a directory of the scan. */
int cn_scanidx_dir(cn_shard_t *s, uint64_t journal_id, const uint8_t *path, size_t len, cn_buf_t *raw);
/* Parses a directory row: self (may be NULL) receives the directory's own
   entry; cb (may be NULL) is called per child in name order. CN_ECORRUPT on a
   malformed row. */
int cn_scanidx_parse(const uint8_t *raw, size_t len, cn_scan_ent_t *self,
                     int (*cb)(void *arg, const cn_scan_ent_t *e), void *arg);
/* Stats one path of a scan; raw holds the row *out points into.
   CN_ENOTFOUND when absent. */
int cn_scanidx_stat(cn_shard_t *s, uint64_t journal_id, const uint8_t *path, size_t len, cn_buf_t *raw,
                    cn_scan_ent_t *out);
/* Loads and decodes a scan's whole tree (for find and diff). */
int cn_scanidx_tree(cn_shard_t *s, uint64_t journal_id, cn_ptree_t **out);

#endif
