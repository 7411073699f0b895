/* savepoint.c: named savepoints (a RocksDB checkpoint under dir/savepoints/<name>,
   recorded in the meta family) and read-only opens "as of" one. Writers only
   create savepoints; anyone may list or open them. Blocks on disk I/O. */
#include "shard_int.h"

#include "errors.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SAVEPOINT_DIR "savepoints"
#define SAVEPOINT_NAME_MAX 64

/* Names become directory names: letters, digits, '.', '_' and '-', not "." or "..". */
static int check_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= SAVEPOINT_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
    }
    if (!ok)
        return cn_err(CN_EINVAL, "savepoint name \"%s\" must be 1-%d letters, digits, '.', '_' or '-'",
                      name ? name : "", SAVEPOINT_NAME_MAX);
    return 0;
}

static char *savepoint_path(const char *dir, const char *name) {
    char *sp = cn_path_join(dir, SAVEPOINT_DIR);
    char *p = cn_path_join(sp, name);
    free(sp);
    return p;
}

int cn_shard_savepoint(cn_shard_t *s, const char *name) {
    int rc = check_name(name);
    if (rc < 0) return rc;
    if (s->read_only) return cn_err(CN_EPERM, "shard %s is open read-only: no savepoints", s->dir);
    char *sp = cn_path_join(s->dir, SAVEPOINT_DIR);
    char *path = cn_path_join(sp, name);
    struct stat st;
    if (stat(path, &st) == 0) {
        rc = cn_err(CN_EEXIST, "savepoint %s of shard %s already exists", name, s->dir);
        goto out;
    }
    if ((rc = cn_mkdir_p(sp)) < 0) goto out;
    uint64_t seq = cn_shard_seq(s);
    if ((rc = cn_rocks_checkpoint(s->db, path)) < 0) goto out;
    Canopy__Savepoint rec;
    canopy__savepoint__init(&rec);
    rec.name = (char *)name;
    rec.at_ms = cn_wall_ms();
    rec.seq = seq;
    char *rel = cn_path_join(SAVEPOINT_DIR, name);
    rec.dir = rel;
    cn_buf_t key = {0}, v = {0};
    cn_buf_append(&key, CN_META_SAVEPOINT, strlen(CN_META_SAVEPOINT));
    cn_buf_append(&key, name, strlen(name));
    cn_rec_pack(&rec.base, &v);
    cn_batch_t *b = cn_batch_new();
    cn_batch_put(b, CN_CF_META, key.data, key.len, v.data, v.len);
    rc = cn_shard_append(s, b, true);
    cn_batch_destroy(&b);
    cn_buf_free(&key);
    cn_buf_free(&v);
    free(rel);
    if (rc == 0) CN_INFO("shard %s: savepoint %s at seq %llu", s->dir, name, (unsigned long long)seq);
out:
    free(path);
    free(sp);
    return rc;
}

static int cmp_savepoints(const void *x, const void *y) {
    const Canopy__Savepoint *a = *(Canopy__Savepoint *const *)x, *b = *(Canopy__Savepoint *const *)y;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    if (a->at_ms != b->at_ms) return a->at_ms < b->at_ms ? -1 : 1;
    return strcmp(a->name, b->name);
}

int cn_shard_savepoints(cn_shard_t *s, Canopy__Savepoint ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(s, CN_CF_META, CN_META_SAVEPOINT, strlen(CN_META_SAVEPOINT), &it);
    if (rc < 0) return rc;
    Canopy__Savepoint **sp = NULL;
    size_t cnt = 0;
    for (; cn_iter_valid(it); cn_iter_next(it)) {
        size_t vl = 0;
        const uint8_t *v = cn_iter_value(it, &vl);
        ProtobufCMessage *m = NULL;
        if ((rc = cn_rec_unpack(&canopy__savepoint__descriptor, v, vl, &m)) < 0) break;
        sp = cn_xrealloc(sp, (cnt + 1) * sizeof *sp);
        sp[cnt++] = (Canopy__Savepoint *)m;
    }
    cn_iter_destroy(&it);
    if (rc < 0) {
        cn_shard_savepoints_free(sp, cnt);
        return cn_err(CN_ECORRUPT, "shard %s: a savepoint record does not decode", s->dir);
    }
    if (cnt) qsort(sp, cnt, sizeof *sp, cmp_savepoints);
    *out = sp;
    *n = cnt;
    return 0;
}

void cn_shard_savepoints_free(Canopy__Savepoint **sp, size_t n) {
    for (size_t i = 0; i < n; i++) cn_rec_free(&sp[i]->base);
    free(sp);
}

int cn_shard_open_savepoint(const char *dir, const char *name, cn_shard_t **out) {
    *out = NULL;
    int rc = check_name(name);
    if (rc < 0) return rc;
    char *path = savepoint_path(dir, name);
    struct stat st;
    if (stat(path, &st) != 0) rc = cn_err(CN_ENOTFOUND, "shard %s has no savepoint %s", dir, name);
    cn_shard_opts_t o = {.read_only = true};
    if (rc == 0) rc = cn_shard_open(path, &o, out);
    free(path);
    return rc;
}
