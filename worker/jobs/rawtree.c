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

int cn_rawtree_next(cn_rawtree_t *it, cn_git_entry_t *e) {
    const uint8_t *p = it->p, *end = it->end;
    if (!p) return cn_err(CN_ECORRUPT, "tree object is corrupt (read past an earlier error)");
    if (p == end) return 0;
    const uint8_t *entry = p;
    uint32_t mode = 0;
    /* Zero-padded modes ("040000") exist in old repositories: any number of
       digits is read, the value is checked as it grows so it cannot wrap. */
    while (p < end && *p != ' ') {
        unsigned d = (unsigned)*p - '0';
        if (d > 7) return corrupt(it, p, "a mode digit that is not octal");
        mode = mode << 3 | d;
        if (mode > CN_RAWTREE_MAX_MODE) return corrupt(it, entry, "a mode out of range");
        p++;
    }
    if (p == end) return corrupt(it, entry, "an entry cut short in its mode");
    if (p == entry) return corrupt(it, entry, "an empty mode");
    const uint8_t *name = ++p;
    const uint8_t *nul = memchr(name, 0, (size_t)(end - name));
    if (!nul) return corrupt(it, entry, "a name without its terminating NUL");
    if (nul == name) return corrupt(it, entry, "an empty name");
    if ((size_t)(end - nul - 1) < CN_OID_LEN) return corrupt(it, entry, "an object id cut short");
    e->name = (const char *)name;
    e->name_len = (size_t)(nul - name);
    e->mode = mode;
    e->oid = (const cn_oid_t *)(const void *)(nul + 1);
    it->p = nul + 1 + CN_OID_LEN;
    return 1;
}
