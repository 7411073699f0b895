/* query_scan.c: canopy query scan SPACE [--ls PATH|--stat PATH|--find PAT|--diff A B]. */
#include "cli.h"

#include <stdio.h>

int cn_query_scan(const cn_cli_t *g, int argc, char **argv) {
    (void)g;
    (void)argc;
    (void)argv;
    fprintf(stderr, "canopy: query scan is not built yet\n");
    return 2;
}
