/* merge_rules.c: how each family is merged (the rule table), and the bulk path
   that applies the CONTENT, POINTER and VERSIONED rules: a k-way merge of the
   moved shards' sorted iterators, checked against the merged store with a
   merge-join, written as one sorted SST file per family and ingested. Families
   run on a few threads (one family per thread at a time); each writes only its
   own report slot. */
#include "merge_int.h"

#include "errors.h"
#include "log.h"

#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Chunk keys (the first versioned family): file_id BE64 | version BE64 |
   lease_seq BE64 (storage/MERGE.md). A new versioned family is one line here. */
static const mg_rule_t rules[CN_CF_COUNT_] = {
    [CN_CF_META] = {CN_CF_META, MG_META, 0, 0, 0},
    [CN_CF_JOBS] = {CN_CF_JOBS, MG_JOBS, 0, 0, 0},
    [CN_CF_BLOBS] = {CN_CF_BLOBS, MG_CONTENT, 0, 0, 0},
    [CN_CF_COMMITS] = {CN_CF_COMMITS, MG_CONTENT, 0, 0, 0},
    [CN_CF_CHANGES] = {CN_CF_CHANGES, MG_CONTENT, 0, 0, 0},
    [CN_CF_PATHS] = {CN_CF_PATHS, MG_CONTENT, 0, 0, 0},
    [CN_CF_USERS] = {CN_CF_USERS, MG_CONTENT, 0, 0, 0},
    [CN_CF_HEADS] = {CN_CF_HEADS, MG_POINTER, 16, 8, 0},
    [CN_CF_PROJLOG] = {CN_CF_PROJLOG, MG_POINTER, 16, 8, 0},
    [CN_CF_PROJECTS] = {CN_CF_PROJECTS, MG_CONTENT, 0, 0, 0},
    [CN_CF_JOURNAL] = {CN_CF_JOURNAL, MG_JOURNAL, 0, 0, 0},
    [CN_CF_SCANIDX] = {CN_CF_SCANIDX, MG_DERIVED, 0, 0, 0},
    [CN_CF_SYNC] = {CN_CF_SYNC, MG_CONTENT, 0, 0, 0},
    [CN_CF_CHUNKS] = {CN_CF_CHUNKS, MG_VERSIONED, 24, 16, 8},
    [CN_CF_DEFS] = {CN_CF_DEFS, MG_CONTENT, 0, 0, 0},
    [CN_CF_REFS] = {CN_CF_REFS, MG_CONTENT, 0, 0, 0},
    [CN_CF_FEED] = {CN_CF_FEED, MG_META, 0, 0, 0},
};

const mg_rule_t *mg_rule(cn_cf_t cf) {
    return &rules[cf];
}

/* The families merged record by record, largest first, so that two threads
   end together. */
static const cn_cf_t family_order[] = {CN_CF_BLOBS,  CN_CF_CHANGES, CN_CF_COMMITS, CN_CF_PATHS,
                                       CN_CF_USERS,  CN_CF_DEFS,    CN_CF_REFS,    CN_CF_SYNC,
                                       CN_CF_CHUNKS, CN_CF_HEADS,   CN_CF_PROJLOG, CN_CF_PROJECTS};

size_t mg_families_count(void) {
    return CN_ARRAY_LEN(family_order);
}

bool mg_family_reported(cn_cf_t cf) {
    return rules[cf].kind != MG_META && rules[cf].kind != MG_DERIVED;
}

/* ---- one source per moved shard, merged by key ---- */

/* Sources iterate RocksDB directly (the shard is open read-only, nothing drops
   its families), so that an iterator stopped by corruption fails the merge
   instead of looking like the end of the family. */
typedef struct {
    cn_rocks_iter_t *it;
    const mg_delta_t *d; /* or the shard's new records, read from its feed */
    size_t pos;
    const uint8_t *k, *v;
    size_t kl, vl;
} src_t;

static void src_load(src_t *s) {
    if (s->d) {
        s->k = s->pos < s->d->n ? s->d->keys[s->pos].data : NULL;
        if (!s->k) return;
        s->kl = s->d->keys[s->pos].len;
        s->v = s->d->vals[s->pos].data;
        s->vl = s->d->vals[s->pos].len;
    } else if (cn_rocks_iter_valid(s->it)) {
        s->k = cn_rocks_iter_key(s->it, &s->kl);
        s->v = cn_rocks_iter_value(s->it, &s->vl);
    } else {
        s->k = NULL;
    }
}

static void src_next(src_t *s) {
    if (s->d)
        s->pos++;
    else
        cn_rocks_iter_next(s->it);
    src_load(s);
}

/* Values of one key from several shards: the smallest wins, so the choice
   does not depend on the order of the shards. */
