/* compress.c: see compress.h. */
#include "compress.h"

#include "errors.h"

#include <stdlib.h>
#include <zstd.h>

#include <pthread.h>

/* Contexts are per thread and freed when the thread exits (a pthread key
   destructor), so slot threads neither share nor leak them. */
static _Thread_local ZSTD_CCtx *cctx;
static _Thread_local ZSTD_DCtx *dctx;
static pthread_key_t ctx_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

typedef struct {
    ZSTD_CCtx **c;
    ZSTD_DCtx **d;
} ctx_ref_t;

static void free_ctx(void *p) {
    ctx_ref_t *r = p;
    ZSTD_freeCCtx(*r->c);
    ZSTD_freeDCtx(*r->d);
    *r->c = NULL;
    *r->d = NULL;
    free(r);
}

static void make_key(void) {
    pthread_key_create(&ctx_key, free_ctx);
}

static void track(void) {
    pthread_once(&key_once, make_key);
    if (pthread_getspecific(ctx_key)) return;
    ctx_ref_t *r = cn_xmalloc(sizeof *r);
    r->c = &cctx;
    r->d = &dctx;
    pthread_setspecific(ctx_key, r);
}

static ZSTD_CCtx *get_cctx(void) {
    if (!cctx) {
        track();
        cctx = ZSTD_createCCtx();
    }
    return cctx;
}

static ZSTD_DCtx *get_dctx(void) {
    if (!dctx) {
        track();
        dctx = ZSTD_createDCtx();
    }
    return dctx;
}

/* The frame of src at level (window_log 0: the level's default), with the prefix
   already referenced on c. */
static int compress_frame(ZSTD_CCtx *c, const void *src, size_t n, int level, int window_log, cn_buf_t *out) {
    /* A checksum in every frame: corruption is found on read, not returned. */
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
    /* zstd indexes only the last 8 << max(hashLog, chainLog) bytes of a prefix (at
       level 1 a 1 MiB delta was 75% of the file): past 128 KiB, tables that reach
       all of ref, up to CN_ZSTD_REF_MAX (0: the level's). */
    int table_log = window_log > 17 ? CN_MIN(window_log - 3, 23) : 0;
    ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, table_log);
    ZSTD_CCtx_setParameter(c, ZSTD_c_chainLog, table_log);
    size_t bound = ZSTD_compressBound(n);
    cn_buf_reserve(out, bound);
    size_t r = ZSTD_compress2(c, out->data + out->len, bound, src, n);
    if (ZSTD_isError(r)) return cn_err(CN_EIO, "zstd compress: %s", ZSTD_getErrorName(r));
    out->len += r;
    return 0;
}

int cn_zstd_compress(const void *src, size_t n, int level, cn_buf_t *out) {
    ZSTD_CCtx *c = get_cctx();
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    return compress_frame(c, src, n, level, 0, out);
}

/* The window that reaches from the end of src back to the start of ref: ref's
   bytes are only history if they lie inside it. At most 2^27 (128 MiB), the
   largest window a decoder accepts by default. */
static int ref_window_log(size_t rn, size_t n) {
    unsigned long long total = (unsigned long long)rn + n;
    int wlog = 10; /* ZSTD_WINDOWLOG_MIN (static-linking-only API) */
    while (wlog < 27 && (1ull << wlog) < total) wlog++;
    return wlog;
}

static int ref_too_big(size_t rn) {
    return cn_err(CN_EINVAL, "a zstd reference of %zu bytes is over the %u byte limit", rn, CN_ZSTD_REF_MAX);
}

int cn_zstd_compress_ref(const void *src, size_t n, int level, const void *ref, size_t rn, cn_buf_t *out) {
    if (rn > CN_ZSTD_REF_MAX) return ref_too_big(rn);
    ZSTD_CCtx *c = get_cctx();
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    size_t r = ZSTD_CCtx_refPrefix(c, rn ? ref : NULL, rn);
    int rc = ZSTD_isError(r) ? cn_err(CN_EIO, "zstd reference: %s", ZSTD_getErrorName(r))
                             : compress_frame(c, src, n, level, ref_window_log(rn, n), out);
    /* A prefix that a failed call left referenced must not reach the next frame
       (the context is reused by the plain path). */
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_refPrefix(c, NULL, 0);
    return rc;
}

/* Decompresses one frame with whatever prefix d references (the prefix is used
   once: ZSTD_getDDict drops it after this frame, and the plain path references none). */
static int decompress_frame(ZSTD_DCtx *d, const void *src, size_t n, size_t max, cn_buf_t *out) {
    unsigned long long claimed = ZSTD_getFrameContentSize(src, n);
    if (claimed == ZSTD_CONTENTSIZE_ERROR) return cn_err(CN_ECORRUPT, "not a zstd frame");
    if (claimed != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (claimed > max) return cn_err(CN_ETOOBIG, "zstd frame claims %llu bytes, limit %zu", claimed, max);
        cn_buf_reserve(out, (size_t)claimed);
        size_t r = ZSTD_decompressDCtx(d, out->data + out->len, (size_t)claimed, src, n);
        if (ZSTD_isError(r) || r != claimed)
            return cn_err(CN_ECORRUPT, "zstd decompress: %s",
                          ZSTD_isError(r) ? ZSTD_getErrorName(r) : "size mismatch");
        out->len += r;
        return 0;
    }
    /* Streaming path for frames without a content size. */
    ZSTD_inBuffer in = {src, n, 0};
    size_t start = out->len;
    for (;;) {
        cn_buf_reserve(out, 65536);
        ZSTD_outBuffer ob = {out->data + out->len, 65536, 0};
        size_t r = ZSTD_decompressStream(d, &ob, &in);
        if (ZSTD_isError(r)) {
            out->len = start;
            return cn_err(CN_ECORRUPT, "zstd decompress: %s", ZSTD_getErrorName(r));
        }
        out->len += ob.pos;
        if (out->len - start > max) {
            out->len = start;
            return cn_err(CN_ETOOBIG, "zstd frame larger than %zu bytes", max);
        }
        if (r == 0) return 0;
        if (in.pos == in.size && ob.pos == 0) {
            out->len = start;
            return cn_err(CN_ECORRUPT, "zstd frame truncated");
        }
    }
}

int cn_zstd_decompress(const void *src, size_t n, size_t max, cn_buf_t *out) {
    ZSTD_DCtx *d = get_dctx();
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    return decompress_frame(d, src, n, max, out);
}

int cn_zstd_decompress_ref(const void *src, size_t n, size_t max, const void *ref, size_t rn, cn_buf_t *out) {
    if (rn > CN_ZSTD_REF_MAX) return ref_too_big(rn);
    ZSTD_DCtx *d = get_dctx();
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    size_t r = ZSTD_DCtx_refPrefix(d, rn ? ref : NULL, rn);
    int rc = ZSTD_isError(r) ? cn_err(CN_EIO, "zstd reference: %s", ZSTD_getErrorName(r))
                             : decompress_frame(d, src, n, max, out);
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters); /* drops the prefix if unused */
    return rc;
}
