/* merge_journal.c: the merge's single-threaded writes after fencing is decided:
   the scan journals of all shards ordered into the merged journal (new ids in
   (at_ms, job_id, lease_seq) order, the derived scan index applied on the
   merged store), the removal of what superseded leases left behind, and the
   winners' commit records (their pointer lists renumbered to the merged
   journal ids). Called by merge.c. */
#include "merge_int.h"

#include "errors.h"
#include "hash.h"
#include "journal.h"
#include "log.h"
#include "scanidx.h"

#include <stdlib.h>
#include <string.h>

#define WRITE_EVERY 1000

/* ---- superseded leases ---- */

static bool superseded(const cn_u64map_t *set, uint64_t lease) {
    return cn_u64map_lookup(set, lease, NULL);
}

static int drop_in_family(mg_t *m, const mg_rule_t *r, const cn_u64map_t *set, cn_rocks_batch_t *wb) {
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(m->out, r->cf, NULL, 0, &it);
    for (; rc == 0 && cn_iter_valid(it); cn_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = cn_iter_key(it, &kl);
        const uint8_t *v = cn_iter_value(it, &vl);
        uint64_t lease = 0;
        if (r->kind == MG_POINTER || r->kind == MG_VERSIONED) {
            if (kl == r->key_len) lease = cn_get_be64(k + r->lease_off);
        } else if (r->kind == MG_JOBS) {
            if (kl == 16) lease = cn_get_be64(k + 8);
        } else if (r->kind == MG_JOURNAL) {
            ProtobufCMessage *msg = NULL;
            if (cn_rec_unpack(&canopy__journal_entry__descriptor, v, vl, &msg) == 0) {
                const Canopy__JournalEntry *e = (const Canopy__JournalEntry *)msg;
                lease = e->cause ? e->cause->lease_seq : 0;
                cn_rec_free(msg);
            }
        }
        if (!lease || !superseded(set, lease)) continue;
        cn_rocks_batch_delete(wb, m->out->db, r->cf, k, kl);
        if (r->kind == MG_JOURNAL) m->rebuild_scanidx = true;
    }
    cn_iter_destroy(&it);
    return rc;
}

int mg_jobs_supersede(mg_t *m) {
    if (m->nsuperseded == 0) return 0;
    cn_u64map_t set = {0};
    for (size_t i = 0; i < m->nsuperseded; i++) cn_u64map_set(&set, m->superseded[i], 1);
    cn_rocks_batch_t *wb = cn_rocks_batch_new();
    int rc = 0;
    for (int cf = 0; cf < CN_CF_COUNT_ && rc == 0; cf++) {
        const mg_rule_t *r = mg_rule((cn_cf_t)cf);
        if (r->kind == MG_POINTER || r->kind == MG_VERSIONED || r->kind == MG_JOBS || r->kind == MG_JOURNAL)
            rc = drop_in_family(m, r, &set, wb);
    }
    size_t n = cn_rocks_batch_count(wb);
    if (rc == 0 && n) rc = cn_rocks_write(m->out->db, wb, false);
    if (rc == 0)
        CN_INFO("merge: %zu records of %zu superseded (fenced) leases left the merged store", n,
                m->nsuperseded);
    cn_rocks_batch_destroy(&wb);
    cn_u64map_free(&set);
    return rc;
}

/* ---- the journal ---- */

typedef struct {
    mg_t *m;
    size_t shard;
    size_t cap;
} collect_t;

static int collect_entry(void *arg, const Canopy__JournalEntry *e, bool committed) {
    collect_t *c = arg;
    mg_t *m = c->m;
    cn_merge_count_t *cnt = &m->rep->records[CN_CF_JOURNAL];
    m->rep->records_read++;
    uint64_t lease = e->cause ? e->cause->lease_seq : 0;
    if (!committed) {
        /* A job that died (or still runs) before its commit: evidence for the
           report, and read again next time in case its marker comes, unless a
           higher lease of its job committed: then it can never win. */
        uint8_t key[8];
        cn_put_be64(key, e->journal_id);
        if (!e->cause || !mg_lease_fenced(m, e->cause->job_id, lease))
            mg_feed_pending(m, c->shard, CN_CF_JOURNAL, key, sizeof key);
        if (e->cause && e->cause->job_id) {
            cn_u64map_set(&m->evidence, e->cause->job_id, lease ? lease : 1);
            cn_u64map_set(&m->evidence_shard, e->cause->job_id, c->shard + 1);
        }
        cnt->dropped++;
        return 0;
    }
    int cls = lease ? mg_lease_class(m, lease) : MG_DROP;
    if (cls != MG_NEW) {
        if (cls == MG_OLD)
            cnt->existing++;
        else
            cnt->dropped++;
        return 0;
    }
    cn_buf_t v = {0};
    cn_rec_pack(&e->base, &v);
    ProtobufCMessage *copy = NULL;
    int rc = cn_rec_unpack(&canopy__journal_entry__descriptor, v.data, v.len, &copy);
    cn_buf_free(&v);
    if (rc < 0) return rc;
    if (m->njentries == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        m->jentries = cn_xrealloc(m->jentries, c->cap * sizeof *m->jentries);
    }
    m->jentries[m->njentries++] = (mg_jentry_t){(Canopy__JournalEntry *)copy, c->shard, e->journal_id, 0};
    cnt->new_++;
    return 0;
}

