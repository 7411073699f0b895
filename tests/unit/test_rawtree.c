/* test_rawtree.c: the raw tree object reader (rawtree.h) on hand-made bytes:
   every prefix of a valid tree (entries cut anywhere, oids cut short), bad
   modes, empty names, names holding every byte value; and on real trees from a
   repository made by git, entry for entry against git ls-tree's listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "git.h"
#include "rawtree.h"
#include "sh_fx.h"
#include "treediff.h"
#include "util.h"

/* Appends one entry "mode SP name NUL oid" with the oid's bytes all `fill`. */
static void put_entry(cn_buf_t *b, const char *mode, const void *name, size_t name_len, uint8_t fill) {
    cn_buf_append(b, mode, strlen(mode));
    cn_buf_putc(b, ' ');
    cn_buf_append(b, name, name_len);
    cn_buf_putc(b, '\0');
    for (int i = 0; i < CN_OID_LEN; i++) cn_buf_putc(b, fill);
}

/* Parses all of data; returns the final code and counts the entries read. */
static int parse_all(const void *data, size_t len, size_t *n) {
    cn_rawtree_t it;
    cn_rawtree_init(&it, data, len);
    cn_git_entry_t e;
    int rc;
    *n = 0;
    while ((rc = cn_rawtree_next(&it, &e)) == 1) ++*n;
    return rc;
}

static void test_valid_entries_are_read_in_place(void **state) {
    (void)state;
    cn_buf_t b = {0};
    put_entry(&b, "100644", "README", 6, 0x11);
    put_entry(&b, "40000", "src", 3, 0x22);
    put_entry(&b, "160000", "sub", 3, 0x33);
    put_entry(&b, "120000", "link", 4, 0x44);
    cn_rawtree_t it;
    cn_rawtree_init(&it, b.data, b.len);
    cn_git_entry_t e;
    const uint32_t modes[] = {0100644, 040000, 0160000, 0120000};
    const char *names[] = {"README", "src", "sub", "link"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cn_rawtree_next(&it, &e), 1);
        assert_int_equal(e.mode, modes[i]);
        assert_int_equal(e.name_len, strlen(names[i]));
        assert_memory_equal(e.name, names[i], e.name_len);
        assert_true((const uint8_t *)e.name > b.data &&
                    (const uint8_t *)e.name < b.data + b.len); /* no copy */
        for (int k = 0; k < CN_OID_LEN; k++) assert_int_equal(e.oid->id[k], 0x11 * (i + 1));
    }
    assert_int_equal(cn_rawtree_next(&it, &e), 0);
    assert_int_equal(cn_rawtree_next(&it, &e), 0); /* the end stays the end */
    size_t n;
    assert_int_equal(parse_all("", 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(parse_all(NULL, 0, &n), 0); /* the empty tree */
    assert_int_equal(n, 0);
    cn_buf_free(&b);
}

/* Every prefix of a valid tree: whole entries are read, a cut one is corrupt
   (inside the mode, the name, or the oid), and a cut on a boundary is the end. */
static void test_every_truncation_is_corrupt_or_a_boundary(void **state) {
    (void)state;
    cn_buf_t b = {0};
    put_entry(&b, "100644", "a", 1, 1);
    size_t first = b.len;
    put_entry(&b, "100755", "bin", 3, 2);
    for (size_t len = 0; len <= b.len; len++) {
        uint8_t *copy = cn_xmalloc(len ? len : 1); /* exactly len bytes: ASan sees overreads */
        memcpy(copy, b.data, len);
        size_t n;
        int rc = parse_all(copy, len, &n);
        if (len == 0 || len == first || len == b.len) {
            assert_int_equal(rc, 0);
            assert_int_equal(n, len == 0 ? 0 : len == first ? 1 : 2);
        } else {
            assert_int_equal(rc, CN_ECORRUPT);
            assert_int_equal(n, len < first ? 0 : 1);
        }
        free(copy);
    }
    /* The oid one byte short names what is wrong. */
    size_t n;
    assert_int_equal(parse_all(b.data, b.len - 1, &n), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "object id cut short"));
    cn_buf_free(&b);
}

