/* batch.c: batched appends with the append-only rule, and per-job commit records
   (DESIGN §2.3). A cn_batch_t is a plain list of operations owned by one thread;
   cn_shard_append checks it against the store with one multi_get per family (and
   one for the bases of delta blobs, whose depths it corrects) and writes it as one
   RocksDB WriteBatch. Thread-safe for appends from many threads. */
#include "shard_int.h"

#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t cf;
    bool del;
    uint32_t klen;
    uint32_t vlen;
    size_t off; /* key at data+off, value right after it */
} op_t;

struct cn_batch {
    cn_buf_t data;
    op_t *ops;
    size_t n, cap;
    size_t bytes;
    int err; /* a put or delete that can never be written: reported by append */
    char why[160];
};

cn_batch_t *cn_batch_new(void) {
    return cn_xcalloc(1, sizeof(cn_batch_t));
}

void cn_batch_destroy(cn_batch_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_buf_free(&(*self_p)->data);
    free((*self_p)->ops);
    free(*self_p);
    *self_p = NULL;
}

void cn_batch_refuse(cn_batch_t *b, int code, const char *why, cn_cf_t cf) {
    if (b->err) return;
    b->err = code;
    snprintf(b->why, sizeof b->why, "%s (family %s)", why, cn_cf_name(cf));
}

static void add_op(cn_batch_t *b, cn_cf_t cf, bool del, const void *key, size_t klen, const void *val,
                   size_t vlen) {
    const char *bad = (unsigned)cf >= CN_CF_COUNT_           ? "no such family"
                      : klen == 0 || klen > CN_SHARD_KEY_MAX ? "empty or oversized key"
                      : vlen > CN_RECORD_MAX                 ? "value over the record size limit"
                                                             : NULL;
    if (bad) {
        cn_batch_refuse(b, vlen > CN_RECORD_MAX ? CN_ETOOBIG : CN_EINVAL, bad, cf);
        return;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->ops = cn_xrealloc(b->ops, b->cap * sizeof *b->ops);
    }
    b->ops[b->n++] = (op_t){
        .cf = (uint8_t)cf, .del = del, .klen = (uint32_t)klen, .vlen = (uint32_t)vlen, .off = b->data.len};
    cn_buf_append(&b->data, key, klen);
    if (vlen) cn_buf_append(&b->data, val, vlen);
    b->bytes += klen + vlen;
}

void cn_batch_put(cn_batch_t *b, cn_cf_t cf, const void *key, size_t klen, const void *val, size_t vlen) {
    add_op(b, cf, false, key, klen, val, vlen);
}

void cn_batch_delete(cn_batch_t *b, cn_cf_t cf, const void *key, size_t klen) {
    if ((unsigned)cf < CN_CF_COUNT_ && !cn_cf_mutable(cf))
        cn_batch_refuse(b, CN_EINVAL, "delete in an append-only family", cf);
    else
        add_op(b, cf, true, key, klen, NULL, 0);
}

size_t cn_batch_count(const cn_batch_t *b) {
    return b->n;
}
size_t cn_batch_bytes(const cn_batch_t *b) {
    return b->bytes;
}

void cn_batch_clear(cn_batch_t *b) {
    cn_buf_reset(&b->data);
    b->n = 0;
    b->bytes = 0;
    b->err = 0;
    b->why[0] = 0;
}

static const uint8_t *op_key(const cn_batch_t *b, const op_t *o) {
    return b->data.data + o->off;
}
static const uint8_t *op_val(const cn_batch_t *b, const op_t *o) {
    return b->data.data + o->off + o->klen;
}

/* Orders operations by family, key, then position in the batch. */
static int cmp_ops(const void *x, const void *y, void *arg) {
    const cn_batch_t *b = arg;
    const op_t *p = &b->ops[*(const size_t *)x], *q = &b->ops[*(const size_t *)y];
    if (p->cf != q->cf) return p->cf < q->cf ? -1 : 1;
    int c = cn_bytes_cmp(op_key(b, p), p->klen, op_key(b, q), q->klen);
    if (c == 0) c = *(const size_t *)x < *(const size_t *)y ? -1 : 1;
    return c;
}

