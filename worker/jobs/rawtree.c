/* rawtree.c: parses raw tree object bytes in place (see rawtree.h). Called for
   every tree the tree diff opens, so the loop does one pass over each entry's
   bytes: the mode's digits, then memchr for the name's NUL, then the oid. */
#include "rawtree.h"

#include "errors.h"

#include <string.h>

void cn_rawtree_init(cn_rawtree_t *it, const uint8_t *data, size_t len) {
    static const uint8_t none[1];
    if (!data) data = none, len = 0; /* NULL is the failed state: the empty tree is not */
    it->start = it->p = data;
    it->end = data + len;
}

static int corrupt(cn_rawtree_t *it, const uint8_t *at, const char *what) {
    size_t off = (size_t)(at - it->start);
    it->p = it->end = NULL; /* every later call fails too */
    return cn_err(CN_ECORRUPT, "tree object is corrupt: %s at byte %zu", what, off);
}

/* The modes git writes, each recognised with one fixed-size compare (inlined
   by the compiler): the digit loop cost more than the rest of the entry. */
static const uint8_t *common_mode(const uint8_t *p, const uint8_t *end, uint32_t *mode) {
    if (end - p < 7) return NULL;
    if (p[0] == '4') {
        if (memcmp(p, "40000 ", 6) != 0) return NULL;
        *mode = 040000;
        return p + 6;
    }
    if (memcmp(p, "100644 ", 7) == 0)
        *mode = 0100644;
    else if (memcmp(p, "100755 ", 7) == 0)
        *mode = 0100755;
    else if (memcmp(p, "120000 ", 7) == 0)
        *mode = 0120000;
    else if (memcmp(p, "160000 ", 7) == 0)
        *mode = 0160000;
    else
        return NULL;
    return p + 7;
}

/* Any other mode; returns the byte after its SP, or NULL after corrupt(). */
static const uint8_t *other_mode(cn_rawtree_t *it, const uint8_t *p, uint32_t *mode) {
    const uint8_t *entry = p, *end = it->end;
    uint32_t m = 0;
    /* Zero-padded modes ("040000") exist in old repositories: any number of
       digits is read, the value is checked as it grows so it cannot wrap. */
    while (p < end && *p != ' ') {
        unsigned d = (unsigned)*p - '0';
        if (d > 7) return corrupt(it, p, "a mode digit that is not octal"), NULL;
        m = m << 3 | d;
        if (m > CN_RAWTREE_MAX_MODE) return corrupt(it, entry, "a mode out of range"), NULL;
        p++;
    }
    if (p == end) return corrupt(it, entry, "an entry cut short in its mode"), NULL;
    if (p == entry) return corrupt(it, entry, "an empty mode"), NULL;
    *mode = m;
    return p + 1;
}

int cn_rawtree_next(cn_rawtree_t *it, cn_git_entry_t *e) {
    const uint8_t *p = it->p, *end = it->end;
    if (!p) return cn_err(CN_ECORRUPT, "tree object is corrupt (read past an earlier error)");
    if (p == end) return 0;
    uint32_t mode = 0;
    const uint8_t *name = common_mode(p, end, &mode);
    if (!name && !(name = other_mode(it, p, &mode))) return CN_ECORRUPT;
    const uint8_t *nul = memchr(name, 0, (size_t)(end - name));
    if (!nul) return corrupt(it, p, "a name without its terminating NUL");
    if (nul == name) return corrupt(it, p, "an empty name");
    if ((size_t)(end - nul - 1) < CN_OID_LEN) return corrupt(it, p, "an object id cut short");
    e->name = (const char *)name;
    e->name_len = (size_t)(nul - name);
    e->mode = mode;
    e->oid = (const cn_oid_t *)(const void *)(nul + 1);
    it->p = nul + 1 + CN_OID_LEN;
    return 1;
}

/* Bytes both buffers share from the start, eight at a time. */
static size_t common_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) break;
    }
    while (i < n && a[i] == b[i]) i++;
    return i;
}

size_t cn_rawtree_common(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    if (!a || !b) return 0;
    size_t same = common_bytes(a, b, alen < blen ? alen : blen), off = 0;
    for (;;) {
        const uint8_t *nul = memchr(a + off, 0, same - off);
        if (!nul || (size_t)(nul - a) + 1 + CN_OID_LEN > same) return off;
        off = (size_t)(nul - a) + 1 + CN_OID_LEN;
    }
}

size_t cn_rawtree_common_tail(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    if (!a || !b) return 0;
    size_t n = alen < blen ? alen : blen, i = 0;
    const uint8_t *ae = a + alen, *be = b + blen;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, ae - i - 8, 8);
        memcpy(&y, be - i - 8, 8);
        if (x != y) break;
    }
    while (i < n && ae[-(ptrdiff_t)i - 1] == be[-(ptrdiff_t)i - 1]) i++;
    return i;
}
