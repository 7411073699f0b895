/* test_pathtree.c: the path tree builder and decoder (storage/pathtree.h):
   round trips with names of every byte value, sorted-order enforcement,
   implicit directories, symlink resolution (loops, outside, dangling), find,
   diff, very deep trees, and rejection of truncated or altered bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "pathtree.h"

#include <stdlib.h>
#include <string.h>

static cn_pstat_t st_of(uint8_t type, uint64_t size) {
    cn_pstat_t s = {.type = type,
                    .mode = type == CN_PT_DIR ? 040755 : 0100644,
                    .uid = 1000,
                    .gid = 100,
                    .size = size,
                    .mtime_ns = 1700000000123456789LL + (int64_t)size};
    return s;
}

static void add(cn_ptb_t *b, const char *p, uint8_t type, uint64_t size, const char *target) {
    cn_pstat_t s = st_of(type, size);
    int rc = cn_ptb_add(b, (const uint8_t *)p, strlen(p), &s, (const uint8_t *)target,
                        target ? strlen(target) : 0);
    assert_int_equal(rc, 0);
}

static cn_ptree_t *finish(cn_ptb_t *b, cn_buf_t *blob) {
    assert_int_equal(cn_ptb_finish(b, blob, NULL, NULL), 0);
    cn_ptb_destroy(&b);
    cn_ptree_t *t = NULL;
    assert_int_equal(cn_ptree_decode(blob->data, blob->len, 0, &t), 0);
    return t;
}

static uint32_t look(const cn_ptree_t *t, const char *p) {
    return cn_ptree_lookup(t, (const uint8_t *)p, strlen(p));
}

static void test_pathtree_round_trip_keeps_every_field(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/srv", 4);
    add(b, "", CN_PT_DIR, 0, NULL);
    add(b, "a", CN_PT_DIR, 0, NULL);
    add(b, "a/x.c", CN_PT_FILE, 12, NULL);
    add(b, "a/y", CN_PT_SYMLINK, 3, "x.c");
    add(b, "a-b", CN_PT_FILE, 7, NULL);
    add(b, "b", CN_PT_FILE, 1ull << 40, NULL);
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    assert_int_equal(cn_ptree_count(t), 6);
    size_t rl;
    assert_memory_equal(cn_ptree_root(t, &rl), "/srv", 4);
    uint32_t x = look(t, "a/x.c");
    assert_int_not_equal(x, UINT32_MAX);
    cn_pstat_t s;
    cn_ptree_stat(t, x, &s);
    cn_pstat_t want = st_of(CN_PT_FILE, 12);
    assert_int_equal(s.type, want.type);
    assert_int_equal(s.size, 12);
    assert_int_equal(s.mode, want.mode);
    assert_int_equal(s.uid, 1000);
    assert_int_equal(s.gid, 100);
    assert_true(s.mtime_ns == want.mtime_ns);
    cn_ptree_stat(t, look(t, "b"), &s);
    assert_true(s.size == 1ull << 40);
    uint32_t y = look(t, "a/y");
    size_t tl;
    const uint8_t *tg = cn_ptree_target(t, y, &tl);
    assert_int_equal(tl, 3);
    assert_memory_equal(tg, "x.c", 3);
    assert_int_equal(cn_ptree_link(t, y), x);
    /* children of the root in byte order: "a" < "a-b" < "b" */
    uint32_t n;
    const uint32_t *k = cn_ptree_children(t, 0, &n);
    assert_int_equal(n, 3);
    size_t l;
    assert_memory_equal(cn_ptree_name(t, k[1], &l), "a-b", 3);
    cn_buf_t p = {0};
    cn_ptree_path(t, x, &p);
    assert_int_equal(p.len, 5);
    assert_memory_equal(p.data, "a/x.c", 5);
    assert_int_equal(look(t, "a/nope"), UINT32_MAX);
    assert_int_equal(look(t, ""), 0);
    cn_buf_free(&p);
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

