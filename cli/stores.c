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
    cn_u64map_free(&st->won);
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

/* The highest lease_seq under which job_id committed in any of the stores (0:
   none): that lease's pointer records count, a lower lease's are fenced. */
static uint64_t job_lease(const cn_stores_t *st, uint64_t job_id) {
    uint64_t best = 0;
    for (size_t i = 0; i < st->n; i++) best = CN_MAX(best, cn_shard_job_top_lease(st->s[i], job_id));
    return best;
}

bool cn_stores_lease_won(cn_stores_t *st, uint64_t job_id, uint64_t lease_seq) {
    if (job_id == 0) return true;
    uint64_t won1; /* 1 + the winning lease: the map holds no zeros */
    if (!cn_u64map_lookup(&st->won, job_id, &won1)) {
        won1 = 1 + job_lease(st, job_id);
        cn_u64map_set(&st->won, job_id, won1);
    }
    return won1 - 1 == lease_seq;
}
