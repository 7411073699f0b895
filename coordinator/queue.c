/* queue.c: the durable side of the job queue: the store layout, open and
   close, submits, serial-key ids and paged listing. Scheduling rules live in
   sched.c, the group commit in commit.c, the start-up rebuild in rebuild.c.
   Single-threaded (the coordinator loop). Store (column families): jobs
   be64(id) -> packed Job; batches (see queue_int.h); dedup key -> be64(id);
   keys serial key -> be64(id); keyids be64(id) -> key; meta counters. */
#include "queue_int.h"

#include "errors.h"
#include "hash.h"
#include "log.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const cf_names[CF_COUNT_] = {"default", "jobs", "dedup",  "keys",
                                                "keyids",  "meta", "batches"};

#define MAX_KIND_LEN CN_QMAX_KIND_LEN
#define MAX_DEDUP_LEN 1024
#define MAX_SERIAL_LEN 4096
#define MAX_AFTER 1024

int cn_q_kind_index(cn_queue_t *q, const char *name, bool create) {
    for (size_t i = 0; i < q->nkinds; i++)
        if (strcmp(q->kinds[i].name, name) == 0) return (int)i;
    if (!create) return -1;
    if (q->nkinds == CN_QMAX_KINDS) return cn_err(CN_ETOOBIG, "more than %d job kinds", CN_QMAX_KINDS);
    cn_qkind_t *k = &q->kinds[q->nkinds];
    k->name = cn_xstrdup(name);
    k->ready = (cn_heap_t){.less = cn_q_ready_less, .idx_off = offsetof(cn_qjob_t, heap_idx)};
    return (int)q->nkinds++;
}

cn_qjob_t *cn_q_job_new(cn_queue_t *q, Canopy__Job *rec) {
    cn_qjob_t *j = cn_xcalloc(1, sizeof *j);
    j->rec = rec;
    j->id = rec->id;
    j->prio = rec->spec ? rec->spec->priority : 0;
    int k = cn_q_kind_index(q, rec->spec && rec->spec->kind ? rec->spec->kind : "", true);
    j->kind = (uint16_t)(k < 0 ? 0 : k);
    cn_u64map_put(&q->jobs, j->id, j);
    return j;
}

void cn_q_job_free(cn_qjob_t *j) {
    if (!j) return;
    canopy__job__free_unpacked(j->rec, NULL);
    free(j->waiters);
    free(j);
}

void cn_q_put_meta(cn_queue_t *q, const char *name, uint64_t v) {
    uint8_t b[8];
    cn_put_be64(b, v);
    cn_rocks_batch_put(q->stage.batch, q->db, CF_META, name, strlen(name), b, 8);
}

static uint64_t get_meta(cn_queue_t *q, const char *name) {
    cn_buf_t v = {0};
    uint64_t out = 0;
    if (cn_rocks_get(q->db, CF_META, name, strlen(name), &v) == 0 && v.len == 8) out = cn_get_be64(v.data);
    cn_buf_free(&v);
    return out;
}

int cn_q_load(cn_queue_t *q, uint64_t id, Canopy__Job **out) {
    uint8_t k[8];
    cn_put_be64(k, id);
    cn_buf_t v = {0};
    int rc = cn_rocks_get(q->db, CF_JOBS, k, 8, &v);
    if (rc == 0) rc = cn_rec_unpack(&canopy__job__descriptor, v.data, v.len, (ProtobufCMessage **)out);
    cn_buf_free(&v);
    return rc;
}

int cn_queue_open(const char *dir, const cn_queue_opts_t *opts, uint64_t now_ms, cn_queue_t **out) {
    cn_queue_t *q = cn_xcalloc(1, sizeof *q);
    q->o = *opts;
    if (!q->o.max_attempts) q->o.max_attempts = 3;
    if (!q->o.backoff_ms) q->o.backoff_ms = 500;
    if (!q->o.backoff_cap_ms) q->o.backoff_cap_ms = 60000;
    q->timer = (cn_heap_t){.less = cn_q_timer_less, .idx_off = offsetof(cn_qjob_t, heap_idx)};
    q->rng = (now_ms ^ ((uint64_t)getpid() << 32)) | 1;
    cn_rocks_opts_t ro = {.create = true};
    uint64_t t0 = cn_mono_ms();
    int rc = cn_rocks_open(dir, cf_names, CF_COUNT_, &ro, &q->db);
    if (rc) goto fail_open;
    q->stage.batch = cn_rocks_batch_new();
    q->fly.batch = cn_rocks_batch_new();
    cn_q_writer_start(q);
    q->next_id = get_meta(q, "next_job_id");
    q->lease_seq = get_meta(q, "lease_seq");
    q->next_key_id = get_meta(q, "next_key_id");
    if (!q->next_id) q->next_id = 1;
    if (!q->next_key_id) q->next_key_id = 1;
    uint64_t t1 = cn_mono_ms();
    rc = cn_q_rebuild(q, now_ms);
    CN_INFO("job store %s: opened in %llu ms, %llu jobs scanned in %llu ms, %zu active", dir,
            (unsigned long long)(t1 - t0), (unsigned long long)q->submitted_total,
            (unsigned long long)(cn_mono_ms() - t1), q->jobs.n);
    if (rc) goto fail_rebuild;
    rc = cn_queue_commit(q);
    if (rc) goto fail_rebuild;
    *out = q;
    return 0;
fail_rebuild:
    cn_queue_close(&q);
    return rc;
fail_open:
    free(q);
    return rc;
}

