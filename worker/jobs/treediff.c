/* treediff.c: changed paths between two trees (see treediff.h). Entries of both
   trees are merged in git's order (a tree named "a" sorts as "a/"); equal
   subtree oids are skipped without being read. Path bytes are kept exactly. */
#include "treediff.h"

#include "errors.h"
#include "rawtree.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    cn_git_t *g;
    cn_tdiff_cb cb;
    void *arg;
    cn_buf_t path;
} tdiff_t;

static bool is_tree(uint32_t mode) {
    return (mode & 0170000u) == 0040000u;
}

/* git's base_name_compare: names compare as bytes, a tree as if followed by '/'. */
static int entry_cmp(const cn_git_entry_t *a, const cn_git_entry_t *b) {
    size_t n = CN_MIN(a->name_len, b->name_len);
    int c = memcmp(a->name, b->name, n);
    if (c) return c;
    unsigned ca = a->name_len > n ? (unsigned char)a->name[n] : (is_tree(a->mode) ? '/' : 0);
    unsigned cb = b->name_len > n ? (unsigned char)b->name[n] : (is_tree(b->mode) ? '/' : 0);
    return (int)ca - (int)cb;
}

static int walk(tdiff_t *d, const cn_oid_t *old_tree, const cn_oid_t *new_tree, int depth);

/* old_oid: the leaf e replaces (same name, both leaves), or NULL. */
static int emit(tdiff_t *d, const cn_git_entry_t *e, const cn_oid_t *old_oid, bool deleted) {
    size_t base = d->path.len;
    cn_buf_append(&d->path, e->name, e->name_len);
    cn_tdiff_change_t c = {
        .path = d->path.data,
        .path_len = d->path.len,
        .oid = deleted ? NULL : e->oid,
        .old_oid = old_oid,
        .mode = e->mode,
        .deleted = deleted,
    };
    int rc = d->cb(d->arg, &c);
    d->path.len = base;
    return rc;
}

/* One side only: every leaf under e is added (old == NULL) or deleted. */
static int one_side(tdiff_t *d, const cn_git_entry_t *e, bool deleted, int depth) {
    if (!is_tree(e->mode)) return emit(d, e, NULL, deleted);
    size_t base = d->path.len;
    cn_buf_append(&d->path, e->name, e->name_len);
    cn_buf_putc(&d->path, '/');
    int rc = deleted ? walk(d, e->oid, NULL, depth + 1) : walk(d, NULL, e->oid, depth + 1);
    d->path.len = base;
    return rc;
}

static int both_sides(tdiff_t *d, const cn_git_entry_t *o, const cn_git_entry_t *n, int depth) {
    if (memcmp(o->oid->id, n->oid->id, CN_OID_LEN) == 0 && o->mode == n->mode) return 0;
    if (!is_tree(n->mode)) return emit(d, n, o->oid, false); /* both leaves (same sort key) */
    size_t base = d->path.len;
    cn_buf_append(&d->path, n->name, n->name_len);
    cn_buf_putc(&d->path, '/');
    int rc = walk(d, o->oid, n->oid, depth + 1);
    d->path.len = base;
    return rc;
}

/* Both trees are read straight from their raw bytes (rawtree.h): no entry
   array is built and no name is measured with strlen. A commit changes few
   entries of a big directory: the entries before the first byte that differs
   and after the last one are equal on both sides and skipped unparsed. */
static int merge(tdiff_t *d, const uint8_t *od, size_t olen, const uint8_t *nd, size_t nlen, int depth) {
    size_t skip = cn_rawtree_common(od, olen, nd, nlen);
    size_t tail = od && nd ? cn_rawtree_common_tail(od + skip, olen - skip, nd + skip, nlen - skip) : 0;
    cn_rawtree_t oi, ni;
    cn_rawtree_init(&oi, od ? od + skip : NULL, olen - skip);
    cn_rawtree_init(&ni, nd ? nd + skip : NULL, nlen - skip);
    cn_git_entry_t o, n;
    const uint8_t *os = oi.p, *ns = ni.p; /* where o and n start */
    int ro = cn_rawtree_next(&oi, &o), rn = cn_rawtree_next(&ni, &n);
    int rc = 0;
    while (rc == 0 && ro >= 0 && rn >= 0 && (ro > 0 || rn > 0)) {
        size_t oleft = (size_t)(oi.end - os);
        if (ro > 0 && rn > 0 && oleft == (size_t)(ni.end - ns) && oleft <= tail)
            break; /* the rest is equal */
        int c = ro == 0 ? 1 : rn == 0 ? -1 : entry_cmp(&o, &n);
        if (c <= 0)
            rc = c < 0 ? one_side(d, &o, true, depth) : both_sides(d, &o, &n, depth);
        else
            rc = one_side(d, &n, false, depth);
        if (c <= 0) os = oi.p, ro = cn_rawtree_next(&oi, &o);
        if (c >= 0) ns = ni.p, rn = cn_rawtree_next(&ni, &n);
    }
    if (rc == 0 && (ro < 0 || rn < 0)) {
        char why[256]; /* cn_err's detail is the buffer cn_err writes into */
        snprintf(why, sizeof why, "%s", cn_err_detail());
        rc = cn_err(CN_ECORRUPT, "%s (in the tree at \"%.200s\")", why, cn_buf_cstr(&d->path));
    }
    return rc;
}

static int walk(tdiff_t *d, const cn_oid_t *old_tree, const cn_oid_t *new_tree, int depth) {
    if (depth > CN_TDIFF_MAX_DEPTH)
        return cn_err(CN_ECORRUPT, "trees nested deeper than %d levels at %.200s", CN_TDIFF_MAX_DEPTH,
                      cn_buf_cstr(&d->path));
    cn_git_raw_t *ot = NULL, *nt = NULL;
    const uint8_t *od = NULL, *nd = NULL;
    size_t olen = 0, nlen = 0;
    int rc = 0;
    if (old_tree && (rc = cn_git_tree_raw(d->g, old_tree, &ot, &od, &olen)) < 0) return rc;
    if (new_tree && (rc = cn_git_tree_raw(d->g, new_tree, &nt, &nd, &nlen)) < 0) goto free_old;
    rc = merge(d, od, olen, nd, nlen, depth);
    cn_git_raw_free(nt);
free_old:
    cn_git_raw_free(ot);
    return rc;
}

int cn_treediff(cn_git_t *g, const cn_oid_t *old_tree, const cn_oid_t *new_tree, cn_tdiff_cb cb, void *arg) {
    if (old_tree && new_tree && memcmp(old_tree->id, new_tree->id, CN_OID_LEN) == 0) return 0;
    tdiff_t d = {.g = g, .cb = cb, .arg = arg};
    cn_buf_reserve(&d.path, 256);
    int rc = walk(&d, old_tree, new_tree, 0);
    cn_buf_free(&d.path);
    return rc;
}