static int conflict(const cn_batch_t *b, const op_t *o, const char *where) {
    char hex[2 * 16 + 1];
    cn_hex(op_key(b, o), CN_MIN(o->klen, 16u), hex);
    return cn_err(CN_ECONFLICT, "append-only family %s: key %s%s already holds a different value (%s)",
                  cn_cf_name((cn_cf_t)o->cf), hex, o->klen > 16 ? "..." : "", where);
}

static bool same_value(const cn_batch_t *b, const op_t *o, const uint8_t *v, size_t vl) {
    return o->vlen == vl && (vl == 0 || memcmp(op_val(b, o), v, vl) == 0);
}

static int cmp_size(const void *x, const void *y) {
    size_t a = *(const size_t *)x, c = *(const size_t *)y;
    return a < c ? -1 : a > c;
}

static bool is_delta(const cn_batch_t *b, const op_t *o) {
    return o->cf == CN_CF_BLOBS && !o->del && o->vlen >= 1 && op_val(b, o)[0] == CN_BLOB_DELTA;
}

/* The kept put of key among the unique keys first[0..u) (sorted), or NULL. */
static op_t *kept_put(cn_batch_t *b, const size_t *first, size_t u, const bool *keep, const uint8_t *key,
                      size_t klen) {
    size_t lo = 0, hi = u;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const op_t *o = &b->ops[first[mid]];
        int c = cn_bytes_cmp(op_key(b, o), o->klen, key, klen);
        if (c == 0) return keep[first[mid]] ? &b->ops[first[mid]] : NULL;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A blob delta's depth must be above its base's as stored (storage/MERGE.md,
   "Delta blobs"): a writer that counted from its own queue understates it when
   the base's key was already stored with another encoding (its put of the base
   was dropped). Raises such depths in the batch, from the base's kept put in
   this batch (batch order, so raised bases count) or else its stored value. Runs
   under append_mu (needs_lock), so no other delta append moves a base between
   this read and the write. */
static int fix_delta_depths(cn_shard_t *s, cn_batch_t *b, const size_t *first, size_t u, const bool *keep) {
    size_t m = 0, *dl = cn_xcalloc(u ? u : 1, sizeof *dl);
    for (size_t i = 0; i < u; i++)
        if (keep[first[i]] && is_delta(b, &b->ops[first[i]])) dl[m++] = first[i];
    if (m == 0) {
        free(dl);
        return 0;
    }
    qsort(dl, m, sizeof *dl, cmp_size);
    const void **keys = cn_xcalloc(m, sizeof *keys);
    size_t *klens = cn_xcalloc(m, sizeof *klens);
    bool *found = cn_xcalloc(m, sizeof *found);
    cn_buf_t *vals = cn_xcalloc(m, sizeof *vals);
    /* Parsed once: the parts point into the batch's bytes, which stay put, and
       only op i itself rewrites its depth byte (below, after reading d[i]). */
    cn_blob_delta_t *d = cn_xcalloc(m, sizeof *d);
    bool *ok = cn_xcalloc(m, sizeof *ok);
    for (size_t i = 0; i < m; i++) {
        const op_t *o = &b->ops[dl[i]];
        ok[i] = cn_blob_parse_delta(op_val(b, o), o->vlen, &d[i]) == 0;
        keys[i] = ok[i] ? d[i].base_key : op_key(b, o); /* malformed: looked up, never used */
        klens[i] = ok[i] ? d[i].base_klen : o->klen;
    }
    int rc = cn_rocks_multi_get(s->db, CN_CF_BLOBS, keys, klens, m, found, vals);
    for (size_t i = 0; i < m && rc == 0; i++) {
        if (!ok[i]) continue;
        const op_t *o = &b->ops[dl[i]];
        uint8_t *v = b->data.data + o->off + o->klen;
        const op_t *base = kept_put(b, first, u, keep, d[i].base_key, d[i].base_klen);
        int bd = base       ? cn_blob_value_depth(op_val(b, base), base->vlen)
                 : found[i] ? cn_blob_value_depth(vals[i].data, vals[i].len)
                            : -1;
        if (bd >= (int)d[i].depth) v[1] = (uint8_t)CN_MIN(bd + 1, 255);
    }
    for (size_t i = 0; i < m; i++) cn_buf_free(&vals[i]);
    free(ok);
    free(d);
    free(vals);
    free(found);
    free(klens);
    free(keys);
    free(dl);
    return rc;
}