static int valcmp(const src_t *a, const src_t *b) {
    return cn_bytes_cmp(a->v, a->vl, b->v, b->vl);
}

/* The merged store's keys, walked along with the sources (a merge-join). */
typedef struct {
    cn_iter_t *it;
    bool empty;
} join_t;

static bool join_has(join_t *j, const uint8_t *k, size_t kl) {
    if (j->empty) return false;
    for (int steps = 0; cn_iter_valid(j->it); steps++) {
        size_t ml;
        const uint8_t *mk = cn_iter_key(j->it, &ml);
        int c = cn_bytes_cmp(mk, ml, k, kl);
        if (c == 0) return true;
        if (c > 0) return false;
        if (steps < 8)
            cn_iter_next(j->it);
        else
            cn_iter_seek(j->it, k, kl); /* far behind: jump */
    }
    return false;
}

/* A delta blob rebuilt whole for the merged store is at most this big. */
#define BLOB_REBUILD_MAX ((size_t)1 << 30)

typedef struct {
    mg_t *m;
    cn_cf_t cf;
    const mg_rule_t *rule;
    src_t *src;
    size_t nsrc;
    join_t join;
    cn_rocks_sst_t *sst;
    char *sst_path;
    cn_rocks_batch_t *wb; /* versioned: puts and deletes */
    cn_merge_count_t cnt;
    uint64_t read;
    /* versioned: the best candidate of the current identity */
    cn_buf_t best_k, best_v;
    bool have_best;
    cn_buf_t key;     /* the current key, kept while its iterator moves */
    uint64_t rebuilt; /* delta blobs stored whole (take_blob) */
} fam_t;

static int emit(fam_t *f, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    if (!f->sst) {
        int rc = cn_rocks_sst_open(f->m->out->db, f->sst_path, &f->sst);
        if (rc < 0) return rc;
    }
    f->cnt.new_++;
    return cn_rocks_sst_put(f->sst, k, kl, v, vl);
}

/* Versioned: the identity group ended; keep its best unless the merged store
   already holds an equal or newer record of that identity. */
static void flush_best(fam_t *f) {
    if (!f->have_best) return;
    f->have_best = false;
    const mg_rule_t *r = f->rule;
    cn_iter_t *it = NULL;
    if (cn_iter_new(f->m->out, f->cf, f->best_k.data, r->id_len, &it) < 0) return;
    cn_iter_seek_last(it);
    size_t ml = 0;
    const uint8_t *mk = cn_iter_valid(it) ? cn_iter_key(it, &ml) : NULL;
    int c = mk ? cn_bytes_cmp(mk, ml, f->best_k.data, f->best_k.len) : -1;
    if (c >= 0) {
        f->cnt.existing += c == 0;
        f->cnt.dropped += c > 0;
    } else {
        /* older versions of the identity leave the merged store */
        for (cn_iter_seek_last(it); cn_iter_valid(it); cn_iter_prev(it)) {
            mk = cn_iter_key(it, &ml);
            cn_rocks_batch_delete(f->wb, f->m->out->db, f->cf, mk, ml);
            f->cnt.dropped++;
        }
        cn_rocks_batch_put(f->wb, f->m->out->db, f->cf, f->best_k.data, f->best_k.len, f->best_v.data,
                           f->best_v.len);
        f->cnt.new_++;
    }
    cn_iter_destroy(&it);
}

/* A record of a lease with no commit yet: the feed brings it again next time. */
static void left_out(fam_t *f, const src_t *s, uint64_t lease) {
    f->cnt.dropped++;
    if (mg_lease_uncommitted(f->m, lease)) mg_feed_pending(f->m, (size_t)(s - f->src), f->cf, s->k, s->kl);
}

static void versioned(fam_t *f, const src_t *s) {
    const mg_rule_t *r = f->rule;
    if (s->kl != r->key_len) {
        f->cnt.dropped++;
        return;
    }
    uint64_t lease = cn_get_be64(s->k + r->lease_off);
    if (mg_lease_class(f->m, lease) == MG_DROP) {
        left_out(f, s, lease);
        return;
    }
    if (f->have_best && memcmp(f->best_k.data, s->k, r->id_len) == 0) {
        f->cnt.dropped++; /* keys sort by version then lease: s is newer */
    } else {
        flush_best(f);
    }
    cn_buf_reset(&f->best_k);
    cn_buf_reset(&f->best_v);
    cn_buf_append(&f->best_k, s->k, s->kl);
    cn_buf_append(&f->best_v, s->v, s->vl);
    f->have_best = true;
}

/* A delta blob whose base the merged store holds already (from an earlier
   run) at a depth not below the delta's own: taken as is, its merged chain
   would be longer than the depth it says, and chains could grow with each
   merge wherever shards chose different bases. So it is rebuilt whole from its
   shard. Within one run the smallest-value rule keeps depths falling along a
   chain (MERGE.md), so merged chains are never longer than their stored depth. */
