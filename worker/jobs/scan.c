/* scan.c: the "scan" job kind (ScanSpec, DESIGN §5). Walks a tree with the
   parallel walker (walk.h), reporting progress, builds the compressed path
   tree from the sorted walk, stores it as one uncommitted journal entry, writes
   the scan's directory rows, and puts the commit marker and the scan row into
   the job's commit batch (storage/JOURNAL.md). Any slot thread. */
#include "errors.h"
#include "job.h"
#include "json.h"
#include "journal.h"
#include "log.h"
#include "scanidx.h"
#include "util.h"
#include "walk.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_THREADS 4
#define SCAN_ERRORS_KEPT 100

typedef struct {
    cn_job_ctx_t *ctx;
    cn_ptb_t *b;
    uint64_t n, dirs, files, symlinks;
    bool cancelled;
} feed_t;

static int feed(void *arg, const uint8_t *path, size_t len, const cn_walk_entry_t *e) {
    feed_t *f = arg;
    if ((++f->n & 0xffff) == 0 && cn_job_cancelled(f->ctx)) {
        f->cancelled = true;
        return CN_ECANCELLED;
    }
    if (len) { /* the root is counted by no type */
        f->dirs += e->st.type == CN_PT_DIR;
        f->files += e->st.type == CN_PT_FILE;
        f->symlinks += e->st.type == CN_PT_SYMLINK;
    }
    return cn_ptb_add(f->b, path, len, &e->st, e->target, e->target_len);
}

static void human(char *out, size_t n, double v) {
    const char *u = "";
    if (v >= 1e9)
        v /= 1e9, u = "G";
    else if (v >= 1e6)
        v /= 1e6, u = "M";
    else if (v >= 1e3)
        v /= 1e3, u = "k";
    snprintf(out, n, "%.*f%s", v < 10 && *u ? 1 : 0, v, u);
}

/* Runs the walk to its end, reporting progress; CN_ECANCELLED when stopped. */
static int walk_with_progress(cn_job_ctx_t *ctx, cn_walk_t *w, uint64_t start_ms) {
    uint64_t next_log = start_ms + 5000, nap = 2;
    for (;;) {
        uint64_t n, nb;
        bool done = cn_walk_poll(w, &n, &nb);
        uint64_t now = cn_mono_ms();
        double secs = (double)(now - start_ms) / 1000.0;
        cn_job_progress(ctx, n, 0, "entries");
        cn_job_progress_bytes(ctx, nb, 0); /* bytes of names */
        if (now >= next_log) {
            char names[16], rate[16];
            human(names, sizeof names, (double)nb);
            human(rate, sizeof rate, secs > 0 ? (double)n / secs : 0);
            CN_INFO("scan job %llu: %llu entries walked, %s bytes of names, %s entries/s",
                    (unsigned long long)cn_job_id(ctx), (unsigned long long)n, names, rate);
            next_log = now + 5000;
        }
        if (done) break;
        if (cn_job_cancelled(ctx)) cn_walk_stop(w);
        cn_sleep_ms(nap); /* short naps first: small trees finish in milliseconds */
        nap = CN_MIN(nap * 2, 100);
    }
    return cn_walk_wait(w);
}

static void fill_meta(Canopy__ScanMeta *m, cn_walk_t *w, Canopy__ScanError *errs, Canopy__ScanError **perr) {
    size_t ne;
    const cn_walk_error_t *we = cn_walk_errors(w, &ne);
    ne = CN_MIN(ne, (size_t)SCAN_ERRORS_KEPT);
    for (size_t i = 0; i < ne; i++) {
        canopy__scan_error__init(&errs[i]);
        errs[i].path.data = (uint8_t *)we[i].path;
        errs[i].path.len = strlen(we[i].path);
        errs[i].errnum = we[i].errnum;
        errs[i].what = (char *)we[i].what;
        perr[i] = &errs[i];
    }
    m->n_error = ne;
    m->error = perr;
    m->errors_total = cn_walk_errors_total(w);
}

/* Stores the tree: journal entry (uncommitted), directory rows, and the
   commit marker + scan row in the commit batch. */
static int store(cn_job_ctx_t *ctx, Canopy__ScanMeta *m, const cn_buf_t *data, uint64_t *jid) {
    cn_shard_t *s = cn_job_shard(ctx);
    cn_ptree_t *t = NULL;
    int rc = cn_ptree_decode(data->data, data->len, 0, &t); /* our own output must decode */
    if (rc < 0) return rc;
    cn_buf_t meta = {0};
    cn_rec_pack(&m->base, &meta);
    Canopy__JournalCause cause = CANOPY__JOURNAL_CAUSE__INIT;
    cause.job_id = cn_job_id(ctx);
    cause.lease_seq = cn_job_lease_seq(ctx);
    cause.attempt = cn_job_attempt(ctx);
    Canopy__JournalEntry e = CANOPY__JOURNAL_ENTRY__INIT;
    e.type = (char *)"scan";
    e.metadata.data = meta.data;
    e.metadata.len = meta.len;
    e.at_ms = m->finished_ms;
    e.cause = &cause;
    uint8_t hash[32];
    rc = cn_journal_append(s, &e, data->data, data->len, hash);
    if (rc == 0) rc = cn_scanidx_apply(s, &e, t, cn_job_commit_batch(ctx));
    if (rc == 0) cn_journal_commit(cn_job_commit_batch(ctx), &e);
    *jid = e.journal_id;
    cn_ptree_destroy(&t);
    cn_buf_free(&meta);
    return rc;
}

