/* qutil.c: see qutil.h. */
#include "qutil.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ---- heap ---- */

static void set_idx(cn_heap_t *h, size_t i) {
    *(uint32_t *)((char *)h->v[i] + h->idx_off) = (uint32_t)i;
}

static size_t get_idx(const cn_heap_t *h, const void *e) {
    return *(const uint32_t *)((const char *)e + h->idx_off);
}

static void swap(cn_heap_t *h, size_t a, size_t b) {
    void *t = h->v[a];
    h->v[a] = h->v[b];
    h->v[b] = t;
    set_idx(h, a);
    set_idx(h, b);
}

static void sift_up(cn_heap_t *h, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h->less(h->v[i], h->v[p])) break;
        swap(h, i, p);
        i = p;
    }
}

static void sift_down(cn_heap_t *h, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->less(h->v[l], h->v[m])) m = l;
        if (r < h->n && h->less(h->v[r], h->v[m])) m = r;
        if (m == i) return;
        swap(h, i, m);
        i = m;
    }
}

void cn_heap_push(cn_heap_t *h, void *e) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = cn_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n] = e;
    set_idx(h, h->n);
    h->n++;
    sift_up(h, h->n - 1);
}

void *cn_heap_peek(const cn_heap_t *h) {
    return h->n ? h->v[0] : NULL;
}

void *cn_heap_pop(cn_heap_t *h) {
    if (!h->n) return NULL;
    void *top = h->v[0];
    cn_heap_remove(h, top);
    return top;
}

void cn_heap_remove(cn_heap_t *h, void *e) {
    size_t i = get_idx(h, e);
    h->n--;
    if (i != h->n) {
        h->v[i] = h->v[h->n];
        set_idx(h, i);
        sift_down(h, i);
        sift_up(h, i);
    }
    /* Give memory back after a burst (a million queued jobs drained). */
    if (h->cap > 1024 && h->n < h->cap / 8) {
        h->cap /= 2;
        h->v = cn_xrealloc(h->v, h->cap * sizeof *h->v);
    }
}

void cn_heap_free(cn_heap_t *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
