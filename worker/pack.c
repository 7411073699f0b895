/* pack.c: git pack files read straight from their maps (see pack.h).
   Formats (git's Documentation/gitformat-pack): an index (version 2) is a
   magic and version, a fan-out table of 256 counts, the sorted object ids, a
   CRC per object, a 32-bit offset per object (the high bit points into a table
   of 64-bit offsets), then the pack's and its own checksums. A pack is "PACK",
   a version (2 or 3) and a count, then per object a header (type in 3 bits,
   size in 4 + 7n bits), for an offset delta the distance back to its base (a
   base-128 number with an extra 1 per continuation byte), for a reference
   delta the base's id, and a zlib stream of the object or of its delta.
   Every length and offset is checked against the maps before it is used. */
#include "pack.h"

#include "errors.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_HEADER (8u + 256u * 4u)
#define IDX_TRAILER 40u
#define OBJ_OFS_DELTA 6
#define OBJ_REF_DELTA 7
/* Longer chains than git ever writes (its --depth is at most 4095) are damage,
   or reference deltas that loop. */
#define MAX_CHAIN 10000
#define DEFAULT_CACHE (32u << 20)
/* Room past an object's end: zlib's fast loop runs only while 258 bytes of
   output space remain, so an exact-size buffer inflates its last 258 bytes
   (half of a small commit or tree) byte by byte. */
#define INFLATE_SLACK 320u

typedef struct {
    const uint8_t *idx, *pack;
    size_t idx_len, pack_len;
    uint32_t n;
    const uint8_t *fanout, *oids, *offs, *big;
    size_t nbig;
} pack_t;

struct cn_packs {
    atomic_int refs;
    size_t n;
    pack_t *v;
};

struct cn_pack_obj {
    struct cn_pack_obj *hnext, *prev, *next; /* hash chain; recency list */
    uint64_t key;                            /* pack number << 48 | offset */
    uint32_t holds;                          /* readers holding it, plus 1 while cached */
    uint8_t type;
    size_t size;
    size_t mem; /* bytes it takes, as the cache budget counts them */
    uint8_t data[];
};

struct cn_pack_reader {
    cn_packs_t *packs;
    z_stream z;
    bool z_ok;
    cn_pack_obj_t **bucket;
    size_t nbucket; /* a power of two */
    cn_pack_obj_t *newest, *oldest;
    size_t bytes, limit, count;
    uint8_t *scratch; /* a delta's own bytes, inflated */
    size_t scratch_cap;
};

/* ---- the maps ---- */

static const uint8_t *map_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return NULL;
    *len = (size_t)st.st_size;
    return m;
}

static void unmap_pack(pack_t *p) {
    if (p->idx) munmap((void *)p->idx, p->idx_len);
    if (p->pack) munmap((void *)p->pack, p->pack_len);
}

/* An index of version 2 whose sizes, fan-out and pack agree. */
static bool pack_valid(pack_t *p) {
    static const uint8_t magic[8] = {0xff, 't', 'O', 'c', 0, 0, 0, 2};
    if (p->idx_len < IDX_HEADER + IDX_TRAILER || memcmp(p->idx, magic, 8) != 0) return false;
    p->fanout = p->idx + 8;
    uint32_t prev = 0;
    for (int i = 0; i < 256; i++) {
        uint32_t c = cn_get_be32(p->fanout + 4 * i);
        if (c < prev) return false;
        prev = c;
    }
    p->n = prev;
    uint64_t fixed = (uint64_t)IDX_HEADER + (uint64_t)p->n * 28u + IDX_TRAILER;
    if (fixed > p->idx_len || (p->idx_len - fixed) % 8 != 0) return false;
    p->oids = p->fanout + 256 * 4;
    p->offs = p->oids + (size_t)p->n * 24u; /* past the ids and the CRCs */
    p->big = p->offs + (size_t)p->n * 4u;
    p->nbig = (p->idx_len - fixed) / 8;
    if (p->pack_len < 32 || memcmp(p->pack, "PACK", 4) != 0) return false;
    uint32_t ver = cn_get_be32(p->pack + 4);
    if ((ver != 2 && ver != 3) || cn_get_be32(p->pack + 8) != p->n) return false;
    /* The index names the pack's checksum: a pack rewritten under the same
       name (or cut short) no longer matches. */
    return memcmp(p->idx + p->idx_len - IDX_TRAILER, p->pack + p->pack_len - 20, 20) == 0;
}

