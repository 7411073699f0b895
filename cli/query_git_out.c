/* query_git_out.c: the answers of canopy query projects|log|heads|commits|
   changes|file, as text lines or --json. Bytes from repositories (names,
   messages, paths) are printed as stored; JSON escapes what is not UTF-8 byte
   by byte (json.h). Single-threaded. */
#include "query_git.h"

#include "cmd.h"
#include "errors.h"
#include "json.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cn_qg_log_kind(int kind) {
    switch (kind) {
    case CANOPY__LOG_KIND__LOG_OK:
        return "Ok";
    case CANOPY__LOG_KIND__LOG_NO_CHANGE:
        return "NoChange";
    case CANOPY__LOG_KIND__LOG_ERROR:
        return "Error";
    default:
        return "Unknown";
    }
}

void cn_qg_time(char *out, size_t n, int64_t t, int32_t tz_min) {
    time_t local = (time_t)(t + (int64_t)tz_min * 60);
    struct tm tm;
    gmtime_r(&local, &tm);
    char day[40];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    int a = tz_min < 0 ? -tz_min : tz_min;
    snprintf(out, n, "%s %c%02d%02d", day, tz_min < 0 ? '-' : '+', a / 60, a % 60);
}

static void hex_json(cn_buf_t *b, const char *key, const ProtobufCBinaryData *d, bool first) {
    char hex[2 * 64 + 1];
    cn_hex(d->data, CN_MIN(d->len, 64u), hex);
    cn_json_key(b, key, first);
    cn_json_str(b, hex, strlen(hex));
}

static void bytes_json(cn_buf_t *b, const char *key, const ProtobufCBinaryData *d, bool first) {
    cn_json_key(b, key, first);
    cn_json_str(b, (const char *)d->data, d->len);
}

void cn_qg_sig_json(cn_buf_t *b, const char *key, const Canopy__Signature *s) {
    cn_json_key(b, key, false);
    cn_buf_putc(b, '{');
    if (s) {
        bytes_json(b, "name", &s->name, true);
        bytes_json(b, "email", &s->email, false);
        cn_json_key(b, "time", false);
        cn_buf_printf(b, "%lld", (long long)s->time);
        cn_json_key(b, "tz_offset_min", false);
        cn_buf_printf(b, "%d", s->tz_offset_min);
    }
    cn_buf_putc(b, '}');
}

/* Prints b: with --json after closing it with `close` (the open array or
   object), as text otherwise. Frees b. */
static void finish(const cn_cli_t *g, cn_buf_t *b, const char *close) {
    if (g->json) {
        cn_buf_append(b, close, strlen(close));
        cn_print_buf(b);
        return;
    }
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    cn_buf_free(b);
}

int cn_qg_projects(const cn_cli_t *g, cn_gv_t *v) {
    Canopy__Project **ps = NULL;
    size_t n = 0;
    cn_gv_projects(v, &ps, &n);
    cn_buf_t b = {0};
    if (g->json) cn_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        Canopy__ProjectLog **ls = NULL;
        size_t nl = 0;
        cn_gv_logs(v, ps[i]->id, &ls, &nl);
        const Canopy__ProjectLog *last = nl ? ls[nl - 1] : NULL;
        char when[64] = "-";
        if (last) cn_qg_time(when, sizeof when, (int64_t)(last->at_ms / 1000), 0);
        if (g->json) {
            cn_buf_printf(&b, "%s{\"id\":%llu", i ? "," : "", (unsigned long long)ps[i]->id);
            cn_json_key(&b, "url", false);
            cn_json_str(&b, ps[i]->url, strlen(ps[i]->url));
            cn_buf_printf(&b, ",\"last\":\"%s\",\"at_ms\":%llu,\"downloads\":%zu}",
                          last ? cn_qg_log_kind(last->kind) : "",
                          last ? (unsigned long long)last->at_ms : 0ull, nl);
        } else {
            cn_buf_printf(&b, "%llu\t%s\t%s\t%s\n", (unsigned long long)ps[i]->id, ps[i]->url,
                          last ? cn_qg_log_kind(last->kind) : "-", when);
        }
        cn_gv_free_logs(ls, nl);
    }
    cn_gv_free_projects(ps, n);
    finish(g, &b, "]");
    return 0;
}

