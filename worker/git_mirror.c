/* git_mirror.c: cn_git_mirror (git.h), the bare mirror of a repository's
   branches and tags: a clone when there is none (a local repository's objects
   linked, not packed again), a pruned fetch otherwise, a re-clone when the fetch
   fails, and no fetch at all when a local source's refs are unchanged. */
#include "errors.h"
#include "git.h"
#include "git_int.h"
#include "util.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const cn_git_fetch_opts_t *o;
    uint64_t deadline_ms;
    bool timed_out, cancelled;
} fetch_state_t;

static int should_stop(fetch_state_t *st) {
    if (st->deadline_ms && cn_mono_ms() > st->deadline_ms) {
        st->timed_out = true;
        return -1;
    }
    if (st->o && st->o->cancelled && st->o->cancelled(st->o->arg)) {
        st->cancelled = true;
        return -1;
    }
    return 0;
}

static int on_transfer(const git_indexer_progress *p, void *payload) {
    fetch_state_t *st = payload;
    if (st->o && st->o->progress)
        st->o->progress(st->o->arg, p->received_objects, p->total_objects, p->received_bytes);
    return should_stop(st);
}

static int on_sideband(const char *str, int len, void *payload) {
    (void)str;
    (void)len;
    return should_stop(payload);
}

static int map_fetch_error(int grc, const fetch_state_t *st, const char *url) {
    if (st->timed_out)
        return cn_err(CN_ETIMEOUT, "fetching %s took longer than %llu ms", url,
                      (unsigned long long)st->o->timeout_ms);
    if (st->cancelled) return cn_err(CN_ECANCELLED, "fetching %s was cancelled", url);
    const git_error *e = git_error_last();
    int klass = e ? e->klass : 0;
    int code = CN_EGIT;
    if (grc == GIT_EAUTH)
        code = CN_EPERM;
    else if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSL || klass == GIT_ERROR_SSH ||
             klass == GIT_ERROR_HTTP || grc == GIT_ENOTFOUND || grc == GIT_EEOF)
        code = CN_EUNREACHABLE;
    char what[600];
    snprintf(what, sizeof what, "cannot fetch %s", url);
    return cn_git_fail(code, what);
}

static int fetch_into(git_repository *repo, const char *url, const cn_git_fetch_opts_t *o) {
    git_remote *remote = NULL;
    fetch_state_t st = {.o = o};
    if (o && o->timeout_ms) st.deadline_ms = cn_mono_ms() + o->timeout_ms;
    if (git_remote_create_anonymous(&remote, repo, url) < 0)
        return cn_git_fail(CN_EINVAL, "bad repository URL");
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec below takes every tag */
    fo.update_fetchhead = 0;
    fo.callbacks.transfer_progress = on_transfer;
    fo.callbacks.sideband_progress = on_sideband;
    fo.callbacks.payload = &st;
    char heads[] = "+refs/heads/*:refs/heads/*", tags[] = "+refs/tags/*:refs/tags/*";
    char *specs[] = {heads, tags};
    git_strarray sa = {specs, 2};
    int grc = git_remote_fetch(remote, &sa, &fo, NULL);
    int rc = grc < 0 ? map_fetch_error(grc, &st, url) : 0;
    git_remote_free(remote);
    return rc;
}

/* The remote of a first clone: branches and tags to the same names. */
static int mirror_remote(git_remote **out, git_repository *repo, const char *name, const char *url,
                         void *payload) {
    (void)payload;
    int rc = git_remote_create_with_fetchspec(out, repo, name, url, "+refs/heads/*:refs/heads/*");
    if (rc == 0 && (rc = git_remote_add_fetch(repo, name, "+refs/tags/*:refs/tags/*")) == 0) {
        git_remote_free(*out);
        rc = git_remote_lookup(out, repo, name);
    }
    return rc;
}

/* A repository on this machine: its object files are linked (or copied), not
   packed again by the local transport (an order of magnitude faster). */
static int clone_local(const char *dir, const char *url, const cn_git_fetch_opts_t *o) {
    fetch_state_t st = {.o = o};
    if (o && o->timeout_ms) st.deadline_ms = cn_mono_ms() + o->timeout_ms;
    git_clone_options co;
    git_clone_options_init(&co, GIT_CLONE_OPTIONS_VERSION);
    co.bare = 1;
    co.local = GIT_CLONE_LOCAL;
    co.remote_cb = mirror_remote;
    co.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
    co.fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    co.fetch_opts.update_fetchhead = 0;
    co.fetch_opts.callbacks.transfer_progress = on_transfer;
    co.fetch_opts.callbacks.sideband_progress = on_sideband;
    co.fetch_opts.callbacks.payload = &st;
    git_repository *repo = NULL;
    int grc = git_clone(&repo, url, dir, &co);
    git_repository_free(repo);
    return grc < 0 ? map_fetch_error(grc, &st, url) : 0;
}

