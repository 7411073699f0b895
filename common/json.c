/* json.c: see json.h. A small recursive-descent parser bounded by input size. */
#include "json.h"

#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_len(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

void cn_json_str(cn_buf_t *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    cn_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            cn_buf_putc(b, '\\');
            cn_buf_putc(b, c);
            i++;
        } else if (c == '\n') {
            cn_buf_append(b, "\\n", 2);
            i++;
        } else if (c == '\t') {
            cn_buf_append(b, "\\t", 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            cn_buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                cn_buf_printf(b, "\\u%04x", c); /* a raw byte: kept, not dropped */
                i++;
            } else {
                cn_buf_append(b, p + i, l);
                i += l;
            }
        }
    }
    cn_buf_putc(b, '"');
}

void cn_json_key(cn_buf_t *b, const char *key, bool first) {
    if (!first) cn_buf_putc(b, ',');
    cn_json_str(b, key, strlen(key));
    cn_buf_putc(b, ':');
}

typedef struct {
    const char *s;
    size_t n, i;
} parser_t;

static void skip_ws(parser_t *p) {
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]) && p->s[p->i]) p->i++;
}

static int fail(parser_t *p, const char *what) {
    return cn_err(CN_EINVAL, "bad JSON at byte %zu: %s", p->i, what);
}

static int hex4(parser_t *p, unsigned *out) {
    if (p->i + 4 > p->n) return fail(p, "short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(p, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(cn_buf_t *b, unsigned cp) {
    if (cp < 0x80)
        cn_buf_putc(b, (uint8_t)cp);
    else if (cp < 0x800) {
        cn_buf_putc(b, (uint8_t)(0xc0 | cp >> 6));
        cn_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        cn_buf_putc(b, (uint8_t)(0xe0 | cp >> 12));
        cn_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
        cn_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else {
        cn_buf_putc(b, (uint8_t)(0xf0 | cp >> 18));
        cn_buf_putc(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3f)));
        cn_buf_putc(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
        cn_buf_putc(b, (uint8_t)(0x80 | (cp & 0x3f)));
    }
}

static int parse_string(parser_t *p, cn_buf_t *out) {
    if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string");
    p->i++;
    while (p->i < p->n) {
        char c = p->s[p->i++];
        if (c == '"') {
            cn_buf_cstr(out);
            return 0;
        }
        if (c != '\\') {
            cn_buf_putc(out, (uint8_t)c);
            continue;
        }
        if (p->i >= p->n) break;
        char e = p->s[p->i++];
        const char *map = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e);
        if (e == 'u') {
            unsigned cp;
            if (hex4(p, &cp)) return CN_EINVAL;
            if (cp >= 0xd800 && cp < 0xdc00 && p->i + 6 <= p->n && p->s[p->i] == '\\' &&
                p->s[p->i + 1] == 'u') {
                unsigned lo;
                p->i += 2;
                if (hex4(p, &lo)) return CN_EINVAL;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x100 && cp >= 0x80)
                cn_buf_putc(out, (uint8_t)cp); /* our byte escape */
            else
                put_utf8(out, cp);
        } else if (map && ((map - "\"\"\\\\//b\bf\fn\nr\rt\t") % 2 == 0)) {
            cn_buf_putc(out, (uint8_t)map[1]);
        } else {
            return fail(p, "bad escape");
        }
    }
    return fail(p, "unterminated string");
}

