/* download.c: the "download" job kind (DESIGN §5): mirror a git repository,
   compare its branches and tags with the heads stored for the project, store
   what is new (download_walk.c) and queue heads, a log entry and the project
   record for the job's commit batch. cn_download_run is the core (download.h);
   the kind's run() adapts it to a job context. Runs on a slot thread. */
#include "download.h"

#include "errors.h"
#include "job.h"
#include "json.h"
#include "repo.h"
#include "url.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fetch that takes longer than this stops (the job's own timeout, when set,
   stops it earlier through cancellation). */
#define FETCH_TIMEOUT_MS (2u * 3600u * 1000u)

static void fill_stamp(Canopy__Stamp *st) {
    canopy__stamp__init(st);
    st->version = (char *)cn_build_version();
    st->git_commit = (char *)cn_build_commit();
    st->format = CN_SHARD_FORMAT;
}

static void queue_log(const cn_download_t *d, cn_batch_t *b, Canopy__LogKind kind, const char *message,
                      const cn_download_stats_t *st) {
    Canopy__Stamp stamp;
    fill_stamp(&stamp);
    Canopy__ProjectLog l;
    canopy__project_log__init(&l);
    l.project_id = d->project_id;
    l.kind = kind;
    l.message = (char *)(message ? message : "");
    l.at_ms = cn_wall_ms();
    l.stamp = &stamp;
    l.job_id = d->job_id;
    l.lease_seq = d->lease_seq;
    if (st) {
        l.commits_new = st->commits_new;
        l.contents_new = st->contents_new;
    }
    cn_repo_put_log(b, &l);
}

/* Refs that can be stored as heads: peeled, and (partial) consistent. */
static bool ref_ok(const cn_git_ref_t *r, const cn_dl_t *dl) {
    if (r->peeled_type == CN_GOBJ_OTHER) return false;
    return !(r->peeled_type == CN_GOBJ_COMMIT && cn_keyset_has(&dl->bad, &r->peeled));
}

static void queue_heads(const cn_download_t *d, const cn_git_ref_t *refs, size_t n, const cn_dl_t *dl) {
    Canopy__Ref *rs = cn_xcalloc(n ? n : 1, sizeof *rs);
    Canopy__Ref **rp = cn_xcalloc(n ? n : 1, sizeof *rp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ref_ok(&refs[i], dl)) continue;
        canopy__ref__init(&rs[k]);
        rs[k].name = (ProtobufCBinaryData){strlen(refs[i].name), (uint8_t *)refs[i].name};
        rs[k].oid = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)refs[i].peeled.id};
        rp[k] = &rs[k];
        k++;
    }
    Canopy__Heads h;
    canopy__heads__init(&h);
    h.project_id = d->project_id;
    h.n_ref = k;
    h.ref = rp;
    h.job_id = d->job_id;
    h.lease_seq = d->lease_seq;
    h.at_ms = cn_wall_ms();
    cn_repo_put_heads(d->pointers, &h);
    free(rp);
    free(rs);
}

/* True when the stored heads are exactly the mirror's refs. */
static bool same_heads(const Canopy__Heads *h, const cn_git_ref_t *refs, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].peeled_type == CN_GOBJ_OTHER) continue;
        if (k >= h->n_ref) return false;
        const Canopy__Ref *r = h->ref[k++];
        if (r->name.len != strlen(refs[i].name) || memcmp(r->name.data, refs[i].name, r->name.len) != 0 ||
            r->oid.len != CN_OID_LEN || memcmp(r->oid.data, refs[i].peeled.id, CN_OID_LEN) != 0)
            return false;
    }
    return k == h->n_ref;
}

/* Every commit of one walk, parents first. */
static int collect(cn_git_t *g, const cn_oid_t *push, size_t np, const cn_oid_t *hide, size_t nh,
                   cn_oid_t **oids, size_t *n, size_t *cap) {
    cn_git_walk_t *w = NULL;
    int rc = cn_git_walk_new(g, push, np, hide, nh, &w);
    cn_oid_t oid;
    while (rc == 0 && (rc = cn_git_walk_next(w, &oid)) == 1) {
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 1024;
            *oids = cn_xrealloc(*oids, *cap * sizeof **oids);
        }
        (*oids)[(*n)++] = oid;
        rc = 0;
    }
    cn_git_walk_free(w);
    return rc < 0 ? rc : 0;
}

/* The commits to store. When one walk fails on a missing commit and partial
   downloads are allowed, walks ref by ref and marks the refs it cannot walk. */
