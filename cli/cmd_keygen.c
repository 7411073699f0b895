/* cmd_keygen.c: `canopy keygen [--name NAME]`: a CurveZMQ key pair for clusters
   on tcp:// endpoints: <data>/keys/NAME.public and NAME.secret (mode 0600).
   Refuses to overwrite a key unless --force. */
#include "cmd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "canopy keygen [--name NAME] [--force] [--data DIR] [--json]\n\n"
    "Makes a CurveZMQ key pair in DIR/keys/: NAME.public and NAME.secret (0600).\n"
    "NAME defaults to \"client\". Make one named \"coordinator\" on the coordinator's\n"
    "host and copy coordinator.public to every client and worker; copy each\n"
    "client's and worker's NAME.public to the coordinator's keys/allowed/.\n";

static int write_key(const char *path, const char *key, mode_t mode, bool force) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (force ? 0 : O_EXCL) | O_CLOEXEC, mode);
    if (fd < 0)
        return cn_err(CN_ESYS, "cannot write %s: %m%s", path, force ? "" : " (use --force to replace it)");
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", key);
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : cn_err(CN_ESYS, "cannot write %s: %m", path);
}

int cn_cmd_keygen(cn_cli_t *g, int argc, char **argv) {
    const char *name = "client";
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0 && strcmp(argv[i], "--force") == 0) force = true, rc = 1;
        if (rc == 0) rc = cn_arg_value(argc, argv, &i, "--name", &name);
        if (rc <= 0) return cn_usage_error(usage_text, "unexpected argument '%s'", argv[i]);
    }
    if (!*name || strchr(name, '/') || name[0] == '.')
        return cn_usage_error(NULL, "a key name is a plain file name, not '%s'", name);
    char pub[41], sec[41];
    char *dir = cn_path_join(g->data, "keys");
    char *ppath = cn_xasprintf("%s/%s.public", dir, name), *spath = cn_xasprintf("%s/%s.secret", dir, name);
    int rc = cn_mkdir_p(dir);
    if (rc == 0) rc = cn_curve_keypair(pub, sec);
    if (rc == 0) rc = write_key(spath, sec, 0600, force);
    if (rc == 0) rc = write_key(ppath, pub, 0644, force);
    int status = 0;
    if (rc) {
        status = cn_fail(rc);
    } else if (g->json) {
        cn_buf_t b = {0};
        cn_buf_printf(&b, "{\"name\":");
        cn_json_str(&b, name, strlen(name));
        cn_buf_printf(&b, ",\"public\":\"%s\",\"public_file\":", pub);
        cn_json_str(&b, ppath, strlen(ppath));
        cn_buf_printf(&b, ",\"secret_file\":");
        cn_json_str(&b, spath, strlen(spath));
        cn_buf_putc(&b, '}');
        cn_print_buf(&b);
    } else {
        printf("public key %s\n  %s\n  %s (keep it secret)\n", pub, ppath, spath);
    }
    free(ppath);
    free(spath);
    free(dir);
    return status;
}
