/* compress.h: zstd compression (the only file that includes zstd.h), with a hard
   bound on decompressed size so a corrupt or hostile frame cannot exhaust memory.
   Thread-safe (contexts are per call or per thread). */
#ifndef CN_COMPRESS_H
#define CN_COMPRESS_H

#include "util.h"

#include <stddef.h>

#define CN_ZSTD_LEVEL 3

/* Appends the zstd frame of [src, src+n) at level to out. Returns 0 or CN_EIO. */
int cn_zstd_compress(const void *src, size_t n, int level, cn_buf_t *out);
/* Appends the decompressed bytes of one zstd frame to out. Fails with CN_ETOOBIG
   if the content is (or claims to be) larger than max, CN_ECORRUPT if malformed. */
int cn_zstd_decompress(const void *src, size_t n, size_t max, cn_buf_t *out);

/* The largest reference the _ref functions take: above it a delta is not worth
   its window (the caller stores the bytes whole). */
#define CN_ZSTD_REF_MAX (64u << 20)

/* zstd with a reference prefix (ZSTD_CCtx_refPrefix / ZSTD_DCtx_refPrefix): ref's bytes serve as
   history, so a new version of a file costs little more than what changed. Same checksum flag and
   bounds as cn_zstd_compress / cn_zstd_decompress; the decompressor needs the identical ref.
   The window covers ref + src (up to 128 MiB). CN_EINVAL when rn > CN_ZSTD_REF_MAX. */
int cn_zstd_compress_ref(const void *src, size_t n, int level, const void *ref, size_t rn, cn_buf_t *out);
int cn_zstd_decompress_ref(const void *src, size_t n, size_t max, const void *ref, size_t rn, cn_buf_t *out);

#endif
