/* hash.c: see hash.h. */
#include "hash.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(cn_hash_state_t) >= sizeof(crypto_generichash_state), "hash state too small");

void cn_hash_init(void) {
    if (sodium_init() < 0) {
        fprintf(stderr, "canopy: libsodium failed to initialise\n");
        abort();
    }
}

void cn_blake2b(const void *p, size_t n, uint8_t out[CN_HASH_LEN]) {
    crypto_generichash(out, CN_HASH_LEN, p, n, NULL, 0);
}

void cn_blake2b_init(cn_hash_state_t *st) {
    crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL, 0, CN_HASH_LEN);
}

void cn_blake2b_update(cn_hash_state_t *st, const void *p, size_t n) {
    crypto_generichash_update((crypto_generichash_state *)st->opaque, p, n);
}

void cn_blake2b_final(cn_hash_state_t *st, uint8_t out[CN_HASH_LEN]) {
    crypto_generichash_final((crypto_generichash_state *)st->opaque, out, CN_HASH_LEN);
}

/* 64-bit FNV-1a folded through a murmur finaliser: good spread, no dependency. */
uint64_t cn_hash64(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
