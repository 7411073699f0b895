/* u64map.h: an open-addressing map from uint64_t ids to a pointer or to a
   non-zero number, for the coordinator's scheduling state, the merge's job and
   lease tables and the queries' winning leases. Key 0 is reserved (ids start
   at 1). Single-threaded. */
#ifndef CN_U64MAP_H
#define CN_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a number is kept in a pointer's bits");

/* The same map holding numbers: a value of 0 reads as absent, so store only
   non-zero ones (leases, ids, counts, 1 + an index). */
static inline void cn_u64map_set(cn_u64map_t *m, uint64_t key, uint64_t v) {
    cn_u64map_put(m, key, (void *)(uintptr_t)v);
}
/* True and *v (if v) when key holds a non-zero number. */
static inline bool cn_u64map_lookup(const cn_u64map_t *m, uint64_t key, uint64_t *v) {
    uintptr_t p = (uintptr_t)cn_u64map_get(m, key);
    if (v) *v = p;
    return p != 0;
}

#endif
