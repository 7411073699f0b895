/* cmd_fsck.c: `canopy fsck`: opens every shard under <data>/shards/ read-only
   (beside running workers) and checks it with cn_shard_fsck: blob hashes, record
   decoding, commit referents. Prints each problem; exit 1 if any. */
#include "cmd.h"

#include "shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] = "canopy fsck [--data DIR] [--json]\n\n"
                                 "Checks every shard under DIR/shards/ (read-only, safe while the cluster\n"
                                 "runs): every blob's hash, every record decodes, every commit record's\n"
                                 "referents exist. Exit status 1 if any problem is found.\n";

typedef struct {
    const cn_cli_t *g;
    const char *shard;
    cn_buf_t *json;
    size_t n;
} fsck_ctx_t;

static void on_problem(void *arg, const char *problem) {
    fsck_ctx_t *f = arg;
    if (f->g->json) {
        if (f->n++) cn_buf_putc(f->json, ',');
        cn_json_str(f->json, problem, strlen(problem));
    } else {
        printf("%s: %s\n", f->shard, problem);
    }
}

/* Checks one shard; returns its problem count (or 1 if it cannot be opened). */
static uint64_t check(const cn_cli_t *g, const char *name, const char *dir, cn_buf_t *out) {
    cn_shard_opts_t o = {.read_only = true, .paranoid = true};
    cn_shard_t *s = NULL;
    cn_fsck_report_t r = {0};
    cn_buf_t probs = {0};
    fsck_ctx_t f = {g, name, &probs, 0};
    int rc = cn_shard_open(dir, &o, &s);
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot open: %s", cn_err_detail()[0] ? cn_err_detail() : cn_strerror(rc));
        on_problem(&f, msg);
        r.problems = 1;
    } else {
        cn_shard_fsck(s, on_problem, &f, &r);
        cn_shard_close(&s);
    }
    if (g->json) {
        if (out->len > 1) cn_buf_putc(out, ',');
        cn_buf_printf(out, "{\"shard\":");
        cn_json_str(out, name, strlen(name));
        cn_buf_printf(out,
                      ",\"records\":%llu,\"blobs_checked\":%llu,\"commits_checked\":%llu,\"problems\":%llu,"
                      "\"messages\":[%.*s]}",
                      (unsigned long long)r.records, (unsigned long long)r.blobs_checked,
                      (unsigned long long)r.commits_checked, (unsigned long long)r.problems, (int)probs.len,
                      probs.data ? (const char *)probs.data : "");
    } else {
        printf("%s: %llu records, %llu blobs and %llu commits checked, %llu problem(s)\n", name,
               (unsigned long long)r.records, (unsigned long long)r.blobs_checked,
               (unsigned long long)r.commits_checked, (unsigned long long)r.problems);
    }
    cn_buf_free(&probs);
    return r.problems;
}

int cn_cmd_fsck(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc <= 0) return cn_usage_error(usage_text, "unexpected argument '%s'", argv[i]);
    }
    char *root = cn_path_join(g->data, "shards");
    char **names = NULL;
    size_t n = 0;
    if (cn_shard_list(root, &names, &n) < 0) {
        int st = cn_fail(
            cn_err(CN_ENOTFOUND, "no shards under %s (has a worker run with --data %s?)", root, g->data));
        free(root);
        return st;
    }
    uint64_t problems = 0;
    cn_buf_t out = {0};
    cn_buf_putc(&out, '[');
    for (size_t i = 0; i < n; i++) {
        char *p = cn_path_join(root, names[i]);
        problems += check(g, names[i], p, &out);
        free(p);
        free(names[i]);
    }
    cn_buf_putc(&out, ']');
    if (g->json)
        cn_print_buf(&out);
    else
        printf("%zu shard(s), %llu problem(s)\n", n, (unsigned long long)problems);
    cn_buf_free(&out);
    free(names);
    free(root);
    return problems ? CN_EXIT_FAIL : 0;
}
