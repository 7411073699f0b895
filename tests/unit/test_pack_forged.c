/* test_pack_forged.c: the pack reader (pack.h) on packs and deltas made by hand,
   for what git never writes: damaged headers and zlib streams, sizes that lie,
   offsets outside the pack, the 64-bit offset table, reference deltas that loop
   or whose base is in another pack or none, a delta chain past the 10,000 limit;
   and the delta applier on its own (copy, insert, 0x10000 copies, bad forms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pack.h"
#include "util.h"

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/packf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    char *pd = cn_xasprintf("%s/objects/pack", dir);
    assert_int_equal(cn_mkdir_p(pd), 0);
    free(pd);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cn_rm_rf(dir);
    return 0;
}

/* Appends the SHA-1 of b's bytes (as sha1sum computes it over a file). */
static void put_sha1(cn_buf_t *b) {
    char *tmp = cn_xasprintf("%s/sha-input", dir), *cmd = cn_xasprintf("sha1sum '%s'", tmp);
    assert_int_equal(cn_write_file_atomic(tmp, b->data, b->len), 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char hex[64] = {0};
    assert_non_null(fgets(hex, sizeof hex, p));
    assert_int_equal(pclose(p), 0);
    hex[40] = '\0';
    uint8_t sum[20];
    assert_true(cn_unhex(hex, sum, sizeof sum));
    cn_buf_append(b, sum, sizeof sum);
    free(cmd);
    free(tmp);
}

/* ---- a pack made by hand ---- */

enum { IDX_PLAIN, IDX_BIG, IDX_BAD_BIG };

typedef struct {
    uint8_t oid[CN_PACK_OID_LEN];
    uint64_t off;
    int how; /* IDX_*: how the index stores the offset */
} fobj_t;

typedef struct {
    cn_buf_t b;
    fobj_t *v;
    size_t n;
} forge_t;

/* A made-up object id: tag, then k big-endian, then a filler. */
static void oid_of(uint8_t tag, uint32_t k, uint8_t oid[CN_PACK_OID_LEN]) {
    memset(oid, 0x5a, CN_PACK_OID_LEN);
    oid[0] = tag;
    cn_put_be32(oid + 1, k);
}

static void forge_begin(forge_t *f) {
    memset(f, 0, sizeof *f);
    cn_buf_append(&f->b, "PACK", 4);
    cn_buf_put_be32(&f->b, 2);
    cn_buf_put_be32(&f->b, 0); /* the count, set when written */
}

/* Names the next entry (or any offset) oid in the index. */
static uint64_t forge_name(forge_t *f, const uint8_t *oid, uint64_t off, int how) {
    f->v = cn_xrealloc(f->v, (f->n + 1) * sizeof *f->v);
    memcpy(f->v[f->n].oid, oid, CN_PACK_OID_LEN);
    f->v[f->n].off = off;
    f->v[f->n++].how = how;
    return off;
}

/* An entry header: type in bits 4-6 of the first byte, size 4 + 7n bits. */
static void put_header(cn_buf_t *b, int type, size_t size) {
    uint8_t c = (uint8_t)(type << 4 | (size & 15));
    for (size = size >> 4; size; size >>= 7) {
        cn_buf_putc(b, c | 0x80);
        c = size & 0x7f;
    }
    cn_buf_putc(b, c);
}

static uint32_t adler32(const uint8_t *p, size_t n) {
    uint32_t a = 1, s = 0;
    for (size_t i = 0; i < n; i++) a = (a + p[i]) % 65521, s = (s + a) % 65521;
    return s << 16 | a;
}

/* A zlib stream of one stored block (no compression needed to test a reader). */
static void put_zlib(cn_buf_t *b, const void *data, size_t len, uint32_t adler_xor) {
    assert_true(len <= 0xffff);
    const uint8_t hdr[] = {
        0x78, 0x01, 0x01, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)~len, (uint8_t)(~len >> 8)};
    cn_buf_append(b, hdr, sizeof hdr);
    cn_buf_append(b, data, len);
    cn_buf_put_be32(b, adler32(data, len) ^ adler_xor);
}

static uint64_t forge_whole(forge_t *f, const uint8_t *oid, int type, const void *data, size_t len) {
    uint64_t off = forge_name(f, oid, f->b.len, IDX_PLAIN);
    put_header(&f->b, type, len);
    put_zlib(&f->b, data, len, 0);
    return off;
}

