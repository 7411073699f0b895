/* qutil.h: small containers for the coordinator's scheduling state: the u64
   map (common/u64map.h) and a binary heap of pointers with a caller-given order
   that keeps each element's index (so it can be removed). Single-threaded (the
   coordinator loop). */
#ifndef CN_QUTIL_H
#define CN_QUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "u64map.h"

/* Heap of pointers. less(a, b): a comes out first. Each element stores its
   index at a caller-given offset (a uint32_t), so removal is O(log n). */
typedef bool (*cn_heap_less_fn)(const void *a, const void *b);
typedef struct {
    void **v;
    size_t n, cap;
    cn_heap_less_fn less;
    size_t idx_off; /* offsetof(element, uint32_t index field) */
} cn_heap_t;

void cn_heap_push(cn_heap_t *h, void *e);
void *cn_heap_peek(const cn_heap_t *h);
void *cn_heap_pop(cn_heap_t *h);
/* Removes e, which must be in h. */
void cn_heap_remove(cn_heap_t *h, void *e);
void cn_heap_free(cn_heap_t *h);

#endif
