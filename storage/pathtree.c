/* pathtree.c: decodes a serialised path tree (format: pathtree_build.c) and
   answers lookups, listings, name searches and diffs on it. The decoder reads
   stored bytes and trusts none of them: every count, reference, name and order
   is checked before use (tests/fuzz/fuzz_pathtree.c). A tree is read-only once
   decoded and may be shared by threads. */
#include "pathtree.h"

#include "compress.h"
#include "errors.h"
#include "wire.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

struct cn_ptree {
    cn_buf_t root;
    uint32_t n, ncomp;
    uint8_t *names;     /* each component followed by NUL */
    uint32_t *comp_off; /* ncomp + 1 */
    uint32_t *parent, *comp, *cstart, *kids, *end, *sym;
    uint8_t *type;
    uint32_t *mode, *uid, *gid;
    uint64_t *size;
    int64_t *mtime;
    uint32_t nsym;
    uint32_t *toff, *link; /* per symlink: target offset into targets, resolution */
    uint8_t *targets;
};

#define BAD(...) cn_err(CN_ECORRUPT, "path tree: " __VA_ARGS__)

typedef struct {
    const uint8_t *p, *end;
} rd_t;

static bool rd_var(rd_t *r, uint64_t *v) {
    return cn_get_varint(&r->p, r->end, v);
}

static bool rd_var32(rd_t *r, uint32_t *v) {
    uint64_t x;
    if (!rd_var(r, &x) || x > UINT32_MAX) return false;
    *v = (uint32_t)x;
    return true;
}

void cn_ptree_destroy(cn_ptree_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_ptree_t *t = *self_p;
    cn_buf_free(&t->root);
    void *ps[] = {t->names, t->comp_off, t->parent, t->comp, t->cstart, t->kids, t->end,  t->sym,    t->type,
                  t->mode,  t->uid,      t->gid,    t->size, t->mtime,  t->toff, t->link, t->targets};
    for (size_t i = 0; i < CN_ARRAY_LEN(ps); i++) free(ps[i]);
    free(t);
    *self_p = NULL;
}

static int name_cmp(const cn_ptree_t *t, uint32_t ca, const uint8_t *s, size_t len) {
    size_t l = t->comp_off[ca + 1] - t->comp_off[ca] - 1;
    return cn_bytes_cmp(t->names + t->comp_off[ca], l, s, len);
}

static int decode_names(cn_ptree_t *t, rd_t *r) {
    /* each component costs at least two bytes (a length and a NUL): bounds the allocation */
    if (t->ncomp > (size_t)(r->end - r->p) / 2) return BAD("more components than bytes");
    t->comp_off = cn_xmalloc(((size_t)t->ncomp + 1) * sizeof *t->comp_off);
    uint32_t *shared = cn_xmalloc(((size_t)t->ncomp + 1) * sizeof *shared);
    int rc = 0;
    for (uint32_t id = 0; id < t->ncomp && rc == 0; id++)
        if (!rd_var32(r, &shared[id]) || shared[id] > CN_PT_NAME_MAX) rc = BAD("bad shared prefix length");
    cn_buf_t names = {0};
    size_t plen = 0, pstart = 0;
    for (uint32_t id = 0; id < t->ncomp && rc == 0; id++) {
        const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
        size_t sl = nul ? (size_t)(nul - r->p) : 0;
        size_t nl = shared[id] + sl;
        if (!nul) {
            rc = BAD("truncated component table");
        } else if (shared[id] > plen || nl == 0 || nl > CN_PT_NAME_MAX) {
            rc = BAD("bad component length");
        } else if (memchr(r->p, '/', sl)) {
            rc = BAD("'/' in a name");
        } else {
            t->comp_off[id] = (uint32_t)names.len;
            cn_buf_reserve(&names, nl + 1);
            memmove(names.data + names.len, names.data + pstart, shared[id]);
            memcpy(names.data + names.len + shared[id], r->p, sl);
            const uint8_t *nm = names.data + names.len;
            if ((nl == 1 && nm[0] == '.') || (nl == 2 && nm[0] == '.' && nm[1] == '.'))
                rc = BAD("'.' or '..' as a name");
            r->p += sl + 1;
            pstart = names.len;
            plen = nl;
            names.len += nl;
            names.data[names.len++] = 0;
            if (names.len > (3u << 30)) rc = BAD("names too large");
        }
    }
    free(shared);
    t->comp_off[t->ncomp] = (uint32_t)names.len;
    t->names = names.data ? names.data : cn_xcalloc(1, 1);
    return rc;
}