static void test_pathtree_names_with_every_byte_value(void **state) {
    (void)state;
    /* one file per byte value 1..255 except '/', plus non-UTF-8 sequences */
    char names[256][8];
    size_t nn = 0;
    for (int c = 1; c < 256; c++) {
        if (c == '/') continue;
        names[nn][0] = 'n';
        names[nn][1] = (char)c;
        names[nn][2] = (char)0xff;
        names[nn][3] = 0;
        nn++;
    }
    /* byte order is already sorted for these */
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/r", 2);
    for (size_t i = 0; i < nn; i++) add(b, names[i], CN_PT_FILE, i, NULL);
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    assert_int_equal(cn_ptree_count(t), nn + 1);
    for (size_t i = 0; i < nn; i++) {
        uint32_t x = look(t, names[i]);
        assert_int_not_equal(x, UINT32_MAX);
        cn_pstat_t s;
        cn_ptree_stat(t, x, &s);
        assert_int_equal(s.size, i);
        size_t l;
        assert_memory_equal(cn_ptree_name(t, x, &l), names[i], 3);
    }
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

static void test_pathtree_rejects_unsorted_repeated_and_bad_paths(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/", 1);
    cn_pstat_t f = st_of(CN_PT_FILE, 1);
    add(b, "b", CN_PT_DIR, 0, NULL);
    add(b, "b/c", CN_PT_FILE, 0, NULL);
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"a", 1, &f, NULL, 0), CN_EINVAL);     /* before b */
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"b/c", 3, &f, NULL, 0), CN_EINVAL);   /* repeated */
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"b", 1, &f, NULL, 0), CN_EINVAL);     /* ancestor */
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"b/c/d", 5, &f, NULL, 0), CN_EINVAL); /* under a file */
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"/x", 2, &f, NULL, 0), CN_EINVAL);
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"x//y", 4, &f, NULL, 0), CN_EINVAL);
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"x\0y", 3, &f, NULL, 0), CN_EINVAL);
    assert_int_equal(cn_ptb_add(b, (const uint8_t *)"", 0, &f, NULL, 0), CN_EINVAL);
    /* "b/c" < "b-x" in component order even though '-' < '/' in bytes */
    assert_true(cn_path_cmp((const uint8_t *)"b/c", 3, (const uint8_t *)"b-x", 3) < 0);
    add(b, "b-x", CN_PT_FILE, 0, NULL);
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    assert_int_equal(cn_ptree_count(t), 4);
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

