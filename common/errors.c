/* errors.c: error names and the per-thread detail message. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[512];

static const char *const names[CN_ERR_COUNT_] = {
    "ok",
    "invalid argument or input",
    "out of memory",
    "I/O error",
    "corrupt data",
    "locked by another process",
    "not found",
    "already exists",
    "conflicting value for an append-only key",
    "over a size limit",
    "wrong version",
    "malformed message",
    "timed out",
    "cancelled",
    "stale lease",
    "git error",
    "system call failed",
    "not supported",
    "unreachable",
    "permission denied",
    "try again",
};

const char *cn_strerror(int code) {
    if (code > 0 || code <= -CN_ERR_COUNT_) return "unknown error";
    return names[-code];
}

int cn_err(int code, const char *fmt, ...) {
    /* Formatted aside first: callers may pass cn_err_detail() itself as an
       argument ("%s: %s", path, cn_err_detail()) to add context. */
    char tmp[sizeof detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(detail, tmp, sizeof detail);
    return code;
}

const char *cn_err_detail(void) {
    return detail;
}

void cn_err_clear(void) {
    detail[0] = '\0';
}
