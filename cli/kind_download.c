/* kind_download.c: `canopy submit download URL... [--max_file_size N]
   [--allow_partial true]`: one download job per URL. The URL is canonicalised
   here (a local path becomes file:///abs/path) and is the job's serial key, so
   the coordinator gives each repository one project id forever. Also reads
   --from files that are plain URL lists or CSV (its read_from). */
#include "kinds.h"
#include "submit.h"

#include "errors.h"
#include "url.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const download_pos[] = {"url", NULL};
static const char *const download_known[] = {"url", "max_file_size", "allow_partial", NULL};

static int download_build(const cn_json_obj_t *args, cn_buf_t *spec, char **serial_key) {
    uint64_t max_file;
    bool partial;
    int rc = cn_kind_args_only(args, "download", download_known);
    if (!rc) rc = cn_kind_arg_u64(args, "max_file_size", 0, &max_file);
    if (!rc) rc = cn_kind_arg_bool(args, "allow_partial", false, &partial);
    if (rc) return rc;
    const char *url = cn_kind_arg_str(args, "url");
    if (!url) return cn_err(CN_EINVAL, "download needs a repository URL or path");
    char *canon = NULL;
    if ((rc = cn_url_canonical(url, NULL, &canon)) < 0) return rc;
    Canopy__DownloadSpec m = CANOPY__DOWNLOAD_SPEC__INIT;
    m.url = canon;
    m.max_file_size = max_file;
    m.allow_partial = partial;
    cn_rec_pack(&m.base, spec);
    *serial_key = canon;
    return 0;
}

static cn_cli_kind_t download_kind;

typedef struct {
    cn_joblist_t *l;
    const cn_job_opts_t *o;
    const char *path;
    bool named; /* the error names path and line already */
} input_t;

static int add_url(void *arg, const char *url, size_t line) {
    input_t *in = arg;
    cn_json_pair_t pair = {(char *)"url", (char *)url, CN_JSON_STR};
    cn_json_obj_t args = {&pair, 1};
    int rc = cn_submit_add(in->l, &download_kind, &args, in->o);
    in->named = rc < 0;
    if (rc < 0) return cn_err(rc, "%s:%zu: %s", in->path, line, cn_err_detail());
    return 0;
}

/* A --from file: a plain list of URLs or a CSV with a "url" column; JSON
   lines are handed to the JSON-lines reader with the bytes already read. */
static int download_read_from(cn_joblist_t *l, const char *path, const cn_job_opts_t *o) {
    cn_buf_t data = {0};
    const char *file = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
    int rc = cn_read_file(file, CN_SUBMIT_FROM_MAX, &data);
    if (rc < 0) {
        cn_buf_free(&data);
        return cn_err(rc, "cannot read %s: %s", path, cn_err_detail());
    }
    input_t in = {l, o, path, false};
    rc = cn_url_list_parse((const char *)data.data, data.len, add_url, &in);
    if (rc == CN_EAGAIN)
        rc = cn_submit_from_buf(l, &data, path, "download", o);
    else if (rc < 0 && !in.named) /* the list's own complaint */
        rc = cn_err(rc, "%s: %s", path, cn_err_detail());
    cn_buf_free(&data);
    return rc;
}

static cn_cli_kind_t download_kind = {
    .name = "download",
    .positional = download_pos,
    .repeat_last = true,
    .usage =
        "download URL... [--max_file_size BYTES] [--allow_partial true]  (--from: URLs, CSV or JSON lines)",
    .build = download_build,
    .read_from = download_read_from,
};
CN_CLI_KIND(download_kind)