static void test_bad_modes_and_names_are_corrupt(void **state) {
    (void)state;
    const char *bad_modes[] = {"",       "8",  "10064a",  "1006448", "1777770",
                               "200000", "-1", "+100644", " 100644", "\x7f"};
    for (size_t i = 0; i < sizeof bad_modes / sizeof *bad_modes; i++) {
        cn_buf_t b = {0};
        put_entry(&b, "100644", "ok", 2, 7);
        put_entry(&b, bad_modes[i], "x", 1, 7);
        size_t n;
        int rc = parse_all(b.data, b.len, &n);
        if (rc != CN_ECORRUPT) fail_msg("mode \"%s\" was accepted", bad_modes[i]);
        assert_int_equal(n, 1);
        cn_buf_free(&b);
    }
    /* The largest mode libgit2 keeps, a one-digit mode and zero-padded modes
       (written by old tools) are accepted. */
    cn_buf_t b = {0};
    put_entry(&b, "177777", "x", 1, 7);
    put_entry(&b, "0", "y", 1, 7);
    put_entry(&b, "040000", "z", 1, 7);
    put_entry(&b, "000100644", "zz", 2, 7);
    size_t n;
    assert_int_equal(parse_all(b.data, b.len, &n), 0);
    assert_int_equal(n, 4);
    cn_rawtree_t it;
    cn_git_entry_t e;
    cn_rawtree_init(&it, b.data, b.len);
    while (cn_rawtree_next(&it, &e) == 1 && e.name_len == 1) continue;
    assert_int_equal(e.mode, 0100644);
    /* An empty name, then a name with no NUL before the end. */
    cn_buf_reset(&b);
    put_entry(&b, "100644", "", 0, 7);
    assert_int_equal(parse_all(b.data, b.len, &n), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "empty name"));
    cn_buf_reset(&b);
    cn_buf_append(&b, "100644 nonul", 12);
    assert_int_equal(parse_all(b.data, b.len, &n), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "NUL"));
    /* After an error, the reader stays failed. */
    cn_rawtree_init(&it, b.data, b.len);
    assert_int_equal(cn_rawtree_next(&it, &e), CN_ECORRUPT);
    assert_int_equal(cn_rawtree_next(&it, &e), CN_ECORRUPT);
    cn_buf_free(&b);
}

/* Every byte value but NUL, alone and all in one 255-byte name, comes back as is. */
static void test_names_with_every_byte_value(void **state) {
    (void)state;
    cn_buf_t b = {0};
    uint8_t all[255];
    for (int c = 1; c < 256; c++) {
        uint8_t one = (uint8_t)c;
        put_entry(&b, "100644", &one, 1, (uint8_t)c);
        all[c - 1] = (uint8_t)c;
    }
    put_entry(&b, "100644", all, sizeof all, 0);
    cn_rawtree_t it;
    cn_rawtree_init(&it, b.data, b.len);
    cn_git_entry_t e;
    for (int c = 1; c < 256; c++) {
        assert_int_equal(cn_rawtree_next(&it, &e), 1);
        assert_int_equal(e.name_len, 1);
        assert_int_equal((uint8_t)e.name[0], c);
        assert_int_equal(e.oid->id[0], c);
    }
    assert_int_equal(cn_rawtree_next(&it, &e), 1);
    assert_int_equal(e.name_len, sizeof all);
    assert_memory_equal(e.name, all, sizeof all);
    assert_int_equal(cn_rawtree_next(&it, &e), 0);
    cn_buf_free(&b);
}

/* The shared run ends after the last whole entry both trees hold byte for
   byte: not inside an oid, a name or a mode that differ. */