static void test_pathtree_adds_missing_directories(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/r", 2);
    add(b, "usr/lib/libc.so", CN_PT_FILE, 5, NULL);
    add(b, "usr/lib/x/y", CN_PT_FILE, 6, NULL);
    add(b, "var/log", CN_PT_FILE, 7, NULL);
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    assert_int_equal(cn_ptree_count(t), 8);
    cn_pstat_t s;
    cn_ptree_stat(t, look(t, "usr/lib/x"), &s);
    assert_int_equal(s.type, CN_PT_DIR);
    cn_ptree_stat(t, look(t, "usr/lib/x/y"), &s);
    assert_int_equal(s.size, 6);
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

static void test_pathtree_resolves_symlinks_loops_and_outside(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/top/", 5);
    add(b, "d", CN_PT_DIR, 0, NULL);
    add(b, "d/f", CN_PT_FILE, 1, NULL);
    add(b, "d/up", CN_PT_SYMLINK, 0, "../d/./f");
    add(b, "l1", CN_PT_SYMLINK, 0, "l2");
    add(b, "l2", CN_PT_SYMLINK, 0, "l1");
    add(b, "la", CN_PT_SYMLINK, 0, "/top/d/f");
    add(b, "lchain", CN_PT_SYMLINK, 0, "ldir/f");
    add(b, "ldir", CN_PT_SYMLINK, 0, "d");
    add(b, "lgone", CN_PT_SYMLINK, 0, "nothing");
    add(b, "lout", CN_PT_SYMLINK, 0, "/etc/passwd");
    add(b, "lself", CN_PT_SYMLINK, 0, "lself");
    add(b, "lup", CN_PT_SYMLINK, 0, "../x");
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    uint32_t f = look(t, "d/f");
    assert_int_equal(cn_ptree_link(t, look(t, "d/up")), f);
    assert_int_equal(cn_ptree_link(t, look(t, "la")), f);
    assert_int_equal(cn_ptree_link(t, look(t, "lchain")), f);
    assert_int_equal(cn_ptree_link(t, look(t, "ldir")), look(t, "d"));
    assert_int_equal(cn_ptree_link(t, look(t, "l1")), CN_PT_LINK_BROKEN);
    assert_int_equal(cn_ptree_link(t, look(t, "l2")), CN_PT_LINK_BROKEN);
    assert_int_equal(cn_ptree_link(t, look(t, "lself")), CN_PT_LINK_BROKEN);
    assert_int_equal(cn_ptree_link(t, look(t, "lgone")), CN_PT_LINK_BROKEN);
    assert_int_equal(cn_ptree_link(t, look(t, "lout")), CN_PT_LINK_OUTSIDE);
    assert_int_equal(cn_ptree_link(t, look(t, "lup")), CN_PT_LINK_OUTSIDE);
    assert_int_equal(cn_ptree_link(t, f), CN_PT_LINK_BROKEN); /* not a symlink */
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

static bool collect(void *arg, uint32_t node) {
    uint32_t *c = arg;
    c[++c[0]] = node;
    return c[0] < 15;
}

static void test_pathtree_find_by_name_glob_and_path(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/r", 2);
    add(b, "a/Makefile", CN_PT_FILE, 1, NULL);
    add(b, "a/main.c", CN_PT_FILE, 1, NULL);
    add(b, "b/main.c", CN_PT_FILE, 1, NULL);
    add(b, "b/main.h", CN_PT_FILE, 1, NULL);
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    uint32_t got[16] = {0};
    cn_ptree_find(t, "main.c", collect, got);
    assert_int_equal(got[0], 2);
    assert_int_equal(got[1], look(t, "a/main.c"));
    assert_int_equal(got[2], look(t, "b/main.c"));
    memset(got, 0, sizeof got);
    cn_ptree_find(t, "*.[ch]", collect, got);
    assert_int_equal(got[0], 3);
    memset(got, 0, sizeof got);
    cn_ptree_find(t, "b/*.c", collect, got);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], look(t, "b/main.c"));
    memset(got, 0, sizeof got);
    cn_ptree_find(t, "main", collect, got);
    assert_int_equal(got[0], 0);
    cn_ptree_destroy(&t);
    cn_buf_free(&blob);
}

typedef struct {
    const cn_ptree_t *a, *b;
    cn_buf_t out;
} diff_acc_t;

static bool on_diff(void *arg, int kind, unsigned what, uint32_t na, uint32_t nb) {
    diff_acc_t *d = arg;
    cn_buf_putc(&d->out, kind == CN_DIFF_ADDED ? '+' : kind == CN_DIFF_REMOVED ? '-' : '~');
    cn_ptree_path(kind == CN_DIFF_ADDED ? d->b : d->a, kind == CN_DIFF_ADDED ? nb : na, &d->out);
    if (kind == CN_DIFF_CHANGED) cn_buf_printf(&d->out, "(%u)", what);
    cn_buf_putc(&d->out, ' ');
    return true;
}

static void test_pathtree_diff_reports_added_removed_changed(void **state) {
    (void)state;
    cn_ptb_t *b1 = cn_ptb_new((const uint8_t *)"/r", 2);
    add(b1, "d", CN_PT_DIR, 0, NULL);
    add(b1, "d/gone", CN_PT_FILE, 1, NULL);
    add(b1, "d/grow", CN_PT_FILE, 3, NULL);
    add(b1, "d/same", CN_PT_FILE, 2, NULL);
    add(b1, "old", CN_PT_DIR, 0, NULL);
    add(b1, "old/x", CN_PT_FILE, 1, NULL);
    add(b1, "t", CN_PT_DIR, 0, NULL);
    add(b1, "t/in", CN_PT_FILE, 1, NULL);
    cn_ptb_t *b2 = cn_ptb_new((const uint8_t *)"/r", 2);
    add(b2, "d", CN_PT_DIR, 0, NULL);
    add(b2, "d/grow", CN_PT_FILE, 3, NULL);
    add(b2, "d/new", CN_PT_FILE, 1, NULL);
    add(b2, "d/same", CN_PT_FILE, 2, NULL);
    add(b2, "t", CN_PT_FILE, 0, NULL);
    cn_buf_t x1 = {0}, x2 = {0};
    cn_ptree_t *t1 = finish(b1, &x1), *t2 = finish(b2, &x2);
    diff_acc_t d = {t1, t2, {0}};
    cn_ptree_diff(t1, t2, on_diff, &d);
    /* t: a directory became a file (type and mode bits changed) */
    const char *want = "-d/gone +d/new -old -old/x ~t(5) -t/in ";
    assert_string_equal(cn_buf_cstr(&d.out), want);
    cn_buf_free(&d.out);
    cn_ptree_destroy(&t1);
    cn_ptree_destroy(&t2);
    cn_buf_free(&x1);
    cn_buf_free(&x2);
}

