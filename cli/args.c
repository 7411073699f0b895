/* args.c: option parsing shared by every `canopy` subcommand (see cmd.h): --name
   VALUE / --name=VALUE, the global options, durations, job ids, and the one-line
   error messages. Single-threaded. */
#include "cmd.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cn_arg_help(const char *a) {
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int cn_arg_value(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) return cn_err(CN_EINVAL, "%s needs a value", name);
    *i += 1;
    *val = argv[*i];
    return 1;
}

int cn_arg_global(cn_cli_t *g, int argc, char **argv, int *i) {
    const char *v = NULL;
    int rc;
    if (strcmp(argv[*i], "--json") == 0) {
        g->json = true;
        return 1;
    }
    if ((rc = cn_arg_value(argc, argv, i, "--data", &v)) != 0) {
        if (rc == 1) g->data = v;
        return rc;
    }
    if ((rc = cn_arg_value(argc, argv, i, "--coordinator", &v)) != 0) {
        if (rc == 1) g->coordinator = v;
        return rc;
    }
    return 0;
}

int cn_usage_error(const char *usage, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "canopy: %s\n", msg);
    if (usage) fprintf(stderr, "usage: %s\n", usage);
    return CN_EXIT_USAGE;
}

int cn_fail(int code) {
    const char *d = cn_err_detail();
    fprintf(stderr, "canopy: %s\n", d && *d ? d : cn_strerror(code));
    return CN_EXIT_FAIL;
}

int cn_print_help(const char *usage) {
    fputs(usage, stdout);
    if (usage[0] && usage[strlen(usage) - 1] != '\n') fputc('\n', stdout);
    return 0;
}

bool cn_parse_duration_ms(const char *s, uint64_t *ms) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0 || !isfinite(v)) return false;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return false;
    double r = v * mult;
    if (r > 1e15) return false;
    *ms = (uint64_t)(r + 0.5);
    return true;
}

bool cn_parse_job_id(const char *s, uint64_t *id) {
    if (s && *s == '#') s++;
    return cn_parse_u64(s, id) && *id > 0;
}