int cn_packs_open(const char *objects_dir, cn_packs_t **out) {
    *out = NULL;
    char *dir = cn_path_join(objects_dir, "pack");
    DIR *d = opendir(dir);
    cn_packs_t *ps = cn_xcalloc(1, sizeof *ps);
    atomic_init(&ps->refs, 1);
    if (!d) {
        int e = errno;
        free(dir);
        if (e == ENOENT) return *out = ps, 0;
        free(ps);
        return cn_err(CN_ESYS, "cannot read %s/pack: %s", objects_dir, strerror(e));
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".idx") != 0) continue;
        char *ip = cn_path_join(dir, e->d_name);
        char *pp = cn_xasprintf("%.*s.pack", (int)(strlen(ip) - 4), ip);
        pack_t p = {0};
        p.idx = map_file(ip, &p.idx_len);
        p.pack = p.idx ? map_file(pp, &p.pack_len) : NULL;
        free(ip);
        free(pp);
        if (!p.idx || !p.pack || !pack_valid(&p)) {
            unmap_pack(&p);
            continue;
        }
        if (ps->n == cap) ps->v = cn_xrealloc(ps->v, (cap = cap ? 2 * cap : 4) * sizeof *ps->v);
        ps->v[ps->n++] = p;
    }
    closedir(d);
    free(dir);
    *out = ps;
    return 0;
}

cn_packs_t *cn_packs_ref(cn_packs_t *p) {
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void cn_packs_unref(cn_packs_t **self_p) {
    cn_packs_t *p = *self_p;
    *self_p = NULL;
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1) return;
    for (size_t i = 0; i < p->n; i++) unmap_pack(&p->v[i]);
    free(p->v);
    free(p);
}

size_t cn_packs_count(const cn_packs_t *p) {
    return p->n;
}

/* The offset of oid in pack p, or false. */
static bool pack_find(const pack_t *p, const uint8_t *oid, uint64_t *off) {
    uint32_t lo = oid[0] ? cn_get_be32(p->fanout + 4 * (oid[0] - 1)) : 0;
    uint32_t hi = cn_get_be32(p->fanout + 4 * oid[0]);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->oids + (size_t)mid * CN_PACK_OID_LEN, oid, CN_PACK_OID_LEN);
        if (c == 0) {
            uint32_t v = cn_get_be32(p->offs + (size_t)mid * 4);
            if (!(v & 0x80000000u)) {
                *off = v;
            } else {
                if ((v & 0x7fffffffu) >= p->nbig) return false;
                *off = cn_get_be64(p->big + (size_t)(v & 0x7fffffffu) * 8);
            }
            return *off >= 12 && *off < p->pack_len - 20;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool packs_find(const cn_packs_t *ps, const uint8_t *oid, size_t *pk, uint64_t *off) {
    for (size_t i = 0; i < ps->n; i++)
        if (pack_find(&ps->v[i], oid, off)) return *pk = i, true;
    return false;
}

/* ---- deltas ---- */

/* The result size a delta announces for a base of base_len bytes; *ops is
   where its instructions start. Every instruction is at least a byte and
   yields at most max(base_len, 127) bytes, which bounds an honest size. */
static bool delta_size(size_t base_len, const uint8_t *delta, size_t dlen, const uint8_t **ops,
                       size_t *size) {
    const uint8_t *p = delta, *end = delta + dlen;
    uint64_t src, dst;
    if (!cn_get_varint(&p, end, &src) || !cn_get_varint(&p, end, &dst) || src != base_len) return false;
    uint64_t most = (uint64_t)(end - p) * (base_len > 127 ? base_len : 127);
    if (dst > most || dst > SIZE_MAX / 2) return false;
    *ops = p;
    *size = (size_t)dst;
    return true;
}

static bool delta_run(const uint8_t *base, size_t base_len, const uint8_t *p, const uint8_t *end,
                      uint8_t *dst, size_t size) {
    size_t at = 0;
    while (p < end) {
        uint8_t c = *p++;
        if (c & 0x80) { /* copy from the base: present offset and size bytes */
            uint64_t off = 0, n = 0;
            for (int i = 0; i < 4; i++)
                if (c & (1u << i)) {
                    if (p >= end) return false;
                    off |= (uint64_t)*p++ << (8 * i);
                }
            for (int i = 0; i < 3; i++)
                if (c & (0x10u << i)) {
                    if (p >= end) return false;
                    n |= (uint64_t)*p++ << (8 * i);
                }
            if (n == 0) n = 0x10000;
            if (off > base_len || n > base_len - off || n > size - at) return false;
            memcpy(dst + at, base + off, n);
            at += n;
        } else if (c) { /* insert the next c bytes */
            if (c > (size_t)(end - p) || c > size - at) return false;
            memcpy(dst + at, p, c);
            p += c;
            at += c;
        } else {
            return false; /* reserved */
        }
    }
    return at == size;
}

int cn_pack_delta_apply(const uint8_t *base, size_t base_len, const uint8_t *delta, size_t delta_len,
                        uint8_t **out, size_t *out_len) {
    const uint8_t *ops;
    size_t size;
    *out = NULL;
    if (!delta_size(base_len, delta, delta_len, &ops, &size)) return cn_err(CN_ECORRUPT, "bad delta header");
    uint8_t *dst = cn_xmalloc(size ? size : 1);
    if (!delta_run(base, base_len, ops, delta + delta_len, dst, size)) {
        free(dst);
        return cn_err(CN_ECORRUPT, "delta does not apply to its base");
    }
    *out = dst;
    *out_len = size;
    return 0;
}

/* ---- the reader's cache: resolved objects by their place, newest first ---- */

cn_pack_reader_t *cn_pack_reader_new(cn_packs_t *p, size_t cache_bytes) {
    cn_pack_reader_t *r = cn_xcalloc(1, sizeof *r);
    r->packs = cn_packs_ref(p);
    r->limit = cache_bytes ? cache_bytes : DEFAULT_CACHE;
    r->nbucket = 1024;
    r->bucket = cn_xcalloc(r->nbucket, sizeof *r->bucket);
    r->z_ok = inflateInit(&r->z) == Z_OK;
    return r;
}

static size_t hash_key(uint64_t key, size_t nbucket) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (nbucket - 1);
}

