/* kind_sleep.c: `canopy submit sleep MS [--fail_attempts N] [--fatal true]
   [--message TEXT] [--bytes N]`: a job that sleeps, and fails its first N attempts
   when asked (the cluster's retry, timeout and cancellation tests); --bytes makes
   it report byte progress too (the progress tests). Registered at start. */
#include "kinds.h"

#include "errors.h"
#include "wire.h"

#include <stdlib.h>

static const char *const sleep_pos[] = {"ms", NULL};
static const char *const sleep_known[] = {"ms", "fail_attempts", "fatal", "message", "bytes", NULL};

static int sleep_build(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key) {
    (void)serial_key;
    uint64_t ms, fails, bytes;
    bool fatal;
    int rc = cn_kind_args_only(args, "sleep", sleep_known);
    if (!rc) rc = cn_kind_arg_u64(args, "ms", 0, &ms);
    if (!rc) rc = cn_kind_arg_u64(args, "fail_attempts", 0, &fails);
    if (!rc) rc = cn_kind_arg_bool(args, "fatal", false, &fatal);
    if (!rc) rc = cn_kind_arg_u64(args, "bytes", 0, &bytes);
    if (rc) return rc;
    if (ms > 24u * 3600 * 1000)
        return cn_err(CN_EINVAL, "sleep ms must be at most a day (%llu)", (unsigned long long)ms);
    if (fails > UINT32_MAX) return cn_err(CN_EINVAL, "fail_attempts is too large");
    Canopy__SleepSpec m = CANOPY__SLEEP_SPEC__INIT;
    m.ms = (uint32_t)ms;
    m.fail_attempts = (uint32_t)fails;
    m.fatal = fatal;
    m.bytes = bytes;
    const char *msg = cn_kind_arg_str(args, "message");
    if (msg) m.message = (char *)msg;
    cn_rec_pack(&m.base, spec);
    return 0;
}

static cn_cli_kind_t sleep_kind = {
    .name = "sleep",
    .positional = sleep_pos,
    .usage = "sleep MS [--fail_attempts N] [--fatal true] [--message TEXT] [--bytes N]",
    .build = sleep_build,
};
CN_CLI_KIND(sleep_kind)