/* Checks the run idx[0..n) of puts to one append-only family (sorted by key):
   duplicates within the batch, then one multi_get against the store. */
static int check_family(cn_shard_t *s, cn_batch_t *b, const size_t *idx, size_t n, bool *keep) {
    cn_cf_t cf = (cn_cf_t)b->ops[idx[0]].cf;
    bool compare = s->verify_append || !cn_cf_content_addressed(cf);
    const void **keys = cn_xcalloc(n, sizeof *keys);
    size_t *klens = cn_xcalloc(n, sizeof *klens);
    size_t *first = cn_xcalloc(n, sizeof *first); /* op index of each unique key */
    size_t u = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const op_t *o = &b->ops[idx[i]];
        if (u && klens[u - 1] == o->klen && memcmp(keys[u - 1], op_key(b, o), o->klen) == 0) {
            const op_t *f = &b->ops[first[u - 1]];
            if (compare && !same_value(b, o, op_val(b, f), f->vlen))
                rc = conflict(b, o, "twice in one batch");
            keep[idx[i]] = false;
            continue;
        }
        keys[u] = op_key(b, o);
        klens[u] = o->klen;
        first[u++] = idx[i];
    }
    bool *found = cn_xcalloc(u, sizeof *found);
    cn_buf_t *vals = compare ? cn_xcalloc(u, sizeof *vals) : NULL;
    if (rc == 0) rc = cn_rocks_multi_get(s->db, (int)cf, keys, klens, u, found, vals);
    for (size_t i = 0; i < u && rc == 0; i++) {
        if (!found[i]) continue;
        const op_t *o = &b->ops[first[i]];
        if (compare && !same_value(b, o, vals[i].data, vals[i].len)) rc = conflict(b, o, "stored");
        keep[first[i]] = false;
    }
    if (rc == 0 && cf == CN_CF_BLOBS) rc = fix_delta_depths(s, b, first, u, keep);
    for (size_t i = 0; vals && i < u; i++) cn_buf_free(&vals[i]);
    free(vals);
    free(found);
    free(first);
    free(klens);
    free(keys);
    return rc;
}

/* Marks in keep[] the operations to write; refuses the batch on a conflict. */
static int check_batch(cn_shard_t *s, cn_batch_t *b, bool *keep) {
    size_t *idx = cn_xcalloc(b->n, sizeof *idx);
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) {
        keep[i] = true;
        if (!b->ops[i].del && !cn_cf_mutable((cn_cf_t)b->ops[i].cf)) idx[m++] = i;
    }
    qsort_r(idx, m, sizeof *idx, cmp_ops, (void *)b);
    int rc = 0;
    for (size_t i = 0, j; i < m && rc == 0; i = j) {
        for (j = i + 1; j < m && b->ops[idx[j]].cf == b->ops[idx[i]].cf; j++) continue;
        rc = check_family(s, b, idx + i, j - i, keep);
    }
    free(idx);
    return rc;
}

static bool needs_lock(const cn_batch_t *b) {
    for (size_t i = 0; i < b->n; i++) {
        cn_cf_t cf = (cn_cf_t)b->ops[i].cf;
        if (!cn_cf_mutable(cf) && !cn_cf_content_addressed(cf)) return true;
        if (is_delta(b, &b->ops[i])) return true; /* fix_delta_depths reads the bases */
    }
    return false;
}

/* Writes rb with the feed record that lists its puts (feed != NULL): counters
   are taken in write order and only written ones are used (no gaps). A synced
   append syncs the WAL after the lock, so concurrent appends still share fsyncs. */
