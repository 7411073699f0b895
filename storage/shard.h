/* shard.h: one RocksDB shard store (the only header whose .c includes
   rocksdb/c.h). One writer process per shard (folder lock), any number of
   read-only openers. Append-only: a key, once written, is never changed.
   Thread-safe for reads and appends. Layout: storage/LAYOUT.md. */
#ifndef CN_SHARD_H
#define CN_SHARD_H

#include "util.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_SHARD_FORMAT 1u

/* Column families, one per record kind. Never renumber: add at the end. */
typedef enum {
    CN_CF_META = 0, /* stamp, sessions (command log), savepoints, watermarks */
    CN_CF_JOBS,     /* JobCommit: job_id BE64 | lease_seq BE64 */
    CN_CF_BLOBS,    /* content-addressed bytes (zstd): hash -> frame */
    CN_CF_COMMITS,  /* git commits: oid -> Commit */
    CN_CF_CHANGES,  /* commit oid -> Changes */
    CN_CF_PATHS,    /* interned paths: hash -> PathName */
    CN_CF_USERS,    /* email hash -> User */
    CN_CF_HEADS,    /* project_id BE64 | lease_seq BE64 -> Heads (pointer) */
    CN_CF_PROJLOG,  /* project_id BE64 | lease_seq BE64 -> ProjectLog (pointer) */
    CN_CF_PROJECTS, /* project_id BE64 -> Project */
    CN_CF_JOURNAL,  /* journal_id BE64 -> JournalEntry */
    CN_CF_SCANIDX,  /* derived per-space path index (droppable) */
    CN_CF_SYNC,     /* sync journal */
    CN_CF_CHUNKS,   /* compiled chunks */
    CN_CF_DEFS,     /* ingest defs and indexes */
    CN_CF_REFS,     /* ingest refs and indexes */
    CN_CF_FEED,     /* change feed: counter BE64 -> (family, key) list of one append */
    CN_CF_COUNT_
} cn_cf_t;

/* Name of a family as stored in RocksDB ("meta", "jobs", ...). */
const char *cn_cf_name(cn_cf_t cf);
/* True for families whose records may be rewritten or deleted (derived tables,
   meta): append-only checks do not apply to them. */
bool cn_cf_mutable(cn_cf_t cf);

typedef struct cn_shard cn_shard_t;

typedef struct {
    bool read_only;     /* open without the lock, alongside a writer */
    bool create;        /* create the shard if missing (writers) */
    const char *worker; /* recorded in the session log */
    bool paranoid;      /* fsck: corruption inside the WAL fails the open */
    bool verify_append; /* check every append against existing keys (default on
                           for non content-addressed families; see shard.c) */
    bool no_feed;       /* appends write no feed records (the merged store) */
    /* Non-NULL: open as a RocksDB secondary instance alongside the writer
       (read_only semantics: no lock, no session, no writes) that sees new writes
       after cn_shard_catch_up. The folder is its private scratch, made if
       missing; the caller removes it after closing. */
    const char *secondary_dir;
    /* Readers (read_only, secondary_dir): bit (1u << cf) per family to open, the
       others read as empty (a secondary then holds and replays only those). The
       meta family is always opened. 0: all. */
    uint32_t only_families;
} cn_shard_opts_t;

/* What open found out, for the caller to report. */
typedef struct {
    bool unclean_last_session; /* the previous writer session never ended */
    Canopy__Stamp *stamp;      /* stamp recorded at creation (owned by shard) */
} cn_shard_info_t;

/* Opens or creates the shard at dir. A writer takes dir/canopy.lock: a second writer
   fails at once with CN_ELOCKED and a detail naming the holder's pid. Records a
   new session in the command log. Returns 0 or a negative CN_E* code; *out is
   owned by the caller. Blocks on disk I/O. */
int cn_shard_open(const char *dir, const cn_shard_opts_t *opts, cn_shard_t **out);
/* Ends the session cleanly (writers), closes and frees; safe on NULL. */
void cn_shard_close(cn_shard_t **self_p);
/* A secondary (opts.secondary_dir): catches up with the shard's live writer, so
   reads and iterators made afterwards see every write it made before the call.
   Cheap (what is new since the last catch-up). 0 for other shards; a failure
   (CN_EIO, CN_ECORRUPT) means: close it and open it again. Blocks on disk I/O;
   do not run it while another thread reads the same shard. */
int cn_shard_catch_up(cn_shard_t *s);
/* Starts writing the shard's memtables to table files in the background and
   returns at once: a reader opening the shard afterwards (a query) replays no
   log. For a writer that has gone idle; cheap when nothing is new. */
