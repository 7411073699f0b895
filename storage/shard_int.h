/* shard_int.h: the shard's insides, shared by the storage/ files that implement
   shard.h (shard.c open/close/sessions, batch.c appends and job commits, blob.c,
   savepoint.c, fsck.c). Not for use outside storage/. */
#ifndef CN_SHARD_INT_H
#define CN_SHARD_INT_H

#include "rocks.h"
#include "shard.h"

#include <pthread.h>

/* Meta family keys (storage/LAYOUT.md). */
#define CN_META_STAMP "stamp"
#define CN_META_SESSION "session/"     /* + BE64 session number */
#define CN_META_SAVEPOINT "savepoint/" /* + name */

/* Blob values: one kind byte, then the zstd frame. A delta (storage/LAYOUT.md):
   0x03 | depth u8 | base key length u8 | base key | frame made with the base's
   bytes as prefix. Whole kinds sort before deltas, shallow before deep (merge). */
#define CN_BLOB_HASHED 0x01 /* key = BLAKE2b-256 of the content */
#define CN_BLOB_KEYED 0x02  /* key given by the caller (a git oid, ...) */
#define CN_BLOB_DELTA 0x03  /* stored as a delta against another blob */
/* The longest chain a read follows: far above CN_BLOB_MAX_DEPTH, which a merged
   store may exceed when shards chose different bases, so only a cycle or a
   corrupt store reaches it. */
#define CN_BLOB_READ_DEPTH 64

/* Keys are short (hashes, ids): a longer one is a bug in the caller. */
#define CN_SHARD_KEY_MAX (64u << 10)

/* The most pointer keys a JobCommit lists (pointers_total counts all). */
#define CN_COMMIT_MAX_POINTERS 4096

struct cn_shard {
    cn_rocks_t *db;
    char *dir;
    bool read_only;
    bool verify_append;
    char *worker;
    cn_shard_info_t info;
    /* Session record of this writer, rewritten with end_ms on close. */
    uint8_t session_key[sizeof CN_META_SESSION - 1 + 8];
    Canopy__Session *session;
    /* Appends that touch append-only families whose keys are not content hashes
       check and write under this lock, so two threads cannot both pass the
       check with different values. */
    pthread_mutex_t append_mu;
    /* Feed counters are taken and written under this lock, so a reader that
       sees feed record n sees every record before it. */
    pthread_mutex_t feed_mu;
    uint64_t feed_next; /* the counter of the next feed record */
    bool no_feed;
    /* drop_cf replaces a family handle: it takes this for writing. */
    pthread_rwlock_t cf_lock;
};

/* True for families whose key is a hash of the value (or determined by it):
   an existing key means the same record, so appends skip the comparison. */
bool cn_cf_content_addressed(cn_cf_t cf);

/* Marks b as refused: cn_shard_append will fail with code (first reason wins). */
void cn_batch_refuse(cn_batch_t *b, int code, const char *why, cn_cf_t cf);

/* Decodes a stored whole blob value (kind byte + zstd frame) into out, at most
   max bytes; *kind receives CN_BLOB_HASHED or CN_BLOB_KEYED. CN_ECORRUPT or
   CN_ETOOBIG with a detail (a delta value is CN_ECORRUPT here, with *kind
   CN_BLOB_DELTA: it needs its base, cn_blob_get). Never trusts its input (fuzzed). */
int cn_blob_decode(const uint8_t *v, size_t vl, size_t max, cn_buf_t *out, int *kind);

/* Appends a whole blob value (kind CN_BLOB_HASHED or CN_BLOB_KEYED, then the
   zstd frame of data) to out. */
int cn_blob_encode_whole(int kind, const void *data, size_t n, cn_buf_t *out);

/* A delta value's parts (pointers into v). CN_ECORRUPT when v is not a
   well-formed delta (kind, depth 1..255, base key length 1..255 within v). */
typedef struct {
    unsigned depth;
    const uint8_t *base_key;
    size_t base_klen;
    const uint8_t *frame;
    size_t frame_len;
} cn_blob_delta_t;
int cn_blob_parse_delta(const uint8_t *v, size_t vl, cn_blob_delta_t *d);
/* The depth a stored blob value says (0: whole), or CN_ECORRUPT. */
int cn_blob_value_depth(const uint8_t *v, size_t vl);
/* Decodes a delta value with its base's bytes into out, at most max bytes.
   Never trusts its input (fuzzed). */
int cn_blob_decode_delta(const uint8_t *v, size_t vl, const void *base, size_t base_n, size_t max,
                         cn_buf_t *out);

/* cn_blob_get for a caller that holds key's stored value v[0..vl) already (an
   iterator's, fsck and the merge): only its bases are read. v NULL: read it. */
int cn_blob_get_held(cn_shard_t *s, const void *key, size_t klen, const uint8_t *v, size_t vl, size_t max,
                     cn_buf_t *out);

/* Fills st with this build's stamp (static strings). */
void cn_stamp_fill(Canopy__Stamp *st);

#endif
