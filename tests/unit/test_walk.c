/* test_walk.c: the parallel walker (worker/jobs/walk.h) on real trees made by
   the test: every entry found once with its stat, symlinks recorded and never
   followed (loops included), names with every byte value, trees deeper than
   4,096 levels, unreadable directories counted as errors while the walk goes
   on, sorted output the path tree builder accepts, and bad roots refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "errors.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static void mk(const char *rel, const char *content) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (content) {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
    } else {
        assert_int_equal(mkdir(p, 0755), 0);
    }
}

static void ln(const char *target, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static cn_walk_t *walk(int threads) {
    cn_walk_opts_t o = {.threads = threads};
    cn_walk_t *w = NULL;
    assert_int_equal(cn_walk_start(root, &o, &w), 0);
    assert_int_equal(cn_walk_wait(w), 0);
    uint64_t n;
    assert_true(cn_walk_poll(w, &n, NULL));
    assert_int_equal(n, cn_walk_count(w));
    return w;
}

typedef struct {
    cn_buf_t all; /* "path\n" for each entry */
    cn_buf_t prev;
    uint64_t n;
    bool ordered;
    cn_ptb_t *b;
} collect_t;

static int on_entry(void *arg, const uint8_t *path, size_t len, const cn_walk_entry_t *e) {
    collect_t *c = arg;
    if (c->n && cn_path_cmp(c->prev.data, c->prev.len, path, len) >= 0) c->ordered = false;
    cn_buf_reset(&c->prev);
    cn_buf_append(&c->prev, path, len);
    cn_buf_append(&c->all, path, len);
    if (e->st.type == CN_PT_SYMLINK) {
        cn_buf_append(&c->all, "->", 2);
        cn_buf_append(&c->all, e->target, e->target_len);
    }
    cn_buf_putc(&c->all, '\n');
    c->n++;
    if (c->b) return cn_ptb_add(c->b, path, len, &e->st, e->target, e->target_len);
    return 0;
}

static void collect_free(collect_t *c) {
    cn_buf_free(&c->all);
    cn_buf_free(&c->prev);
}

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof root, "./walkXXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static void test_walk_finds_every_entry_and_never_follows_symlinks(void **state) {
    (void)state;
    mk("d", NULL);
    mk("d/f", "hello");
    mk("d/sub", NULL);
    mk("d/sub/g", "x");
    mk("e", NULL);
    ln("../d", "e/up");   /* a symlink to a directory: not entered */
    ln("loop", "e/loop"); /* a symlink to itself */
    ln("nowhere", "e/gone");
    collect_t c = {.ordered = true};
    cn_walk_t *w = walk(3);
    assert_int_equal(cn_walk_sorted(w, on_entry, &c), 0);
    assert_true(c.ordered);
    assert_string_equal(cn_buf_cstr(&c.all),
                        "\nd\nd/f\nd/sub\nd/sub/g\ne\ne/gone->nowhere\ne/loop->loop\ne/up->../d\n");
    assert_int_equal(cn_walk_errors_total(w), 0);
    /* stat of d/f */
    for (uint64_t i = 0; i < cn_walk_count(w); i++) {
        const cn_walk_entry_t *e = cn_walk_entry(w, i);
        if (e->name_len == 1 && e->name[0] == 'f') {
            assert_int_equal(e->st.type, CN_PT_FILE);
            assert_int_equal(e->st.size, 5);
            assert_int_equal(e->st.uid, getuid());
            assert_true((e->st.mode & 0777) != 0);
            assert_true(e->st.mtime_ns > 1000000000LL * 1000000000LL);
        }
    }
    cn_walk_destroy(&w);
    collect_free(&c);
}

