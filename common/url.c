/* url.c: canonical repository URLs (see url.h). A hand-written parser for the
   few URL shapes git accepts; everything it cannot place is refused with a
   message rather than guessed. Pure functions, thread-safe. */
#include "url.h"

#include "errors.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct {
    const char *in;
    const char *scheme;
    const char *default_port;
} schemes[] = {
    {"https", "https", "443"}, {"http", "http", "80"},   {"git", "git", "9418"}, {"ssh", "ssh", "22"},
    {"git+ssh", "ssh", "22"},  {"ssh+git", "ssh", "22"}, {"file", "file", NULL},
};

/* Appends the lexically normalised form of path (which starts with '/') to out:
   repeated slashes collapsed, "." dropped, ".." pops (never above the root),
   no trailing slash (except for "/" itself). */
static void normalise_path(const char *p, size_t n, cn_buf_t *out) {
    size_t base = out->len;
    size_t i = 0;
    while (i < n) {
        while (i < n && p[i] == '/') i++;
        size_t s = i;
        while (i < n && p[i] != '/') i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.')) continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            while (out->len > base && out->data[out->len - 1] != '/') out->len--;
            if (out->len > base) out->len--; /* the slash */
            continue;
        }
        cn_buf_putc(out, '/');
        cn_buf_append(out, p + s, len);
    }
    if (out->len == base) cn_buf_putc(out, '/');
}

static int check_chars(const char *in, size_t n) {
    if (n == 0) return cn_err(CN_EINVAL, "empty repository URL");
    if (n > CN_URL_MAX) return cn_err(CN_EINVAL, "repository URL of %zu bytes is too long", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f)
            return cn_err(CN_EINVAL, "repository URL has a control character at byte %zu", i);
    }
    return 0;
}

static int local_path(const char *p, size_t n, const char *cwd, cn_buf_t *out) {
    cn_buf_t full = {0};
    char here[4096];
    if (p[0] != '/') {
        if (!cwd) {
            if (!getcwd(here, sizeof here)) return cn_err(CN_ESYS, "cannot read the working directory");
            cwd = here;
        }
        cn_buf_append(&full, cwd, strlen(cwd));
        cn_buf_putc(&full, '/');
    }
    cn_buf_append(&full, p, n);
    cn_buf_append(out, "file://", 7);
    normalise_path((const char *)full.data, full.len, out);
    cn_buf_free(&full);
    return 0;
}

/* Drops ".git" suffixes (and the slashes they may leave) from a network path. */
static void strip_git_suffix(cn_buf_t *out, size_t path_start) {
    while (out->len - path_start > 5 && memcmp(out->data + out->len - 4, ".git", 4) == 0 &&
           out->data[out->len - 5] != '/')
        out->len -= 4;
    while (out->len > path_start + 1 && out->data[out->len - 1] == '/') out->len--;
}

/* authority = [user[:pass]@]host[:port]; host may be [v6]. */
static int put_authority(const char *a, size_t n, const char *scheme, const char *dport, cn_buf_t *out) {
    const char *at = memrchr(a, '@', n);
    if (at) {
        if (strcmp(scheme, "ssh") == 0) {
            const char *colon = memchr(a, ':', (size_t)(at - a));
            size_t ulen = colon ? (size_t)(colon - a) : (size_t)(at - a);
            if (ulen) {
                cn_buf_append(out, a, ulen);
                cn_buf_putc(out, '@');
            }
        }
        n -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *hend = a + n, *port = NULL;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb) return cn_err(CN_EINVAL, "unterminated [ in the host of the URL");
        hend = rb + 1;
        if (hend < a + n) {
            if (*hend != ':') return cn_err(CN_EINVAL, "unexpected text after the host of the URL");
            port = hend + 1;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon) {
            hend = colon;
            port = colon + 1;
        }
    }
    if (hend == a) return cn_err(CN_EINVAL, "the URL has no host");
    for (const char *c = a; c < hend; c++) {
        if (*c == '/' || *c == '@') return cn_err(CN_EINVAL, "bad character in the host of the URL");
        cn_buf_putc(out, (uint8_t)tolower((unsigned char)*c));
    }
    if (port) {
        size_t plen = (size_t)(a + n - port);
        for (size_t i = 0; i < plen; i++)
            if (!isdigit((unsigned char)port[i]))
                return cn_err(CN_EINVAL, "the port of the URL is not a number");
        if (plen && !(dport && strlen(dport) == plen && memcmp(dport, port, plen) == 0)) {
            cn_buf_putc(out, ':');
            cn_buf_append(out, port, plen);
        }
    }
    return 0;
}

