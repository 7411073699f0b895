/* fuzz_rawtree.c: arbitrary bytes into the raw tree object reader (the bytes of
   a tree from a repository that may be corrupt). Nothing may crash or read out
   of bounds; every entry handed out must lie inside the input, back to back
   with the one before, and an error or the end must be final; the run two
   trees share must end on an entry boundary. */
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
    /* The shared run of two trees (the input cut in two at its first byte):
       inside both, equal bytes, and on an entry boundary of each. */
    size_t cut = size ? buf[0] % size : 0;
    size_t same = cn_rawtree_common(buf, cut, buf + cut, size - cut);
    if (same > cut || same > size - cut || memcmp(buf, buf + cut, same) != 0) abort();
    cn_rawtree_init(&it, buf, cut);
    size_t at = 0;
    rc = 1;
    while (at < same && (rc = cn_rawtree_next(&it, &e)) == 1) at = (size_t)(e.oid->id + CN_OID_LEN - buf);
    if (rc == 1 && at != same) abort(); /* well-formed entries: the run ends on one's end */
    size_t tail = cn_rawtree_common_tail(buf, cut, buf + cut, size - cut);
    if (tail > cut || tail > size - cut || memcmp(buf + cut - tail, buf + size - tail, tail) != 0) abort();
    free(buf);
    return 0;
}