/* Skips one value of any type; used to capture nested arrays/objects raw. */
static int skip_value(parser_t *p, int depth) {
    if (depth > 64) return fail(p, "nested too deep");
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "expected a value");
    char c = p->s[p->i];
    if (c == '"') {
        cn_buf_t tmp = {0};
        int rc = parse_string(p, &tmp);
        cn_buf_free(&tmp);
        return rc;
    }
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                cn_buf_t tmp = {0};
                skip_ws(p);
                int rc = parse_string(p, &tmp);
                cn_buf_free(&tmp);
                if (rc) return rc;
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') return fail(p, "expected ':'");
                p->i++;
            }
            if (skip_value(p, depth + 1)) return CN_EINVAL;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == close) {
                p->i++;
                return 0;
            }
            return fail(p, "expected ',' or a closing bracket");
        }
    }
    size_t start = p->i;
    while (p->i < p->n && strchr("+-.0123456789eEtruefalsn", p->s[p->i]) && p->s[p->i]) p->i++;
    if (p->i == start) return fail(p, "unexpected character");
    return 0;
}

int cn_json_parse_object(const char *s, size_t n, cn_json_obj_t *out) {
    parser_t p = {s, n, 0};
    memset(out, 0, sizeof *out);
    skip_ws(&p);
    if (p.i >= n || s[p.i] != '{') return fail(&p, "expected '{'");
    p.i++;
    skip_ws(&p);
    if (p.i < n && s[p.i] == '}') {
        p.i++;
        goto trailing;
    }
    for (;;) {
        cn_buf_t key = {0}, val = {0};
        skip_ws(&p);
        if (parse_string(&p, &key)) goto bad_kv;
        skip_ws(&p);
        if (p.i >= n || s[p.i] != ':') {
            fail(&p, "expected ':'");
            goto bad_kv;
        }
        p.i++;
        skip_ws(&p);
        enum cn_json_type t;
        if (p.i < n && s[p.i] == '"') {
            t = CN_JSON_STR;
            if (parse_string(&p, &val)) goto bad_kv;
        } else {
            size_t start = p.i;
            if (skip_value(&p, 0)) goto bad_kv;
            cn_buf_append(&val, s + start, p.i - start);
            cn_buf_cstr(&val);
            char c = s[start];
            t = c == '['               ? CN_JSON_ARRAY
                : c == '{'             ? CN_JSON_OBJECT
                : c == 't' || c == 'f' ? CN_JSON_BOOL
                : c == 'n'             ? CN_JSON_NULL
                                       : CN_JSON_NUM;
        }
        out->pair = cn_xrealloc(out->pair, (out->n + 1) * sizeof *out->pair);
        out->pair[out->n++] = (cn_json_pair_t){(char *)key.data, (char *)val.data, t};
        skip_ws(&p);
        if (p.i < n && s[p.i] == ',') {
            p.i++;
            continue;
        }
        if (p.i < n && s[p.i] == '}') {
            p.i++;
            break;
        }
        fail(&p, "expected ',' or '}'");
        cn_json_obj_free(out);
        return CN_EINVAL;
    bad_kv:
        cn_buf_free(&key);
        cn_buf_free(&val);
        cn_json_obj_free(out);
        return CN_EINVAL;
    }
trailing:
    skip_ws(&p);
    if (p.i != n) {
        fail(&p, "trailing characters after the object");
        cn_json_obj_free(out);
        return CN_EINVAL;
    }
    return 0;
}

void cn_json_obj_free(cn_json_obj_t *o) {
    for (size_t i = 0; i < o->n; i++) {
        free(o->pair[i].key);
        free(o->pair[i].value);
    }
    free(o->pair);
    o->pair = NULL;
    o->n = 0;
}

const cn_json_pair_t *cn_json_get(const cn_json_obj_t *o, const char *key) {
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->pair[i].key, key) == 0) return &o->pair[i];
    return NULL;
}

int cn_json_parse_u64_array(const char *raw, uint64_t **out) {
    *out = NULL;
    const char *s = raw;
    while (*s == ' ') s++;
    if (*s++ != '[') return cn_err(CN_EINVAL, "expected an array of ids");
    int count = 0;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ']') return count;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s) {
            free(*out);
            *out = NULL;
            return cn_err(CN_EINVAL, "expected an array of ids");
        }
        *out = cn_xrealloc(*out, (size_t)(count + 1) * sizeof **out);
        (*out)[count++] = v;
        s = end;
    }
}
