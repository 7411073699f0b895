/* git.c: canopy's libgit2 1.5 handle (with git_mirror.c, the only files that
   include git2.h): opening, refs, commits, trees, blobs and walks for the
   download job (see git.h). Errors from
   libgit2 become CN_E* codes with libgit2's message (which names the object or
   the URL) as the detail. One cn_git_t per thread at a time. */
#include "git.h"
#include "git_int.h"

#include "errors.h"
#include "pack.h"
#include "util.h"

#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cn_git {
    git_repository *repo;
    git_odb *odb;
    /* Raw trees are read from the packs by our own reader (pack.h) first: no
       lock shared with other threads, one zlib stream per reader. Opened on
       first use (a mirror is fetched before it is opened). */
    cn_packs_t *packs;
    cn_pack_reader_t *reader;
    bool no_packs;
};

_Static_assert(sizeof(git_oid) == sizeof(cn_oid_t), "git_oid is 20 bytes in libgit2 1.5");

#define GOID(o) ((const git_oid *)(const void *)(o))
#define COID(o) ((const cn_oid_t *)(const void *)(o))

/* libgit2 1.5's git_regexp_match returns without freeing its pcre2 match data
   when nothing matches (fixed upstream later): every fetch leaks a little inside
   libpcre2. Tell LeakSanitizer (used only by ASan builds) so tests stay honest
   about our own leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libpcre2-8.so\n";
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libgit2(void) {
    git_libgit2_init();
    /* Packed trees are read by pack.c; a loose one is read again by the next
       commit's diff through libgit2's cache. */
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(512 << 20));
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, (size_t)0);
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)(1 << 20));
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT, (size_t)(1 << 20));
    /* Objects written by fetch are checked by the indexer; a mirror's own
       writes need no fsync per object (a lost mirror is re-cloned). */
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
    /* libgit2 re-hashes every object it reads (SHA-1 with collision detection):
       39% of the download's instructions under callgrind. git itself never
       does on read (log, cat-file); received packs are hashed by the indexer,
       and a damaged object on disk still fails zlib's checksum on inflate. */
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
}

void cn_git_init(void) {
    pthread_once(&init_once, init_libgit2);
}

int cn_git_fail(int code, const char *what) {
    const git_error *e = git_error_last();
    const char *msg = e && e->message ? e->message : "unknown libgit2 error";
    return cn_err(code, "%s: %s", what, msg);
}