/* Node structure: pops then component references, checking depth and order. */
static int decode_nodes(cn_ptree_t *t, rd_t *r) {
    uint32_t n = t->n;
    t->parent = cn_xmalloc((size_t)n * sizeof *t->parent);
    t->comp = cn_xmalloc((size_t)n * sizeof *t->comp);
    uint32_t *stack = cn_xmalloc((size_t)n * sizeof *stack);
    uint32_t *last = cn_xmalloc((size_t)n * sizeof *last); /* last child seen per node */
    int rc = 0;
    uint32_t depth = 0;
    stack[0] = 0;
    t->parent[0] = 0;
    t->comp[0] = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) last[i] = UINT32_MAX;
    for (uint32_t i = 1; i < n && rc == 0; i++) {
        uint32_t pops;
        if (!rd_var32(r, &pops) || pops > depth) {
            rc = BAD("bad depth at node %u", i);
            break;
        }
        depth = depth + 1 - pops;
        t->parent[i] = stack[depth - 1];
        stack[depth] = i;
    }
    uint32_t next_new = 0;
    for (uint32_t i = 1; i < n && rc == 0; i++) {
        uint32_t ref;
        if (!rd_var32(r, &ref)) {
            rc = BAD("truncated component references");
        } else if (ref == 0) {
            if (next_new >= t->ncomp)
                rc = BAD("more new names than components");
            else
                t->comp[i] = next_new++;
        } else if (ref - 1 >= next_new) {
            rc = BAD("reference to an unseen component at node %u", i);
        } else {
            t->comp[i] = ref - 1;
        }
        if (rc) break;
        uint32_t p = t->parent[i], prev = last[p];
        if (prev != UINT32_MAX) {
            uint32_t cp = t->comp[prev];
            size_t l = t->comp_off[cp + 1] - t->comp_off[cp] - 1;
            if (name_cmp(t, t->comp[i], t->names + t->comp_off[cp], l) <= 0)
                rc = BAD("siblings out of order or repeated at node %u", i);
        }
        last[p] = i;
    }
    if (rc == 0 && next_new != t->ncomp) rc = BAD("unused components");
    if (rc == 0 && r->p != r->end) rc = BAD("trailing bytes after the tree");
    free(stack);
    free(last);
    return rc;
}

/* Children arrays and subtree ends (pre-order: a subtree is an index range). */
static void index_children(cn_ptree_t *t) {
    uint32_t n = t->n;
    t->cstart = cn_xcalloc((size_t)n + 1, sizeof *t->cstart);
    t->kids = cn_xmalloc((size_t)(n ? n : 1) * sizeof *t->kids);
    t->end = cn_xmalloc((size_t)n * sizeof *t->end);
    for (uint32_t i = 1; i < n; i++) t->cstart[t->parent[i] + 1]++;
    for (uint32_t i = 0; i < n; i++) t->cstart[i + 1] += t->cstart[i];
    uint32_t *fill = cn_xmemdup(t->cstart, (size_t)n * sizeof *fill);
    for (uint32_t i = 1; i < n; i++) t->kids[fill[t->parent[i]]++] = i;
    free(fill);
    for (uint32_t i = n; i-- > 0;) {
        uint32_t a = t->cstart[i], b = t->cstart[i + 1];
        t->end[i] = a == b ? i + 1 : t->end[t->kids[b - 1]];
    }
}

