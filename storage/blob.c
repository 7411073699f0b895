/* blob.c: content-addressed blobs in the blobs family: a kind byte, then the
   zstd frame of the content (common/compress.h), keyed by BLAKE2b-256 of the
   content or by a key the caller gives (a git oid); or a delta against another
   blob (storage/LAYOUT.md), read back through its chain of bases. Thread-safe. */
#include "shard_int.h"

#include "compress.h"
#include "errors.h"
#include "hash.h"

#include <string.h>

/* Level of delta frames: see the measurements in storage/LAYOUT.md. */
#define DELTA_LEVEL CN_ZSTD_LEVEL
#define DELTA_HEAD 3 /* kind, depth, base key length */

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
    if (cn_blob_encode_whole(kind, data, n, &v) < 0)
        cn_batch_refuse(b, CN_EIO, "a blob cannot be compressed", CN_CF_BLOBS);
    else
        cn_batch_put(b, CN_CF_BLOBS, key, klen, v.data, v.len);
    cn_buf_free(&v);
}

int cn_blob_encode_whole(int kind, const void *data, size_t n, cn_buf_t *out) {
    cn_buf_putc(out, (uint8_t)kind);
    return cn_zstd_compress(data, n, CN_ZSTD_LEVEL, out);
}

void cn_blob_put_delta(cn_batch_t *b, const void *key, size_t klen, const void *data, size_t n,
                       const void *base_key, size_t base_klen, const void *base, size_t base_n,
                       unsigned base_depth) {
    bool whole = !key || !base_key || base_depth >= CN_BLOB_MAX_DEPTH || base_klen == 0 || base_klen > 255 ||
                 base_n > CN_ZSTD_REF_MAX || (klen == base_klen && memcmp(key, base_key, klen) == 0);
    cn_buf_t v = {0}, w = {0};
    if (!whole) {
        cn_buf_putc(&v, CN_BLOB_DELTA);
        cn_buf_putc(&v, (uint8_t)(base_depth + 1));
        cn_buf_putc(&v, (uint8_t)base_klen);
        cn_buf_append(&v, base_key, base_klen);
        size_t head = v.len;
        whole = cn_zstd_compress_ref(data, n, DELTA_LEVEL, base, base_n, &v) < 0;
        /* A delta that saved little (a rewritten or binary file): a whole frame
           that is no larger is better, it hangs on no base. */
        if (!whole && v.len - head > n / 2 + 64 && cn_blob_encode_whole(CN_BLOB_KEYED, data, n, &w) == 0 &&
            w.len - 1 <= v.len - head) {
            cn_batch_put(b, CN_CF_BLOBS, key, klen, w.data, w.len); /* made already */
            cn_buf_free(&w);
            cn_buf_free(&v);
            return;
        }
    }
    if (whole)
        cn_blob_put(b, key, klen, data, n, NULL);
    else
        cn_batch_put(b, CN_CF_BLOBS, key, klen, v.data, v.len);
    cn_buf_free(&w);
    cn_buf_free(&v);
}

int cn_blob_decode(const uint8_t *v, size_t vl, size_t max, cn_buf_t *out, int *kind) {
    if (vl >= 1 && v[0] == CN_BLOB_DELTA) {
        *kind = CN_BLOB_DELTA;
        return cn_err(CN_ECORRUPT, "a delta blob value is decoded with its base");
    }
    if (vl < 1 || (v[0] != CN_BLOB_HASHED && v[0] != CN_BLOB_KEYED))
        return cn_err(CN_ECORRUPT, "a blob value has no valid kind byte");
    *kind = v[0];
    size_t before = out->len;
    int rc = cn_zstd_decompress(v + 1, vl - 1, max, out);
    if (rc < 0) out->len = before; /* nothing half-decoded */
    return rc;
}

