/* merge_report.c: the merge's reconciliation report as text and JSON, and the
   digest of a merged store (record counts and one hash over every record but
   meta) that tests compare. Stateless and thread-safe. */
#include "merge.h"
#include "merge_int.h"

#include "errors.h"
#include "hash.h"
#include "json.h"

#include <inttypes.h>
#include <string.h>

static void problem_json(cn_buf_t *b, const cn_merge_problem_t *p) {
    cn_buf_printf(b, "{\"job_id\":%" PRIu64 ",", p->job_id);
    cn_json_key(b, "issue", true);
    cn_json_str(b, p->issue, strlen(p->issue));
    cn_buf_printf(b, ",\"leases\":[");
    for (size_t i = 0; i < p->nleases; i++) cn_buf_printf(b, "%s%" PRIu64, i ? "," : "", p->leases[i]);
    cn_buf_printf(b, "],");
    cn_json_key(b, "shards", true);
    cn_json_str(b, p->shards, strlen(p->shards));
    cn_buf_putc(b, '}');
}

void cn_merge_report_json(const cn_merge_report_t *r, cn_buf_t *b) {
    cn_buf_printf(b, "{\"jobs\":{");
    for (size_t i = 0; i < r->njobs; i++) {
        cn_json_key(b, r->jobs[i].kind, i == 0);
        cn_buf_printf(b, "%" PRIu64, r->jobs[i].n);
    }
    cn_buf_printf(b, "},\"records\":{");
    bool first = true;
    for (int cf = 1; cf < CN_CF_COUNT_; cf++) {
        const cn_merge_count_t *c = &r->records[cf];
        if (!mg_family_reported((cn_cf_t)cf)) continue;
        cn_json_key(b, cn_cf_name((cn_cf_t)cf), first);
        first = false;
        cn_buf_printf(b, "{\"new\":%" PRIu64 ",\"existing\":%" PRIu64 ",\"dropped\":%" PRIu64 "}", c->new_,
                      c->existing, c->dropped);
    }
    cn_buf_printf(b, "},\"problems\":[");
    for (size_t i = 0; i < r->nproblems; i++) {
        if (i) cn_buf_putc(b, ',');
        problem_json(b, &r->problems[i]);
    }
    cn_buf_printf(b,
                  "],\"shards_read\":%" PRIu64 ",\"shards_skipped\":%" PRIu64
                  ",\"shards_incremental\":%" PRIu64 ",\"records_read\":%" PRIu64
                  ",\"journal_entries\":%" PRIu64 ",\"generation\":%" PRIu64 ",\"ms\":%" PRIu64 "}",
                  r->shards_read, r->shards_skipped, r->shards_incremental, r->records_read,
                  r->journal_entries, r->generation, r->ms);
}

void cn_merge_report_text(const cn_merge_report_t *r, cn_buf_t *b) {
    cn_buf_printf(b,
                  "merged %" PRIu64 " shard%s (%" PRIu64 " unchanged, skipped) into generation %" PRIu64
                  " in %.2f s: %" PRIu64 " records read (%" PRIu64 " shard%s from its change feed)\n",
                  r->shards_read, r->shards_read == 1 ? "" : "s", r->shards_skipped, r->generation,
                  (double)r->ms / 1000.0, r->records_read, r->shards_incremental,
                  r->shards_incremental == 1 ? "" : "s");
    cn_buf_printf(b, "jobs merged:");
    if (r->njobs == 0) cn_buf_printf(b, " none");
    for (size_t i = 0; i < r->njobs; i++)
        cn_buf_printf(b, "%s %s %" PRIu64, i ? "," : "", r->jobs[i].kind, r->jobs[i].n);
    cn_buf_printf(b, "\n%-10s %12s %12s %12s\n", "records", "new", "existing", "dropped");
    for (int cf = 1; cf < CN_CF_COUNT_; cf++) {
        const cn_merge_count_t *c = &r->records[cf];
        if (!mg_family_reported((cn_cf_t)cf) || (c->new_ | c->existing | c->dropped) == 0) continue;
        cn_buf_printf(b, "%-10s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", cn_cf_name((cn_cf_t)cf),
                      c->new_, c->existing, c->dropped);
    }
    if (r->nproblems == 0) {
        cn_buf_printf(b, "problems: none (every job has exactly one committed result)\n");
        return;
    }
    cn_buf_printf(b, "problems: %zu\n", r->nproblems);
    for (size_t i = 0; i < r->nproblems; i++) {
        const cn_merge_problem_t *p = &r->problems[i];
        cn_buf_printf(b, "  job %" PRIu64 ": %s (lease%s", p->job_id, p->issue, p->nleases == 1 ? "" : "s");
        for (size_t k = 0; k < p->nleases; k++) cn_buf_printf(b, " %" PRIu64, p->leases[k]);
        cn_buf_printf(b, ")%s%s\n", p->shards[0] ? " in " : "", p->shards);
    }
}

int cn_merge_digest(cn_shard_t *s, cn_merge_digest_t *d) {
    memset(d, 0, sizeof *d);
    cn_hash_state_t h;
    cn_blake2b_init(&h);
    int rc = 0;
    for (int cf = 1; cf < CN_CF_COUNT_ && rc == 0; cf++) {
        if (cf == CN_CF_FEED) continue; /* how the records came, not what they are */
        cn_iter_t *it = NULL;
        if ((rc = cn_iter_new(s, (cn_cf_t)cf, NULL, 0, &it)) < 0) break;
        uint8_t tag[9];
        for (; cn_iter_valid(it); cn_iter_next(it)) {
            size_t kl, vl;
            const uint8_t *k = cn_iter_key(it, &kl);
            const uint8_t *v = cn_iter_value(it, &vl);
            /* the scan index's rebuild-time row is a wall clock, not content */
            if (cf == CN_CF_SCANIDX && kl == 1 && k[0] == 'R') continue;
            tag[0] = (uint8_t)cf;
            cn_put_be32(tag + 1, (uint32_t)kl);
            cn_put_be32(tag + 5, (uint32_t)vl);
            cn_blake2b_update(&h, tag, sizeof tag);
            cn_blake2b_update(&h, k, kl);
            cn_blake2b_update(&h, v, vl);
            d->records[cf]++;
            d->total++;
        }
        cn_iter_destroy(&it);
    }
    cn_blake2b_final(&h, d->hash);
    return rc;
}
