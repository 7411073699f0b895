/* submit.h: private to `canopy submit` (cmd_submit.c, submit_jobs.c): the job
   options every job takes and the list of JobSpecs being built. Single-threaded. */
#ifndef CN_CLI_SUBMIT_H
#define CN_CLI_SUBMIT_H

#include "cmd.h"
#include "kinds.h"

typedef struct cn_job_opts {
    int32_t priority;
    const char *key; /* dedup key (borrowed) */
    uint64_t *after; /* owned */
    size_t n_after;
    uint32_t max_attempts;
    uint64_t timeout_ms;
} cn_job_opts_t;

typedef struct cn_joblist {
    Canopy__JobSpec **v; /* owned, with their strings and spec bytes */
    size_t n, cap;
} cn_joblist_t;

void cn_joblist_free(cn_joblist_t *l);
/* Builds one job of kind k from args with options o and appends it. */
int cn_submit_add(cn_joblist_t *l, const cn_cli_kind_t *k, const cn_json_obj_t *args, const cn_job_opts_t *o);
/* Parses "12,13" into o->after. */
int cn_parse_after(const char *s, cn_job_opts_t *o);
/* Reads one job per line (JSON objects) from path ("-": stdin); kind is the
   default kind (a line's "kind" wins); def gives default options. */
/* The most bytes a --from file may hold. */
#define CN_SUBMIT_FROM_MAX (256u << 20)
int cn_submit_from(cn_joblist_t *l, const char *path, const char *kind, const cn_job_opts_t *def);
/* The same for a file's bytes already read (name: for messages); lines are
   cut in place. */
int cn_submit_from_buf(cn_joblist_t *l, cn_buf_t *data, const char *name, const char *kind,
                       const cn_job_opts_t *def);

#endif
