/* query_scan_out.c: the answers of `canopy query scan` (list, --ls, --stat,
   --find, --diff) as text or JSON. Names are bytes: text output writes them
   as they are, JSON escapes bytes that are not UTF-8 (common/json.h). */
#include "cmd.h"
#include "query_scan.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *type_name(int t) {
    static const char *const names[] = {"unknown", "dir", "file", "symlink", "other"};
    return t >= 0 && t <= CN_PT_TYPE_MAX_ ? names[t] : "unknown";
}

static void fmt_time(char *out, size_t n, int64_t ns) {
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_mode(char *out, uint8_t type, uint32_t mode) {
    out[0] = type == CN_PT_DIR ? 'd' : type == CN_PT_SYMLINK ? 'l' : type == CN_PT_FILE ? '-' : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    out[10] = 0;
}

/* The absolute path of rel under the scan's root. */
static void full_path(const cn_scan_t *sc, const uint8_t *rel, size_t len, cn_buf_t *out) {
    const ProtobufCBinaryData *r = &sc->meta->root;
    cn_buf_append(out, r->data, r->len);
    if (len) {
        if (!(r->len && r->data[r->len - 1] == '/')) cn_buf_putc(out, '/');
        cn_buf_append(out, rel, len);
    }
}

bool cn_qs_relpath(const cn_scan_t *sc, const char *path, cn_buf_t *out) {
    const ProtobufCBinaryData *r = &sc->meta->root;
    size_t rl = r->len;
    while (rl > 1 && r->data[rl - 1] == '/') rl--;
    const char *p = path;
    if (p[0] == '/') {
        bool root_is_slash = rl == 1 && r->data[0] == '/';
        if (!root_is_slash) {
            if (strncmp(p, (const char *)r->data, rl) != 0 || (p[rl] != 0 && p[rl] != '/')) {
                fprintf(stderr, "canopy: %s is not under the scan root %.*s\n", path, (int)r->len,
                        (const char *)r->data);
                return false;
            }
            p += rl;
        }
    }
    cn_buf_reset(out);
    while (*p) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 2 && p[0] == '.' && p[1] == '.') {
            fprintf(stderr, "canopy: '..' is not allowed in a scan path (%s)\n", path);
            return false;
        }
        if (l && !(l == 1 && p[0] == '.')) {
            if (out->len) cn_buf_putc(out, '/');
            cn_buf_append(out, p, l);
        }
        p += l;
    }
    return true;
}

static void json_scan(cn_buf_t *o, const cn_qs_scan_t *q, const cn_stores_t *st) {
    const cn_scan_t *s = &q->scan;
    const Canopy__ScanMeta *m = s->meta;
    char hex[65];
    cn_hex(s->hash, 32, hex);
    cn_buf_printf(
        o, "{\"job\":%llu,\"lease_seq\":%llu,\"journal_id\":%llu,\"shard\":", (unsigned long long)s->job_id,
        (unsigned long long)s->lease_seq, (unsigned long long)s->journal_id);
    cn_json_str(o, st->name[q->store], strlen(st->name[q->store]));
    cn_buf_printf(o, ",\"space\":");
    cn_json_str(o, m->space, strlen(m->space));
    cn_buf_printf(o, ",\"root\":");
    cn_json_str(o, (const char *)m->root.data, m->root.len);
    cn_buf_printf(
        o,
        ",\"at_ms\":%llu,\"started_ms\":%llu,\"finished_ms\":%llu,\"entries\":%llu,\"dirs\":%llu,"
        "\"files\":%llu,\"symlinks\":%llu,\"bytes_names\":%llu,\"tree_bytes\":%llu,\"data_hash\":\"%s\","
        "\"errors_total\":%llu,\"errors\":[",
        (unsigned long long)s->at_ms, (unsigned long long)m->started_ms, (unsigned long long)m->finished_ms,
        (unsigned long long)m->entries, (unsigned long long)m->dirs, (unsigned long long)m->files,
        (unsigned long long)m->symlinks, (unsigned long long)m->bytes_names,
        (unsigned long long)m->tree_bytes, hex, (unsigned long long)m->errors_total);
    for (size_t i = 0; i < m->n_error; i++) {
        const Canopy__ScanError *e = m->error[i];
        cn_buf_printf(o, "%s{\"path\":", i ? "," : "");
        cn_json_str(o, (const char *)e->path.data, e->path.len);
        cn_buf_printf(o, ",\"errno\":%d,\"error\":", e->errnum);
        const char *es = strerror(e->errnum);
        cn_json_str(o, es, strlen(es));
        cn_buf_printf(o, ",\"what\":");
        cn_json_str(o, e->what ? e->what : "", e->what ? strlen(e->what) : 0);
        cn_buf_putc(o, '}');
    }
    cn_buf_printf(o, "]}");
}

