/* pathtree_build.c: builds a path tree from sorted paths (see pathtree.h).
   A prefix cache (the previous path's components and their nodes) makes each
   add cost the length of the new suffix only. Frame A (names+tree): the
   components in order of first use, front-coded against the previous one
   (all the varint shared-prefix lengths, then all the suffixes, each ended by
   a NUL), then one varint per node 1..n-1
   of "pops" (previous depth + 1 - depth), then one varint per node 1..n-1 of
   component reference (0: the next new component, k: component k-1). Frame B
   (stat): types (n bytes), mode, uid, gid, size (varints), mtime (zigzag delta
   to the previous node), then per symlink its target (varint length + bytes),
   then per symlink its resolution (0 broken, 1 outside, k+2: node k). */
#include "pathtree.h"

#include "compress.h"
#include "errors.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

struct cn_ptb {
    cn_buf_t root;
    /* components: names arena (each name followed by NUL), offsets by id */
    cn_buf_t names;
    uint32_t *comp_off;
    uint32_t ncomp, comp_cap;
    uint64_t *ht; /* open addressing: hash32 << 32 | (comp id + 1), 0 empty */
    size_t ht_cap;
    /* nodes */
    uint32_t *parent, *comp;
    uint8_t *type;
    uint32_t nnodes, node_cap;
    /* prefix cache: the previous path and the node at each depth */
    cn_buf_t prev;
    uint32_t *stack_node, *stack_off, *stack_len;
    uint32_t depth, stack_cap;
    bool root_set, finished;
    /* columns */
    cn_buf_t pops, refs, mode, uid, gid, size, mtime, targets;
    int64_t last_mtime;
    uint32_t *sym_nodes, nsym, sym_cap; /* symlink nodes, and their target offsets */
    uint32_t *sym_toff;
};

int cn_path_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = CN_MIN(alen, blen);
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i]) continue;
        unsigned ca = a[i] == '/' ? 0 : (unsigned)a[i] + 1;
        unsigned cb = b[i] == '/' ? 0 : (unsigned)b[i] + 1;
        return ca < cb ? -1 : 1;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static void grow_u32(uint32_t **p, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return;
    uint32_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    *p = cn_xrealloc(*p, (size_t)c * sizeof **p);
    *cap = c;
}

static void ensure_nodes(cn_ptb_t *b, uint32_t need) {
    if (need <= b->node_cap) return;
    uint32_t c = b->node_cap ? b->node_cap * 2 : 1024;
    while (c < need) c *= 2;
    b->parent = cn_xrealloc(b->parent, (size_t)c * sizeof *b->parent);
    b->comp = cn_xrealloc(b->comp, (size_t)c * sizeof *b->comp);
    b->type = cn_xrealloc(b->type, c);
    b->node_cap = c;
}

static void ensure_stack(cn_ptb_t *b, uint32_t need) {
    if (need <= b->stack_cap) return;
    uint32_t c = b->stack_cap ? b->stack_cap * 2 : 64;
    while (c < need) c *= 2;
    b->stack_node = cn_xrealloc(b->stack_node, (size_t)c * sizeof *b->stack_node);
    b->stack_off = cn_xrealloc(b->stack_off, (size_t)c * sizeof *b->stack_off);
    b->stack_len = cn_xrealloc(b->stack_len, (size_t)c * sizeof *b->stack_len);
    b->stack_cap = c;
}

cn_ptb_t *cn_ptb_new(const uint8_t *root, size_t rlen) {
    cn_ptb_t *b = cn_xcalloc(1, sizeof *b);
    cn_buf_append(&b->root, root, rlen);
    b->ht_cap = 1024;
    b->ht = cn_xcalloc(b->ht_cap, sizeof *b->ht);
    ensure_nodes(b, 1);
    ensure_stack(b, 1);
    /* the root: node 0, a directory with an empty stat until "" is added */
    b->parent[0] = 0;
    b->comp[0] = UINT32_MAX;
    b->type[0] = CN_PT_DIR;
    b->nnodes = 1;
    b->stack_node[0] = 0;
    return b;
}

