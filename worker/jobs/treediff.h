/* treediff.h: the changed paths of one commit against its first parent: a
   merge-join of two trees in git's order that never opens a subtree whose oid
   is the same on both sides (what makes it as fast as `git log --raw`, where
   libgit2's generic diff is an order of magnitude slower). Trees are read as
   raw objects (rawtree.h), and the entries two trees share at their start and
   end are skipped unparsed. Used by the download job on its slot thread; no
   state of its own. */
#ifndef CN_TREEDIFF_H
#define CN_TREEDIFF_H

#include "git.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest tree nesting followed before the diff gives up with CN_ECORRUPT. */
#define CN_TDIFF_MAX_DEPTH 512

typedef struct {
    const uint8_t *path; /* full path, bytes as stored (valid during the call) */
    size_t path_len;
    const cn_oid_t *oid; /* new blob (or submodule commit) oid; NULL when deleted */
    /* the old blob's oid when the path names a non-tree on both sides (a
       modified file: the download's delta base); NULL otherwise */
    const cn_oid_t *old_oid;
    uint32_t mode; /* new mode; the old one when deleted */
    bool deleted;
} cn_tdiff_change_t;

/* Returns 0 to go on, or a negative CN_E* code to stop the diff with it. */
typedef int (*cn_tdiff_cb)(void *arg, const cn_tdiff_change_t *c);

/* Calls cb for every non-tree path that differs (oid or mode) between old_tree
   and new_tree, in git's path order; either tree may be NULL (the empty tree).
   Returns 0, cb's code, or CN_ECORRUPT naming a missing tree. Blocks on I/O. */
int cn_treediff(cn_git_t *g, const cn_oid_t *old_tree, const cn_oid_t *new_tree, cn_tdiff_cb cb, void *arg);

#endif
