/* git_int.h: what git.c shares with git_mirror.c, the other file that calls
   libgit2 (not for use elsewhere). */
#ifndef CN_GIT_INT_H
#define CN_GIT_INT_H

#include "git.h"

/* Maps libgit2's last error to code with "what: libgit2's message" as detail;
   returns code. */
int cn_git_fail(int code, const char *what);

#endif