void cn_ptb_destroy(cn_ptb_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_ptb_t *b = *self_p;
    cn_buf_t *bufs[] = {&b->root, &b->names, &b->prev, &b->pops,  &b->refs,   &b->mode,
                        &b->uid,  &b->gid,   &b->size, &b->mtime, &b->targets};
    for (size_t i = 0; i < CN_ARRAY_LEN(bufs); i++) cn_buf_free(bufs[i]);
    free(b->comp_off);
    free(b->ht);
    free(b->parent);
    free(b->comp);
    free(b->type);
    free(b->stack_node);
    free(b->stack_off);
    free(b->stack_len);
    free(b->sym_nodes);
    free(b->sym_toff);
    free(b);
    *self_p = NULL;
}

uint64_t cn_ptb_count(const cn_ptb_t *b) {
    return b->nnodes;
}

/* The stored 32 hash bits place each entry: no name is touched to grow. */
static void ht_grow(cn_ptb_t *b) {
    size_t cap = b->ht_cap * 2;
    uint64_t *ht = cn_xcalloc(cap, sizeof *ht);
    for (size_t k = 0; k < b->ht_cap; k++) {
        uint64_t e = b->ht[k];
        if (!e) continue;
        size_t i = (e >> 32) & (cap - 1);
        while (ht[i]) i = (i + 1) & (cap - 1);
        ht[i] = e;
    }
    free(b->ht);
    b->ht = ht;
    b->ht_cap = cap;
}

/* Returns the component id of name; *is_new says it was just added. */
/* The component table stops growing at HT_MAX slots (16 MiB, mostly in
   cache): past that, a name is looked for in 4 slots and a new one replaces
   the entry in its home slot. A name whose entry was replaced is stored again
   when it comes back: slightly bigger output, bounded memory and misses. */
#define HT_MAX (1u << 21)

static uint32_t intern(cn_ptb_t *b, const uint8_t *name, size_t len, bool *is_new) {
    uint64_t h32 = cn_hash64(name, len) >> 32;
    size_t i = h32 & (b->ht_cap - 1);
    bool capped = b->ht_cap >= HT_MAX;
    for (int probe = 0;; probe++) {
        uint64_t e = b->ht[i];
        if (!e) break;
        if (e >> 32 == h32) {
            uint32_t id = (uint32_t)e - 1;
            size_t l = b->comp_off[id + 1] - b->comp_off[id] - 1;
            if (l == len && memcmp(b->names.data + b->comp_off[id], name, len) == 0) {
                *is_new = false;
                return id;
            }
        }
        if (capped && probe == 3) {
            i = h32 & (b->ht_cap - 1);
            break;
        }
        i = (i + 1) & (b->ht_cap - 1);
    }
    uint32_t id = b->ncomp++;
    grow_u32(&b->comp_off, &b->comp_cap, b->ncomp + 1);
    if (id == 0) b->comp_off[0] = 0;
    cn_buf_append(&b->names, name, len);
    cn_buf_putc(&b->names, 0);
    b->comp_off[id + 1] = (uint32_t)b->names.len;
    b->ht[i] = h32 << 32 | (id + 1u);
    if (!capped && (size_t)b->ncomp * 2 > b->ht_cap) ht_grow(b);
    *is_new = true;
    return id;
}

static void put_stat(cn_ptb_t *b, const cn_pstat_t *st) {
    cn_buf_put_varint(&b->mode, st->mode);
    cn_buf_put_varint(&b->uid, st->uid);
    cn_buf_put_varint(&b->gid, st->gid);
    cn_buf_put_varint(&b->size, st->size);
    uint64_t d = (uint64_t)st->mtime_ns - (uint64_t)b->last_mtime;
    int64_t sd = (int64_t)d;
    cn_buf_put_varint(&b->mtime, ((uint64_t)sd << 1) ^ (uint64_t)(sd >> 63));
    b->last_mtime = st->mtime_ns;
}

/* Adds node for component [name, len) at depth (1-based) under the stack. */
static uint32_t add_node(cn_ptb_t *b, uint32_t depth, const uint8_t *name, size_t len, uint8_t type) {
    uint32_t prev_depth = b->depth;
    uint32_t n = b->nnodes++;
    ensure_nodes(b, b->nnodes);
    bool is_new;
    uint32_t id = intern(b, name, len, &is_new);
    b->parent[n] = b->stack_node[depth - 1];
    b->comp[n] = id;
    b->type[n] = type;
    cn_buf_put_varint(&b->pops, (uint64_t)prev_depth + 1 - depth);
    cn_buf_put_varint(&b->refs, is_new ? 0 : (uint64_t)id + 1);
    b->stack_node[depth] = n;
    b->depth = depth;
    return n;
}