int cn_blob_parse_delta(const uint8_t *v, size_t vl, cn_blob_delta_t *d) {
    if (vl < DELTA_HEAD || v[0] != CN_BLOB_DELTA) return cn_err(CN_ECORRUPT, "not a delta blob value");
    if (v[1] == 0 || v[2] == 0 || vl < (size_t)DELTA_HEAD + v[2])
        return cn_err(CN_ECORRUPT,
                      "a delta blob value has a bad header (depth %u, base key %u bytes, %zu bytes)", v[1],
                      v[2], vl);
    d->depth = v[1];
    d->base_key = v + DELTA_HEAD;
    d->base_klen = v[2];
    d->frame = d->base_key + d->base_klen;
    d->frame_len = vl - DELTA_HEAD - d->base_klen;
    return 0;
}

int cn_blob_decode_delta(const uint8_t *v, size_t vl, const void *base, size_t base_n, size_t max,
                         cn_buf_t *out) {
    cn_blob_delta_t d = {0};
    int rc = cn_blob_parse_delta(v, vl, &d);
    if (rc < 0) return rc;
    size_t before = out->len;
    rc = cn_zstd_decompress_ref(d.frame, d.frame_len, max, base, base_n, out);
    if (rc < 0) out->len = before;
    return rc;
}

int cn_blob_value_depth(const uint8_t *v, size_t vl) {
    if (vl >= 1 && (v[0] == CN_BLOB_HASHED || v[0] == CN_BLOB_KEYED)) return 0;
    cn_blob_delta_t d = {0};
    int rc = cn_blob_parse_delta(v, vl, &d);
    return rc < 0 ? rc : (int)d.depth;
}

int cn_blob_depth(cn_shard_t *s, const void *key, size_t klen, unsigned *depth) {
    cn_buf_t v = {0};
    /* The header and base key are all a depth needs: not the compressed bytes. */
    int rc = cn_shard_get_head(s, CN_CF_BLOBS, key, klen, DELTA_HEAD + 255, &v);
    if (rc == 0 && (rc = cn_blob_value_depth(v.data, v.len)) >= 0) {
        *depth = (unsigned)rc;
        rc = 0;
    }
    cn_buf_free(&v);
    return rc;
}

/* ---- reading a chain ---- */

typedef struct {
    cn_buf_t buf[CN_BLOB_READ_DEPTH + 1]; /* the values read (buf[0] unused when held) */
    const uint8_t *val[CN_BLOB_READ_DEPTH + 1];
    size_t vlen[CN_BLOB_READ_DEPTH + 1];
    const uint8_t *key[CN_BLOB_READ_DEPTH + 1];
    size_t klen[CN_BLOB_READ_DEPTH + 1];
    size_t n; /* links read: val[0] is the blob asked for, val[n-1] is whole */
} chain_t;

static void hex_key(const void *k, size_t kl, char out[2 * 32 + 4]) {
    cn_hex(k, CN_MIN(kl, 32u), out);
    if (kl > 32) memcpy(out + 64, "...", 4);
}

/* The error of link i's base (link i+1): names both keys. */
static int base_error(const chain_t *c, size_t i, const char *what) {
    char k[2 * 32 + 4], bk[2 * 32 + 4];
    hex_key(c->key[0], c->klen[0], k);
    hex_key(c->key[i + 1], c->klen[i + 1], bk);
    return cn_err(CN_ECORRUPT, "blob %s is stored as a delta on base %s, which %s", k, bk, what);
}

/* Reads link i's value (i > 0: a base of link i-1). */
static int link_read(cn_shard_t *s, chain_t *c, size_t i) {
    int rc = cn_shard_get(s, CN_CF_BLOBS, c->key[i], c->klen[i], &c->buf[i]);
    if (rc == CN_ENOTFOUND && i > 0) return base_error(c, i - 1, "is missing");
    if (rc < 0) return rc;
    c->val[i] = c->buf[i].data;
    c->vlen[i] = c->buf[i].len;
    return 0;
}

