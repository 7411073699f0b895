/* fuzz_pack_delta.c: arbitrary bytes into the git delta applier of the pack
   reader (pack.h). The first byte is the base's length (at most the rest of the
   input), then the base, then the delta. Nothing may crash or read outside
   either buffer; a success must give exactly the size the delta announces, and
   any failure must be CN_ECORRUPT. */
#include "errors.h"
#include "pack.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* git's delta header size: 7 bits per byte, low groups first, high bit = more. */
static int header_size(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t base_len = data[0];
    if (base_len > size - 1) base_len = size - 1;
    size_t delta_len = size - 1 - base_len;
    /* Exactly-sized copies, so ASan sees any read past either end. */
    uint8_t *base = calloc(1, base_len ? base_len : 1);
    uint8_t *delta = calloc(1, delta_len ? delta_len : 1);
    if (!base || !delta) abort();
    if (base_len) memcpy(base, data + 1, base_len);
    if (delta_len) memcpy(delta, data + 1 + base_len, delta_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = cn_pack_delta_apply(base, base_len, delta, delta_len, &out, &out_len);
    if (rc == 0) {
        const uint8_t *p = delta, *end = delta + delta_len;
        uint64_t want_base = 0, want_result = 0;
        if (!header_size(&p, end, &want_base) || !header_size(&p, end, &want_result)) abort();
        if (want_base != base_len || want_result != out_len) abort();
        if (out_len) {
            volatile uint8_t sink = out[0] ^ out[out_len - 1]; /* the whole result is ours */
            (void)sink;
        }
        free(out);
    } else if (rc != CN_ECORRUPT) {
        abort();
    }
    free(base);
    free(delta);
    return 0;
}
