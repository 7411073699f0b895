/* cmd_submit.c: `canopy submit KIND ARGS... [options]`: builds jobs through the
   kind table, sends them in Submit batches of up to 1,000 jobs with several
   batches in flight, prints the ids, and with --wait waits until they end.
   Single-threaded. */
#include "submit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000
#define BATCH_BYTES (4u << 20)
#define WINDOW 8

static const char usage_text[] =
    "canopy submit KIND ARGS... [options]\n"
    "canopy submit [KIND] --from FILE [options]\n\n"
    "Submits jobs and prints their ids (one per line, or JSON with --json).\n"
    "ARGS are the kind's positional arguments and --name VALUE options; with --from,\n"
    "each line of FILE ('-': stdin) is a JSON object of arguments, e.g. {\"ms\": 20},\n"
    "which may also carry kind, priority, key, after, max_attempts, timeout_ms.\n\n"
    "options:\n"
    "  --priority P        higher runs first (default 0)\n"
    "  --key K             dedup key: a second submit with K returns the first job\n"
    "  --after ID[,ID]     run only after these jobs succeeded\n"
    "  --max-attempts N    attempts before the job is dead (default: coordinator's, 3)\n"
    "  --timeout DUR       stop an attempt after DUR (250ms, 30s, 5m; bare number: s)\n"
    "  --wait              wait until the jobs end; exit 0 only if all succeeded\n"
    "  --wait-timeout DUR  give up waiting after DUR\n"
    "  --from FILE         one job per line\n\n"
    "kinds:\n";

static int help(void) {
    cn_print_help(usage_text);
    for (const cn_cli_kind_t *k = cn_cli_kind_next(NULL); k; k = cn_cli_kind_next(k))
        printf("  %s\n", k->usage ? k->usage : k->name);
    return 0;
}

typedef struct {
    cn_job_opts_t jo;
    const char *from, *kind;
    bool wait;
    uint64_t wait_timeout;
    cn_json_obj_t args; /* the kind's --name VALUE options (borrowed strings) */
    char **words;       /* positional words */
    size_t n_words;
} submit_args_t;

static void args_add(cn_json_obj_t *o, const char *key, const char *val) {
    o->pair = cn_xrealloc(o->pair, (o->n + 1) * sizeof *o->pair);
    char *k = cn_xstrdup(key);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    o->pair[o->n++] = (cn_json_pair_t){k, cn_xstrdup(val), CN_JSON_STR};
}

/* The options every job takes; returns 1 when argv[*i] was one. */
static int job_option(submit_args_t *a, int argc, char **argv, int *i) {
    const char *v = NULL;
    int rc;
    uint64_t u;
    if ((rc = cn_arg_value(argc, argv, i, "--priority", &v))) {
        char *end;
        long x = rc > 0 ? strtol(v, &end, 10) : 0;
        if (rc > 0 && (*end || end == v || x < INT32_MIN || x > INT32_MAX))
            return cn_err(CN_EINVAL, "--priority takes an integer, not '%s'", v);
        a->jo.priority = (int32_t)x;
    } else if ((rc = cn_arg_value(argc, argv, i, "--key", &v))) {
        a->jo.key = v;
    } else if ((rc = cn_arg_value(argc, argv, i, "--after", &v))) {
        if (rc > 0 && cn_parse_after(v, &a->jo)) return CN_EINVAL;
    } else if ((rc = cn_arg_value(argc, argv, i, "--max-attempts", &v))) {
        if (rc > 0 && (!cn_parse_u64(v, &u) || u == 0 || u > 1000000))
            return cn_err(CN_EINVAL, "--max-attempts takes a positive integer, not '%s'", v);
        a->jo.max_attempts = (uint32_t)u;
    } else if ((rc = cn_arg_value(argc, argv, i, "--timeout", &v))) {
        if (rc > 0 && !cn_parse_duration_ms(v, &a->jo.timeout_ms))
            return cn_err(CN_EINVAL, "--timeout takes a duration like 500ms or 30s, not '%s'", v);
    } else if ((rc = cn_arg_value(argc, argv, i, "--wait-timeout", &v))) {
        if (rc > 0 && !cn_parse_duration_ms(v, &a->wait_timeout))
            return cn_err(CN_EINVAL, "--wait-timeout takes a duration like 30s, not '%s'", v);
    } else if ((rc = cn_arg_value(argc, argv, i, "--from", &v))) {
        a->from = v;
    } else if (strcmp(argv[*i], "--wait") == 0) {
        a->wait = true;
        rc = 1;
    }
    return rc;
}

