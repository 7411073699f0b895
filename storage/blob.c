/* blob.c: content-addressed blobs in the blobs family: a kind byte, then the
   zstd frame of the content (common/compress.h), keyed by BLAKE2b-256 of the
   content or by a key the caller gives (a git oid). Thread-safe. */
#include "shard_int.h"

#include "compress.h"
#include "errors.h"
#include "hash.h"

#include <string.h>

void cn_blob_put(cn_batch_t *b, const void *key, size_t klen, const void *data, size_t n,
                 uint8_t hash_out[32]) {
    uint8_t h[CN_HASH_LEN];
    uint8_t kind = CN_BLOB_KEYED;
    if (!key) {
        cn_blake2b(data, n, h);
        if (hash_out) memcpy(hash_out, h, sizeof h);
        key = h;
        klen = sizeof h;
        kind = CN_BLOB_HASHED;
    }
    cn_buf_t v = {0};
    cn_buf_putc(&v, kind);
    if (cn_zstd_compress(data, n, CN_ZSTD_LEVEL, &v) < 0)
        cn_batch_refuse(b, CN_EIO, "a blob cannot be compressed", CN_CF_BLOBS);
    else
        cn_batch_put(b, CN_CF_BLOBS, key, klen, v.data, v.len);
    cn_buf_free(&v);
}

int cn_blob_decode(const uint8_t *v, size_t vl, size_t max, cn_buf_t *out, int *kind) {
    if (vl < 1 || (v[0] != CN_BLOB_HASHED && v[0] != CN_BLOB_KEYED))
        return cn_err(CN_ECORRUPT, "a blob value has no valid kind byte");
    *kind = v[0];
    size_t before = out->len;
    int rc = cn_zstd_decompress(v + 1, vl - 1, max, out);
    if (rc < 0) out->len = before; /* nothing half-decoded */
    return rc;
}

int cn_blob_get(cn_shard_t *s, const void *key, size_t klen, size_t max, cn_buf_t *out) {
    cn_buf_t v = {0};
    int rc = cn_shard_get(s, CN_CF_BLOBS, key, klen, &v);
    int kind = 0;
    if (rc == 0) rc = cn_blob_decode(v.data, v.len, max, out, &kind);
    cn_buf_free(&v);
    return rc;
}