static int network_url(const char *scheme, const char *dport, const char *rest, size_t n, cn_buf_t *out) {
    size_t cut = strcspn(rest, "?#");
    if (cut < n) n = cut;
    const char *slash = memchr(rest, '/', n);
    size_t alen = slash ? (size_t)(slash - rest) : n;
    cn_buf_printf(out, "%s://", scheme);
    int rc = put_authority(rest, alen, scheme, dport, out);
    if (rc < 0) return rc;
    size_t path_start = out->len;
    if (slash) normalise_path(slash, n - alen, out);
    /* Dropping ".git" can leave "." or ".." last ("/o/...git"): normalise again
       until nothing changes (each round that changes something is shorter). */
    for (;;) {
        strip_git_suffix(out, path_start);
        cn_buf_t tmp = {0};
        normalise_path((const char *)out->data + path_start, out->len - path_start, &tmp);
        bool same =
            tmp.len == out->len - path_start && memcmp(tmp.data, out->data + path_start, tmp.len) == 0;
        out->len = path_start;
        cn_buf_append(out, tmp.data, tmp.len);
        cn_buf_free(&tmp);
        if (same) break;
    }
    if (out->len - path_start <= 1) return cn_err(CN_EINVAL, "the URL names a host but no repository path");
    return 0;
}

/* A file:// path is taken literally: '?' and '#' are file name bytes here. */
static int file_url(const char *rest, size_t n, cn_buf_t *out) {
    if (n >= 9 && strncasecmp(rest, "localhost", 9) == 0) {
        rest += 9;
        n -= 9;
    }
    if (n == 0 || rest[0] != '/')
        return cn_err(CN_EINVAL, "a file:// URL must name an absolute path on this machine");
    cn_buf_append(out, "file://", 7);
    normalise_path(rest, n, out);
    return 0;
}

/* `user@host:path` with no scheme and no slash before the colon. */
static bool is_scp_form(const char *in, size_t n) {
    const char *colon = memchr(in, ':', n);
    if (!colon || colon == in) return false;
    const char *slash = memchr(in, '/', n);
    return !slash || slash > colon;
}

static int canonical(const char *in, size_t n, const char *cwd, cn_buf_t *out) {
    const char *sep = strstr(in, "://");
    if (!sep) {
        const char *helper = strstr(in, "::");
        const char *slash = strchr(in, '/');
        if (helper && (!slash || slash > helper))
            return cn_err(CN_EUNSUPPORTED,
                          "git transport '%.*s::' is not allowed (allowed: https, http, git, ssh, file)",
                          (int)CN_MIN((size_t)(helper - in), 32u), in);
        if (is_scp_form(in, n)) {
            const char *colon = memchr(in, ':', n);
            cn_buf_t tmp = {0};
            cn_buf_append(&tmp, in, (size_t)(colon - in));
            if (colon[1] != '/') cn_buf_putc(&tmp, '/');
            cn_buf_append(&tmp, colon + 1, n - (size_t)(colon + 1 - in));
            int rc = network_url("ssh", "22", cn_buf_cstr(&tmp), tmp.len, out);
            cn_buf_free(&tmp);
            return rc;
        }
        return local_path(in, n, cwd, out);
    }
    size_t slen = (size_t)(sep - in);
    for (size_t i = 0; i < CN_ARRAY_LEN(schemes); i++) {
        if (strlen(schemes[i].in) != slen || strncasecmp(in, schemes[i].in, slen) != 0) continue;
        const char *rest = sep + 3;
        size_t rn = n - slen - 3;
        if (strcmp(schemes[i].scheme, "file") == 0) return file_url(rest, rn, out);
        return network_url(schemes[i].scheme, schemes[i].default_port, rest, rn, out);
    }
    return cn_err(CN_EUNSUPPORTED, "URL scheme '%.*s' is not allowed (allowed: https, http, git, ssh, file)",
                  (int)CN_MIN(slen, 32u), in);
}

int cn_url_canonical(const char *in, const char *cwd, char **out) {
    *out = NULL;
    while (*in == ' ' || *in == '\t') in++;
    size_t n = strlen(in);
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r' || in[n - 1] == '\n')) n--;
    int rc = check_chars(in, n);
    if (rc < 0) return rc;
    char *copy = cn_xmemdup(in, n + 1);
    copy[n] = '\0';
    cn_buf_t b = {0};
    rc = canonical(copy, n, cwd, &b);
    free(copy);
    /* The canonical form must canonicalise to itself. */
    if (rc == 0 && b.len > CN_URL_MAX)
        rc = cn_err(CN_EINVAL, "repository URL is too long once made absolute");
    if (rc == 0 && (b.data[b.len - 1] == ' ')) rc = cn_err(CN_EINVAL, "repository path ends with a space");
    if (rc < 0) {
        cn_buf_free(&b);
        return rc;
    }
    *out = cn_xstrdup(cn_buf_cstr(&b));
    cn_buf_free(&b);
    return 0;
}