/* git's offset-delta distance: base-128, one added per continuation byte. */
static uint64_t forge_ofs(forge_t *f, const uint8_t *oid, uint64_t base_off, const cn_buf_t *delta) {
    uint64_t off = forge_name(f, oid, f->b.len, IDX_PLAIN), back = off - base_off;
    put_header(&f->b, 6, delta->len);
    uint8_t buf[16];
    size_t pos = sizeof buf - 1;
    buf[pos] = back & 127;
    while (back >>= 7) buf[--pos] = (uint8_t)(128 | (--back & 127));
    cn_buf_append(&f->b, buf + pos, sizeof buf - pos);
    put_zlib(&f->b, delta->data, delta->len, 0);
    return off;
}

static uint64_t forge_ref(forge_t *f, const uint8_t *oid, const uint8_t *base, const cn_buf_t *delta) {
    uint64_t off = forge_name(f, oid, f->b.len, IDX_PLAIN);
    put_header(&f->b, 7, delta->len);
    cn_buf_append(&f->b, base, CN_PACK_OID_LEN);
    put_zlib(&f->b, delta->data, delta->len, 0);
    return off;
}

static int cmp_fobj(const void *a, const void *b) {
    return memcmp(((const fobj_t *)a)->oid, ((const fobj_t *)b)->oid, CN_PACK_OID_LEN);
}

/* Writes objects/pack/pack-<name>.pack and its version 2 index. */
static void forge_write(forge_t *f, const char *name) {
    cn_put_be32(f->b.data + 8, (uint32_t)f->n);
    put_sha1(&f->b);
    qsort(f->v, f->n, sizeof *f->v, cmp_fobj);
    cn_buf_t x = {0}, big = {0};
    const uint8_t magic[8] = {0xff, 't', 'O', 'c', 0, 0, 0, 2};
    cn_buf_append(&x, magic, sizeof magic);
    for (int i = 0; i < 256; i++) {
        uint32_t c = 0;
        while (c < f->n && f->v[c].oid[0] <= i) c++;
        cn_buf_put_be32(&x, c);
    }
    for (size_t i = 0; i < f->n; i++) cn_buf_append(&x, f->v[i].oid, CN_PACK_OID_LEN);
    for (size_t i = 0; i < f->n; i++) cn_buf_put_be32(&x, 0); /* CRCs: not read */
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].how == IDX_PLAIN) {
            cn_buf_put_be32(&x, (uint32_t)f->v[i].off);
        } else {
            uint32_t slot = f->v[i].how == IDX_BIG ? (uint32_t)(big.len / 8) : 1000;
            cn_buf_put_be32(&x, 0x80000000u | slot);
            if (f->v[i].how == IDX_BIG) cn_buf_put_be64(&big, f->v[i].off);
        }
    }
    cn_buf_append(&x, big.data, big.len);
    cn_buf_append(&x, f->b.data + f->b.len - 20, 20);
    put_sha1(&x);
    char *pp = cn_xasprintf("%s/objects/pack/pack-%s.pack", dir, name);
    char *ip = cn_xasprintf("%s/objects/pack/pack-%s.idx", dir, name);
    assert_int_equal(cn_write_file_atomic(pp, f->b.data, f->b.len), 0);
    assert_int_equal(cn_write_file_atomic(ip, x.data, x.len), 0);
    free(pp);
    free(ip);
    cn_buf_free(&x);
    cn_buf_free(&big);
    cn_buf_free(&f->b);
    free(f->v);
}

static cn_packs_t *open_dir(void) {
    char *od = cn_xasprintf("%s/objects", dir);
    cn_packs_t *p = NULL;
    assert_int_equal(cn_packs_open(od, &p), 0);
    free(od);
    return p;
}

static int read_obj(cn_pack_reader_t *r, uint8_t tag, uint32_t k, enum cn_pack_type type, const void *want,
                    size_t want_len) {
    uint8_t oid[CN_PACK_OID_LEN];
    oid_of(tag, k, oid);
    cn_pack_obj_t *o = NULL;
    int rc = cn_pack_read(r, oid, &o);
    if (rc == 0) {
        assert_non_null(o);
        assert_int_equal(cn_pack_obj_type(o), type);
        assert_int_equal(cn_pack_obj_size(o), want_len);
        if (want_len) assert_memory_equal(cn_pack_obj_data(o), want, want_len);
        cn_pack_obj_release(o);
    }
    return rc;
}
/* ---- cn_pack_delta_apply on hand-made deltas ---- */

