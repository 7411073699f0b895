/* download_walk.c: the download's inner loop: for each new commit (parents
   first) its changes against the first parent (treediff.c), the paths, users
   and contents they name, then the commit record itself, so that a commit found
   in the shard always has everything it names (a batch is atomic and batches
   are appended in order). Runs on the job's slot thread. */
#include "download.h"

#include "errors.h"
#include "hash.h"
#include "repo.h"
#include "treediff.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends happen at least this often, so that an attempt that is killed leaves
   its work for the next one (which skips stored commits). */
#define FLUSH_BYTES (8u << 20) /* records and raw contents of one unit */
#define FLUSH_RECORDS 8192u
#define FLUSH_COMMITS 500u
#define CHANGE_KEY_LEN (CN_REPO_PATH_HASH_LEN + CN_OID_LEN)
#define GITLINK_MODE 0160000u
/* Raw contents handed to the store thread and not appended yet, at most. */
#define DL_INFLIGHT_BYTES (64u << 20)
/* Bytes of recently stored contents kept as delta bases. */
#define DL_CACHE_BYTES (64u << 20)

static void note_missing(cn_dl_t *dl, const char *detail) {
    dl->commit_bad = true;
    dl->st->missing++;
    if (!dl->first_missing[0]) snprintf(dl->first_missing, sizeof dl->first_missing, "%s", detail);
}

/* A blob's bytes are handed to the store thread as git read them: the last
   reference, on either thread, frees the blob (libgit2 objects are
   refcounted atomically; blobs are kept out of its object cache). */
static void release_blob(void *blob) {
    cn_git_blob_free(blob);
}

/* The base to store oid's content against: the previous version of its path
   (old), when this job or an earlier one stored it with its bytes and its
   chain has room. Sets *base (a reference, maybe read from git again) and
   *depth; false for no base. */
static bool pick_base(cn_dl_t *dl, const cn_oid_t *old, cn_dlbuf_t **base, unsigned *depth) {
    *base = NULL;
    if (!old) return false;
    bool have = cn_bcache_get(dl->cache, old->id, depth, base);
    if (!have) have = cn_repo_content_depth(dl->d->shard, old->id, depth) == 0;
    if (!have || *depth + 1 > CN_BLOB_MAX_DEPTH) {
        cn_dlbuf_unref(*base);
        *base = NULL;
        return false;
    }
    if (*base) return true;
    cn_git_blob_t *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    if (cn_git_blob_get(dl->g, old, &blob, &data, &len) < 0) {
        cn_err_clear(); /* stored whole instead */
        return false;
    }
    *base = cn_dlbuf_wrap(data, len, release_blob, blob);
    dl->st->base_reads++;
    return true;
}

/* Queues a file's bytes (or its size, over the limit) unless the shard has
   them: the store thread compresses them, against the path's previous
   version when there is one. */
static int store_content(cn_dl_t *dl, const cn_oid_t *oid, const cn_oid_t *old) {
    if (cn_repo_has_content(dl->d->shard, oid->id)) return 0;
    uint64_t size = 0;
    int rc = cn_git_blob_size(dl->g, oid, &size);
    if (rc < 0) return rc;
    if (size > dl->max_file) {
        cn_repo_put_content_info(dl->b, oid->id, size);
        dl->st->contents_too_big++;
        return 0;
    }
    cn_git_blob_t *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    if ((rc = cn_git_blob_get(dl->g, oid, &blob, &data, &len)) < 0) return rc;
    cn_dlbuf_t *buf = cn_dlbuf_wrap(data, len, release_blob, blob), *base = NULL;
    unsigned depth = 0;
    bool delta = pick_base(dl, old, &base, &depth);
    cn_dlstore_content(dl->store, oid->id, buf, delta ? old->id : NULL, base, depth);
    cn_bcache_put(dl->cache, oid->id, delta ? depth + 1 : 0, buf);
    cn_dlbuf_unref(base);
    cn_dlbuf_unref(buf);
    dl->st->contents_new++;
    dl->st->contents_delta += delta;
    dl->st->content_bytes += len;
    return 0;
}

static void grow_changes(cn_dl_t *dl) {
    if (dl->nchg < dl->capchg) return;
    size_t cap = dl->capchg ? 2 * dl->capchg : 256;
    dl->chg = cn_xrealloc(dl->chg, cap * sizeof(Canopy__Change));
    dl->chgp = cn_xrealloc(dl->chgp, cap * sizeof(void *));
    dl->chg_keys = cn_xrealloc(dl->chg_keys, cap * CHANGE_KEY_LEN);
    dl->capchg = cap;
}

