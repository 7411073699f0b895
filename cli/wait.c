/* wait.c: fetching many jobs by id (JobInfo requests of up to 1,000 ids,
   pipelined) and waiting until jobs end, with a progress bar on a terminal and
   plain lines otherwise. Used by `submit --wait` and the demo. Single-threaded. */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INFO_CHUNK 1000
#define WINDOW 8

int cn_fetch_jobs(cn_client_t *c, const uint64_t *ids, size_t n, void (*cb)(void *arg, const Canopy__Job *j),
                  void *arg) {
    size_t nchunks = (n + INFO_CHUNK - 1) / INFO_CHUNK, sent = 0, got = 0;
    uint64_t *reqs = cn_xcalloc(nchunks ? nchunks : 1, sizeof *reqs);
    int rc = 0;
    while (got < nchunks && rc == 0) {
        while (sent < nchunks && sent - got < WINDOW && rc == 0) {
            Canopy__JobInfoRequest r = CANOPY__JOB_INFO_REQUEST__INIT;
            r.id = (uint64_t *)ids + sent * INFO_CHUNK;
            r.n_id = CN_MIN(INFO_CHUNK, n - sent * INFO_CHUNK);
            Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
            env.body_case = CANOPY__ENVELOPE__BODY_JOB_INFO;
            env.job_info = &r;
            rc = cn_client_send(c, &env, &reqs[sent]);
            sent++;
        }
        if (rc) break;
        Canopy__Envelope *rep;
        if ((rc = cn_client_recv(c, &rep, -1))) break;
        bool ours = false;
        for (size_t k = got; k < sent && !ours; k++) ours = reqs[k] == rep->req_id;
        if (ours && rep->body_case == CANOPY__ENVELOPE__BODY_JOB_INFO_REPLY) {
            for (size_t k = 0; k < rep->job_info_reply->n_job; k++) cb(arg, rep->job_info_reply->job[k]);
            got++;
        }
        cn_wire_free(rep);
    }
    free(reqs);
    return rc;
}

typedef struct {
    uint64_t *pending; /* ids not final yet */
    size_t n_pending;
    uint64_t *next;
    size_t n_next;
    cn_wait_result_t *res;
    uint64_t running;
} waitstate_t;

static void on_job(void *arg, const Canopy__Job *j) {
    waitstate_t *w = arg;
    if (!cn_state_final(j->state)) {
        w->next[w->n_next++] = j->id;
        if (j->state == CANOPY__JOB_STATE__RUNNING || j->state == CANOPY__JOB_STATE__LEASED) w->running++;
        return;
    }
    if (j->state == CANOPY__JOB_STATE__SUCCEEDED)
        w->res->succeeded++;
    else if (j->state == CANOPY__JOB_STATE__DEAD)
        w->res->dead++;
    else
        w->res->cancelled++;
}

static void show(const waitstate_t *w, bool tty, bool final, uint64_t started) {
    const cn_wait_result_t *r = w->res;
    uint64_t done = r->succeeded + r->dead + r->cancelled;
    char el[32];
    cn_fmt_duration(el, sizeof el, cn_mono_ms() - started);
    if (tty) {
        char bar[64];
        cn_fmt_bar(bar, sizeof bar, done, r->total, 30);
        fprintf(stderr, "\r%s %llu/%llu  ok %llu  dead %llu  cancelled %llu  running %llu  %s\033[K", bar,
                (unsigned long long)done, (unsigned long long)r->total, (unsigned long long)r->succeeded,
                (unsigned long long)r->dead, (unsigned long long)r->cancelled, (unsigned long long)w->running,
                el);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %llu/%llu jobs done (%llu succeeded, %llu dead, %llu cancelled) after %s\n",
                final ? "done" : "waiting", (unsigned long long)done, (unsigned long long)r->total,
                (unsigned long long)r->succeeded, (unsigned long long)r->dead,
                (unsigned long long)r->cancelled, el);
    }
    fflush(stderr);
}

int cn_wait_jobs(cn_client_t *c, const uint64_t *ids, size_t n, uint64_t timeout_ms, bool quiet,
                 cn_wait_result_t *res) {
    memset(res, 0, sizeof *res);
    res->total = n;
    waitstate_t w = {cn_xcalloc(n + 1, sizeof *ids), n, cn_xcalloc(n + 1, sizeof *ids), 0, res, 0};
    memcpy(w.pending, ids, n * sizeof *ids);
    bool tty = isatty(2);
    uint64_t started = cn_mono_ms(), last_ok = started, pause = 50;
    /* Plain lines start after 2 s: short waits print only the final line. */
    uint64_t last_show = tty ? 0 : started;
    int rc = 0;
    while (w.n_pending > 0) {
        w.n_next = 0;
        w.running = 0;
        cn_wait_result_t before = *res;
        rc = cn_fetch_jobs(c, w.pending, w.n_pending, on_job, &w);
        uint64_t now = cn_mono_ms();
        if (rc == CN_ETIMEOUT && now - last_ok < 60000) {
            *res = before; /* the coordinator may be restarting: ask again */
            continue;
        }
        if (rc) break;
        last_ok = now;
        /* Ids the coordinator no longer reports stay pending (none should). */
        uint64_t *t = w.pending;
        w.pending = w.next;
        w.next = t;
        w.n_pending = w.n_next;
        if (!quiet && (tty ? now - last_show >= 100 : now - last_show >= 2000)) {
            show(&w, tty, false, started);
            last_show = now;
        }
        if (w.n_pending == 0) break;
        if (timeout_ms && now - started >= timeout_ms) {
            rc = cn_err(CN_ETIMEOUT, "%zu of %zu jobs still not finished after %llu ms", w.n_pending, n,
                        (unsigned long long)timeout_ms);
            break;
        }
        cn_sleep_ms(pause);
        pause = CN_MIN(pause * 2, 500);
    }
    if (!quiet && rc == 0) show(&w, tty, true, started);
    free(w.pending);
    free(w.next);
    return rc;
}