static void test_walk_keeps_names_with_every_byte_value(void **state) {
    (void)state;
    mk("bytes", NULL);
    char name[8];
    for (int ch = 1; ch < 256; ch++) {
        if (ch == '/' || ch == '.') continue;
        char p[64];
        name[0] = 'n';
        name[1] = (char)ch;
        name[2] = (char)0xfe; /* never valid UTF-8 */
        name[3] = 0;
        snprintf(p, sizeof p, "bytes/%s", name);
        mk(p, "");
    }
    collect_t c = {.ordered = true};
    cn_walk_t *w = walk(2);
    c.b = cn_ptb_new((const uint8_t *)root, strlen(root));
    assert_int_equal(cn_walk_sorted(w, on_entry, &c), 0);
    assert_int_equal(c.n, 2 + 253);
    cn_buf_t blob = {0};
    assert_int_equal(cn_ptb_finish(c.b, &blob, NULL, NULL), 0);
    cn_ptree_t *t = NULL;
    assert_int_equal(cn_ptree_decode(blob.data, blob.len, 0, &t), 0);
    name[1] = (char)0x80;
    char p[16];
    snprintf(p, sizeof p, "bytes/%s", name);
    assert_int_not_equal(cn_ptree_lookup(t, (const uint8_t *)p, strlen(p)), UINT32_MAX);
    cn_ptree_destroy(&t);
    cn_ptb_destroy(&c.b);
    cn_buf_free(&blob);
    cn_walk_destroy(&w);
    collect_free(&c);
}

static void test_walk_goes_deeper_than_4096_levels(void **state) {
    (void)state;
    enum { DEPTH = 4500 };
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < DEPTH; i++) {
        assert_int_equal(mkdirat(fd, "dd", 0755), 0);
        int nfd = openat(fd, "dd", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = nfd;
    }
    int f = openat(fd, "leaf", O_CREAT | O_WRONLY, 0644);
    assert_true(f >= 0);
    close(f);
    close(fd);
    collect_t c = {.ordered = true};
    cn_walk_t *w = walk(2);
    assert_int_equal(cn_walk_errors_total(w), 0);
    assert_int_equal(cn_walk_count(w), DEPTH + 2);
    assert_int_equal(cn_walk_sorted(w, on_entry, &c), 0);
    assert_true(c.ordered);
    assert_int_equal(c.prev.len, DEPTH * 3 + 4); /* "dd/" x DEPTH + "leaf" */
    cn_walk_destroy(&w);
    collect_free(&c);
}