static int bytes_cmp(ProtobufCBinaryData a, ProtobufCBinaryData b) {
    return cn_bytes_cmp(a.data, a.len, b.data, b.len);
}

/* The merged journal's order: time, then job and lease, then content, so it
   does not depend on which shard an entry came from. */
static int cmp_entry(const void *a, const void *b, void *arg) {
    const mg_t *m = arg;
    const mg_jentry_t *x = a, *y = b;
    const Canopy__JournalEntry *p = x->e, *q = y->e;
    if (p->at_ms != q->at_ms) return p->at_ms < q->at_ms ? -1 : 1;
    uint64_t pj = p->cause ? p->cause->job_id : 0, qj = q->cause ? q->cause->job_id : 0;
    if (pj != qj) return pj < qj ? -1 : 1;
    uint64_t pl = p->cause ? p->cause->lease_seq : 0, ql = q->cause ? q->cause->lease_seq : 0;
    if (pl != ql) return pl < ql ? -1 : 1;
    int c = bytes_cmp(p->data_hash, q->data_hash);
    if (c == 0) c = bytes_cmp(p->metadata, q->metadata);
    if (c == 0) c = strcmp(m->sh[x->shard].name, m->sh[y->shard].name);
    if (c == 0 && x->old_id != y->old_id) c = x->old_id < y->old_id ? -1 : 1;
    return c;
}

/* The same entry in two shards (a copied shard): one merged entry. Sorted, so
   copies are neighbours; a copy keeps the index of the entry it duplicates so
   that its shard's commit pointers are renumbered too. */
static void drop_duplicates(mg_t *m) {
    size_t w = 0;
    for (size_t i = 0; i < m->njentries; i++) {
        const Canopy__JournalEntry *p = w ? m->jentries[w - 1].e : NULL, *q = m->jentries[i].e;
        bool same = p && p->at_ms == q->at_ms && p->cause && q->cause &&
                    p->cause->lease_seq == q->cause->lease_seq &&
                    bytes_cmp(p->data_hash, q->data_hash) == 0 && bytes_cmp(p->metadata, q->metadata) == 0;
        if (!same) {
            m->jentries[w++] = m->jentries[i];
            continue;
        }
        m->jdups = cn_xrealloc(m->jdups, (m->njdups + 1) * sizeof *m->jdups);
        m->jdups[m->njdups++] = (mg_jentry_t){NULL, m->jentries[i].shard, m->jentries[i].old_id, w - 1};
        cn_rec_free(&m->jentries[i].e->base);
        m->rep->records[CN_CF_JOURNAL].new_--;
        m->rep->records[CN_CF_JOURNAL].existing++;
    }
    m->njentries = w;
}

static int write_entries(mg_t *m) {
    uint64_t next = cn_journal_last(m->out) + 1;
    cn_batch_t *b = cn_batch_new();
    cn_buf_t v = {0};
    int rc = 0;
    for (size_t i = 0; i < m->njentries && rc == 0; i++) {
        Canopy__JournalEntry *e = m->jentries[i].e;
        m->jentries[i].new_id = next++;
        e->journal_id = m->jentries[i].new_id;
        e->committed = false;
        uint8_t key[8];
        cn_put_be64(key, e->journal_id);
        cn_buf_reset(&v);
        cn_rec_pack(&e->base, &v);
        cn_batch_put(b, CN_CF_JOURNAL, key, sizeof key, v.data, v.len);
        cn_journal_commit(b, e);
        if (cn_batch_count(b) >= WRITE_EVERY) rc = cn_shard_append(m->out, b, false);
    }
    if (rc == 0 && cn_batch_count(b)) rc = cn_shard_append(m->out, b, false);
    cn_buf_free(&v);
    cn_batch_destroy(&b);
    m->rep->journal_entries += m->njentries;
    return rc;
}

/* Applies a new scan entry to the merged store's scan index. */
static int index_entry(mg_t *m, const mg_jentry_t *je) {
    const Canopy__JournalEntry *e = je->e;
    if (!e->type || strcmp(e->type, "scan") != 0) return 0;
    cn_buf_t data = {0};
    cn_ptree_t *t = NULL;
    int rc = cn_journal_data(m->out, e, &data);
    if (rc == 0) rc = cn_ptree_decode(data.data, data.len, 0, &t);
    if (rc == 0) rc = cn_scanidx_apply(m->out, e, t, NULL);
    if (rc < 0) {
        uint64_t lease = e->cause ? e->cause->lease_seq : 0;
        CN_WARN("merge: journal entry %llu: %s", (unsigned long long)e->journal_id, cn_err_detail());
        mg_problem_add(m->rep, e->cause ? e->cause->job_id : 0, "scan data unreadable", &lease, 1,
                       m->sh[je->shard].name);
        rc = 0; /* one bad scan does not stop the merge; the entry stays listed */
    }
    cn_ptree_destroy(&t);
    cn_buf_free(&data);
    return rc;
}