int cn_shard_flush_start(cn_shard_t *s);
const cn_shard_info_t *cn_shard_info(const cn_shard_t *s);
const char *cn_shard_dir(const cn_shard_t *s);
/* The shard folders under shards_dir (<data>/shards): the names of its
   subdirectories, sorted, hidden ones left out. CN_ENOTFOUND when shards_dir
   is missing. Free each name and *names. */
int cn_shard_list(const char *shards_dir, char ***names, size_t *n);
/* The identity of the shard database at dir (cn_rocks_identity: changes when
   the shard is removed and made again under the same name; "" when it cannot
   be read yet) into out[cap]. CN_ENOTFOUND when dir holds no database. Does
   not open it; blocks on disk I/O. */
int cn_shard_identity(const char *dir, char *out, size_t cap);

/* Point reads. CN_ENOTFOUND when absent; val is appended to. */
int cn_shard_get(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen, cn_buf_t *val);
/* Only the value's first max bytes (a header), without copying the rest. */
int cn_shard_get_head(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen, size_t max, cn_buf_t *val);
bool cn_shard_has(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen);

/* ---- batched appends ---- */
typedef struct cn_batch cn_batch_t;

cn_batch_t *cn_batch_new(void);
void cn_batch_destroy(cn_batch_t **self_p);
/* Queues key -> value. Nothing is written until cn_shard_append. */
void cn_batch_put(cn_batch_t *b, cn_cf_t cf, const void *key, size_t klen, const void *val, size_t vlen);
/* Mutable families only. */
void cn_batch_delete(cn_batch_t *b, cn_cf_t cf, const void *key, size_t klen);
size_t cn_batch_count(const cn_batch_t *b);
size_t cn_batch_bytes(const cn_batch_t *b);
void cn_batch_clear(cn_batch_t *b);

/* Writes the batch atomically (sync: fsync before returning). Append-only rule:
   a put whose key exists with the same value is dropped; with a different value
   the whole batch is refused with CN_ECONFLICT. Clears b on success. */
int cn_shard_append(cn_shard_t *s, cn_batch_t *b, bool sync);

/* ---- the change feed (storage/LAYOUT.md) ----
   Every append that writes something also writes, in the same atomic write, one
   record in CN_CF_FEED: key = feed counter BE64 (strictly increasing per shard,
   no gaps), value = the (family, key) pairs of the puts it wrote. */
/* Walks a feed record's value: returns 1 and the next pair, 0 at the end, or
   CN_ECORRUPT. *p advances. */
int cn_feed_next(const uint8_t **p, const uint8_t *end, cn_cf_t *cf, const uint8_t **key, size_t *klen);
/* Appends one pair to a feed record value. */
void cn_feed_put(cn_buf_t *v, cn_cf_t cf, const void *key, size_t klen);
/* The last feed counter written in the shard (0: none). */
uint64_t cn_feed_last(cn_shard_t *s);

/* ---- per-job commit records (DESIGN §2.3) ---- */
typedef struct {
    uint64_t job_id;
    uint32_t attempt;
    uint64_t lease_seq;
    const char *kind;
    uint64_t key_id;
    const char *summary; /* JSON object, may be NULL */
} cn_job_commit_t;

/* Adds the commit record for c to pointers and writes them in one synced batch:
   the job's effect becomes visible atomically. */
int cn_shard_commit_job(cn_shard_t *s, cn_batch_t *pointers, const cn_job_commit_t *c);
/* Several jobs in one synced write (group commit). */
int cn_shard_commit_jobs(cn_shard_t *s, cn_batch_t **pointers, const cn_job_commit_t *c, size_t n);
/* Looks up a job's commit for lease_seq (0: the highest). *out: free with cn_rec_free. */
int cn_shard_job_commit(cn_shard_t *s, uint64_t job_id, uint64_t lease_seq, Canopy__JobCommit **out);
/* The highest lease_seq under which the job committed here (0: none), from the
   commit records' keys alone (nothing unpacked). */
uint64_t cn_shard_job_top_lease(cn_shard_t *s, uint64_t job_id);

/* ---- iteration (prefix scans in key order) ---- */
typedef struct cn_iter cn_iter_t;

