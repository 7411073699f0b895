/* rawtree.h: a reader over the bytes of a raw git tree object (entries
   "mode SP name NUL 20-byte-oid", as cn_git_tree_raw hands them out). Entries
   point into the caller's buffer: nothing is allocated or copied. The bytes
   come from a repository that may be corrupt, so every entry is bounds-checked.
   No state beyond the iterator; any thread. */
#ifndef CN_RAWTREE_H
#define CN_RAWTREE_H

#include "git.h"

#include <stddef.h>
#include <stdint.h>

/* Largest mode accepted (libgit2 keeps modes in 16 bits and rejects more). */
#define CN_RAWTREE_MAX_MODE 0177777u

typedef struct {
    const uint8_t *p, *end, *start;
} cn_rawtree_t;

/* Starts reading the len bytes at data (which must outlive the iterator);
   data NULL with len 0 is the empty tree. */
void cn_rawtree_init(cn_rawtree_t *it, const uint8_t *data, size_t len);

/* Reads the next entry into *e (its name and oid point into the buffer).
   Returns 1 with *e, 0 at the end, or CN_ECORRUPT (with a detail naming the
   byte offset) for a mode that is empty, not octal or above
   CN_RAWTREE_MAX_MODE (leading zeros are accepted), an empty name, a name without its NUL, or an oid
   cut short. After an error every further call returns CN_ECORRUPT. */
int cn_rawtree_next(cn_rawtree_t *it, cn_git_entry_t *e);

/* The length of the longest run of whole entries (from the start) that the
   two trees share byte for byte: those entries are equal on both sides, so a
   diff can start both readers after them. Entries are hopped over by their
   terminating NUL and oid, not parsed: a malformed entry inside the run is
   equal on both sides and reported by whichever diff first saw it change.
   Never reads outside either buffer; NULL with length 0 is the empty tree. */
size_t cn_rawtree_common(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* How many bytes at the ends of the two buffers are equal (not aligned to
   entries: a reader standing on an entry start in each, with the same number
   of bytes left and no more than this many, knows the rest is equal). */
size_t cn_rawtree_common_tail(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
