/* merge_feed.c: reading a shard from its change feed (storage/LAYOUT.md,
   storage/MERGE.md). The merged store's meta keeps per shard the last feed
   counter merged and the keys left out for lack of a commit (read again next
   time, so a commit that arrives later still brings its pointers and journal
   entries). The new records are the keys listed after the watermark, fetched
   with batched multi-gets; the family rules then see them as a sorted source. */
#include "merge_int.h"

#include "errors.h"
#include "journal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEEDMARK "feedmark/"
#define FEEDPEND "feedpend/"
#define MULTI_GET 1024
/* A delta is held in memory, keys and values, while the merge runs. Past this
   many bytes the shard is read whole instead (iterators: constant memory). The
   bytes that matter are the values: a few keys of large file contents hold as
   much as millions of small records. 256 MiB is what a shard writer may
   already hold in memtables on the same machine (storage/LAYOUT.md), about a
   million download-like records (some 250 bytes each with their buffers), far
   above a regular incremental merge (the benchmark's second merge: ~4,000
   records, about 1 MiB); a backlog that big reads whole at about the same cost.
   cn_merge_opts_t.delta_bytes_max replaces it (tests). */
#define DELTA_BYTES_MAX ((size_t)256 << 20)
/* What a held record costs beside its key and value bytes (its two buffers and
   their allocations), so that millions of tiny keys count too. */
#define RECORD_COST (2 * sizeof(cn_buf_t) + 32)
/* The first multi-get of a family reads this many values; later ones as many
   as fit in what is left of the budget at the mean size seen so far, so that a
   family of huge values passes the budget by about one value, not a batch. */
#define FIRST_GET 64

typedef struct {
    cn_buf_t *keys;
    size_t n, cap;
} keylist_t;

/* The bytes a delta holds so far (keys, values, RECORD_COST each). */
typedef struct {
    size_t held, max;
} budget_t;

static bool over_budget(const budget_t *b) {
    return b->held > b->max;
}

static int cmp_buf(const void *a, const void *b) {
    const cn_buf_t *x = a, *y = b;
    return cn_bytes_cmp(x->data, x->len, y->data, y->len);
}

/* Adds every pair of a feed-encoded value to the per-family lists. */
static int add_pairs(keylist_t *kl, const uint8_t *v, size_t vl, budget_t *bu) {
    const uint8_t *p = v, *end = v + vl, *key;
    size_t klen;
    cn_cf_t cf;
    int rc;
    while ((rc = cn_feed_next(&p, end, &cf, &key, &klen)) > 0) {
        mg_kind_t kind = mg_rule(cf)->kind;
        if (kind == MG_META || kind == MG_DERIVED) continue;
        keylist_t *l = &kl[cf];
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 64;
            l->keys = cn_xrealloc(l->keys, l->cap * sizeof *l->keys);
        }
        l->keys[l->n] = (cn_buf_t){0};
        cn_buf_append(&l->keys[l->n++], key, klen);
        bu->held += klen + RECORD_COST;
    }
    return rc;
}

/* How many values the next multi-get of a family reads: the first FIRST_GET,
   then as many as fit in the budget left at the mean value size seen. */
static size_t next_get(const budget_t *bu, size_t want, size_t got, size_t got_bytes) {
    size_t n = CN_MIN(want, got ? (size_t)MULTI_GET : (size_t)FIRST_GET);
    if (got && got_bytes) {
        size_t mean = got_bytes / got + 1, left = bu->max - CN_MIN(bu->held, bu->max);
        n = CN_MIN(n, CN_MAX(left / mean, (size_t)1));
    }
    return n;
}

/* Sorts and dedups one family's keys and fetches their values into d, while
   the delta stays within its budget (else stops: the caller reads whole). */
static int fetch(cn_shard_t *s, cn_cf_t cf, keylist_t *l, mg_delta_t *d, budget_t *bu) {
    if (l->n == 0) return 0;
    qsort(l->keys, l->n, sizeof *l->keys, cmp_buf);
    size_t u = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (u && cmp_buf(&l->keys[u - 1], &l->keys[i]) == 0) {
            bu->held -= l->keys[i].len + RECORD_COST;
            cn_buf_free(&l->keys[i]);
        } else {
            l->keys[u++] = l->keys[i];
        }
    }
    d->keys = cn_xcalloc(u, sizeof *d->keys);
    d->vals = cn_xcalloc(u, sizeof *d->vals);
    const void *keys[MULTI_GET];
    size_t klens[MULTI_GET];
    bool found[MULTI_GET];
    cn_buf_t vals[MULTI_GET];
    int rc = 0;
    size_t got = 0, got_bytes = 0;
    for (size_t i = 0, n; i < u && rc == 0 && !over_budget(bu); i += n) {
        n = next_get(bu, u - i, got, got_bytes);
        for (size_t j = 0; j < n; j++) {
            keys[j] = l->keys[i + j].data;
            klens[j] = l->keys[i + j].len;
            vals[j] = (cn_buf_t){0};
        }
        rc = cn_rocks_multi_get(s->db, (int)cf, keys, klens, n, found, vals);
        for (size_t j = 0; j < n; j++) {
            if (rc == 0 && found[j]) {
                d->keys[d->n] = l->keys[i + j];
                l->keys[i + j] = (cn_buf_t){0};
                d->vals[d->n++] = vals[j];
                got++;
                got_bytes += vals[j].len;
                bu->held += vals[j].len;
            } else {
                cn_buf_free(&vals[j]);
            }
        }
    }
    for (size_t i = 0; i < u; i++) cn_buf_free(&l->keys[i]);
    free(l->keys);
    *l = (keylist_t){0};
    return rc;
}