void cn_queue_close(cn_queue_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_queue_t *q = *self_p;
    if (q->stage.batch) cn_queue_commit(q);
    cn_q_writer_stop(q);
    /* A clean stop leaves no WAL to replay: the next start opens at once. */
    if (q->db) cn_rocks_flush(q->db);
    size_t pos = 0;
    uint64_t k;
    void *v;
    while (cn_u64map_next(&q->jobs, &pos, &k, &v)) cn_q_job_free(v);
    cn_u64map_free(&q->jobs);
    pos = 0;
    while (cn_u64map_next(&q->keys, &pos, &k, &v)) free(v);
    cn_u64map_free(&q->keys);
    cn_u64map_free(&q->batches);
    free(q->fresh);
    for (size_t i = 0; i < q->nkinds; i++) {
        free(q->kinds[i].name);
        cn_heap_free(&q->kinds[i].ready);
    }
    cn_heap_free(&q->timer);
    cn_q_gen_free(&q->stage);
    cn_q_gen_free(&q->fly);
    free(q->sorted);
    cn_buf_free(&q->scratch);
    cn_rocks_close(&q->db);
    free(q);
    *self_p = NULL;
}

void cn_queue_set_event_cb(cn_queue_t *q, cn_queue_event_fn fn, void *arg) {
    q->ev = fn;
    q->ev_arg = arg;
}

int cn_queue_check(const cn_queue_t *q, const Canopy__JobSpec *s) {
    if (!s->kind || !s->kind[0]) return cn_err(CN_EINVAL, "a job needs a kind");
    if (strlen(s->kind) > MAX_KIND_LEN)
        return cn_err(CN_EINVAL, "job kind is longer than %d bytes", MAX_KIND_LEN);
    if (s->dedup_key && strlen(s->dedup_key) > MAX_DEDUP_LEN)
        return cn_err(CN_EINVAL, "dedup key is longer than %d bytes", MAX_DEDUP_LEN);
    if (s->serial_key && strlen(s->serial_key) > MAX_SERIAL_LEN)
        return cn_err(CN_EINVAL, "serial key is longer than %d bytes", MAX_SERIAL_LEN);
    if (s->n_after > MAX_AFTER) return cn_err(CN_EINVAL, "a job may wait for at most %d jobs", MAX_AFTER);
    for (size_t i = 0; i < s->n_after; i++)
        if (s->after[i] == 0 || s->after[i] >= q->next_id)
            return cn_err(CN_EINVAL, "--after %llu: there is no such job", (unsigned long long)s->after[i]);
    return 0;
}

static int find_dedup(cn_queue_t *q, const char *key, uint64_t *id) {
    *id = cn_q_pend_get(q, 0, key);
    if (*id) return 0;
    cn_buf_t v = {0};
    int rc = cn_rocks_get(q->db, CF_DEDUP, key, strlen(key), &v);
    if (rc == 0 && v.len == 8) *id = cn_get_be64(v.data);
    cn_buf_free(&v);
    return rc == CN_ENOTFOUND ? 0 : rc;
}

