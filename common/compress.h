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

#endif