static int write_with_feed(cn_shard_t *s, cn_rocks_batch_t *rb, const cn_buf_t *feed, bool sync) {
    if (!feed) return cn_rocks_write(s->db, rb, sync);
    pthread_mutex_lock(&s->feed_mu);
    uint8_t key[8];
    cn_put_be64(key, s->feed_next);
    cn_rocks_batch_put(rb, s->db, CN_CF_FEED, key, sizeof key, feed->data, feed->len);
    int rc = cn_rocks_write(s->db, rb, false);
    if (rc == 0) s->feed_next++;
    pthread_mutex_unlock(&s->feed_mu);
    if (rc == 0 && sync) rc = cn_rocks_sync_wal(s->db);
    return rc;
}

static int write_kept(cn_shard_t *s, const cn_batch_t *b, const bool *keep, bool sync) {
    cn_rocks_batch_t *rb = cn_rocks_batch_new();
    cn_buf_t feed = {0};
    for (size_t i = 0; i < b->n; i++) {
        const op_t *o = &b->ops[i];
        if (!keep[i]) continue;
        if (o->del) {
            cn_rocks_batch_delete(rb, s->db, o->cf, op_key(b, o), o->klen);
        } else {
            cn_rocks_batch_put(rb, s->db, o->cf, op_key(b, o), o->klen, op_val(b, o), o->vlen);
            if (!s->no_feed) cn_feed_put(&feed, (cn_cf_t)o->cf, op_key(b, o), o->klen);
        }
    }
    int rc;
    if (cn_rocks_batch_count(rb) > 0)
        rc = write_with_feed(s, rb, feed.len ? &feed : NULL, sync);
    else
        rc = sync ? cn_rocks_sync_wal(s->db) : 0; /* earlier unsynced writes of these keys */
    cn_buf_free(&feed);
    cn_rocks_batch_destroy(&rb);
    return rc;
}

int cn_shard_append(cn_shard_t *s, cn_batch_t *b, bool sync) {
    if (s->read_only) return cn_err(CN_EPERM, "shard %s is open read-only", s->dir);
    if (b->err) return cn_err(b->err, "batch refused: %s", b->why);
    bool *keep = cn_xcalloc(b->n ? b->n : 1, sizeof *keep);
    bool lock = needs_lock(b);
    pthread_rwlock_rdlock(&s->cf_lock);
    if (lock) pthread_mutex_lock(&s->append_mu);
    int rc = check_batch(s, b, keep);
    if (rc == 0) rc = write_kept(s, b, keep, sync);
    if (lock) pthread_mutex_unlock(&s->append_mu);
    pthread_rwlock_unlock(&s->cf_lock);
    free(keep);
    if (rc == 0) cn_batch_clear(b);
    return rc;
}

/* ---- per-job commit records ---- */

static void job_key(uint8_t key[16], uint64_t job_id, uint64_t lease_seq) {
    cn_put_be64(key, job_id);
    cn_put_be64(key + 8, lease_seq);
}

/* Appends p's operations and the JobCommit for c to all. */
static void add_commit(cn_shard_t *s, cn_batch_t *all, const cn_batch_t *p, const cn_job_commit_t *c) {
    Canopy__JobCommit jc;
    canopy__job_commit__init(&jc);
    Canopy__Stamp st;
    cn_stamp_fill(&st);
    jc.job_id = c->job_id;
    jc.attempt = c->attempt;
    jc.lease_seq = c->lease_seq;
    jc.stamp = &st;
    jc.kind = (char *)(c->kind ? c->kind : "");
    jc.at_ms = cn_wall_ms();
    jc.key_id = c->key_id;
    jc.worker = s->worker ? s->worker : (char *)"";
    jc.summary = (char *)(c->summary ? c->summary : "");
    size_t np = 0;
    Canopy__PointerRef *refs = NULL, **rp = NULL;
    if (p && p->n) {
        refs = cn_xcalloc(CN_MIN(p->n, CN_COMMIT_MAX_POINTERS), sizeof *refs);
        rp = cn_xcalloc(CN_MIN(p->n, CN_COMMIT_MAX_POINTERS), sizeof *rp);
    }
    for (size_t i = 0; p && i < p->n; i++) {
        const op_t *o = &p->ops[i];
        add_op(all, (cn_cf_t)o->cf, o->del, op_key(p, o), o->klen, op_val(p, o), o->vlen);
        if (o->del) continue;
        jc.pointers_total++;
        if (np == CN_COMMIT_MAX_POINTERS) continue;
        canopy__pointer_ref__init(&refs[np]);
        refs[np].cf = o->cf;
        refs[np].key = (ProtobufCBinaryData){.len = o->klen, .data = (uint8_t *)op_key(p, o)};
        rp[np] = &refs[np];
        np++;
    }
    jc.n_pointer = np;
    jc.pointer = rp;
    cn_buf_t v = {0};
    cn_rec_pack(&jc.base, &v);
    uint8_t key[16];
    job_key(key, c->job_id, c->lease_seq);
    cn_batch_put(all, CN_CF_JOBS, key, sizeof key, v.data, v.len);
    cn_buf_free(&v);
    free(rp);
    free(refs);
}