static void put_size(cn_buf_t *d, size_t v) {
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        cn_buf_putc(d, (uint8_t)(c | (v ? 0x80 : 0)));
    } while (v);
}

/* A copy op with every offset and size byte present (git's fullest form). */
static void put_copy(cn_buf_t *d, uint32_t off, uint32_t size) {
    cn_buf_putc(d, 0x80 | 0x0f | 0x70);
    for (int i = 0; i < 4; i++) cn_buf_putc(d, (uint8_t)(off >> (8 * i)));
    for (int i = 0; i < 3; i++) cn_buf_putc(d, (uint8_t)(size >> (8 * i)));
}

static void put_insert(cn_buf_t *d, const char *s) {
    cn_buf_putc(d, (uint8_t)strlen(s));
    cn_buf_append(d, s, strlen(s));
}

static int apply(const void *base, size_t blen, const cn_buf_t *d, uint8_t **out, size_t *olen) {
    /* exact-size copies so ASan sees any overread */
    uint8_t *b = cn_xmalloc(blen ? blen : 1), *dd = cn_xmalloc(d->len ? d->len : 1);
    if (blen) memcpy(b, base, blen);
    if (d->len) memcpy(dd, d->data, d->len);
    *out = NULL;
    int rc = cn_pack_delta_apply(b, blen, dd, d->len, out, olen);
    free(b);
    free(dd);
    return rc;
}

static void test_delta_copy_and_insert(void **state) {
    (void)state;
    const char *base = "The quick brown fox jumps over the lazy dog";
    cn_buf_t d = {0};
    put_size(&d, strlen(base));
    put_size(&d, 9 + 5 + 4);
    put_copy(&d, 4, 9); /* "quick bro" */
    put_insert(&d, "-ZZZ-");
    cn_buf_putc(&d, 0x80 | 0x01 | 0x10), cn_buf_putc(&d, 40), cn_buf_putc(&d, 3); /* "dog" */
    cn_buf_putc(&d, 0x80 | 0x10), cn_buf_putc(&d, 1); /* offset 0 (no bytes): "T" */
    uint8_t *out;
    size_t len;
    assert_int_equal(apply(base, strlen(base), &d, &out, &len), 0);
    assert_int_equal(len, 18);
    assert_memory_equal(out, "quick bro-ZZZ-dogT", 18);
    free(out);
    /* Every proper prefix is a truncated delta. */
    for (size_t cut = 0; cut < d.len; cut++) {
        cn_buf_t t = {0};
        cn_buf_append(&t, d.data, cut);
        out = NULL;
        assert_int_equal(apply(base, strlen(base), &t, &out, &len), CN_ECORRUPT);
        assert_null(out);
        cn_buf_free(&t);
    }
    /* An empty result from an empty delta body. */
    cn_buf_reset(&d);
    put_size(&d, strlen(base));
    put_size(&d, 0);
    assert_int_equal(apply(base, strlen(base), &d, &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    cn_buf_free(&d);
}

static void test_delta_zero_size_copy_means_64k(void **state) {
    (void)state;
    size_t blen = 0x10000 + 100;
    uint8_t *base = cn_xmalloc(blen);
    for (size_t i = 0; i < blen; i++) base[i] = (uint8_t)(i * 7 + i / 251);
    cn_buf_t d = {0};
    put_size(&d, blen);
    put_size(&d, 0x10000 + 2);
    cn_buf_putc(&d, 0x80 | 0x01), cn_buf_putc(&d, 50); /* offset 50, no size bytes */
    put_insert(&d, "ok");
    uint8_t *out;
    size_t len;
    assert_int_equal(apply(base, blen, &d, &out, &len), 0);
    assert_int_equal(len, 0x10000 + 2);
    assert_memory_equal(out, base + 50, 0x10000);
    assert_memory_equal(out + 0x10000, "ok", 2);
    free(out);
    /* The same from offset 101: one byte past the base's end. */
    cn_buf_reset(&d);
    put_size(&d, blen);
    put_size(&d, 0x10000);
    cn_buf_putc(&d, 0x80 | 0x01), cn_buf_putc(&d, 101);
    assert_int_equal(apply(base, blen, &d, &out, &len), CN_ECORRUPT);
    cn_buf_free(&d);
    free(base);
}

static void expect_corrupt(const char *base, const cn_buf_t *d) {
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(apply(base, strlen(base), d, &out, &len), CN_ECORRUPT);
    assert_null(out);
}

static void test_delta_bad_forms_are_corrupt(void **state) {
    (void)state;
    const char *base = "0123456789";
    cn_buf_t d = {0};
    /* copy past the base's end: offset 5 size 6 */
    put_size(&d, 10), put_size(&d, 6), put_copy(&d, 5, 6);
    expect_corrupt(base, &d);
    /* offset beyond the base, and an offset whose sum wraps 32 bits */
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 1), put_copy(&d, 11, 1);
    expect_corrupt(base, &d);
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 16), put_copy(&d, 0xfffffff0u, 16);
    expect_corrupt(base, &d);
    /* the result is shorter, then longer, than announced */
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 5), put_copy(&d, 0, 4);
    expect_corrupt(base, &d);
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 5), put_copy(&d, 0, 4), put_insert(&d, "xy");
    expect_corrupt(base, &d);
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 3), put_insert(&d, "abc"), put_insert(&d, "d");
    expect_corrupt(base, &d);
    /* the announced base size is not the base's */
    cn_buf_reset(&d), put_size(&d, 9), put_size(&d, 2), put_copy(&d, 0, 2);
    expect_corrupt(base, &d);
    cn_buf_reset(&d), put_size(&d, 11), put_size(&d, 2), put_copy(&d, 0, 2);
    expect_corrupt(base, &d);
    /* op 0 is reserved */
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 1), cn_buf_putc(&d, 0), put_insert(&d, "a");
    expect_corrupt(base, &d);
    /* an insert longer than the rest of the delta */
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, 5), cn_buf_putc(&d, 5), cn_buf_append(&d, "abc", 3);
    expect_corrupt(base, &d);
    /* a header size varint that never ends, or that overflows 64 bits */
    cn_buf_reset(&d), cn_buf_putc(&d, 0x8a), cn_buf_putc(&d, 0x80);
    expect_corrupt(base, &d);
    cn_buf_reset(&d), put_size(&d, 10);
    for (int i = 0; i < 11; i++) cn_buf_putc(&d, 0xff);
    cn_buf_putc(&d, 0x01);
    expect_corrupt(base, &d);
    /* a huge announced result with a tiny body must fail without a huge allocation */
    cn_buf_reset(&d), put_size(&d, 10), put_size(&d, (size_t)1 << 60), put_insert(&d, "a");
    expect_corrupt(base, &d);
    /* an empty delta */
    cn_buf_reset(&d);
    expect_corrupt(base, &d);
    cn_buf_free(&d);
}

