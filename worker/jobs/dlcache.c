/* dlcache.c: the download's base cache (dlstore.h): every content the job
   stored, by oid, with its stored depth and chain root; the bytes of the newest ones up to a
   byte budget, dropped oldest first (a file's next version usually follows
   soon in a parents-first walk). Open addressing over an entry pool. One
   thread (the walk). */
#include "dlstore.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t oid[CN_OID_LEN];
    cn_bcache_info_t info;
    cn_dlbuf_t *buf;
} entry_t;

struct cn_bcache {
    entry_t *e;
    size_t n, cap;
    uint32_t *slot; /* entry index + 1; 0: empty */
    size_t nslot;   /* a power of two, at most half full */
    uint32_t *ring; /* entries holding bytes, oldest first */
    size_t rhead, rlen, rcap;
    size_t bytes, max_bytes;
};

cn_bcache_t *cn_bcache_new(size_t max_bytes) {
    cn_bcache_t *c = cn_xcalloc(1, sizeof *c);
    c->max_bytes = max_bytes;
    return c;
}

void cn_bcache_free(cn_bcache_t **self_p) {
    cn_bcache_t *c = self_p ? *self_p : NULL;
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) cn_dlbuf_unref(c->e[i].buf);
    free(c->e);
    free(c->slot);
    free(c->ring);
    free(c);
    *self_p = NULL;
}

static size_t home(const cn_bcache_t *c, const uint8_t *oid) {
    uint64_t h;
    memcpy(&h, oid, sizeof h); /* oids are hashes already */
    return (size_t)(h * 0x9E3779B97F4A7C15ull >> 17) & (c->nslot - 1);
}

static uint32_t *find(const cn_bcache_t *c, const uint8_t *oid) {
    for (size_t i = home(c, oid);; i = (i + 1) & (c->nslot - 1)) {
        uint32_t *s = &c->slot[i];
        if (!*s || memcmp(c->e[*s - 1].oid, oid, CN_OID_LEN) == 0) return s;
    }
}

static void rehash(cn_bcache_t *c) {
    free(c->slot);
    c->nslot = c->nslot ? 2 * c->nslot : 1024;
    c->slot = cn_xcalloc(c->nslot, sizeof *c->slot);
    for (size_t i = 0; i < c->n; i++) *find(c, c->e[i].oid) = (uint32_t)(i + 1);
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
    if (2 * (c->n + 1) > c->nslot) rehash(c);
    uint32_t *s = find(c, oid);
    if (*s) return; /* stored once per job */
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->e = cn_xrealloc(c->e, c->cap * sizeof *c->e);
    }
    entry_t *e = &c->e[c->n];
    memcpy(e->oid, oid, CN_OID_LEN);
    e->info = *info;
    e->buf = buf && buf->len <= c->max_bytes ? cn_dlbuf_ref(buf) : NULL;
    *s = (uint32_t)++c->n;
    if (e->buf) {
        c->bytes += buf->len;
        ring_push(c, (uint32_t)(c->n - 1));
        evict(c);
    }
}

bool cn_bcache_get(const cn_bcache_t *c, const uint8_t oid[CN_OID_LEN], cn_bcache_info_t *info,
                   cn_dlbuf_t **buf) {
    if (!c->nslot) return false;
    uint32_t *s = find(c, oid);
    if (!*s) return false;
    const entry_t *e = &c->e[*s - 1];
    *info = e->info;
    *buf = cn_dlbuf_ref(e->buf);
    return true;
}