static int scan_tree(cn_job_ctx_t *ctx, const Canopy__ScanSpec *sp, const char *space) {
    cn_walk_opts_t wo = {.threads = SCAN_THREADS, .cross_fs = sp->cross_fs, .max_errors = SCAN_ERRORS_KEPT};
    cn_walk_t *w = NULL;
    uint64_t started = cn_wall_ms(), t0 = cn_mono_ms();
    int rc = cn_walk_start(sp->path, &wo, &w);
    if (rc < 0) return cn_job_fail(ctx, rc, rc != CN_ESYS, "scan: %s", cn_err_detail());
    rc = walk_with_progress(ctx, w, t0);
    if (rc < 0) {
        cn_walk_destroy(&w);
        return cn_job_fail(ctx, CN_ECANCELLED, false, "scan of %s stopped during the walk", sp->path);
    }
    uint64_t t1 = cn_mono_ms();
    feed_t f = {.ctx = ctx, .b = cn_ptb_new((const uint8_t *)sp->path, strlen(sp->path))};
    rc = cn_walk_sorted(w, feed, &f);
    cn_buf_t data = {0};
    size_t names_bytes = 0, stat_bytes = 0;
    if (rc == 0) rc = cn_ptb_finish(f.b, &data, &names_bytes, &stat_bytes);
    cn_ptb_destroy(&f.b);
    if (rc < 0) {
        cn_walk_destroy(&w);
        cn_buf_free(&data);
        if (f.cancelled) return cn_job_fail(ctx, CN_ECANCELLED, false, "scan of %s stopped", sp->path);
        return cn_job_fail(ctx, rc, false, "scan: building the path tree failed: %s", cn_err_detail());
    }
    uint64_t t2 = cn_mono_ms();
    Canopy__ScanMeta m = CANOPY__SCAN_META__INIT;
    Canopy__ScanError errs[SCAN_ERRORS_KEPT], *perr[SCAN_ERRORS_KEPT];
    m.space = (char *)space;
    m.root.data = (uint8_t *)sp->path;
    m.root.len = strlen(sp->path);
    m.entries = cn_walk_count(w);
    m.dirs = f.dirs;
    m.files = f.files;
    m.symlinks = f.symlinks;
    uint64_t nb = 0;
    cn_walk_poll(w, NULL, &nb);
    m.bytes_names = nb;
    m.started_ms = started;
    m.finished_ms = cn_wall_ms();
    m.tree_bytes = data.len;
    fill_meta(&m, w, errs, perr);
    uint64_t jid = 0;
    rc = store(ctx, &m, &data, &jid);
    if (rc < 0) {
        rc = cn_job_fail(ctx, rc, false, "scan: storing the scan failed: %s", cn_err_detail());
    } else {
        cn_buf_t js = {0};
        cn_buf_printf(&js, "{\"space\":");
        cn_json_str(&js, space, strlen(space));
        cn_buf_printf(&js,
                      ",\"journal_id\":%llu,\"entries\":%llu,\"errors\":%llu,\"tree_bytes\":%zu,"
                      "\"names_bytes\":%zu,\"stat_bytes\":%zu,\"walk_ms\":%llu,\"build_ms\":%llu}",
                      (unsigned long long)jid, (unsigned long long)m.entries,
                      (unsigned long long)m.errors_total, data.len, names_bytes, stat_bytes,
                      (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
        cn_job_set_summary(ctx, cn_buf_cstr(&js));
        cn_buf_free(&js);
    }
    cn_buf_free(&data);
    cn_walk_destroy(&w);
    return rc;
}

static int scan_run(cn_job_ctx_t *ctx, const uint8_t *spec, size_t spec_len) {
    Canopy__ScanSpec *sp = NULL;
    if (cn_rec_unpack(&canopy__scan_spec__descriptor, spec, spec_len, (ProtobufCMessage **)&sp) < 0)
        return cn_job_fail(ctx, CN_EINVAL, true, "scan: the spec (%zu bytes) is not a ScanSpec", spec_len);
    int rc;
    char *space = NULL;
    if (!sp->path || sp->path[0] != '/') {
        rc = cn_job_fail(ctx, CN_EINVAL, true, "scan: the root must be an absolute path (got \"%s\")",
                         sp->path ? sp->path : "");
    } else {
        if (sp->space && sp->space[0]) {
            space = cn_xstrdup(sp->space);
        } else {
            char host[256];
            cn_hostname(host, sizeof host);
            space = cn_xasprintf("%s:%s", host, sp->path);
        }
        rc = scan_tree(ctx, sp, space);
    }
    free(space);
    cn_rec_free(&sp->base);
    return rc;
}

static cn_job_kind_t scan_kind = {.name = "scan", .run = scan_run};
CN_JOB_KIND(scan_kind)