static void test_common_run_ends_on_an_entry_boundary(void **state) {
    (void)state;
    cn_buf_t a = {0}, b = {0};
    put_entry(&a, "100644", "a", 1, 1);
    put_entry(&a, "100644", "b", 1, 2);
    size_t one = a.len / 2;
    cn_buf_append(&b, a.data, a.len);
    b.data[b.len - 1] ^= 1; /* the last oid byte of "b" differs */
    assert_int_equal(cn_rawtree_common(a.data, a.len, b.data, b.len), one);
    assert_int_equal(cn_rawtree_common(a.data, a.len, a.data, a.len), a.len);
    assert_int_equal(cn_rawtree_common(a.data, a.len, a.data, one + 5), one); /* b cut short */
    b.data[b.len - 1] ^= 1;
    b.data[one] = '4'; /* the mode of "b" differs */
    assert_int_equal(cn_rawtree_common(a.data, a.len, b.data, b.len), one);
    b.data[0] = '4'; /* the first entry differs */
    assert_int_equal(cn_rawtree_common(a.data, a.len, b.data, b.len), 0);
    assert_int_equal(cn_rawtree_common(NULL, 0, a.data, a.len), 0);
    /* An oid holding a NUL byte does not fool the hop from entry to entry. */
    cn_buf_reset(&a), cn_buf_reset(&b);
    put_entry(&a, "100644", "x", 1, 0);
    size_t first = a.len;
    put_entry(&a, "100644", "y", 1, 0);
    cn_buf_append(&b, a.data, a.len);
    b.data[first + 7] = (uint8_t)'z'; /* "y" renamed to "z" */
    assert_int_equal(cn_rawtree_common(a.data, a.len, b.data, b.len), first);
    /* The equal tail: the whole second entry but its name's first byte... */
    assert_int_equal(cn_rawtree_common_tail(a.data, a.len, b.data, b.len), a.len - first - 8);
    assert_int_equal(cn_rawtree_common_tail(a.data, a.len, a.data, a.len), a.len);
    assert_int_equal(cn_rawtree_common_tail(a.data, a.len, a.data + 3, a.len - 3), a.len - 3);
    assert_int_equal(cn_rawtree_common_tail(NULL, 0, a.data, a.len), 0);
    b.data[b.len - 1] ^= 1; /* ...and nothing when the last byte differs */
    assert_int_equal(cn_rawtree_common_tail(a.data, a.len, b.data, b.len), 0);
    cn_buf_free(&a), cn_buf_free(&b);
}

static void rev_parse(const char *repo, const char *what, cn_oid_t *oid) {
    cn_buf_t line = {0};
    fx_capture(repo, &line, "git rev-parse '%s'", what);
    assert_true(line.len >= 2 * CN_OID_LEN);
    for (int i = 0; i < CN_OID_LEN; i++) {
        unsigned v;
        assert_int_equal(sscanf((const char *)line.data + 2 * i, "%2x", &v), 1);
        oid->id[i] = (uint8_t)v;
    }
    cn_buf_free(&line);
}

/* git's own listing of a tree (ls-tree -z: "mode SP type SP oid TAB name NUL"). */
static char *ls_tree(const char *repo, const cn_oid_t *oid, size_t *len) {
    char hex[CN_OID_HEX];
    cn_hex(oid->id, CN_OID_LEN, hex);
    cn_buf_t b = {0};
    fx_capture(repo, &b, "git ls-tree -z %s", hex);
    *len = b.len;
    return (char *)b.data;
}

