/* pathtree.h: a scan stored as a compressed path tree (DESIGN §5): a table of
   unique name components plus nodes (parent, component, type, stat) in
   depth-first order, built from sorted input with a prefix cache, serialised as
   two zstd frames (names+tree, then stat). Callers: the scan job (build), the
   journal and queries (decode). A builder or a tree is used by one thread. */
#ifndef CN_PATHTREE_H
#define CN_PATHTREE_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Serialised form: "CNPT" | version byte | varint root length | root bytes |
   varint nodes | varint components | varint length | zstd frame (names+tree) |
   varint length | zstd frame (stat). Layout of the frames: pathtree_build.c. */
#define CN_PT_MAGIC "CNPT"
#define CN_PT_VERSION 2         /* 2: front coding as two runs (lengths, NUL-ended suffixes) */
#define CN_PT_NAME_MAX 4095u    /* longest name component accepted */
#define CN_PT_TARGET_MAX 65535u /* longest symlink target accepted */
#define CN_PT_LINK_HOPS 40      /* symlinks followed before calling it a loop */

/* Entry types (stored as one byte). */
enum {
    CN_PT_UNKNOWN = 0,
    CN_PT_DIR = 1,
    CN_PT_FILE = 2,
    CN_PT_SYMLINK = 3,
    CN_PT_OTHER = 4, /* device, fifo, socket */
    CN_PT_TYPE_MAX_ = 4
};

/* Where a symlink leads after resolution. */
#define CN_PT_LINK_BROKEN UINT32_MAX        /* dangling, a loop, or not a symlink */
#define CN_PT_LINK_OUTSIDE (UINT32_MAX - 1) /* points outside the scanned tree */

typedef struct {
    uint8_t type;
    uint32_t mode; /* permission and type bits as in st_mode */
    uint32_t uid, gid;
    uint64_t size;
    int64_t mtime_ns;
} cn_pstat_t;

/* Orders paths component by component ('/' sorts before every other byte): the
   order the builder needs. Returns <0, 0, >0 like memcmp. */
int cn_path_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* ---- building ---- */
typedef struct cn_ptb cn_ptb_t;

/* root: the scanned root path (stored as given, any bytes). */
cn_ptb_t *cn_ptb_new(const uint8_t *root, size_t rlen);
void cn_ptb_destroy(cn_ptb_t **self_p);
/* Adds one entry: path relative to the root ("a/b", no leading or trailing '/',
   no empty components; "" is the root itself and may only come first). Paths
   must arrive in strictly increasing cn_path_cmp order; missing ancestors are
   added as directories with an empty stat. target: symlink target (any bytes).
   Returns 0 or CN_EINVAL (bad or out-of-order path) with a detail. */
int cn_ptb_add(cn_ptb_t *b, const uint8_t *path, size_t len, const cn_pstat_t *st, const uint8_t *target,
               size_t tlen);
uint64_t cn_ptb_count(const cn_ptb_t *b);
/* Resolves symlinks, serialises and compresses the tree into out (appended).
   names_bytes/stat_bytes (may be NULL) receive the compressed size of each part.
   The builder can only be destroyed afterwards. Returns 0 or a CN_E* code. */
int cn_ptb_finish(cn_ptb_t *b, cn_buf_t *out, size_t *names_bytes, size_t *stat_bytes);

/* ---- reading ---- */
typedef struct cn_ptree cn_ptree_t;

/* Decodes a serialised tree. Anything malformed (bad frame, truncation, counts
   that do not add up, unsorted or duplicate siblings, bad names, references out
   of range) is rejected with CN_ECORRUPT; nothing is trusted. max_nodes bounds
   memory (0: 2^28). *out is owned by the caller. */
int cn_ptree_decode(const void *data, size_t len, uint32_t max_nodes, cn_ptree_t **out);
void cn_ptree_destroy(cn_ptree_t **self_p);

uint32_t cn_ptree_count(const cn_ptree_t *t);
const uint8_t *cn_ptree_root(const cn_ptree_t *t, size_t *len);
/* Node 0 is the root. */
uint32_t cn_ptree_parent(const cn_ptree_t *t, uint32_t node);
const uint8_t *cn_ptree_name(const cn_ptree_t *t, uint32_t node, size_t *len);
void cn_ptree_stat(const cn_ptree_t *t, uint32_t node, cn_pstat_t *st);
/* Symlink target bytes (NULL for other types). */
const uint8_t *cn_ptree_target(const cn_ptree_t *t, uint32_t node, size_t *len);
/* Resolved symlink: a node, CN_PT_LINK_OUTSIDE or CN_PT_LINK_BROKEN. */
uint32_t cn_ptree_link(const cn_ptree_t *t, uint32_t node);
/* Children of node in name order: *first is the first child's index into the
   array returned (count *n). */
const uint32_t *cn_ptree_children(const cn_ptree_t *t, uint32_t node, uint32_t *n);
/* Finds the child named name; UINT32_MAX if none. */
uint32_t cn_ptree_child(const cn_ptree_t *t, uint32_t node, const uint8_t *name, size_t len);
/* Finds a path relative to the root ("" or "." is the root; "a//b/" is
   tolerated); UINT32_MAX if absent. */
uint32_t cn_ptree_lookup(const cn_ptree_t *t, const uint8_t *path, size_t len);
/* Appends the node's path relative to the root (no leading '/') to out. */
void cn_ptree_path(const cn_ptree_t *t, uint32_t node, cn_buf_t *out);
/* Calls cb for every node whose name matches pattern (fnmatch glob; a pattern
   with '/' matches the whole relative path), in tree order. cb returns false to
   stop. */
void cn_ptree_find(const cn_ptree_t *t, const char *pattern, bool (*cb)(void *arg, uint32_t node), void *arg);

/* The difference between two trees of the same root. */
enum { CN_DIFF_ADDED = 1, CN_DIFF_REMOVED = 2, CN_DIFF_CHANGED = 3 };
/* Changed fields (bits of `what` for CN_DIFF_CHANGED). */
enum {
    CN_DIFF_TYPE = 1,
    CN_DIFF_SIZE = 2,
    CN_DIFF_MODE = 4,
    CN_DIFF_OWNER = 8,
    CN_DIFF_MTIME = 16,
    CN_DIFF_TARGET = 32
};
/* Calls cb in path order for each added (node of b), removed (node of a) and
   changed (node of a and node of b) entry. Added and removed directories are
   reported with every entry below them. cb returns false to stop. */
void cn_ptree_diff(const cn_ptree_t *a, const cn_ptree_t *b,
                   bool (*cb)(void *arg, int kind, unsigned what, uint32_t na, uint32_t nb), void *arg);

#endif