int cn_shard_commit_jobs(cn_shard_t *s, cn_batch_t **pointers, const cn_job_commit_t *c, size_t n) {
    if (n == 0) return 0;
    cn_batch_t *all = cn_batch_new();
    for (size_t i = 0; i < n; i++) {
        const cn_batch_t *p = pointers ? pointers[i] : NULL;
        if (p && p->err) {
            int rc = cn_err(p->err, "job %llu: pointer batch refused: %s", (unsigned long long)c[i].job_id,
                            p->why);
            cn_batch_destroy(&all);
            return rc;
        }
        add_commit(s, all, p, &c[i]);
    }
    int rc = cn_shard_append(s, all, true);
    cn_batch_destroy(&all);
    /* On failure the pointers stay, so the caller can commit jobs one by one. */
    for (size_t i = 0; rc == 0 && pointers && i < n; i++)
        if (pointers[i]) cn_batch_clear(pointers[i]);
    return rc;
}

int cn_shard_commit_job(cn_shard_t *s, cn_batch_t *pointers, const cn_job_commit_t *c) {
    return cn_shard_commit_jobs(s, &pointers, c, 1);
}

uint64_t cn_shard_job_top_lease(cn_shard_t *s, uint64_t job_id) {
    uint8_t key[16];
    job_key(key, job_id, 0);
    cn_iter_t *it = NULL;
    if (cn_iter_new(s, CN_CF_JOBS, key, 8, &it) < 0) {
        cn_err_clear();
        return 0;
    }
    cn_iter_seek_last(it);
    size_t kl = 0;
    const uint8_t *k = cn_iter_valid(it) ? cn_iter_key(it, &kl) : NULL;
    uint64_t lease = k && kl == sizeof key ? cn_get_be64(k + 8) : 0; /* job, then lease */
    cn_iter_destroy(&it);
    return lease;
}

int cn_shard_job_commit(cn_shard_t *s, uint64_t job_id, uint64_t lease_seq, Canopy__JobCommit **out) {
    *out = NULL;
    uint8_t key[16];
    job_key(key, job_id, lease_seq);
    cn_buf_t v = {0};
    int rc;
    if (lease_seq) {
        rc = cn_shard_get(s, CN_CF_JOBS, key, sizeof key, &v);
    } else {
        cn_iter_t *it = NULL;
        if ((rc = cn_iter_new(s, CN_CF_JOBS, key, 8, &it)) < 0) return rc;
        cn_iter_seek_last(it);
        size_t vl = 0;
        if (cn_iter_valid(it)) {
            const uint8_t *val = cn_iter_value(it, &vl);
            cn_buf_append(&v, val, vl);
        } else {
            rc = CN_ENOTFOUND;
        }
        cn_iter_destroy(&it);
    }
    if (rc == CN_ENOTFOUND)
        rc = cn_err(CN_ENOTFOUND, "job %llu has no commit record%s", (unsigned long long)job_id,
                    lease_seq ? " for that lease" : "");
    if (rc == 0) {
        ProtobufCMessage *m = NULL;
        rc = cn_rec_unpack(&canopy__job_commit__descriptor, v.data, v.len, &m);
        if (rc == 0) *out = (Canopy__JobCommit *)m;
    }
    cn_buf_free(&v);
    return rc;
}