static int check_component(const uint8_t *p, size_t len) {
    if (len == 0) return cn_err(CN_EINVAL, "path tree: empty path component");
    if (len > CN_PT_NAME_MAX) return cn_err(CN_EINVAL, "path tree: name over %u bytes", CN_PT_NAME_MAX);
    if (memchr(p, 0, len)) return cn_err(CN_EINVAL, "path tree: NUL byte in a path");
    return 0;
}

static int add_root(cn_ptb_t *b, const cn_pstat_t *st) {
    if (b->root_set || b->nnodes > 1) return cn_err(CN_EINVAL, "path tree: the root must come first, once");
    if (st->type != CN_PT_DIR) return cn_err(CN_EINVAL, "path tree: the root is not a directory");
    b->root_set = true;
    return 0;
}

int cn_ptb_add(cn_ptb_t *b, const uint8_t *path, size_t len, const cn_pstat_t *st, const uint8_t *target,
               size_t tlen) {
    if (b->finished) return cn_err(CN_EINVAL, "path tree: add after finish");
    if (st->type > CN_PT_TYPE_MAX_) return cn_err(CN_EINVAL, "path tree: bad entry type %u", st->type);
    if (tlen > CN_PT_TARGET_MAX) return cn_err(CN_EINVAL, "path tree: symlink target too long");
    if (b->nnodes >= (1u << 31) || b->names.len >= (3u << 30) || b->targets.len >= (3u << 30))
        return cn_err(CN_ETOOBIG, "path tree: too many entries for one tree");
    if (len && (path[0] == '/' || path[len - 1] == '/'))
        return cn_err(CN_EINVAL, "path tree: path has a leading or trailing '/'");
    int rc;
    if (len == 0) {
        if ((rc = add_root(b, st))) return rc;
        put_stat(b, st);
        return 0;
    }
    if (!b->root_set) { /* an implicit root: empty directory stat */
        cn_pstat_t rs = {.type = CN_PT_DIR};
        b->root_set = true;
        put_stat(b, &rs);
    }
    /* Walk the new path's components against the cached previous path: a
       cached component of length l matches when the same l bytes follow and
       then '/' or the end (no search for the next '/' until they differ). */
    uint32_t d = 0;
    size_t start = 0;
    const uint8_t *pv = b->prev.data;
    while (d < b->depth) {
        size_t l = b->stack_len[d + 1];
        if (start + l > len || (start + l < len && path[start + l] != '/') ||
            memcmp(pv + start, path + start, l) != 0)
            break;
        d++;
        if (start + l == len) return cn_err(CN_EINVAL, "path tree: path out of order or repeated");
        start += l + 1;
    }
    if (d < b->depth) {
        const uint8_t *slash = memchr(path + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - path) : len;
        if (cn_path_cmp(pv + start, b->stack_len[d + 1], path + start, end - start) >= 0)
            return cn_err(CN_EINVAL, "path tree: paths are not in sorted order");
    }
    if (b->type[b->stack_node[d]] != CN_PT_DIR)
        return cn_err(CN_EINVAL, "path tree: an entry under a non-directory");
    /* check the new components before changing anything (the cached prefix was checked) */
    for (size_t i = start;;) {
        const uint8_t *slash = memchr(path + i, '/', len - i);
        size_t end = slash ? (size_t)(slash - path) : len;
        if ((rc = check_component(path + i, end - i))) return rc;
        if (!slash) break;
        i = end + 1;
    }
    cn_buf_reset(&b->prev);
    cn_buf_append(&b->prev, path, len);
    for (;;) {
        const uint8_t *slash = memchr(path + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - path) : len;
        ensure_stack(b, d + 2);
        b->stack_off[d + 1] = (uint32_t)start;
        b->stack_len[d + 1] = (uint32_t)(end - start);
        uint32_t n = add_node(b, d + 1, path + start, end - start, slash ? CN_PT_DIR : st->type);
        d++;
        if (!slash) {
            put_stat(b, st);
            if (st->type == CN_PT_SYMLINK) {
                grow_u32(&b->sym_nodes, &b->sym_cap, b->nsym + 1);
                b->sym_toff = cn_xrealloc(b->sym_toff, (size_t)b->sym_cap * sizeof *b->sym_toff);
                b->sym_nodes[b->nsym] = n;
                b->sym_toff[b->nsym++] = (uint32_t)b->targets.len;
                cn_buf_put_varint(&b->targets, tlen);
                cn_buf_append(&b->targets, target, tlen);
            }
            return 0;
        }
        cn_pstat_t ds = {.type = CN_PT_DIR};
        put_stat(b, &ds);
        start = end + 1;
    }
}