static int get_meta(cn_shard_t *cur, const char *prefix, const char *name, cn_buf_t *v) {
    if (!cur) return CN_ENOTFOUND;
    char *key = cn_xasprintf("%s%s", prefix, name);
    int rc = cn_shard_get(cur, CN_CF_META, key, strlen(key), v);
    free(key);
    return rc;
}

/* Adds the feed records after mark, stopping once the budget is passed; *ok
   false when the feed does not continue it (a gap). */
static int read_feed(cn_shard_t *s, uint64_t mark, uint64_t last, keylist_t *kl, budget_t *bu, bool *ok) {
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(s, CN_CF_FEED, NULL, 0, &it);
    if (rc < 0) return rc;
    uint8_t start[8];
    cn_put_be64(start, mark + 1);
    cn_iter_seek(it, start, sizeof start);
    uint64_t want = mark + 1;
    *ok = true;
    for (; rc == 0 && *ok && !over_budget(bu) && cn_iter_valid(it) && want <= last;
         cn_iter_next(it), want++) {
        size_t klen, vl;
        const uint8_t *k = cn_iter_key(it, &klen);
        const uint8_t *v = cn_iter_value(it, &vl);
        *ok = klen == 8 && cn_get_be64(k) == want;
        if (*ok) rc = add_pairs(kl, v, vl, bu);
    }
    if (want <= last && !over_budget(bu)) *ok = false;
    cn_iter_destroy(&it);
    return rc;
}

int mg_feed_plan(mg_shard_t *sh, cn_shard_t *cur, const cn_merge_opts_t *o) {
    sh->has_feed = cn_rocks_has_cf(sh->s->db, CN_CF_FEED);
    sh->feed_last = sh->has_feed ? cn_feed_last(sh->s) : 0;
    cn_buf_t v = {0};
    uint64_t mark = 0;
    bool marked = sh->has_feed && get_meta(cur, FEEDMARK, sh->name, &v) == 0 && v.len == 8;
    if (marked) mark = cn_get_be64(v.data);
    cn_buf_free(&v);
    if (!marked || mark > sh->feed_last) return 0; /* read whole */
    keylist_t kl[CN_CF_COUNT_] = {{0}};
    budget_t bu = {0, o->delta_bytes_max ? o->delta_bytes_max : DELTA_BYTES_MAX};
    bool ok = true;
    int rc = 0;
    if (get_meta(cur, FEEDPEND, sh->name, &v) == 0) rc = add_pairs(kl, v.data, v.len, &bu);
    cn_buf_free(&v);
    if (rc >= 0) rc = read_feed(sh->s, mark, sh->feed_last, kl, &bu, &ok);
    for (int cf = 0; cf < CN_CF_COUNT_; cf++) {
        if (rc >= 0 && ok && !over_budget(&bu)) rc = fetch(sh->s, (cn_cf_t)cf, &kl[cf], &sh->fam[cf], &bu);
        for (size_t i = 0; i < kl[cf].n; i++) cn_buf_free(&kl[cf].keys[i]);
        free(kl[cf].keys);
    }
    bool over = over_budget(&bu);
    if (rc < 0 || !ok || over) {
        char why[96] = "a gap in its feed";
        if (over) snprintf(why, sizeof why, "its new records pass %zu bytes in memory", bu.max);
        CN_WARN("merge: shard %s: read whole, not from its feed after counter %llu (%s)", sh->name,
                (unsigned long long)mark, rc < 0 ? cn_err_detail() : why);
        mg_feed_free(sh);
        return 0;
    }
    sh->delta = true;
    return 0;
}

void mg_feed_marks(const mg_shard_t *sh, cn_batch_t *b) {
    if (!sh->has_feed) return;
    uint8_t v[8];
    cn_put_be64(v, sh->feed_last);
    char *key = cn_xasprintf(FEEDMARK "%s", sh->name);
    cn_batch_put(b, CN_CF_META, key, strlen(key), v, sizeof v);
    free(key);
    key = cn_xasprintf(FEEDPEND "%s", sh->name);
    cn_batch_put(b, CN_CF_META, key, strlen(key), sh->pending.data, sh->pending.len);
    free(key);
}

void mg_feed_pending(mg_t *m, size_t si, cn_cf_t cf, const uint8_t *k, size_t kl) {
    pthread_mutex_lock(&m->mu);
    cn_feed_put(&m->sh[si].pending, cf, k, kl);
    pthread_mutex_unlock(&m->mu);
}

bool mg_lease_uncommitted(const mg_t *m, uint64_t lease) {
    return !cn_u64map_lookup(&m->committed, lease, NULL);
}

/* A delta's journal records as a cn_journal_next_fn source. */
typedef struct {
    const mg_delta_t *d;
    size_t pos;
} delta_src_t;

static bool delta_next(void *arg, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl) {
    delta_src_t *src = arg;
    if (src->pos >= src->d->n) return false;
    const cn_buf_t *key = &src->d->keys[src->pos], *val = &src->d->vals[src->pos];
    src->pos++;
    *k = key->data;
    *kl = key->len;
    *v = val->data;
    *vl = val->len;
    return true;
}

int mg_feed_journal_each(const mg_delta_t *d, cn_journal_cb cb, void *arg) {
    delta_src_t src = {d, 0};
    return cn_journal_pair(delta_next, &src, cb, arg);
}

void mg_feed_free(mg_shard_t *sh) {
    for (int cf = 0; cf < CN_CF_COUNT_; cf++) {
        mg_delta_t *d = &sh->fam[cf];
        for (size_t i = 0; i < d->n; i++) {
            cn_buf_free(&d->keys[i]);
            cn_buf_free(&d->vals[i]);
        }
        free(d->keys);
        free(d->vals);
        *d = (mg_delta_t){0};
    }
    sh->delta = false;
}