static int on_change(void *arg, const cn_tdiff_change_t *c) {
    cn_dl_t *dl = arg;
    grow_changes(dl);
    uint8_t *key = dl->chg_keys + dl->nchg * CHANGE_KEY_LEN;
    cn_repo_path_hash(c->path, c->path_len, key);
    if (cn_keyset_add(&dl->paths, key)) {
        cn_repo_put_path(dl->b, key, c->path, c->path_len);
        dl->st->paths_new++;
    }
    if (!c->deleted) {
        memcpy(key + CN_REPO_PATH_HASH_LEN, c->oid->id, CN_OID_LEN);
        if (c->mode != GITLINK_MODE && (c->mode & 0170000u) != 0040000u && !dl->d->no_contents) {
            if (cn_keyset_has(&dl->missing_blobs, c->oid)) {
                note_missing(dl, "a file named again after it was found missing");
            } else if (cn_keyset_add(&dl->blobs, c->oid)) {
                int rc = store_content(dl, c->oid, c->old_oid);
                if (rc < 0 && !(dl->d->allow_partial && rc == CN_ECORRUPT)) return rc;
                if (rc < 0) {
                    cn_keyset_add(&dl->missing_blobs, c->oid);
                    note_missing(dl, cn_err_detail());
                }
            }
        }
    }
    /* Byte pointers into chg_keys are set by put_commit: the array may move. */
    Canopy__Change *ch = (Canopy__Change *)dl->chg + dl->nchg;
    canopy__change__init(ch);
    ch->path_hash.len = CN_REPO_PATH_HASH_LEN;
    ch->deleted = c->deleted;
    if (!c->deleted) {
        ch->blob.len = CN_OID_LEN;
        ch->mode = c->mode;
    }
    dl->nchg++;
    return 0;
}

static void put_user(cn_dl_t *dl, const cn_git_sig_t *s) {
    /* In-memory only: 128 bits of (email, name) say "already queued". */
    uint8_t key[16];
    cn_buf_t both = {0};
    cn_buf_append(&both, s->email, strlen(s->email) + 1);
    cn_buf_append(&both, s->name, strlen(s->name));
    uint64_t h1 = cn_hash64(both.data, both.len), h2 = cn_hash64(s->name, strlen(s->name));
    memcpy(key, &h1, 8);
    memcpy(key + 8, &h2, 8);
    cn_buf_free(&both);
    if (!cn_keyset_add(&dl->users, key)) return;
    cn_repo_put_user(dl->b, s->name, s->email);
    dl->st->users_new++;
}

static void fill_sig(Canopy__Signature *out, const cn_git_sig_t *s) {
    canopy__signature__init(out);
    out->name.data = (uint8_t *)s->name;
    out->name.len = strlen(s->name);
    out->email.data = (uint8_t *)s->email;
    out->email.len = strlen(s->email);
    out->time = s->time;
    out->tz_offset_min = s->tz_offset_min;
}

/* Queues the Commit and Changes records of c (its changes are in dl->chg). */
static void put_commit(cn_dl_t *dl, const cn_oid_t *oid, const cn_git_commit_t *c) {
    cn_git_sig_t a, m;
    cn_git_commit_author(c, &a);
    cn_git_commit_committer(c, &m);
    put_user(dl, &a);
    put_user(dl, &m);
    Canopy__Signature sa, sm;
    fill_sig(&sa, &a);
    fill_sig(&sm, &m);
    size_t np = cn_git_commit_nparents(c);
    ProtobufCBinaryData *parents = cn_xcalloc(np ? np : 1, sizeof *parents);
    for (size_t i = 0; i < np; i++)
        parents[i] = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)cn_git_commit_parent(c, i)->id};
    Canopy__Commit rec;
    canopy__commit__init(&rec);
    rec.oid = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)oid->id};
    rec.n_parents = np;
    rec.parents = parents;
    rec.author = &sa;
    rec.committer = &sm;
    size_t mlen = 0;
    const char *msg = cn_git_commit_message(c, &mlen);
    rec.message = (ProtobufCBinaryData){mlen, (uint8_t *)msg};
    rec.tree = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)cn_git_commit_tree(c)->id};
    Canopy__Changes chs;
    canopy__changes__init(&chs);
    for (size_t i = 0; i < dl->nchg; i++) {
        Canopy__Change *ch = (Canopy__Change *)dl->chg + i;
        uint8_t *key = dl->chg_keys + i * CHANGE_KEY_LEN;
        ch->path_hash.data = key;
        ch->blob.data = ch->blob.len ? key + CN_REPO_PATH_HASH_LEN : NULL;
        dl->chgp[i] = ch;
    }
    chs.n_change = dl->nchg;
    chs.change = (Canopy__Change **)dl->chgp;
    /* Changes before the commit: a stored commit always has its changes. */
    cn_repo_put_changes(dl->b, oid->id, &chs);
    cn_repo_put_commit(dl->b, &rec);
    free(parents);
    dl->st->commits_new++;
    dl->st->changes += dl->nchg;
}

