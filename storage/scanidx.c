/* scanidx.c: see scanidx.h. Keys in the scanidx family:
     'S' | hash64(space) BE64 | job_id BE64 | journal_id BE64 -> JournalEntry
         (committed copy with its ScanMeta: the scan list)
     'D' | journal_id BE64 | directory path -> directory row
     'R' -> BE64 wall time of the last rebuild
   A directory row: version byte 1, the directory's own record, varint child
   count, child records in name order. A record: varint name length, name,
   type byte, varints mode, uid, gid, size, zigzag mtime_ns; symlinks add
   varint target length, target, link byte (CN_LINK_*), and for CN_LINK_INSIDE
   varint length + resolved path. */
#include "scanidx.h"

#include "errors.h"
#include "hash.h"
#include "journal.h"
#include "log.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define ROW_VERSION 1
#define BATCH_BYTES (4u << 20)

static void put_rec(cn_buf_t *v, const cn_ptree_t *t, uint32_t node, cn_buf_t *tmp) {
    size_t nl;
    const uint8_t *nm = node == 0 ? (const uint8_t *)"" : cn_ptree_name(t, node, &nl);
    if (node == 0) nl = 0;
    cn_pstat_t st;
    cn_ptree_stat(t, node, &st);
    cn_buf_put_varint(v, nl);
    cn_buf_append(v, nm, nl);
    cn_buf_putc(v, st.type);
    cn_buf_put_varint(v, st.mode);
    cn_buf_put_varint(v, st.uid);
    cn_buf_put_varint(v, st.gid);
    cn_buf_put_varint(v, st.size);
    cn_buf_put_varint(v, ((uint64_t)st.mtime_ns << 1) ^ (uint64_t)(st.mtime_ns >> 63));
    if (st.type != CN_PT_SYMLINK) return;
    size_t tl;
    const uint8_t *tg = cn_ptree_target(t, node, &tl);
    cn_buf_put_varint(v, tl);
    cn_buf_append(v, tg, tl);
    uint32_t l = cn_ptree_link(t, node);
    if (l == CN_PT_LINK_BROKEN) {
        cn_buf_putc(v, CN_LINK_BROKEN);
    } else if (l == CN_PT_LINK_OUTSIDE) {
        cn_buf_putc(v, CN_LINK_OUTSIDE);
    } else {
        cn_buf_putc(v, CN_LINK_INSIDE);
        cn_buf_reset(tmp);
        cn_ptree_path(t, l, tmp);
        cn_buf_put_varint(v, tmp->len);
        cn_buf_append(v, tmp->data, tmp->len);
    }
}

static void space_key(uint8_t *k, const char *space, uint64_t job_id, uint64_t jid) {
    k[0] = 'S';
    cn_put_be64(k + 1, cn_hash64(space, strlen(space)));
    cn_put_be64(k + 9, job_id);
    cn_put_be64(k + 17, jid);
}

static int put_dirs(cn_shard_t *s, uint64_t jid, const cn_ptree_t *t) {
    cn_batch_t *b = cn_batch_new();
    cn_buf_t key = {0}, val = {0}, tmp = {0};
    int rc = 0;
    uint32_t n = cn_ptree_count(t);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        cn_pstat_t st;
        cn_ptree_stat(t, i, &st);
        if (st.type != CN_PT_DIR) continue;
        cn_buf_reset(&key);
        cn_buf_putc(&key, 'D');
        cn_buf_put_be64(&key, jid);
        cn_ptree_path(t, i, &key);
        cn_buf_reset(&val);
        cn_buf_putc(&val, ROW_VERSION);
        put_rec(&val, t, i, &tmp);
        uint32_t nk;
        const uint32_t *kids = cn_ptree_children(t, i, &nk);
        cn_buf_put_varint(&val, nk);
        for (uint32_t k = 0; k < nk; k++) put_rec(&val, t, kids[k], &tmp);
        cn_batch_put(b, CN_CF_SCANIDX, key.data, key.len, val.data, val.len);
        if (cn_batch_bytes(b) >= BATCH_BYTES) rc = cn_shard_append(s, b, false);
    }
    if (rc == 0 && cn_batch_count(b)) rc = cn_shard_append(s, b, false);
    cn_batch_destroy(&b);
    cn_buf_free(&key);
    cn_buf_free(&val);
    cn_buf_free(&tmp);
    return rc;
}

