/* rocks.c: the wrapper's data path (see rocks.h): gets, batches, iterators,
   checkpoints, flushes, dropped families and SST ingestion. Opening, options and
   closing are in rocks_open.c; the handle's insides in rocks_int.h. Thread-safe
   as RocksDB is, except cn_rocks_drop_cf, which the caller must not run while
   other threads use the same handle. */
#include "rocks_int.h"

#include "errors.h"

#include <rocksdb/c.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cn_rocks_batch {
    rocksdb_writebatch_t *wb;
};

struct cn_rocks_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    uint8_t *prefix;
    size_t plen;
    uint8_t *upper; /* successor of prefix: the iterate_upper_bound */
    size_t ulen;
};

struct cn_rocks_sst {
    rocksdb_sstfilewriter_t *w;
    rocksdb_envoptions_t *env;
    char *path;
    uint64_t n;
};

/* Turns a RocksDB error string into a CN_E* code with a detail, and frees it. */
int cn_rocks_rerr(char *err, const char *what, const char *dir) {
    int code = CN_EIO;
    if (strstr(err, "Corruption"))
        code = CN_ECORRUPT;
    else if (strstr(err, "lock file") || strstr(err, "lock hold"))
        code = CN_ELOCKED;
    else if (strstr(err, "does not exist"))
        code = CN_ENOTFOUND;
    int rc = cn_err(code, "rocksdb %s%s%s: %s", what, dir ? " " : "", dir ? dir : "", err);
    rocksdb_free(err);
    return rc;
}

int cn_rocks_get(cn_rocks_t *db, int cf, const void *key, size_t klen, cn_buf_t *val) {
    return cn_rocks_get_head(db, cf, key, klen, SIZE_MAX, val);
}

int cn_rocks_get_head(cn_rocks_t *db, int cf, const void *key, size_t klen, size_t max, cn_buf_t *val) {
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    if (!db->cfh[cf]) return CN_ENOTFOUND;
    char *err = NULL;
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned_cf(db->db, db->ro, db->cfh[cf], key, klen, &err);
    if (err) return cn_rocks_rerr(err, "get", NULL);
    if (!p) return CN_ENOTFOUND;
    size_t vl = 0;
    const char *v = rocksdb_pinnableslice_value(p, &vl);
    if (val) cn_buf_append(val, v, CN_MIN(vl, max));
    rocksdb_pinnableslice_destroy(p);
    return 0;
}

int cn_rocks_multi_get(cn_rocks_t *db, int cf, const void *const *keys, const size_t *klens, size_t n,
                       bool *found, cn_buf_t *vals) {
    if (n == 0) return 0;
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    if (!db->cfh[cf]) {
        memset(found, 0, n * sizeof *found);
        return 0;
    }
    rocksdb_pinnableslice_t **pv = cn_xcalloc(n, sizeof *pv);
    char **errs = cn_xcalloc(n, sizeof *errs);
    /* Keys already in bytewise order spare RocksDB its own sort (appends sort theirs). */
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) {
        sorted = cn_bytes_cmp(keys[i - 1], klens[i - 1], keys[i], klens[i]) < 0;
    }
    rocksdb_batched_multi_get_cf(db->db, db->ro, db->cfh[cf], n, (const char *const *)keys, klens, pv, errs,
                                 sorted);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        found[i] = pv[i] != NULL;
        if (errs[i]) {
            if (rc == 0)
                rc = cn_rocks_rerr(errs[i], "multi_get", NULL);
            else
                rocksdb_free(errs[i]);
        }
        if (!pv[i]) continue;
        if (vals) {
            size_t vl = 0;
            const char *v = rocksdb_pinnableslice_value(pv[i], &vl);
            cn_buf_append(&vals[i], v, vl);
        }
        rocksdb_pinnableslice_destroy(pv[i]);
    }
    free(pv);
    free(errs);
    return rc;
}

cn_rocks_batch_t *cn_rocks_batch_new(void) {
    cn_rocks_batch_t *b = cn_xcalloc(1, sizeof *b);
    b->wb = rocksdb_writebatch_create();
    return b;
}

void cn_rocks_batch_destroy(cn_rocks_batch_t **self_p) {
    if (!self_p || !*self_p) return;
    rocksdb_writebatch_destroy((*self_p)->wb);
    free(*self_p);
    *self_p = NULL;
}

void cn_rocks_batch_put(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl, const void *v,
                        size_t vl) {
    rocksdb_writebatch_put_cf(b->wb, db->cfh[cf], k, kl, v, vl);
}

