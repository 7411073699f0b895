/* submit_jobs.c: turns a kind's arguments into JobSpecs for `canopy submit`:
   the options every job takes (priority, key, after, max attempts, timeout), the
   kind's own arguments through the kind table (kinds.h), and one JSON object per
   line of `--from`. Single-threaded; the job list owns everything in it. */
#include "submit.h"

#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_joblist_free(cn_joblist_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        Canopy__JobSpec *j = l->v[i];
        free(j->kind);
        free(j->spec.data);
        if (j->dedup_key != protobuf_c_empty_string) free(j->dedup_key);
        if (j->serial_key != protobuf_c_empty_string) free(j->serial_key);
        free(j->after);
        free(j);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void joblist_push(cn_joblist_t *l, Canopy__JobSpec *j) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = cn_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = j;
}

int cn_submit_add(cn_joblist_t *l, const cn_cli_kind_t *k, const cn_json_obj_t *args,
                  const cn_job_opts_t *o) {
    cn_buf_t spec = {0};
    char *serial = NULL;
    cn_err_clear();
    int rc = k->build(args, &spec, &serial);
    if (rc) {
        cn_buf_free(&spec);
        free(serial);
        const char *d = cn_err_detail();
        return cn_err(rc, "%s: %s", k->name, d && *d ? d : cn_strerror(rc));
    }
    Canopy__JobSpec *j = cn_xmalloc(sizeof *j);
    canopy__job_spec__init(j);
    j->kind = cn_xstrdup(k->name);
    j->spec.data = spec.data;
    j->spec.len = spec.len;
    j->priority = o->priority;
    if (o->key && *o->key) j->dedup_key = cn_xstrdup(o->key);
    if (serial && *serial)
        j->serial_key = serial;
    else
        free(serial);
    if (o->n_after) {
        j->after = cn_xmemdup(o->after, o->n_after * sizeof *o->after);
        j->n_after = o->n_after;
    }
    j->max_attempts = o->max_attempts;
    j->timeout_ms = o->timeout_ms;
    joblist_push(l, j);
    return 0;
}

