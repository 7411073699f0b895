/* repo.c: keys and records of the download family (see repo.h and REPO.md).
   Every writer here only queues into a batch; every reader takes an opened
   shard, so the same code serves workers, queries and the merge. Stateless. */
#include "repo.h"

#include "errors.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

/* A file over the size limit is recorded under oid | this byte. */
#define CONTENT_INFO_SUFFIX 'i'

void cn_repo_path_hash(const void *path, size_t n, uint8_t out[CN_REPO_PATH_HASH_LEN]) {
    uint8_t h[CN_HASH_LEN];
    cn_blake2b(path, n, h);
    memcpy(out, h, CN_REPO_PATH_HASH_LEN);
}

void cn_repo_project_key(uint8_t out[CN_REPO_PROJECT_KEY_LEN], uint64_t project_id, uint64_t lease_seq) {
    cn_put_be64(out, project_id);
    cn_put_be64(out + 8, lease_seq);
}

static void put_msg(cn_batch_t *b, cn_cf_t cf, const void *key, size_t klen, const ProtobufCMessage *m) {
    cn_buf_t v = {0};
    cn_rec_pack(m, &v);
    cn_batch_put(b, cf, key, klen, v.data, v.len);
    cn_buf_free(&v);
}

void cn_repo_put_commit(cn_batch_t *b, const Canopy__Commit *c) {
    put_msg(b, CN_CF_COMMITS, c->oid.data, c->oid.len, &c->base);
}

void cn_repo_put_changes(cn_batch_t *b, const uint8_t commit_oid[CN_REPO_OID_LEN],
                         const Canopy__Changes *ch) {
    put_msg(b, CN_CF_CHANGES, commit_oid, CN_REPO_OID_LEN, &ch->base);
}

void cn_repo_put_path(cn_batch_t *b, const uint8_t hash[CN_REPO_PATH_HASH_LEN], const void *path, size_t n) {
    Canopy__PathName p;
    canopy__path_name__init(&p);
    p.path.data = (uint8_t *)path;
    p.path.len = n;
    put_msg(b, CN_CF_PATHS, hash, CN_REPO_PATH_HASH_LEN, &p.base);
}

void cn_repo_put_user(cn_batch_t *b, const char *name, const char *email) {
    uint8_t key[CN_REPO_USER_KEY_LEN], h[CN_HASH_LEN];
    cn_blake2b(email, strlen(email), h);
    memcpy(key, h, 16);
    cn_blake2b(name, strlen(name), h);
    memcpy(key + 16, h, 16);
    Canopy__User u;
    canopy__user__init(&u);
    u.name.data = (uint8_t *)name;
    u.name.len = strlen(name);
    u.email.data = (uint8_t *)email;
    u.email.len = strlen(email);
    put_msg(b, CN_CF_USERS, key, sizeof key, &u.base);
}

void cn_repo_put_content(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], const void *data, size_t n) {
    cn_blob_put(b, oid, CN_REPO_OID_LEN, data, n, NULL);
}

void cn_repo_put_content_delta(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], const void *data, size_t n,
                               const uint8_t base_oid[CN_REPO_OID_LEN], const void *base, size_t base_n,
                               unsigned base_depth) {
    cn_blob_put_delta(b, oid, CN_REPO_OID_LEN, data, n, base_oid, CN_REPO_OID_LEN, base, base_n, base_depth);
}

void cn_repo_put_content_info(cn_batch_t *b, const uint8_t oid[CN_REPO_OID_LEN], uint64_t size) {
    uint8_t key[CN_REPO_OID_LEN + 1];
    memcpy(key, oid, CN_REPO_OID_LEN);
    key[CN_REPO_OID_LEN] = CONTENT_INFO_SUFFIX;
    Canopy__ContentInfo ci;
    canopy__content_info__init(&ci);
    ci.size = size;
    ci.stored = false;
    cn_buf_t v = {0};
    cn_rec_pack(&ci.base, &v);
    /* Stored as a (tiny) blob so that every value of the family has one format. */
    cn_blob_put(b, key, sizeof key, v.data, v.len, NULL);
    cn_buf_free(&v);
}