static int plan(cn_dl_t *dl, const cn_git_ref_t *refs, size_t n, const Canopy__Heads *old, cn_oid_t **oids,
                size_t *count) {
    size_t nh = old ? old->n_ref : 0, np = 0, cap = 0;
    cn_oid_t *hide = cn_xcalloc(nh + n + 1, sizeof *hide), *push = cn_xcalloc(n + 1, sizeof *push);
    for (size_t i = 0; i < nh; i++)
        if (old->ref[i]->oid.len == CN_OID_LEN) memcpy(hide[i].id, old->ref[i]->oid.data, CN_OID_LEN);
    for (size_t i = 0; i < n; i++)
        if (refs[i].peeled_type == CN_GOBJ_COMMIT) push[np++] = refs[i].peeled;
    *count = 0;
    int rc = collect(dl->g, push, np, hide, nh, oids, count, &cap);
    if (rc == CN_ECORRUPT && dl->d->allow_partial) {
        cn_dl_t *m = dl;
        *count = 0;
        for (size_t i = 0; i < np; i++) {
            size_t before = *count;
            if (collect(dl->g, &push[i], 1, hide, nh, oids, count, &cap) < 0) {
                *count = before;
                cn_keyset_add(&m->bad, &push[i]);
                m->st->missing++;
                if (!m->first_missing[0])
                    snprintf(m->first_missing, sizeof m->first_missing, "%s", cn_err_detail());
                continue;
            }
            hide[nh++] = push[i]; /* later walks stop where this one went */
        }
        rc = 0;
    }
    free(push);
    free(hide);
    return rc;
}

static int check_refs(const cn_download_t *d, cn_dl_t *dl, const cn_git_ref_t *refs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (refs[i].peeled_type != CN_GOBJ_OTHER) continue;
        char hex[CN_OID_HEX];
        cn_hex(refs[i].target.id, CN_OID_LEN, hex);
        if (!d->allow_partial)
            return cn_err(CN_ECORRUPT, "ref %s points at object %s, which is missing or corrupt",
                          refs[i].name, hex);
        dl->st->missing++;
        if (!dl->first_missing[0])
            snprintf(dl->first_missing, sizeof dl->first_missing, "ref %s: object %s is missing",
                     refs[i].name, hex);
    }
    return 0;
}

static bool fetch_cancelled(void *arg) {
    const cn_download_t *d = arg;
    return d->cancelled && d->cancelled(d->arg);
}

static void fetch_progress(void *arg, uint64_t done, uint64_t total, uint64_t bytes) {
    const cn_download_t *d = arg;
    if (d->progress) d->progress(d->arg, done, total, "objects");
    if (d->progress_bytes) d->progress_bytes(d->arg, bytes, 0);
}

static int open_mirror(const cn_download_t *d, cn_dl_t *dl, bool *fatal) {
    cn_git_fetch_opts_t fo = {.cancelled = fetch_cancelled,
                              .progress = fetch_progress,
                              .arg = (void *)d,
                              .timeout_ms = d->fetch_timeout_ms};
    uint64_t t0 = cn_mono_ms();
    int rc = cn_git_mirror(d->mirror_dir, d->url, &fo, &dl->g);
    dl->st->fetch_ms = cn_mono_ms() - t0;
    /* A repository on this machine that cannot be read will not get better. */
    if (rc < 0 && rc != CN_ECANCELLED && rc != CN_ETIMEOUT)
        *fatal = cn_url_is_file(d->url) || rc == CN_EINVAL || rc == CN_EPERM;
    return rc;
}

static int run_walk(const cn_download_t *d, cn_dl_t *dl, cn_git_ref_t *refs, size_t nrefs,
                    Canopy__Heads *old) {
    cn_oid_t *oids = NULL;
    size_t count = 0;
    uint64_t t0 = cn_mono_ms();
    int rc = plan(dl, refs, nrefs, old, &oids, &count);
    if (rc == 0) rc = cn_dl_store_commits(dl, oids, count);
    free(oids);
    dl->st->walk_ms = cn_mono_ms() - t0;
    if (rc < 0) return rc;
    if (dl->st->missing)
        snprintf(dl->st->message, sizeof dl->st->message, "partial: %llu objects missing, first: %s",
                 (unsigned long long)dl->st->missing, dl->first_missing);
    queue_heads(d, refs, nrefs, dl);
    dl->st->log_kind = CANOPY__LOG_KIND__LOG_OK;
    queue_log(d, d->pointers, CANOPY__LOG_KIND__LOG_OK, dl->st->message, dl->st);
    return 0;
}

