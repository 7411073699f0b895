/* merge_jobs.c: fencing across shards. Reads the commit records of the moved
   shards and of the merged store, decides each job's winning lease (the
   highest committed lease_seq), classifies every lease (merged before / new /
   dropped) for the family rules, removes what superseded leases left in the
   merged store, and writes the winners' commit records. Single-threaded; runs
   before and after the family threads of merge_rules.c. */
#include "merge_int.h"

#include "errors.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int mg_lease_class(const mg_t *m, uint64_t lease) {
    uint64_t v;
    return cn_u64map_lookup(&m->lease, lease, &v) ? (int)v : MG_DROP;
}

/* lease_seq increases cluster-wide and every attempt gets a new one, so an
   attempt below a committed lease of its job was fenced by it; the highest
   committed lease wins, and later merges only see higher ones win. */
bool mg_lease_fenced(const mg_t *m, uint64_t job, uint64_t lease) {
    uint64_t top = 0;
    if (!cn_u64map_lookup(&m->top, job, &top)) cn_u64map_lookup(&m->won_before, job, &top);
    return lease < top;
}

/* ---- problems and counts ---- */

void mg_problem_add(cn_merge_report_t *r, uint64_t job, const char *issue, const uint64_t *leases, size_t n,
                    const char *shards) {
    r->problems = cn_xrealloc(r->problems, (r->nproblems + 1) * sizeof *r->problems);
    cn_merge_problem_t *p = &r->problems[r->nproblems++];
    p->job_id = job;
    p->issue = issue;
    p->leases = n ? cn_xmemdup(leases, n * sizeof *leases) : NULL;
    p->nleases = n;
    p->shards = cn_xstrdup(shards ? shards : "");
}

static void count_kind(cn_merge_report_t *r, const char *kind) {
    if (!kind || !kind[0]) kind = "?";
    for (size_t i = 0; i < r->njobs; i++) {
        if (strcmp(r->jobs[i].kind, kind) == 0) {
            r->jobs[i].n++;
            return;
        }
    }
    r->jobs = cn_xrealloc(r->jobs, (r->njobs + 1) * sizeof *r->jobs);
    r->jobs[r->njobs++] = (cn_merge_kind_t){cn_xstrdup(kind), 1};
}

/* ---- resolving commit records ---- */

static int read_merged_commits(mg_t *m) {
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(m->out, CN_CF_JOBS, NULL, 0, &it);
    for (; rc == 0 && cn_iter_valid(it); cn_iter_next(it)) {
        size_t kl;
        const uint8_t *k = cn_iter_key(it, &kl);
        if (kl != 16) continue;
        uint64_t job = cn_get_be64(k), lease = cn_get_be64(k + 8), cur = 0;
        if (!cn_u64map_lookup(&m->won_before, job, &cur) || cur < lease)
            cn_u64map_set(&m->won_before, job, lease);
        cn_u64map_set(&m->lease, lease, MG_OLD);
        cn_u64map_set(&m->committed, lease, 1);
    }
    cn_iter_destroy(&it);
    return rc;
}

static void add_commit(mg_t *m, size_t si, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                       size_t *cap) {
    ProtobufCMessage *msg = NULL;
    m->rep->records_read++;
    if (kl != 16 || cn_rec_unpack(&canopy__job_commit__descriptor, v, vl, &msg) < 0) {
        CN_WARN("merge: shard %s: a commit record that does not decode is left out", m->sh[si].name);
        m->rep->records[CN_CF_JOBS].dropped++;
        return;
    }
    if (m->ncommits == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        m->commits = cn_xrealloc(m->commits, *cap * sizeof *m->commits);
    }
    m->commits[m->ncommits++] =
        (mg_commit_t){cn_get_be64(k), cn_get_be64(k + 8), si, (Canopy__JobCommit *)msg, false};
    cn_u64map_set(&m->committed, cn_get_be64(k + 8), 1);
}

/* The shard's commit records: its new ones (from its feed) or all. */
static int read_shard_commits(mg_t *m, size_t si) {
    size_t cap = m->ncommits;
    if (m->sh[si].delta) {
        const mg_delta_t *d = &m->sh[si].fam[CN_CF_JOBS];
        for (size_t i = 0; i < d->n; i++)
            add_commit(m, si, d->keys[i].data, d->keys[i].len, d->vals[i].data, d->vals[i].len, &cap);
        return 0;
    }
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(m->sh[si].s, CN_CF_JOBS, NULL, 0, &it);
    for (; rc == 0 && cn_iter_valid(it); cn_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = cn_iter_key(it, &kl);
        const uint8_t *v = cn_iter_value(it, &vl);
        add_commit(m, si, k, kl, v, vl, &cap);
    }
    cn_iter_destroy(&it);
    return rc;
}

