/* query_git.c: canopy query projects|log|heads|commits|changes|file: argument
   parsing, PROJECT and COMMIT resolution, and the read view over the stores
   (stores.h: the merged store first, then every shard, read-only; pointer
   records count only under a job's winning lease). Printing is in
   query_git_out.c. Single-threaded. */
#include "query_git.h"

#include "cmd.h"
#include "errors.h"
#include "url.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "canopy query projects [--json]\n"
    "canopy query log PROJECT [--json]\n"
    "canopy query heads PROJECT [--json]\n"
    "canopy query commits PROJECT [--limit N] [--json]\n"
    "canopy query changes COMMIT [--json]\n"
    "canopy query file PROJECT COMMIT PATH [--json]\n\n"
    "Downloaded git repositories. PROJECT is a project id or the repository's URL\n"
    "(or local path); COMMIT is 40 hex digits or the name of one of the project's\n"
    "heads (main, refs/tags/v1). commits lists newest first from the heads; file\n"
    "prints the bytes exactly as git stores them.\n";

/* ---- the view ---- */

int cn_gv_commit(cn_gv_t *v, const uint8_t oid[20], Canopy__Commit **out) {
    int rc = CN_ENOTFOUND;
    for (size_t i = 0; i < v->st.n && rc == CN_ENOTFOUND; i++) rc = cn_repo_get_commit(v->st.s[i], oid, out);
    return rc;
}

int cn_gv_changes(cn_gv_t *v, const uint8_t oid[20], Canopy__Changes **out) {
    int rc = CN_ENOTFOUND;
    for (size_t i = 0; i < v->st.n && rc == CN_ENOTFOUND; i++) rc = cn_repo_get_changes(v->st.s[i], oid, out);
    return rc;
}

int cn_gv_path(cn_gv_t *v, const uint8_t hash[CN_REPO_PATH_HASH_LEN], cn_buf_t *out) {
    int rc = CN_ENOTFOUND;
    for (size_t i = 0; i < v->st.n && rc == CN_ENOTFOUND; i++) rc = cn_repo_get_path(v->st.s[i], hash, out);
    return rc;
}

int cn_gv_content(cn_gv_t *v, const uint8_t oid[20], cn_buf_t *out) {
    int rc = CN_ENOTFOUND;
    for (size_t i = 0; i < v->st.n && rc == CN_ENOTFOUND; i++)
        rc = cn_repo_get_content(v->st.s[i], oid, CN_RECORD_MAX, out, NULL);
    return rc;
}

static bool heads_live(void *arg, const Canopy__Heads *h) {
    cn_gv_t *v = arg;
    return cn_stores_lease_won(&v->st, h->job_id, h->lease_seq);
}

/* The heads of the newest live lease of the project in store s, or NULL. */
static Canopy__Heads *store_heads(cn_gv_t *v, cn_shard_t *s, uint64_t project) {
    Canopy__Heads *h = NULL;
    return cn_repo_newest_heads(s, project, heads_live, v, &h) == 0 ? h : NULL;
}

int cn_gv_heads(cn_gv_t *v, uint64_t project, Canopy__Heads **out) {
    *out = NULL;
    for (size_t i = 0; i < v->st.n; i++) {
        Canopy__Heads *h = store_heads(v, v->st.s[i], project);
        if (!h) continue;
        if (!*out || h->lease_seq > (*out)->lease_seq) {
            if (*out) cn_rec_free(&(*out)->base);
            *out = h;
        } else {
            cn_rec_free(&h->base);
        }
    }
    return *out ? 0
                : cn_err(CN_ENOTFOUND, "project %llu has no stored heads yet", (unsigned long long)project);
}

typedef struct {
    cn_gv_t *view;
    Canopy__ProjectLog **v;
    size_t n;
} logs_t;

static int add_log(void *arg, Canopy__ProjectLog *l) {
    logs_t *ls = arg;
    if (!cn_stores_lease_won(&ls->view->st, l->job_id, l->lease_seq)) { /* fenced, or never committed */
        cn_rec_free(&l->base);
        return 0;
    }
    ls->v = cn_xrealloc(ls->v, (ls->n + 1) * sizeof *ls->v);
    ls->v[ls->n++] = l;
    return 0;
}

