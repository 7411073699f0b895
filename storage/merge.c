/* merge.c: one merge run (storage/MERGE.md): lock merged/, open every shard
   read-only and skip those whose RocksDB sequence number has not moved since
   the watermark recorded in the merged store, build the next generation
   (fencing in merge_jobs.c, families in merge_rules.c, the journal in
   merge_journal.c), record the new watermarks and switch generations
   (merge_gen.c). Called by `canopy merge` and the merge job kind. */
#include "merge_int.h"

#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATERMARK "watermark/"

/* Shard directories: the caller's list, or every directory under data/shards,
   sorted by name (the order never matters to the result; it keeps logs stable). */
static char **list_shards(const cn_merge_opts_t *o, size_t *n) {
    char **dirs = NULL;
    *n = 0;
    if (o->shards) {
        dirs = cn_xcalloc(o->nshards ? o->nshards : 1, sizeof *dirs);
        for (size_t i = 0; i < o->nshards; i++) dirs[(*n)++] = cn_xstrdup(o->shards[i]);
        return dirs;
    }
    char *root = cn_path_join(o->data_dir, "shards");
    if (cn_shard_list(root, &dirs, n) < 0) cn_err_clear(); /* none yet */
    for (size_t i = 0; i < *n; i++) {
        char *p = cn_path_join(root, dirs[i]);
        free(dirs[i]);
        dirs[i] = p;
    }
    free(root);
    return dirs;
}

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *p = dir + n;
    while (p > dir && p[-1] != '/') p--;
    return p;
}

static uint64_t watermark(cn_shard_t *merged, const char *name) {
    if (!merged) return 0;
    char *key = cn_xasprintf(WATERMARK "%s", name);
    cn_buf_t v = {0};
    uint64_t seq = 0;
    if (cn_shard_get(merged, CN_CF_META, key, strlen(key), &v) == 0) {
        ProtobufCMessage *msg = NULL;
        if (cn_rec_unpack(&canopy__merge_watermark__descriptor, v.data, v.len, &msg) == 0) {
            seq = ((Canopy__MergeWatermark *)msg)->seq;
            cn_rec_free(msg);
        }
    }
    cn_buf_free(&v);
    free(key);
    return seq;
}

/* Opens the shards that moved since their watermark into m->sh. */
static int open_moved(mg_t *m, const cn_merge_opts_t *o, const mg_gen_t *g) {
    cn_shard_t *cur = NULL;
    if (g->cur_dir) {
        cn_shard_opts_t ro = {.read_only = true};
        int rc = cn_shard_open(g->cur_dir, &ro, &cur);
        if (rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", cn_err_detail()); /* cn_err rewrites the detail */
            return cn_err(rc,
                          "the merged store %s cannot be opened (%s); remove %s to merge every shard again",
                          g->cur_dir, why, g->root);
        }
    }
    size_t n = 0;
    char **dirs = list_shards(o, &n);
    m->sh = cn_xcalloc(n ? n : 1, sizeof *m->sh);
    cn_shard_opts_t ro = {.read_only = true}; /* a reader's open rides out the writer's flushes */
    for (size_t i = 0; i < n; i++) {
        cn_shard_t *s = NULL;
        if (cn_shard_open(dirs[i], &ro, &s) < 0) {
            CN_WARN("merge: shard %s is left out this time: %s", dirs[i], cn_err_detail());
            continue;
        }
        uint64_t seq = cn_shard_seq(s);
        if (seq == watermark(cur, base_name(dirs[i]))) {
            m->rep->shards_skipped++;
            cn_shard_close(&s);
            continue;
        }
        mg_shard_t *sh = &m->sh[m->nsh++];
        *sh = (mg_shard_t){.name = cn_xstrdup(base_name(dirs[i])), .s = s, .seq = seq};
        m->rep->shards_read++;
        int rc = mg_feed_plan(sh, cur, o);
        if (rc < 0) {
            for (size_t j = i; j < n; j++) free(dirs[j]);
            free(dirs);
            cn_shard_close(&cur);
            return rc;
        }
        m->rep->shards_incremental += sh->delta;
    }
    for (size_t i = 0; i < n; i++) free(dirs[i]);
    free(dirs);
    cn_shard_close(&cur);
    return 0;
}

static int write_watermarks(mg_t *m) {
    cn_batch_t *b = cn_batch_new();
    cn_buf_t v = {0};
    for (size_t i = 0; i < m->nsh; i++) {
        Canopy__MergeWatermark w = CANOPY__MERGE_WATERMARK__INIT;
        w.shard = m->sh[i].name;
        w.seq = m->sh[i].seq;
        w.at_ms = cn_wall_ms();
        cn_buf_reset(&v);
        cn_rec_pack(&w.base, &v);
        char *key = cn_xasprintf(WATERMARK "%s", m->sh[i].name);
        cn_batch_put(b, CN_CF_META, key, strlen(key), v.data, v.len);
        free(key);
        mg_feed_marks(&m->sh[i], b);
    }
    int rc = cn_shard_append(m->out, b, true);
    cn_buf_free(&v);
    cn_batch_destroy(&b);
    return rc;
}

