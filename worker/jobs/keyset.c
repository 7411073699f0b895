/* keyset.c: open-addressing set of fixed-width hash keys (see keyset.h). The
   table doubles at 50% load, so probes stay short. One thread. */
#include "keyset.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

void cn_keyset_init(cn_keyset_t *s, size_t width) {
    memset(s, 0, sizeof *s);
    s->width = width;
}

void cn_keyset_free(cn_keyset_t *s) {
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static uint64_t slot_hash(const cn_keyset_t *s, const uint8_t *key) {
    uint64_t h = 0;
    memcpy(&h, key, CN_MIN(s->width, sizeof h));
    return h * 0x9E3779B97F4A7C15ull; /* keys are hashes; mix for short ones */
}

static uint8_t *find(const cn_keyset_t *s, const uint8_t *key, bool *found) {
    size_t stride = 1 + s->width, mask = s->cap - 1;
    for (size_t i = (size_t)(slot_hash(s, key) >> 17) & mask;; i = (i + 1) & mask) {
        uint8_t *slot = s->slots + i * stride;
        if (!slot[0] || memcmp(slot + 1, key, s->width) == 0) {
            *found = slot[0] != 0;
            return slot;
        }
    }
}

static void grow(cn_keyset_t *s) {
    cn_keyset_t bigger = {.width = s->width, .cap = s->cap ? 2 * s->cap : 1024};
    bigger.slots = cn_xcalloc(bigger.cap, 1 + s->width);
    for (size_t i = 0; i < s->cap; i++) {
        uint8_t *slot = s->slots + i * (1 + s->width);
        if (slot[0]) cn_keyset_add(&bigger, slot + 1);
    }
    free(s->slots);
    *s = bigger;
}

bool cn_keyset_add(cn_keyset_t *s, const void *key) {
    if (2 * (s->n + 1) > s->cap) grow(s);
    bool found;
    uint8_t *slot = find(s, key, &found);
    if (found) return false;
    slot[0] = 1;
    memcpy(slot + 1, key, s->width);
    s->n++;
    return true;
}

bool cn_keyset_has(const cn_keyset_t *s, const void *key) {
    if (!s->cap) return false;
    bool found;
    find(s, key, &found);
    return found;
}
