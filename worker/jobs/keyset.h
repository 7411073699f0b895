/* keyset.h: a set of fixed-width keys that are already hashes (git oids, path
   and user hashes), optionally a map with a fixed-width value beside each key:
   what one download job has written, so that nothing is queued twice, and the
   base cache's index (dlcache.c). Open addressing on the key's first 8 bytes.
   One thread. */
#ifndef CN_KEYSET_H
#define CN_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *slots;               /* cap * stride bytes: a used flag, the key, the value */
    size_t width, stride, cap, n; /* stride: 1 + width + the value's width */
} cn_keyset_t;

/* A set of width-byte keys. */
void cn_keyset_init(cn_keyset_t *s, size_t width);
/* A map: each width-byte key holds vwidth bytes of value. */
void cn_keyset_init_map(cn_keyset_t *s, size_t width, size_t vwidth);
void cn_keyset_free(cn_keyset_t *s);
/* Adds key; true if it was not there before. */
bool cn_keyset_add(cn_keyset_t *s, const void *key);
bool cn_keyset_has(const cn_keyset_t *s, const void *key);
/* Adds key if missing (*added tells) and returns its value slot (vwidth bytes,
   zeroed when added; unaligned), valid until the next add. */
uint8_t *cn_keyset_put(cn_keyset_t *s, const void *key, bool *added);
/* The value slot of key (as for put), NULL when key is absent. */
uint8_t *cn_keyset_get(const cn_keyset_t *s, const void *key);

#endif
