/* dlrecords.c: the records of one downloaded commit, built on the download's
   store thread (dlstore.c) from what the walk handed over: the commit object
   and its changes (paths as bytes). Interns paths and users once per store
   (in-memory sets), then queues Changes before Commit, so a stored commit
   always has its changes. */
#include "dlstore.h"

#include "hash.h"
#include "repo.h"
#include "util.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define CHANGE_KEY_LEN (CN_REPO_PATH_HASH_LEN + CN_OID_LEN)

void cn_dlrec_init(cn_dlrec_t *r) {
    memset(r, 0, sizeof *r);
    cn_keyset_init(&r->paths, CN_REPO_PATH_HASH_LEN);
    cn_keyset_init(&r->users, 16);
}

void cn_dlrec_free(cn_dlrec_t *r) {
    cn_keyset_free(&r->paths);
    cn_keyset_free(&r->users);
    free(r->chg);
    free(r->chgp);
    free(r->keys);
    memset(r, 0, sizeof *r);
}

static void put_user(cn_dlrec_t *r, cn_batch_t *b, const cn_git_sig_t *s) {
    /* In-memory only: 64 bits of the email and 64 of the name say "already queued". */
    uint64_t h[2] = {cn_hash64(s->email, strlen(s->email)), cn_hash64(s->name, strlen(s->name))};
    if (!cn_keyset_add(&r->users, h)) return;
    cn_repo_put_user(b, s->name, s->email);
    r->users_new++;
}

static void fill_sig(Canopy__Signature *out, const cn_git_sig_t *s) {
    canopy__signature__init(out);
    out->name = (ProtobufCBinaryData){strlen(s->name), (uint8_t *)s->name};
    out->email = (ProtobufCBinaryData){strlen(s->email), (uint8_t *)s->email};
    out->time = s->time;
    out->tz_offset_min = s->tz_offset_min;
}

/* The Change records of chg[0..n), with their paths (in paths) interned. */
static void put_changes(cn_dlrec_t *r, cn_batch_t *b, const uint8_t *oid, const uint8_t *paths,
                        const cn_dlchange_t *chg, size_t n) {
    if (n > r->cap) {
        r->cap = n + n / 2 + 16;
        r->chg = cn_xrealloc(r->chg, r->cap * sizeof(Canopy__Change));
        r->chgp = cn_xrealloc(r->chgp, r->cap * sizeof(Canopy__Change *));
        r->keys = cn_xrealloc(r->keys, r->cap * CHANGE_KEY_LEN);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *key = r->keys + i * CHANGE_KEY_LEN;
        const uint8_t *path = paths + chg[i].path_off;
        cn_repo_path_hash(path, chg[i].path_len, key);
        if (cn_keyset_add(&r->paths, key)) {
            cn_repo_put_path(b, key, path, chg[i].path_len);
            r->paths_new++;
        }
        Canopy__Change *ch = (Canopy__Change *)r->chg + i;
        canopy__change__init(ch);
        ch->path_hash = (ProtobufCBinaryData){CN_REPO_PATH_HASH_LEN, key};
        ch->deleted = chg[i].deleted;
        if (!chg[i].deleted) {
            memcpy(key + CN_REPO_PATH_HASH_LEN, chg[i].oid, CN_OID_LEN);
            ch->blob = (ProtobufCBinaryData){CN_OID_LEN, key + CN_REPO_PATH_HASH_LEN};
            ch->mode = chg[i].mode;
        }
        r->chgp[i] = ch;
    }
    Canopy__Changes chs;
    canopy__changes__init(&chs);
    chs.n_change = n;
    chs.change = (Canopy__Change **)r->chgp;
    cn_repo_put_changes(b, oid, &chs);
}

void cn_dlrec_commit(cn_dlrec_t *r, cn_batch_t *b, const uint8_t oid[CN_OID_LEN], const cn_git_commit_t *c,
                     const uint8_t *paths, const cn_dlchange_t *chg, size_t n) {
    put_changes(r, b, oid, paths, chg, n); /* before the commit */
    cn_git_sig_t a, m;
    cn_git_commit_author(c, &a);
    cn_git_commit_committer(c, &m);
    put_user(r, b, &a);
    put_user(r, b, &m);
    Canopy__Signature sa, sm;
    fill_sig(&sa, &a);
    fill_sig(&sm, &m);
    size_t np = cn_git_commit_nparents(c);
    ProtobufCBinaryData parents[8], *pp = np <= 8 ? parents : cn_xcalloc(np, sizeof *pp);
    for (size_t i = 0; i < np; i++)
        pp[i] = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)cn_git_commit_parent(c, i)->id};
    Canopy__Commit rec;
    canopy__commit__init(&rec);
    rec.oid = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)oid};
    rec.n_parents = np;
    rec.parents = pp;
    rec.author = &sa;
    rec.committer = &sm;
    size_t mlen = 0;
    const char *msg = cn_git_commit_message(c, &mlen);
    rec.message = (ProtobufCBinaryData){mlen, (uint8_t *)msg};
    rec.tree = (ProtobufCBinaryData){CN_OID_LEN, (uint8_t *)cn_git_commit_tree(c)->id};
    cn_repo_put_commit(b, &rec);
    if (pp != parents) free(pp);
}