int cn_download_run(const cn_download_t *d, cn_download_stats_t *st, bool *fatal) {
    uint64_t t0 = cn_mono_ms();
    memset(st, 0, sizeof *st);
    *fatal = false;
    char *canon = NULL;
    int rc = cn_url_canonical(d->url, "/", &canon);
    if (rc < 0) {
        *fatal = true;
        return rc;
    }
    free(canon);
    cn_dl_t dl = {.d = d, .st = st};
    dl.max_file = d->max_file_size ? d->max_file_size : CN_REPO_MAX_FILE_DEFAULT;
    cn_keyset_init(&dl.blobs, CN_OID_LEN);
    cn_keyset_init(&dl.missing_blobs, CN_OID_LEN);
    cn_keyset_init(&dl.bad, CN_OID_LEN);
    Canopy__Heads *old = NULL;
    cn_git_ref_t *refs = NULL;
    size_t nrefs = 0;
    cn_repo_put_project(d->pointers, d->project_id, d->url);
    rc = cn_repo_latest_heads(d->shard, d->project_id, &old);
    if (rc == CN_ENOTFOUND) rc = 0;
    /* Another worker may have downloaded the project after this shard did: the
       newest heads of any shard are the baseline, else an update already stored
       elsewhere is walked (and logged Ok) again. */
    if (rc == 0)
        cn_download_other_heads(d->shards_dir, d->scratch_dir, cn_shard_dir(d->shard), d->project_id, &old);
    if (rc == 0) rc = open_mirror(d, &dl, fatal);
    if (rc == 0) rc = cn_git_refs(dl.g, &refs, &nrefs);
    if (rc == 0) rc = check_refs(d, &dl, refs, nrefs);
    st->refs = nrefs;
    if (rc == 0 && old && same_heads(old, refs, nrefs)) {
        st->log_kind = CANOPY__LOG_KIND__LOG_NO_CHANGE;
        queue_log(d, d->pointers, CANOPY__LOG_KIND__LOG_NO_CHANGE, "", st);
    } else if (rc == 0) {
        rc = run_walk(d, &dl, refs, nrefs, old);
    }
    /* A mirror with a missing object is dropped: the next attempt clones afresh. */
    if (rc == CN_ECORRUPT) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", cn_err_detail());
        cn_dl_stop_store(&dl);
        cn_git_close(&dl.g);
        cn_rm_rf(d->mirror_dir);
        cn_err(rc, "%s", keep);
    }
    cn_git_refs_free(refs, nrefs);
    if (old) cn_rec_free(&old->base);
    cn_dl_free(&dl);
    st->total_ms = cn_mono_ms() - t0;
    return rc;
}

int cn_download_log_error(const cn_download_t *d, const char *message) {
    cn_batch_t *b = cn_batch_new();
    cn_repo_put_project(b, d->project_id, d->url);
    queue_log(d, b, CANOPY__LOG_KIND__LOG_ERROR, message, NULL);
    cn_buf_t sum = {0};
    cn_buf_putc(&sum, '{');
    cn_json_key(&sum, "failed", true);
    cn_buf_printf(&sum, "true");
    cn_json_key(&sum, "error", false);
    cn_json_str(&sum, message, strlen(message));
    cn_buf_putc(&sum, '}');
    cn_job_commit_t c = {.job_id = d->job_id,
                         .attempt = d->attempt,
                         .lease_seq = d->lease_seq,
                         .kind = "download",
                         .key_id = d->project_id,
                         .summary = cn_buf_cstr(&sum)};
    int rc = cn_shard_commit_job(d->shard, b, &c);
    cn_buf_free(&sum);
    cn_batch_destroy(&b);
    return rc;
}

