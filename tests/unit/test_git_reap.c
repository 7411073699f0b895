/* test_git_reap.c: repositories handed to cn_git_close_later are really closed
   on the reaper thread: the pack file a read opened is closed once
   cn_git_reap_wait returns, for one repository and for a burst of them (past
   the reaper's backlog the caller closes its own), and the handle is taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git.h"
#include "util.h"

static char dir[256];

/* File descriptors open on a .pack file of this process. */
static int pack_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[300], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = 0;
        size_t tl = (size_t)len;
        if (tl > 5 && strcmp(target + tl - 5, ".pack") == 0) n++;
    }
    closedir(d);
    return n;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/reap-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t "
             "GIT_COMMITTER_EMAIL=t@x GIT_CONFIG_NOSYSTEM=1 HOME='%s' && git init -q r && cd r && "
             "echo a >a && git add a && git commit -qm one && git gc -q >/dev/null 2>&1",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cn_rm_rf(dir);
    return 0;
}

/* Opens the repository and reads HEAD's commit, which opens its pack. */
static cn_git_t *open_and_read(void) {
    char *path = cn_path_join(dir, "r");
    cn_git_t *g = NULL;
    assert_int_equal(cn_git_open(path, &g), 0);
    free(path);
    cn_git_ref_t *refs = NULL;
    size_t n = 0;
    assert_int_equal(cn_git_refs(g, &refs, &n), 0);
    assert_true(n >= 1);
    cn_git_commit_t *c = NULL;
    assert_int_equal(cn_git_commit_get(g, &refs[0].peeled, &c), 0);
    cn_git_commit_free(c);
    cn_git_refs_free(refs, n);
    return g;
}

static void test_closed_on_the_reaper(void **state) {
    (void)state;
    int before = pack_fds();
    cn_git_t *g = open_and_read();
    assert_int_equal(pack_fds(), before + 1);
    cn_git_close_later(&g);
    assert_null(g);
    cn_git_reap_wait();
    assert_int_equal(pack_fds(), before);
}

static void test_burst_all_closed(void **state) {
    (void)state;
    int before = pack_fds();
    for (int i = 0; i < 8; i++) {
        cn_git_t *g = open_and_read();
        cn_git_close_later(&g);
        assert_null(g);
    }
    cn_git_reap_wait();
    assert_int_equal(pack_fds(), before);
    cn_git_t *none = NULL;
    cn_git_close_later(&none); /* a NULL handle is nothing to close */
    cn_git_reap_wait();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_on_the_reaper),
        cmocka_unit_test(test_burst_all_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
