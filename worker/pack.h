/* pack.h: a reader of git's pack files that threads share (pack.c is the only
   file that includes zlib.h). libgit2 serialises much of its pack access and
   starts a zlib stream per object; the download's tree diffs run on several
   threads through this reader instead (git.c uses it for raw trees, and falls
   back to libgit2 for what it does not hold: loose objects,
   other pack index versions).

   cn_packs_t: the repository's packs (objects/pack/pack-*.idx, version 2, with
   their .pack), mapped read-only; immutable once open, shared by any number
   of readers on any threads, freed when its last holder lets go.
   cn_pack_reader_t: one thread's reader: a zlib stream and a cache of
   resolved objects (delta bases included) keyed by their place in the pack. */
#ifndef CN_PACK_H
#define CN_PACK_H

#include <stddef.h>
#include <stdint.h>

#define CN_PACK_OID_LEN 20

/* Object types as git's pack stores them. */
enum cn_pack_type { CN_PACK_COMMIT = 1, CN_PACK_TREE = 2, CN_PACK_BLOB = 3, CN_PACK_TAG = 4 };

typedef struct cn_packs cn_packs_t;
typedef struct cn_pack_reader cn_pack_reader_t;
typedef struct cn_pack_obj cn_pack_obj_t;

/* Maps the packs of the repository whose object directory is objects_dir
   (".../objects"). A repository without packs gives an empty set. An index
   that is not version 2, or a pack that does not match its index, is left out
   (its objects are then not found here). CN_ESYS when the folder cannot be
   read. */
int cn_packs_open(const char *objects_dir, cn_packs_t **out);
/* Another holder of the same set. */
cn_packs_t *cn_packs_ref(cn_packs_t *p);
void cn_packs_unref(cn_packs_t **p);
size_t cn_packs_count(const cn_packs_t *p);

/* A reader keeping up to cache_bytes of resolved objects (0: 32 MiB). */
cn_pack_reader_t *cn_pack_reader_new(cn_packs_t *p, size_t cache_bytes);
void cn_pack_reader_free(cn_pack_reader_t **r);

/* Reads the object oid: 0 with *out held until cn_pack_obj_release (on the
   same reader's thread), CN_ENOTFOUND (no detail) when no pack has it, or
   CN_ECORRUPT naming the object when its bytes do not decode (zlib, delta,
   sizes, a delta chain of 10,000 links or more, or looping). */
int cn_pack_read(cn_pack_reader_t *r, const uint8_t oid[CN_PACK_OID_LEN], cn_pack_obj_t **out);
enum cn_pack_type cn_pack_obj_type(const cn_pack_obj_t *o);
const uint8_t *cn_pack_obj_data(const cn_pack_obj_t *o);
size_t cn_pack_obj_size(const cn_pack_obj_t *o);
/* On the thread of the reader it came from (the holds are plain counts). */
void cn_pack_obj_release(cn_pack_obj_t *o);

/* Applies a git delta (base size, result size, copy and insert ops) to base:
   0 with *out (malloc'd, *out_len bytes), or CN_ECORRUPT when the delta does
   not fit the base or is malformed. Exposed for the fuzzer. */
int cn_pack_delta_apply(const uint8_t *base, size_t base_len, const uint8_t *delta, size_t delta_len,
                        uint8_t **out, size_t *out_len);

#endif