int cn_queue_submit(cn_queue_t *q, Canopy__JobSpec **specp, uint64_t now, uint64_t *id, bool *existing) {
    Canopy__JobSpec *spec = *specp;
    int rc = cn_queue_check(q, spec);
    if (rc) return rc;
    *existing = false;
    bool dedup = spec->dedup_key && spec->dedup_key[0];
    if (dedup) {
        rc = find_dedup(q, spec->dedup_key, id);
        if (rc) return rc;
        if (*id) {
            *existing = true;
            canopy__job_spec__free_unpacked(spec, NULL);
            *specp = NULL;
            return 0;
        }
    }
    int k = cn_q_kind_index(q, spec->kind, true);
    if (k < 0) return k;
    uint64_t key_id = 0;
    if (spec->serial_key && spec->serial_key[0]) {
        rc = cn_queue_key(q, spec->serial_key, true, &key_id);
        if (rc) return rc;
    }
    Canopy__Job *rec = cn_xmalloc(sizeof *rec);
    canopy__job__init(rec);
    rec->id = *id = q->next_id++;
    q->meta_dirty = true;
    if (!spec->max_attempts) spec->max_attempts = q->o.max_attempts;
    rec->spec = spec;
    *specp = NULL;
    rec->state = CANOPY__JOB_STATE__QUEUED;
    rec->submitted_ms = now;
    rec->key_id = key_id;
    if (dedup) {
        cn_q_pend_put(&q->stage.pend_dedup, spec->dedup_key, rec->id);
        uint8_t b[8];
        cn_put_be64(b, rec->id);
        cn_rocks_batch_put(q->stage.batch, q->db, CF_DEDUP, spec->dedup_key, strlen(spec->dedup_key), b, 8);
    }
    cn_qjob_t *j = cn_q_job_new(q, rec);
    j->fresh = true;
    q->kinds[j->kind].count[CANOPY__JOB_STATE__QUEUED]++;
    q->submitted_total++;
    cn_q_dirty(q, j);
    if (q->ev) q->ev(q->ev_arg, j);
    cn_q_admit_new(q, j, now);
    return 0;
}

int cn_queue_key(cn_queue_t *q, const char *key, bool create, uint64_t *id) {
    *id = cn_q_pend_get(q, 1, key);
    if (*id) return 0;
    cn_buf_t v = {0};
    int rc = cn_rocks_get(q->db, CF_KEYS, key, strlen(key), &v);
    if (rc == 0 && v.len == 8) *id = cn_get_be64(v.data);
    cn_buf_free(&v);
    if (rc && rc != CN_ENOTFOUND) return rc;
    if (*id || !create) return 0;
    if (strlen(key) > MAX_SERIAL_LEN) return cn_err(CN_EINVAL, "key is longer than %d bytes", MAX_SERIAL_LEN);
    *id = q->next_key_id++;
    q->meta_dirty = true;
    cn_q_pend_put(&q->stage.pend_keys, key, *id);
    uint8_t b[8];
    cn_put_be64(b, *id);
    cn_rocks_batch_put(q->stage.batch, q->db, CF_KEYS, key, strlen(key), b, 8);
    cn_rocks_batch_put(q->stage.batch, q->db, CF_KEYIDS, b, 8, key, strlen(key));
    return 0;
}

cn_qjob_t *cn_queue_find(const cn_queue_t *q, uint64_t id) {
    return cn_u64map_get(&q->jobs, id);
}

int cn_queue_lookup(cn_queue_t *q, uint64_t id, Canopy__Job **out, bool *owned) {
    cn_qjob_t *j = cn_queue_find(q, id);
    if (j) {
        *out = j->rec;
        *owned = false;
        return 0;
    }
    *owned = true;
    return cn_q_load(q, id, out);
}

static Canopy__Job *copy_job(const Canopy__Job *rec, cn_buf_t *tmp) {
    cn_buf_reset(tmp);
    cn_rec_pack(&rec->base, tmp);
    Canopy__Job *out = NULL;
    cn_rec_unpack(&canopy__job__descriptor, tmp->data, tmp->len, (ProtobufCMessage **)&out);
    return out;
}

static bool list_match(const Canopy__Job *rec, Canopy__JobState state, const char *kind) {
    if (state && rec->state != state) return false;
    if (kind && kind[0] && (!rec->spec || strcmp(rec->spec->kind, kind) != 0)) return false;
    return true;
}