char *cn_download_summary(const cn_download_t *d, const cn_download_stats_t *st) {
    cn_buf_t b = {0};
    cn_buf_putc(&b, '{');
    cn_json_key(&b, "project_id", true);
    cn_buf_printf(&b, "%llu", (unsigned long long)d->project_id);
    cn_json_key(&b, "url", false);
    cn_json_str(&b, d->url, strlen(d->url));
    cn_json_key(&b, "log", false);
    cn_buf_printf(&b, "\"%s\"", st->log_kind == CANOPY__LOG_KIND__LOG_NO_CHANGE ? "NoChange" : "Ok");
    const struct {
        const char *k;
        uint64_t v;
    } nums[] = {{"refs", st->refs},
                {"commits_new", st->commits_new},
                {"commits_skipped", st->commits_skipped},
                {"changes", st->changes},
                {"paths_new", st->paths_new},
                {"users_new", st->users_new},
                {"contents_new", st->contents_new},
                {"contents_too_big", st->contents_too_big},
                {"content_bytes", st->content_bytes},
                {"content_stored_bytes", st->content_stored_bytes},
                {"contents_delta", st->contents_delta},
                {"base_reads", st->base_reads},
                {"missing", st->missing},
                {"fetch_ms", st->fetch_ms},
                {"walk_ms", st->walk_ms},
                {"total_ms", st->total_ms}};
    for (size_t i = 0; i < CN_ARRAY_LEN(nums); i++) {
        cn_json_key(&b, nums[i].k, false);
        cn_buf_printf(&b, "%llu", (unsigned long long)nums[i].v);
    }
    if (st->message[0]) {
        cn_json_key(&b, "message", false);
        cn_json_str(&b, st->message, strlen(st->message));
    }
    cn_buf_putc(&b, '}');
    char *s = cn_xstrdup(cn_buf_cstr(&b));
    cn_buf_free(&b);
    return s;
}

/* ---- the job kind ---- */

static bool job_cancelled(void *arg) {
    return cn_job_cancelled(arg);
}

static void job_progress(void *arg, uint64_t done, uint64_t total, const char *unit) {
    cn_job_progress(arg, done, total, unit);
}

static void job_progress_bytes(void *arg, uint64_t done, uint64_t total) {
    cn_job_progress_bytes(arg, done, total);
}

static int download_job(cn_job_ctx_t *ctx, const uint8_t *spec, size_t len) {
    Canopy__DownloadSpec *sp = NULL;
    if (cn_rec_unpack(&canopy__download_spec__descriptor, spec, len, (ProtobufCMessage **)&sp) < 0)
        return cn_job_fail(ctx, CN_EINVAL, true, "the download spec does not decode: %s", cn_err_detail());
    uint64_t pid = cn_job_key_id(ctx);
    if (pid == 0) {
        cn_rec_free(&sp->base);
        return cn_job_fail(ctx, CN_EINVAL, true,
                           "a download needs a project id (submit it with its URL as key)");
    }
    char name[64];
    snprintf(name, sizeof name, "git/%llu.git", (unsigned long long)pid);
    char *mirror = cn_path_join(cn_job_scratch_dir(ctx), name);
    char *shards = cn_job_data_dir(ctx) ? cn_path_join(cn_job_data_dir(ctx), "shards") : NULL;
    cn_download_t d = {.shard = cn_job_shard(ctx),
                       .pointers = cn_job_commit_batch(ctx),
                       .mirror_dir = mirror,
                       .shards_dir = shards,
                       .scratch_dir = cn_job_scratch_dir(ctx),
                       .url = sp->url,
                       .project_id = pid,
                       .job_id = cn_job_id(ctx),
                       .lease_seq = cn_job_lease_seq(ctx),
                       .attempt = cn_job_attempt(ctx),
                       .max_file_size = sp->max_file_size,
                       .allow_partial = sp->allow_partial,
                       .fetch_timeout_ms = FETCH_TIMEOUT_MS,
                       .cancelled = job_cancelled,
                       .progress = job_progress,
                       .progress_bytes = job_progress_bytes,
                       .arg = ctx};
    cn_download_stats_t st;
    bool fatal = false;
    int rc = cn_download_run(&d, &st, &fatal);
    if (rc == 0) {
        char *sum = cn_download_summary(&d, &st);
        cn_job_set_summary(ctx, sum);
        free(sum);
    } else {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", cn_err_detail()[0] ? cn_err_detail() : cn_strerror(rc));
        if (!cn_job_cancelled(ctx) && cn_download_log_error(&d, msg) < 0)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
                     " (and the error log entry was not written)");
        rc = cn_job_fail(ctx, rc, fatal, "%s", msg);
    }
    free(shards);
    free(mirror);
    cn_rec_free(&sp->base);
    return rc;
}

/* The secondaries of the other shards live as long as the worker (mirrors
   closed on the reaper thread are waited for at exit, git_reap.c). */
static void download_shutdown(void) {
    cn_download_heads_close_all();
}

static cn_job_kind_t download_kind = {.name = "download", .run = download_job, .shutdown = download_shutdown};
CN_JOB_KIND(download_kind)