int cn_qs_print_list(const cn_cli_t *g, const cn_qs_scan_t *v, size_t n, const cn_stores_t *st) {
    cn_buf_t o = {0};
    if (g->json) {
        cn_buf_putc(&o, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) cn_buf_putc(&o, ',');
            json_scan(&o, &v[i], st);
        }
        cn_buf_putc(&o, ']');
        cn_print_buf(&o);
        return 0;
    }
    cn_buf_printf(&o, "%-6s %-19s %10s %8s %9s %8s %7s %10s  %s", "JOB", "FINISHED (UTC)", "ENTRIES", "DIRS",
                  "FILES", "LINKS", "ERRORS", "TREE", "SPACE");
    for (size_t i = 0; i < n; i++) {
        const Canopy__ScanMeta *m = v[i].scan.meta;
        char when[32];
        fmt_time(when, sizeof when, (int64_t)m->finished_ms * 1000000);
        cn_buf_printf(&o, "\n%-6llu %-19s %10llu %8llu %9llu %8llu %7llu %10llu  %s",
                      (unsigned long long)v[i].scan.job_id, when, (unsigned long long)m->entries,
                      (unsigned long long)m->dirs, (unsigned long long)m->files,
                      (unsigned long long)m->symlinks, (unsigned long long)m->errors_total,
                      (unsigned long long)m->tree_bytes, m->space);
        for (size_t k = 0; k < m->n_error && k < 10; k++)
            cn_buf_printf(&o, "\n         error: %.*s: %s (%s)", (int)m->error[k]->path.len,
                          (const char *)m->error[k]->path.data, strerror(m->error[k]->errnum),
                          m->error[k]->what ? m->error[k]->what : "");
        if (m->errors_total > 10)
            cn_buf_printf(&o, "\n         ... %llu errors in all", (unsigned long long)m->errors_total);
    }
    if (n == 0) cn_buf_printf(&o, "\n(no scans)");
    cn_print_buf(&o);
    return 0;
}

static void json_ent(cn_buf_t *o, const cn_scan_ent_t *e, const cn_buf_t *path) {
    cn_buf_printf(o, "{\"name\":");
    cn_json_str(o, (const char *)e->name, e->name_len);
    if (path) {
        cn_buf_printf(o, ",\"path\":");
        cn_json_str(o, (const char *)path->data, path->len);
    }
    cn_buf_printf(o, ",\"type\":\"%s\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"size\":%llu,\"mtime_ns\":%lld",
                  type_name(e->st.type), e->st.mode & 07777, e->st.uid, e->st.gid,
                  (unsigned long long)e->st.size, (long long)e->st.mtime_ns);
    if (e->st.type == CN_PT_SYMLINK) {
        cn_buf_printf(o, ",\"target\":");
        cn_json_str(o, (const char *)e->target, e->target_len);
        static const char *const ln[] = {"none", "broken", "outside", "inside"};
        cn_buf_printf(o, ",\"link\":\"%s\"", ln[e->link & 3]);
        if (e->link == CN_LINK_INSIDE) {
            cn_buf_printf(o, ",\"resolved\":");
            cn_json_str(o, (const char *)e->resolved, e->resolved_len);
        }
    }
    cn_buf_putc(o, '}');
}