/* Real trees made by git: the raw reader sees what git ls-tree sees. */
static void test_real_trees_match_git(void **state) {
    (void)state;
    int rc =
        system("export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x "
               "GIT_CONFIG_NOSYSTEM=1 HOME=$PWD && git init -q r && cd r && mkdir -p d/e && echo 1 > a && "
               "echo 2 > d/b && echo 3 > d/e/c && printf x > \"$(printf 'n\\001\\303\\251\\377')\" && "
               "echo 4 > x.sh && chmod +x x.sh && ln -s a l && git add -A && git commit -qm one "
               ">/dev/null 2>&1");
    assert_int_equal(rc, 0);
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open("r", &g), 0);
    const char *trees[] = {"HEAD^{tree}", "HEAD:d", "HEAD:d/e"};
    for (size_t t = 0; t < 3; t++) {
        cn_oid_t oid;
        rev_parse("r", trees[t], &oid);
        size_t ls_len, n = 0;
        char *ls = ls_tree("r", &oid, &ls_len);
        cn_git_raw_t *raw = NULL;
        const uint8_t *data;
        size_t len;
        assert_int_equal(cn_git_tree_raw(g, &oid, &raw, &data, &len), 0);
        cn_rawtree_t it;
        cn_rawtree_init(&it, data, len);
        for (char *rec = ls; rec < ls + ls_len; rec += strlen(rec) + 1, n++) {
            char type[8], hex[CN_OID_HEX], got_hex[CN_OID_HEX];
            unsigned mode;
            int name_at = 0;
            assert_int_equal(sscanf(rec, "%o %7s %40s\t%n", &mode, type, hex, &name_at), 3);
            cn_git_entry_t got;
            assert_int_equal(cn_rawtree_next(&it, &got), 1);
            assert_int_equal(got.mode, mode);
            assert_int_equal(got.name_len, strlen(rec + name_at));
            assert_memory_equal(got.name, rec + name_at, got.name_len);
            cn_hex(got.oid->id, CN_OID_LEN, got_hex);
            assert_string_equal(got_hex, hex);
        }
        assert_true(n > 0);
        cn_git_entry_t e;
        assert_int_equal(cn_rawtree_next(&it, &e), 0);
        cn_git_raw_free(raw);
        free(ls);
    }
    /* A blob asked for as a tree, and a missing object, are corrupt. */
    cn_oid_t blob, missing = {{0}};
    rev_parse("r", "HEAD:a", &blob);
    cn_git_raw_t *raw = NULL;
    const uint8_t *data;
    size_t len;
    assert_int_equal(cn_git_tree_raw(g, &blob, &raw, &data, &len), CN_ECORRUPT);
    assert_non_null(strstr(cn_err_detail(), "not a tree"));
    assert_int_equal(cn_git_tree_raw(g, &missing, &raw, &data, &len), CN_ECORRUPT);
    cn_git_close(&g);
}

static int count_change(void *arg, const cn_tdiff_change_t *c) {
    (void)c;
    ++*(int *)arg;
    return 0;
}

/* A tree object whose last entry is cut short (written with --literally, as a
   broken tool could): the tree diff stops with CN_ECORRUPT naming where. */
static void test_treediff_stops_at_a_corrupt_tree(void **state) {
    (void)state;
    int rc = system("export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD && git init -q --bare c && cd c && "
                    "b=$(echo x | git hash-object -w --stdin) && "
                    "bad=$( (printf '100644 f\\0'; printf \"$b\" | xxd -r -p | head -c 10) | "
                    "git hash-object -t tree --literally -w --stdin) && "
                    "printf '040000 tree %s\\tsub\\n100644 blob %s\\ttop\\n' $bad $b | git mktree --missing "
                    "> ../root.txt && printf '100644 blob %s\\ttop\\n' $b | git mktree > ../old.txt");
    assert_int_equal(rc, 0);
    cn_oid_t root, old;
    FILE *f;
    char line[64];
    cn_oid_t *oids[] = {&root, &old};
    const char *files[] = {"root.txt", "old.txt"};
    for (int k = 0; k < 2; k++) {
        assert_non_null(f = fopen(files[k], "r"));
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        for (int i = 0; i < CN_OID_LEN; i++) {
            unsigned v;
            assert_int_equal(sscanf(line + 2 * i, "%2x", &v), 1);
            oids[k]->id[i] = (uint8_t)v;
        }
    }
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open("c", &g), 0);
    int n = 0;
    assert_int_equal(cn_treediff(g, &old, &root, count_change, &n), CN_ECORRUPT);
    if (!strstr(cn_err_detail(), "object id cut short") || !strstr(cn_err_detail(), "\"sub/\""))
        fail_msg("detail '%s' does not say what is wrong and where", cn_err_detail());
    assert_int_equal(n, 0); /* "sub" sorts before "top": nothing was reported */
    cn_git_close(&g);
}

