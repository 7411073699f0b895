/* dlcache.c: the download's base cache (dlstore.h): every content the job
   stored, by oid, with its stored depth and chain root; the bytes of the newest
   ones up to a byte budget, dropped oldest first (a file's next version usually
   follows soon in a parents-first walk). An entry pool indexed by a keyset map
   (oid -> entry index). One thread (the walk). */
#include "dlstore.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    cn_bcache_info_t info;
    cn_dlbuf_t *buf;
} entry_t;

struct cn_bcache {
    entry_t *e;
    size_t n, cap;
    cn_keyset_t index; /* oid -> entry index (uint32_t) */
    uint32_t *ring;    /* entries holding bytes, oldest first */
    size_t rhead, rlen, rcap;
    size_t bytes, max_bytes;
};

cn_bcache_t *cn_bcache_new(size_t max_bytes) {
    cn_bcache_t *c = cn_xcalloc(1, sizeof *c);
    cn_keyset_init_map(&c->index, CN_OID_LEN, sizeof(uint32_t));
    c->max_bytes = max_bytes;
    return c;
}

void cn_bcache_free(cn_bcache_t **self_p) {
    cn_bcache_t *c = self_p ? *self_p : NULL;
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) cn_dlbuf_unref(c->e[i].buf);
    free(c->e);
    cn_keyset_free(&c->index);
    free(c->ring);
    free(c);
    *self_p = NULL;
}

/* Drops the oldest bytes until the budget holds. */
static void evict(cn_bcache_t *c) {
    while (c->bytes > c->max_bytes && c->rlen > 0) {
        entry_t *e = &c->e[c->ring[c->rhead]];
        c->rhead = (c->rhead + 1) % c->rcap;
        c->rlen--;
        c->bytes -= e->buf->len;
        cn_dlbuf_unref(e->buf);
        e->buf = NULL;
    }
}

static void ring_push(cn_bcache_t *c, uint32_t idx) {
    if (c->rlen == c->rcap) {
        size_t cap = c->rcap ? 2 * c->rcap : 256;
        uint32_t *r = cn_xmalloc(cap * sizeof *r);
        for (size_t i = 0; i < c->rlen; i++) r[i] = c->ring[(c->rhead + i) % c->rcap];
        free(c->ring);
        c->ring = r;
        c->rcap = cap;
        c->rhead = 0;
    }
    c->ring[(c->rhead + c->rlen++) % c->rcap] = idx;
}

void cn_bcache_put(cn_bcache_t *c, const uint8_t oid[CN_OID_LEN], const cn_bcache_info_t *info,
                   cn_dlbuf_t *buf) {
    bool added;
    uint8_t *slot = cn_keyset_put(&c->index, oid, &added);
    if (!added) return; /* stored once per job */
    uint32_t idx = (uint32_t)c->n;
    memcpy(slot, &idx, sizeof idx);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->e = cn_xrealloc(c->e, c->cap * sizeof *c->e);
    }
    entry_t *e = &c->e[c->n++];
    e->info = *info;
    e->buf = buf && buf->len <= c->max_bytes ? cn_dlbuf_ref(buf) : NULL;
    if (e->buf) {
        c->bytes += buf->len;
        ring_push(c, idx);
        evict(c);
    }
}

bool cn_bcache_get(const cn_bcache_t *c, const uint8_t oid[CN_OID_LEN], cn_bcache_info_t *info,
                   cn_dlbuf_t **buf) {
    const uint8_t *slot = cn_keyset_get(&c->index, oid);
    if (!slot) return false;
    uint32_t idx;
    memcpy(&idx, slot, sizeof idx);
    const entry_t *e = &c->e[idx];
    *info = e->info;
    *buf = cn_dlbuf_ref(e->buf);
    return true;
}
