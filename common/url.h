/* url.h: canonical repository URLs. The CLI canonicalises every URL a user
   submits (it is the download's serial key, so one canonical URL is one project
   id forever) and the worker checks the spec's URL again before fetching.
   Pure functions, thread-safe. */
#ifndef CN_URL_H
#define CN_URL_H

#include <stdbool.h>
#include <stddef.h>

#define CN_URL_MAX 4096

/* Canonicalises a repository location into *out (malloc'd, owned by the caller):
   - scheme lower-cased; git+ssh/ssh+git become ssh; only https, http, git, ssh
     and file are allowed (CN_EUNSUPPORTED otherwise);
   - host lower-cased, default ports dropped, credentials dropped (an ssh user
     name is kept: it is part of how the repository is reached);
   - `user@host:owner/repo` (scp form) becomes ssh://user@host/owner/repo;
   - path: repeated slashes collapsed, "." and ".." resolved, trailing slashes
     and (for network schemes) one ".git" suffix removed, query and fragment
     dropped;
   - a local path (absolute, or relative to cwd) becomes file:///abs/path; a
     file:// path keeps a ".git" suffix because it names a real directory.
   cwd may be NULL (use the process's working directory). Returns 0, or
   CN_EINVAL / CN_EUNSUPPORTED with a detail (cn_err) saying what is wrong. */
int cn_url_canonical(const char *in, const char *cwd, char **out);

/* True when a canonical URL is file:// (a repository on this machine). */
bool cn_url_is_file(const char *canonical);

/* Lists of repository URLs (`canopy submit download --from FILE`): either one
   URL per line (blank lines and lines starting with # are skipped) or a CSV
   whose header row has a "url" column (any case; other columns ignored; fields
   may be quoted with "" as the escape). Calls add(arg, url, line) for each URL
   (url is NUL-terminated, not yet canonical; add returns 0 or an error that
   stops the parse). Returns 0, CN_EAGAIN when the data is JSON lines (the first
   entry starts with '{': the caller's generic reader handles those), or
   CN_EINVAL naming the line. Never trusts its input (fuzzed). */
int cn_url_list_parse(const char *data, size_t n, int (*add)(void *arg, const char *url, size_t line),
                      void *arg);

#endif
