/* workers.c: see workers.h. Workers are few (tens), so the registry is an array
   searched by name; each worker's leases are a map of job ids. */
#include "workers.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

struct cn_workers {
    cn_worker_t **w;
    size_t n, cap;
};

cn_workers_t *cn_workers_new(void) {
    return cn_xcalloc(1, sizeof(cn_workers_t));
}

static void free_kinds(cn_worker_t *w) {
    for (size_t i = 0; i < w->nkinds; i++) free(w->kinds[i]);
    free(w->kinds);
    w->kinds = NULL;
    w->nkinds = 0;
}

void cn_workers_destroy(cn_workers_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_workers_t *ws = *self_p;
    for (size_t i = 0; i < ws->n; i++) {
        cn_worker_t *w = ws->w[i];
        size_t ns;
        Canopy__LeaseRef **st = cn_worker_take_stale(w, &ns);
        for (size_t k = 0; k < ns; k++) free(st[k]);
        free(st);
        free_kinds(w);
        free(w->name);
        free(w->host);
        cn_u64map_free(&w->leases);
        free(w);
    }
    free(ws->w);
    free(ws);
    *self_p = NULL;
}

cn_worker_t *cn_workers_find(const cn_workers_t *ws, const char *name) {
    for (size_t i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i]->name, name) == 0) return ws->w[i];
    return NULL;
}

cn_worker_t *cn_workers_get(cn_workers_t *ws, const char *name) {
    cn_worker_t *w = cn_workers_find(ws, name);
    if (w) return w;
    if (ws->n == ws->cap) {
        ws->cap = ws->cap ? ws->cap * 2 : 8;
        ws->w = cn_xrealloc(ws->w, ws->cap * sizeof *ws->w);
    }
    w = cn_xcalloc(1, sizeof *w);
    w->name = cn_xstrdup(name);
    w->host = cn_xstrdup("");
    w->alive = true;
    ws->w[ws->n++] = w;
    return w;
}

size_t cn_workers_count(const cn_workers_t *ws) {
    return ws->n;
}
cn_worker_t *cn_workers_at(const cn_workers_t *ws, size_t i) {
    return ws->w[i];
}

void cn_worker_set_hello(cn_worker_t *w, const cn_peer_t *peer, const Canopy__Hello *h, uint64_t now) {
    w->peer = *peer;
    w->connected = true;
    w->alive = true;
    w->slots = h->slots;
    w->free_slots = h->slots;
    w->pid = h->pid;
    free(w->host);
    w->host = cn_xstrdup(h->host ? h->host : "");
    free_kinds(w);
    if (h->n_kinds) {
        w->kinds = cn_xcalloc(h->n_kinds, sizeof *w->kinds);
        for (size_t i = 0; i < h->n_kinds; i++) w->kinds[i] = cn_xstrdup(h->kinds[i] ? h->kinds[i] : "");
        w->nkinds = h->n_kinds;
    }
    w->last_seen_ms = now;
}

void cn_worker_hold(cn_worker_t *w, uint64_t job_id) {
    cn_u64map_put(&w->leases, job_id, w);
}

bool cn_worker_holds(const cn_worker_t *w, uint64_t job_id) {
    return cn_u64map_get(&w->leases, job_id) != NULL;
}

bool cn_worker_drop(cn_worker_t *w, uint64_t job_id) {
    return cn_u64map_del(&w->leases, job_id) != NULL;
}

size_t cn_worker_nleases(const cn_worker_t *w) {
    return w->leases.n;
}

uint64_t *cn_worker_lease_ids(const cn_worker_t *w, size_t *n) {
    uint64_t *ids = cn_xcalloc(w->leases.n + 1, sizeof *ids);
    size_t pos = 0, k = 0;
    uint64_t id;
    void *v;
    while (cn_u64map_next(&w->leases, &pos, &id, &v)) ids[k++] = id;
    *n = k;
    return ids;
}

void cn_worker_add_stale(cn_worker_t *w, uint64_t job_id, uint64_t lease_seq) {
    if (w->nstale == w->capstale) {
        w->capstale = w->capstale ? w->capstale * 2 : 8;
        w->stale = cn_xrealloc(w->stale, w->capstale * sizeof *w->stale);
    }
    Canopy__LeaseRef *r = cn_xmalloc(sizeof *r);
    canopy__lease_ref__init(r);
    r->job_id = job_id;
    r->lease_seq = lease_seq;
    w->stale[w->nstale++] = r;
}

Canopy__LeaseRef **cn_worker_take_stale(cn_worker_t *w, size_t *n) {
    Canopy__LeaseRef **out = w->stale;
    *n = w->nstale;
    w->stale = NULL;
    w->nstale = w->capstale = 0;
    return out;
}
