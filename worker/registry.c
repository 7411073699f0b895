/* registry.c: the job-kind registry (job.h). Kinds register themselves from
   constructors (CN_JOB_KIND) before main() runs, so the list is only written
   single-threaded at start-up and read-only afterwards: no locking. */
#include "job.h"

#include <string.h>

static cn_job_kind_t *kinds;

void cn_job_register(cn_job_kind_t *kind) {
    for (cn_job_kind_t *k = kinds; k; k = k->next)
        if (k == kind || strcmp(k->name, kind->name) == 0) return; /* first wins */
    kind->next = kinds;
    kinds = kind;
}

const cn_job_kind_t *cn_job_find(const char *name) {
    if (!name) return NULL;
    for (const cn_job_kind_t *k = kinds; k; k = k->next)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

const cn_job_kind_t *cn_job_next(const cn_job_kind_t *prev) {
    return prev ? prev->next : kinds;
}