int cn_qg_log(const cn_cli_t *g, cn_gv_t *v, uint64_t project) {
    Canopy__ProjectLog **ls = NULL;
    size_t n = 0;
    cn_gv_logs(v, project, &ls, &n);
    cn_buf_t b = {0};
    if (g->json) cn_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        const Canopy__ProjectLog *l = ls[i];
        char when[64];
        cn_qg_time(when, sizeof when, (int64_t)(l->at_ms / 1000), 0);
        if (g->json) {
            cn_buf_printf(&b, "%s{\"kind\":\"%s\",\"at_ms\":%llu,\"job_id\":%llu,\"lease_seq\":%llu",
                          i ? "," : "", cn_qg_log_kind(l->kind), (unsigned long long)l->at_ms,
                          (unsigned long long)l->job_id, (unsigned long long)l->lease_seq);
            cn_buf_printf(&b, ",\"commits_new\":%llu,\"contents_new\":%llu",
                          (unsigned long long)l->commits_new, (unsigned long long)l->contents_new);
            cn_json_key(&b, "message", false);
            cn_json_str(&b, l->message, strlen(l->message));
            if (l->stamp) {
                cn_json_key(&b, "stamp", false);
                cn_buf_printf(&b, "\"%s %s\"", l->stamp->version, l->stamp->git_commit);
            }
            cn_buf_putc(&b, '}');
        } else {
            cn_buf_printf(&b, "%s\t%s\tjob %llu\tcommits %llu\tcontents %llu%s%s\n", when,
                          cn_qg_log_kind(l->kind), (unsigned long long)l->job_id,
                          (unsigned long long)l->commits_new, (unsigned long long)l->contents_new,
                          l->message[0] ? "\t" : "", l->message);
        }
    }
    cn_gv_free_logs(ls, n);
    if (n == 0 && !g->json) {
        cn_buf_free(&b);
        fprintf(stderr, "canopy: project %llu has no log entries\n", (unsigned long long)project);
        return CN_EXIT_FAIL;
    }
    finish(g, &b, "]");
    return 0;
}

int cn_qg_heads(const cn_cli_t *g, cn_gv_t *v, uint64_t project) {
    Canopy__Heads *h = NULL;
    int rc = cn_gv_heads(v, project, &h);
    if (rc < 0) return cn_fail(rc);
    cn_buf_t b = {0};
    if (g->json)
        cn_buf_printf(&b, "{\"project_id\":%llu,\"lease_seq\":%llu,\"refs\":[", (unsigned long long)project,
                      (unsigned long long)h->lease_seq);
    for (size_t i = 0; i < h->n_ref; i++) {
        char hex[41];
        cn_hex(h->ref[i]->oid.data, CN_MIN(h->ref[i]->oid.len, 20u), hex);
        if (g->json) {
            cn_buf_printf(&b, "%s{", i ? "," : "");
            bytes_json(&b, "name", &h->ref[i]->name, true);
            cn_buf_printf(&b, ",\"oid\":\"%s\"}", hex);
        } else {
            cn_buf_printf(&b, "%s ", hex);
            cn_buf_append(&b, h->ref[i]->name.data, h->ref[i]->name.len);
            cn_buf_putc(&b, '\n');
        }
    }
    cn_rec_free(&h->base);
    finish(g, &b, "]}");
    return 0;
}

static void commit_json(cn_buf_t *b, const Canopy__Commit *c) {
    cn_buf_putc(b, '{');
    hex_json(b, "oid", &c->oid, true);
    cn_json_key(b, "parents", false);
    cn_buf_putc(b, '[');
    for (size_t i = 0; i < c->n_parents; i++) {
        char hex[41];
        cn_hex(c->parents[i].data, CN_MIN(c->parents[i].len, 20u), hex);
        cn_buf_printf(b, "%s\"%s\"", i ? "," : "", hex);
    }
    cn_buf_putc(b, ']');
    hex_json(b, "tree", &c->tree, false);
    cn_qg_sig_json(b, "author", c->author);
    cn_qg_sig_json(b, "committer", c->committer);
    bytes_json(b, "message", &c->message, false);
    cn_buf_putc(b, '}');
}

static void commit_line(cn_buf_t *b, const Canopy__Commit *c) {
    char hex[41], when[64] = "-";
    cn_hex(c->oid.data, CN_MIN(c->oid.len, 20u), hex);
    if (c->author) cn_qg_time(when, sizeof when, c->author->time, c->author->tz_offset_min);
    cn_buf_printf(b, "%s %s ", hex, when);
    if (c->author) cn_buf_append(b, c->author->name.data, c->author->name.len);
    cn_buf_putc(b, '\t');
    const uint8_t *m = c->message.data, *nl = m ? memchr(m, '\n', c->message.len) : NULL;
    cn_buf_append(b, m, nl ? (size_t)(nl - m) : c->message.len);
    cn_buf_putc(b, '\n');
}

