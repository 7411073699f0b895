/* git.h: canopy's window onto libgit2 (git.c and git_mirror.c are the only
   files that include git2.h). Mirrors (clone or fetch of branches and tags into
   a bare cache), refs, commits, trees, blobs and a parents-first revision walk.
   Objects handed out are owned by the caller and freed with their _free. A
   cn_git_t is used by one thread at a time; different cn_git_t may be used on
   different threads. */
#ifndef CN_GIT_H
#define CN_GIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CN_OID_LEN 20
#define CN_OID_HEX (2 * CN_OID_LEN + 1)

typedef struct {
    uint8_t id[CN_OID_LEN];
} cn_oid_t;

typedef struct cn_git cn_git_t;

/* Initialises libgit2 once (object cache size, options); any thread, any time. */
void cn_git_init(void);

typedef struct {
    /* Polled during the transfer: return true to stop it (CN_ECANCELLED). */
    bool (*cancelled)(void *arg);
    /* Objects received / total and bytes received so far. */
    void (*progress)(void *arg, uint64_t done, uint64_t total, uint64_t bytes);
    void *arg;
    uint64_t timeout_ms; /* 0: none; past it the transfer stops with CN_ETIMEOUT */
} cn_git_fetch_opts_t;

/* Brings the bare mirror at dir up to date with url: branches and tags only
   (refs/heads/ and refs/tags/), pruned. Clones when dir does not exist; when a
   fetch into an existing mirror fails, removes it and clones again. Blocks on
   the network. Returns 0 with *out open on the mirror, or CN_EUNREACHABLE,
   CN_EGIT, CN_ETIMEOUT, CN_ECANCELLED with a detail. */
int cn_git_mirror(const char *dir, const char *url, const cn_git_fetch_opts_t *o, cn_git_t **out);
/* Opens an existing repository (bare or not). CN_EGIT if it is not one. */
int cn_git_open(const char *dir, cn_git_t **out);
void cn_git_close(cn_git_t **self_p);
/* Another handle on g's repository for another thread, sharing g's mapped
   packs (a handle's reads are its own: caches, zlib stream). */
int cn_git_open_sibling(cn_git_t *g, cn_git_t **out);
/* Closes *self_p on the process's reaper thread (git_reap.c) and sets it to
   NULL: freeing a walked repository's object cache takes tens of ms that a job
   need not wait for. Closes it on the spot when the reaper is behind. The
   caller must hold no object of it any more. */
void cn_git_close_later(cn_git_t **self_p);
/* Returns once every repository handed to cn_git_close_later is closed (called
   at exit too). */
void cn_git_reap_wait(void);

enum cn_git_type { CN_GOBJ_OTHER = 0, CN_GOBJ_COMMIT, CN_GOBJ_TREE, CN_GOBJ_BLOB, CN_GOBJ_TAG };

typedef struct {
    char *name;      /* "refs/heads/main" (bytes as stored) */
    cn_oid_t target; /* what the ref points at (a tag object for annotated tags) */
    cn_oid_t peeled; /* the object after peeling tags */
    enum cn_git_type peeled_type;
} cn_git_ref_t;

/* The repository's branches and tags, sorted by name. A ref that cannot be
   peeled (a missing object) is returned with peeled_type CN_GOBJ_OTHER. */
int cn_git_refs(cn_git_t *g, cn_git_ref_t **out, size_t *n);
void cn_git_refs_free(cn_git_ref_t *refs, size_t n);

/* ---- trees: an entry, as worker/jobs/rawtree.h reads them in git's order ---- */
typedef struct {
    const char *name;
    size_t name_len;
    uint32_t mode; /* as stored: 040000, 100644, 100755, 120000, 160000, ... */
    const cn_oid_t *oid;
} cn_git_entry_t;

/* The raw bytes of a tree object ("mode SP name NUL 20-byte-oid" entries, read
   with worker/jobs/rawtree.h) without libgit2 parsing them: the tree diff's fast
   path. *data and *len stay valid until cn_git_raw_free. CN_ECORRUPT when the
   object is missing or not a tree. Blocks on I/O. */
typedef struct cn_git_raw cn_git_raw_t;
int cn_git_tree_raw(cn_git_t *g, const cn_oid_t *oid, cn_git_raw_t **out, const uint8_t **data, size_t *len);
void cn_git_raw_free(cn_git_raw_t *r);

/* ---- commits ---- */
typedef struct cn_git_commit cn_git_commit_t;
typedef struct {
    const char *name, *email; /* NUL-terminated bytes as stored (not always UTF-8) */
    int64_t time;
    int32_t tz_offset_min;
} cn_git_sig_t;

int cn_git_commit_get(cn_git_t *g, const cn_oid_t *oid, cn_git_commit_t **out);
const cn_oid_t *cn_git_commit_tree(const cn_git_commit_t *c);
size_t cn_git_commit_nparents(const cn_git_commit_t *c);
const cn_oid_t *cn_git_commit_parent(const cn_git_commit_t *c, size_t i);
void cn_git_commit_author(const cn_git_commit_t *c, cn_git_sig_t *out);
void cn_git_commit_committer(const cn_git_commit_t *c, cn_git_sig_t *out);
/* The message bytes exactly as stored (after the headers). */
const char *cn_git_commit_message(const cn_git_commit_t *c, size_t *len);
void cn_git_commit_free(cn_git_commit_t *c);

/* ---- blobs ---- */
typedef struct cn_git_blob cn_git_blob_t;
/* The size of a blob without reading it. */
int cn_git_blob_size(cn_git_t *g, const cn_oid_t *oid, uint64_t *size);
/* Reads a blob; *data and *len stay valid until cn_git_blob_free. */
int cn_git_blob_get(cn_git_t *g, const cn_oid_t *oid, cn_git_blob_t **out, const void **data, size_t *len);
void cn_git_blob_free(cn_git_blob_t *b);

/* ---- revision walk: commits reachable from push and not from hide, parents
   before children. A hide oid that is missing is ignored. ---- */
typedef struct cn_git_walk cn_git_walk_t;
int cn_git_walk_new(cn_git_t *g, const cn_oid_t *push, size_t npush, const cn_oid_t *hide, size_t nhide,
                    cn_git_walk_t **out);
/* 1 with *oid, 0 at the end, or a negative CN_E* code. */
int cn_git_walk_next(cn_git_walk_t *w, cn_oid_t *oid);
void cn_git_walk_free(cn_git_walk_t *w);

/* True if oid names an object present in the repository. */
bool cn_git_has(cn_git_t *g, const cn_oid_t *oid);

#endif
