/* u64map.c: see u64map.h. Linear probing with backward-shift deletion (no
   tombstones, so a map that churns millions of ids stays short). */
#include "u64map.h"

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
