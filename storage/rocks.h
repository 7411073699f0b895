/* rocks.h: the one module (rocks.c, rocks_*.c) that includes rocksdb/c.h. A
   thin, typed wrapper over a RocksDB database with named column families: open
   (read-write with a folder lock, read-only, or a secondary instance that catches
   up with a live writer), batches, gets, iterators, checkpoints, SST files and
   ingestion. shard.c (append-only shards), the coordinator's queue
   store and the merged store are built on it. Thread-safe as RocksDB is. */
#ifndef CN_ROCKS_H
#define CN_ROCKS_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_rocks cn_rocks_t;
typedef struct cn_rocks_batch cn_rocks_batch_t;
typedef struct cn_rocks_iter cn_rocks_iter_t;

typedef struct {
    bool read_only;        /* no lock; sees the data as of open (see refresh) */
    bool create;           /* create the database (a writer creates missing families anyway) */
    bool bulk;             /* tuned for bulk loading (larger memtables) */
    size_t block_cache_mb; /* 0: default */
    bool paranoid;         /* fsck: a corrupt record inside the WAL fails the open
                              (a torn tail is still tolerated) instead of being
                              silently cut off with everything after it */
    /* Non-NULL: open as a RocksDB secondary instance (no lock, read-only) that
       catches up with the live writer on cn_rocks_catch_up. Its own info log
       goes in this private folder (made if missing; one opener per folder). */
    const char *secondary_dir;
    /* Readers (read-only, secondary): bit i set opens cfs[i] (i < 64); the other
       families read as empty and a secondary skips their WAL records, so it holds
       and replays only what it reads. 0: all. Writers open every family. */
    uint64_t only_cfs;
} cn_rocks_opts_t;

/* Opens dir with the given column families (cfs[0] may be "default"; missing ones
   are created when opts->create). Writers take dir/canopy.lock first: a second writer
   fails at once with CN_ELOCKED naming the holder's pid. Blocks on disk I/O. */
int cn_rocks_open(const char *dir, const char *const *cfs, size_t ncf, const cn_rocks_opts_t *opts,
                  cn_rocks_t **out);
void cn_rocks_close(cn_rocks_t **self_p);
/* The unique id RocksDB wrote at the creation of the database at dir (its
   IDENTITY file): a database removed and made again under the same name has
   another. Copies it into out (at most cap - 1 bytes and a NUL; "" when it
   cannot be read, as while the database is being made). CN_ENOTFOUND when dir
   holds no database. Does not open it; blocks on disk I/O. */
int cn_rocks_identity(const char *dir, char *out, size_t cap);
/* Read-only openers: catch up with a live writer (reopen; a secondary catches up). */
int cn_rocks_refresh(cn_rocks_t *db);
/* A secondary instance: reads the writer's new MANIFEST entries and WAL tail, so
   that reads started afterwards see every write the writer made before the call.
   Costs what is new since the last catch-up, not a WAL replay. 0 or CN_EIO /
   CN_ECORRUPT (the handle may then be closed and opened again). A no-op returning
   0 for other handles. Blocks on disk I/O; not while another thread iterates. */
int cn_rocks_catch_up(cn_rocks_t *db);

int cn_rocks_get(cn_rocks_t *db, int cf, const void *key, size_t klen, cn_buf_t *val);
/* The same, appending at most the value's first max bytes (read from the
   pinned value: nothing else is copied). */
int cn_rocks_get_head(cn_rocks_t *db, int cf, const void *key, size_t klen, size_t max, cn_buf_t *val);
/* One round trip for many keys: found[i] tells which exist; vals may be NULL. */
int cn_rocks_multi_get(cn_rocks_t *db, int cf, const void *const *keys, const size_t *klens, size_t n,
                       bool *found, cn_buf_t *vals);

cn_rocks_batch_t *cn_rocks_batch_new(void);
void cn_rocks_batch_destroy(cn_rocks_batch_t **self_p);
void cn_rocks_batch_put(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl, const void *v,
                        size_t vl);
void cn_rocks_batch_delete(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl);
size_t cn_rocks_batch_count(const cn_rocks_batch_t *b);
void cn_rocks_batch_clear(cn_rocks_batch_t *b);
/* Writes the batch atomically; sync: fsync the WAL before returning. */
int cn_rocks_write(cn_rocks_t *db, cn_rocks_batch_t *b, bool sync);
/* Fsyncs the WAL: every write returned so far is durable. Blocks. */
int cn_rocks_sync_wal(cn_rocks_t *db);

/* Iterator over one family, optionally limited to a key prefix. */
int cn_rocks_iter_new(cn_rocks_t *db, int cf, const void *prefix, size_t plen, cn_rocks_iter_t **out);
void cn_rocks_iter_seek(cn_rocks_iter_t *it, const void *key, size_t klen);
void cn_rocks_iter_seek_first(cn_rocks_iter_t *it);
void cn_rocks_iter_seek_last(cn_rocks_iter_t *it);
bool cn_rocks_iter_valid(cn_rocks_iter_t *it);
void cn_rocks_iter_next(cn_rocks_iter_t *it);
void cn_rocks_iter_prev(cn_rocks_iter_t *it);
const uint8_t *cn_rocks_iter_key(cn_rocks_iter_t *it, size_t *klen);
const uint8_t *cn_rocks_iter_value(cn_rocks_iter_t *it, size_t *vlen);
void cn_rocks_iter_destroy(cn_rocks_iter_t **self_p);
/* 0, or the error (CN_ECORRUPT, CN_EIO) that made the iterator stop early. */
int cn_rocks_iter_status(cn_rocks_iter_t *it);

int cn_rocks_checkpoint(cn_rocks_t *db, const char *dst);
uint64_t cn_rocks_seq(cn_rocks_t *db);
/* False when a read-only opener found no such family (an older database). */
bool cn_rocks_has_cf(const cn_rocks_t *db, int cf);
int cn_rocks_drop_cf(cn_rocks_t *db, int cf); /* drops and recreates it empty */
/* Writes every family's memtable to table files (the log is then obsolete, so
   a later open replays nothing); waits for it. */
int cn_rocks_flush(cn_rocks_t *db);
/* The same on RocksDB's background threads: returns at once. */
int cn_rocks_flush_start(cn_rocks_t *db);
/* Approximate number of keys in a family (estimate). */
uint64_t cn_rocks_estimate_keys(cn_rocks_t *db, int cf);

/* Bulk path: write sorted keys to an SST file, then ingest it into a family. */
typedef struct cn_rocks_sst cn_rocks_sst_t;
int cn_rocks_sst_open(cn_rocks_t *db, const char *path, cn_rocks_sst_t **out);
/* Keys must be added in strictly increasing order. */
int cn_rocks_sst_put(cn_rocks_sst_t *w, const void *k, size_t kl, const void *v, size_t vl);
/* Finishes the file; *empty is set when nothing was added (no file written). */
int cn_rocks_sst_finish(cn_rocks_sst_t **self_p, bool *empty);
int cn_rocks_ingest(cn_rocks_t *db, int cf, const char *const *paths, size_t n);

#endif
