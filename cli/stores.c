/* stores.c: opens the stores queries read (the merged store first, then every
   shard under <data>/shards, read-only) and answers which lease of a job won
   across them. See stores.h. */
#include "stores.h"

#include "cmd.h"
#include "errors.h"
#include "merge.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_stores_close(cn_stores_t *st) {
    for (size_t i = 0; i < st->n; i++) {
        cn_shard_close(&st->s[i]);
        free(st->name[i]);
    }
    free(st->s);
    free(st->name);
    free(st->won);
    memset(st, 0, sizeof *st);
}

int cn_stores_open(const cn_cli_t *g, bool write, cn_stores_t *st) {
    memset(st, 0, sizeof *st);
    const char *data = g->data ? g->data : "./canopy-data";
    char *dir = cn_path_join(data, "shards");
    size_t n = 0;
    char **names = NULL;
    if (cn_shard_list(dir, &names, &n) < 0) cn_err_clear(); /* no shards yet */
    st->s = cn_xcalloc(n + 1, sizeof *st->s);
    st->name = cn_xcalloc(n + 1, sizeof *st->name);
    int rc = 0;
    /* The merged store first: its records win over the shards' copies of the
       same jobs; the shards add what is not merged yet. */
    cn_shard_t *merged = NULL;
    if (!write && cn_merge_open(data, &merged) == 0) {
        st->s[st->n] = merged;
        st->name[st->n++] = cn_xstrdup("merged");
        st->merged = true;
    }
    for (size_t i = 0; i < n; i++) {
        char *p = cn_path_join(dir, names[i]);
        cn_shard_opts_t o = {.read_only = !write, .worker = "canopy query"};
        cn_shard_t *s = NULL;
        int r = cn_shard_open(p, &o, &s);
        if (r == 0) {
            st->s[st->n] = s;
            st->name[st->n++] = names[i];
        } else {
            if (write && rc == 0) rc = r; /* a rebuild must not skip a shard silently */
            fprintf(stderr, "canopy: shard %s: %s\n", names[i],
                    cn_err_detail()[0] ? cn_err_detail() : cn_strerror(r));
            free(names[i]);
        }
        free(p);
    }
    if (rc == 0 && st->n == 0 && n == 0)
        rc = cn_err(CN_ENOTFOUND, "no shards under %s%s (has a worker run yet?)", dir,
                    write ? "" : " and no merged store");
    free(names);
    free(dir);
    return rc;
}

uint64_t cn_stores_job_lease(const cn_stores_t *st, uint64_t job_id) {
    uint64_t best = 0;
    for (size_t i = 0; i < st->n; i++) {
        Canopy__JobCommit *c = NULL;
        if (cn_shard_job_commit(st->s[i], job_id, 0, &c) < 0) continue;
        if (c->lease_seq > best) best = c->lease_seq;
        cn_rec_free(&c->base);
    }
    return best;
}

/* Fibonacci hashing: job ids are dense and increasing, the product's high bits
   spread them over the table. */
static size_t won_slot(const cn_stores_t *st, uint64_t job) {
    size_t i = (size_t)((job * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (st->capwon - 1);
    while (st->won[i].job != 0 && st->won[i].job != job) i = (i + 1) & (st->capwon - 1);
    return i;
}

static void won_grow(cn_stores_t *st) {
    cn_stores_won_t *old = st->won;
    size_t cap = st->capwon;
    st->capwon = cap ? 2 * cap : 64;
    st->won = cn_xcalloc(st->capwon, sizeof *st->won);
    for (size_t i = 0; i < cap; i++)
        if (old[i].job) st->won[won_slot(st, old[i].job)] = old[i];
    free(old);
}

bool cn_stores_lease_won(cn_stores_t *st, uint64_t job_id, uint64_t lease_seq) {
    if (job_id == 0) return true;
    if (2 * (st->nwon + 1) > st->capwon) won_grow(st); /* at most half full */
    size_t i = won_slot(st, job_id);
    if (st->won[i].job == 0) {
        st->won[i] = (cn_stores_won_t){job_id, cn_stores_job_lease(st, job_id)};
        st->nwon++;
    }
    return st->won[i].lease == lease_seq;
}
