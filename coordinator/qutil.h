/* qutil.h: small containers for the coordinator's scheduling state: an open-
   addressing map from uint64_t to a pointer and a binary heap of pointers with a
   caller-given order that keeps each element's index (so it can be removed).
   Single-threaded (the coordinator loop). */
#ifndef CN_QUTIL_H
#define CN_QUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Map uint64_t -> void*. Key 0 is reserved (ids start at 1). */
typedef struct {
    uint64_t *keys;
    void **vals;
    size_t cap; /* power of two, or 0 */
    size_t n;
} cn_u64map_t;

void *cn_u64map_get(const cn_u64map_t *m, uint64_t key);
/* Inserts or replaces. */
void cn_u64map_put(cn_u64map_t *m, uint64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *cn_u64map_del(cn_u64map_t *m, uint64_t key);
void cn_u64map_free(cn_u64map_t *m);
/* Iteration: *pos starts at 0; returns false at the end. */
bool cn_u64map_next(const cn_u64map_t *m, size_t *pos, uint64_t *key, void **val);

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