static void test_pathtree_deeper_than_4096_levels(void **state) {
    (void)state;
    enum { DEPTH = 5000 };
    cn_buf_t p = {0};
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/deep", 5);
    for (int i = 0; i < DEPTH; i++) {
        if (i) cn_buf_putc(&p, '/');
        cn_buf_putc(&p, 'a');
        cn_pstat_t s = st_of(i == DEPTH - 1 ? CN_PT_FILE : CN_PT_DIR, (uint64_t)i);
        assert_int_equal(cn_ptb_add(b, p.data, p.len, &s, NULL, 0), 0);
    }
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    assert_int_equal(cn_ptree_count(t), DEPTH + 1);
    uint32_t x = cn_ptree_lookup(t, p.data, p.len);
    assert_int_equal(x, DEPTH);
    cn_buf_t q = {0};
    cn_ptree_path(t, x, &q);
    assert_int_equal(q.len, p.len);
    cn_ptree_t *t2 = NULL;
    assert_int_equal(cn_ptree_decode(blob.data, blob.len, 0, &t2), 0);
    diff_acc_t d = {t, t2, {0}};
    cn_ptree_diff(t, t2, on_diff, &d);
    assert_int_equal(d.out.len, 0);
    cn_buf_free(&q);
    cn_buf_free(&p);
    cn_ptree_destroy(&t);
    cn_ptree_destroy(&t2);
    cn_buf_free(&blob);
}

static void test_pathtree_decoder_rejects_truncated_and_altered_bytes(void **state) {
    (void)state;
    cn_ptb_t *b = cn_ptb_new((const uint8_t *)"/r", 2);
    add(b, "a", CN_PT_DIR, 0, NULL);
    add(b, "a/b", CN_PT_FILE, 1, NULL);
    add(b, "a/l", CN_PT_SYMLINK, 1, "b");
    cn_buf_t blob = {0};
    cn_ptree_t *t = finish(b, &blob);
    cn_ptree_destroy(&t);
    for (size_t n = 0; n < blob.len; n++) {
        assert_int_not_equal(cn_ptree_decode(blob.data, n, 0, &t), 0);
        assert_null(t);
    }
    /* zstd frames carry checksums: any flipped byte is refused or harmless */
    size_t refused = 0;
    for (size_t i = 0; i < blob.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            blob.data[i] ^= (uint8_t)(1u << bit);
            int rc = cn_ptree_decode(blob.data, blob.len, 0, &t);
            if (rc) refused++;
            cn_ptree_destroy(&t);
            blob.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(refused > blob.len * 6);
    assert_int_equal(cn_ptree_decode("CNPT\x02\x00\x05\x01", 8, 0, &t), CN_ECORRUPT);
    assert_int_equal(cn_ptree_decode("CNPT\x01\x00\x05\x01", 8, 0, &t), CN_EVERSION);
    cn_buf_free(&blob);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pathtree_round_trip_keeps_every_field),
        cmocka_unit_test(test_pathtree_names_with_every_byte_value),
        cmocka_unit_test(test_pathtree_rejects_unsorted_repeated_and_bad_paths),
        cmocka_unit_test(test_pathtree_adds_missing_directories),
        cmocka_unit_test(test_pathtree_resolves_symlinks_loops_and_outside),
        cmocka_unit_test(test_pathtree_find_by_name_glob_and_path),
        cmocka_unit_test(test_pathtree_diff_reports_added_removed_changed),
        cmocka_unit_test(test_pathtree_deeper_than_4096_levels),
        cmocka_unit_test(test_pathtree_decoder_rejects_truncated_and_altered_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
