/* fsck.c: checks a shard's data (canopy fsck): RocksDB block checksums on every
   read, every blob decompresses (a delta through its bases) and hashes to its
   key, every record of a family with a known record type decodes, every commit
   record's pointers exist and every pointer record names a committed job, every
   feed record decodes and names records that exist. Read-only; blocks on disk I/O. */
#include "shard_int.h"

#include "errors.h"
#include "hash.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    cn_shard_t *s;
    void (*cb)(void *arg, const char *problem);
    void *arg;
    cn_fsck_report_t *r;
} fsck_t;

/* The record type of each family whose layout shard.h fixes. Families that
   their modules lay out (scanidx, sync, chunks, defs, refs) add theirs here. */
static const ProtobufCMessageDescriptor *const family_record[CN_CF_COUNT_] = {
    [CN_CF_JOBS] = &canopy__job_commit__descriptor,
    [CN_CF_COMMITS] = &canopy__commit__descriptor,
    [CN_CF_CHANGES] = &canopy__changes__descriptor,
    [CN_CF_PATHS] = &canopy__path_name__descriptor,
    [CN_CF_USERS] = &canopy__user__descriptor,
    [CN_CF_HEADS] = &canopy__heads__descriptor,
    [CN_CF_PROJLOG] = &canopy__project_log__descriptor,
    [CN_CF_PROJECTS] = &canopy__project__descriptor,
    [CN_CF_JOURNAL] = &canopy__journal_entry__descriptor,
};