static int by_lease(const void *a, const void *b) {
    const Canopy__ProjectLog *x = *(Canopy__ProjectLog *const *)a, *y = *(Canopy__ProjectLog *const *)b;
    return x->lease_seq < y->lease_seq ? -1 : x->lease_seq > y->lease_seq;
}

void cn_gv_logs(cn_gv_t *v, uint64_t project, Canopy__ProjectLog ***out, size_t *n) {
    logs_t ls = {.view = v};
    for (size_t i = 0; i < v->st.n; i++) cn_repo_each_log(v->st.s[i], project, add_log, &ls);
    if (ls.n) qsort(ls.v, ls.n, sizeof *ls.v, by_lease);
    size_t k = 0; /* one entry per lease (a store may have been copied) */
    for (size_t i = 0; i < ls.n; i++) {
        if (k && ls.v[k - 1]->lease_seq == ls.v[i]->lease_seq)
            cn_rec_free(&ls.v[i]->base);
        else
            ls.v[k++] = ls.v[i];
    }
    *out = ls.v;
    *n = k;
}

void cn_gv_free_logs(Canopy__ProjectLog **l, size_t n) {
    for (size_t i = 0; i < n; i++) cn_rec_free(&l[i]->base);
    free(l);
}

typedef struct {
    Canopy__Project **v;
    size_t n, cap;
} projects_t;

static int add_project(void *arg, Canopy__Project *p) {
    projects_t *ps = arg;
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->v = cn_xrealloc(ps->v, ps->cap * sizeof *ps->v);
    }
    ps->v[ps->n++] = p;
    return 0;
}