static int decode_stat(cn_ptree_t *t, rd_t *r) {
    uint32_t n = t->n;
    if ((size_t)(r->end - r->p) < (size_t)n * 6) return BAD("stat part too short");
    t->type = cn_xmemdup(r->p, n);
    r->p += n;
    if (t->type[0] != CN_PT_DIR) return BAD("the root is not a directory");
    for (uint32_t i = 0; i < n; i++) {
        if (t->type[i] > CN_PT_TYPE_MAX_) return BAD("bad type at node %u", i);
        if (i && t->type[t->parent[i]] != CN_PT_DIR) return BAD("node %u under a non-directory", i);
        if (t->type[i] == CN_PT_SYMLINK) t->nsym++;
    }
    t->mode = cn_xmalloc((size_t)n * sizeof *t->mode);
    t->uid = cn_xmalloc((size_t)n * sizeof *t->uid);
    t->gid = cn_xmalloc((size_t)n * sizeof *t->gid);
    t->size = cn_xmalloc((size_t)n * sizeof *t->size);
    t->mtime = cn_xmalloc((size_t)n * sizeof *t->mtime);
    uint32_t *cols[] = {t->mode, t->uid, t->gid};
    for (size_t c = 0; c < 3; c++)
        for (uint32_t i = 0; i < n; i++)
            if (!rd_var32(r, &cols[c][i])) return BAD("truncated stat column");
    for (uint32_t i = 0; i < n; i++)
        if (!rd_var(r, &t->size[i])) return BAD("truncated sizes");
    uint64_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t z;
        if (!rd_var(r, &z)) return BAD("truncated mtimes");
        m += (z >> 1) ^ (0 - (z & 1)); /* unsigned arithmetic: wraps, never UB */
        t->mtime[i] = (int64_t)m;
    }
    t->sym = cn_xmalloc((size_t)n * sizeof *t->sym);
    t->toff = cn_xmalloc(((size_t)t->nsym + 1) * sizeof *t->toff);
    t->link = cn_xmalloc(((size_t)t->nsym + 1) * sizeof *t->link);
    const uint8_t *tbase = r->p;
    uint32_t s = 0;
    for (uint32_t i = 0; i < n; i++) {
        t->sym[i] = UINT32_MAX;
        if (t->type[i] != CN_PT_SYMLINK) continue;
        uint64_t tl;
        t->sym[i] = s;
        t->toff[s++] = (uint32_t)(r->p - tbase);
        if (!rd_var(r, &tl) || tl > CN_PT_TARGET_MAX || tl > (uint64_t)(r->end - r->p))
            return BAD("bad symlink target");
        r->p += tl;
    }
    size_t tbytes = (size_t)(r->p - tbase);
    t->targets = cn_xmalloc(tbytes + 1);
    if (tbytes) memcpy(t->targets, tbase, tbytes);
    for (s = 0; s < t->nsym; s++) {
        uint64_t v;
        if (!rd_var(r, &v) || v > (uint64_t)n + 1) return BAD("bad symlink resolution");
        t->link[s] = v == 0 ? CN_PT_LINK_BROKEN : v == 1 ? CN_PT_LINK_OUTSIDE : (uint32_t)(v - 2);
    }
    if (r->p != r->end) return BAD("trailing bytes after the stat part");
    return 0;
}

static int read_frame(rd_t *r, size_t max, cn_buf_t *out) {
    uint64_t zl;
    if (!rd_var(r, &zl) || zl > (uint64_t)(r->end - r->p)) return BAD("truncated frame");
    int rc = cn_zstd_decompress(r->p, (size_t)zl, max, out);
    if (rc) return rc == CN_ETOOBIG ? rc : BAD("bad zstd frame: %s", cn_err_detail());
    r->p += zl;
    return 0;
}