/* ---- hand-made packs ---- */

enum { TAG_A = 0x11, TAG_B = 0x22, TAG_C = 0x33, TAG_CHAIN = 0x44, TAG_NONE = 0x99 };

/* "hello" from the base plus " world": a delta for the base "hello forged". */
static void hello_world_delta(cn_buf_t *d, size_t base_len) {
    cn_buf_reset(d);
    put_size(d, base_len), put_size(d, 11), put_copy(d, 0, 5), put_insert(d, " world");
}

/* Pack A: whole objects good and bad, offset deltas, reference deltas. */
static void forge_pack_a(void) {
    forge_t f;
    uint8_t oid[CN_PACK_OID_LEN], base[CN_PACK_OID_LEN], other[CN_PACK_OID_LEN];
    cn_buf_t d = {0};
    forge_begin(&f);
    oid_of(TAG_A, 1, oid);
    uint64_t hello = forge_whole(&f, oid, CN_PACK_BLOB, "hello forged", 12);
    oid_of(TAG_A, 2, oid), forge_whole(&f, oid, CN_PACK_BLOB, "", 0);
    oid_of(TAG_A, 3, oid), forge_whole(&f, oid, CN_PACK_TAG, "tag-ish", 7);
    /* 4: a commit the index finds through its 64-bit offset table */
    oid_of(TAG_A, 4, oid), forge_name(&f, oid, f.b.len, IDX_BIG);
    put_header(&f.b, CN_PACK_COMMIT, 6), put_zlib(&f.b, "commit", 6, 0);
    /* 5, 6: sizes that lie (more, then fewer bytes than the stream holds) */
    oid_of(TAG_A, 5, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, CN_PACK_BLOB, 20), put_zlib(&f.b, "twelve bytes", 12, 0);
    oid_of(TAG_A, 6, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, CN_PACK_BLOB, 5), put_zlib(&f.b, "twelve bytes", 12, 0);
    /* 7: a wrong zlib checksum; 8, 9: types 5 and 0 */
    oid_of(TAG_A, 7, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, CN_PACK_BLOB, 4), put_zlib(&f.b, "abcd", 4, 1);
    oid_of(TAG_A, 8, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, 5, 4), put_zlib(&f.b, "abcd", 4, 0);
    oid_of(TAG_A, 9, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, 0, 4), put_zlib(&f.b, "abcd", 4, 0);
    /* 10: an offset past the pack's end; 11: a 64-bit slot the table lacks */
    oid_of(TAG_A, 10, oid), forge_name(&f, oid, 1u << 20, IDX_PLAIN);
    oid_of(TAG_A, 11, oid), forge_name(&f, oid, 0, IDX_BAD_BIG);
    /* 12: an offset delta on hello; 13: one whose base is itself (distance 0);
       14: one reaching before the pack's first entry; 15: a wrong base size */
    hello_world_delta(&d, 12);
    oid_of(TAG_A, 12, oid), forge_ofs(&f, oid, hello, &d);
    oid_of(TAG_A, 13, oid), forge_ofs(&f, oid, f.b.len, &d);
    oid_of(TAG_A, 14, oid), forge_ofs(&f, oid, 4, &d);
    hello_world_delta(&d, 13);
    oid_of(TAG_A, 15, oid), forge_ofs(&f, oid, hello, &d);
    /* 16: a reference delta on hello; 17: on an object in no pack; 18, 19:
       two that are each other's base; 20: its own base */
    hello_world_delta(&d, 12);
    oid_of(TAG_A, 1, base), oid_of(TAG_A, 16, oid), forge_ref(&f, oid, base, &d);
    oid_of(TAG_NONE, 1, base), oid_of(TAG_A, 17, oid), forge_ref(&f, oid, base, &d);
    oid_of(TAG_A, 18, oid), oid_of(TAG_A, 19, other);
    forge_ref(&f, oid, other, &d), forge_ref(&f, other, oid, &d);
    oid_of(TAG_A, 20, oid), forge_ref(&f, oid, oid, &d);
    /* 22: a header announcing 8 GiB over a 4-byte stream (left to libgit2
       or corrupt), and 23: a delta on it */
    oid_of(TAG_A, 22, oid);
    uint64_t huge = forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, CN_PACK_BLOB, (size_t)1 << 33), put_zlib(&f.b, "abcd", 4, 0);
    oid_of(TAG_A, 23, oid), forge_ofs(&f, oid, huge, &d);
    /* 21, last: a header whose size never ends before the trailer */
    oid_of(TAG_A, 21, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    for (int i = 0; i < 6; i++) cn_buf_putc(&f.b, 0xb3);
    forge_write(&f, "aaaa");
    cn_buf_free(&d);
}

