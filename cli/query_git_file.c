/* query_git_file.c: canopy query changes COMMIT and canopy query file PROJECT
   COMMIT PATH. A file is found by walking the first-parent chain from COMMIT to
   the nearest commit whose changes name PATH (each commit's changes are against
   its first parent, so that change is the file's state at COMMIT); its bytes are
   printed exactly as git stores them. Single-threaded. */
#include "query_git.h"

#include "cmd.h"
#include "errors.h"
#include "json.h"
#include "util.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cn_qg_changes(const cn_cli_t *g, cn_gv_t *v, const uint8_t oid[20]) {
    Canopy__Changes *ch = NULL;
    char hex[41];
    cn_hex(oid, 20, hex);
    int rc = cn_gv_changes(v, oid, &ch);
    if (rc == CN_ENOTFOUND) rc = cn_err(rc, "commit %s is not in the stores", hex);
    if (rc < 0) return cn_fail(rc);
    cn_buf_t b = {0}, path = {0};
    if (g->json) cn_buf_printf(&b, "{\"commit\":\"%s\",\"changes\":[", hex);
    for (size_t i = 0; i < ch->n_change; i++) {
        const Canopy__Change *c = ch->change[i];
        cn_buf_reset(&path);
        if (c->path_hash.len != CN_REPO_PATH_HASH_LEN || cn_gv_path(v, c->path_hash.data, &path) < 0)
            cn_buf_append(&path, "?", 1);
        char blob[41] = "";
        if (c->blob.len == 20) cn_hex(c->blob.data, 20, blob);
        if (g->json) {
            cn_buf_printf(&b, "%s{", i ? "," : "");
            cn_json_key(&b, "path", true);
            cn_json_str(&b, (const char *)path.data, path.len);
            if (c->deleted)
                cn_buf_printf(&b, ",\"deleted\":true}");
            else
                cn_buf_printf(&b, ",\"blob\":\"%s\",\"mode\":\"%06o\"}", blob, c->mode);
        } else {
            if (c->deleted)
                cn_buf_printf(&b, "deleted %40s ", "");
            else
                cn_buf_printf(&b, "%06o  %s ", c->mode, blob);
            cn_buf_append(&b, path.data, path.len);
            cn_buf_putc(&b, '\n');
        }
    }
    cn_rec_free(&ch->base);
    cn_buf_free(&path);
    if (g->json) {
        cn_buf_append(&b, "]}", 2);
        cn_print_buf(&b);
    } else {
        fwrite(b.data, 1, b.len, stdout);
        cn_buf_free(&b);
    }
    return 0;
}

/* The change of hash in commit oid's changes: 1 found, 0 not named, <0 error. */
static int find_change(cn_gv_t *v, const uint8_t oid[20], const uint8_t *hash, Canopy__Change *out) {
    Canopy__Changes *ch = NULL;
    int rc = cn_gv_changes(v, oid, &ch);
    if (rc < 0) {
        char hex[41];
        cn_hex(oid, 20, hex);
        return cn_err(rc, "commit %s is not in the stores", hex);
    }
    rc = 0;
    for (size_t i = 0; i < ch->n_change && !rc; i++) {
        const Canopy__Change *c = ch->change[i];
        if (c->path_hash.len != CN_REPO_PATH_HASH_LEN ||
            memcmp(c->path_hash.data, hash, CN_REPO_PATH_HASH_LEN))
            continue;
        out->deleted = c->deleted;
        out->mode = c->mode;
        memcpy(out->blob.data, c->blob.data, CN_MIN(c->blob.len, 20u));
        out->blob.len = CN_MIN(c->blob.len, 20u);
        rc = 1;
    }
    cn_rec_free(&ch->base);
    return rc;
}

/* The blob of path at commit (its nearest change on the first-parent chain). */
static int locate(cn_gv_t *v, const uint8_t commit[20], const char *path, uint8_t blob[20], uint32_t *mode) {
    uint8_t hash[CN_REPO_PATH_HASH_LEN], cur[20];
    cn_repo_path_hash(path, strlen(path), hash);
    memcpy(cur, commit, 20);
    uint8_t found_blob[20];
    Canopy__Change c = CANOPY__CHANGE__INIT;
    c.blob.data = found_blob;
    for (;;) {
        int rc = find_change(v, cur, hash, &c);
        if (rc < 0) return rc;
        if (rc == 1) break;
        Canopy__Commit *cm = NULL;
        if ((rc = cn_gv_commit(v, cur, &cm)) < 0)
            return cn_err(rc, "a commit of the history is not in the stores");
        bool root = cm->n_parents == 0 || cm->parents[0].len != 20;
        if (!root) memcpy(cur, cm->parents[0].data, 20);
        cn_rec_free(&cm->base);
        if (root) return cn_err(CN_ENOTFOUND, "no file %s at that commit", path);
    }
    if (c.deleted || c.blob.len != 20)
        return cn_err(CN_ENOTFOUND, "no file %s at that commit (deleted)", path);
    memcpy(blob, found_blob, 20);
    *mode = c.mode;
    return 0;
}

int cn_qg_file(const cn_cli_t *g, cn_gv_t *v, const uint8_t commit[20], const char *path) {
    while (path[0] == '/') path++;
    uint8_t blob[20];
    uint32_t mode = 0;
    int rc = locate(v, commit, path, blob, &mode);
    if (rc < 0) return cn_fail(rc);
    char hex[41];
    cn_hex(blob, 20, hex);
    if (mode == 0160000u) {
        fprintf(stderr, "canopy: %s is a submodule (commit %s), not a file\n", path, hex);
        return CN_EXIT_FAIL;
    }
    cn_buf_t data = {0};
    rc = cn_gv_content(v, blob, &data);
    if (rc == CN_ENOTFOUND) rc = cn_err(rc, "the contents of %s (blob %s) are not in the stores", path, hex);
    if (rc < 0) {
        cn_buf_free(&data);
        return cn_fail(rc);
    }
    if (g->json) {
        cn_buf_t b = {0};
        cn_buf_putc(&b, '{');
        cn_json_key(&b, "path", true);
        cn_json_str(&b, path, strlen(path));
        cn_buf_printf(&b, ",\"blob\":\"%s\",\"mode\":\"%06o\",\"size\":%zu", hex, mode, data.len);
        cn_json_key(&b, "content", false);
        cn_json_str(&b, (const char *)data.data, data.len);
        cn_buf_putc(&b, '}');
        cn_print_buf(&b);
    } else {
        fwrite(data.data, 1, data.len, stdout);
        fflush(stdout);
    }
    cn_buf_free(&data);
    return 0;
}
