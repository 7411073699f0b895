/* util.h: small helpers every part of canopy shares: allocation that aborts on
   failure, a growable byte buffer, big-endian integers, clocks and file helpers.
   Thread-safe: nothing here holds global state. */
#ifndef CN_UTIL_H
#define CN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Orders two byte strings as RocksDB's bytewise comparator does: unsigned
   bytes, then a string before the longer strings it begins. Returns <0, 0, >0.
   Inline: sorts and k-way merges call it per key. */
static inline int cn_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen) {
    size_t n = CN_MIN(alen, blen);
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (alen < blen ? -1 : alen > blen);
}

/* Allocation that aborts on failure: safe because every input has a size limit. */
void *cn_xmalloc(size_t n);
void *cn_xcalloc(size_t n, size_t size);
void *cn_xrealloc(void *p, size_t n);
char *cn_xstrdup(const char *s);
void *cn_xmemdup(const void *p, size_t n);
/* printf into a fresh string owned by the caller. */
char *cn_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer. Zero-initialise ({0}) to start; cn_buf_free to end. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} cn_buf_t;

void cn_buf_reserve(cn_buf_t *b, size_t extra);
void cn_buf_append(cn_buf_t *b, const void *p, size_t n);
void cn_buf_putc(cn_buf_t *b, uint8_t c);
void cn_buf_printf(cn_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cn_buf_put_be64(cn_buf_t *b, uint64_t v);
void cn_buf_put_be32(cn_buf_t *b, uint32_t v);
/* Appends v as an unsigned LEB128 varint. */
void cn_buf_put_varint(cn_buf_t *b, uint64_t v);
/* NUL-terminates without counting the NUL in len; returns data as a string. */
const char *cn_buf_cstr(cn_buf_t *b);
void cn_buf_reset(cn_buf_t *b);
void cn_buf_free(cn_buf_t *b);

/* Big-endian encode/decode: keys are big-endian so prefix scans are ordered. */
void cn_put_be64(uint8_t *p, uint64_t v);
void cn_put_be32(uint8_t *p, uint32_t v);
uint64_t cn_get_be64(const uint8_t *p);
uint32_t cn_get_be32(const uint8_t *p);
/* Decodes a varint from [*p, end); returns false on truncation or overflow. */
bool cn_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Clocks. mono: for durations and deadlines; wall: for records people read. */
uint64_t cn_mono_us(void);
uint64_t cn_mono_ms(void);
uint64_t cn_wall_ms(void);
void cn_sleep_ms(uint64_t ms);

/* Creates dir and its parents (mode 0755). Returns 0 or CN_ESYS. */
int cn_mkdir_p(const char *dir);
/* Removes a tree (like rm -rf). Returns 0 or CN_ESYS. */
int cn_rm_rf(const char *path);
/* Reads a whole file of at most max bytes into out. CN_ETOOBIG past max. */
int cn_read_file(const char *path, size_t max, cn_buf_t *out);
/* Writes a file atomically (temp file, fsync, rename). */
int cn_write_file_atomic(const char *path, const void *data, size_t len);
/* Joins two path parts with one '/'; the result is owned by the caller. */
char *cn_path_join(const char *a, const char *b);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void cn_hex(const uint8_t *p, size_t n, char *out);
/* Parses 2n hex digits into n bytes; returns false on bad input. */
bool cn_unhex(const char *s, uint8_t *out, size_t n);

/* Parses a non-negative decimal integer (the whole string). */
bool cn_parse_u64(const char *s, uint64_t *out);

/* The host name (cached per call site's buffer). */
void cn_hostname(char *out, size_t n);

#endif