/* The tree of c's first parent (NULL for a root commit). */
static int parent_tree(cn_dl_t *dl, const cn_git_commit_t *c, cn_oid_t *out, bool *has) {
    *has = cn_git_commit_nparents(c) > 0;
    if (!*has) return 0;
    cn_git_commit_t *p = NULL;
    int rc = cn_git_commit_get(dl->g, cn_git_commit_parent(c, 0), &p);
    if (rc < 0) return rc;
    *out = *cn_git_commit_tree(p);
    cn_git_commit_free(p);
    return 0;
}

static bool parent_bad(cn_dl_t *dl, const cn_git_commit_t *c) {
    for (size_t i = 0; i < cn_git_commit_nparents(c); i++)
        if (cn_keyset_has(&dl->bad, cn_git_commit_parent(c, i))) return true;
    return false;
}

static int store_one(cn_dl_t *dl, const cn_oid_t *oid) {
    if (cn_repo_has_commit(dl->d->shard, oid->id)) {
        dl->st->commits_skipped++;
        return 0;
    }
    bool partial = dl->d->allow_partial;
    cn_git_commit_t *c = NULL;
    int rc = cn_git_commit_get(dl->g, oid, &c);
    dl->nchg = 0;
    dl->commit_bad = false;
    if (rc == 0 && partial && parent_bad(dl, c)) dl->commit_bad = true;
    cn_oid_t ptree;
    bool has_parent = false;
    if (rc == 0 && !dl->commit_bad) rc = parent_tree(dl, c, &ptree, &has_parent);
    if (rc == 0 && !dl->commit_bad)
        rc = cn_treediff(dl->g, has_parent ? &ptree : NULL, cn_git_commit_tree(c), on_change, dl);
    if (rc == CN_ECORRUPT && partial) {
        note_missing(dl, cn_err_detail());
        rc = 0;
    }
    if (rc == 0 && dl->commit_bad)
        cn_keyset_add(&dl->bad, oid);
    else if (rc == 0)
        put_commit(dl, oid, c);
    cn_git_commit_free(c);
    if (rc == 0 && (cn_dlstore_pending(dl->store) > FLUSH_BYTES || cn_batch_count(dl->b) > FLUSH_RECORDS ||
                    dl->st->commits_new % FLUSH_COMMITS == 0))
        rc = cn_dl_flush(dl);
    return rc;
}

/* Hands what is queued to the store thread (appended in order, not synced). */
int cn_dl_flush(cn_dl_t *dl) {
    int rc = cn_dlstore_flush(dl->store);
    dl->b = cn_dlstore_batch(dl->store);
    return rc;
}

static void report(const cn_download_t *d, const cn_dl_t *dl, size_t done, size_t n) {
    if (!d->progress) return;
    d->progress(d->arg, done, n, "commits");
    if (d->progress_bytes) d->progress_bytes(d->arg, dl->st->content_bytes, 0);
}

int cn_dl_store_commits(cn_dl_t *dl, const cn_oid_t *oids, size_t n) {
    const cn_download_t *d = dl->d;
    int rc = cn_dlstore_start(d->shard, DL_INFLIGHT_BYTES, &dl->store);
    if (rc < 0) return rc;
    dl->b = cn_dlstore_batch(dl->store);
    dl->cache = cn_bcache_new(d->cache_bytes ? d->cache_bytes : DL_CACHE_BYTES);
    uint64_t last_report = 0;
    for (size_t i = 0; i < n; i++) {
        if ((i & 15) == 0) {
            if (d->cancelled && d->cancelled(d->arg))
                return cn_err(CN_ECANCELLED, "the download was stopped");
            uint64_t now = cn_mono_ms();
            if (now - last_report >= 200) {
                report(d, dl, i, n);
                last_report = now;
            }
        }
        if ((rc = store_one(dl, &oids[i])) < 0) return rc;
    }
    report(d, dl, n, n);
    rc = cn_dlstore_finish(dl->store, &dl->st->content_stored_bytes);
    dl->b = cn_dlstore_batch(dl->store);
    return rc;
}

void cn_dl_stop_store(cn_dl_t *dl) {
    cn_dlstore_free(&dl->store); /* first: its thread may still use cached bytes */
    cn_bcache_free(&dl->cache);
    dl->b = NULL;
}

void cn_dl_free(cn_dl_t *dl) {
    cn_keyset_free(&dl->paths);
    cn_keyset_free(&dl->users);
    cn_keyset_free(&dl->blobs);
    cn_keyset_free(&dl->missing_blobs);
    cn_keyset_free(&dl->bad);
    free(dl->chg);
    free(dl->chgp);
    free(dl->chg_keys);
    cn_dl_stop_store(dl);
    cn_git_close(&dl->g);
}