int cn_scanidx_apply(cn_shard_t *s, const Canopy__JournalEntry *e, const cn_ptree_t *t, cn_batch_t *commit) {
    ProtobufCMessage *m = NULL;
    int rc = cn_rec_unpack(&canopy__scan_meta__descriptor, e->metadata.data, e->metadata.len, &m);
    if (rc < 0)
        return cn_err(CN_ECORRUPT, "journal entry %llu: scan metadata does not decode",
                      (unsigned long long)e->journal_id);
    const Canopy__ScanMeta *meta = (const Canopy__ScanMeta *)m;
    rc = put_dirs(s, e->journal_id, t);
    if (rc == 0) {
        Canopy__JournalEntry row = *e;
        row.committed = true;
        row.data.len = 0;
        row.data.data = NULL;
        uint8_t k[25];
        space_key(k, meta->space, e->cause ? e->cause->job_id : 0, e->journal_id);
        cn_buf_t v = {0};
        cn_rec_pack(&row.base, &v);
        cn_batch_t *own = commit ? NULL : cn_batch_new();
        cn_batch_put(commit ? commit : own, CN_CF_SCANIDX, k, sizeof k, v.data, v.len);
        if (own) rc = cn_shard_append(s, own, false);
        cn_batch_destroy(&own);
        cn_buf_free(&v);
    }
    cn_rec_free(m);
    return rc;
}

typedef struct {
    cn_shard_t *s;
    cn_scanidx_stats_t *st;
} replay_t;

static int replay_one(void *arg, const Canopy__JournalEntry *e, bool committed) {
    replay_t *r = arg;
    r->st->entries++;
    if (!committed) {
        r->st->uncommitted++;
        return 0;
    }
    if (!e->type || strcmp(e->type, "scan") != 0) {
        r->st->other_types++;
        return 0;
    }
    cn_buf_t data = {0};
    cn_ptree_t *t = NULL;
    int rc = cn_journal_data(r->s, e, &data);
    if (rc == 0) rc = cn_ptree_decode(data.data, data.len, 0, &t);
    cn_buf_free(&data);
    if (rc < 0 && rc != CN_EIO) {
        CN_WARN("shard %s: journal entry %llu skipped by the replay: %s", cn_shard_dir(r->s),
                (unsigned long long)e->journal_id, cn_err_detail());
        r->st->unreadable++;
        return 0;
    }
    if (rc == 0) rc = cn_scanidx_apply(r->s, e, t, NULL);
    cn_ptree_destroy(&t);
    if (rc == 0) r->st->applied++;
    return rc;
}

int cn_scanidx_rebuild(cn_shard_t *s, cn_scanidx_stats_t *stats) {
    cn_scanidx_stats_t local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    int rc = cn_shard_drop_cf(s, CN_CF_SCANIDX);
    if (rc < 0) return rc;
    replay_t r = {s, stats};
    rc = cn_journal_each(s, 1, replay_one, &r);
    if (rc == 0) { /* 'R': when the tables were last rebuilt; its synced write makes the replay durable */
        cn_batch_t *b = cn_batch_new();
        uint8_t v[8];
        cn_put_be64(v, cn_wall_ms());
        cn_batch_put(b, CN_CF_SCANIDX, "R", 1, v, sizeof v);
        rc = cn_shard_append(s, b, true);
        cn_batch_destroy(&b);
    }
    return rc;
}

/* ---- reading ---- */

void cn_scanidx_free(cn_scan_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) cn_rec_free(v[i].meta ? &v[i].meta->base : NULL);
    free(v);
}

