/* repo.h: the download record family (storage/REPO.md): commits, changes,
   interned paths, users, contents, heads, project logs and projects, in the
   families of shard.h. Writers queue records into a cn_batch_t; readers take an
   opened shard (a worker's own, or any shard opened read-only by queries and the
   merge). Stateless and thread-safe. */
#ifndef CN_REPO_H
#define CN_REPO_H

#include "shard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_REPO_OID_LEN 20
#define CN_REPO_PATH_HASH_LEN 16
#define CN_REPO_USER_KEY_LEN 32
#define CN_REPO_PROJECT_KEY_LEN 16
/* Default size over which a file is recorded without its bytes. */
#define CN_REPO_MAX_FILE_DEFAULT (1u << 20)

/* ---- keys ---- */
/* Interned path key: the first 16 bytes of BLAKE2b-256 of the path bytes. */
void cn_repo_path_hash(const void *path, size_t n, uint8_t out[CN_REPO_PATH_HASH_LEN]);
/* Pointer key: project_id BE64 | lease_seq BE64 (heads, project log). */
void cn_repo_project_key(uint8_t out[CN_REPO_PROJECT_KEY_LEN], uint64_t project_id, uint64_t lease_seq);

/* ---- writers (content-addressed: safe in any batch, any number of times) ---- */
void cn_repo_put_commit(cn_batch_t *b, const Canopy__Commit *c);
void cn_repo_put_changes(cn_batch_t *b, const uint8_t commit_oid[CN_REPO_OID_LEN], const Canopy__Changes *ch);
void cn_repo_put_path(cn_batch_t *b, const uint8_t hash[CN_REPO_PATH_HASH_LEN], const void *path, size_t n);
/* Users are keyed BLAKE2b-128(email) | BLAKE2b-128(name): a prefix scan on the
   email's half lists every name seen with that address. */
void cn_repo_put_user(cn_batch_t *b, const char *name, const char *email);
/* A file's bytes, zstd-compressed, under its git blob oid. */
void cn_repo_put_content(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], const void *data, size_t n);
/* A file's bytes stored as a delta against an earlier version base_oid (bytes base, its depth
   from cn_repo_content_depth or from the caller's own bookkeeping of what it stored). Stored
   whole past CN_BLOB_MAX_DEPTH (cn_blob_put_delta). */
void cn_repo_put_content_delta(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], const void *data, size_t n,
                               const uint8_t base_oid[CN_REPO_OID_LEN], const void *base, size_t base_n,
                               unsigned base_depth);
/* A file over the size limit: its size, without its bytes. */
void cn_repo_put_content_info(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], uint64_t size);

/* ---- pointer records (a job's commit batch) ---- */
void cn_repo_put_heads(cn_batch_t *b, const Canopy__Heads *h);
void cn_repo_put_log(cn_batch_t *b, const Canopy__ProjectLog *l);
void cn_repo_put_project(cn_batch_t *b, uint64_t id, const char *url);

/* ---- readers: 0, CN_ENOTFOUND, or CN_ECORRUPT; *out freed with cn_rec_free ---- */
int cn_repo_get_commit(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], Canopy__Commit **out);
int cn_repo_get_changes(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], Canopy__Changes **out);
/* Appends the path's bytes to out. */
int cn_repo_get_path(cn_shard_t *s, const uint8_t hash[CN_REPO_PATH_HASH_LEN], cn_buf_t *out);
/* Appends a file's bytes (at most max) to out, rebuilt through its bases when
   stored as a delta. For a file recorded without its bytes returns CN_ETOOBIG
   and sets *size (when size is not NULL). */
int cn_repo_get_content(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], size_t max, cn_buf_t *out,
                        uint64_t *size);
bool cn_repo_has_content(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN]);
/* Depth of a stored content (0 whole); CN_ENOTFOUND; CN_ETOOBIG for a file recorded without its
   bytes; CN_ECORRUPT. */
int cn_repo_content_depth(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], unsigned *depth);
bool cn_repo_has_commit(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN]);
int cn_repo_get_project(cn_shard_t *s, uint64_t id, Canopy__Project **out);

/* The heads of the project's newest lease in this shard: 0, CN_ENOTFOUND, or
   CN_ECORRUPT when that record does not decode. */
int cn_repo_latest_heads(cn_shard_t *s, uint64_t project_id, Canopy__Heads **out);
/* Whether a heads record counts (e.g. only under its job's winning lease). */
typedef bool (*cn_repo_heads_filter_t)(void *arg, const Canopy__Heads *h);
/* The heads of the project's newest lease in this shard that keep(arg, h)
   accepts, newest first; keep NULL is cn_repo_latest_heads. With keep, a
   record that does not decode is skipped like a rejected one (a reader of live
   records falls back to an older one). 0 or CN_ENOTFOUND (or CN_ECORRUPT
   without keep); *out freed with cn_rec_free. Blocks on reads only. */
int cn_repo_newest_heads(cn_shard_t *s, uint64_t project_id, cn_repo_heads_filter_t keep, void *arg,
                         Canopy__Heads **out);
/* Calls cb for each log entry of the project, oldest lease first; cb takes
   ownership of l. Stops at the first non-zero return of cb and returns it. */
int cn_repo_each_log(cn_shard_t *s, uint64_t project_id, int (*cb)(void *arg, Canopy__ProjectLog *l),
                     void *arg);
/* Calls cb for each project (by id); cb takes ownership of p. */
int cn_repo_each_project(cn_shard_t *s, int (*cb)(void *arg, Canopy__Project *p), void *arg);

#endif
