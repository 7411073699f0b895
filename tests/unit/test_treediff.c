/* test_treediff.c: the download's tree diff against `git diff-tree -r` on real
   repositories made with the git command: every commit of a generated history
   (adds, deletes, nested edits, file<->directory, modes, symlinks, submodules,
   non-UTF-8 names), root commits, and proof that equal subtrees are never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "git.h"
#include "sh_fx.h"
#include "treediff.h"
#include "util.h"

static char dir[256];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fx_vsh(dir, "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x", fmt,
           ap);
    va_end(ap);
}

/* The standard output of a command run in the repository r. */
static void capture(cn_buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void capture(cn_buf_t *out, const char *fmt, ...) {
    char *r = cn_path_join(dir, "r");
    va_list ap;
    va_start(ap, fmt);
    fx_vcapture(r, out, fmt, ap);
    va_end(ap);
    free(r);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/tdiff-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cn_rm_rf(dir);
    return 0;
}

/* One line per change: "mode old-oid oid path": the old oid (the delta base)
   only for a file modified in place, the oid all zeros for a deletion. */
static int collect(void *arg, const cn_tdiff_change_t *c) {
    cn_buf_t *b = arg;
    char hex[CN_OID_HEX], old[CN_OID_HEX];
    memset(hex, '0', CN_OID_HEX - 1), hex[CN_OID_HEX - 1] = '\0';
    memcpy(old, hex, sizeof old);
    if (!c->deleted) cn_hex(c->oid->id, CN_OID_LEN, hex);
    if (c->old_oid) cn_hex(c->old_oid->id, CN_OID_LEN, old);
    cn_buf_printf(b, "%06o %s %s ", c->deleted ? 0u : c->mode, old, hex);
    cn_buf_append(b, c->path, c->path_len);
    cn_buf_putc(b, '\n');
    return 0;
}

static void hex_oid(const char *hex, cn_oid_t *o) {
    char h[CN_OID_HEX];
    memcpy(h, hex, CN_OID_HEX - 1);
    h[CN_OID_HEX - 1] = '\0';
    assert_true(cn_unhex(h, o->id, CN_OID_LEN));
}

/* Our diff of commit hex against its first parent, in the format of collect. */
static void our_diff(cn_git_t *g, const char *hex, cn_buf_t *out) {
    cn_oid_t oid;
    hex_oid(hex, &oid);
    cn_git_commit_t *c = NULL, *p = NULL;
    assert_int_equal(cn_git_commit_get(g, &oid, &c), 0);
    const cn_oid_t *ptree = NULL;
    if (cn_git_commit_nparents(c) > 0) {
        assert_int_equal(cn_git_commit_get(g, cn_git_commit_parent(c, 0), &p), 0);
        ptree = cn_git_commit_tree(p);
    }
    assert_int_equal(cn_treediff(g, ptree, cn_git_commit_tree(c), collect, out), 0);
    cn_git_commit_free(p);
    cn_git_commit_free(c);
}

/* git's answer in the same format. */
static void git_diff(const char *hex, cn_buf_t *out) {
    cn_buf_t raw = {0};
    capture(&raw,
            "if git rev-parse -q --verify %s^ >/dev/null; then git diff-tree -r -z --no-renames --no-abbrev "
            "%s^ %s; "
            "else git diff-tree -r -z --root --no-renames --no-abbrev --no-commit-id %s; fi",
            hex, hex, hex, hex);
    const char *p = (const char *)raw.data, *end = p + raw.len;
    while (p < end) {
        /* ":oldmode newmode oldsha newsha S\0path\0" */
        const char *meta = p;
        p += strlen(p) + 1;
        const char *path = p;
        p += strlen(p) + 1;
        char newmode[7], oldsha[41], newsha[41], status = meta[strlen(meta) - 1];
        memcpy(newmode, meta + 8, 6), newmode[6] = '\0';
        memcpy(oldsha, meta + 15, 40), oldsha[40] = '\0';
        memcpy(newsha, meta + 56, 40), newsha[40] = '\0';
        if (status == 'D')
            cn_buf_printf(out, "000000 %.40s %s ", "0000000000000000000000000000000000000000", newsha);
        else
            cn_buf_printf(out, "%s %s %s ", newmode, oldsha, newsha);
        cn_buf_append(out, path, strlen(path));
        cn_buf_putc(out, '\n');
    }
    cn_buf_free(&raw);
}

static int cmp_line(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines (git orders a type change differently, the set must agree). */
static char *sorted(cn_buf_t *b) {
    char *s = cn_xstrdup(cn_buf_cstr(b));
    char *lines[4096];
    size_t n = 0;
    for (char *l = s; *l && n < 4096;) {
        lines[n++] = l;
        char *nl = strchr(l, '\n');
        *nl = '\0';
        l = nl + 1;
    }
    qsort(lines, n, sizeof *lines, cmp_line);
    cn_buf_t out = {0};
    for (size_t i = 0; i < n; i++) cn_buf_printf(&out, "%s\n", lines[i]);
    free(s);
    char *r = cn_xstrdup(cn_buf_cstr(&out));
    cn_buf_free(&out);
    return r;
}

static void test_every_commit_matches_git_diff_tree(void **state) {
    (void)state;
    sh("git init -q r && cd r && "
       "mkdir -p a/b/c d && echo 1 > a/b/c/f && echo 2 > a/x && echo 3 > d/y && echo top > t && "
       "git add -A && git commit -qm root && "
       "echo 1b > a/b/c/f && git commit -qam edit-deep && "
       "git rm -q a/x && echo new > a/b/n && git add -A && git commit -qm del-add && "
       "chmod +x t && git commit -qam mode && "
       "ln -s t link && git add link && git commit -qm symlink && "
       "git rm -qr d && echo file > d && git add d && git commit -qm dir-to-file && "
       "git rm -q d && mkdir d && echo inside > d/z && git add d && git commit -qm file-to-dir && "
       "printf x > \"$(printf 'caf\\351')\" && git add -A && git commit -qm latin1-name && "
       "git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,sub && "
       "git commit -qm submodule && "
       "git checkout -qb side HEAD~3 && echo side > s && git add s && git commit -qm side && "
       "git checkout -q master && git merge -q --no-edit side && "
       "for i in 1 2 3; do echo $i >> a/b/c/f; echo $i > a/b/m$i; git add -A; git commit -qm loop$i; done");
    char *path = cn_path_join(dir, "r");
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open(path, &g), 0);
    cn_buf_t revs = {0};
    capture(&revs, "git rev-list --all");
    int n = 0;
    for (char *l = (char *)cn_buf_cstr(&revs); *l; l += 41, n++) {
        char hex[41];
        memcpy(hex, l, 40), hex[40] = '\0';
        cn_buf_t ours = {0}, theirs = {0};
        our_diff(g, hex, &ours);
        git_diff(hex, &theirs);
        char *a = sorted(&ours), *b = sorted(&theirs);
        if (strcmp(a, b) != 0) fail_msg("commit %s\nours:\n%s\ngit:\n%s", hex, a, b);
        free(a), free(b);
        cn_buf_free(&ours), cn_buf_free(&theirs);
    }
    assert_int_equal(n, 14);
    cn_buf_free(&revs);
    cn_git_close(&g);
    free(path);
}

static void test_equal_subtrees_are_never_read(void **state) {
    (void)state;
    sh("git init -q r2 && cd r2 && mkdir -p big/deep && echo 1 > big/deep/f && echo x > x && "
       "git add -A && git commit -qm one && echo y > x && git commit -qam two");
    cn_buf_t big = {0}, trees = {0};
    char *path = cn_path_join(dir, "r2");
    FILE *p = NULL;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && git rev-parse HEAD:big HEAD~1^{tree} HEAD^{tree}", path);
    assert_non_null(p = popen(cmd, "r"));
    char line[3][64];
    for (int i = 0; i < 3; i++) assert_non_null(fgets(line[i], sizeof line[i], p));
    pclose(p);
    /* Remove the shared subtree's object: a diff that opened it would fail. */
    sh("cd r2 && rm .git/objects/%.2s/%.38s", line[0], line[0] + 2);
    cn_oid_t bigoid, old_tree, new_tree;
    hex_oid(line[0], &bigoid);
    hex_oid(line[1], &old_tree);
    hex_oid(line[2], &new_tree);
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open(path, &g), 0);
    assert_int_equal(cn_treediff(g, &old_tree, &new_tree, collect, &trees), 0);
    assert_non_null(strstr(cn_buf_cstr(&trees), " x\n"));
    assert_null(strstr(cn_buf_cstr(&trees), "big"));
    /* Against the empty tree the subtree must be read, and its absence is named. */
    cn_buf_reset(&trees);
    assert_int_equal(cn_treediff(g, NULL, &new_tree, collect, &trees), CN_ECORRUPT);
    line[0][40] = '\0';
    if (!strstr(cn_err_detail(), line[0])) fail_msg("detail '%s' does not name %s", cn_err_detail(), line[0]);
    cn_git_close(&g);
    cn_buf_free(&big), cn_buf_free(&trees);
    free(path);
}