/* Iterates keys of cf starting with prefix (plen 0: all), in order. */
int cn_iter_new(cn_shard_t *s, cn_cf_t cf, const void *prefix, size_t plen, cn_iter_t **out);
/* Positions at the first key >= key (within the prefix). */
void cn_iter_seek(cn_iter_t *it, const void *key, size_t klen);
/* Positions at the last key of the prefix (for "latest" lookups). */
void cn_iter_seek_last(cn_iter_t *it);
bool cn_iter_valid(cn_iter_t *it);
void cn_iter_next(cn_iter_t *it);
void cn_iter_prev(cn_iter_t *it);
const uint8_t *cn_iter_key(cn_iter_t *it, size_t *klen);
const uint8_t *cn_iter_value(cn_iter_t *it, size_t *vlen);
void cn_iter_destroy(cn_iter_t **self_p);
/* The first 8 bytes (big-endian) of the last key in cf, 0 when cf is empty or its
   last key is shorter: the newest id of families keyed by a counter. */
uint64_t cn_shard_last_u64(cn_shard_t *s, cn_cf_t cf);

/* ---- content-addressed blobs ---- */
/* Stores data under its BLAKE2b-256 hash (or under key if given, e.g. a git oid),
   zstd-compressed, in b. hash_out receives the key used when key is NULL. */
void cn_blob_put(cn_batch_t *b, const void *key, size_t klen, const void *data, size_t n,
                 uint8_t hash_out[32]);
/* Reads and decompresses a blob (at most max bytes; CN_ETOOBIG past it). A blob
   stored as a delta is rebuilt through its chain of bases (each read whole, up to
   64 links; bases may be larger than max): a missing or corrupt base, a cycle or
   a longer chain is CN_ECORRUPT naming the key. Blocks on disk I/O. */
int cn_blob_get(cn_shard_t *s, const void *key, size_t klen, size_t max, cn_buf_t *out);

#define CN_BLOB_MAX_DEPTH 16 /* a delta chain longer than this is cut by storing the blob whole */
/* Queues a blob under key stored as a delta against the blob under base_key, whose bytes are
   base[0..base_n) and whose own depth is base_depth (0: stored whole). When base_depth + 1 >
   CN_BLOB_MAX_DEPTH it is stored whole (as cn_blob_put with that key); also when the delta
   cannot be made (key NULL or equal to base_key, base_klen 0 or over 255, base over
   CN_ZSTD_REF_MAX) or is no smaller than the whole frame (checked when it saves little). base_depth is the
   depth the base is stored with (cn_blob_depth, or the caller's count): cn_shard_append raises a depth that
   is not above the stored base's, which the merge relies on (storage/MERGE.md, "Delta blobs"). */
void cn_blob_put_delta(cn_batch_t *b, const void *key, size_t klen, const void *data, size_t n,
                       const void *base_key, size_t base_klen, const void *base, size_t base_n,
                       unsigned base_depth);
/* The stored depth of the blob under key (0: whole), CN_ENOTFOUND, or CN_ECORRUPT. */
int cn_blob_depth(cn_shard_t *s, const void *key, size_t klen, unsigned *depth);

/* ---- savepoints and checkpoints ---- */
/* Records a named savepoint (a RocksDB checkpoint under dir/savepoints/name). */
int cn_shard_savepoint(cn_shard_t *s, const char *name);
/* Lists savepoints, oldest first. *out: array of n packed Savepoint records,
   free with cn_shard_savepoints_free. */
int cn_shard_savepoints(cn_shard_t *s, Canopy__Savepoint ***out, size_t *n);
void cn_shard_savepoints_free(Canopy__Savepoint **sp, size_t n);
/* Opens the store read-only as of a savepoint. */
int cn_shard_open_savepoint(const char *dir, const char *name, cn_shard_t **out);
/* Writes a consistent checkpoint of the shard into a new directory dst. */
int cn_shard_checkpoint(cn_shard_t *s, const char *dst);
/* The current RocksDB sequence number (for merge watermarks). */
uint64_t cn_shard_seq(cn_shard_t *s);

/* ---- drop a derived family (rebuilt by replay) ---- */
int cn_shard_drop_cf(cn_shard_t *s, cn_cf_t cf);

/* ---- fsck ---- */
typedef struct {
    uint64_t records;
    uint64_t blobs_checked;
    uint64_t commits_checked;
    uint64_t problems;
} cn_fsck_report_t;
/* Checks every blob's hash, every record decodes, every commit record's
   referents exist. Each problem is passed to cb (may be NULL). Returns 0 when
   clean, CN_ECORRUPT when problems were found. */
int cn_shard_fsck(cn_shard_t *s, void (*cb)(void *arg, const char *problem), void *arg,
                  cn_fsck_report_t *report);

/* The stamp of this build (version + git commit). */
const char *cn_build_version(void);
const char *cn_build_commit(void);

#endif