static int parse(cn_cli_t *g, submit_args_t *a, int argc, char **argv) {
    a->words = cn_xcalloc((size_t)argc + 1, sizeof *a->words);
    for (int i = 1; i < argc; i++) {
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0) rc = job_option(a, argc, argv, &i);
        if (rc < 0) return rc;
        if (rc > 0) continue;
        const char *w = argv[i];
        if (strncmp(w, "--", 2) == 0 && w[2]) {
            /* A kind's own option: --name VALUE, --name=VALUE, or a bare flag. */
            const char *eq = strchr(w, '=');
            if (eq) {
                char *name = cn_xmemdup(w + 2, (size_t)(eq - w - 2) + 1);
                name[eq - w - 2] = '\0';
                args_add(&a->args, name, eq + 1);
                free(name);
            } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                args_add(&a->args, w + 2, argv[++i]);
            } else {
                args_add(&a->args, w + 2, "true");
            }
        } else if (!a->kind) {
            a->kind = w;
        } else {
            a->words[a->n_words++] = argv[i];
        }
    }
    return 0;
}

/* Positional words map to the kind's positional names; with repeat_last each
   extra word makes one more job. */
static int build_positional(submit_args_t *a, const cn_cli_kind_t *k, cn_joblist_t *l) {
    size_t npos = 0;
    while (k->positional && k->positional[npos]) npos++;
    bool repeat = k->repeat_last && npos > 0;
    if (a->n_words > npos && !repeat)
        return cn_err(CN_EINVAL, "too many arguments for %s (usage: %s)", k->name,
                      k->usage ? k->usage : k->name);
    if (a->n_words <= npos) {
        for (size_t i = 0; i < a->n_words; i++) args_add(&a->args, k->positional[i], a->words[i]);
        return cn_submit_add(l, k, &a->args, &a->jo);
    }
    for (size_t i = 0; i + 1 < npos; i++) args_add(&a->args, k->positional[i], a->words[i]);
    int rc = 0;
    for (size_t i = npos - 1; i < a->n_words && rc == 0; i++) {
        args_add(&a->args, k->positional[npos - 1], a->words[i]);
        rc = cn_submit_add(l, k, &a->args, &a->jo);
        a->args.n--;
        free(a->args.pair[a->args.n].key);
        free(a->args.pair[a->args.n].value);
    }
    return rc;
}

/* Splits the jobs into batches of at most BATCH jobs and BATCH_BYTES bytes (a
   frame must stay under the wire limit); start[b]..start[b+1] is batch b. */
static size_t plan_batches(const cn_joblist_t *l, size_t **start) {
    size_t nb = 0, cap = l->n / BATCH + 2, bytes = 0, count = 0;
    *start = cn_xcalloc(cap + 1, sizeof **start);
    for (size_t i = 0; i < l->n; i++) {
        const Canopy__JobSpec *j = l->v[i];
        size_t sz = 64 + j->spec.len + strlen(j->kind) + strlen(j->dedup_key) + strlen(j->serial_key) +
                    10 * j->n_after;
        if (count == 0 || count == BATCH || bytes + sz > BATCH_BYTES) {
            if (nb + 1 >= cap) *start = cn_xrealloc(*start, (cap *= 2) * sizeof **start);
            (*start)[nb++] = i;
            bytes = count = 0;
        }
        bytes += sz;
        count++;
    }
    (*start)[nb] = l->n;
    return nb;
}

typedef struct {
    size_t *start;  /* batch b is jobs start[b] .. start[b+1] */
    uint64_t *reqs; /* req_id of each batch sent, 0 once answered */
    uint64_t *ids;
    bool *existing;
    size_t stored; /* jobs the coordinator has stored */
    int refused;   /* first Error: no further batch is sent */
    char why[512], msg[400];
} sender_t;