static void unlink_recency(cn_pack_reader_t *r, cn_pack_obj_t *o) {
    if (o->prev)
        o->prev->next = o->next;
    else
        r->newest = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        r->oldest = o->prev;
    o->prev = o->next = NULL;
}

static void push_newest(cn_pack_reader_t *r, cn_pack_obj_t *o) {
    o->prev = NULL;
    o->next = r->newest;
    if (r->newest) r->newest->prev = o;
    r->newest = o;
    if (!r->oldest) r->oldest = o;
}

void cn_pack_obj_release(cn_pack_obj_t *o) {
    if (o && --o->holds == 0) free(o);
}

static void evict(cn_pack_reader_t *r, cn_pack_obj_t *o) {
    cn_pack_obj_t **pp = &r->bucket[hash_key(o->key, r->nbucket)];
    while (*pp != o) pp = &(*pp)->hnext;
    *pp = o->hnext;
    unlink_recency(r, o);
    r->bytes -= o->mem;
    r->count--;
    cn_pack_obj_release(o);
}

static cn_pack_obj_t *cache_get(cn_pack_reader_t *r, uint64_t key) {
    for (cn_pack_obj_t *o = r->bucket[hash_key(key, r->nbucket)]; o; o = o->hnext)
        if (o->key == key) {
            unlink_recency(r, o);
            push_newest(r, o);
            o->holds++;
            return o;
        }
    return NULL;
}

static void grow(cn_pack_reader_t *r) {
    size_t n = r->nbucket * 2;
    cn_pack_obj_t **b = cn_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < r->nbucket; i++)
        for (cn_pack_obj_t *o = r->bucket[i], *next; o; o = next) {
            next = o->hnext;
            size_t at = hash_key(o->key, n);
            o->hnext = b[at];
            b[at] = o;
        }
    free(r->bucket);
    r->bucket = b;
    r->nbucket = n;
}

/* Keeps o (held by the caller) unless it is bigger than a quarter of the
   budget; the oldest objects make room. */