void cn_rocks_batch_delete(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl) {
    rocksdb_writebatch_delete_cf(b->wb, db->cfh[cf], k, kl);
}

size_t cn_rocks_batch_count(const cn_rocks_batch_t *b) {
    return (size_t)rocksdb_writebatch_count(b->wb);
}

void cn_rocks_batch_clear(cn_rocks_batch_t *b) {
    rocksdb_writebatch_clear(b->wb);
}

int cn_rocks_write(cn_rocks_t *db, cn_rocks_batch_t *b, bool sync) {
    if (db->read_only) return cn_err(CN_EPERM, "%s is open read-only", db->dir);
    char *err = NULL;
    rocksdb_write(db->db, sync ? db->wo_sync : db->wo_async, b->wb, &err);
    if (err) return cn_rocks_rerr(err, "write", db->dir);
    return 0;
}

int cn_rocks_sync_wal(cn_rocks_t *db) {
    if (db->read_only) return 0;
    char *err = NULL;
    rocksdb_flush_wal(db->db, 1, &err);
    if (err) return cn_rocks_rerr(err, "sync wal", db->dir);
    return 0;
}

/* ---- iterators ---- */

/* The smallest key greater than every key with this prefix, or none (all 0xff). */
static bool prefix_successor(const uint8_t *p, size_t n, uint8_t **out, size_t *olen) {
    while (n > 0 && p[n - 1] == 0xff) n--;
    if (n == 0) return false;
    *out = cn_xmemdup(p, n);
    (*out)[n - 1]++;
    *olen = n;
    return true;
}

int cn_rocks_iter_new(cn_rocks_t *db, int cf, const void *prefix, size_t plen, cn_rocks_iter_t **out) {
    cn_rocks_iter_t *it = cn_xcalloc(1, sizeof *it);
    it->ro = rocksdb_readoptions_create();
    if (plen) {
        it->prefix = cn_xmemdup(prefix, plen);
        it->plen = plen;
        rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->prefix, plen);
        if (prefix_successor(it->prefix, plen, &it->upper, &it->ulen))
            rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->upper, it->ulen);
    }
    if (db->db && db->cfh[cf]) it->it = rocksdb_create_iterator_cf(db->db, it->ro, db->cfh[cf]);
    cn_rocks_iter_seek_first(it);
    *out = it;
    return 0;
}

void cn_rocks_iter_seek(cn_rocks_iter_t *it, const void *key, size_t klen) {
    if (!it->it) return;
    /* Below the prefix: start at the prefix. */
    if (it->plen &&
        (klen < it->plen ? memcmp(key, it->prefix, klen) <= 0 : memcmp(key, it->prefix, it->plen) < 0))
        rocksdb_iter_seek(it->it, (const char *)it->prefix, it->plen);
    else
        rocksdb_iter_seek(it->it, key, klen);
}

void cn_rocks_iter_seek_first(cn_rocks_iter_t *it) {
    if (!it->it) return;
    if (it->plen)
        rocksdb_iter_seek(it->it, (const char *)it->prefix, it->plen);
    else
        rocksdb_iter_seek_to_first(it->it);
}

void cn_rocks_iter_seek_last(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_seek_to_last(it->it); /* honours the upper bound */
}

bool cn_rocks_iter_valid(cn_rocks_iter_t *it) {
    if (!it->it || !rocksdb_iter_valid(it->it)) return false;
    if (!it->plen) return true;
    size_t kl = 0;
    const char *k = rocksdb_iter_key(it->it, &kl);
    return kl >= it->plen && memcmp(k, it->prefix, it->plen) == 0;
}

void cn_rocks_iter_next(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_next(it->it);
}

void cn_rocks_iter_prev(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_prev(it->it);
}

const uint8_t *cn_rocks_iter_key(cn_rocks_iter_t *it, size_t *klen) {
    return (const uint8_t *)rocksdb_iter_key(it->it, klen);
}

const uint8_t *cn_rocks_iter_value(cn_rocks_iter_t *it, size_t *vlen) {
    return (const uint8_t *)rocksdb_iter_value(it->it, vlen);
}

void cn_rocks_iter_destroy(cn_rocks_iter_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_rocks_iter_t *it = *self_p;
    if (it->it) rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    free(it->prefix);
    free(it->upper);
    free(it);
    *self_p = NULL;
}

int cn_rocks_iter_status(cn_rocks_iter_t *it) {
    if (!it->it) return 0;
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    return err ? cn_rocks_rerr(err, "iterate", NULL) : 0;
}

/* ---- whole-database operations ---- */