int cn_ptree_decode(const void *data, size_t len, uint32_t max_nodes, cn_ptree_t **out) {
    *out = NULL;
    if (max_nodes == 0) max_nodes = 1u << 28;
    rd_t r = {data, (const uint8_t *)data + len};
    uint64_t rl = 0, n = 0, nc = 0;
    if (len < 5 || memcmp(data, CN_PT_MAGIC, 4) != 0) return BAD("not a path tree");
    if (((const uint8_t *)data)[4] != CN_PT_VERSION) return cn_err(CN_EVERSION, "path tree: unknown version");
    r.p += 5;
    if (!rd_var(&r, &rl) || rl > (uint64_t)(r.end - r.p) || rl > 65536) return BAD("bad root");
    cn_ptree_t *t = cn_xcalloc(1, sizeof *t);
    cn_buf_append(&t->root, r.p, (size_t)rl);
    r.p += rl;
    cn_buf_t a = {0}, s = {0};
    int rc = 0;
    if (!rd_var(&r, &n) || !rd_var(&r, &nc) || n == 0 || n > max_nodes || nc >= n) rc = BAD("bad counts");
    if (rc == 0) rc = read_frame(&r, CN_RECORD_MAX, &a);
    if (rc == 0) rc = read_frame(&r, CN_RECORD_MAX, &s);
    if (rc == 0 && r.p != r.end) rc = BAD("trailing bytes");
    t->n = (uint32_t)n;
    t->ncomp = (uint32_t)nc;
    /* every node but the root costs two bytes in part A and six in part B */
    if (rc == 0 && (n - 1 > a.len / 2 || n > s.len / 6 + 1)) rc = BAD("more nodes than bytes");
    /* An empty buffer has no data pointer: NULL + 0 is undefined behaviour. */
    rd_t ra = {a.data, a.data ? a.data + a.len : NULL}, rs = {s.data, s.data ? s.data + s.len : NULL};
    if (rc == 0) rc = decode_names(t, &ra);
    if (rc == 0) rc = decode_nodes(t, &ra);
    if (rc == 0) rc = decode_stat(t, &rs);
    cn_buf_free(&a);
    cn_buf_free(&s);
    if (rc) {
        cn_ptree_destroy(&t);
        return rc;
    }
    index_children(t);
    *out = t;
    return 0;
}

uint32_t cn_ptree_count(const cn_ptree_t *t) {
    return t->n;
}

const uint8_t *cn_ptree_root(const cn_ptree_t *t, size_t *len) {
    *len = t->root.len;
    return t->root.data ? t->root.data : (const uint8_t *)"";
}

uint32_t cn_ptree_parent(const cn_ptree_t *t, uint32_t node) {
    return t->parent[node];
}

const uint8_t *cn_ptree_name(const cn_ptree_t *t, uint32_t node, size_t *len) {
    if (node == 0) {
        *len = 0;
        return (const uint8_t *)"";
    }
    uint32_t c = t->comp[node];
    *len = t->comp_off[c + 1] - t->comp_off[c] - 1;
    return t->names + t->comp_off[c];
}

void cn_ptree_stat(const cn_ptree_t *t, uint32_t node, cn_pstat_t *st) {
    st->type = t->type[node];
    st->mode = t->mode[node];
    st->uid = t->uid[node];
    st->gid = t->gid[node];
    st->size = t->size[node];
    st->mtime_ns = t->mtime[node];
}

const uint8_t *cn_ptree_target(const cn_ptree_t *t, uint32_t node, size_t *len) {
    uint32_t s = t->sym[node];
    *len = 0;
    if (s == UINT32_MAX) return NULL;
    rd_t r = {t->targets + t->toff[s], t->targets + t->toff[s] + 10};
    uint64_t tl = 0;
    cn_get_varint(&r.p, r.end, &tl);
    *len = (size_t)tl;
    return r.p;
}

