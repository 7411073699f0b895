/* test_url.c: repository URL canonicalisation: every spelling of one repository
   gives one canonical URL (so one project id), and bad or disallowed URLs are
   refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "url.h"
#include "util.h"

static void expect(const char *in, const char *want) {
    char *out = NULL;
    int rc = cn_url_canonical(in, "/home/u/work", &out);
    if (rc != 0) fail_msg("%s: %s", in, cn_err_detail());
    assert_string_equal(out, want);
    /* Canonical form is a fixed point. */
    char *again = NULL;
    assert_int_equal(cn_url_canonical(out, "/elsewhere", &again), 0);
    assert_string_equal(again, out);
    free(again);
    free(out);
}

static void expect_error(const char *in, int code, const char *detail_part) {
    char *out = NULL;
    assert_int_equal(cn_url_canonical(in, "/home/u", &out), code);
    assert_null(out);
    if (!strstr(cn_err_detail(), detail_part))
        fail_msg("detail '%s' lacks '%s'", cn_err_detail(), detail_part);
}

static void test_spellings_of_one_repository_agree(void **state) {
    (void)state;
    const char *same[] = {
        "https://github.com/owner/repo",       "HTTPS://GitHub.COM/owner/repo.git",
        "https://github.com/owner/repo/",      "https://github.com:443/owner/repo",
        "https://github.com//owner/repo.git/", "https://user:tok@github.com/owner/repo",
        "  https://github.com/owner/./repo\n", "https://github.com/owner/repo#readme",
        "https://github.com/x/../owner/repo",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        expect(same[i], "https://github.com/owner/repo");
    /* Path case is kept: servers may treat it as significant. */
    expect("https://github.com/Owner/Repo", "https://github.com/Owner/Repo");
}

static void test_scp_form_and_ssh_become_one_ssh_url(void **state) {
    (void)state;
    expect("git@github.com:owner/repo.git", "ssh://git@github.com/owner/repo");
    expect("ssh://git@GitHub.com:22/owner/repo", "ssh://git@github.com/owner/repo");
    expect("git+ssh://git@github.com/owner/repo.git", "ssh://git@github.com/owner/repo");
    expect("ssh://git:secret@host:2222/r", "ssh://git@host:2222/r");
    expect("git://example.org:9418/a/b.git", "git://example.org/a/b");
    expect("http://[::1]:8080/r.git", "http://[::1]:8080/r");
}

static void test_local_paths_become_file_urls(void **state) {
    (void)state;
    expect("/srv/git/repo", "file:///srv/git/repo");
    expect("/srv/git/repo/", "file:///srv/git/repo");
    expect("repo", "file:///home/u/work/repo");
    expect("../other/./r.git", "file:///home/u/other/r.git"); /* a real directory: .git kept */
    expect("file:///srv//git/repo.git/", "file:///srv/git/repo.git");
    expect("file://localhost/srv/r", "file:///srv/r");
    expect("/tmp/with space/r", "file:///tmp/with space/r");
    assert_true(cn_url_is_file("file:///x"));
    assert_false(cn_url_is_file("https://h/x"));
}

static void test_bad_and_disallowed_urls_are_refused(void **state) {
    (void)state;
    expect_error("ftp://example.org/r", CN_EUNSUPPORTED, "not allowed");
    expect_error("ext::sh -c touch% /tmp/pwned", CN_EUNSUPPORTED, "not allowed");
    expect_error("javascript://x/y", CN_EUNSUPPORTED, "not allowed");
    expect_error("", CN_EINVAL, "empty");
    expect_error("   ", CN_EINVAL, "empty");
    expect_error("https://github.com", CN_EINVAL, "no repository path");
    expect_error("https://github.com/", CN_EINVAL, "no repository path");
    expect_error("https:///repo", CN_EINVAL, "no host");
    expect_error("https://h:12x/r", CN_EINVAL, "port");
    expect_error("https://h/r\x01", CN_EINVAL, "control");
    expect_error("file://otherhost/r", CN_EINVAL, "absolute path");
    char *big = malloc(CN_URL_MAX + 10);
    memset(big, 'a', CN_URL_MAX + 9);
    big[CN_URL_MAX + 9] = '\0';
    expect_error(big, CN_EINVAL, "too long");
    free(big);
}

static int collect(void *arg, const char *url, size_t line) {
    cn_buf_t *b = arg;
    cn_buf_printf(b, "%zu:%s\n", line, url);
    return 0;
}

static void parse_list(const char *in, int want_rc, const char *want) {
    cn_buf_t b = {0};
    int rc = cn_url_list_parse(in, strlen(in), collect, &b);
    if (rc != want_rc) fail_msg("rc %d (%s) for:\n%s", rc, cn_err_detail(), in);
    if (want) assert_string_equal(cn_buf_cstr(&b), want);
    cn_buf_free(&b);
}

static void test_url_lists_plain_csv_and_json_lines(void **state) {
    (void)state;
    parse_list("https://a/x\n\n# comment\n  git@h:o/r \r\n/tmp/r", 0,
               "1:https://a/x\n4:git@h:o/r \n5:/tmp/r\n");
    parse_list("name,URL,stars\nx,https://a/x,3\n\"y, z\",\"https://a/\"\"q\"\"\",4\n", 0,
               "2:https://a/x\n3:https://a/\"q\"\n");
    parse_list("url\nhttps://a/x\n", 0, "2:https://a/x\n");
    parse_list("{\"url\": \"https://a/x\"}\n", CN_EAGAIN, "");
    parse_list("name,stars\nx,3\n", CN_EINVAL, NULL);
    assert_non_null(strstr(cn_err_detail(), "url"));
    parse_list("name,url\nx\n", CN_EINVAL, NULL);
    assert_non_null(strstr(cn_err_detail(), "line 2"));
    parse_list("name,url\nx,\"https://a\n", CN_EINVAL, NULL);
    parse_list("name,url\nx,\n", CN_EINVAL, NULL);
    parse_list("", 0, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spellings_of_one_repository_agree),
        cmocka_unit_test(test_scp_form_and_ssh_become_one_ssh_url),
        cmocka_unit_test(test_local_paths_become_file_urls),
        cmocka_unit_test(test_bad_and_disallowed_urls_are_refused),
        cmocka_unit_test(test_url_lists_plain_csv_and_json_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