int mg_journal_merge(mg_t *m) {
    int rc = 0;
    for (size_t i = 0; i < m->nsh && rc == 0; i++) {
        collect_t c = {m, i, m->njentries};
        if (m->sh[i].delta)
            rc = mg_feed_journal_each(&m->sh[i].fam[CN_CF_JOURNAL], collect_entry, &c);
        else
            rc = cn_journal_each(m->sh[i].s, 1, collect_entry, &c);
    }
    if (rc < 0) return rc;
    if (m->njentries) qsort_r(m->jentries, m->njentries, sizeof *m->jentries, cmp_entry, m);
    drop_duplicates(m);
    if ((rc = write_entries(m)) < 0) return rc;
    if (m->rebuild_scanidx) {
        cn_scanidx_stats_t st;
        return cn_scanidx_rebuild(m->out, &st);
    }
    for (size_t i = 0; i < m->njentries && rc == 0; i++) rc = index_entry(m, &m->jentries[i]);
    return rc;
}

/* ---- the winners' commit records ---- */

/* Pointer keys that name a shard journal id get the merged id, so that fsck
   of the merged store finds every listed pointer. ids: old -> new journal id
   of the commit's shard. */
static void renumber(const cn_u64map_t *ids, const mg_commit_t *c) {
    for (size_t i = 0; i < c->jc->n_pointer; i++) {
        Canopy__PointerRef *p = c->jc->pointer[i];
        uint8_t *k = p->key.data;
        size_t off;
        if (p->cf == CN_CF_JOURNAL && (p->key.len == 8 || p->key.len == 9))
            off = 0;
        else if (p->cf == CN_CF_SCANIDX && p->key.len == 25 && k[0] == 'S')
            off = 17;
        else
            continue;
        uint64_t id = 0;
        if (cn_u64map_lookup(ids, cn_get_be64(k + off), &id)) cn_put_be64(k + off, id);
    }
}

int mg_jobs_write(mg_t *m) {
    cn_u64map_t *ids = cn_xcalloc(m->nsh ? m->nsh : 1, sizeof *ids);
    for (size_t i = 0; i < m->njentries; i++)
        cn_u64map_set(&ids[m->jentries[i].shard], m->jentries[i].old_id, m->jentries[i].new_id);
    for (size_t i = 0; i < m->njdups; i++) /* new_id holds the index of the kept entry */
        cn_u64map_set(&ids[m->jdups[i].shard], m->jdups[i].old_id, m->jentries[m->jdups[i].new_id].new_id);
    cn_rocks_batch_t *wb = cn_rocks_batch_new();
    cn_buf_t v = {0};
    int rc = 0;
    for (size_t i = 0; i < m->ncommits && rc == 0; i++) {
        mg_commit_t *c = &m->commits[i];
        if (!c->win) continue;
        renumber(&ids[c->shard], c);
        uint8_t key[16];
        cn_put_be64(key, c->job_id);
        cn_put_be64(key + 8, c->lease_seq);
        cn_buf_reset(&v);
        cn_rec_pack(&c->jc->base, &v);
        cn_rocks_batch_put(wb, m->out->db, CN_CF_JOBS, key, sizeof key, v.data, v.len);
        if (cn_rocks_batch_count(wb) >= WRITE_EVERY) {
            rc = cn_rocks_write(m->out->db, wb, false);
            cn_rocks_batch_clear(wb);
        }
    }
    if (rc == 0 && cn_rocks_batch_count(wb)) rc = cn_rocks_write(m->out->db, wb, false);
    cn_buf_free(&v);
    cn_rocks_batch_destroy(&wb);
    for (size_t i = 0; i < m->nsh; i++) cn_u64map_free(&ids[i]);
    free(ids);
    return rc;
}

static int cmp_job(const void *key, const void *elem) {
    uint64_t k = *(const uint64_t *)key, j = ((const mg_commit_t *)elem)->job_id;
    return k < j ? -1 : k > j;
}

void mg_jobs_unfinished(mg_t *m) {
    uint64_t job;
    void *val;
    for (size_t pos = 0; cn_u64map_next(&m->evidence, &pos, &job, &val);) {
        if (cn_u64map_lookup(&m->won_before, job, NULL)) continue;
        if (m->ncommits && bsearch(&job, m->commits, m->ncommits, sizeof *m->commits, cmp_job)) continue;
        uint64_t lease = (uintptr_t)val, shard = 0;
        cn_u64map_lookup(&m->evidence_shard, job, &shard);
        mg_problem_add(m->rep, job, "no committed result", &lease, 1, shard ? m->sh[shard - 1].name : "");
    }
}
