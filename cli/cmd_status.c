/* cmd_status.c: `canopy status`: workers with their slots and current jobs, queue
   depth by kind and state, throughput. The text and JSON renderings here are
   shared with `canopy watch` and `canopy up`. Single-threaded. */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] = "canopy status [--json]\n\n"
                                 "Shows the cluster: workers (slots, running jobs, last heartbeat), jobs by\n"
                                 "kind and state, throughput and counters.\n";

int cn_status_fetch(cn_client_t *c, Canopy__Envelope **reply) {
    Canopy__StatusRequest r = CANOPY__STATUS_REQUEST__INIT;
    Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
    env.body_case = CANOPY__ENVELOPE__BODY_STATUS;
    env.status = &r;
    return cn_client_call(c, &env, CANOPY__ENVELOPE__BODY_STATUS_REPLY, reply);
}

static void workers_text(cn_buf_t *b, const Canopy__StatusReply *s) {
    uint64_t now = cn_wall_ms();
    cn_buf_printf(b, "workers: %zu\n", s->n_worker);
    for (size_t i = 0; i < s->n_worker; i++) {
        const Canopy__WorkerStatus *w = s->worker[i];
        char seen[32];
        cn_fmt_duration(seen, sizeof seen, now > w->last_seen_ms ? now - w->last_seen_ms : 0);
        cn_buf_printf(b, "  %-10s %-5s slots %u/%u busy  pid %-7u %s  seen %s ago  jobs:", w->name,
                      w->alive ? "up" : "DOWN", w->slots - CN_MIN(w->free_slots, w->slots), w->slots, w->pid,
                      w->host, seen);
        for (size_t k = 0; k < w->n_running && k < 8; k++)
            cn_buf_printf(b, " %llu", (unsigned long long)w->running[k]);
        if (w->n_running > 8) cn_buf_printf(b, " (+%zu)", w->n_running - 8);
        if (w->n_running == 0) cn_buf_printf(b, " -");
        cn_buf_putc(b, '\n');
    }
}

/* Counts by kind: one row per kind, one column per state. */
static void counts_text(cn_buf_t *b, const Canopy__StatusReply *s) {
    static const int cols[] = {1, 2, 3, 4, 5, 6, 7};
    cn_buf_printf(b, "jobs:\n  %-12s", "kind");
    for (size_t c = 0; c < CN_ARRAY_LEN(cols); c++) cn_buf_printf(b, " %10s", cn_state_name(cols[c]));
    cn_buf_putc(b, '\n');
    const char **kinds = cn_xcalloc(s->n_count + 1, sizeof *kinds);
    size_t nk = 0;
    for (size_t i = 0; i < s->n_count; i++) {
        size_t k = 0;
        while (k < nk && strcmp(kinds[k], s->count[i]->kind) != 0) k++;
        if (k == nk) kinds[nk++] = s->count[i]->kind;
    }
    for (size_t k = 0; k < nk; k++) {
        cn_buf_printf(b, "  %-12s", kinds[k]);
        for (size_t c = 0; c < CN_ARRAY_LEN(cols); c++) {
            uint64_t n = 0;
            for (size_t i = 0; i < s->n_count; i++)
                if ((int)s->count[i]->state == cols[c] && strcmp(s->count[i]->kind, kinds[k]) == 0)
                    n += s->count[i]->count;
            cn_buf_printf(b, " %10llu", (unsigned long long)n);
        }
        cn_buf_putc(b, '\n');
    }
    if (nk == 0) cn_buf_printf(b, "  (none)\n");
    free(kinds);
}

static void running_text(cn_buf_t *b, const Canopy__StatusReply *s, bool tty) {
    if (s->n_running == 0) return;
    cn_buf_printf(b, "running: %zu\n", s->n_running);
    size_t show = tty ? CN_MIN(s->n_running, (size_t)20) : s->n_running;
    for (size_t i = 0; i < show; i++) {
        const Canopy__Job *j = s->running[i];
        char bar[40] = "";
        if (j->progress_total) cn_fmt_bar(bar, sizeof bar, j->progress_done, j->progress_total, 20);
        cn_buf_printf(b, "  %-8llu %-10s %-8s on %-6s attempt %u %s", (unsigned long long)j->id,
                      j->spec ? j->spec->kind : "", cn_state_name(j->state), j->worker, j->attempts, bar);
        cn_fmt_progress(b, " ", j->progress_done, j->progress_total, j->progress_unit, j->progress_bytes_done,
                        j->progress_bytes_total);
        cn_buf_putc(b, '\n');
    }
    if (show < s->n_running) cn_buf_printf(b, "  ... and %zu more\n", s->n_running - show);
}

