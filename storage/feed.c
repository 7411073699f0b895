/* feed.c: the shard's change feed (storage/LAYOUT.md): the encoding of a feed
   record's value, a list of (family, key) pairs as varint family, varint key
   length, key bytes, and the last counter written. The records are written by
   batch.c in the same atomic write as the append they describe; the merge reads
   them (merge_feed.c). */
#include "shard_int.h"

#include "errors.h"

void cn_feed_put(cn_buf_t *v, cn_cf_t cf, const void *key, size_t klen) {
    cn_buf_put_varint(v, (uint64_t)cf);
    cn_buf_put_varint(v, klen);
    cn_buf_append(v, key, klen);
}

int cn_feed_next(const uint8_t **p, const uint8_t *end, cn_cf_t *cf, const uint8_t **key, size_t *klen) {
    if (*p >= end) return 0;
    uint64_t f = 0, n = 0;
    if (!cn_get_varint(p, end, &f) || !cn_get_varint(p, end, &n) || f >= CN_CF_COUNT_ ||
        n > CN_SHARD_KEY_MAX || n > (uint64_t)(end - *p))
        return cn_err(CN_ECORRUPT, "a feed record does not decode");
    *cf = (cn_cf_t)f;
    *key = *p;
    *klen = (size_t)n;
    *p += n;
    return 1;
}

uint64_t cn_feed_last(cn_shard_t *s) {
    return cn_shard_last_u64(s, CN_CF_FEED);
}