static int take_blob(fam_t *f, const src_t *s) {
    cn_blob_delta_t dd;
    unsigned md = 0;
    if (f->join.empty || s->vl < 1 || s->v[0] != CN_BLOB_DELTA || cn_blob_parse_delta(s->v, s->vl, &dd) < 0 ||
        cn_blob_depth(f->m->out, dd.base_key, dd.base_klen, &md) == CN_ENOTFOUND || md < dd.depth) {
        cn_err_clear();
        return emit(f, s->k, s->kl, s->v, s->vl);
    }
    cn_buf_t raw = {0}, whole = {0};
    /* s->v is the delta's own value: only its bases are read from the shard. */
    int rc = cn_blob_get_held(f->m->sh[s - f->src].s, s->k, s->kl, s->v, s->vl, BLOB_REBUILD_MAX, &raw);
    if (rc == 0) rc = cn_blob_encode_whole(CN_BLOB_KEYED, raw.data, raw.len, &whole);
    if (rc == 0) {
        rc = emit(f, s->k, s->kl, whole.data, whole.len);
        f->rebuilt++;
    }
    cn_buf_free(&raw);
    cn_buf_free(&whole);
    return rc;
}

/* One distinct key: s holds the smallest value among the shards that have it. */
static int take(fam_t *f, const src_t *s) {
    switch (f->rule->kind) {
    case MG_CONTENT:
        if (join_has(&f->join, s->k, s->kl)) {
            f->cnt.existing++;
            return 0;
        }
        if (f->cf == CN_CF_BLOBS) return take_blob(f, s);
        return emit(f, s->k, s->kl, s->v, s->vl);
    case MG_POINTER: {
        if (s->kl != f->rule->key_len) {
            f->cnt.dropped++;
            return 0;
        }
        uint64_t lease = cn_get_be64(s->k + f->rule->lease_off);
        int cls = mg_lease_class(f->m, lease);
        if (cls == MG_NEW) return emit(f, s->k, s->kl, s->v, s->vl);
        if (cls == MG_OLD)
            f->cnt.existing++;
        else
            left_out(f, s, lease);
        return 0;
    }
    case MG_VERSIONED:
        versioned(f, s);
        return 0;
    default:
        return 0;
    }
}

static int run_merge(fam_t *f) {
    int rc = 0;
    for (;;) {
        src_t *best = NULL;
        for (size_t i = 0; i < f->nsrc; i++) {
            src_t *s = &f->src[i];
            if (!s->k) continue;
            int c = best ? cn_bytes_cmp(s->k, s->kl, best->k, best->kl) : -1;
            if (c < 0 || (c == 0 && valcmp(s, best) < 0)) best = s;
        }
        if (!best) break;
        if ((++f->read & 0xffff) == 0 && (rc = mg_check_stop(f->m)) < 0) break;
        if ((rc = take(f, best)) < 0) break;
        /* The same key in other shards: the same record, already taken. */
        cn_buf_reset(&f->key);
        cn_buf_append(&f->key, best->k, best->kl); /* best's key dies when its iterator moves */
        for (size_t i = 0; i < f->nsrc; i++) {
            src_t *s = &f->src[i];
            if (s == best || !s->k || cn_bytes_cmp(s->k, s->kl, f->key.data, f->key.len) != 0) continue;
            f->read++;
            f->cnt.existing++;
            src_next(s);
        }
        src_next(best);
    }
    for (size_t i = 0; i < f->nsrc && rc == 0; i++) {
        if (f->src[i].it && (rc = cn_rocks_iter_status(f->src[i].it)) < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", cn_err_detail()); /* cn_err rewrites the detail */
            rc = cn_err(rc, "shard %s, family %s: %s", f->m->sh[i].name, cn_cf_name(f->cf), why);
        }
    }
    if (rc == 0 && f->rule->kind == MG_VERSIONED) flush_best(f);
    return rc;
}

static void fam_free(fam_t *f) {
    for (size_t i = 0; i < f->nsrc; i++) cn_rocks_iter_destroy(&f->src[i].it);
    free(f->src);
    cn_iter_destroy(&f->join.it);
    if (f->sst) {
        bool empty;
        cn_rocks_sst_finish(&f->sst, &empty);
        unlink(f->sst_path);
    }
    free(f->sst_path);
    cn_rocks_batch_destroy(&f->wb);
    cn_buf_free(&f->best_k);
    cn_buf_free(&f->best_v);
    cn_buf_free(&f->key);
}