void mg_progress(const mg_t *m, const char *phase, uint64_t done, uint64_t total) {
    if (m->opts && m->opts->progress)
        m->opts->progress(m->opts->progress_arg, phase, done, total, m->rep->records_read);
}

int mg_check_stop(const mg_t *m) {
    if (m->stop && m->stop(m->stop_arg))
        return cn_err(CN_ECANCELLED, "the merge was stopped; nothing changed");
    return 0;
}

/* The phases on the next generation, opened for writing. */
static int build_next(mg_t *m, const mg_gen_t *g) {
    cn_shard_opts_t wo = {.create = true, .worker = "merge", .no_feed = true};
    int rc = cn_shard_open(g->next_dir, &wo, &m->out);
    if (rc < 0) return rc;
    m->gen_dir = g->next_dir;
    if ((rc = mg_jobs_resolve(m)) < 0) return rc;
    if ((rc = mg_check_stop(m)) < 0) return rc;
    /* Before the families: a versioned record of a superseded lease must not
       hide a lower version that wins now. */
    if ((rc = mg_jobs_supersede(m)) < 0) return rc;
    mg_progress(m, "families", 0, mg_families_count());
    if ((rc = mg_families_merge(m)) < 0) return rc;
    mg_pause_point("ingested");
    if ((rc = mg_check_stop(m)) < 0) return rc;
    mg_progress(m, "journal", 0, 1);
    if ((rc = mg_journal_merge(m)) < 0) return rc;
    if ((rc = mg_jobs_write(m)) < 0) return rc;
    mg_jobs_unfinished(m);
    if ((rc = mg_check_stop(m)) < 0) return rc;
    if ((rc = write_watermarks(m)) < 0) return rc;
    /* Everything in SST files: the generation is complete without its WAL. */
    if ((rc = cn_rocks_flush(m->out->db)) < 0) return rc;
    mg_pause_point("written");
    cn_shard_close(&m->out);
    return 0;
}

static int cmp_problem(const void *a, const void *b) {
    const cn_merge_problem_t *x = a, *y = b;
    if (x->job_id != y->job_id) return x->job_id < y->job_id ? -1 : 1;
    return strcmp(x->issue, y->issue);
}

static int cmp_kind(const void *a, const void *b) {
    return strcmp(((const cn_merge_kind_t *)a)->kind, ((const cn_merge_kind_t *)b)->kind);
}

static void free_run(mg_t *m) {
    cn_shard_close(&m->out);
    for (size_t i = 0; i < m->nsh; i++) {
        cn_shard_close(&m->sh[i].s);
        mg_feed_free(&m->sh[i]);
        cn_buf_free(&m->sh[i].pending);
        free(m->sh[i].name);
    }
    free(m->sh);
    mg_jobs_free(m);
    pthread_mutex_destroy(&m->mu);
}

int cn_merge_run(const cn_merge_opts_t *o, cn_merge_report_t **out) {
    *out = NULL;
    uint64_t t0 = cn_mono_ms();
    cn_merge_report_t *rep = cn_xcalloc(1, sizeof *rep);
    mg_t m = {.rep = rep, .threads = o->threads, .stop = o->stop, .stop_arg = o->stop_arg, .opts = o};
    pthread_mutex_init(&m.mu, NULL);
    mg_gen_t g;
    int rc = mg_gen_begin(o->data_dir, &g);
    if (rc == 0) rc = open_moved(&m, o, &g);
    rep->generation = g.cur;
    /* The first merge makes a store even from no shards, so readers can open it. */
    if (rc == 0 && (m.nsh > 0 || g.cur == 0)) {
        rc = mg_gen_copy(&g);
        if (rc == 0) mg_pause_point("copied");
        if (rc == 0) rc = build_next(&m, &g);
        if (rc == 0) mg_pause_point("closed");
        if (rc == 0) rc = mg_check_stop(&m);
        if (rc == 0) mg_progress(&m, "switch", 0, 1);
        if (rc == 0) rc = mg_gen_switch(&g);
        if (rc == 0) rep->generation = g.cur;
    }
    free_run(&m);
    if (rc < 0 && g.next_dir && g.next != g.cur) cn_rm_rf(g.next_dir); /* a failed next generation */
    mg_gen_end(&g);
    rep->ms = cn_mono_ms() - t0;
    if (rc < 0) {
        cn_merge_report_free(&rep);
        return rc;
    }
    if (rep->nproblems) qsort(rep->problems, rep->nproblems, sizeof *rep->problems, cmp_problem);
    if (rep->njobs) qsort(rep->jobs, rep->njobs, sizeof *rep->jobs, cmp_kind);
    *out = rep;
    return 0;
}

void cn_merge_report_free(cn_merge_report_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_merge_report_t *r = *self_p;
    for (size_t i = 0; i < r->njobs; i++) free(r->jobs[i].kind);
    free(r->jobs);
    for (size_t i = 0; i < r->nproblems; i++) {
        free(r->problems[i].leases);
        free(r->problems[i].shards);
    }
    free(r->problems);
    free(r);
    *self_p = NULL;
}