/* Pack B: a reference delta on hello in pack A; last, a stream cut short. */
static void forge_pack_b(void) {
    forge_t f;
    uint8_t oid[CN_PACK_OID_LEN], base[CN_PACK_OID_LEN];
    cn_buf_t d = {0};
    forge_begin(&f);
    hello_world_delta(&d, 12);
    oid_of(TAG_A, 1, base), oid_of(TAG_B, 1, oid), forge_ref(&f, oid, base, &d);
    oid_of(TAG_B, 2, oid), forge_name(&f, oid, f.b.len, IDX_PLAIN);
    put_header(&f.b, CN_PACK_BLOB, 100);
    const uint8_t cut[] = {0x78, 0x01, 0x01, 100, 0, (uint8_t)~100, 0xff, 'a', 'b', 'c'};
    cn_buf_append(&f.b, cut, sizeof cut);
    forge_write(&f, "bbbb");
    cn_buf_free(&d);
}

static void test_forged_objects_read_or_fail_as_they_should(void **state) {
    (void)state;
    forge_pack_a();
    forge_pack_b();
    cn_packs_t *p = open_dir();
    assert_int_equal(cn_packs_count(p), 2);
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    for (int pass = 0; pass < 2; pass++) { /* the second one through the cache */
        assert_int_equal(read_obj(r, TAG_A, 1, CN_PACK_BLOB, "hello forged", 12), 0);
        assert_int_equal(read_obj(r, TAG_A, 2, CN_PACK_BLOB, "", 0), 0);
        assert_int_equal(read_obj(r, TAG_A, 3, CN_PACK_TAG, "tag-ish", 7), 0);
        assert_int_equal(read_obj(r, TAG_A, 4, CN_PACK_COMMIT, "commit", 6), 0);
        for (uint32_t k = 5; k <= 9; k++) assert_int_equal(read_obj(r, TAG_A, k, 0, NULL, 0), CN_ECORRUPT);
        for (uint32_t k = 10; k <= 11; k++) {
            int rc = read_obj(r, TAG_A, k, 0, NULL, 0);
            assert_true(rc == CN_ENOTFOUND || rc == CN_ECORRUPT);
        }
        assert_int_equal(read_obj(r, TAG_A, 12, CN_PACK_BLOB, "hello world", 11), 0);
        for (uint32_t k = 13; k <= 15; k++) assert_int_equal(read_obj(r, TAG_A, k, 0, NULL, 0), CN_ECORRUPT);
        assert_int_equal(read_obj(r, TAG_A, 16, CN_PACK_BLOB, "hello world", 11), 0);
        /* the base may be a loose object: the caller asks libgit2 */
        assert_int_equal(read_obj(r, TAG_A, 17, 0, NULL, 0), CN_ENOTFOUND);
        for (uint32_t k = 18; k <= 21; k++) assert_int_equal(read_obj(r, TAG_A, k, 0, NULL, 0), CN_ECORRUPT);
        for (uint32_t k = 22; k <= 23; k++) {
            int rc = read_obj(r, TAG_A, k, 0, NULL, 0);
            assert_true(rc == CN_ENOTFOUND || rc == CN_ECORRUPT);
        }
        assert_int_equal(read_obj(r, TAG_B, 1, CN_PACK_BLOB, "hello world", 11), 0);
        assert_int_equal(read_obj(r, TAG_B, 2, 0, NULL, 0), CN_ECORRUPT);
        assert_int_equal(read_obj(r, TAG_NONE, 1, 0, NULL, 0), CN_ENOTFOUND);
    }
    cn_pack_reader_free(&r);
    cn_packs_unref(&p);
    cn_rm_rf(dir);
    assert_int_equal(setup(NULL), 0);
}

