/* cmd_watch.c: `canopy watch`: the status, live. On a terminal the screen is
   redrawn in place with progress bars for running jobs; otherwise each job event
   (from the coordinator's PUB socket) is one plain line, with a status line every
   few seconds. --once / --for DUR end it (scripts, tests). Single-threaded. */
#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "canopy watch [--once] [--for DUR] [--interval DUR] [--json]\n\n"
    "Shows the status, redrawn in place on a terminal; as plain lines (job events\n"
    "and a status line every interval) otherwise. Ctrl-C ends it.\n"
    "  --once          print one status and exit\n"
    "  --for DUR       stop after DUR (e.g. 10s)\n"
    "  --interval DUR  refresh period (default 500ms on a terminal, 2s otherwise)\n";

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static void event_line(const cn_cli_t *g, const Canopy__Event *e) {
    cn_buf_t b = {0};
    if (g->json) {
        cn_buf_printf(&b, "{\"event\":\"job\",\"id\":%llu,\"kind\":", (unsigned long long)e->job_id);
        cn_json_str(&b, e->kind, strlen(e->kind));
        cn_buf_printf(&b, ",\"state\":\"%s\",\"attempt\":%u,\"worker\":", cn_state_name(e->state),
                      e->attempt);
        cn_json_str(&b, e->worker, strlen(e->worker));
        cn_buf_printf(&b, ",\"at_ms\":%llu,\"error\":", (unsigned long long)e->at_ms);
        cn_json_str(&b, e->error, strlen(e->error));
        cn_buf_printf(&b,
                      ",\"progress_done\":%llu,\"progress_total\":%llu,\"progress_bytes_done\":%llu,"
                      "\"progress_bytes_total\":%llu}",
                      (unsigned long long)e->progress_done, (unsigned long long)e->progress_total,
                      (unsigned long long)e->progress_bytes_done,
                      (unsigned long long)e->progress_bytes_total);
    } else {
        cn_buf_printf(&b, "job %llu %s %s", (unsigned long long)e->job_id, e->kind, cn_state_name(e->state));
        if (e->worker[0]) cn_buf_printf(&b, " on %s", e->worker);
        if (e->attempt) cn_buf_printf(&b, " (attempt %u)", e->attempt);
        /* An event carries no unit: the numbers alone (when a total is known), then the bytes. */
        cn_fmt_progress(&b, " ", e->progress_total ? e->progress_done : 0, e->progress_total, NULL,
                        e->progress_bytes_done, e->progress_bytes_total);
        if (e->error[0]) cn_buf_printf(&b, ": %s", e->error);
    }
    cn_print_buf(&b);
}

static int frame(const cn_cli_t *g, cn_client_t *c, bool tty) {
    Canopy__Envelope *rep;
    int rc = cn_status_fetch(c, &rep);
    if (rc) return rc;
    cn_buf_t b = {0};
    if (g->json) {
        cn_status_json(&b, rep->status_reply);
    } else if (tty) {
        /* Redraw in place without flicker: home, overwrite each line, clear the
           rest of it and, at the end, the rest of the screen. */
        cn_buf_t t = {0};
        cn_status_text(&t, rep->status_reply, tty);
        static bool cleared;
        cn_buf_printf(&b, cleared ? "\033[H" : "\033[H\033[2J");
        cleared = true;
        for (size_t i = 0; i < t.len; i++) {
            if (t.data[i] == '\n') cn_buf_printf(&b, "\033[K");
            cn_buf_putc(&b, t.data[i]);
        }
        cn_buf_printf(&b, "\033[J");
        cn_buf_free(&t);
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        cn_buf_free(&b);
        cn_wire_free(rep);
        return 0;
    } else {
        cn_status_text(&b, rep->status_reply, tty);
        while (b.len && b.data[b.len - 1] == '\n') b.len--;
    }
    cn_print_buf(&b);
    cn_wire_free(rep);
    return 0;
}

typedef struct {
    bool once;
    uint64_t for_ms, interval;
} watch_opts_t;

static int parse(cn_cli_t *g, watch_opts_t *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0 && strcmp(argv[i], "--once") == 0) o->once = true, rc = 1;
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--for", &v)) > 0 &&
            !cn_parse_duration_ms(v, &o->for_ms))
            return cn_usage_error(NULL, "--for takes a duration like 10s, not '%s'", v);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--interval", &v)) > 0 &&
            (!cn_parse_duration_ms(v, &o->interval) || o->interval == 0))
            return cn_usage_error(NULL, "--interval takes a duration like 1s, not '%s'", v);
        if (rc < 0) return cn_usage_error(usage_text, "%s", cn_err_detail());
        if (rc == 0)
            return cn_usage_error("canopy watch [--once] [--for DUR]", "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

int cn_cmd_watch(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
    watch_opts_t o = {0};
    int rc = parse(g, &o, argc, argv);
    if (rc) return rc;
    bool tty = isatty(1) && !g->json;
    if (!o.interval) o.interval = tty ? 500 : 2000;
    cn_client_t *c;
    if (!o.once && g->timeout_ms > 3000) g->timeout_ms = 3000; /* stay live */
    if ((rc = cn_client_open(g, &c))) return cn_fail(rc);
    if (o.once) {
        rc = frame(g, c, false);
        cn_client_close(&c);
        return rc ? cn_fail(rc) : 0;
    }
    cn_sock_t *sub = NULL;
    if (!tty && cn_client_events(c) && cn_sock_new(CN_SOCK_SUB, NULL, &sub) == 0 &&
        (cn_sock_connect(sub, cn_client_events(c)) || cn_sock_subscribe_all(sub)))
        cn_sock_destroy(&sub);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint64_t start = cn_mono_ms(), next = start;
    while (!stop && rc == 0) {
        uint64_t now = cn_mono_ms();
        if (o.for_ms && now - start >= o.for_ms) break;
        if (now >= next) {
            /* A coordinator that restarts is waited for, not given up on. */
            int frc = frame(g, c, tty);
            if (frc == CN_ETIMEOUT || frc == CN_EUNREACHABLE)
                fprintf(stderr, "canopy: %s; still trying\n", cn_err_detail());
            else
                rc = frc;
            next = cn_mono_ms() + o.interval;
            continue;
        }
        Canopy__Envelope *ev = NULL;
        int wait = (int)(next - now);
        if (sub && cn_sock_recv(sub, NULL, &ev, wait) == 0) {
            if (ev->body_case == CANOPY__ENVELOPE__BODY_EVENT) event_line(g, ev->event);
            cn_wire_free(ev);
        } else if (!sub) {
            cn_sleep_ms((uint64_t)CN_MIN(wait, 100));
        }
    }
    cn_sock_destroy(&sub);
    cn_client_close(&c);
    return rc ? cn_fail(rc) : 0;
}