static int clone_into(const char *dir, const char *url, const cn_git_fetch_opts_t *o) {
    git_repository *repo = NULL;
    int rc;
    if (strncmp(url, "file://", 7) == 0) {
        struct stat sb;
        if (stat(url + 7, &sb) != 0) return cn_err(CN_EUNREACHABLE, "cannot fetch %s: no such path", url);
        rc = clone_local(dir, url, o);
        if (rc == CN_EUNREACHABLE)
            rc = cn_err(CN_EGIT, "%s is not a git repository (%s)", url, cn_err_detail());
    } else {
        if (cn_mkdir_p(dir) < 0) return CN_ESYS;
        if (git_repository_init(&repo, dir, 1) < 0) return cn_git_fail(CN_EGIT, "cannot create the mirror");
        rc = fetch_into(repo, url, o);
        git_repository_free(repo);
    }
    if (rc < 0) {
        int keep = rc;
        char detail[1024];
        snprintf(detail, sizeof detail, "%s", cn_err_detail());
        cn_rm_rf(dir);
        return cn_err(keep, "%s", detail);
    }
    return 0;
}

typedef struct {
    char *name;
    uint8_t oid[CN_OID_LEN];
} direct_ref_t;

static int cmp_direct(const void *a, const void *b) {
    return strcmp(((const direct_ref_t *)a)->name, ((const direct_ref_t *)b)->name);
}

/* The direct branch and tag refs of repo, sorted by name (*n of them). */
static direct_ref_t *direct_refs(git_repository *repo, size_t *n) {
    static const char *const globs[] = {"refs/heads/*", "refs/tags/*"};
    size_t cap = 64;
    direct_ref_t *v = cn_xcalloc(cap, sizeof *v);
    *n = 0;
    for (size_t g = 0; g < 2; g++) {
        git_reference_iterator *it = NULL;
        if (git_reference_iterator_glob_new(&it, repo, globs[g]) < 0) continue;
        git_reference *ref = NULL;
        while (git_reference_next(&ref, it) == 0) {
            if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
                if (*n == cap) v = cn_xrealloc(v, (cap *= 2) * sizeof *v);
                v[*n].name = cn_xstrdup(git_reference_name(ref));
                memcpy(v[*n].oid, git_reference_target(ref), CN_OID_LEN);
                (*n)++;
            }
            git_reference_free(ref);
        }
        git_reference_iterator_free(it);
    }
    qsort(v, *n, sizeof *v, cmp_direct);
    return v;
}

static void direct_free(direct_ref_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].name);
    free(v);
}

/* True when a repository on this machine has exactly the mirror's branches and
   tags: the fetch (whose local transport lists and peels every ref, pull
   requests included) can be skipped. Any doubt answers false. */
static bool local_unchanged(const char *dir, const char *url) {
    if (strncmp(url, "file://", 7) != 0) return false;
    git_repository *src = NULL, *mir = NULL;
    bool same = false;
    if (git_repository_open_ext(&src, url + 7, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0 &&
        git_repository_open_bare(&mir, dir) == 0) {
        size_t na = 0, nb = 0;
        direct_ref_t *a = direct_refs(src, &na), *b = direct_refs(mir, &nb);
        same = na == nb;
        for (size_t i = 0; same && i < na; i++)
            same = strcmp(a[i].name, b[i].name) == 0 && memcmp(a[i].oid, b[i].oid, CN_OID_LEN) == 0;
        direct_free(a, na);
        direct_free(b, nb);
    }
    git_repository_free(mir);
    git_repository_free(src);
    git_error_clear();
    return same;
}

int cn_git_mirror(const char *dir, const char *url, const cn_git_fetch_opts_t *o, cn_git_t **out) {
    cn_git_init();
    *out = NULL;
    struct stat sb;
    int rc;
    if (stat(dir, &sb) == 0 && local_unchanged(dir, url)) {
        rc = 0;
    } else if (stat(dir, &sb) == 0) {
        git_repository *repo = NULL;
        rc = git_repository_open_bare(&repo, dir) < 0 ? CN_EGIT : fetch_into(repo, url, o);
        git_repository_free(repo);
        /* A broken mirror or a failed fetch: start again from nothing. A stop
           asked for by the caller is not a failure of the mirror. */
        if (rc < 0 && rc != CN_ECANCELLED && rc != CN_ETIMEOUT) {
            cn_rm_rf(dir);
            rc = clone_into(dir, url, o);
        }
    } else {
        rc = clone_into(dir, url, o);
    }
    if (rc < 0) return rc;
    return cn_git_open(dir, out);
}