static int by_id(const void *a, const void *b) {
    const Canopy__Project *x = *(Canopy__Project *const *)a, *y = *(Canopy__Project *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Every store's projects, sorted by id, one each (the merged store and the
   shards hold copies of the same project records). */
void cn_gv_projects(cn_gv_t *v, Canopy__Project ***out, size_t *n) {
    projects_t ps = {0};
    for (size_t i = 0; i < v->st.n; i++) cn_repo_each_project(v->st.s[i], add_project, &ps);
    if (ps.n) qsort(ps.v, ps.n, sizeof *ps.v, by_id);
    size_t k = 0;
    for (size_t i = 0; i < ps.n; i++) {
        if (k && ps.v[k - 1]->id == ps.v[i]->id)
            cn_rec_free(&ps.v[i]->base);
        else
            ps.v[k++] = ps.v[i];
    }
    *out = ps.v;
    *n = k;
}

void cn_gv_free_projects(Canopy__Project **p, size_t n) {
    for (size_t i = 0; i < n; i++) cn_rec_free(&p[i]->base);
    free(p);
}

typedef struct {
    const char *url;
    uint64_t id;
} find_url_t;

static int match_url(void *arg, Canopy__Project *p) {
    find_url_t *f = arg;
    if (strcmp(p->url, f->url) == 0) f->id = p->id;
    cn_rec_free(&p->base);
    return f->id != 0; /* found: stop */
}

int cn_gv_project(cn_gv_t *v, const char *arg, uint64_t *id) {
    if (cn_parse_u64(arg, id) && *id > 0) return 0;
    char *canon = NULL;
    int rc = cn_url_canonical(arg, NULL, &canon);
    if (rc < 0)
        return cn_err(CN_EINVAL, "PROJECT '%s' is neither a project id nor a URL: %s", arg, cn_err_detail());
    find_url_t f = {.url = canon};
    for (size_t i = 0; i < v->st.n && !f.id; i++) cn_repo_each_project(v->st.s[i], match_url, &f);
    rc = f.id ? 0 : cn_err(CN_ENOTFOUND, "no downloaded project has the URL %s", canon);
    *id = f.id;
    free(canon);
    return rc;
}

static bool ref_matches(const ProtobufCBinaryData *name, const char *arg) {
    static const char *const prefixes[] = {"", "refs/heads/", "refs/tags/", "refs/"};
    size_t al = strlen(arg);
    for (size_t i = 0; i < CN_ARRAY_LEN(prefixes); i++) {
        size_t pl = strlen(prefixes[i]);
        if (name->len == pl + al && memcmp(name->data, prefixes[i], pl) == 0 &&
            memcmp(name->data + pl, arg, al) == 0)
            return true;
    }
    return false;
}

int cn_gv_commit_arg(cn_gv_t *v, uint64_t project, const char *arg, uint8_t oid[20]) {
    if (strlen(arg) == 40 && cn_unhex(arg, oid, 20)) return 0;
    Canopy__Heads *h = NULL;
    if (project == 0 || cn_gv_heads(v, project, &h) < 0)
        return cn_err(CN_EINVAL, "COMMIT '%s' is not 40 hex digits", arg);
    int rc = cn_err(CN_ENOTFOUND, "project %llu has no head named '%s'", (unsigned long long)project, arg);
    for (size_t i = 0; i < h->n_ref; i++)
        if (ref_matches(&h->ref[i]->name, arg) && h->ref[i]->oid.len == 20) {
            memcpy(oid, h->ref[i]->oid.data, 20);
            rc = 0;
            break;
        }
    cn_rec_free(&h->base);
    return rc;
}

/* ---- arguments ---- */

static int run_query(const cn_cli_t *g, cn_gv_t *v, const char *what, char **pos, int npos, uint64_t limit) {
    static const struct {
        const char *name;
        int args;
    } arity[] = {{"projects", 0}, {"log", 1}, {"heads", 1}, {"commits", 1}, {"changes", 1}, {"file", 3}};
    for (size_t i = 0; i < CN_ARRAY_LEN(arity); i++)
        if (strcmp(arity[i].name, what) == 0 && arity[i].args != npos)
            return cn_usage_error(usage_text, "query %s takes %d argument%s", what, arity[i].args,
                                  arity[i].args == 1 ? "" : "s");
    if (strcmp(what, "projects") == 0) return cn_qg_projects(g, v);
    uint8_t oid[20];
    if (strcmp(what, "changes") == 0)
        return cn_gv_commit_arg(v, 0, pos[0], oid) < 0 ? cn_fail(CN_EINVAL) : cn_qg_changes(g, v, oid);
    uint64_t project = 0;
    int rc = cn_gv_project(v, pos[0], &project);
    if (rc < 0) return cn_fail(rc);
    if (strcmp(what, "log") == 0) return cn_qg_log(g, v, project);
    if (strcmp(what, "heads") == 0) return cn_qg_heads(g, v, project);
    if (strcmp(what, "commits") == 0) return cn_qg_commits(g, v, project, limit);
    if ((rc = cn_gv_commit_arg(v, project, pos[1], oid)) < 0) return cn_fail(rc);
    return cn_qg_file(g, v, oid, pos[2]);
}

int cn_query_git(const cn_cli_t *g, const char *what, int argc, char **argv) {
    char **pos = cn_xcalloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, status = -1;
    uint64_t limit = 0;
    for (int i = 1; i < argc && status < 0; i++) {
        const char *val = NULL;
        int rc;
        if (cn_arg_help(argv[i])) {
            status = cn_print_help(usage_text);
        } else if ((rc = cn_arg_value(argc, argv, &i, "--limit", &val)) != 0) {
            if (rc < 0 || !cn_parse_u64(val, &limit))
                status = cn_usage_error(usage_text, "--limit needs a number of commits");
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            status = cn_usage_error(usage_text, "unknown option %s", argv[i]);
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (status < 0) {
        cn_gv_t v = {0};
        int rc = cn_stores_open(g, false, &v.st);
        status = rc < 0 ? cn_fail(rc) : run_query(g, &v, what, pos, npos, limit);
        cn_stores_close(&v.st);
    }
    free(pos);
    return status;
}