static void cache_put(cn_pack_reader_t *r, cn_pack_obj_t *o) {
    if (o->mem > r->limit / 4) return;
    while (r->oldest && r->bytes + o->mem > r->limit) evict(r, r->oldest);
    if (++r->count > r->nbucket) grow(r);
    size_t at = hash_key(o->key, r->nbucket);
    o->hnext = r->bucket[at];
    r->bucket[at] = o;
    push_newest(r, o);
    o->holds++;
    r->bytes += o->mem;
}

void cn_pack_reader_free(cn_pack_reader_t **self_p) {
    cn_pack_reader_t *r = *self_p;
    if (!r) return;
    while (r->oldest) evict(r, r->oldest);
    free(r->bucket);
    if (r->z_ok) inflateEnd(&r->z);
    free(r->scratch);
    cn_packs_unref(&r->packs);
    free(r);
    *self_p = NULL;
}

/* ---- objects ---- */

/* One object's header in pack pk at off. */
typedef struct {
    size_t pk;
    uint64_t off;
    int type;
    size_t size;         /* of the object, or of its delta */
    const uint8_t *data; /* its zlib stream */
    size_t base_pk;      /* a delta's base */
    uint64_t base_off;
} entry_t;

static int corrupt(const uint8_t *oid, const char *what) {
    char hex[2 * CN_PACK_OID_LEN + 1];
    cn_hex(oid, CN_PACK_OID_LEN, hex);
    return cn_err(CN_ECORRUPT, "object %s: %s in its pack", hex, what);
}

/* Parses the header at e->pk/e->off. CN_ENOTFOUND when a reference delta's
   base is in no pack (libgit2 may still have it loose). */
static int parse_entry(const cn_pack_reader_t *r, const uint8_t *oid, entry_t *e) {
    const pack_t *p = &r->packs->v[e->pk];
    const uint8_t *at = p->pack + e->off, *end = p->pack + p->pack_len - 20;
    uint8_t c = *at++;
    e->type = (c >> 4) & 7;
    uint64_t size = c & 15;
    unsigned shift = 4;
    while (c & 0x80) {
        if (at >= end || shift > 57) return corrupt(oid, "a bad object header");
        c = *at++;
        size |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
    }
    if (size > UINT_MAX - INFLATE_SLACK) return CN_ENOTFOUND; /* over zlib's counters: libgit2 reads it */
    e->size = (size_t)size;
    if (e->type == OBJ_OFS_DELTA) {
        if (at >= end) return corrupt(oid, "a bad delta header");
        c = *at++;
        uint64_t back = c & 127;
        while (c & 0x80) {
            if (at >= end || back > (UINT64_MAX >> 8)) return corrupt(oid, "a bad delta offset");
            c = *at++;
            back = ((back + 1) << 7) | (c & 127);
        }
        if (back == 0 || back > e->off - 12) return corrupt(oid, "a delta base outside the pack");
        e->base_pk = e->pk;
        e->base_off = e->off - back;
    } else if (e->type == OBJ_REF_DELTA) {
        if ((size_t)(end - at) < CN_PACK_OID_LEN) return corrupt(oid, "a cut delta header");
        if (!packs_find(r->packs, at, &e->base_pk, &e->base_off)) return CN_ENOTFOUND;
        at += CN_PACK_OID_LEN;
    } else if (e->type < CN_PACK_COMMIT || e->type > CN_PACK_TAG) {
        return corrupt(oid, "an unknown object type");
    }
    e->data = at;
    return 0;
}

/* Inflates e's stream into exactly e->size bytes at dst (which has
   INFLATE_SLACK more bytes of room). */
static int inflate_entry(cn_pack_reader_t *r, const uint8_t *oid, const entry_t *e, uint8_t *dst) {
    if (!r->z_ok) return cn_err(CN_ENOMEM, "cannot start zlib");
    const pack_t *p = &r->packs->v[e->pk];
    size_t avail = (size_t)(p->pack + p->pack_len - 20 - e->data);
    inflateReset(&r->z);
    r->z.next_in = (Bytef *)(uintptr_t)e->data;
    r->z.avail_in = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
    r->z.next_out = dst;
    r->z.avail_out = (uInt)e->size + INFLATE_SLACK;
    int zr = inflate(&r->z, Z_FINISH);
    if (zr != Z_STREAM_END || r->z.total_out != e->size) return corrupt(oid, "a damaged zlib stream");
    return 0;
}

