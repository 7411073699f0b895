/* kind_scan.c: `canopy submit scan PATH [--space NAME] [--cross_fs true]`:
   a filesystem scan (DESIGN §5). PATH is made absolute here (the worker may
   run elsewhere); the space defaults to "<host>:<absolute path>" and is the
   job's serial key, so two scans of one space never run at once. */
#include "kinds.h"

#include "errors.h"
#include "wire.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const scan_pos[] = {"path", NULL};
static const char *const scan_known[] = {"path", "space", "cross_fs", NULL};

/* The absolute form of path: resolved when it exists, else joined to the cwd
   (the worker then reports that it does not exist). */
static char *absolute(const char *path) {
    char buf[PATH_MAX];
    if (realpath(path, buf)) return cn_xstrdup(buf);
    if (path[0] == '/') return cn_xstrdup(path);
    if (!getcwd(buf, sizeof buf)) return cn_xstrdup(path);
    return cn_path_join(buf, path);
}

static int scan_build(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key) {
    bool cross_fs;
    int rc = cn_kind_args_only(args, "scan", scan_known);
    if (!rc) rc = cn_kind_arg_bool(args, "cross_fs", false, &cross_fs);
    if (rc) return rc;
    const char *path = cn_kind_arg_str(args, "path");
    if (!path || !path[0]) return cn_err(CN_EINVAL, "scan needs a PATH to scan");
    const char *space = cn_kind_arg_str(args, "space");
    if (space && !space[0]) return cn_err(CN_EINVAL, "scan --space must not be empty");
    char *abs = absolute(path);
    char *sp;
    if (space) {
        sp = cn_xstrdup(space);
    } else {
        char host[256];
        cn_hostname(host, sizeof host);
        sp = cn_xasprintf("%s:%s", host, abs);
    }
    Canopy__ScanSpec m = CANOPY__SCAN_SPEC__INIT;
    m.path = abs;
    m.space = sp;
    m.cross_fs = cross_fs;
    cn_rec_pack(&m.base, spec);
    free(abs);
    *serial_key = sp;
    return 0;
}

static cn_cli_kind_t scan_kind = {
    .name = "scan",
    .positional = scan_pos,
    .usage = "scan PATH [--space NAME] [--cross_fs true]",
    .build = scan_build,
};
CN_CLI_KIND(scan_kind)
