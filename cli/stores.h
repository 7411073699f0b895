/* stores.h: the stores every query reads (DESIGN §6): the merged store of
   <data>/merged first, once a merge has run, then every live shard under
   <data>/shards for what is not merged yet; and which lease of a job won across
   them (merge fencing: the highest committed lease), cached per command. Used by `canopy query
   scan` and the git queries. Single-threaded. */
#ifndef CN_CLI_STORES_H
#define CN_CLI_STORES_H

#include "cli.h"
#include "shard.h"
#include "u64map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stores, in reading order. */
typedef struct {
    cn_shard_t **s;
    char **name; /* "merged" or the shard's directory name */
    size_t n;
    cn_u64map_t won; /* job -> 1 + its winning lease (0 + 1: no commit record), as asked */
} cn_stores_t;

/* Readers (write false): the merged store, if any, then every shard, both
   read-only; either may be missing, not both (CN_ENOTFOUND with a detail). A
   shard that cannot be opened is reported on stderr and skipped. Writers
   (rebuilds): only the shards, writable, and any shard failing fails the call. */
int cn_stores_open(const cn_cli_t *g, bool write, cn_stores_t *st);
void cn_stores_close(cn_stores_t *st);

/* True when lease_seq is job_id's winning lease (the highest under which it
   committed in any store, so its records count); false for a fenced or never
   committed lease. Records older than job ids (job 0) always count. Each job's
   commit keys are read once and kept until cn_stores_close. */
bool cn_stores_lease_won(cn_stores_t *st, uint64_t job_id, uint64_t lease_seq);

#endif