static void problem(fsck_t *f, cn_cf_t cf, const uint8_t *key, size_t kl, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void problem(fsck_t *f, cn_cf_t cf, const uint8_t *key, size_t kl, const char *fmt, ...) {
    f->r->problems++;
    if (!f->cb) return;
    char hex[2 * 40 + 1];
    cn_hex(key, CN_MIN(kl, 40u), hex);
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char *msg = cn_xasprintf("%s %s%s: %s", cn_cf_name(cf), hex, kl > 40 ? "..." : "", what);
    f->cb(f->arg, msg);
    free(msg);
}

static void check_blob(fsck_t *f, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    f->r->blobs_checked++;
    cn_buf_t out = {0};
    int kind = 0;
    /* A delta is rebuilt through its bases (v is its own value: not read again):
       a missing or broken base, or a cycle, is this blob's problem. */
    int rc = vl >= 1 && v[0] == CN_BLOB_DELTA ? cn_blob_get_held(f->s, k, kl, v, vl, CN_RECORD_MAX, &out)
                                              : cn_blob_decode(v, vl, CN_RECORD_MAX, &out, &kind);
    if (rc < 0) {
        problem(f, CN_CF_BLOBS, k, kl, "does not decompress: %s", cn_err_detail());
    } else if (kind == CN_BLOB_HASHED) {
        uint8_t h[CN_HASH_LEN];
        cn_blake2b(out.data, out.len, h);
        if (kl != CN_HASH_LEN || memcmp(h, k, CN_HASH_LEN) != 0)
            problem(f, CN_CF_BLOBS, k, kl, "the content's BLAKE2b-256 does not match its key");
    }
    cn_buf_free(&out);
}

/* A pointer record (heads, projlog, a committed journal entry) must name a job
   whose commit record exists. */
static void check_names_commit(fsck_t *f, cn_cf_t cf, const uint8_t *k, size_t kl, uint64_t job_id,
                               uint64_t lease_seq) {
    uint8_t jk[16];
    cn_put_be64(jk, job_id);
    cn_put_be64(jk + 8, lease_seq);
    if (job_id == 0)
        problem(f, cf, k, kl, "names no job (job_id 0)");
    else if (!cn_shard_has(f->s, CN_CF_JOBS, jk, sizeof jk))
        problem(f, cf, k, kl, "names job %llu lease %llu, which has no commit record",
                (unsigned long long)job_id, (unsigned long long)lease_seq);
}

static void check_job_commit(fsck_t *f, const uint8_t *k, size_t kl, const Canopy__JobCommit *jc) {
    f->r->commits_checked++;
    if (kl != 16 || cn_get_be64(k) != jc->job_id || cn_get_be64(k + 8) != jc->lease_seq)
        problem(f, CN_CF_JOBS, k, kl, "the key does not match job %llu lease %llu of the record",
                (unsigned long long)jc->job_id, (unsigned long long)jc->lease_seq);
    for (size_t i = 0; i < jc->n_pointer; i++) {
        const Canopy__PointerRef *p = jc->pointer[i];
        /* Rows of derived tables may be dropped and rebuilt: not evidence. */
        if (p->cf < CN_CF_COUNT_ && cn_cf_mutable((cn_cf_t)p->cf)) continue;
        if (p->cf >= CN_CF_COUNT_ || !cn_shard_has(f->s, (cn_cf_t)p->cf, p->key.data, p->key.len))
            problem(f, CN_CF_JOBS, k, kl, "pointer %zu (family %s) of job %llu is missing", i,
                    cn_cf_name((cn_cf_t)p->cf), (unsigned long long)jc->job_id);
    }
}

static void check_meta(fsck_t *f, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    const ProtobufCMessageDescriptor *d = NULL;
    size_t sl = strlen(CN_META_SESSION), pl = strlen(CN_META_SAVEPOINT);
    if (kl == strlen(CN_META_STAMP) && memcmp(k, CN_META_STAMP, kl) == 0)
        d = &canopy__stamp__descriptor;
    else if (kl == sl + 8 && memcmp(k, CN_META_SESSION, sl) == 0)
        d = &canopy__session__descriptor;
    else if (kl > pl && memcmp(k, CN_META_SAVEPOINT, pl) == 0)
        d = &canopy__savepoint__descriptor;
    if (!d) return; /* other modules' keys (watermarks, ...) */
    ProtobufCMessage *m = NULL;
    if (cn_rec_unpack(d, v, vl, &m) < 0) {
        problem(f, CN_CF_META, k, kl, "does not decode as %s", d->short_name);
        return;
    }
    if (d == &canopy__savepoint__descriptor) {
        const Canopy__Savepoint *sp = (const Canopy__Savepoint *)m;
        char *path = cn_path_join(f->s->dir, sp->dir);
        struct stat st;
        if (stat(path, &st) != 0) problem(f, CN_CF_META, k, kl, "savepoint directory %s is missing", sp->dir);
        free(path);
    }
    cn_rec_free(m);
}

static void check_record(fsck_t *f, cn_cf_t cf, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    const ProtobufCMessageDescriptor *d = family_record[cf];
    /* Journal entries (journal_id BE64) and their commit markers (+ 'C') are
       JournalEntry records; other keys are the scan module's (JOURNAL.md). */
    if (cf == CN_CF_JOURNAL && kl != 8 && !(kl == 9 && k[8] == 'C')) return;
    ProtobufCMessage *m = NULL;
    if (cn_rec_unpack(d, v, vl, &m) < 0) {
        problem(f, cf, k, kl, "does not decode as %s: %s", d->short_name, cn_err_detail());
        return;
    }
    if (cf == CN_CF_JOBS) {
        check_job_commit(f, k, kl, (const Canopy__JobCommit *)m);
    } else if (cf == CN_CF_HEADS) {
        const Canopy__Heads *h = (const Canopy__Heads *)m;
        check_names_commit(f, cf, k, kl, h->job_id, h->lease_seq);
    } else if (cf == CN_CF_PROJLOG) {
        const Canopy__ProjectLog *l = (const Canopy__ProjectLog *)m;
        check_names_commit(f, cf, k, kl, l->job_id, l->lease_seq);
    } else if (cf == CN_CF_JOURNAL) {
        const Canopy__JournalEntry *e = (const Canopy__JournalEntry *)m;
        if (e->committed && e->cause && e->cause->job_id)
            check_names_commit(f, cf, k, kl, e->cause->job_id, e->cause->lease_seq);
    }
    cn_rec_free(m);
}

/* A feed record: it decodes, and the append-only records it lists exist. */
static void check_feed(fsck_t *f, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
    const uint8_t *p = v, *key;
    size_t klen;
    cn_cf_t cf;
    int rc;
    if (kl != 8) problem(f, CN_CF_FEED, k, kl, "a feed key is not a BE64 counter");
    while ((rc = cn_feed_next(&p, v + vl, &cf, &key, &klen)) > 0)
        if (!cn_cf_mutable(cf) && !cn_shard_has(f->s, cf, key, klen))
            problem(f, CN_CF_FEED, k, kl, "lists a %s record that does not exist", cn_cf_name(cf));
    if (rc < 0) problem(f, CN_CF_FEED, k, kl, "the feed record does not decode");
}

static void check_family(fsck_t *f, cn_cf_t cf) {
    cn_rocks_iter_t *it = NULL;
    if (cn_rocks_iter_new(f->s->db, (int)cf, NULL, 0, &it) < 0) {
        problem(f, cf, NULL, 0, "cannot iterate: %s", cn_err_detail());
        return;
    }
    for (; cn_rocks_iter_valid(it); cn_rocks_iter_next(it)) {
        size_t kl = 0, vl = 0;
        const uint8_t *k = cn_rocks_iter_key(it, &kl);
        const uint8_t *v = cn_rocks_iter_value(it, &vl);
        f->r->records++;
        if (cf == CN_CF_META)
            check_meta(f, k, kl, v, vl);
        else if (cf == CN_CF_BLOBS)
            check_blob(f, k, kl, v, vl);
        else if (cf == CN_CF_FEED)
            check_feed(f, k, kl, v, vl);
        else if (family_record[cf])
            check_record(f, cf, k, kl, v, vl);
    }
    if (cn_rocks_iter_status(it) < 0)
        problem(f, cf, NULL, 0, "the family cannot be read to its end: %s", cn_err_detail());
    cn_rocks_iter_destroy(&it);
}

int cn_shard_fsck(cn_shard_t *s, void (*cb)(void *arg, const char *problem), void *arg,
                  cn_fsck_report_t *report) {
    cn_fsck_report_t local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    fsck_t f = {.s = s, .cb = cb, .arg = arg, .r = report};
    pthread_rwlock_rdlock(&s->cf_lock);
    for (int cf = 0; cf < CN_CF_COUNT_; cf++) check_family(&f, (cn_cf_t)cf);
    pthread_rwlock_unlock(&s->cf_lock);
    if (report->problems)
        return cn_err(CN_ECORRUPT, "shard %s: %llu problems in %llu records", s->dir,
                      (unsigned long long)report->problems, (unsigned long long)report->records);
    return 0;
}