/* Takes one reply: ids of a stored batch, or the reason a batch was refused. */
static int take_reply(sender_t *s, size_t sent, Canopy__Envelope *rep) {
    for (size_t b = 0; b < sent; b++) {
        if (s->reqs[b] != rep->req_id) continue;
        size_t want = s->start[b + 1] - s->start[b];
        s->reqs[b] = 0;
        if (rep->body_case == CANOPY__ENVELOPE__BODY_ERROR) {
            if (!s->refused) {
                s->refused = rep->error->code < 0 ? rep->error->code : CN_EINVAL;
                snprintf(s->msg, sizeof s->msg, "%s", rep->error->message);
                snprintf(s->why, sizeof s->why, "jobs %zu-%zu refused: %s", s->start[b] + 1, s->start[b + 1],
                         s->msg);
            }
            return 1;
        }
        if (rep->body_case != CANOPY__ENVELOPE__BODY_SUBMIT_REPLY || rep->submit_reply->n_id != want)
            return cn_err(CN_EPROTO, "the coordinator answered a batch of %zu jobs with %s", want,
                          cn_wire_body_name(rep));
        Canopy__SubmitReply *r = rep->submit_reply;
        memcpy(s->ids + s->start[b], r->id, want * sizeof *s->ids);
        for (size_t k = 0; k < want; k++) s->existing[s->start[b] + k] = k < r->n_existing && r->existing[k];
        s->stored += want;
        return 1;
    }
    return 0; /* a late reply to something else */
}

/* Sends every job, WINDOW batches in flight; ids[i] is job i's id (0 if it was
   not stored). A refused batch stops the sending; batches in flight are still
   answered, so every stored job's id is known. */
static int send_all(cn_client_t *c, const cn_joblist_t *l, uint64_t *ids, bool *existing) {
    sender_t s = {.ids = ids, .existing = existing};
    size_t nb = plan_batches(l, &s.start), sent = 0, got = 0;
    s.reqs = cn_xcalloc(nb ? nb : 1, sizeof *s.reqs);
    int rc = 0;
    while (rc == 0 && (got < sent || (sent < nb && !s.refused))) {
        while (sent < nb && !s.refused && sent - got < WINDOW && rc == 0) {
            Canopy__Submit sub = CANOPY__SUBMIT__INIT;
            sub.job = l->v + s.start[sent];
            sub.n_job = s.start[sent + 1] - s.start[sent];
            Canopy__Envelope env = CANOPY__ENVELOPE__INIT;
            env.body_case = CANOPY__ENVELOPE__BODY_SUBMIT;
            env.submit = &sub;
            rc = cn_client_send(c, &env, &s.reqs[sent++]);
        }
        Canopy__Envelope *rep = NULL;
        if (rc || (rc = cn_client_recv_env(c, &rep, -1))) break;
        int took = take_reply(&s, sent, rep);
        cn_wire_free(rep);
        if (took < 0)
            rc = took;
        else
            got += (size_t)took;
    }
    if (rc == 0 && s.refused && nb == 1)
        rc = cn_err(s.refused, "%s (nothing was stored)", s.msg);
    else if (rc == 0 && s.refused)
        rc = cn_err(s.refused, "%s (%zu of %zu jobs were stored; their ids are printed)", s.why, s.stored,
                    l->n);
    free(s.reqs);
    free(s.start);
    return rc;
}

static void print_ids(const cn_cli_t *g, const uint64_t *ids, const bool *existing, size_t n) {
    cn_buf_t b = {0};
    if (g->json) cn_buf_putc(&b, '[');
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i]) continue; /* not stored */
        bool f = first;
        first = false;
        if (g->json)
            cn_buf_printf(&b, "%s{\"id\":%llu,\"existing\":%s}", f ? "" : ",", (unsigned long long)ids[i],
                          existing[i] ? "true" : "false");
        else
            cn_buf_printf(&b, "%s%llu", f ? "" : "\n", (unsigned long long)ids[i]);
    }
    if (g->json) cn_buf_putc(&b, ']');
    if (b.len) cn_print_buf(&b);
    cn_buf_free(&b);
}

static void collect_json(void *arg, const Canopy__Job *j) {
    cn_buf_t *b = arg;
    if (b->len > 1) cn_buf_putc(b, ',');
    cn_job_json(b, j, false);
}