/* ---- symlink resolution (after the build) ---- */

typedef struct {
    cn_ptb_t *b;
    uint32_t *cstart, *kids; /* children of each node, in name order */
    uint32_t *link;          /* per node: resolution, or 0 when not yet done */
    size_t rootlen;
} resolver_t;

#define RES_PENDING (UINT32_MAX - 2)
#define RES_NONE (UINT32_MAX - 3)

static uint32_t find_child(resolver_t *r, uint32_t node, const uint8_t *name, size_t len) {
    uint32_t lo = r->cstart[node], hi = r->cstart[node + 1];
    const cn_ptb_t *b = r->b;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t c = b->comp[r->kids[mid]];
        const uint8_t *s = b->names.data + b->comp_off[c];
        size_t l = b->comp_off[c + 1] - b->comp_off[c] - 1;
        int cmp = cn_bytes_cmp(s, l, name, len);
        if (cmp == 0) return r->kids[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UINT32_MAX;
}

static uint32_t resolve(resolver_t *r, uint32_t sym, int hops);

/* Follows path components from node cur; follow_last: resolve a final symlink. */
static uint32_t walk_target(resolver_t *r, uint32_t cur, const uint8_t *p, size_t len, int hops) {
    const cn_ptb_t *b = r->b;
    size_t i = 0;
    while (i < len) {
        const uint8_t *slash = memchr(p + i, '/', len - i);
        size_t end = slash ? (size_t)(slash - p) : len;
        size_t cl = end - i;
        if (cl == 0 || (cl == 1 && p[i] == '.')) {
            /* nothing */
        } else if (cl == 2 && p[i] == '.' && p[i + 1] == '.') {
            if (cur == 0) return CN_PT_LINK_OUTSIDE;
            cur = b->parent[cur];
        } else {
            if (b->type[cur] != CN_PT_DIR) return CN_PT_LINK_BROKEN;
            uint32_t c = find_child(r, cur, p + i, cl);
            if (c == UINT32_MAX) return CN_PT_LINK_BROKEN;
            if (b->type[c] == CN_PT_SYMLINK) {
                c = resolve(r, c, hops + 1);
                if (c >= CN_PT_LINK_OUTSIDE) return c;
            }
            cur = c;
        }
        i = end + 1;
    }
    return cur;
}

static uint32_t resolve(resolver_t *r, uint32_t sym, int hops) {
    uint32_t state = r->link[sym];
    if (state == RES_PENDING || hops > CN_PT_LINK_HOPS) return CN_PT_LINK_BROKEN; /* a loop */
    if (state != RES_NONE) return state;
    r->link[sym] = RES_PENDING;
    /* sym_toff is indexed by symlink number: find it through the node's slot */
    const cn_ptb_t *b = r->b;
    uint32_t lo = 0, hi = b->nsym;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->sym_nodes[mid] < sym)
            lo = mid + 1;
        else
            hi = mid;
    }
    const uint8_t *q = b->targets.data + b->sym_toff[lo];
    uint64_t tl = 0;
    cn_get_varint(&q, b->targets.data + b->targets.len, &tl);
    uint32_t res;
    const uint8_t *root = b->root.data;
    if (tl == 0) {
        res = CN_PT_LINK_BROKEN;
    } else if (q[0] == '/') {
        /* absolute: inside the tree only if it starts with the root path */
        size_t rl = r->rootlen;
        if (rl == 1 && root[0] == '/')
            res = walk_target(r, 0, q, tl, hops);
        else if (tl >= rl && memcmp(q, root, rl) == 0 && (tl == rl || q[rl] == '/'))
            res = walk_target(r, 0, q + rl, tl - rl, hops);
        else
            res = CN_PT_LINK_OUTSIDE;
    } else {
        res = walk_target(r, b->parent[sym], q, tl, hops);
    }
    r->link[sym] = res;
    return res;
}

