/* keyset.c: open-addressing set (or map) of fixed-width hash keys (see
   keyset.h). The table doubles at 50% load, so probes stay short; slots are
   never removed, so an empty slot is all zeroes. One thread. */
#include "keyset.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

void cn_keyset_init_map(cn_keyset_t *s, size_t width, size_t vwidth) {
    memset(s, 0, sizeof *s);
    s->width = width;
    s->stride = 1 + width + vwidth;
}

void cn_keyset_init(cn_keyset_t *s, size_t width) {
    cn_keyset_init_map(s, width, 0);
}

void cn_keyset_free(cn_keyset_t *s) {
    free(s->slots);
    s->slots = NULL;
    s->cap = s->n = 0;
}

static uint64_t slot_hash(const cn_keyset_t *s, const uint8_t *key) {
    uint64_t h = 0;
    memcpy(&h, key, CN_MIN(s->width, sizeof h));
    return h * 0x9E3779B97F4A7C15ull; /* keys are hashes; mix for short ones */
}

/* key's slot, or the empty slot where it would go. */
static uint8_t *find(const cn_keyset_t *s, const uint8_t *key, bool *found) {
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)(slot_hash(s, key) >> 17) & mask;; i = (i + 1) & mask) {
        uint8_t *slot = s->slots + i * s->stride;
        if (!slot[0] || memcmp(slot + 1, key, s->width) == 0) {
            *found = slot[0] != 0;
            return slot;
        }
    }
}

static void grow(cn_keyset_t *s) {
    cn_keyset_t bigger = *s;
    bigger.cap = s->cap ? 2 * s->cap : 1024;
    bigger.slots = cn_xcalloc(bigger.cap, s->stride);
    for (size_t i = 0; i < s->cap; i++) {
        const uint8_t *slot = s->slots + i * s->stride;
        bool found;
        if (slot[0]) memcpy(find(&bigger, slot + 1, &found), slot, s->stride);
    }
    free(s->slots);
    *s = bigger;
}

uint8_t *cn_keyset_put(cn_keyset_t *s, const void *key, bool *added) {
    if (2 * (s->n + 1) > s->cap) grow(s);
    bool found;
    uint8_t *slot = find(s, key, &found);
    *added = !found;
    if (!found) {
        slot[0] = 1;
        memcpy(slot + 1, key, s->width);
        s->n++;
    }
    return slot + 1 + s->width;
}

bool cn_keyset_add(cn_keyset_t *s, const void *key) {
    bool added;
    cn_keyset_put(s, key, &added);
    return added;
}

uint8_t *cn_keyset_get(const cn_keyset_t *s, const void *key) {
    if (!s->cap) return NULL;
    bool found;
    uint8_t *slot = find(s, key, &found);
    return found ? slot + 1 + s->width : NULL;
}

bool cn_keyset_has(const cn_keyset_t *s, const void *key) {
    return cn_keyset_get(s, key) != NULL;
}
