/* query_scan.h: private to `canopy query scan` (query_scan.c parses and opens
   the stores; query_scan_out.c answers and prints). Single-threaded. */
#ifndef CN_CLI_QUERY_SCAN_H
#define CN_CLI_QUERY_SCAN_H

#include "cli.h"
#include "scanidx.h"
#include "stores.h"

#include <stdbool.h>
#include <stddef.h>

/* A scan and the index of the store that holds it. */
typedef struct {
    cn_scan_t scan;
    size_t store;
} cn_qs_scan_t;

/* Each prints to stdout and returns the exit status. */
int cn_qs_print_list(const cn_cli_t *g, const cn_qs_scan_t *v, size_t n, const cn_stores_t *st);
int cn_qs_ls(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *path);
int cn_qs_stat(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *path);
int cn_qs_find(const cn_cli_t *g, cn_shard_t *s, const cn_qs_scan_t *sc, const char *pattern);
int cn_qs_diff(const cn_cli_t *g, const cn_stores_t *st, const cn_qs_scan_t *a, const cn_qs_scan_t *b);

/* PATH as the user gave it -> path relative to the scan root ("" = root), with
   "." and empty components dropped. False (with a message) when an absolute
   PATH is not under the root or uses "..". */
bool cn_qs_relpath(const cn_scan_t *sc, const char *path, cn_buf_t *out);

#endif
