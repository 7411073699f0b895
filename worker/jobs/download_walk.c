/* download_walk.c: the download's inner loop: for each new commit (parents
   first) its changes against the first parent (diffed ahead on the diff
   threads, dldiff.h), the paths, users and contents they name, then the commit
   record itself, so that a commit found in the shard always has everything it
   names (a batch is atomic and batches are appended in order). Runs on the
   job's slot thread. */
#include "download.h"

#include "dldiff.h"
#include "errors.h"
#include "repo.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GITLINK_MODE 0160000u
/* Raw contents handed to the store thread and not appended yet, at most. */
#define DL_INFLIGHT_BYTES (64u << 20)
/* Bytes of recently stored contents kept as delta bases. */
#define DL_CACHE_BYTES (64u << 20)
/* Threads diffing trees (dldiff.h) while this one reads contents and orders. */
#define DL_DIFF_THREADS 2

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

/* The delta base of a content: *base_oid and its bytes *base (a reference,
   maybe read from git again), and what the new content's entry will say. */
typedef struct {
    uint8_t base_oid[CN_OID_LEN];
    cn_dlbuf_t *base;
    cn_bcache_info_t info; /* the new content's, once stored */
} pick_t;

/* The base to store a content against: the previous version of its path
   (old), when this job or an earlier one stored it and its chain has room;
   past the depth cap, the chain's whole root when this job stored it (a
   two-link chain, not a whole copy). False: store it whole. */
static bool pick_base(cn_dl_t *dl, const cn_oid_t *old, pick_t *p) {
    p->base = NULL;
    if (!old) return false;
    cn_bcache_info_t bi = {0};
    bool have = cn_bcache_get(dl->cache, old->id, &bi, &p->base);
    if (!have) have = cn_repo_content_depth(dl->d->shard, old->id, &bi.depth) == 0;
    memcpy(p->base_oid, old->id, CN_OID_LEN);
    if (have && bi.depth + 1 > CN_BLOB_MAX_DEPTH) {
        cn_dlbuf_unref(p->base);
        p->base = NULL;
        cn_bcache_info_t ri;
        have = bi.has_root && cn_bcache_get(dl->cache, bi.root, &ri, &p->base) && ri.depth == 0;
        memcpy(p->base_oid, bi.root, CN_OID_LEN);
        bi.depth = 0;
        if (!have) {
            cn_dlbuf_unref(p->base);
            p->base = NULL;
        }
    }
    if (!have) return false;
    p->info = (cn_bcache_info_t){.depth = bi.depth + 1, .has_root = bi.has_root};
    memcpy(p->info.root, bi.root, CN_OID_LEN);
    if (p->base) return true;
    cn_git_blob_t *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    cn_oid_t boid;
    memcpy(boid.id, p->base_oid, CN_OID_LEN);
    if (cn_git_blob_get(dl->g, &boid, &blob, &data, &len) < 0) {
        cn_err_clear(); /* stored whole instead */
        return false;
    }
    p->base = cn_dlbuf_wrap(data, len, release_blob, blob);
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
        cn_repo_put_content_info(cn_dlstore_batch(dl->store), oid->id, size);
        dl->st->contents_too_big++;
        return 0;
    }
    cn_git_blob_t *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    if ((rc = cn_git_blob_get(dl->g, oid, &blob, &data, &len)) < 0) return rc;
    cn_dlbuf_t *buf = cn_dlbuf_wrap(data, len, release_blob, blob);
    pick_t p = {0};
    bool delta = pick_base(dl, old, &p);
    if (!delta) { /* whole: the root of its own chain */
        p.info = (cn_bcache_info_t){.depth = 0, .has_root = true};
        memcpy(p.info.root, oid->id, CN_OID_LEN);
    }
    cn_dlstore_content(dl->store, oid->id, buf, delta ? p.base_oid : NULL, p.base, p.info.depth - delta);
    cn_bcache_put(dl->cache, oid->id, &p.info, buf);
    cn_dlbuf_unref(p.base);
    cn_dlbuf_unref(buf);
    dl->st->contents_new++;
    dl->st->contents_delta += delta;
    dl->st->content_bytes += len;
    return 0;
}