static int cmp_commit(const void *a, const void *b, void *arg) {
    const mg_t *sort_ctx = arg;
    const mg_commit_t *x = a, *y = b;
    if (x->job_id != y->job_id) return x->job_id < y->job_id ? -1 : 1;
    if (x->lease_seq != y->lease_seq) return x->lease_seq < y->lease_seq ? -1 : 1;
    return strcmp(sort_ctx->sh[x->shard].name, sort_ctx->sh[y->shard].name);
}

/* One job's commits c[0..n) (sorted by lease): the highest lease wins. */
static void resolve_job(mg_t *m, mg_commit_t *c, size_t n) {
    cn_merge_count_t *cnt = &m->rep->records[CN_CF_JOBS];
    uint64_t before = 0, best = c[n - 1].lease_seq;
    bool merged = cn_u64map_lookup(&m->won_before, c[0].job_id, &before);
    uint64_t leases[16];
    size_t nl = 0;
    cn_buf_t where = {0};
    for (size_t i = 0; i < n; i++) {
        if ((i == 0 || c[i].lease_seq != c[i - 1].lease_seq) && nl < CN_ARRAY_LEN(leases))
            leases[nl++] = c[i].lease_seq;
        if (!strstr(cn_buf_cstr(&where), m->sh[c[i].shard].name))
            cn_buf_printf(&where, "%s%s", where.len ? "," : "", m->sh[c[i].shard].name);
    }
    bool listed = false;
    for (size_t i = 0; i < nl; i++) listed |= leases[i] == before;
    if (merged && !listed && nl < CN_ARRAY_LEN(leases)) leases[nl++] = before;
    if (nl > 1)
        mg_problem_add(m->rep, c[0].job_id, "more than one committed result", leases, nl,
                       cn_buf_cstr(&where));
    cn_buf_free(&where);
    cn_u64map_set(&m->top, c[0].job_id, CN_MAX(before, best));
    if (merged && before >= best) {
        for (size_t i = 0; i < n; i++) {
            if (c[i].lease_seq == before)
                cnt->existing++;
            else
                cnt->dropped++;
        }
        return;
    }
    cn_u64map_set(&m->lease, best, MG_NEW);
    if (merged) { /* merged before under a lower lease: that one is fenced now */
        cn_u64map_set(&m->lease, before, MG_DROP);
        m->superseded = cn_xrealloc(m->superseded, (m->nsuperseded + 1) * sizeof *m->superseded);
        m->superseded[m->nsuperseded++] = before;
    }
    bool written = false;
    for (size_t i = 0; i < n; i++) {
        if (c[i].lease_seq != best) {
            cnt->dropped++;
        } else if (!written) {
            c[i].win = written = true;
            cnt->new_++;
            count_kind(m->rep, c[i].jc->kind);
        } else {
            cnt->existing++; /* the same commit record in two shards (a copied shard) */
        }
    }
}

int mg_jobs_resolve(mg_t *m) {
    int rc = read_merged_commits(m);
    for (size_t i = 0; i < m->nsh && rc == 0; i++) rc = read_shard_commits(m, i);
    if (rc < 0) return rc;
    if (m->ncommits) qsort_r(m->commits, m->ncommits, sizeof *m->commits, cmp_commit, m);
    for (size_t i = 0, j; i < m->ncommits; i = j) {
        for (j = i + 1; j < m->ncommits && m->commits[j].job_id == m->commits[i].job_id; j++) continue;
        resolve_job(m, m->commits + i, j - i);
    }
    return 0;
}

void mg_jobs_free(mg_t *m) {
    for (size_t i = 0; i < m->ncommits; i++) cn_rec_free(&m->commits[i].jc->base);
    free(m->commits);
    for (size_t i = 0; i < m->njentries; i++) cn_rec_free(&m->jentries[i].e->base);
    free(m->jentries);
    free(m->jdups);
    free(m->superseded);
    cn_u64map_free(&m->won_before);
    cn_u64map_free(&m->top);
    cn_u64map_free(&m->lease);
    cn_u64map_free(&m->committed);
    cn_u64map_free(&m->evidence);
    cn_u64map_free(&m->evidence_shard);
}
