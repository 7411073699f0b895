/* kind_merge.c: `canopy submit merge [--data_dir DIR]`: a merge run by a worker
   (worker/jobs/merge.c) instead of this process. The serial key "merge" keeps
   merges one at a time; the data directory defaults to the worker's. */
#include "kinds.h"

#include "errors.h"
#include "wire.h"

static const char *const merge_pos[] = {NULL};
static const char *const merge_known[] = {"data_dir", NULL};

static int merge_build(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key) {
    int rc = cn_kind_args_only(args, "merge", merge_known);
    if (rc) return rc;
    Canopy__MergeSpec m = CANOPY__MERGE_SPEC__INIT;
    const char *dir = cn_kind_arg_str(args, "data_dir");
    if (dir) m.data_dir = (char *)dir;
    cn_rec_pack(&m.base, spec);
    *serial_key = cn_xstrdup("merge");
    return 0;
}

static cn_cli_kind_t merge_kind = {
    .name = "merge",
    .positional = merge_pos,
    .usage = "merge [--data_dir DIR]                 fold every shard into the merged store",
    .build = merge_build,
};
CN_CLI_KIND(merge_kind)