/* Max-heap of jobs by id: the root is the largest kept. */
static void sift_down(cn_qjob_t **h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l]->id > h[m]->id) m = l;
        if (r < n && h[r]->id > h[m]->id) m = r;
        if (m == i) return;
        cn_qjob_t *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(cn_qjob_t **h, size_t i) {
    while (i > 0 && h[(i - 1) / 2]->id < h[i]->id) {
        cn_qjob_t *t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The (at most keep) smallest-id jobs held in RAM that match, id > after_id, by
   id. RAM has the newest state of a job, and some of these have no durable
   record of their own yet (submitted this turn, only in a submit batch, or in
   the group commit still being written), so listings take them from here and
   skip them in the store. A page needs no more than keep of them: a bounded
   heap, not every match sorted. */
static cn_qjob_t **in_ram(cn_queue_t *q, Canopy__JobState state, const char *kind, uint64_t after_id,
                          size_t keep, size_t *n) {
    cn_qjob_t **v = cn_xcalloc(keep, sizeof *v);
    size_t pos = 0;
    uint64_t id;
    void *p;
    *n = 0;
    while (cn_u64map_next(&q->jobs, &pos, &id, &p)) {
        cn_qjob_t *j = p;
        if (id <= after_id || !list_match(j->rec, state, kind)) continue;
        if (*n < keep) {
            v[*n] = j;
            sift_up(v, (*n)++);
        } else if (id < v[0]->id) {
            v[0] = j;
            sift_down(v, keep, 0);
        }
    }
    if (*n) qsort(v, *n, sizeof *v, cn_q_cmp_id);
    return v;
}

/* The next stored job that matches and is not held in RAM, unpacked and owned
   by the caller; NULL at the end. Advances it. */
static Canopy__Job *next_stored(cn_queue_t *q, cn_rocks_iter_t *it, Canopy__JobState state, const char *kind,
                                uint64_t *id) {
    for (; cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) {
        size_t klen, vlen;
        const uint8_t *key = cn_rocks_iter_key(it, &klen);
        if (klen != 8) continue;
        *id = cn_get_be64(key);
        /* A job in RAM is listed from RAM (in_ram): its record may be in
           the group commit still being written, or newer than the stored one. */
        if (cn_queue_find(q, *id)) continue;
        const uint8_t *v = cn_rocks_iter_value(it, &vlen);
        /* Filter on the packed record first: a filter that matches little must
           not unpack every job in the store. */
        job_peek_t pk;
        if (cn_q_peek_job(v, v + vlen, &pk) &&
            ((state && pk.state != (uint64_t)state) ||
             (kind && kind[0] && (pk.kind_len != strlen(kind) || memcmp(pk.kind, kind, pk.kind_len) != 0))))
            continue;
        Canopy__Job *rec = NULL;
        if (cn_rec_unpack(&canopy__job__descriptor, v, vlen, (ProtobufCMessage **)&rec) != 0) continue;
        if (!list_match(rec, state, kind)) {
            cn_rec_free(&rec->base);
            rec = NULL;
        }
        if (!rec) continue;
        cn_rocks_iter_next(it);
        return rec;
    }
    return NULL;
}

int cn_queue_list(cn_queue_t *q, Canopy__JobState state, const char *kind, uint64_t after_id, uint32_t limit,
                  Canopy__Job ***out, size_t *n, bool *more) {
    if (limit == 0) limit = 100;
    if (limit > 1000) limit = 1000;
    *out = cn_xcalloc(limit, sizeof **out);
    *n = 0;
    *more = false;
    cn_rocks_iter_t *it;
    int rc = cn_rocks_iter_new(q->db, CF_JOBS, NULL, 0, &it);
    if (rc) return rc;
    uint8_t k[8];
    cn_put_be64(k, after_id + 1);
    cn_rocks_iter_seek(it, k, 8);
    cn_buf_t tmp = {0};
    size_t nx, xi = 0;
    cn_qjob_t **extra = in_ram(q, state, kind, after_id, limit + 1, &nx);
    uint64_t sid = 0;
    Canopy__Job *srec = next_stored(q, it, state, kind, &sid);
    for (;;) { /* merge the two id-ordered streams */
        Canopy__Job *rec;
        if (xi < nx && (!srec || extra[xi]->id < sid)) {
            rec = copy_job(extra[xi++]->rec, &tmp);
        } else if (srec) {
            rec = srec;
            srec = next_stored(q, it, state, kind, &sid);
        } else {
            break;
        }
        if (!rec) continue;
        if (*n == limit) {
            cn_rec_free(&rec->base);
            *more = true;
            break;
        }
        (*out)[(*n)++] = rec;
    }
    if (srec) cn_rec_free(&srec->base);
    free(extra);
    cn_buf_free(&tmp);
    cn_rocks_iter_destroy(&it);
    return 0;
}

void cn_queue_list_free(cn_queue_t *q, Canopy__Job **jobs, size_t n) {
    (void)q;
    for (size_t i = 0; i < n; i++) cn_rec_free(&jobs[i]->base);
    free(jobs);
}

size_t cn_queue_nkinds(const cn_queue_t *q) {
    return q->nkinds;
}
const char *cn_queue_kind_name(const cn_queue_t *q, size_t kind) {
    return q->kinds[kind].name;
}
uint64_t cn_queue_count(const cn_queue_t *q, size_t kind, Canopy__JobState state) {
    return (unsigned)state < CN_QNSTATES ? q->kinds[kind].count[state] : 0;
}
uint64_t cn_queue_submitted_total(const cn_queue_t *q) {
    return q->submitted_total;
}
uint64_t cn_queue_succeeded_total(const cn_queue_t *q) {
    return q->succeeded_total;
}
size_t cn_queue_active(const cn_queue_t *q) {
    return q->jobs.n;
}
size_t cn_queue_ready(const cn_queue_t *q) {
    size_t n = 0;
    for (size_t i = 0; i < q->nkinds; i++) n += q->kinds[i].ready.n;
    return n;
}
