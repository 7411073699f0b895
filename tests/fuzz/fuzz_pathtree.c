/* fuzz_pathtree.c: arbitrary bytes into the path tree decoder (stored scan
   data). Nothing may crash, leak or read out of bounds; a tree that decodes
   must answer every query without tripping over its own indexes. */
#include "pathtree.h"

#include "compress.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool count_cb(void *arg, uint32_t node) {
    (void)node;
    return ++*(uint32_t *)arg < 1000;
}

static bool diff_cb(void *arg, int kind, unsigned what, uint32_t na, uint32_t nb) {
    (void)kind, (void)what, (void)na, (void)nb;
    return ++*(uint32_t *)arg < 1000;
}

/* Inputs starting with 'R' carry the frames' contents uncompressed:
   'R' | varint nodes | varint components | varint length of A | A | B. They are
   wrapped into a real container so mutations reach the decoder's checks
   instead of stopping at zstd checksums. */
static bool wrap_raw(const uint8_t *data, size_t size, cn_buf_t *out) {
    const uint8_t *p = data + 1, *end = data + size;
    uint64_t n, nc, al;
    if (!cn_get_varint(&p, end, &n) || !cn_get_varint(&p, end, &nc) || !cn_get_varint(&p, end, &al) ||
        al > (uint64_t)(end - p))
        return false;
    cn_buf_append(out, CN_PT_MAGIC, 4);
    cn_buf_putc(out, CN_PT_VERSION);
    cn_buf_put_varint(out, 2);
    cn_buf_append(out, "/r", 2);
    cn_buf_put_varint(out, n);
    cn_buf_put_varint(out, nc);
    const uint8_t *parts[2] = {p, p + al};
    size_t lens[2] = {(size_t)al, (size_t)(end - p - al)};
    for (int i = 0; i < 2; i++) {
        cn_buf_t z = {0};
        cn_zstd_compress(parts[i], lens[i], 1, &z);
        cn_buf_put_varint(out, z.len);
        cn_buf_append(out, z.data, z.len);
        cn_buf_free(&z);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_ptree_t *t = NULL;
    cn_buf_t raw = {0};
    if (size > 0 && data[0] == 'R') {
        if (!wrap_raw(data, size, &raw)) return 0;
        data = raw.data;
        size = raw.len;
    }
    int rc = cn_ptree_decode(data, size, 1u << 20, &t);
    cn_buf_free(&raw);
    if (rc != 0) return 0;
    cn_buf_t p = {0};
    uint32_t n = cn_ptree_count(t);
    for (uint32_t i = 0; i < n && i < 4096; i++) {
        cn_pstat_t st;
        size_t l;
        cn_ptree_stat(t, i, &st);
        const uint8_t *nm = cn_ptree_name(t, i, &l);
        (void)cn_ptree_target(t, i, &l);
        uint32_t link = cn_ptree_link(t, i);
        if (link < n) cn_ptree_stat(t, link, &st);
        cn_buf_reset(&p);
        cn_ptree_path(t, i, &p);
        /* a node's own path must find it again */
        if (cn_ptree_lookup(t, p.data, p.len) != i) __builtin_trap();
        (void)nm;
    }
    uint32_t c = 0;
    cn_ptree_find(t, "*a*", count_cb, &c);
    c = 0;
    cn_ptree_diff(t, t, diff_cb, &c);
    if (c != 0) __builtin_trap(); /* a tree never differs from itself */
    cn_buf_free(&p);
    cn_ptree_destroy(&t);
    return 0;
}