void cn_status_text(cn_buf_t *b, const Canopy__StatusReply *s, bool tty) {
    char up[32];
    cn_fmt_duration(up, sizeof up, s->uptime_ms);
    cn_buf_printf(b,
                  "coordinator up %s; %.1f jobs/s; %llu submitted, %llu succeeded; %llu bad messages, "
                  "%llu stale results\n",
                  up, s->jobs_per_sec, (unsigned long long)s->submitted_total,
                  (unsigned long long)s->succeeded_total, (unsigned long long)s->bad_messages,
                  (unsigned long long)s->stale_results);
    workers_text(b, s);
    counts_text(b, s);
    running_text(b, s, tty);
}

void cn_status_json(cn_buf_t *b, const Canopy__StatusReply *s) {
    cn_buf_printf(
        b,
        "{\"uptime_ms\":%llu,\"jobs_per_sec\":%.3f,\"submitted_total\":%llu,\"succeeded_total\":%llu,"
        "\"bad_messages\":%llu,\"stale_results\":%llu,\"workers\":[",
        (unsigned long long)s->uptime_ms, s->jobs_per_sec, (unsigned long long)s->submitted_total,
        (unsigned long long)s->succeeded_total, (unsigned long long)s->bad_messages,
        (unsigned long long)s->stale_results);
    for (size_t i = 0; i < s->n_worker; i++) {
        const Canopy__WorkerStatus *w = s->worker[i];
        cn_buf_printf(b, "%s{\"name\":", i ? "," : "");
        cn_json_str(b, w->name, strlen(w->name));
        cn_buf_printf(b, ",\"host\":");
        cn_json_str(b, w->host, strlen(w->host));
        cn_buf_printf(
            b, ",\"pid\":%u,\"alive\":%s,\"slots\":%u,\"free_slots\":%u,\"last_seen_ms\":%llu,\"running\":[",
            w->pid, w->alive ? "true" : "false", w->slots, w->free_slots,
            (unsigned long long)w->last_seen_ms);
        for (size_t k = 0; k < w->n_running; k++)
            cn_buf_printf(b, "%s%llu", k ? "," : "", (unsigned long long)w->running[k]);
        cn_buf_printf(b, "]}");
    }
    cn_buf_printf(b, "],\"counts\":[");
    for (size_t i = 0; i < s->n_count; i++) {
        cn_buf_printf(b, "%s{\"kind\":", i ? "," : "");
        cn_json_str(b, s->count[i]->kind, strlen(s->count[i]->kind));
        cn_buf_printf(b, ",\"state\":\"%s\",\"count\":%llu}", cn_state_name(s->count[i]->state),
                      (unsigned long long)s->count[i]->count);
    }
    cn_buf_printf(b, "],\"running\":[");
    for (size_t i = 0; i < s->n_running; i++) {
        if (i) cn_buf_putc(b, ',');
        cn_job_json(b, s->running[i], false);
    }
    cn_buf_printf(b, "]}");
}

int cn_cmd_status(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc < 0) return cn_usage_error(usage_text, "%s", cn_err_detail());
        if (rc == 0) return cn_usage_error("canopy status [--json]", "unexpected argument '%s'", argv[i]);
    }
    cn_client_t *c;
    Canopy__Envelope *rep;
    int rc = cn_client_open(g, &c);
    if (rc) return cn_fail(rc);
    rc = cn_status_fetch(c, &rep);
    cn_client_close(&c);
    if (rc) return cn_fail(rc);
    cn_buf_t b = {0};
    if (g->json)
        cn_status_json(&b, rep->status_reply);
    else
        cn_status_text(&b, rep->status_reply, false);
    while (b.len && b.data[b.len - 1] == '\n') b.len--;
    cn_print_buf(&b);
    cn_wire_free(rep);
    return 0;
}