int cn_rocks_checkpoint(cn_rocks_t *db, const char *dst) {
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(db->db, &err);
    if (err) return cn_rocks_rerr(err, "checkpoint", db->dir);
    rocksdb_checkpoint_create(cp, dst, 0, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err) return cn_rocks_rerr(err, "checkpoint into", dst);
    return 0;
}

uint64_t cn_rocks_seq(cn_rocks_t *db) {
    return rocksdb_get_latest_sequence_number(db->db);
}

bool cn_rocks_has_cf(const cn_rocks_t *db, int cf) {
    return db->db && cf >= 0 && (size_t)cf < db->nall && db->cfh[cf] != NULL;
}

int cn_rocks_drop_cf(cn_rocks_t *db, int cf) {
    if (db->read_only) return cn_err(CN_EPERM, "%s is open read-only", db->dir);
    char *err = NULL;
    rocksdb_drop_column_family(db->db, db->cfh[cf], &err);
    if (err) return cn_rocks_rerr(err, "drop family", db->names[cf]);
    rocksdb_column_family_handle_destroy(db->cfh[cf]);
    db->cfh[cf] = rocksdb_create_column_family(db->db, db->opts, db->names[cf], &err);
    if (err) {
        db->cfh[cf] = NULL;
        return cn_rocks_rerr(err, "create family", db->names[cf]);
    }
    return 0;
}

static int flush(cn_rocks_t *db, bool wait) {
    if (db->read_only) return 0;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, wait);
    int rc = 0;
    for (size_t i = 0; i < db->nall && rc == 0; i++) {
        char *err = NULL;
        rocksdb_flush_cf(db->db, fo, db->cfh[i], &err);
        if (err) rc = cn_rocks_rerr(err, "flush", db->dir);
    }
    rocksdb_flushoptions_destroy(fo);
    return rc;
}

int cn_rocks_flush(cn_rocks_t *db) {
    return flush(db, true);
}

int cn_rocks_flush_start(cn_rocks_t *db) {
    return flush(db, false);
}

uint64_t cn_rocks_estimate_keys(cn_rocks_t *db, int cf) {
    uint64_t n = 0;
    if (!db->db || !db->cfh[cf] ||
        rocksdb_property_int_cf(db->db, db->cfh[cf], "rocksdb.estimate-num-keys", &n) != 0)
        return 0;
    return n;
}

/* ---- SST files ---- */

int cn_rocks_sst_open(cn_rocks_t *db, const char *path, cn_rocks_sst_t **out) {
    cn_rocks_sst_t *w = cn_xcalloc(1, sizeof *w);
    w->env = rocksdb_envoptions_create();
    w->w = rocksdb_sstfilewriter_create(w->env, db->opts);
    w->path = cn_xstrdup(path);
    char *err = NULL;
    rocksdb_sstfilewriter_open(w->w, path, &err);
    if (err) {
        rocksdb_sstfilewriter_destroy(w->w);
        rocksdb_envoptions_destroy(w->env);
        free(w->path);
        free(w);
        *out = NULL;
        return cn_rocks_rerr(err, "sst open", path);
    }
    *out = w;
    return 0;
}

int cn_rocks_sst_put(cn_rocks_sst_t *w, const void *k, size_t kl, const void *v, size_t vl) {
    char *err = NULL;
    rocksdb_sstfilewriter_put(w->w, k, kl, v, vl, &err);
    if (err) return cn_rocks_rerr(err, "sst put", w->path);
    w->n++;
    return 0;
}

int cn_rocks_sst_finish(cn_rocks_sst_t **self_p, bool *empty) {
    cn_rocks_sst_t *w = *self_p;
    int rc = 0;
    *empty = w->n == 0;
    if (w->n) {
        char *err = NULL;
        rocksdb_sstfilewriter_finish(w->w, &err);
        if (err) rc = cn_rocks_rerr(err, "sst finish", w->path);
    }
    rocksdb_sstfilewriter_destroy(w->w);
    rocksdb_envoptions_destroy(w->env);
    if (*empty) unlink(w->path); /* RocksDB refuses to finish an empty file */
    free(w->path);
    free(w);
    *self_p = NULL;
    return rc;
}

int cn_rocks_ingest(cn_rocks_t *db, int cf, const char *const *paths, size_t n) {
    if (n == 0) return 0;
    rocksdb_ingestexternalfileoptions_t *o = rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(o, 1);
    char *err = NULL;
    rocksdb_ingest_external_file_cf(db->db, db->cfh[cf], paths, n, o, &err);
    rocksdb_ingestexternalfileoptions_destroy(o);
    if (err) return cn_rocks_rerr(err, "ingest into", db->names[cf]);
    return 0;
}