bool cn_url_is_file(const char *canonical) {
    return strncmp(canonical, "file://", 7) == 0;
}

/* ---- URL lists ---- */

typedef struct {
    const char *p, *end;
    size_t line;
} lines_t;

/* Next line without its end of line; false at the end. */
static bool next_line(lines_t *l, const char **s, size_t *n) {
    if (l->p >= l->end) return false;
    const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    const char *e = nl ? nl : l->end;
    *s = l->p;
    *n = (size_t)(e - l->p);
    if (*n && (*s)[*n - 1] == '\r') (*n)--;
    l->p = nl ? nl + 1 : l->end;
    l->line++;
    return true;
}

static bool blank_or_comment(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i == n || s[i] == '#';
}

/* Splits one CSV row into field k (0-based); -1 if the row is malformed,
   0 if it has fewer fields, 1 with the unquoted field in out. */
static int csv_field(const char *s, size_t n, size_t k, cn_buf_t *out) {
    size_t i = 0, f = 0;
    for (;;) {
        cn_buf_reset(out);
        if (i < n && s[i] == '"') {
            for (i++;; i++) {
                if (i >= n) return -1; /* unterminated quote */
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        cn_buf_putc(out, '"');
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                cn_buf_putc(out, (uint8_t)s[i]);
            }
            if (i < n && s[i] != ',') return -1;
        } else {
            while (i < n && s[i] != ',') cn_buf_putc(out, (uint8_t)s[i++]);
        }
        if (f == k) {
            cn_buf_cstr(out);
            return 1;
        }
        if (i >= n) return 0;
        i++; /* the comma */
        f++;
    }
}

/* The index of the "url" column of a header row, or -1. */
static long csv_url_column(const char *s, size_t n) {
    cn_buf_t f = {0};
    long col = -1;
    for (size_t k = 0; k < 256 && col < 0; k++) {
        int rc = csv_field(s, n, k, &f);
        if (rc <= 0) break;
        const char *v = cn_buf_cstr(&f);
        while (*v == ' ') v++;
        if (strncasecmp(v, "url", 3) == 0 && (v[3] == '\0' || v[3] == ' ')) col = (long)k;
    }
    cn_buf_free(&f);
    return col;
}

int cn_url_list_parse(const char *data, size_t n, int (*add)(void *arg, const char *url, size_t line),
                      void *arg) {
    lines_t l = {data, data + n, 0};
    const char *s;
    size_t len;
    long col = -1;
    bool first = true;
    cn_buf_t f = {0};
    int rc = 0;
    while (rc == 0 && next_line(&l, &s, &len)) {
        if (blank_or_comment(s, len)) continue;
        while (len && (*s == ' ' || *s == '\t')) s++, len--;
        if (first) {
            first = false;
            if (*s == '{') return CN_EAGAIN;
            if (memchr(s, ',', len) || (len == 3 && strncasecmp(s, "url", 3) == 0)) {
                col = csv_url_column(s, len);
                if (col < 0)
                    return cn_err(CN_EINVAL, "line %zu: a CSV header needs a \"url\" column", l.line);
                continue;
            }
        }
        if (memchr(s, '\0', len)) {
            rc = cn_err(CN_EINVAL, "line %zu: a NUL byte", l.line);
            break;
        }
        if (col >= 0) {
            int fr = csv_field(s, len, (size_t)col, &f);
            if (fr < 0)
                rc = cn_err(CN_EINVAL, "line %zu: malformed CSV (an unterminated quote?)", l.line);
            else if (fr == 0)
                rc = cn_err(CN_EINVAL, "line %zu: no url field (column %ld)", l.line, col + 1);
            else if (f.len == 0)
                rc = cn_err(CN_EINVAL, "line %zu: the url field is empty", l.line);
            else
                rc = add(arg, cn_buf_cstr(&f), l.line);
        } else {
            cn_buf_reset(&f);
            cn_buf_append(&f, s, len);
            rc = add(arg, cn_buf_cstr(&f), l.line);
        }
    }
    cn_buf_free(&f);
    return rc;
}
