/* kinds.h: how the CLI turns a kind's arguments (positional words, --name VALUE
   options, or one JSON object per line of `submit --from`) into a JobSpec. One
   file per kind (cli/kind_<name>.c) registers itself with CN_CLI_KIND. */
#ifndef CN_CLI_KINDS_H
#define CN_CLI_KINDS_H

#include "json.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>

struct cn_joblist; /* submit.h */
struct cn_job_opts;

typedef struct cn_cli_kind {
    const char *name;
    /* Names of positional arguments in order, NULL-terminated. With repeat_last,
       each extra positional word makes one more job (download URL URL ...). */
    const char *const *positional;
    bool repeat_last;
    const char *usage; /* one line for --help */
    /* Builds the packed spec message and the serial key (malloc'd, may stay NULL)
       from args. Returns 0 or CN_EINVAL with a detail (cn_err). */
    int (*build)(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key);
    /* Optional: reads a `submit --from` file ("-": stdin) in a format of the
       kind's own (download: URL lists, CSV), adding jobs to l with options o;
       JSON lines it hands to cn_submit_from_buf (submit.h). */
    int (*read_from)(struct cn_joblist *l, const char *path, const struct cn_job_opts *o);
    struct cn_cli_kind *next;
} cn_cli_kind_t;

void cn_cli_kind_register(cn_cli_kind_t *k);
const cn_cli_kind_t *cn_cli_kind_find(const char *name);
const cn_cli_kind_t *cn_cli_kind_next(const cn_cli_kind_t *prev);

/* Helpers for build() (cli/kinds.c). Each returns 0, with def when the key is
   absent, or CN_EINVAL with a detail naming the key. Values may be JSON numbers,
   booleans or strings ("20", "true"). */
const char *cn_kind_arg_str(const cn_json_obj_t *args, const char *key);
int cn_kind_arg_u64(const cn_json_obj_t *args, const char *key, uint64_t def, uint64_t *out);
int cn_kind_arg_bool(const cn_json_obj_t *args, const char *key, bool def, bool *out);
/* CN_EINVAL naming the first key of args that is not in known (NULL-terminated). */
int cn_kind_args_only(const cn_json_obj_t *args, const char *kind, const char *const *known);

#define CN_CLI_KIND(var)                                                                                     \
    static void cn_cli_kind_reg_##var(void) __attribute__((constructor));                                    \
    static void cn_cli_kind_reg_##var(void) {                                                                \
        cn_cli_kind_register(&(var));                                                                        \
    }

#endif
