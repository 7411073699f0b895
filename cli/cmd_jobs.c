/* cmd_jobs.c: `canopy jobs [--state S] [--kind K] [--limit N]`: lists jobs from
   the coordinator's store, paging through JobsRequest (1,000 per page).
   Single-threaded. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] = "canopy jobs [--state S] [--kind K] [--limit N] [--json]\n\n"
                                 "Lists jobs in id order. S: queued, leased, running, succeeded, failed,\n"
                                 "cancelled, dead. N: at most N jobs (default: all).\n"
                                 "With --json: an array of objects with id, kind, state, attempts,\n"
                                 "accepted_results, worker, error and timings.\n";

#define PAGE 1000

static void job_line(cn_buf_t *b, const Canopy__Job *j) {
    char took[32] = "-";
    if (j->finished_ms && j->started_ms && j->finished_ms >= j->started_ms)
        cn_fmt_duration(took, sizeof took, j->finished_ms - j->started_ms);
    cn_buf_printf(b, "%-8llu %-10s %-10s %-3u %-6s %-8s %s\n", (unsigned long long)j->id,
                  j->spec ? j->spec->kind : "", cn_state_name(j->state), j->attempts,
                  j->worker[0] ? j->worker : "-", took, j->error);
}

typedef struct {
    int state;
    const char *kind;
    uint64_t limit;
} jobs_opts_t;

static int parse(cn_cli_t *g, jobs_opts_t *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--state", &v)) > 0 &&
            !(o->state = cn_state_parse(v)))
            return cn_usage_error(usage_text, "unknown state '%s'", v);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--kind", &v)) > 0) o->kind = v;
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--limit", &v)) > 0 && !cn_parse_u64(v, &o->limit))
            return cn_usage_error(usage_text, "--limit takes a number, not '%s'", v);
        if (rc < 0) return cn_usage_error(usage_text, "%s", cn_err_detail());
        if (rc == 0)
            return cn_usage_error("canopy jobs [--state S] [--kind K] [--limit N]",
                                  "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

/* Pages through the store, printing each page as it comes so that memory stays
   bounded however many jobs there are. */
static int list(const cn_cli_t *g, cn_client_t *c, const jobs_opts_t *o, cn_buf_t *b) {
    uint64_t after = 0, shown = 0;
    for (;;) {
        Canopy__JobsRequest r = CANOPY__JOBS_REQUEST__INIT;
        r.state = (Canopy__JobState)o->state;
        r.kind = (char *)(o->kind ? o->kind : "");
        r.after_id = after;
        r.limit = (uint32_t)(o->limit && o->limit - shown < PAGE ? o->limit - shown : PAGE);
        Canopy__Envelope env = CANOPY__ENVELOPE__INIT, *rep;
        env.body_case = CANOPY__ENVELOPE__BODY_JOBS;
        env.jobs = &r;
        int rc = cn_client_call(c, &env, CANOPY__ENVELOPE__BODY_JOBS_REPLY, &rep);
        if (rc) return rc;
        Canopy__JobsReply *jr = rep->jobs_reply;
        for (size_t i = 0; i < jr->n_job && (!o->limit || shown < o->limit); i++, shown++) {
            if (g->json) {
                if (shown) cn_buf_putc(b, ',');
                cn_job_json(b, jr->job[i], false);
            } else {
                job_line(b, jr->job[i]);
            }
            after = jr->job[i]->id;
        }
        bool more = jr->more && jr->n_job > 0 && (!o->limit || shown < o->limit);
        cn_wire_free(rep);
        fwrite(b->data, 1, b->len, stdout);
        cn_buf_reset(b);
        if (!more) return 0;
    }
}

int cn_cmd_jobs(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
    jobs_opts_t o = {0};
    int rc = parse(g, &o, argc, argv);
    if (rc) return rc;
    cn_client_t *c;
    if ((rc = cn_client_open(g, &c))) return cn_fail(rc);
    cn_buf_t b = {0};
    if (g->json)
        cn_buf_putc(&b, '[');
    else
        cn_buf_printf(&b, "%-8s %-10s %-10s %-3s %-6s %-8s %s\n", "ID", "KIND", "STATE", "ATT", "WORKER",
                      "TOOK", "ERROR");
    rc = list(g, c, &o, &b);
    cn_client_close(&c);
    if (rc) {
        cn_buf_free(&b);
        fflush(stdout);
        return cn_fail(rc);
    }
    cn_buf_free(&b);
    if (g->json) fputs("]\n", stdout);
    fflush(stdout);
    return 0;
}
