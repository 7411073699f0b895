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

int cn_zstd_compress(const void *src, size_t n, int level, cn_buf_t *out) {
    if (!cctx) {
        track();
        cctx = ZSTD_createCCtx();
    }
    /* A checksum in every frame: corruption is found on read, not returned. */
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    size_t bound = ZSTD_compressBound(n);
    cn_buf_reserve(out, bound);
    size_t r = ZSTD_compress2(cctx, out->data + out->len, bound, src, n);
    if (ZSTD_isError(r)) return cn_err(CN_EIO, "zstd compress: %s", ZSTD_getErrorName(r));
    out->len += r;
    return 0;
}

int cn_zstd_decompress(const void *src, size_t n, size_t max, cn_buf_t *out) {
    unsigned long long claimed = ZSTD_getFrameContentSize(src, n);
    if (claimed == ZSTD_CONTENTSIZE_ERROR) return cn_err(CN_ECORRUPT, "not a zstd frame");
    if (claimed != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (claimed > max) return cn_err(CN_ETOOBIG, "zstd frame claims %llu bytes, limit %zu", claimed, max);
        if (!dctx) {
            track();
            dctx = ZSTD_createDCtx();
        }
        cn_buf_reserve(out, (size_t)claimed);
        size_t r = ZSTD_decompressDCtx(dctx, out->data + out->len, (size_t)claimed, src, n);
        if (ZSTD_isError(r) || r != claimed)
            return cn_err(CN_ECORRUPT, "zstd decompress: %s",
                          ZSTD_isError(r) ? ZSTD_getErrorName(r) : "size mismatch");
        out->len += r;
        return 0;
    }
    /* Streaming path for frames without a content size. */
    if (!dctx) {
        track();
        dctx = ZSTD_createDCtx();
    }
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    ZSTD_inBuffer in = {src, n, 0};
    size_t start = out->len;
    for (;;) {
        cn_buf_reserve(out, 65536);
        ZSTD_outBuffer ob = {out->data + out->len, 65536, 0};
        size_t r = ZSTD_decompressStream(dctx, &ob, &in);
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
