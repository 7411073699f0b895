/* cmd_job.c: `canopy job ID`: one job in full: spec, state, attempts with their
   history (worker, lease, times, outcome, error), errors and timings.
   Single-threaded. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage_text[] = "canopy job ID [--json]\n\n"
                                 "Shows one job: its spec, state, attempts with history, worker, errors and\n"
                                 "timings.\n";

/* A wall-clock time in ms as "2026-11-21 22:14:19.123" (UTC). */
static void fmt_time(char *out, size_t n, uint64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03u", (unsigned)(ms % 1000));
}

static void when(cn_buf_t *b, const char *label, uint64_t ms, uint64_t since) {
    if (!ms) return;
    char d[32];
    cn_fmt_duration(d, sizeof d, ms >= since ? ms - since : 0);
    char at[48];
    fmt_time(at, sizeof at, ms);
    cn_buf_printf(b, "  %-10s %s (+%s)\n", label, at, d);
}

static void job_text(cn_buf_t *b, const Canopy__Job *j) {
    const Canopy__JobSpec *sp = j->spec;
    cn_buf_t js = {0};
    cn_job_json(&js, j, true);
    cn_buf_printf(b, "job %llu: %s %s", (unsigned long long)j->id, sp ? sp->kind : "?",
                  cn_state_name(j->state));
    if (j->cancel_requested && !cn_state_final(j->state)) cn_buf_printf(b, " (cancel requested)");
    cn_buf_printf(b, "\n  attempts   %u of %u, %u result(s) accepted, lease %llu\n", j->attempts,
                  sp ? sp->max_attempts : 0, j->accepted_results, (unsigned long long)j->lease_seq);
    if (sp) {
        cn_buf_printf(b, "  priority   %d\n", sp->priority);
        if (sp->dedup_key[0]) cn_buf_printf(b, "  key        %s\n", sp->dedup_key);
        if (sp->serial_key[0])
            cn_buf_printf(b, "  serial key %s (id %llu)\n", sp->serial_key, (unsigned long long)j->key_id);
        if (sp->timeout_ms) cn_buf_printf(b, "  timeout    %llu ms\n", (unsigned long long)sp->timeout_ms);
        for (size_t i = 0; i < sp->n_after; i++)
            cn_buf_printf(b, "  after      %llu\n", (unsigned long long)sp->after[i]);
    }
    const char *spec = strstr((const char *)cn_buf_cstr(&js), "\"spec\":");
    if (spec) {
        const char *end = strstr(spec, ",\"key_id\"");
        cn_buf_printf(b, "  spec       %.*s\n", end ? (int)(end - spec - 7) : 0, spec + 7);
    }
    if (j->worker[0]) cn_buf_printf(b, "  worker     %s\n", j->worker);
    if (j->error[0])
        cn_buf_printf(b, "  %s %s (%d)\n",
                      j->state == CANOPY__JOB_STATE__SUCCEEDED ? "last error" : "error     ", j->error,
                      j->error_code);
    if (cn_fmt_progress(b, "  progress   ", j->progress_done, j->progress_total, j->progress_unit,
                        j->progress_bytes_done, j->progress_bytes_total))
        cn_buf_putc(b, '\n');
    if (j->summary[0]) cn_buf_printf(b, "  summary    %s\n", j->summary);
    cn_buf_printf(b, "  times (UTC, + since submit):\n");
    when(b, "submitted", j->submitted_ms, j->submitted_ms);
    when(b, "started", j->started_ms, j->submitted_ms);
    when(b, "finished", j->finished_ms, j->submitted_ms);
    if (j->not_before_ms && !cn_state_final(j->state))
        when(b, "not before", j->not_before_ms, j->submitted_ms);
    if (j->n_history) cn_buf_printf(b, "  history:\n");
    for (size_t i = 0; i < j->n_history; i++) {
        const Canopy__AttemptRecord *h = j->history[i];
        char d[32] = "-";
        if (h->finished_ms >= h->started_ms && h->finished_ms)
            cn_fmt_duration(d, sizeof d, h->finished_ms - h->started_ms);
        char at[48];
        fmt_time(at, sizeof at, h->started_ms);
        cn_buf_printf(b, "    attempt %u lease %llu on %s started %s took %s: %s%s%s\n", h->attempt,
                      (unsigned long long)h->lease_seq, h->worker, at, d, cn_state_name(h->outcome),
                      h->error[0] ? " - " : "", h->error);
    }
    cn_buf_free(&js);
    if (b->len) b->len--;
}

int cn_cmd_job(cn_cli_t *g, int argc, char **argv) {
    uint64_t id = 0;
    for (int i = 1; i < argc; i++) {
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc < 0) return cn_usage_error(usage_text, "%s", cn_err_detail());
        if (rc > 0) continue;
        if (id || !cn_parse_job_id(argv[i], &id))
            return cn_usage_error("canopy job ID", "bad job id '%s'", argv[i]);
    }
    if (!id) return cn_usage_error("canopy job ID", "which job?");
    cn_client_t *c;
    int rc = cn_client_open(g, &c);
    if (rc) return cn_fail(rc);
    Canopy__JobInfoRequest r = CANOPY__JOB_INFO_REQUEST__INIT;
    r.id = &id;
    r.n_id = 1;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT, *rep;
    env.body_case = CANOPY__ENVELOPE__BODY_JOB_INFO;
    env.job_info = &r;
    rc = cn_client_call(c, &env, CANOPY__ENVELOPE__BODY_JOB_INFO_REPLY, &rep);
    cn_client_close(&c);
    if (rc) return cn_fail(rc);
    int status = 0;
    if (rep->job_info_reply->n_job == 0) {
        status = cn_fail(cn_err(CN_ENOTFOUND, "no job %llu", (unsigned long long)id));
    } else {
        cn_buf_t b = {0};
        if (g->json)
            cn_job_json(&b, rep->job_info_reply->job[0], true);
        else
            job_text(&b, rep->job_info_reply->job[0]);
        cn_print_buf(&b);
    }
    cn_wire_free(rep);
    return status;
}
