/* sh_fx.h: the shell helpers of the unit tests that make repositories with the
   git command: run a command in a folder (no system git config, HOME there, the
   caller's git identity) and fail the test when it fails, or collect what a
   command prints. Static functions: each test is its own executable. */
#ifndef CN_SH_FX_H
#define CN_SH_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#define SH_FX_UNUSED __attribute__((unused))

/* Runs `cd dir && export <env> GIT_CONFIG_NOSYSTEM=1 HOME=dir && (cmd)`, its
   output discarded; env is "NAME=value ..." (git's identity, dates) or "". */
SH_FX_UNUSED static void fx_vsh(const char *dir, const char *env, const char *fmt, va_list ap) {
    char cmd[8192];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    cn_buf_t full = {0};
    cn_buf_printf(&full, "cd '%s' && export %s GIT_CONFIG_NOSYSTEM=1 HOME='%s' && (%s) >/dev/null 2>&1", dir,
                  env, dir, cmd);
    int rc = system(cn_buf_cstr(&full));
    if (rc != 0) fail_msg("command failed (%d): %s", rc, cmd);
    cn_buf_free(&full);
}

/* Appends the standard output of `cd dir && cmd` (no system git config, HOME
   there) to out; fails the test when cmd fails. */
SH_FX_UNUSED static void fx_vcapture(const char *dir, cn_buf_t *out, const char *fmt, va_list ap) {
    char cmd[4096];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    cn_buf_t full = {0};
    cn_buf_printf(&full, "cd '%s' && export GIT_CONFIG_NOSYSTEM=1 HOME='%s' && %s", dir, dir, cmd);
    FILE *p = popen(cn_buf_cstr(&full), "r");
    assert_non_null(p);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) cn_buf_append(out, buf, n);
    assert_int_equal(pclose(p), 0);
    cn_buf_free(&full);
}

SH_FX_UNUSED static void fx_capture(const char *dir, cn_buf_t *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
SH_FX_UNUSED static void fx_capture(const char *dir, cn_buf_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fx_vcapture(dir, out, fmt, ap);
    va_end(ap);
}

#endif