int cn_scanidx_list(cn_shard_t *s, const char *space, cn_scan_t **out, size_t *n) {
    uint8_t prefix[9] = {'S'};
    size_t plen = 1;
    if (space) {
        cn_put_be64(prefix + 1, cn_hash64(space, strlen(space)));
        plen = 9;
    }
    *out = NULL;
    *n = 0;
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(s, CN_CF_SCANIDX, prefix, plen, &it);
    if (rc < 0) return rc;
    size_t cap = 0;
    for (; cn_iter_valid(it) && rc == 0; cn_iter_next(it)) {
        size_t kl, vl;
        (void)cn_iter_key(it, &kl);
        const uint8_t *v = cn_iter_value(it, &vl);
        ProtobufCMessage *m = NULL, *mm = NULL;
        if (kl != 25 || cn_rec_unpack(&canopy__journal_entry__descriptor, v, vl, &m) < 0) continue;
        const Canopy__JournalEntry *e = (const Canopy__JournalEntry *)m;
        if (cn_rec_unpack(&canopy__scan_meta__descriptor, e->metadata.data, e->metadata.len, &mm) < 0 ||
            (space && strcmp(((Canopy__ScanMeta *)mm)->space, space) != 0) || e->data_hash.len != 32) {
            cn_rec_free(m);
            if (mm) cn_rec_free(mm);
            continue; /* a hash collision of space names, or a bad row */
        }
        uint64_t job = e->cause ? e->cause->job_id : 0, lease = e->cause ? e->cause->lease_seq : 0;
        cn_scan_t *dst = NULL;
        /* rows of one job are adjacent (same space, same job): keep the highest lease */
        if (*n && (*out)[*n - 1].job_id == job && job != 0) {
            if ((*out)[*n - 1].lease_seq < lease) {
                dst = &(*out)[*n - 1];
                cn_rec_free(&dst->meta->base);
            }
        } else {
            if (*n == cap) *out = cn_xrealloc(*out, (cap = cap ? cap * 2 : 16) * sizeof **out);
            dst = &(*out)[(*n)++];
        }
        if (dst) {
            dst->job_id = job;
            dst->lease_seq = lease;
            dst->attempt = e->cause ? e->cause->attempt : 0;
            dst->journal_id = e->journal_id;
            dst->at_ms = e->at_ms;
            dst->meta = (Canopy__ScanMeta *)mm;
            memcpy(dst->hash, e->data_hash.data, 32);
        } else {
            cn_rec_free(mm);
        }
        cn_rec_free(m);
    }
    cn_iter_destroy(&it);
    return rc;
}

int cn_scanidx_dir(cn_shard_t *s, uint64_t journal_id, const uint8_t *path, size_t len, cn_buf_t *raw) {
    cn_buf_t key = {0};
    cn_buf_putc(&key, 'D');
    cn_buf_put_be64(&key, journal_id);
    cn_buf_append(&key, path, len);
    int rc = cn_shard_get(s, CN_CF_SCANIDX, key.data, key.len, raw);
    cn_buf_free(&key);
    return rc;
}

typedef struct {
    const uint8_t *p, *end;
} rd_t;

static bool rd_var(rd_t *r, uint64_t *v) {
    return cn_get_varint(&r->p, r->end, v);
}

static bool rd_bytes(rd_t *r, const uint8_t **p, size_t *len) {
    uint64_t l;
    if (!rd_var(r, &l) || l > (uint64_t)(r->end - r->p)) return false;
    *p = r->p;
    *len = (size_t)l;
    r->p += l;
    return true;
}

