/* fuzz_rawtree.c: arbitrary bytes into the raw tree object reader (the bytes of
   a tree from a repository that may be corrupt). Nothing may crash or read out
   of bounds; every entry handed out must lie inside the input, back to back
   with the one before, and an error or the end must be final. */
#include "errors.h"
#include "rawtree.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    cn_rawtree_t it;
    cn_rawtree_init(&it, buf, size);
    cn_git_entry_t e;
    const uint8_t *prev_end = buf, *end = buf + size;
    int rc;
    while ((rc = cn_rawtree_next(&it, &e)) == 1) {
        const uint8_t *name = (const uint8_t *)e.name;
        if (name <= prev_end || name[-1] != ' ') abort(); /* mode digits, then SP */
        if (e.name_len == 0 || memchr(name, 0, e.name_len)) abort();
        if (name[e.name_len] != 0 || (const uint8_t *)e.oid != name + e.name_len + 1) abort();
        prev_end = e.oid->id + CN_OID_LEN;
        if (prev_end > end || e.mode > CN_RAWTREE_MAX_MODE) abort();
        volatile uint8_t sink = e.oid->id[CN_OID_LEN - 1];
        (void)sink;
    }
    if (rc == 0 && prev_end != end) abort(); /* the end means every byte was read */
    if (rc != 0 && rc != CN_ECORRUPT) abort();
    if (cn_rawtree_next(&it, &e) != rc) abort(); /* final */
    free(buf);
    return 0;
}