static void text_ent(cn_buf_t *o, const cn_scan_ent_t *e) {
    char mode[16], when[32];
    fmt_mode(mode, e->st.type, e->st.mode);
    fmt_time(when, sizeof when, e->st.mtime_ns);
    cn_buf_printf(o, "%s %6u %6u %12llu %s ", mode, e->st.uid, e->st.gid, (unsigned long long)e->st.size,
                  when);
    cn_buf_append(o, e->name, e->name_len);
    if (e->st.type == CN_PT_SYMLINK) {
        cn_buf_append(o, " -> ", 4);
        cn_buf_append(o, e->target, e->target_len);
    }
}

typedef struct {
    const cn_cli_t *g;
    cn_buf_t *o;
    size_t n;
} ls_t;

static int ls_one(void *arg, const cn_scan_ent_t *e) {
    ls_t *l = arg;
    if (l->g->json) {
        if (l->n) cn_buf_putc(l->o, ',');
        json_ent(l->o, e, NULL);
    } else {
        if (l->n) cn_buf_putc(l->o, '\n');
        text_ent(l->o, e);
    }
    l->n++;
    return 0;
}

int cn_qs_ls(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *path) {
    cn_buf_t rel = {0}, raw = {0}, o = {0};
    int status = CN_EXIT_FAIL;
    if (!cn_qs_relpath(&sc->scan, path, &rel)) goto out;
    int rc = cn_scanidx_dir(s, sc->scan.journal_id, rel.data, rel.len, &raw);
    if (rc == CN_ENOTFOUND) {
        cn_scan_ent_t e;
        cn_buf_t r2 = {0};
        rc = cn_scanidx_stat(s, sc->scan.journal_id, rel.data, rel.len, &r2, &e);
        cn_buf_free(&r2);
        fprintf(stderr, "canopy: %s %s in scan %llu\n", path,
                rc == 0 ? "is not a directory" : "does not exist", (unsigned long long)sc->scan.job_id);
        goto out;
    }
    if (rc < 0) {
        status = cn_fail(rc);
        goto out;
    }
    ls_t l = {g, &o, 0};
    if (g->json) cn_buf_putc(&o, '[');
    rc = cn_scanidx_parse(raw.data, raw.len, NULL, ls_one, &l);
    if (g->json) cn_buf_putc(&o, ']');
    if (rc < 0) {
        status = cn_fail(rc);
        goto out;
    }
    if (l.n || g->json) cn_print_buf(&o);
    status = 0;
out:
    cn_buf_free(&o);
    cn_buf_free(&rel);
    cn_buf_free(&raw);
    return status;
}

int cn_qs_stat(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *path) {
    cn_buf_t rel = {0}, raw = {0}, o = {0}, full = {0};
    cn_scan_ent_t e;
    if (!cn_qs_relpath(&sc->scan, path, &rel)) return CN_EXIT_FAIL;
    int rc = cn_scanidx_stat(s, sc->scan.journal_id, rel.data, rel.len, &raw, &e);
    if (rc < 0) {
        if (rc == CN_ENOTFOUND)
            fprintf(stderr, "canopy: %s does not exist in scan %llu\n", path,
                    (unsigned long long)sc->scan.job_id);
        else
            cn_fail(rc);
        cn_buf_free(&rel);
        cn_buf_free(&raw);
        return CN_EXIT_FAIL;
    }
    full_path(&sc->scan, rel.data, rel.len, &full);
    if (g->json) {
        json_ent(&o, &e, &full);
        o.len--; /* reopen the object to add the scan */
        cn_buf_printf(&o, ",\"scan\":%llu}", (unsigned long long)sc->scan.job_id);
    } else {
        char mode[16], when[32];
        fmt_mode(mode, e.st.type, e.st.mode);
        fmt_time(when, sizeof when, e.st.mtime_ns);
        cn_buf_printf(&o, "path:   ");
        cn_buf_append(&o, full.data, full.len);
        cn_buf_printf(
            &o,
            "\ntype:   %s\nmode:   %04o (%s)\nowner:  uid %u gid %u\nsize:   %llu\nmtime:  %s UTC (%lld ns)",
            type_name(e.st.type), e.st.mode & 07777, mode, e.st.uid, e.st.gid, (unsigned long long)e.st.size,
            when, (long long)e.st.mtime_ns);
        if (e.st.type == CN_PT_SYMLINK) {
            cn_buf_printf(&o, "\ntarget: ");
            cn_buf_append(&o, e.target, e.target_len);
            cn_buf_printf(&o, "\nleads:  ");
            if (e.link == CN_LINK_INSIDE)
                full_path(&sc->scan, e.resolved, e.resolved_len, &o);
            else
                cn_buf_printf(&o, "%s",
                              e.link == CN_LINK_OUTSIDE ? "(outside the scanned tree)" : "(broken)");
        }
        cn_buf_printf(&o, "\nscan:   job %llu", (unsigned long long)sc->scan.job_id);
    }
    cn_print_buf(&o);
    cn_buf_free(&rel);
    cn_buf_free(&raw);
    cn_buf_free(&full);
    return 0;
}

