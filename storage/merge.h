/* merge.h: the merge stage (DESIGN §6; storage/MERGE.md). Folds every shard
   (read-only, while workers keep writing) into the merged store under
   <data>/merged/, a store in the shard format that queries open with
   cn_merge_open. One merge at a time (a folder lock); a merge that dies at any
   point leaves the previous merged store in place. Not thread-safe per call
   (a merge runs its own threads inside). */
#ifndef CN_MERGE_H
#define CN_MERGE_H

#include "shard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *data_dir;      /* <data>: shards are read from <data>/shards/ * */
    const char *const *shards; /* explicit shard directories (tests), else NULL */
    size_t nshards;
    unsigned threads; /* 0: 2 */
    /* Checked between phases and every 64 Ki records (may be NULL): true stops
       the merge with CN_ECANCELLED, leaving the merged store as it was. */
    bool (*stop)(void *arg);
    void *stop_arg;
    /* Progress (may be NULL): phase names ("shards", "families", "journal",
       "switch"), done of total units, records read so far. Called from the
       merge's threads, one call at a time. */
    void (*progress)(void *arg, const char *phase, uint64_t done, uint64_t total, uint64_t records);
    void *progress_arg;
    /* Bytes (keys + values) a shard's new records since its last merge may hold
       in memory; past them the shard is read whole (storage/MERGE.md). 0: the
       default, 256 MiB; tests set less. */
    size_t delta_bytes_max;
} cn_merge_opts_t;

/* One family's counts: new = written into the merged store by this merge;
   existing = read from a shard but already merged; dropped = read from a shard
   and left out (fenced or uncommitted lease, older version). */
typedef struct {
    uint64_t new_, existing, dropped;
} cn_merge_count_t;

typedef struct {
    char *kind;
    uint64_t n;
} cn_merge_kind_t;

typedef struct {
    uint64_t job_id;
    const char *issue; /* "no committed result" | "more than one committed result" */
    uint64_t *leases;  /* the committed leases (or the leases seen) */
    size_t nleases;
    char *shards; /* comma-separated shard names where it was seen */
} cn_merge_problem_t;

typedef struct {
    cn_merge_count_t records[CN_CF_COUNT_];
    cn_merge_kind_t *jobs; /* jobs merged per kind, sorted by kind */
    size_t njobs;
    cn_merge_problem_t *problems; /* sorted by job id */
    size_t nproblems;
    uint64_t shards_read, shards_skipped;
    uint64_t shards_incremental; /* of shards_read: read from their change feed, not whole */
    uint64_t records_read;       /* records read from shards */
    uint64_t journal_entries;    /* new merged journal entries */
    uint64_t generation;         /* the merged store's generation after the merge */
    uint64_t ms;                 /* wall time of the merge */
} cn_merge_report_t;

/* Runs one merge. Returns 0 and *out (free with cn_merge_report_free), or a
   negative CN_E* code with a detail (CN_ELOCKED: another merge is running).
   Blocks: reads every shard that moved since its watermark. */
int cn_merge_run(const cn_merge_opts_t *o, cn_merge_report_t **out);
void cn_merge_report_free(cn_merge_report_t **self_p);
/* The report as JSON: {"jobs":{kind:n}, "records":{family:{"new","existing",
   "dropped"}}, "problems":[...], "shards_read", ...}. Appends to out. */
void cn_merge_report_json(const cn_merge_report_t *r, cn_buf_t *out);
/* The report for people (one table). Appends to out. */
void cn_merge_report_text(const cn_merge_report_t *r, cn_buf_t *out);

/* Opens the current merged store of data_dir read-only (queries call this).
   CN_ENOTFOUND with a detail when nothing was merged yet. *out: close with
   cn_shard_close. Retries when a merge replaces the store meanwhile. */
int cn_merge_open(const char *data_dir, cn_shard_t **out);
/* The directory of the current merged generation (owned by the caller), or NULL. */
char *cn_merge_current_dir(const char *data_dir);

/* Record counts per family and one BLAKE2b-256 over every record of every
   family but meta (what "identical merged content" means in tests). */
typedef struct {
    uint64_t records[CN_CF_COUNT_];
    uint64_t total;
    uint8_t hash[32];
} cn_merge_digest_t;
int cn_merge_digest(cn_shard_t *s, cn_merge_digest_t *d);

#endif
