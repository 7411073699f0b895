/* util.c: see util.h. */
#include "util.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n) {
    fprintf(stderr, "canopy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cn_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *cn_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *cn_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *cn_xstrdup(const char *s) {
    return cn_xmemdup(s, strlen(s) + 1);
}

void *cn_xmemdup(const void *p, size_t n) {
    void *q = cn_xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

char *cn_xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) oom(0);
    char *s = cn_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void cn_buf_reserve(cn_buf_t *b, size_t extra) {
    if (b->cap - b->len >= extra + 1) return;
    size_t want = b->len + extra + 1;
    if (want < b->len) oom(SIZE_MAX);
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want) cap *= 2;
    b->data = cn_xrealloc(b->data, cap);
    b->cap = cap;
}

void cn_buf_append(cn_buf_t *b, const void *p, size_t n) {
    cn_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void cn_buf_putc(cn_buf_t *b, uint8_t c) {
    cn_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void cn_buf_printf(cn_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    cn_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cn_buf_put_be64(cn_buf_t *b, uint64_t v) {
    cn_buf_reserve(b, 8);
    cn_put_be64(b->data + b->len, v);
    b->len += 8;
}

void cn_buf_put_be32(cn_buf_t *b, uint32_t v) {
    cn_buf_reserve(b, 4);
    cn_put_be32(b->data + b->len, v);
    b->len += 4;
}

void cn_buf_put_varint(cn_buf_t *b, uint64_t v) {
    cn_buf_reserve(b, 10);
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

const char *cn_buf_cstr(cn_buf_t *b) {
    cn_buf_reserve(b, 0);
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

void cn_buf_reset(cn_buf_t *b) {
    b->len = 0;
}

void cn_buf_free(cn_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cn_put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void cn_put_be32(uint8_t *p, uint32_t v) {
    for (int i = 3; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t cn_get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

uint32_t cn_get_be32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | p[i];
    return v;
}

bool cn_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

uint64_t cn_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cn_mono_ms(void) {
    return cn_mono_us() / 1000u;
}

uint64_t cn_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cn_sleep_ms(uint64_t ms) {
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int cn_mkdir_p(const char *dir) {
    char *p = cn_xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) == -1 && errno != EEXIST) {
            int e = errno;
            free(p);
            return cn_err(CN_ESYS, "mkdir %s: %s", dir, strerror(e));
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) == -1 && errno != EEXIST) rc = cn_err(CN_ESYS, "mkdir %s: %s", dir, strerror(errno));
    free(p);
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

int cn_rm_rf(const char *path) {
    if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS) == -1 && errno != ENOENT)
        return cn_err(CN_ESYS, "remove %s: %s", path, strerror(errno));
    return 0;
}

int cn_read_file(const char *path, size_t max, cn_buf_t *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return cn_err(errno == ENOENT ? CN_ENOTFOUND : CN_ESYS, "open %s: %s", path, strerror(errno));
    int rc = 0;
    for (;;) {
        cn_buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, 65536);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            rc = cn_err(CN_ESYS, "read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        out->len += (size_t)n;
        if (out->len > max) {
            rc = cn_err(CN_ETOOBIG, "%s is larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    return rc;
}

int cn_write_file_atomic(const char *path, const void *data, size_t len) {
    char *tmp = cn_xasprintf("%s.tmp.%d", path, (int)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = cn_err(CN_ESYS, "create %s: %s", tmp, strerror(errno));
        goto out_free;
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            rc = cn_err(CN_ESYS, "write %s: %s", tmp, strerror(errno));
            goto out_close;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) == -1) {
        rc = cn_err(CN_ESYS, "fsync %s: %s", tmp, strerror(errno));
        goto out_close;
    }
    if (rename(tmp, path) == -1) rc = cn_err(CN_ESYS, "rename %s: %s", path, strerror(errno));
out_close:
    close(fd);
    if (rc) unlink(tmp);
out_free:
    free(tmp);
    return rc;
}

char *cn_path_join(const char *a, const char *b) {
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/') la--;
    return cn_xasprintf("%.*s/%s", (int)la, a, b);
}

void cn_hex(const uint8_t *p, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool cn_unhex(const char *s, uint8_t *out, size_t n) {
    if (strlen(s) != 2 * n) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool cn_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s) return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

void cn_hostname(char *out, size_t n) {
    if (gethostname(out, n) == -1) snprintf(out, n, "localhost");
    out[n - 1] = '\0';
}