typedef struct {
    const cn_cli_t *g;
    const cn_scan_t *sc;
    const cn_ptree_t *t;
    cn_buf_t out, rel, line;
    uint64_t n;
} find_t;

static bool found(void *arg, uint32_t node) {
    find_t *f = arg;
    cn_buf_reset(&f->rel);
    cn_buf_reset(&f->line);
    cn_ptree_path(f->t, node, &f->rel);
    full_path(f->sc, f->rel.data, f->rel.len, &f->line);
    if (f->g->json) {
        cn_pstat_t st;
        cn_ptree_stat(f->t, node, &st);
        cn_buf_printf(&f->out, "%s{\"path\":", f->n ? "," : "");
        cn_json_str(&f->out, (const char *)f->line.data, f->line.len);
        cn_buf_printf(&f->out, ",\"type\":\"%s\",\"size\":%llu}", type_name(st.type),
                      (unsigned long long)st.size);
    } else {
        cn_buf_append(&f->out, f->line.data, f->line.len);
        cn_buf_putc(&f->out, '\n');
        if (f->out.len > (1u << 16)) { /* stream long answers */
            fwrite(f->out.data, 1, f->out.len, stdout);
            cn_buf_reset(&f->out);
        }
    }
    f->n++;
    return true;
}

int cn_qs_find(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *pattern) {
    cn_ptree_t *t = NULL;
    int rc = cn_scanidx_tree(s, sc->scan.journal_id, &t);
    if (rc < 0) return cn_fail(rc);
    find_t f = {.g = g, .sc = &sc->scan, .t = t};
    if (g->json) cn_buf_putc(&f.out, '[');
    cn_ptree_find(t, pattern, found, &f);
    if (g->json) {
        cn_buf_putc(&f.out, ']');
        cn_print_buf(&f.out);
    } else {
        fwrite(f.out.data, 1, f.out.len, stdout);
        fflush(stdout);
    }
    cn_buf_free(&f.out);
    cn_buf_free(&f.rel);
    cn_buf_free(&f.line);
    cn_ptree_destroy(&t);
    return 0;
}

typedef struct {
    const cn_cli_t *g;
    const cn_scan_t *sa;
    const cn_ptree_t *a, *b;
    cn_buf_t out, rel;
    uint64_t added, removed, changed;
} diff_t;