static int stop_at_second(void *arg, const cn_tdiff_change_t *c) {
    (void)c;
    int *n = arg;
    return ++*n == 2 ? CN_ECANCELLED : 0;
}

static void test_callback_error_stops_the_diff(void **state) {
    (void)state;
    sh("git init -q r3 && cd r3 && echo 1 > a && echo 2 > b && echo 3 > c && git add -A && git commit -qm "
       "one");
    char *path = cn_path_join(dir, "r3");
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open(path, &g), 0);
    cn_buf_t hex = {0};
    FILE *p = NULL;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && git rev-parse HEAD^{tree}", path);
    assert_non_null(p = popen(cmd, "r"));
    char line[64];
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    cn_oid_t t;
    hex_oid(line, &t);
    int n = 0;
    assert_int_equal(cn_treediff(g, NULL, &t, stop_at_second, &n), CN_ECANCELLED);
    assert_int_equal(n, 2);
    assert_int_equal(cn_treediff(g, &t, &t, stop_at_second, &n), 0); /* equal trees: nothing */
    cn_buf_free(&hex);
    cn_git_close(&g);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_commit_matches_git_diff_tree),
        cmocka_unit_test(test_equal_subtrees_are_never_read),
        cmocka_unit_test(test_callback_error_stops_the_diff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