/* Newest first by committer time, from the heads: a max-heap of commits. */
typedef struct {
    Canopy__Commit **h;
    size_t n, cap;
} heap_t;

static int64_t ctime_of(const Canopy__Commit *c) {
    return c->committer ? c->committer->time : 0;
}

static void heap_push(heap_t *q, Canopy__Commit *c) {
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->h = cn_xrealloc(q->h, q->cap * sizeof *q->h);
    }
    size_t i = q->n++;
    q->h[i] = c;
    while (i && ctime_of(q->h[(i - 1) / 2]) < ctime_of(q->h[i])) {
        Canopy__Commit *t = q->h[i];
        q->h[i] = q->h[(i - 1) / 2];
        q->h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static Canopy__Commit *heap_pop(heap_t *q) {
    Canopy__Commit *top = q->h[0];
    q->h[0] = q->h[--q->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n && ctime_of(q->h[l]) > ctime_of(q->h[m])) m = l;
        if (r < q->n && ctime_of(q->h[r]) > ctime_of(q->h[m])) m = r;
        if (m == i) break;
        Canopy__Commit *t = q->h[i];
        q->h[i] = q->h[m];
        q->h[m] = t;
        i = m;
    }
    return top;
}

/* A small set of oids already queued (open addressing). */
typedef struct {
    uint8_t (*k)[20];
    size_t cap, n;
} oidset_t;

static bool oidset_add(oidset_t *s, const uint8_t *oid) {
    static const uint8_t zero[20];
    if (2 * (s->n + 1) > s->cap) {
        oidset_t big = {cn_xcalloc(s->cap ? 2 * s->cap : 256, 20), s->cap ? 2 * s->cap : 256, 0};
        for (size_t i = 0; i < s->cap; i++)
            if (memcmp(s->k[i], zero, 20)) oidset_add(&big, s->k[i]);
        free(s->k);
        *s = big;
    }
    uint64_t h;
    memcpy(&h, oid, 8);
    for (size_t i = (size_t)h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (memcmp(s->k[i], oid, 20) == 0) return false;
        if (memcmp(s->k[i], zero, 20) == 0) {
            memcpy(s->k[i], oid, 20);
            s->n++;
            return true;
        }
    }
}

static void queue_commit(cn_gv_t *v, heap_t *q, oidset_t *seen, const uint8_t *oid, uint64_t *missing) {
    if (!oidset_add(seen, oid)) return;
    Canopy__Commit *c = NULL;
    if (cn_gv_commit(v, oid, &c) == 0)
        heap_push(q, c);
    else
        (*missing)++;
}

int cn_qg_commits(const cn_cli_t *g, cn_gv_t *v, uint64_t project, uint64_t limit) {
    Canopy__Heads *h = NULL;
    int rc = cn_gv_heads(v, project, &h);
    if (rc < 0) return cn_fail(rc);
    heap_t q = {0};
    oidset_t seen = {0};
    uint64_t missing = 0, shown = 0;
    for (size_t i = 0; i < h->n_ref; i++)
        if (h->ref[i]->oid.len == 20) queue_commit(v, &q, &seen, h->ref[i]->oid.data, &missing);
    missing = 0; /* heads that name trees or blobs (odd tags) are not commits */
    cn_buf_t b = {0};
    if (g->json) cn_buf_putc(&b, '[');
    while (q.n && (limit == 0 || shown < limit)) {
        Canopy__Commit *c = heap_pop(&q);
        if (g->json) {
            if (shown) cn_buf_putc(&b, ',');
            commit_json(&b, c);
        } else {
            commit_line(&b, c);
        }
        shown++;
        for (size_t i = 0; i < c->n_parents; i++)
            if (c->parents[i].len == 20) queue_commit(v, &q, &seen, c->parents[i].data, &missing);
        cn_rec_free(&c->base);
        if (b.len > (1u << 20) && !g->json) finish(g, &b, ""); /* flush long text listings as they grow */
    }
    while (q.n) cn_rec_free(&heap_pop(&q)->base);
    free(q.h);
    free(seen.k);
    cn_rec_free(&h->base);
    finish(g, &b, "]");
    if (missing)
        fprintf(stderr, "canopy: %llu parent commits are not in the stores\n", (unsigned long long)missing);
    return 0;
}