static bool on_diff(void *arg, int kind, unsigned what, uint32_t na, uint32_t nb) {
    diff_t *d = arg;
    cn_buf_reset(&d->rel);
    if (kind == CN_DIFF_ADDED)
        d->added++, cn_ptree_path(d->b, nb, &d->rel);
    else if (kind == CN_DIFF_REMOVED)
        d->removed++, cn_ptree_path(d->a, na, &d->rel);
    else
        d->changed++, cn_ptree_path(d->a, na, &d->rel);
    static const char *const fields[] = {"type", "size", "mode", "owner", "mtime", "target"};
    const char *op = kind == CN_DIFF_ADDED ? "added" : kind == CN_DIFF_REMOVED ? "removed" : "changed";
    bool first = d->added + d->removed + d->changed == 1;
    if (d->g->json) {
        cn_buf_printf(&d->out, "%s{\"op\":\"%s\",\"path\":", first ? "" : ",", op);
        cn_buf_t full = {0};
        full_path(d->sa, d->rel.data, d->rel.len, &full);
        cn_json_str(&d->out, (const char *)full.data, full.len);
        cn_buf_free(&full);
        cn_buf_printf(&d->out, ",\"changed\":[");
        for (unsigned i = 0, k = 0; i < CN_ARRAY_LEN(fields); i++)
            if (what & (1u << i)) cn_buf_printf(&d->out, "%s\"%s\"", k++ ? "," : "", fields[i]);
        cn_buf_printf(&d->out, "]}");
    } else {
        cn_buf_printf(&d->out, "%c ", kind == CN_DIFF_ADDED ? '+' : kind == CN_DIFF_REMOVED ? '-' : '~');
        full_path(d->sa, d->rel.data, d->rel.len, &d->out);
        if (what) {
            cn_buf_printf(&d->out, " (");
            for (unsigned i = 0, k = 0; i < CN_ARRAY_LEN(fields); i++)
                if (what & (1u << i)) cn_buf_printf(&d->out, "%s%s", k++ ? "," : "", fields[i]);
            cn_buf_putc(&d->out, ')');
        }
        cn_buf_putc(&d->out, '\n');
        if (d->out.len > (1u << 16)) {
            fwrite(d->out.data, 1, d->out.len, stdout);
            cn_buf_reset(&d->out);
        }
    }
    return true;
}

int cn_qs_diff(const cn_cli_t *g, const cn_stores_t *st, const cn_qs_scan_t *a, const cn_qs_scan_t *b) {
    const ProtobufCBinaryData *ra = &a->scan.meta->root, *rb = &b->scan.meta->root;
    if (ra->len != rb->len || memcmp(ra->data, rb->data, ra->len) != 0) {
        fprintf(stderr, "canopy: scans %llu and %llu have different roots\n",
                (unsigned long long)a->scan.job_id, (unsigned long long)b->scan.job_id);
        return CN_EXIT_FAIL;
    }
    cn_ptree_t *ta = NULL, *tb = NULL;
    int rc = cn_scanidx_tree(st->s[a->store], a->scan.journal_id, &ta);
    if (rc == 0) rc = cn_scanidx_tree(st->s[b->store], b->scan.journal_id, &tb);
    if (rc < 0) {
        cn_ptree_destroy(&ta);
        return cn_fail(rc);
    }
    diff_t d = {.g = g, .sa = &a->scan, .a = ta, .b = tb};
    if (g->json)
        cn_buf_printf(&d.out, "{\"a\":%llu,\"b\":%llu,\"entries\":[", (unsigned long long)a->scan.job_id,
                      (unsigned long long)b->scan.job_id);
    cn_ptree_diff(ta, tb, on_diff, &d);
    if (g->json) {
        cn_buf_printf(&d.out, "],\"added\":%llu,\"removed\":%llu,\"changed\":%llu}",
                      (unsigned long long)d.added, (unsigned long long)d.removed,
                      (unsigned long long)d.changed);
        cn_print_buf(&d.out);
    } else {
        cn_buf_printf(&d.out, "%llu added, %llu removed, %llu changed\n", (unsigned long long)d.added,
                      (unsigned long long)d.removed, (unsigned long long)d.changed);
        fwrite(d.out.data, 1, d.out.len, stdout);
        fflush(stdout);
    }
    cn_buf_free(&d.out);
    cn_buf_free(&d.rel);
    cn_ptree_destroy(&ta);
    cn_ptree_destroy(&tb);
    return 0;
}
