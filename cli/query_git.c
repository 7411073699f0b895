/* query_git.c: canopy query projects|log|heads|commits|changes|file. */
#include "cli.h"

#include <stdio.h>

int cn_query_git(const cn_cli_t *g, const char *what, int argc, char **argv) {
    (void)g;
    (void)argc;
    (void)argv;
    fprintf(stderr, "canopy: query %s is not built yet\n", what);
    return 2;
}