static int collect_path(void *arg, const cn_tdiff_change_t *c) {
    cn_buf_append(arg, c->path, c->path_len);
    cn_buf_putc(arg, '\n');
    return 0;
}

/* Edits in the middle of big directories (where the diff skips the equal head
   and tail of both trees unparsed): every commit's changed paths are git's. */
static void test_treediff_in_big_directories_matches_git(void **state) {
    (void)state;
    int rc =
        system("export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x "
               "GIT_CONFIG_NOSYSTEM=1 HOME=$PWD && git init -q big && cd big && mkdir d && "
               "for i in $(seq 10 69); do echo $i > d/f$i; echo $i > g$i; done && git add -A && "
               "git commit -qm 0 && RANDOM=7 && for c in $(seq 1 40); do "
               "for k in 1 2 3; do i=$((10 + RANDOM % 60)); case $((RANDOM % 5)) in "
               "0) echo $c >> d/f$i;; 1) rm -rf d/f$i;; 2) rm -rf d/f$i; mkdir -p d/f$i; echo $c > d/f$i/x;; "
               "3) touch g$i; chmod +x g$i;; 4) echo $c > d/n$c$k;; esac; done; "
               "git add -A && git commit -qm $c --allow-empty; done >/dev/null 2>&1");
    assert_int_equal(rc, 0);
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open("big", &g), 0);
    for (int c = 1; c <= 40; c++) {
        char rev[32], cmd[256];
        snprintf(rev, sizeof rev, "HEAD~%d", 40 - c);
        cn_oid_t old, new;
        snprintf(cmd, sizeof cmd, "%s^^{tree}", rev);
        rev_parse("big", cmd, &old);
        snprintf(cmd, sizeof cmd, "%s^{tree}", rev);
        rev_parse("big", cmd, &new);
        cn_buf_t ours = {0}, git = {0};
        assert_int_equal(cn_treediff(g, &old, &new, collect_path, &ours), 0);
        snprintf(cmd, sizeof cmd, "git -C big diff-tree -r --no-renames --name-only %s^ %s | LC_ALL=C sort",
                 rev, rev);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) cn_buf_append(&git, buf, n);
        assert_int_equal(pclose(p), 0);
        /* ours is in git's tree order; sort it the same way as git's list */
        char path[] = "ours.txt";
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fwrite(ours.data, 1, ours.len, f);
        fclose(f);
        cn_buf_t sorted = {0};
        assert_non_null(p = popen("LC_ALL=C sort ours.txt", "r"));
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) cn_buf_append(&sorted, buf, n);
        assert_int_equal(pclose(p), 0);
        if (strcmp(cn_buf_cstr(&sorted), cn_buf_cstr(&git)) != 0)
            fail_msg("commit %d: ours\n%s\ngit\n%s", c, cn_buf_cstr(&sorted), cn_buf_cstr(&git));
        cn_buf_free(&ours), cn_buf_free(&git), cn_buf_free(&sorted);
    }
    cn_git_close(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_entries_are_read_in_place),
        cmocka_unit_test(test_every_truncation_is_corrupt_or_a_boundary),
        cmocka_unit_test(test_bad_modes_and_names_are_corrupt),
        cmocka_unit_test(test_names_with_every_byte_value),
        cmocka_unit_test(test_common_run_ends_on_an_entry_boundary),
        cmocka_unit_test(test_real_trees_match_git),
        cmocka_unit_test(test_treediff_stops_at_a_corrupt_tree),
        cmocka_unit_test(test_treediff_in_big_directories_matches_git),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
