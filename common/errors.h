/* errors.h: canopy's one error enum (negative values) and a per-thread detail
   message. Every module returns 0 or a negative CN_E* code; the detail message
   (cn_err_detail) says what a person needs to know. Thread-safe (thread-local). */
#ifndef CN_ERRORS_H
#define CN_ERRORS_H

enum cn_err {
    CN_OK = 0,
    CN_EINVAL = -1, /* bad argument or input */
    CN_ENOMEM = -2,
    CN_EIO = -3,      /* I/O or database error */
    CN_ECORRUPT = -4, /* stored data does not match its hash or format */
    CN_ELOCKED = -5,  /* another process holds the lock */
    CN_ENOTFOUND = -6,
    CN_EEXIST = -7,
    CN_ECONFLICT = -8, /* a different value under an existing append-only key */
    CN_ETOOBIG = -9,   /* over a hard size limit */
    CN_EVERSION = -10, /* wrong protocol or format version */
    CN_EPROTO = -11,   /* malformed message */
    CN_ETIMEOUT = -12,
    CN_ECANCELLED = -13,
    CN_ESTALE = -14, /* a fenced (stale) lease */
    CN_EGIT = -15,   /* git repository error */
    CN_ESYS = -16,   /* a system call failed (see errno in the detail) */
    CN_EUNSUPPORTED = -17,
    CN_EUNREACHABLE = -18,
    CN_EPERM = -19,
    CN_EAGAIN = -20,
    CN_ERR_COUNT_ = 21
};

/* Returns a static, short description of code (any int). Never NULL. */
const char *cn_strerror(int code);

/* Records a human-readable detail for the last error on this thread and returns
   code, so callers can write `return cn_err(CN_EINVAL, "bad %s", x);`. */
int cn_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The detail set by cn_err on this thread, or "" if none. */
const char *cn_err_detail(void);
/* Clears the detail. */
void cn_err_clear(void);

#endif