void cn_repo_put_heads(cn_batch_t *b, const Canopy__Heads *h) {
    uint8_t key[CN_REPO_PROJECT_KEY_LEN];
    cn_repo_project_key(key, h->project_id, h->lease_seq);
    put_msg(b, CN_CF_HEADS, key, sizeof key, &h->base);
}

void cn_repo_put_log(cn_batch_t *b, const Canopy__ProjectLog *l) {
    uint8_t key[CN_REPO_PROJECT_KEY_LEN];
    cn_repo_project_key(key, l->project_id, l->lease_seq);
    put_msg(b, CN_CF_PROJLOG, key, sizeof key, &l->base);
}

void cn_repo_put_project(cn_batch_t *b, uint64_t id, const char *url) {
    uint8_t key[8];
    cn_put_be64(key, id);
    Canopy__Project p;
    canopy__project__init(&p);
    p.id = id;
    p.url = (char *)url;
    put_msg(b, CN_CF_PROJECTS, key, sizeof key, &p.base);
}

/* ---- readers ---- */

static int get_msg(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen,
                   const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
    cn_buf_t v = {0};
    *out = NULL;
    int rc = cn_shard_get(s, cf, key, klen, &v);
    if (rc == 0) rc = cn_rec_unpack(d, v.data, v.len, out);
    cn_buf_free(&v);
    return rc;
}

int cn_repo_get_commit(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], Canopy__Commit **out) {
    return get_msg(s, CN_CF_COMMITS, oid, CN_REPO_OID_LEN, &canopy__commit__descriptor,
                   (ProtobufCMessage **)out);
}

int cn_repo_get_changes(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], Canopy__Changes **out) {
    return get_msg(s, CN_CF_CHANGES, oid, CN_REPO_OID_LEN, &canopy__changes__descriptor,
                   (ProtobufCMessage **)out);
}

int cn_repo_get_path(cn_shard_t *s, const uint8_t hash[CN_REPO_PATH_HASH_LEN], cn_buf_t *out) {
    Canopy__PathName *p = NULL;
    int rc = get_msg(s, CN_CF_PATHS, hash, CN_REPO_PATH_HASH_LEN, &canopy__path_name__descriptor,
                     (ProtobufCMessage **)&p);
    if (rc == 0) cn_buf_append(out, p->path.data, p->path.len);
    if (p) cn_rec_free(&p->base);
    return rc;
}

int cn_repo_get_content(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], size_t max, cn_buf_t *out,
                        uint64_t *size) {
    int rc = cn_blob_get(s, oid, CN_REPO_OID_LEN, max, out);
    if (rc != CN_ENOTFOUND) return rc;
    uint8_t key[CN_REPO_OID_LEN + 1];
    memcpy(key, oid, CN_REPO_OID_LEN);
    key[CN_REPO_OID_LEN] = CONTENT_INFO_SUFFIX;
    cn_buf_t v = {0};
    rc = cn_blob_get(s, key, sizeof key, 1024, &v);
    if (rc == 0) {
        Canopy__ContentInfo *ci = NULL;
        rc = cn_rec_unpack(&canopy__content_info__descriptor, v.data, v.len, (ProtobufCMessage **)&ci);
        if (rc == 0) {
            if (size) *size = ci->size;
            rc = cn_err(CN_ETOOBIG, "the file is %llu bytes, over the size limit: stored without its bytes",
                        (unsigned long long)ci->size);
        }
        cn_rec_free(ci ? &ci->base : NULL);
    }
    cn_buf_free(&v);
    return rc;
}

bool cn_repo_has_content(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN]) {
    if (cn_shard_has(s, CN_CF_BLOBS, oid, CN_REPO_OID_LEN)) return true;
    uint8_t key[CN_REPO_OID_LEN + 1];
    memcpy(key, oid, CN_REPO_OID_LEN);
    key[CN_REPO_OID_LEN] = CONTENT_INFO_SUFFIX;
    return cn_shard_has(s, CN_CF_BLOBS, key, sizeof key);
}

