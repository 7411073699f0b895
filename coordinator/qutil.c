/* qutil.c: see qutil.h. Linear probing with backward-shift deletion (no
   tombstones, so a map that churns millions of ids stays short). */
#include "qutil.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t key, size_t cap) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void *cn_u64map_get(const cn_u64map_t *m, uint64_t key) {
    if (!m->cap) return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) return m->vals[i];
        if (m->keys[i] == 0) return NULL;
    }
}

static void resize(cn_u64map_t *m, size_t cap) {
    size_t ocap = m->cap;
    uint64_t *okeys = m->keys;
    void **ovals = m->vals;
    m->cap = cap;
    m->keys = cn_xcalloc(m->cap, sizeof *m->keys);
    m->vals = cn_xcalloc(m->cap, sizeof *m->vals);
    m->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (okeys[i]) cn_u64map_put(m, okeys[i], ovals[i]);
    free(okeys);
    free(ovals);
}

void cn_u64map_put(cn_u64map_t *m, uint64_t key, void *val) {
    if ((m->n + 1) * 4 > m->cap * 3) resize(m, m->cap ? m->cap * 2 : 64);
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return;
        }
        if (m->keys[i] == 0) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return;
        }
    }
}

void *cn_u64map_del(cn_u64map_t *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0) return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward shift: move later entries of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between) continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
    /* Give memory back after a burst (a million queued jobs drained). */
    if (m->cap > 1024 && m->n < m->cap / 8) resize(m, m->cap / 2);
    return val;
}

void cn_u64map_free(cn_u64map_t *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

bool cn_u64map_next(const cn_u64map_t *m, size_t *pos, uint64_t *key, void **val) {
    for (; *pos < m->cap; (*pos)++) {
        if (m->keys[*pos]) {
            *key = m->keys[*pos];
            *val = m->vals[*pos];
            (*pos)++;
            return true;
        }
    }
    return false;
}

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
