/* keyset.h: a set of fixed-width keys that are already hashes (git oids, path
   and user hashes): what one download job has written, so that nothing is
   queued twice. Open addressing on the key's first 8 bytes. One thread. */
#ifndef CN_KEYSET_H
#define CN_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *slots; /* cap * (1 + width) bytes: a used flag, then the key */
    size_t width, cap, n;
} cn_keyset_t;

void cn_keyset_init(cn_keyset_t *s, size_t width);
void cn_keyset_free(cn_keyset_t *s);
/* Adds key; true if it was not there before. */
bool cn_keyset_add(cn_keyset_t *s, const void *key);
bool cn_keyset_has(const cn_keyset_t *s, const void *key);

#endif