static void test_walk_counts_unreadable_directories_and_goes_on(void **state) {
    (void)state;
    mk("open", NULL);
    mk("open/a", "1");
    mk("shut", NULL);
    mk("shut/hidden", "2");
    chmod(root, 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/shut", root);
    assert_int_equal(chmod(p, 0), 0);
    /* root reads everything: walk as an unprivileged user in a child */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(10);
        cn_walk_opts_t o = {.threads = 2};
        cn_walk_t *w = NULL;
        if (cn_walk_start(root, &o, &w) != 0) _exit(11);
        cn_walk_wait(w);
        size_t n;
        const cn_walk_error_t *e = cn_walk_errors(w, &n);
        int ok = cn_walk_count(w) == 4 && cn_walk_errors_total(w) == 1 && n == 1 &&
                 strcmp(e[0].path, "shut") == 0 && e[0].errnum == EACCES;
        cn_walk_destroy(&w);
        _exit(ok ? 0 : 12);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    chmod(p, 0755);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_walk_refuses_missing_root_and_non_directory(void **state) {
    (void)state;
    cn_walk_t *w = NULL;
    assert_int_equal(cn_walk_start("/nonexistent/really/not", NULL, &w), CN_ENOTFOUND);
    assert_non_null(strstr(cn_err_detail(), "does not exist"));
    mk("plain", "x");
    char p[512];
    snprintf(p, sizeof p, "%s/plain", root);
    assert_int_equal(cn_walk_start(p, NULL, &w), CN_EINVAL);
    assert_non_null(strstr(cn_err_detail(), "not a directory"));
    assert_null(w);
}

static bool has_name(cn_walk_t *w, const char *name) {
    for (uint64_t i = 0; i < cn_walk_count(w); i++) {
        const cn_walk_entry_t *e = cn_walk_entry(w, i);
        if (e->name_len == strlen(name) && memcmp(e->name, name, e->name_len) == 0) return true;
    }
    return false;
}

static void test_walk_stays_on_one_filesystem_unless_asked(void **state) {
    (void)state;
    struct stat a, b;
    if (stat("/dev", &a) != 0 || stat("/dev/shm", &b) != 0 || a.st_dev == b.st_dev) {
        skip(); /* needs /dev/shm mounted apart from /dev */
    }
    char name[64], p[128];
    snprintf(name, sizeof name, "cnwalk-%d", (int)getpid());
    snprintf(p, sizeof p, "/dev/shm/%s", name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    for (int cross = 0; cross < 2; cross++) {
        cn_walk_opts_t o = {.threads = 2, .cross_fs = cross};
        cn_walk_t *w = NULL;
        assert_int_equal(cn_walk_start("/dev", &o, &w), 0);
        cn_walk_wait(w);
        assert_true(has_name(w, "shm")); /* the mount point itself is recorded */
        assert_int_equal(has_name(w, name), cross == 1);
        cn_walk_destroy(&w);
    }
    unlink(p);
}

typedef struct {
    const char *dir;
    int n;
} unlinker_t;

static void *unlink_all(void *arg) {
    unlinker_t *u = arg;
    char p[600];
    for (int i = u->n - 1; i >= 0; i--) {
        snprintf(p, sizeof p, "%s/f%05d", u->dir, i);
        unlink(p);
    }
    return NULL;
}

/* Entries deleted while the walk runs are counted as "vanished" and the walk
   goes on. The race is real, so rounds repeat until one is seen (bounded). */
static void test_walk_counts_entries_that_vanish(void **state) {
    (void)state;
    enum { FILES = 4000 };
    char dir[512], p[600];
    bool seen = false;
    for (int round = 0; round < 20 && !seen; round++) {
        snprintf(dir, sizeof dir, "%s/v%d", root, round);
        assert_int_equal(mkdir(dir, 0755), 0);
        for (int i = 0; i < FILES; i++) {
            snprintf(p, sizeof p, "%s/f%05d", dir, i);
            close(open(p, O_CREAT | O_WRONLY, 0644));
        }
        cn_walk_opts_t o = {.threads = 1};
        cn_walk_t *w = NULL;
        pthread_t t;
        unlinker_t u = {dir, FILES};
        assert_int_equal(cn_walk_start(dir, &o, &w), 0);
        pthread_create(&t, NULL, unlink_all, &u);
        assert_int_equal(cn_walk_wait(w), 0);
        pthread_join(t, NULL);
        size_t n;
        const cn_walk_error_t *e = cn_walk_errors(w, &n);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(e[i].what, "vanished");
            assert_int_equal(e[i].errnum, ENOENT);
        }
        /* every name getdents listed is either an entry or a vanished error */
        assert_true(cn_walk_count(w) - 1 + cn_walk_errors_total(w) <= FILES);
        seen = cn_walk_errors_total(w) > 0;
        cn_walk_destroy(&w);
        rmdir(dir);
    }
    if (!seen) skip(); /* the deletions never overlapped the walk on this machine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_walk_finds_every_entry_and_never_follows_symlinks, setup),
        cmocka_unit_test_setup(test_walk_keeps_names_with_every_byte_value, setup),
        cmocka_unit_test_setup(test_walk_goes_deeper_than_4096_levels, setup),
        cmocka_unit_test_setup(test_walk_counts_unreadable_directories_and_goes_on, setup),
        cmocka_unit_test_setup(test_walk_refuses_missing_root_and_non_directory, setup),
        cmocka_unit_test_setup(test_walk_stays_on_one_filesystem_unless_asked, setup),
        cmocka_unit_test_setup(test_walk_counts_entries_that_vanish, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