static bool rd_rec(rd_t *r, cn_scan_ent_t *e) {
    memset(e, 0, sizeof *e);
    uint64_t mode, uid, gid, z;
    if (!rd_bytes(r, &e->name, &e->name_len) || r->p >= r->end) return false;
    e->st.type = *r->p++;
    if (e->st.type > CN_PT_TYPE_MAX_ || !rd_var(r, &mode) || !rd_var(r, &uid) || !rd_var(r, &gid) ||
        !rd_var(r, &e->st.size) || !rd_var(r, &z) || mode > UINT32_MAX || uid > UINT32_MAX ||
        gid > UINT32_MAX)
        return false;
    e->st.mode = (uint32_t)mode;
    e->st.uid = (uint32_t)uid;
    e->st.gid = (uint32_t)gid;
    e->st.mtime_ns = (int64_t)((z >> 1) ^ (0 - (z & 1)));
    if (e->st.type != CN_PT_SYMLINK) return true;
    if (!rd_bytes(r, &e->target, &e->target_len) || r->p >= r->end) return false;
    e->link = *r->p++;
    if (e->link == CN_LINK_INSIDE) return rd_bytes(r, &e->resolved, &e->resolved_len);
    return e->link == CN_LINK_BROKEN || e->link == CN_LINK_OUTSIDE;
}

int cn_scanidx_parse(const uint8_t *raw, size_t len, cn_scan_ent_t *self,
                     int (*cb)(void *arg, const cn_scan_ent_t *e), void *arg) {
    rd_t r = {raw, raw + len};
    cn_scan_ent_t e;
    uint64_t n;
    if (len < 1 || raw[0] != ROW_VERSION) return cn_err(CN_ECORRUPT, "scan index: unknown directory row");
    r.p++;
    if (!rd_rec(&r, &e) || !rd_var(&r, &n)) return cn_err(CN_ECORRUPT, "scan index: bad directory row");
    if (self) *self = e;
    for (uint64_t i = 0; i < n; i++) {
        if (!rd_rec(&r, &e)) return cn_err(CN_ECORRUPT, "scan index: bad entry in a directory row");
        if (cb) {
            int rc = cb(arg, &e);
            if (rc) return rc;
        }
    }
    return 0;
}

typedef struct {
    const uint8_t *name;
    size_t len;
    cn_scan_ent_t *out;
    bool found;
} find_t;

static int match_child(void *arg, const cn_scan_ent_t *e) {
    find_t *f = arg;
    if (e->name_len != f->len || memcmp(e->name, f->name, f->len) != 0) return 0;
    *f->out = *e;
    f->found = true;
    return 1;
}

int cn_scanidx_stat(cn_shard_t *s, uint64_t journal_id, const uint8_t *path, size_t len, cn_buf_t *raw,
                    cn_scan_ent_t *out) {
    /* a directory's own row holds its stat: one read */
    cn_buf_reset(raw);
    int rc = cn_scanidx_dir(s, journal_id, path, len, raw);
    if (rc == 0) return cn_scanidx_parse(raw->data, raw->len, out, NULL, NULL);
    if (rc != CN_ENOTFOUND || len == 0) return rc;
    const uint8_t *slash = NULL;
    for (size_t i = len; i-- > 0;)
        if (path[i] == '/') {
            slash = path + i;
            break;
        }
    size_t plen = slash ? (size_t)(slash - path) : 0;
    find_t f = {slash ? slash + 1 : path, slash ? len - plen - 1 : len, out, false};
    cn_buf_reset(raw);
    rc = cn_scanidx_dir(s, journal_id, path, plen, raw);
    if (rc == 0) rc = cn_scanidx_parse(raw->data, raw->len, NULL, match_child, &f);
    if (rc < 0) return rc;
    return f.found ? 0 : cn_err(CN_ENOTFOUND, "no such path in the scan");
}

int cn_scanidx_tree(cn_shard_t *s, uint64_t journal_id, cn_ptree_t **out) {
    Canopy__JournalEntry *e = NULL;
    *out = NULL;
    int rc = cn_journal_get(s, journal_id, &e, NULL);
    cn_buf_t data = {0};
    if (rc == 0) rc = cn_journal_data(s, e, &data);
    if (rc == 0) rc = cn_ptree_decode(data.data, data.len, 0, out);
    cn_buf_free(&data);
    if (e) cn_rec_free(&e->base);
    return rc;
}
