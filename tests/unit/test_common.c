/* test_common.c: errors, buffers, big-endian keys, varints, hashing, zstd bounds,
   JSON writer and parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "compress.h"
#include "errors.h"
#include "hash.h"
#include "json.h"
#include "util.h"

static void test_strerror_covers_every_code(void **state) {
    (void)state;
    for (int c = 0; c > -CN_ERR_COUNT_; c--) assert_string_not_equal(cn_strerror(c), "unknown error");
    assert_string_equal(cn_strerror(-1000), "unknown error");
    assert_int_equal(cn_err(CN_EINVAL, "bad %d", 7), CN_EINVAL);
    assert_string_equal(cn_err_detail(), "bad 7");
}

static void test_be64_keys_sort_numerically(void **state) {
    (void)state;
    uint8_t a[8], b[8];
    cn_put_be64(a, 255);
    cn_put_be64(b, 256);
    assert_true(memcmp(a, b, 8) < 0);
    assert_int_equal(cn_get_be64(b), 256);
    cn_put_be32(a, 0xdeadbeef);
    assert_int_equal(cn_get_be32(a), 0xdeadbeef);
}

static void test_varint_round_trip_and_truncation(void **state) {
    (void)state;
    uint64_t vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX};
    cn_buf_t b = {0};
    for (size_t i = 0; i < CN_ARRAY_LEN(vals); i++) cn_buf_put_varint(&b, vals[i]);
    const uint8_t *p = b.data, *end = b.data + b.len;
    for (size_t i = 0; i < CN_ARRAY_LEN(vals); i++) {
        uint64_t v;
        assert_true(cn_get_varint(&p, end, &v));
        assert_true(v == vals[i]);
    }
    uint64_t v;
    assert_false(cn_get_varint(&p, end, &v));
    uint8_t bad[11];
    memset(bad, 0xff, sizeof bad);
    p = bad;
    assert_false(cn_get_varint(&p, bad + sizeof bad, &v));
    cn_buf_free(&b);
}

static void test_blake2b_known_answer(void **state) {
    (void)state;
    cn_hash_init();
    uint8_t h[32], h2[32];
    char hex[65];
    cn_blake2b("abc", 3, h);
    cn_hex(h, 32, hex);
    assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    cn_hash_state_t st;
    cn_blake2b_init(&st);
    cn_blake2b_update(&st, "a", 1);
    cn_blake2b_update(&st, "bc", 2);
    cn_blake2b_final(&st, h2);
    assert_memory_equal(h, h2, 32);
    assert_true(cn_hash64("a", 1) != cn_hash64("b", 1));
}

static void test_zstd_round_trip_and_bound(void **state) {
    (void)state;
    char src[10000];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (char)('a' + i % 7);
    cn_buf_t z = {0}, out = {0};
    assert_int_equal(cn_zstd_compress(src, sizeof src, 3, &z), 0);
    assert_true(z.len < sizeof src / 10);
    assert_int_equal(cn_zstd_decompress(z.data, z.len, sizeof src, &out), 0);
    assert_int_equal(out.len, sizeof src);
    assert_memory_equal(out.data, src, sizeof src);
    cn_buf_reset(&out);
    assert_int_equal(cn_zstd_decompress(z.data, z.len, 100, &out), CN_ETOOBIG);
    z.data[z.len / 2] ^= 0x55;
    cn_buf_reset(&out);
    assert_true(cn_zstd_decompress(z.data, z.len, sizeof src, &out) < 0);
    cn_buf_reset(&out);
    assert_int_equal(cn_zstd_decompress("garbage", 7, 100, &out), CN_ECORRUPT);
    cn_buf_free(&z);
    cn_buf_free(&out);
}

static void test_json_parse_flat_object(void **state) {
    (void)state;
    const char *s = " {\"ms\": 20, \"name\":\"a\\\"b\\u00e9\", \"ok\":true, \"after\":[1, 2,3], \"n\":null} ";
    cn_json_obj_t o;
    assert_int_equal(cn_json_parse_object(s, strlen(s), &o), 0);
    assert_int_equal(o.n, 5);
    assert_string_equal(cn_json_get(&o, "ms")->value, "20");
    assert_int_equal(cn_json_get(&o, "ms")->type, CN_JSON_NUM);
    assert_string_equal(cn_json_get(&o, "name")->value, "a\"b\xe9");
    assert_int_equal(cn_json_get(&o, "ok")->type, CN_JSON_BOOL);
    uint64_t *ids;
    assert_int_equal(cn_json_parse_u64_array(cn_json_get(&o, "after")->value, &ids), 3);
    assert_true(ids[2] == 3);
    free(ids);
    assert_null(cn_json_get(&o, "missing"));
    cn_json_obj_free(&o);
    const char *bad[] = {"",           "{",   "{\"a\"}",     "{\"a\":}",
                         "{\"a\":1,}", "[1]", "{\"a\":1} x", "{\"a\":\"\\q\"}"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++)
        assert_int_equal(cn_json_parse_object(bad[i], strlen(bad[i]), &o), CN_EINVAL);
}

static void test_json_str_keeps_every_byte(void **state) {
    (void)state;
    cn_buf_t b = {0};
    cn_json_str(&b, "a\xff\n\"", 4);
    assert_string_equal(cn_buf_cstr(&b), "\"a\\u00ff\\n\\\"\"");
    cn_json_obj_t o;
    cn_buf_t obj = {0};
    cn_buf_printf(&obj, "{\"k\":%s}", cn_buf_cstr(&b));
    assert_int_equal(cn_json_parse_object((char *)obj.data, obj.len, &o), 0);
    assert_memory_equal(cn_json_get(&o, "k")->value, "a\xff\n\"", 4);
    cn_json_obj_free(&o);
    cn_buf_free(&b);
    cn_buf_free(&obj);
}

static void test_files_atomic_write_and_bounded_read(void **state) {
    (void)state;
    assert_int_equal(cn_mkdir_p("d1/d2/d3"), 0);
    assert_int_equal(cn_write_file_atomic("d1/d2/d3/f", "hello", 5), 0);
    cn_buf_t b = {0};
    assert_int_equal(cn_read_file("d1/d2/d3/f", 100, &b), 0);
    assert_int_equal(b.len, 5);
    cn_buf_reset(&b);
    assert_int_equal(cn_read_file("d1/d2/d3/f", 3, &b), CN_ETOOBIG);
    cn_buf_reset(&b);
    assert_int_equal(cn_read_file("nope", 3, &b), CN_ENOTFOUND);
    assert_int_equal(cn_rm_rf("d1"), 0);
    assert_int_equal(cn_read_file("d1/d2/d3/f", 100, &b), CN_ENOTFOUND);
    cn_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_covers_every_code),
        cmocka_unit_test(test_be64_keys_sort_numerically),
        cmocka_unit_test(test_varint_round_trip_and_truncation),
        cmocka_unit_test(test_blake2b_known_answer),
        cmocka_unit_test(test_zstd_round_trip_and_bound),
        cmocka_unit_test(test_json_parse_flat_object),
        cmocka_unit_test(test_json_str_keeps_every_byte),
        cmocka_unit_test(test_files_atomic_write_and_bounded_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