uint32_t cn_ptree_link(const cn_ptree_t *t, uint32_t node) {
    uint32_t s = t->sym[node];
    return s == UINT32_MAX ? CN_PT_LINK_BROKEN : t->link[s];
}

const uint32_t *cn_ptree_children(const cn_ptree_t *t, uint32_t node, uint32_t *n) {
    *n = t->cstart[node + 1] - t->cstart[node];
    return t->kids + t->cstart[node];
}

uint32_t cn_ptree_child(const cn_ptree_t *t, uint32_t node, const uint8_t *name, size_t len) {
    uint32_t lo = t->cstart[node], hi = t->cstart[node + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(t, t->comp[t->kids[mid]], name, len);
        if (c == 0) return t->kids[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UINT32_MAX;
}

uint32_t cn_ptree_lookup(const cn_ptree_t *t, const uint8_t *path, size_t len) {
    uint32_t cur = 0;
    size_t i = 0;
    while (i < len && cur != UINT32_MAX) {
        const uint8_t *slash = memchr(path + i, '/', len - i);
        size_t end = slash ? (size_t)(slash - path) : len;
        if (end > i && !(end - i == 1 && path[i] == '.')) cur = cn_ptree_child(t, cur, path + i, end - i);
        i = end + 1;
    }
    return cur;
}

void cn_ptree_path(const cn_ptree_t *t, uint32_t node, cn_buf_t *out) {
    size_t total = 0, depth = 0;
    for (uint32_t x = node; x != 0; x = t->parent[x]) {
        size_t l;
        cn_ptree_name(t, x, &l);
        total += l + 1;
        depth++;
    }
    if (depth == 0) return;
    total--;
    cn_buf_reserve(out, total);
    uint8_t *base = out->data + out->len;
    size_t pos = total;
    for (uint32_t x = node; x != 0; x = t->parent[x]) {
        size_t l;
        const uint8_t *nm = cn_ptree_name(t, x, &l);
        pos -= l;
        memcpy(base + pos, nm, l);
        if (pos) base[--pos] = '/';
    }
    out->len += total;
}

static bool has_glob(const char *p) {
    return strpbrk(p, "*?[\\") != NULL;
}

void cn_ptree_find(const cn_ptree_t *t, const char *pattern, bool (*cb)(void *arg, uint32_t node),
                   void *arg) {
    const char *slash = strrchr(pattern, '/');
    const char *last = slash ? slash + 1 : pattern;
    size_t ll = strlen(last);
    bool glob = has_glob(last);
    /* match the last part against each unique name once, then walk nodes */
    uint8_t *match = cn_xcalloc((size_t)t->ncomp + 1, 1);
    for (uint32_t c = 0; c < t->ncomp; c++) {
        const char *nm = (const char *)t->names + t->comp_off[c];
        size_t l = t->comp_off[c + 1] - t->comp_off[c] - 1;
        match[c] = glob ? fnmatch(last, nm, 0) == 0 : (l == ll && memcmp(nm, last, ll) == 0);
    }
    cn_buf_t path = {0};
    for (uint32_t i = 1; i < t->n; i++) {
        if (!match[t->comp[i]]) continue;
        if (slash) {
            cn_buf_reset(&path);
            cn_ptree_path(t, i, &path);
            const char *pat = pattern[0] == '/' ? pattern + 1 : pattern;
            if (fnmatch(pat, cn_buf_cstr(&path), FNM_PATHNAME) != 0) continue;
        }
        if (!cb(arg, i)) break;
    }
    cn_buf_free(&path);
    free(match);
}

static unsigned stat_diff(const cn_ptree_t *a, uint32_t na, const cn_ptree_t *b, uint32_t nb) {
    unsigned w = 0;
    if (a->type[na] != b->type[nb]) w |= CN_DIFF_TYPE;
    if (a->size[na] != b->size[nb] && a->type[na] != CN_PT_DIR) w |= CN_DIFF_SIZE;
    if (a->mode[na] != b->mode[nb]) w |= CN_DIFF_MODE;
    if (a->uid[na] != b->uid[nb] || a->gid[na] != b->gid[nb]) w |= CN_DIFF_OWNER;
    if (a->mtime[na] != b->mtime[nb]) w |= CN_DIFF_MTIME;
    size_t la, lb;
    const uint8_t *ta = cn_ptree_target(a, na, &la), *tb = cn_ptree_target(b, nb, &lb);
    if ((ta || tb) && (la != lb || (la && memcmp(ta, tb, la) != 0))) w |= CN_DIFF_TARGET;
    return w;
}

typedef struct {
    uint32_t na, nb; /* directories being merged */
    uint32_t ia, ib; /* positions in their child lists */
} diff_frame_t;

/* Emits a whole subtree (pre-order: an index range) as added or removed. */
static bool emit_range(const cn_ptree_t *t, uint32_t x, bool below, int kind, bool a_side,
                       bool (*cb)(void *, int, unsigned, uint32_t, uint32_t), void *arg) {
    for (uint32_t i = x + below; i < t->end[x]; i++)
        if (!cb(arg, kind, 0, a_side ? i : UINT32_MAX, a_side ? UINT32_MAX : i)) return false;
    return true;
}

void cn_ptree_diff(const cn_ptree_t *a, const cn_ptree_t *b,
                   bool (*cb)(void *arg, int kind, unsigned what, uint32_t na, uint32_t nb), void *arg) {
    size_t cap = 64, top = 0;
    diff_frame_t *st = cn_xmalloc(cap * sizeof *st);
    unsigned w0 = stat_diff(a, 0, b, 0);
    if (w0 && !cb(arg, CN_DIFF_CHANGED, w0, 0, 0)) goto out;
    st[top++] = (diff_frame_t){0, 0, a->cstart[0], b->cstart[0]};
    while (top) {
        diff_frame_t *f = &st[top - 1];
        uint32_t ea = a->cstart[f->na + 1], eb = b->cstart[f->nb + 1];
        if (f->ia == ea && f->ib == eb) {
            top--;
            continue;
        }
        uint32_t ca = f->ia < ea ? a->kids[f->ia] : UINT32_MAX;
        uint32_t cb_ = f->ib < eb ? b->kids[f->ib] : UINT32_MAX;
        int c;
        if (ca == UINT32_MAX)
            c = 1;
        else if (cb_ == UINT32_MAX)
            c = -1;
        else {
            size_t l;
            const uint8_t *nm = cn_ptree_name(b, cb_, &l);
            c = name_cmp(a, a->comp[ca], nm, l);
        }
        if (c < 0) {
            f->ia++;
            if (!emit_range(a, ca, false, CN_DIFF_REMOVED, true, cb, arg)) goto out;
        } else if (c > 0) {
            f->ib++;
            if (!emit_range(b, cb_, false, CN_DIFF_ADDED, false, cb, arg)) goto out;
        } else {
            f->ia++;
            f->ib++;
            unsigned w = stat_diff(a, ca, b, cb_);
            if (w && !cb(arg, CN_DIFF_CHANGED, w, ca, cb_)) goto out;
            if (a->type[ca] == CN_PT_DIR && b->type[cb_] == CN_PT_DIR) {
                if (top == cap) st = cn_xrealloc(st, (cap *= 2) * sizeof *st);
                st[top++] = (diff_frame_t){ca, cb_, a->cstart[ca], b->cstart[cb_]};
            } else if (a->type[ca] == CN_PT_DIR) { /* a directory became something else */
                if (!emit_range(a, ca, true, CN_DIFF_REMOVED, true, cb, arg)) goto out;
            } else if (b->type[cb_] == CN_PT_DIR) {
                if (!emit_range(b, cb_, true, CN_DIFF_ADDED, false, cb, arg)) goto out;
            }
        }
    }
out:
    free(st);
}