static int fam_open(fam_t *f) {
    f->src = cn_xcalloc(f->m->nsh, sizeof *f->src);
    f->nsrc = f->m->nsh;
    int rc = 0;
    for (size_t i = 0; i < f->nsrc && rc == 0; i++) {
        if (f->m->sh[i].delta)
            f->src[i].d = &f->m->sh[i].fam[f->cf];
        else
            rc = cn_rocks_iter_new(f->m->sh[i].s->db, (int)f->cf, NULL, 0, &f->src[i].it);
        if (rc == 0) src_load(&f->src[i]);
    }
    if (rc == 0 && f->rule->kind == MG_CONTENT) {
        rc = cn_iter_new(f->m->out, f->cf, NULL, 0, &f->join.it);
        f->join.empty = rc == 0 && !cn_iter_valid(f->join.it);
    }
    if (f->rule->kind == MG_VERSIONED) f->wb = cn_rocks_batch_new();
    char name[64];
    snprintf(name, sizeof name, "ingest/%s.sst", cn_cf_name(f->cf));
    f->sst_path = cn_path_join(f->m->gen_dir, name);
    return rc;
}

/* Finishes the family's SST file and ingests it (RocksDB moves the file in). */
static int fam_finish(fam_t *f) {
    int rc = 0;
    if (f->sst) {
        bool empty = true;
        rc = cn_rocks_sst_finish(&f->sst, &empty);
        if (rc == 0 && !empty) {
            const char *paths[] = {f->sst_path};
            rc = cn_rocks_ingest(f->m->out->db, (int)f->cf, paths, 1);
        }
    }
    if (rc == 0 && f->wb && cn_rocks_batch_count(f->wb) > 0) rc = cn_rocks_write(f->m->out->db, f->wb, false);
    return rc;
}

static int family_run(mg_t *m, cn_cf_t cf) {
    fam_t f = {.m = m, .cf = cf, .rule = mg_rule(cf)};
    uint64_t t0 = cn_mono_ms();
    int rc = fam_open(&f);
    if (rc == 0) rc = run_merge(&f);
    if (rc == 0) rc = fam_finish(&f);
    pthread_mutex_lock(&m->mu);
    cn_merge_count_t *c = &m->rep->records[cf];
    c->new_ += f.cnt.new_;
    c->existing += f.cnt.existing;
    c->dropped += f.cnt.dropped;
    m->rep->records_read += f.read;
    mg_progress(m, "families", ++m->families_done, mg_families_count());
    pthread_mutex_unlock(&m->mu);
    CN_DEBUG("merge: family %s: %llu read, %llu new (%llu delta blobs rebuilt whole) in %llu ms",
             cn_cf_name(cf), (unsigned long long)f.read, (unsigned long long)f.cnt.new_,
             (unsigned long long)f.rebuilt, (unsigned long long)(cn_mono_ms() - t0));
    fam_free(&f);
    return rc;
}

typedef struct {
    mg_t *m;
    cn_cf_t *cfs;
    size_t n;
    atomic_size_t next;
    atomic_int rc;
    char err[512];
    pthread_mutex_t err_mu;
} pool_t;

static void *pool_main(void *arg) {
    pool_t *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->rc) != 0) break;
        int rc = family_run(p->m, p->cfs[i]);
        if (rc < 0) {
            pthread_mutex_lock(&p->err_mu);
            if (atomic_load(&p->rc) == 0) {
                snprintf(p->err, sizeof p->err, "family %s: %s", cn_cf_name(p->cfs[i]), cn_err_detail());
                atomic_store(&p->rc, rc);
            }
            pthread_mutex_unlock(&p->err_mu);
        }
    }
    return NULL;
}

int mg_families_merge(mg_t *m) {
    char *ingest = cn_path_join(m->gen_dir, "ingest");
    int rc = cn_mkdir_p(ingest);
    if (rc < 0) {
        free(ingest);
        return rc;
    }
    pool_t p = {.m = m, .cfs = (cn_cf_t *)family_order, .n = CN_ARRAY_LEN(family_order)};
    atomic_init(&p.next, 0);
    atomic_init(&p.rc, 0);
    pthread_mutex_init(&p.err_mu, NULL);
    unsigned nt = m->threads ? m->threads : 2;
    if (nt > 8) nt = 8;
    pthread_t th[8];
    unsigned started = 0;
    for (unsigned i = 1; i < nt; i++)
        if (pthread_create(&th[started], NULL, pool_main, &p) == 0) started++;
    pool_main(&p);
    for (unsigned i = 0; i < started; i++) pthread_join(th[i], NULL);
    rc = atomic_load(&p.rc);
    if (rc < 0) cn_err(rc, "%s", p.err);
    pthread_mutex_destroy(&p.err_mu);
    cn_rm_rf(ingest);
    free(ingest);
    return rc;
}
