/* journal.h: the shard's immutable journal (DESIGN §5; storage/JOURNAL.md).
   Each entry (journal_id, type, metadata, committed, at, cause, data_hash,
   data) is written once, uncommitted, while its job runs; its commit marker is
   a pointer record written in the job's commit batch, so an entry is committed
   exactly when its job's commit record exists. Entry data lives in the blobs
   family under its BLAKE2b-256 (JournalEntry.data stays empty). Thread-safe. */
#ifndef CN_JOURNAL_H
#define CN_JOURNAL_H

#include "shard.h"

#include <stdbool.h>
#include <stdint.h>

/* Key suffix of a commit marker: journal_id BE64 | 'C'. */
#define CN_JOURNAL_COMMIT_TAG 'C'

/* Stores data as a blob (content-addressed, idempotent), then appends e as a
   new uncommitted entry with the next journal id of this shard (ids increase
   strictly; a process-wide lock orders concurrent appenders). Sets
   e->journal_id, e->data_hash (pointing at hash, 32 bytes kept by the caller)
   and clears e->committed and e->data. Not synced: the commit batch syncs.
   Returns 0 or a CN_E* code. Blocks on disk I/O. */
int cn_journal_append(cn_shard_t *s, Canopy__JournalEntry *e, const void *data, size_t n, uint8_t hash[32]);

/* Adds e's commit marker to b (the job's commit batch, cn_job_commit_batch). */
void cn_journal_commit(cn_batch_t *b, const Canopy__JournalEntry *e);

/* Called for every entry, with committed set when its commit marker exists;
   the entry is owned by the iteration. A non-zero return stops it. */
typedef int (*cn_journal_cb)(void *arg, const Canopy__JournalEntry *e, bool committed);

/* Calls cb for every entry with id >= from in id order. A non-zero cb return
   stops and is returned. Undecodable entries fail with CN_ECORRUPT. */
int cn_journal_each(cn_shard_t *s, uint64_t from, cn_journal_cb cb, void *arg);

/* A source of journal family records in key order (a shard's iterator, or
   records a merge read from a change feed): sets the next key and value (valid
   until the next call) and returns true, or false at the end. */
typedef bool (*cn_journal_next_fn)(void *src, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl);

/* cn_journal_each over any source: pairs each entry with the commit marker that
   follows it (a marker sorts right after its entry; a marker without its entry
   is skipped). Returns 0, cb's non-zero return, or a CN_E* code. */
int cn_journal_pair(cn_journal_next_fn next, void *src, cn_journal_cb cb, void *arg);

/* Reads an entry by id; CN_ENOTFOUND if absent. *out: free with cn_rec_free. */
int cn_journal_get(cn_shard_t *s, uint64_t journal_id, Canopy__JournalEntry **out, bool *committed);

/* Loads e's data (from the blobs family) and checks it against data_hash.
   CN_ECORRUPT when it does not match. */
int cn_journal_data(cn_shard_t *s, const Canopy__JournalEntry *e, cn_buf_t *out);

/* The highest journal id in the shard (0 when empty). */
uint64_t cn_journal_last(cn_shard_t *s);

#endif