int cn_repo_content_depth(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN], unsigned *depth) {
    int rc = cn_blob_depth(s, oid, CN_REPO_OID_LEN, depth);
    if (rc != CN_ENOTFOUND) return rc;
    uint8_t key[CN_REPO_OID_LEN + 1];
    memcpy(key, oid, CN_REPO_OID_LEN);
    key[CN_REPO_OID_LEN] = CONTENT_INFO_SUFFIX;
    if (cn_shard_has(s, CN_CF_BLOBS, key, sizeof key))
        return cn_err(CN_ETOOBIG, "the file is over the size limit: stored without its bytes");
    return rc;
}

bool cn_repo_has_commit(cn_shard_t *s, const uint8_t oid[CN_REPO_OID_LEN]) {
    return cn_shard_has(s, CN_CF_COMMITS, oid, CN_REPO_OID_LEN);
}

int cn_repo_get_project(cn_shard_t *s, uint64_t id, Canopy__Project **out) {
    uint8_t key[8];
    cn_put_be64(key, id);
    return get_msg(s, CN_CF_PROJECTS, key, sizeof key, &canopy__project__descriptor,
                   (ProtobufCMessage **)out);
}

int cn_repo_newest_heads(cn_shard_t *s, uint64_t project_id, cn_repo_heads_filter_t keep, void *arg,
                         Canopy__Heads **out) {
    uint8_t prefix[8];
    cn_put_be64(prefix, project_id);
    cn_iter_t *it = NULL;
    *out = NULL;
    int rc = cn_iter_new(s, CN_CF_HEADS, prefix, sizeof prefix, &it);
    if (rc < 0) return rc;
    rc = CN_ENOTFOUND;
    for (cn_iter_seek_last(it); cn_iter_valid(it); cn_iter_prev(it)) {
        size_t vl = 0;
        const uint8_t *v = cn_iter_value(it, &vl);
        Canopy__Heads *h = NULL;
        int r = cn_rec_unpack(&canopy__heads__descriptor, v, vl, (ProtobufCMessage **)&h);
        if (r < 0) {
            if (keep) continue; /* a reader of live records goes on to an older one */
            rc = r;
            break;
        }
        if (!keep || keep(arg, h)) {
            *out = h;
            rc = 0;
            break;
        }
        cn_rec_free(&h->base);
    }
    cn_iter_destroy(&it);
    return rc;
}

int cn_repo_latest_heads(cn_shard_t *s, uint64_t project_id, Canopy__Heads **out) {
    return cn_repo_newest_heads(s, project_id, NULL, NULL, out);
}

int cn_repo_each_log(cn_shard_t *s, uint64_t project_id, int (*cb)(void *arg, Canopy__ProjectLog *l),
                     void *arg) {
    uint8_t prefix[8];
    cn_put_be64(prefix, project_id);
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(s, CN_CF_PROJLOG, prefix, sizeof prefix, &it);
    if (rc < 0) return rc;
    for (; rc == 0 && cn_iter_valid(it); cn_iter_next(it)) {
        size_t vl = 0;
        const uint8_t *v = cn_iter_value(it, &vl);
        Canopy__ProjectLog *l = NULL;
        rc = cn_rec_unpack(&canopy__project_log__descriptor, v, vl, (ProtobufCMessage **)&l);
        if (rc == 0) rc = cb(arg, l);
    }
    cn_iter_destroy(&it);
    return rc;
}

int cn_repo_each_project(cn_shard_t *s, int (*cb)(void *arg, Canopy__Project *p), void *arg) {
    cn_iter_t *it = NULL;
    int rc = cn_iter_new(s, CN_CF_PROJECTS, NULL, 0, &it);
    if (rc < 0) return rc;
    for (; rc == 0 && cn_iter_valid(it); cn_iter_next(it)) {
        size_t vl = 0;
        const uint8_t *v = cn_iter_value(it, &vl);
        Canopy__Project *p = NULL;
        rc = cn_rec_unpack(&canopy__project__descriptor, v, vl, (ProtobufCMessage **)&p);
        if (rc == 0) rc = cb(arg, p);
    }
    cn_iter_destroy(&it);
    return rc;
}