/* One change of the commit being consumed, in the diff's order. */
static int on_change(cn_dl_t *dl, const cn_dldiff_chunk_t *ch, const cn_dldiff_change_t *c) {
    const cn_oid_t *old = c->has_old ? &c->old_oid : NULL;
    if (!c->deleted && c->mode != GITLINK_MODE && (c->mode & 0170000u) != 0040000u && !dl->d->no_contents) {
        if (cn_keyset_add(&dl->blobs, &c->oid)) {
            int rc = store_content(dl, &c->oid, old);
            if (rc < 0 && !(dl->d->allow_partial && rc == CN_ECORRUPT)) return rc;
            if (rc < 0) {
                cn_keyset_add(&dl->missing_blobs, &c->oid);
                note_missing(dl, cn_err_detail());
            }
        } else if (cn_keyset_has(&dl->missing_blobs, &c->oid)) { /* a subset of blobs */
            note_missing(dl, "a file named again after it was found missing");
        }
    }
    /* Its Change record (and the path's) is built on the store thread. */
    cn_dlstore_change(dl->store, ch->paths.data + c->path_off, c->path_len, c->deleted ? NULL : c->oid.id,
                      c->mode);
    return 0;
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

/* Fills a commit's item for the diff threads: stored already (nothing to diff
   and no failure), or its commit (item->arg) and the trees to diff, or the
   failure reading them. */
static void prepare(cn_dl_t *dl, const cn_oid_t *oid, cn_dldiff_item_t *it) {
    *it = (cn_dldiff_item_t){0};
    if (cn_repo_has_commit(dl->d->shard, oid->id)) return;
    cn_git_commit_t *c = NULL;
    int rc = cn_git_commit_get(dl->g, oid, &c);
    if (rc == 0) rc = parent_tree(dl, c, &it->ptree, &it->has_parent);
    if (rc == 0) {
        it->tree = *cn_git_commit_tree(c);
        it->diff = true;
    } else {
        it->rc = rc;
        snprintf(it->detail, sizeof it->detail, "%s", cn_err_detail());
    }
    it->arg = c;
}

/* A diffed commit, in order: its contents and changes, then the commit record
   (a commit whose parent was not stored is not stored either, with
   allow_partial; without it, any failure ends the job). */
static int consume(cn_dl_t *dl, const cn_oid_t *oid, const cn_dldiff_chunk_t *ch, cn_dldiff_item_t *it) {
    if (!it->diff && it->rc == 0) { /* stored already */
        dl->st->commits_skipped++;
        return 0;
    }
    cn_git_commit_t *c = it->arg;
    it->arg = NULL;
    bool partial = dl->d->allow_partial;
    dl->commit_bad = c && partial && parent_bad(dl, c);
    int rc = 0;
    if (!dl->commit_bad) {
        for (size_t k = it->first; k < it->first + it->n && rc == 0; k++)
            rc = on_change(dl, ch, &ch->changes[k]);
        if (rc == 0 && it->rc < 0) rc = cn_err(it->rc, "%s", it->detail);
    }
    if (rc == CN_ECORRUPT && partial) {
        note_missing(dl, cn_err_detail());
        rc = 0;
    }
    if (rc == 0 && !dl->commit_bad) {
        cn_dlstore_commit(dl->store, oid->id, c); /* its records are built there */
        c = NULL;
        dl->st->commits_new++;
        dl->st->changes += it->n;
    } else {
        cn_dlstore_drop_changes(dl->store);
        if (rc == 0) cn_keyset_add(&dl->bad, oid);
    }
    cn_git_commit_free(c);
    /* Handed over (appended in order, not synced) often enough that a killed
       attempt leaves its work for the next one, which skips stored commits. */
    if (rc == 0 && cn_dlstore_full(dl->store)) rc = cn_dlstore_flush(dl->store);
    return rc;
}

static void report(const cn_download_t *d, const cn_dl_t *dl, size_t done, size_t n) {
    if (!d->progress) return;
    d->progress(d->arg, done, n, "commits");
    if (d->progress_bytes) d->progress_bytes(d->arg, dl->st->content_bytes, 0);
}

static void drop_chunk(cn_dldiff_chunk_t *ch) {
    for (size_t i = 0; i < ch->n; i++) {
        cn_git_commit_free(ch->items[i].arg);
        ch->items[i].arg = NULL;
    }
}

/* Hands the diff threads every chunk there is room for. */
static void fill(cn_dl_t *dl, cn_dldiff_t *pool, const cn_oid_t *oids, size_t n, size_t *filled) {
    cn_dldiff_chunk_t *ch;
    while (*filled < n && (ch = cn_dldiff_next(pool))) {
        size_t k = CN_MIN((size_t)CN_DLDIFF_CHUNK, n - *filled);
        for (size_t i = 0; i < k; i++) prepare(dl, &oids[*filled + i], &ch->items[i]);
        ch->n = k;
        *filled += k;
        cn_dldiff_submit(pool, ch);
    }
}

static int consume_all(cn_dl_t *dl, cn_dldiff_t *pool, const cn_oid_t *oids, size_t n) {
    const cn_download_t *d = dl->d;
    uint64_t last_report = 0;
    size_t filled = 0, done = 0;
    int rc = 0;
    while (rc == 0 && done < n) {
        fill(dl, pool, oids, n, &filled);
        cn_dldiff_chunk_t *ch = cn_dldiff_take(pool);
        for (size_t i = 0; i < ch->n && rc == 0; i++, done++) {
            if ((done & 15) == 0) {
                if (d->cancelled && d->cancelled(d->arg)) {
                    rc = cn_err(CN_ECANCELLED, "the download was stopped");
                    break;
                }
                uint64_t now = cn_mono_ms();
                if (now - last_report >= 200) {
                    report(d, dl, done, n);
                    last_report = now;
                }
            }
            rc = consume(dl, &oids[done], ch, &ch->items[i]);
        }
        drop_chunk(ch); /* what a failure left unconsumed */
        cn_dldiff_done(pool);
    }
    if (rc < 0) cn_dldiff_stop(pool); /* what is still out is dropped, not diffed first */
    for (cn_dldiff_chunk_t *ch; (ch = cn_dldiff_take(pool));) {
        drop_chunk(ch);
        cn_dldiff_done(pool);
    }
    return rc;
}

int cn_dl_store_commits(cn_dl_t *dl, const cn_oid_t *oids, size_t n) {
    const cn_download_t *d = dl->d;
    int rc = cn_dlstore_start(d->shard, DL_INFLIGHT_BYTES, &dl->store);
    if (rc < 0) return rc;
    dl->cache = cn_bcache_new(d->cache_bytes ? d->cache_bytes : DL_CACHE_BYTES);
    cn_dldiff_t *pool = NULL;
    if ((rc = cn_dldiff_start(dl->g, DL_DIFF_THREADS, &pool)) < 0) return rc;
    rc = consume_all(dl, pool, oids, n);
    cn_dldiff_free(&pool);
    if (rc < 0) return rc;
    report(d, dl, n, n);
    cn_dlstore_stats_t ss = {0};
    rc = cn_dlstore_finish(dl->store, &ss);
    dl->st->content_stored_bytes = ss.stored_bytes;
    dl->st->paths_new = ss.paths_new;
    dl->st->users_new = ss.users_new;
    return rc;
}

void cn_dl_stop_store(cn_dl_t *dl) {
    cn_dlstore_free(&dl->store); /* first: its thread may still use cached bytes */
    cn_bcache_free(&dl->cache);
}

void cn_dl_free(cn_dl_t *dl) {
    cn_keyset_free(&dl->blobs);
    cn_keyset_free(&dl->missing_blobs);
    cn_keyset_free(&dl->bad);
    cn_dl_stop_store(dl);
    cn_git_close_later(&dl->g);
}