/* Reads the values from key down to a whole one; key's own value v[0..vl) when
   the caller holds it (v non-NULL), so only the bases are read. */
static int chain_read(cn_shard_t *s, chain_t *c, const void *key, size_t klen, const uint8_t *v, size_t vl) {
    c->key[0] = key;
    c->klen[0] = klen;
    c->val[0] = v;
    c->vlen[0] = vl;
    for (size_t i = 0;; i++) {
        c->n = i + 1;
        int rc = i == 0 && v ? 0 : link_read(s, c, i);
        if (rc < 0) return rc;
        if (c->vlen[i] == 0 || c->val[i][0] != CN_BLOB_DELTA) return 0;
        cn_blob_delta_t d = {0};
        if ((rc = cn_blob_parse_delta(c->val[i], c->vlen[i], &d)) < 0)
            return i ? base_error(c, i - 1, "is not a valid delta") : rc;
        if (i == CN_BLOB_READ_DEPTH) {
            char k[2 * 32 + 4];
            hex_key(c->key[0], c->klen[0], k);
            return cn_err(CN_ECORRUPT, "blob %s: its chain of deltas is longer than %d", k,
                          CN_BLOB_READ_DEPTH);
        }
        c->key[i + 1] = d.base_key;
        c->klen[i + 1] = d.base_klen;
        for (size_t j = 0; j <= i; j++)
            if (c->klen[j] == d.base_klen && memcmp(c->key[j], d.base_key, d.base_klen) == 0) {
                char k[2 * 32 + 4], bk[2 * 32 + 4], back[2 * 32 + 4];
                hex_key(c->key[0], c->klen[0], k);
                hex_key(c->key[1], c->klen[1], bk);
                hex_key(c->key[j], c->klen[j], back);
                return cn_err(CN_ECORRUPT,
                              "blob %s is stored as a delta on base %s, whose chain of bases "
                              "comes back to %s (a cycle of deltas)",
                              k, bk, back);
            }
    }
}

/* Rebuilds link 0 from the whole link n-1 up: bases are bounded by the largest
   reference a delta can have, the result by max. */
static int chain_decode(chain_t *c, size_t max, cn_buf_t *out) {
    size_t last = c->n - 1;
    int kind = 0;
    if (last == 0) return cn_blob_decode(c->val[0], c->vlen[0], max, out, &kind);
    cn_buf_t base = {0}, next = {0};
    int rc = cn_blob_decode(c->val[last], c->vlen[last], CN_ZSTD_REF_MAX, &base, &kind);
    if (rc < 0) rc = base_error(c, last - 1, "does not decode");
    for (size_t i = last - 1; rc == 0 && i > 0; i--) {
        cn_buf_reset(&next);
        rc = cn_blob_decode_delta(c->val[i], c->vlen[i], base.data, base.len, CN_ZSTD_REF_MAX, &next);
        if (rc < 0) rc = base_error(c, i - 1, "does not decode");
        cn_buf_t t = base;
        base = next;
        next = t;
    }
    if (rc == 0) rc = cn_blob_decode_delta(c->val[0], c->vlen[0], base.data, base.len, max, out);
    cn_buf_free(&base);
    cn_buf_free(&next);
    return rc;
}

int cn_blob_get_held(cn_shard_t *s, const void *key, size_t klen, const uint8_t *v, size_t vl, size_t max,
                     cn_buf_t *out) {
    chain_t c;
    memset(&c, 0, sizeof c);
    int rc = chain_read(s, &c, key, klen, v, vl);
    if (rc == 0) rc = chain_decode(&c, max, out);
    for (size_t i = 0; i < c.n; i++) cn_buf_free(&c.buf[i]);
    return rc;
}

int cn_blob_get(cn_shard_t *s, const void *key, size_t klen, size_t max, cn_buf_t *out) {
    return cn_blob_get_held(s, key, klen, NULL, 0, max, out);
}