int cn_git_open(const char *dir, cn_git_t **out) {
    cn_git_init();
    *out = NULL;
    cn_git_t *g = cn_xcalloc(1, sizeof *g);
    if (git_repository_open_ext(&g->repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
        free(g);
        return cn_git_fail(CN_EGIT, "not a git repository");
    }
    if (git_repository_odb(&g->odb, g->repo) < 0) {
        git_repository_free(g->repo);
        free(g);
        return cn_git_fail(CN_EGIT, "cannot open the object database");
    }
    *out = g;
    return 0;
}

/* Bytes of resolved trees (and their delta bases) each handle keeps. */
#define PACK_CACHE_BYTES (64u << 20)

/* The handle's packs, or NULL when they cannot be read (libgit2 then reads
   everything). */
static cn_packs_t *packs_of(cn_git_t *g) {
    if (g->packs || g->no_packs) return g->packs;
    char *objects = cn_path_join(git_repository_path(g->repo), "objects");
    if (cn_packs_open(objects, &g->packs) < 0) {
        cn_err_clear();
        g->no_packs = true;
    }
    free(objects);
    return g->packs;
}

static cn_pack_reader_t *reader_of(cn_git_t *g) {
    if (!g->reader && packs_of(g)) g->reader = cn_pack_reader_new(g->packs, PACK_CACHE_BYTES);
    return g->reader;
}

int cn_git_open_sibling(cn_git_t *g, cn_git_t **out) {
    int rc = cn_git_open(git_repository_path(g->repo), out);
    if (rc < 0) return rc;
    if (packs_of(g)) (*out)->packs = cn_packs_ref(g->packs);
    (*out)->no_packs = g->no_packs;
    return 0;
}

void cn_git_close(cn_git_t **self_p) {
    cn_git_t *g = *self_p;
    if (!g) return;
    cn_pack_reader_free(&g->reader);
    cn_packs_unref(&g->packs);
    git_odb_free(g->odb);
    git_repository_free(g->repo);
    free(g);
    *self_p = NULL;
}

/* ---- refs ---- */

static int cmp_ref(const void *a, const void *b) {
    return strcmp(((const cn_git_ref_t *)a)->name, ((const cn_git_ref_t *)b)->name);
}

static enum cn_git_type map_type(git_object_t t) {
    switch (t) {
    case GIT_OBJECT_COMMIT:
        return CN_GOBJ_COMMIT;
    case GIT_OBJECT_TREE:
        return CN_GOBJ_TREE;
    case GIT_OBJECT_BLOB:
        return CN_GOBJ_BLOB;
    case GIT_OBJECT_TAG:
        return CN_GOBJ_TAG;
    default:
        return CN_GOBJ_OTHER;
    }
}

/* Peels a target through annotated tags (bounded: tag chains can loop in a
   corrupt repository). */
static void peel(cn_git_t *g, cn_git_ref_t *r) {
    git_oid cur = *GOID(&r->target);
    r->peeled_type = CN_GOBJ_OTHER;
    for (int depth = 0; depth < 16; depth++) {
        git_object *obj = NULL;
        if (git_object_lookup(&obj, g->repo, &cur, GIT_OBJECT_ANY) < 0) return;
        git_object_t t = git_object_type(obj);
        if (t != GIT_OBJECT_TAG) {
            memcpy(&r->peeled, &cur, CN_OID_LEN);
            r->peeled_type = map_type(t);
            git_object_free(obj);
            return;
        }
        cur = *git_tag_target_id((git_tag *)obj);
        git_object_free(obj);
    }
}

int cn_git_refs(cn_git_t *g, cn_git_ref_t **out, size_t *n) {
    git_reference_iterator *it = NULL;
    *out = NULL;
    *n = 0;
    if (git_reference_iterator_glob_new(&it, g->repo, "refs/*") < 0)
        return cn_git_fail(CN_EGIT, "cannot list refs");
    size_t cap = 16, len = 0;
    cn_git_ref_t *refs = cn_xcalloc(cap, sizeof *refs);
    git_reference *ref = NULL;
    int grc;
    while ((grc = git_reference_next(&ref, it)) == 0) {
        const char *name = git_reference_name(ref);
        bool wanted = strncmp(name, "refs/heads/", 11) == 0 || strncmp(name, "refs/tags/", 10) == 0;
        if (wanted && git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
            if (len == cap) {
                refs = cn_xrealloc(refs, 2 * cap * sizeof *refs);
                memset(refs + cap, 0, cap * sizeof *refs);
                cap *= 2;
            }
            cn_git_ref_t *r = &refs[len++];
            r->name = cn_xstrdup(name);
            memcpy(&r->target, git_reference_target(ref), CN_OID_LEN);
            peel(g, r);
        }
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
    if (grc != GIT_ITEROVER) {
        cn_git_refs_free(refs, len);
        return cn_git_fail(CN_EGIT, "cannot list refs");
    }
    qsort(refs, len, sizeof *refs, cmp_ref);
    *out = refs;
    *n = len;
    return 0;
}

void cn_git_refs_free(cn_git_ref_t *refs, size_t n) {
    if (!refs) return;
    for (size_t i = 0; i < n; i++) free(refs[i].name);
    free(refs);
}

/* ---- trees ---- */

static void oid_hex(const cn_oid_t *oid, char out[CN_OID_HEX]) {
    cn_hex(oid->id, CN_OID_LEN, out);
}

static int object_fail(const char *what, const cn_oid_t *oid) {
    char hex[CN_OID_HEX];
    oid_hex(oid, hex);
    const git_error *e = git_error_last();
    return cn_err(CN_ECORRUPT, "%s %s is missing or corrupt: %s", what, hex,
                  e && e->message ? e->message : "unknown libgit2 error");
}

/* A raw tree from our pack reader (cached there) is marked by its low bit.
   One libgit2 read (a loose tree) hands out the odb object itself, which
   libgit2 caches (raw trees count against the tree cache limit set in
   init_libgit2). */
#define RAW_PACKED ((uintptr_t)1)

static int not_a_tree(const cn_oid_t *oid) {
    char hex[CN_OID_HEX];
    oid_hex(oid, hex);
    return cn_err(CN_ECORRUPT, "object %s is not a tree", hex);
}

int cn_git_tree_raw(cn_git_t *g, const cn_oid_t *oid, cn_git_raw_t **out, const uint8_t **data, size_t *len) {
    cn_pack_reader_t *r = reader_of(g);
    cn_pack_obj_t *po = NULL;
    int rc = r ? cn_pack_read(r, oid->id, &po) : CN_ENOTFOUND;
    if (rc == 0) {
        if (cn_pack_obj_type(po) != CN_PACK_TREE) {
            cn_pack_obj_release(po);
            return not_a_tree(oid);
        }
        *data = cn_pack_obj_data(po);
        *len = cn_pack_obj_size(po);
        *out = (cn_git_raw_t *)((uintptr_t)po | RAW_PACKED);
        return 0;
    }
    if (rc != CN_ENOTFOUND) return rc;
    git_odb_object *o = NULL;
    if (git_odb_read(&o, g->odb, GOID(oid)) < 0) return object_fail("tree", oid);
    if (git_odb_object_type(o) != GIT_OBJECT_TREE) {
        git_odb_object_free(o);
        return not_a_tree(oid);
    }
    *data = git_odb_object_data(o);
    *len = git_odb_object_size(o);
    *out = (cn_git_raw_t *)(void *)o;
    return 0;
}

void cn_git_raw_free(cn_git_raw_t *r) {
    if ((uintptr_t)r & RAW_PACKED)
        cn_pack_obj_release((cn_pack_obj_t *)((uintptr_t)r & ~RAW_PACKED));
    else
        git_odb_object_free((git_odb_object *)(void *)r);
}

/* ---- commits ---- */

int cn_git_commit_get(cn_git_t *g, const cn_oid_t *oid, cn_git_commit_t **out) {
    git_commit *c = NULL;
    if (git_commit_lookup(&c, g->repo, GOID(oid)) < 0) return object_fail("commit", oid);
    *out = (cn_git_commit_t *)(void *)c;
    return 0;
}

#define GC(c) ((const git_commit *)(const void *)(c))

const cn_oid_t *cn_git_commit_tree(const cn_git_commit_t *c) {
    return COID(git_commit_tree_id(GC(c)));
}

size_t cn_git_commit_nparents(const cn_git_commit_t *c) {
    return git_commit_parentcount(GC(c));
}

const cn_oid_t *cn_git_commit_parent(const cn_git_commit_t *c, size_t i) {
    return COID(git_commit_parent_id(GC(c), (unsigned)i));
}

static void sig(const git_signature *s, cn_git_sig_t *out) {
    out->name = s && s->name ? s->name : "";
    out->email = s && s->email ? s->email : "";
    out->time = s ? (int64_t)s->when.time : 0;
    out->tz_offset_min = s ? s->when.offset : 0;
}

void cn_git_commit_author(const cn_git_commit_t *c, cn_git_sig_t *out) {
    sig(git_commit_author(GC(c)), out);
}

void cn_git_commit_committer(const cn_git_commit_t *c, cn_git_sig_t *out) {
    sig(git_commit_committer(GC(c)), out);
}

const char *cn_git_commit_message(const cn_git_commit_t *c, size_t *len) {
    const char *m = git_commit_message_raw(GC(c));
    if (!m) m = "";
    *len = strlen(m);
    return m;
}

void cn_git_commit_free(cn_git_commit_t *c) {
    git_commit_free((git_commit *)(void *)c);
}

/* ---- blobs ---- */

int cn_git_blob_size(cn_git_t *g, const cn_oid_t *oid, uint64_t *size) {
    size_t len;
    git_object_t type;
    if (git_odb_read_header(&len, &type, g->odb, GOID(oid)) < 0) return object_fail("blob", oid);
    if (type != GIT_OBJECT_BLOB) {
        char hex[CN_OID_HEX];
        oid_hex(oid, hex);
        return cn_err(CN_ECORRUPT, "object %s is a %s, not a blob", hex, git_object_type2string(type));
    }
    *size = len;
    return 0;
}

int cn_git_blob_get(cn_git_t *g, const cn_oid_t *oid, cn_git_blob_t **out, const void **data, size_t *len) {
    git_odb_object *obj = NULL;
    if (git_odb_read(&obj, g->odb, GOID(oid)) < 0) return object_fail("blob", oid);
    if (git_odb_object_type(obj) != GIT_OBJECT_BLOB) {
        git_odb_object_free(obj);
        char hex[CN_OID_HEX];
        oid_hex(oid, hex);
        return cn_err(CN_ECORRUPT, "object %s is not a blob", hex);
    }
    *data = git_odb_object_data(obj);
    *len = git_odb_object_size(obj);
    *out = (cn_git_blob_t *)(void *)obj;
    return 0;
}

void cn_git_blob_free(cn_git_blob_t *b) {
    git_odb_object_free((git_odb_object *)(void *)b);
}

bool cn_git_has(cn_git_t *g, const cn_oid_t *oid) {
    return git_odb_exists(g->odb, GOID(oid)) == 1;
}

/* ---- walk ---- */

struct cn_git_walk {
    git_revwalk *w;
};

int cn_git_walk_new(cn_git_t *g, const cn_oid_t *push, size_t npush, const cn_oid_t *hide, size_t nhide,
                    cn_git_walk_t **out) {
    git_revwalk *w = NULL;
    *out = NULL;
    if (git_revwalk_new(&w, g->repo) < 0) return cn_git_fail(CN_EGIT, "cannot start a walk");
    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
    for (size_t i = 0; i < npush; i++) {
        if (git_revwalk_push(w, GOID(&push[i])) < 0) {
            git_revwalk_free(w);
            return object_fail("commit", &push[i]);
        }
    }
    for (size_t i = 0; i < nhide; i++) {
        if (!cn_git_has(g, &hide[i])) continue; /* gone from the mirror: walk more, not less */
        if (git_revwalk_hide(w, GOID(&hide[i])) < 0) git_error_clear();
    }
    cn_git_walk_t *cw = cn_xmalloc(sizeof *cw);
    cw->w = w;
    *out = cw;
    return 0;
}

int cn_git_walk_next(cn_git_walk_t *w, cn_oid_t *oid) {
    int grc = git_revwalk_next((git_oid *)(void *)oid, w->w);
    if (grc == 0) return 1;
    if (grc == GIT_ITEROVER) return 0;
    return cn_git_fail(CN_ECORRUPT, "the history walk failed (a commit is missing or corrupt)");
}

void cn_git_walk_free(cn_git_walk_t *w) {
    if (!w) return;
    git_revwalk_free(w->w);
    free(w);
}
