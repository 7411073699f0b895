/* kind_noop.c: `canopy submit noop`: a job that does nothing (dispatch tests and
   benchmarks). Registered at program start. */
#include "kinds.h"

#include "wire.h"

static const char *const noop_pos[] = {NULL};
static const char *const noop_known[] = {NULL};

static int noop_build(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key) {
    (void)serial_key;
    int rc = cn_kind_args_only(args, "noop", noop_known);
    if (rc) return rc;
    Canopy__NoopSpec m = CANOPY__NOOP_SPEC__INIT;
    cn_rec_pack(&m.base, spec);
    return 0;
}

static cn_cli_kind_t noop_kind = {
    .name = "noop",
    .positional = noop_pos,
    .usage = "noop                                   a job that does nothing",
    .build = noop_build,
};
CN_CLI_KIND(noop_kind)
