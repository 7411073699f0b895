/* query_git.h: private to `canopy query projects|log|heads|commits|changes|
   file` (query_git.c resolves arguments and reads the stores; query_git_out.c
   answers and prints). Reads the stores of stores.h (the merged store first,
   then the live shards) with storage/repo.h functions that take one opened
   store. Single-threaded. */
#ifndef CN_CLI_QUERY_GIT_H
#define CN_CLI_QUERY_GIT_H

#include "cli.h"
#include "repo.h"
#include "stores.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read view over several stores: a content-addressed record is taken from
   the first store that has it; pointers (heads, logs) only from a job's winning
   lease (cn_stores_lease_won: its highest committed lease over every store, a
   lower one is fenced), heads from the newest such lease. */
typedef struct {
    cn_stores_t st;
} cn_gv_t;

int cn_gv_commit(cn_gv_t *v, const uint8_t oid[20], Canopy__Commit **out);
int cn_gv_changes(cn_gv_t *v, const uint8_t oid[20], Canopy__Changes **out);
int cn_gv_path(cn_gv_t *v, const uint8_t hash[CN_REPO_PATH_HASH_LEN], cn_buf_t *out);
int cn_gv_content(cn_gv_t *v, const uint8_t oid[20], cn_buf_t *out);
/* The heads of the project's newest lease in any store; CN_ENOTFOUND if none. */
int cn_gv_heads(cn_gv_t *v, uint64_t project, Canopy__Heads **out);
/* Every log entry of the project, oldest lease first (free with cn_gv_free_logs). */
void cn_gv_logs(cn_gv_t *v, uint64_t project, Canopy__ProjectLog ***out, size_t *n);
void cn_gv_free_logs(Canopy__ProjectLog **l, size_t n);
/* Every project (by id), free with cn_gv_free_projects. */
void cn_gv_projects(cn_gv_t *v, Canopy__Project ***out, size_t *n);
void cn_gv_free_projects(Canopy__Project **p, size_t n);
/* A project id, or a URL/path canonicalised and looked up in the Project
   records. CN_ENOTFOUND with a detail when unknown. */
int cn_gv_project(cn_gv_t *v, const char *arg, uint64_t *id);
/* A commit: 40 hex digits, or the name of one of the project's heads
   ("main", "refs/heads/main", "v1.0"); project 0 allows only hex. */
int cn_gv_commit_arg(cn_gv_t *v, uint64_t project, const char *arg, uint8_t oid[20]);

/* The queries (query_git_out.c): each prints and returns the exit status. */
int cn_qg_projects(const cn_cli_t *g, cn_gv_t *v);
int cn_qg_log(const cn_cli_t *g, cn_gv_t *v, uint64_t project);
int cn_qg_heads(const cn_cli_t *g, cn_gv_t *v, uint64_t project);
int cn_qg_commits(const cn_cli_t *g, cn_gv_t *v, uint64_t project, uint64_t limit);
int cn_qg_changes(const cn_cli_t *g, cn_gv_t *v, const uint8_t oid[20]);
int cn_qg_file(const cn_cli_t *g, cn_gv_t *v, const uint8_t commit[20], const char *path);

/* Helpers shared by the printers. */
void cn_qg_sig_json(cn_buf_t *b, const char *key, const Canopy__Signature *s);
void cn_qg_time(char *out, size_t n, int64_t t, int32_t tz_min);
const char *cn_qg_log_kind(int kind);

#endif
