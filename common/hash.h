/* hash.h: content hashes (BLAKE2b-256 from libsodium; the only file that includes
   sodium.h) and a fast 64-bit non-cryptographic hash for Idents and in-memory
   tables. Thread-safe. */
#ifndef CN_HASH_H
#define CN_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CN_HASH_LEN 32

/* Initialises libsodium once; safe to call many times from any thread. */
void cn_hash_init(void);
/* BLAKE2b-256 of [p, p+n) into out. */
void cn_blake2b(const void *p, size_t n, uint8_t out[CN_HASH_LEN]);

/* Incremental BLAKE2b-256 for data that arrives in pieces. */
typedef struct {
    _Alignas(64) uint8_t opaque[384];
} cn_hash_state_t;
void cn_blake2b_init(cn_hash_state_t *st);
void cn_blake2b_update(cn_hash_state_t *st, const void *p, size_t n);
void cn_blake2b_final(cn_hash_state_t *st, uint8_t out[CN_HASH_LEN]);

/* A fast 64-bit hash (not for content addressing). */
uint64_t cn_hash64(const void *p, size_t n);

#endif
