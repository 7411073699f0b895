/* journal.c: see journal.h and storage/JOURNAL.md. Keys in the journal
   family: journal_id BE64 -> JournalEntry (uncommitted, with metadata), and
   journal_id BE64 | 'C' -> JournalEntry (committed, no metadata): the commit
   marker, which sorts right after its entry. cn_journal_pair is the one place
   that pairs an entry with its marker, over a shard's iterator or the records
   a merge read from a change feed (merge_feed.c). */
#include "journal.h"

#include "errors.h"
#include "hash.h"
#include "wire.h"

#include <pthread.h>
#include <string.h>

/* Orders id allocation + append among slot threads of this process; the
   shard's folder lock keeps other processes out. */
static pthread_mutex_t append_mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t cn_journal_last(cn_shard_t *s) {
    return cn_shard_last_u64(s, CN_CF_JOURNAL);
}

int cn_journal_append(cn_shard_t *s, Canopy__JournalEntry *e, const void *data, size_t n, uint8_t hash[32]) {
    cn_batch_t *b = cn_batch_new();
    cn_blob_put(b, NULL, 0, data, n, hash);
    int rc = cn_shard_append(s, b, false);
    if (rc == 0) {
        e->data_hash.data = hash;
        e->data_hash.len = CN_HASH_LEN;
        e->data.data = NULL;
        e->data.len = 0;
        e->committed = false;
        pthread_mutex_lock(&append_mu);
        e->journal_id = cn_journal_last(s) + 1;
        uint8_t key[8];
        cn_put_be64(key, e->journal_id);
        cn_buf_t v = {0};
        cn_rec_pack(&e->base, &v);
        cn_batch_put(b, CN_CF_JOURNAL, key, sizeof key, v.data, v.len);
        rc = cn_shard_append(s, b, false);
        pthread_mutex_unlock(&append_mu);
        cn_buf_free(&v);
    }
    cn_batch_destroy(&b);
    return rc;
}

void cn_journal_commit(cn_batch_t *b, const Canopy__JournalEntry *e) {
    Canopy__JournalEntry m = CANOPY__JOURNAL_ENTRY__INIT;
    m.journal_id = e->journal_id;
    m.type = e->type;
    m.committed = true;
    m.at_ms = e->at_ms;
    m.cause = e->cause;
    m.data_hash = e->data_hash;
    uint8_t key[9];
    cn_put_be64(key, e->journal_id);
    key[8] = CN_JOURNAL_COMMIT_TAG;
    cn_buf_t v = {0};
    cn_rec_pack(&m.base, &v);
    cn_batch_put(b, CN_CF_JOURNAL, key, sizeof key, v.data, v.len);
    cn_buf_free(&v);
}

static int unpack_entry(const uint8_t *v, size_t vl, uint64_t id, Canopy__JournalEntry **out) {
    ProtobufCMessage *m = NULL;
    int rc = cn_rec_unpack(&canopy__journal_entry__descriptor, v, vl, &m);
    if (rc < 0) return cn_err(CN_ECORRUPT, "journal entry %llu does not decode", (unsigned long long)id);
    *out = (Canopy__JournalEntry *)m;
    uint64_t named = (*out)->journal_id;
    if (named != id) {
        cn_rec_free(m);
        *out = NULL;
        return cn_err(CN_ECORRUPT, "journal entry %llu names id %llu", (unsigned long long)id,
                      (unsigned long long)named);
    }
    return 0;
}

int cn_journal_pair(cn_journal_next_fn next, void *src, cn_journal_cb cb, void *arg) {
    Canopy__JournalEntry *pending = NULL; /* an entry waiting to see if its marker follows */
    const uint8_t *k, *v;
    size_t kl, vl;
    int rc = 0;
    while (rc == 0 && next(src, &k, &kl, &v, &vl)) {
        uint64_t id = kl >= 8 ? cn_get_be64(k) : 0;
        if (kl == 8) {
            if (pending) {
                rc = cb(arg, pending, false);
                cn_rec_free(&pending->base);
                pending = NULL;
            }
            if (rc == 0) rc = unpack_entry(v, vl, id, &pending);
        } else if (kl == 9 && k[8] == CN_JOURNAL_COMMIT_TAG && pending && pending->journal_id == id) {
            rc = cb(arg, pending, true);
            cn_rec_free(&pending->base);
            pending = NULL;
        }
    }
    if (rc == 0 && pending) rc = cb(arg, pending, false);
    if (pending) cn_rec_free(&pending->base);
    return rc;
}

/* A shard's journal family as a cn_journal_next_fn source. */
typedef struct {
    cn_iter_t *it;
    bool started;
} iter_src_t;

static bool iter_next(void *arg, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl) {
    iter_src_t *src = arg;
    if (src->started) cn_iter_next(src->it);
    src->started = true;
    if (!cn_iter_valid(src->it)) return false;
    *k = cn_iter_key(src->it, kl);
    *v = cn_iter_value(src->it, vl);
    return true;
}

int cn_journal_each(cn_shard_t *s, uint64_t from, cn_journal_cb cb, void *arg) {
    iter_src_t src = {0};
    int rc = cn_iter_new(s, CN_CF_JOURNAL, NULL, 0, &src.it);
    if (rc < 0) return rc;
    uint8_t start[8];
    cn_put_be64(start, from);
    cn_iter_seek(src.it, start, sizeof start);
    rc = cn_journal_pair(iter_next, &src, cb, arg);
    cn_iter_destroy(&src.it);
    return rc;
}

int cn_journal_get(cn_shard_t *s, uint64_t journal_id, Canopy__JournalEntry **out, bool *committed) {
    uint8_t key[9];
    cn_put_be64(key, journal_id);
    key[8] = CN_JOURNAL_COMMIT_TAG;
    cn_buf_t v = {0};
    *out = NULL;
    int rc = cn_shard_get(s, CN_CF_JOURNAL, key, 8, &v);
    if (rc == 0) rc = unpack_entry(v.data, v.len, journal_id, out);
    if (rc == 0 && committed) *committed = cn_shard_has(s, CN_CF_JOURNAL, key, 9);
    cn_buf_free(&v);
    return rc;
}

int cn_journal_data(cn_shard_t *s, const Canopy__JournalEntry *e, cn_buf_t *out) {
    if (e->data.len) {
        cn_buf_append(out, e->data.data, e->data.len);
    } else {
        if (e->data_hash.len != CN_HASH_LEN)
            return cn_err(CN_ECORRUPT, "journal entry %llu has no data hash",
                          (unsigned long long)e->journal_id);
        int rc = cn_blob_get(s, e->data_hash.data, CN_HASH_LEN, CN_RECORD_MAX, out);
        if (rc < 0) return rc;
    }
    uint8_t h[CN_HASH_LEN];
    cn_blake2b(out->data, out->len, h);
    if (e->data_hash.len != CN_HASH_LEN || memcmp(h, e->data_hash.data, CN_HASH_LEN) != 0)
        return cn_err(CN_ECORRUPT, "journal entry %llu: data does not match its BLAKE2b-256",
                      (unsigned long long)e->journal_id);
    return 0;
}
