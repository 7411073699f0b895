/* wproto.c: see wproto.h. Message building only; no sockets, no locks of its
   own (cn_runner_each takes the runner's). */
#include "wproto.h"

#include "json.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    cn_job_info_t *v;
    size_t n, cap;
    bool started_only;
} infos_t;

static void add_info(void *arg, const cn_job_info_t *info) {
    infos_t *a = arg;
    if (a->started_only && (!info->started || info->finished)) return;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = cn_xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = *info;
}

void cn_wp_hello_fill(Canopy__Hello *h, const char *name, unsigned slots, cn_runner_t *r,
                      const cn_job_result_t *unacked, size_t n_unacked) {
    static char host[256];
    if (!host[0]) cn_hostname(host, sizeof host);
    h->name = (char *)name;
    h->slots = slots;
    h->pid = (uint32_t)getpid();
    h->host = host;
    size_t nk = 0;
    for (const cn_job_kind_t *k = cn_job_next(NULL); k; k = cn_job_next(k)) nk++;
    h->kinds = cn_xcalloc(nk ? nk : 1, sizeof *h->kinds);
    for (const cn_job_kind_t *k = cn_job_next(NULL); k; k = cn_job_next(k))
        h->kinds[h->n_kinds++] = (char *)k->name;

    infos_t a = {0};
    cn_runner_each(r, add_info, &a);
    size_t n = a.n + n_unacked;
    h->running = cn_xcalloc(n ? n : 1, sizeof *h->running);
    Canopy__LeaseRef *refs = cn_xcalloc(n ? n : 1, sizeof *refs);
    h->running[0] = refs; /* even when empty: clear frees through it */
    for (size_t i = 0; i < n; i++) {
        canopy__lease_ref__init(&refs[i]);
        refs[i].job_id = i < a.n ? a.v[i].job_id : unacked[i - a.n].job_id;
        refs[i].lease_seq = i < a.n ? a.v[i].lease_seq : unacked[i - a.n].lease_seq;
        h->running[i] = &refs[i];
    }
    h->n_running = n;
    free(a.v);
}

void cn_wp_hello_clear(Canopy__Hello *h) {
    free(h->kinds);
    if (h->running) free(h->running[0]); /* the refs array */
    free(h->running);
    h->kinds = NULL;
    h->running = NULL;
    h->n_kinds = h->n_running = 0;
}

/* The Progress messages and their units live in one allocation after the
   pointer array, so clearing is one free. */
typedef struct {
    Canopy__Progress p;
    char unit[32];
} progress_slot_t;

void cn_wp_progress_fill(Canopy__Heartbeat *hb, cn_runner_t *r) {
    infos_t a = {.started_only = true};
    cn_runner_each(r, add_info, &a);
    hb->n_progress = 0;
    hb->progress = NULL;
    if (a.n == 0) return;
    progress_slot_t *slots = cn_xcalloc(a.n, sizeof *slots);
    hb->progress = cn_xcalloc(a.n + 1, sizeof *hb->progress);
    for (size_t i = 0; i < a.n; i++) {
        canopy__progress__init(&slots[i].p);
        slots[i].p.job_id = a.v[i].job_id;
        slots[i].p.lease_seq = a.v[i].lease_seq;
        slots[i].p.done = a.v[i].done;
        slots[i].p.total = a.v[i].total;
        slots[i].p.bytes_done = a.v[i].bytes_done;
        slots[i].p.bytes_total = a.v[i].bytes_total;
        memcpy(slots[i].unit, a.v[i].unit, sizeof slots[i].unit);
        slots[i].unit[sizeof slots[i].unit - 1] = '\0';
        slots[i].p.unit = slots[i].unit;
        hb->progress[i] = &slots[i].p;
    }
    hb->n_progress = a.n;
    free(a.v);
}

void cn_wp_progress_clear(Canopy__Heartbeat *hb) {
    if (hb->progress) free(hb->progress[0]); /* the slots array (p is its first member) */
    free(hb->progress);
    hb->progress = NULL;
    hb->n_progress = 0;
}

void cn_wp_results_fill(Canopy__Results *rs, const char *name, const cn_job_result_t *res, size_t n) {
    rs->name = (char *)name;
    Canopy__Result *v = cn_xcalloc(n ? n : 1, sizeof *v);
    rs->result = cn_xcalloc(n ? n : 1, sizeof *rs->result);
    for (size_t i = 0; i < n; i++) {
        canopy__result__init(&v[i]);
        v[i].job_id = res[i].job_id;
        v[i].lease_seq = res[i].lease_seq;
        v[i].outcome = res[i].outcome;
        v[i].error_code = res[i].error_code;
        v[i].error = res[i].error ? res[i].error : (char *)"";
        v[i].summary = res[i].summary ? res[i].summary : (char *)"";
        rs->result[i] = &v[i];
    }
    rs->n_result = n;
    if (n == 0) free(v);
}

void cn_wp_results_clear(Canopy__Results *rs) {
    if (rs->n_result) free(rs->result[0]);
    free(rs->result);
    rs->result = NULL;
    rs->n_result = 0;
}

char *cn_wp_read_router(const char *path) {
    cn_buf_t b = {0};
    char *ep = NULL;
    if (cn_read_file(path, (size_t)64 << 10, &b) == 0) {
        cn_json_obj_t o = {0};
        if (cn_json_parse_object((const char *)b.data, b.len, &o) == 0) {
            const cn_json_pair_t *p = cn_json_get(&o, "router");
            if (p && p->type == CN_JSON_STR && p->value[0]) ep = cn_xstrdup(p->value);
            cn_json_obj_free(&o);
        }
    }
    cn_buf_free(&b);
    return ep;
}