/* A blob then n offset deltas, each dropping the first byte and adding one:
   the object at depth k is known without reading the pack. */
static void expected_at(uint32_t k, uint8_t out[8]) {
    memcpy(out, "01234567", 8);
    for (uint32_t i = 1; i <= k; i++) memmove(out, out + 1, 7), out[7] = (uint8_t)('A' + i % 26);
}

static void test_forged_delta_chain_limit(void **state) {
    (void)state;
    enum { N = 10001 };
    forge_t f;
    uint8_t oid[CN_PACK_OID_LEN];
    forge_begin(&f);
    oid_of(TAG_CHAIN, 0, oid);
    uint64_t prev = forge_whole(&f, oid, CN_PACK_BLOB, "01234567", 8);
    cn_buf_t d = {0};
    for (uint32_t k = 1; k <= N; k++) {
        cn_buf_reset(&d);
        put_size(&d, 8), put_size(&d, 8);
        cn_buf_putc(&d, 0x80 | 0x01 | 0x10), cn_buf_putc(&d, 1), cn_buf_putc(&d, 7);
        cn_buf_putc(&d, 1), cn_buf_putc(&d, (uint8_t)('A' + k % 26));
        oid_of(TAG_CHAIN, k, oid);
        prev = forge_ofs(&f, oid, prev, &d);
    }
    forge_write(&f, "cccc");
    cn_buf_free(&d);
    cn_packs_t *p = open_dir();
    uint8_t want[8];
    uint32_t ok[] = {1, 2, 77, 4095, 9999};
    for (size_t i = 0; i < CN_ARRAY_LEN(ok); i++) {
        cn_pack_reader_t *r = cn_pack_reader_new(p, 0); /* nothing cached */
        expected_at(ok[i], want);
        assert_int_equal(read_obj(r, TAG_CHAIN, ok[i], CN_PACK_BLOB, want, 8), 0);
        cn_pack_reader_free(&r);
    }
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    assert_int_equal(read_obj(r, TAG_CHAIN, N, 0, NULL, 0), CN_ECORRUPT);
    cn_pack_reader_free(&r);
    cn_packs_unref(&p);
    cn_rm_rf(dir);
    assert_int_equal(setup(NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delta_copy_and_insert),
        cmocka_unit_test(test_delta_zero_size_copy_means_64k),
        cmocka_unit_test(test_delta_bad_forms_are_corrupt),
        cmocka_unit_test(test_forged_objects_read_or_fail_as_they_should),
        cmocka_unit_test(test_forged_delta_chain_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