static int wait_unique(const cn_cli_t *g, cn_client_t *c, const uint64_t *ids, size_t n, uint64_t timeout) {
    cn_wait_result_t r;
    int rc = cn_wait_jobs(c, ids, n, timeout, false, &r);
    if (rc) return cn_fail(rc);
    if (g->json) {
        cn_buf_t b = {0};
        cn_buf_putc(&b, '[');
        rc = cn_fetch_jobs(c, ids, n, collect_json, &b);
        cn_buf_putc(&b, ']');
        if (rc) {
            cn_buf_free(&b);
            return cn_fail(rc);
        }
        cn_print_buf(&b);
    }
    if (r.succeeded == r.total) return 0;
    fprintf(stderr, "canopy: %llu of %llu jobs did not succeed (%llu dead, %llu cancelled)\n",
            (unsigned long long)(r.total - r.succeeded), (unsigned long long)r.total,
            (unsigned long long)r.dead, (unsigned long long)r.cancelled);
    return CN_EXIT_FAIL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Waits for each distinct job once (a dedup key may return one job twice). */
static int wait_and_report(const cn_cli_t *g, cn_client_t *c, const uint64_t *all, size_t n_all,
                           uint64_t timeout) {
    uint64_t *ids = cn_xcalloc(n_all + 1, sizeof *ids);
    memcpy(ids, all, n_all * sizeof *ids);
    qsort(ids, n_all, sizeof *ids, cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++)
        if (n == 0 || ids[n - 1] != ids[i]) ids[n++] = ids[i];
    int status = wait_unique(g, c, ids, n, timeout);
    free(ids);
    return status;
}

/* NEEDSWORK: --from holds every JobSpec in memory (about 150 bytes a job) before
   sending; files of millions of jobs want batches streamed as they are read. */
static int submit_run(cn_cli_t *g, submit_args_t *a) {
    cn_joblist_t l = {0};
    const cn_cli_kind_t *k = a->kind ? cn_cli_kind_find(a->kind) : NULL;
    int rc = 0;
    if (a->kind && !k)
        return cn_usage_error(NULL, "unknown job kind '%s' (see canopy submit --help)", a->kind);
    if (a->from) {
        if (a->n_words || a->args.n)
            return cn_usage_error(NULL, "with --from, give the jobs' arguments in the file");
        /* A kind may read formats of its own (download: URL lists, CSV). */
        rc = k && k->read_from ? k->read_from(&l, a->from, &a->jo)
                               : cn_submit_from(&l, a->from, a->kind, &a->jo);
    } else if (!k) {
        return cn_usage_error("canopy submit KIND ARGS... (see canopy submit --help)", "which kind of job?");
    } else {
        rc = build_positional(a, k, &l);
    }
    if (rc == 0 && l.n == 0) rc = cn_err(CN_EINVAL, "no jobs to submit");
    cn_client_t *c = NULL;
    if (rc == 0) rc = cn_client_open(g, &c);
    uint64_t *ids = cn_xcalloc(l.n + 1, sizeof *ids);
    bool *existing = cn_xcalloc(l.n + 1, sizeof *existing);
    if (rc == 0) {
        rc = send_all(c, &l, ids, existing);
        /* Whatever was stored is reported, even when a batch was refused. */
        if (rc != 0 || !(a->wait && g->json)) print_ids(g, ids, existing, l.n);
    }
    int status = rc ? cn_fail(rc) : 0;
    if (rc == 0 && a->wait) status = wait_and_report(g, c, ids, l.n, a->wait_timeout);
    free(ids);
    free(existing);
    cn_client_close(&c);
    cn_joblist_free(&l);
    return status;
}

int cn_cmd_submit(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_arg_help(argv[i])) return help();
    submit_args_t a = {0};
    int rc = parse(g, &a, argc, argv);
    int status =
        rc ? cn_usage_error("canopy submit KIND ARGS... (see canopy submit --help)", "%s", cn_err_detail())
           : submit_run(g, &a);
    for (size_t i = 0; i < a.args.n; i++) {
        free(a.args.pair[i].key);
        free(a.args.pair[i].value);
    }
    free(a.args.pair);
    free(a.words);
    free(a.jo.after);
    return status;
}
