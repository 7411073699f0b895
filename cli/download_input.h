/* download_input.h: `canopy submit download --from FILE` for files that are not
   JSON lines: a plain list of URLs or a CSV with a "url" column (the parser is
   cn_url_list_parse in common/url.h). cmd_submit.c calls this when KIND is
   download. Single-threaded. */
#ifndef CN_DOWNLOAD_INPUT_H
#define CN_DOWNLOAD_INPUT_H

#include "submit.h"

/* Reads path ("-": stdin) and adds one download job per URL to l with options
   o. Returns 0, CN_EAGAIN when the file is JSON lines (use cn_submit_from), or
   CN_EINVAL / CN_EUNSUPPORTED naming the file, line and what is wrong. */
int cn_download_input_file(cn_joblist_t *l, const char *path, const cn_job_opts_t *o);

#endif