static void resolve_all(cn_ptb_t *b, cn_buf_t *col) {
    if (b->nsym == 0) return;
    resolver_t r = {.b = b};
    uint32_t n = b->nnodes;
    r.cstart = cn_xcalloc((size_t)n + 1, sizeof *r.cstart);
    r.kids = cn_xmalloc((size_t)n * sizeof *r.kids);
    r.link = cn_xmalloc((size_t)n * sizeof *r.link);
    for (uint32_t i = 1; i < n; i++) r.cstart[b->parent[i] + 1]++;
    for (uint32_t i = 0; i < n; i++) r.cstart[i + 1] += r.cstart[i];
    uint32_t *fill = cn_xmemdup(r.cstart, (size_t)n * sizeof *fill);
    for (uint32_t i = 1; i < n; i++) r.kids[fill[b->parent[i]]++] = i;
    for (uint32_t i = 0; i < n; i++) r.link[i] = RES_NONE;
    r.rootlen = b->root.len;
    while (r.rootlen > 1 && b->root.data[r.rootlen - 1] == '/') r.rootlen--;
    for (uint32_t s = 0; s < b->nsym; s++) {
        uint32_t res = resolve(&r, b->sym_nodes[s], 0);
        uint64_t v = res == CN_PT_LINK_BROKEN ? 0 : res == CN_PT_LINK_OUTSIDE ? 1 : (uint64_t)res + 2;
        cn_buf_put_varint(col, v);
    }
    free(fill);
    free(r.cstart);
    free(r.kids);
    free(r.link);
}

/* ---- serialisation ---- */

/* Front coding in two runs (zstd models them better than interleaved):
   the shared prefix lengths, then the suffixes, each ended by a NUL. */
static void front_code(const cn_ptb_t *b, cn_buf_t *out) {
    const uint8_t *prev = NULL;
    size_t plen = 0;
    for (uint32_t id = 0; id < b->ncomp; id++) {
        const uint8_t *s = b->names.data + b->comp_off[id];
        size_t len = b->comp_off[id + 1] - b->comp_off[id] - 1;
        size_t shared = 0, m = CN_MIN(plen, len);
        while (shared < m && prev[shared] == s[shared]) shared++;
        cn_buf_put_varint(out, shared);
        prev = s;
        plen = len;
    }
    prev = NULL;
    plen = 0;
    for (uint32_t id = 0; id < b->ncomp; id++) {
        const uint8_t *s = b->names.data + b->comp_off[id];
        size_t len = b->comp_off[id + 1] - b->comp_off[id] - 1;
        size_t shared = 0, m = CN_MIN(plen, len);
        while (shared < m && prev[shared] == s[shared]) shared++;
        cn_buf_append(out, s + shared, len - shared + 1); /* with its NUL */
        prev = s;
        plen = len;
    }
}

static int put_frame(const cn_buf_t *raw, cn_buf_t *out, size_t *csize) {
    cn_buf_t z = {0};
    int rc = cn_zstd_compress(raw->data ? raw->data : (const uint8_t *)"", raw->len, CN_ZSTD_LEVEL, &z);
    if (rc == 0) {
        cn_buf_put_varint(out, z.len);
        cn_buf_append(out, z.data, z.len);
        if (csize) *csize = z.len;
    }
    cn_buf_free(&z);
    return rc;
}

int cn_ptb_finish(cn_ptb_t *b, cn_buf_t *out, size_t *names_bytes, size_t *stat_bytes) {
    if (b->finished) return cn_err(CN_EINVAL, "path tree: finished twice");
    b->finished = true;
    if (!b->root_set) {
        cn_pstat_t rs = {.type = CN_PT_DIR};
        put_stat(b, &rs);
    }
    cn_buf_t a = {0}, s = {0};
    front_code(b, &a);
    cn_buf_append(&a, b->pops.data, b->pops.len);
    cn_buf_append(&a, b->refs.data, b->refs.len);
    cn_buf_append(&s, b->type, b->nnodes);
    const cn_buf_t *cols[] = {&b->mode, &b->uid, &b->gid, &b->size, &b->mtime, &b->targets};
    for (size_t i = 0; i < CN_ARRAY_LEN(cols); i++) cn_buf_append(&s, cols[i]->data, cols[i]->len);
    resolve_all(b, &s);

    cn_buf_append(out, CN_PT_MAGIC, 4);
    cn_buf_putc(out, CN_PT_VERSION);
    cn_buf_put_varint(out, b->root.len);
    cn_buf_append(out, b->root.data, b->root.len);
    cn_buf_put_varint(out, b->nnodes);
    cn_buf_put_varint(out, b->ncomp);
    int rc = put_frame(&a, out, names_bytes);
    if (rc == 0) rc = put_frame(&s, out, stat_bytes);
    cn_buf_free(&a);
    cn_buf_free(&s);
    return rc;
}