int cn_parse_after(const char *s, cn_job_opts_t *o) {
    free(o->after);
    o->after = NULL;
    o->n_after = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char word[32];
        uint64_t id;
        if (n == 0 || n >= sizeof word)
            return cn_err(CN_EINVAL, "--after takes job ids like 12,13, not '%s'", s);
        memcpy(word, p, n);
        word[n] = '\0';
        if (!cn_parse_job_id(word, &id))
            return cn_err(CN_EINVAL, "--after takes job ids like 12,13, not '%s'", s);
        o->after = cn_xrealloc(o->after, (o->n_after + 1) * sizeof *o->after);
        o->after[o->n_after++] = id;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static const char *const reserved[] = {"kind",         "priority",   "key", "after",
                                       "max_attempts", "timeout_ms", NULL};

static bool is_reserved(const char *k) {
    for (const char *const *r = reserved; *r; r++)
        if (strcmp(*r, k) == 0) return true;
    return false;
}

/* Applies a line's own job options over the command line's. */
static int line_opts(const cn_json_obj_t *o, const cn_job_opts_t *def, cn_job_opts_t *out) {
    *out = *def;
    out->after = def->n_after ? cn_xmemdup(def->after, def->n_after * sizeof *def->after) : NULL;
    const cn_json_pair_t *p;
    uint64_t v;
    if ((p = cn_json_get(o, "priority"))) {
        char *end;
        long long x = strtoll(p->value, &end, 10);
        if (*end || end == p->value || x < INT32_MIN || x > INT32_MAX)
            return cn_err(CN_EINVAL, "priority must be an integer, not '%s'", p->value);
        out->priority = (int32_t)x;
    }
    if ((p = cn_json_get(o, "key"))) out->key = p->value;
    if ((p = cn_json_get(o, "after"))) {
        free(out->after);
        out->after = NULL;
        out->n_after = 0;
        if (p->type == CN_JSON_ARRAY) {
            int n = cn_json_parse_u64_array(p->value, &out->after);
            if (n < 0) return n;
            out->n_after = (size_t)n;
        } else if (cn_parse_job_id(p->value, &v)) {
            out->after = cn_xmemdup(&v, sizeof v);
            out->n_after = 1;
        } else {
            return cn_err(CN_EINVAL, "after must be a job id or an array of ids");
        }
    }
    if ((p = cn_json_get(o, "max_attempts"))) {
        if (!cn_parse_u64(p->value, &v) || v > 1000000)
            return cn_err(CN_EINVAL, "max_attempts must be a small integer, not '%s'", p->value);
        out->max_attempts = (uint32_t)v;
    }
    if ((p = cn_json_get(o, "timeout_ms"))) {
        if (!cn_parse_u64(p->value, &v)) return cn_err(CN_EINVAL, "timeout_ms must be an integer");
        out->timeout_ms = v;
    }
    return 0;
}

/* One line of --from: a JSON object of the kind's arguments plus job options. */
static int from_line(cn_joblist_t *l, const char *line, size_t len, const char *kind,
                     const cn_job_opts_t *def) {
    cn_json_obj_t o;
    int rc = cn_json_parse_object(line, len, &o);
    if (rc) return rc;
    const cn_json_pair_t *kp = cn_json_get(&o, "kind");
    const char *kname = kp ? kp->value : kind;
    const cn_cli_kind_t *k = kname ? cn_cli_kind_find(kname) : NULL;
    cn_job_opts_t jo = {0};
    if (!kname)
        rc = cn_err(CN_EINVAL, "no kind: give KIND or a \"kind\" field");
    else if (!k)
        rc = cn_err(CN_EINVAL, "unknown job kind '%s'", kname);
    else
        rc = line_opts(&o, def, &jo);
    if (rc == 0) {
        /* The kind sees only its own arguments. */
        cn_json_obj_t args = {cn_xcalloc(o.n + 1, sizeof *o.pair), 0};
        for (size_t i = 0; i < o.n; i++)
            if (!is_reserved(o.pair[i].key)) args.pair[args.n++] = o.pair[i];
        rc = cn_submit_add(l, k, &args, &jo);
        free(args.pair);
    }
    free(jo.after);
    cn_json_obj_free(&o);
    return rc;
}

/* One line of a --from file (line[0..n), trailing newline included or not):
   a job, or nothing for a blank line or a # comment. */
static int from_text_line(cn_joblist_t *l, char *line, size_t n, const char *name, size_t lineno,
                          const char *kind, const cn_job_opts_t *def) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) n--;
    line[n] = '\0';
    size_t s = 0;
    while (s < n && (line[s] == ' ' || line[s] == '\t')) s++;
    if (s == n || line[s] == '#') return 0;
    int rc = from_line(l, line + s, n - s, kind, def);
    return rc ? cn_err(rc, "%s:%zu: %s", name, lineno, cn_err_detail()) : 0;
}

int cn_submit_from(cn_joblist_t *l, const char *path, const char *kind, const cn_job_opts_t *def) {
    cn_buf_t data = {0};
    int rc = cn_read_file(strcmp(path, "-") == 0 ? "/dev/stdin" : path, CN_SUBMIT_FROM_MAX, &data);
    if (rc < 0)
        rc = cn_err(rc, "cannot read %s: %s", path, cn_err_detail());
    else
        rc = cn_submit_from_buf(l, &data, path, kind, def);
    cn_buf_free(&data);
    return rc;
}

int cn_submit_from_buf(cn_joblist_t *l, cn_buf_t *data, const char *name, const char *kind,
                       const cn_job_opts_t *def) {
    char *text = (char *)cn_buf_cstr(data); /* a terminator after the last line */
    size_t n = data->len, lineno = 0;
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < n;) {
        const char *nl = memchr(text + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : n - at;
        /* in place: the line's newline (or the terminator) becomes its end */
        rc = from_text_line(l, text + at, len, name, ++lineno, kind, def);
        at += len + 1;
    }
    return rc;
}
