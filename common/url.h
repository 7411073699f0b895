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

#endif