/* slack: INFLATE_SLACK for an object inflated in place, 0 for a delta's result. */
static cn_pack_obj_t *obj_new(const entry_t *e, int type, size_t size, size_t slack) {
    size_t mem = sizeof(cn_pack_obj_t) + size + slack + 1;
    cn_pack_obj_t *o = cn_xmalloc(mem);
    *o = (cn_pack_obj_t){
        .key = (uint64_t)e->pk << 48 | e->off, .holds = 1, .type = (uint8_t)type, .size = size, .mem = mem};
    return o;
}

/* The delta e applied to base (held): a new object, held. */
static int apply_entry(cn_pack_reader_t *r, const uint8_t *oid, const entry_t *e, const cn_pack_obj_t *base,
                       cn_pack_obj_t **out) {
    if (r->scratch_cap < e->size + INFLATE_SLACK) {
        free(r->scratch);
        r->scratch_cap = e->size + INFLATE_SLACK > 4096 ? e->size + INFLATE_SLACK : 4096;
        r->scratch = cn_xmalloc(r->scratch_cap);
    }
    int rc = inflate_entry(r, oid, e, r->scratch);
    if (rc < 0) return rc;
    const uint8_t *ops;
    size_t size;
    if (!delta_size(base->size, r->scratch, e->size, &ops, &size)) return corrupt(oid, "a bad delta header");
    cn_pack_obj_t *o = obj_new(e, base->type, size, 0);
    if (!delta_run(base->data, base->size, ops, r->scratch + e->size, o->data, size)) {
        free(o);
        return corrupt(oid, "a delta that does not fit its base");
    }
    *out = o;
    return 0;
}

/* The object at pk/off, resolved through its delta chain: the chain is walked
   down to a cached object or a whole one, then deltas are applied upwards,
   each result cached (bases are shared by many objects). */
static int resolve(cn_pack_reader_t *r, const uint8_t *oid, size_t pk, uint64_t off, cn_pack_obj_t **out) {
    entry_t stack_buf[64], *chain = stack_buf;
    size_t n = 0, cap = 64;
    cn_pack_obj_t *base = NULL;
    int rc = 0;
    for (;;) {
        uint64_t key = (uint64_t)pk << 48 | off;
        if ((base = cache_get(r, key))) break;
        if (n == MAX_CHAIN) {
            rc = corrupt(oid, "a delta chain too long or looping");
            break;
        }
        if (n == cap) {
            entry_t *bigger = cn_xmalloc(2 * cap * sizeof *bigger);
            memcpy(bigger, chain, n * sizeof *chain);
            if (chain != stack_buf) free(chain);
            chain = bigger;
            cap *= 2;
        }
        entry_t *e = &chain[n];
        *e = (entry_t){.pk = pk, .off = off};
        if ((rc = parse_entry(r, oid, e)) < 0) break;
        if (e->type != OBJ_OFS_DELTA && e->type != OBJ_REF_DELTA) {
            base = obj_new(e, e->type, e->size, INFLATE_SLACK);
            if ((rc = inflate_entry(r, oid, e, base->data)) < 0) break;
            cache_put(r, base);
            break;
        }
        n++;
        pk = e->base_pk;
        off = e->base_off;
    }
    while (rc == 0 && n > 0) {
        cn_pack_obj_t *o = NULL;
        rc = apply_entry(r, oid, &chain[--n], base, &o);
        cn_pack_obj_release(base);
        base = o;
        if (o) cache_put(r, o);
    }
    if (chain != stack_buf) free(chain);
    if (rc < 0) {
        cn_pack_obj_release(base);
        return rc;
    }
    *out = base;
    return 0;
}

int cn_pack_read(cn_pack_reader_t *r, const uint8_t oid[CN_PACK_OID_LEN], cn_pack_obj_t **out) {
    *out = NULL;
    size_t pk;
    uint64_t off;
    if (!packs_find(r->packs, oid, &pk, &off)) return CN_ENOTFOUND;
    return resolve(r, oid, pk, off, out);
}

enum cn_pack_type cn_pack_obj_type(const cn_pack_obj_t *o) {
    return (enum cn_pack_type)o->type;
}

const uint8_t *cn_pack_obj_data(const cn_pack_obj_t *o) {
    return o->data;
}

size_t cn_pack_obj_size(const cn_pack_obj_t *o) {
    return o->size;
}
