/* shard.c: a shard store on top of rocks.h: family names, open/create with the
   stamp and the session log (the command log of writer sessions), point reads,
   iterators, checkpoints and dropping derived families. Appends and job commits
   are in batch.c, blobs in blob.c, savepoints in savepoint.c, fsck in fsck.c.
   Thread-safe for reads and appends; layout in storage/LAYOUT.md. */
#include "shard_int.h"

#include "errors.h"
#include "hash.h"
#include "log.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECONDARY_CACHE_MB 8

static const char *const cf_names[CN_CF_COUNT_] = {
    [CN_CF_META] = "meta",         [CN_CF_JOBS] = "jobs",       [CN_CF_BLOBS] = "blobs",
    [CN_CF_COMMITS] = "commits",   [CN_CF_CHANGES] = "changes", [CN_CF_PATHS] = "paths",
    [CN_CF_USERS] = "users",       [CN_CF_HEADS] = "heads",     [CN_CF_PROJLOG] = "projlog",
    [CN_CF_PROJECTS] = "projects", [CN_CF_JOURNAL] = "journal", [CN_CF_SCANIDX] = "scanidx",
    [CN_CF_SYNC] = "sync",         [CN_CF_CHUNKS] = "chunks",   [CN_CF_DEFS] = "defs",
    [CN_CF_REFS] = "refs",         [CN_CF_FEED] = "feed",
};

const char *cn_cf_name(cn_cf_t cf) {
    return (unsigned)cf < CN_CF_COUNT_ ? cf_names[cf] : "?";
}

bool cn_cf_mutable(cn_cf_t cf) {
    return cf == CN_CF_META || cf == CN_CF_SCANIDX;
}

bool cn_cf_content_addressed(cn_cf_t cf) {
    switch (cf) {
    case CN_CF_BLOBS:
    case CN_CF_COMMITS:
    case CN_CF_CHANGES:
    case CN_CF_PATHS:
    case CN_CF_USERS:
        return true;
    default:
        return false;
    }
}

void cn_stamp_fill(Canopy__Stamp *st) {
    canopy__stamp__init(st);
    st->version = (char *)cn_build_version();
    st->git_commit = (char *)cn_build_commit();
    st->format = CN_SHARD_FORMAT;
}

static int put_record(cn_shard_t *s, const void *key, size_t klen, const ProtobufCMessage *m, bool sync) {
    cn_buf_t v = {0};
    cn_rec_pack(m, &v);
    cn_rocks_batch_t *b = cn_rocks_batch_new();
    cn_rocks_batch_put(b, s->db, CN_CF_META, key, klen, v.data, v.len);
    int rc = cn_rocks_write(s->db, b, sync);
    cn_rocks_batch_destroy(&b);
    cn_buf_free(&v);
    return rc;
}

/* Reads the stamp; a writer creating the shard records this build's. */
static int load_stamp(cn_shard_t *s, bool create) {
    cn_buf_t v = {0};
    int rc = cn_rocks_get(s->db, CN_CF_META, CN_META_STAMP, strlen(CN_META_STAMP), &v);
    if (rc == CN_ENOTFOUND && create && !s->read_only) {
        Canopy__Stamp st;
        cn_stamp_fill(&st);
        cn_rec_pack(&st.base, &v);
        if ((rc = put_record(s, CN_META_STAMP, strlen(CN_META_STAMP), &st.base, true)) < 0) goto out;
        CN_INFO("created shard %s (format %u, canopy %s, commit %s)", s->dir, st.format, st.version,
                st.git_commit);
    } else if (rc == CN_ENOTFOUND) {
        rc = cn_err(CN_ECORRUPT, "%s is not a canopy shard (no stamp in its meta family)", s->dir);
        goto out;
    } else if (rc < 0) {
        goto out;
    }
    ProtobufCMessage *m = NULL;
    if ((rc = cn_rec_unpack(&canopy__stamp__descriptor, v.data, v.len, &m)) < 0) {
        rc = cn_err(CN_ECORRUPT, "the stamp of shard %s does not decode", s->dir);
        goto out;
    }
    s->info.stamp = (Canopy__Stamp *)m;
    if (s->info.stamp->format > CN_SHARD_FORMAT)
        rc = cn_err(CN_EVERSION, "shard %s has format %u, this build (canopy %s) reads up to %u", s->dir,
                    s->info.stamp->format, cn_build_version(), CN_SHARD_FORMAT);
out:
    cn_buf_free(&v);
    return rc;
}

/* Finds the last session: sets unclean_last_session when it never ended, and
   returns the number for the new one. */
static uint64_t last_session(cn_shard_t *s) {
    const size_t plen = strlen(CN_META_SESSION);
    cn_rocks_iter_t *it = NULL;
    cn_rocks_iter_new(s->db, CN_CF_META, CN_META_SESSION, plen, &it);
    cn_rocks_iter_seek_last(it);
    uint64_t n = 0;
    size_t kl = 0, vl = 0;
    if (cn_rocks_iter_valid(it) && (cn_rocks_iter_key(it, &kl), kl == plen + 8)) {
        n = cn_get_be64(cn_rocks_iter_key(it, &kl) + plen);
        const uint8_t *v = cn_rocks_iter_value(it, &vl);
        ProtobufCMessage *m = NULL;
        if (cn_rec_unpack(&canopy__session__descriptor, v, vl, &m) == 0) {
            Canopy__Session *last = (Canopy__Session *)m;
            if (last->end_ms == 0) {
                s->info.unclean_last_session = true;
                CN_WARN("shard %s: the previous writer session (pid %u on %s, worker %s, started at %llu ms) "
                        "did not end cleanly",
                        s->dir, last->pid, last->host, last->worker, (unsigned long long)last->start_ms);
            }
            cn_rec_free(m);
        } else {
            s->info.unclean_last_session = true;
            CN_WARN("shard %s: the last session record does not decode", s->dir);
        }
    }
    cn_rocks_iter_destroy(&it);
    return n;
}

static int begin_session(cn_shard_t *s) {
    uint64_t n = last_session(s) + 1;
    memcpy(s->session_key, CN_META_SESSION, sizeof s->session_key - 8);
    cn_put_be64(s->session_key + sizeof s->session_key - 8, n);
    Canopy__Session *se = cn_xcalloc(1, sizeof *se);
    canopy__session__init(se);
    se->stamp = cn_xcalloc(1, sizeof *se->stamp);
    cn_stamp_fill(se->stamp);
    se->start_ms = cn_wall_ms();
    se->pid = (uint32_t)getpid();
    char host[256];
    cn_hostname(host, sizeof host);
    se->host = cn_xstrdup(host);
    se->worker = cn_xstrdup(s->worker ? s->worker : "");
    s->session = se;
    return put_record(s, s->session_key, sizeof s->session_key, &se->base, true);
}

static void free_session(Canopy__Session *se) {
    if (!se) return;
    free(se->stamp);
    free(se->host);
    free(se->worker);
    free(se);
}

static void free_shard(cn_shard_t *s) {
    cn_rocks_close(&s->db);
    if (s->info.stamp) cn_rec_free(&s->info.stamp->base);
    free_session(s->session);
    pthread_mutex_destroy(&s->append_mu);
    pthread_mutex_destroy(&s->feed_mu);
    pthread_rwlock_destroy(&s->cf_lock);
    free(s->worker);
    free(s->dir);
    free(s);
}

int cn_shard_open(const char *dir, const cn_shard_opts_t *opts, cn_shard_t **out) {
    static const cn_shard_opts_t defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    cn_hash_init();
    cn_shard_t *s = cn_xcalloc(1, sizeof *s);
    s->dir = cn_xstrdup(dir);
    s->read_only = opts->read_only || opts->secondary_dir;
    s->verify_append = opts->verify_append;
    s->worker = opts->worker ? cn_xstrdup(opts->worker) : NULL;
    pthread_mutex_init(&s->append_mu, NULL);
    pthread_mutex_init(&s->feed_mu, NULL);
    s->no_feed = opts->no_feed;
    pthread_rwlock_init(&s->cf_lock, NULL);
    cn_rocks_opts_t ro = {.read_only = s->read_only,
                          .create = opts->create && !s->read_only,
                          .paranoid = opts->paranoid,
                          .secondary_dir = opts->secondary_dir,
                          .only_cfs = opts->only_families ? opts->only_families | 1u << CN_CF_META : 0,
                          /* a secondary answers small lookups: a small cache each */
                          .block_cache_mb = opts->secondary_dir ? SECONDARY_CACHE_MB : 0};
    int rc = cn_rocks_open(dir, cf_names, CN_CF_COUNT_, &ro, &s->db);
    if (rc < 0) goto fail;
    if ((rc = load_stamp(s, opts->create)) < 0) goto fail;
    if (!s->read_only && (rc = begin_session(s)) < 0) goto fail;
    if (!s->read_only && !s->no_feed) s->feed_next = cn_feed_last(s) + 1; /* writers append */
    *out = s;
    return 0;
fail:
    free_shard(s);
    return rc;
}

void cn_shard_close(cn_shard_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_shard_t *s = *self_p;
    if (!s->read_only && s->session) {
        s->session->end_ms = cn_wall_ms();
        if (put_record(s, s->session_key, sizeof s->session_key, &s->session->base, true) < 0)
            CN_WARN("shard %s: cannot record the end of the session: %s", s->dir, cn_err_detail());
    }
    free_shard(s);
    *self_p = NULL;
}

int cn_shard_catch_up(cn_shard_t *s) {
    pthread_rwlock_rdlock(&s->cf_lock); /* as every read: one rule, not a case per call */
    int rc = cn_rocks_catch_up(s->db);
    pthread_rwlock_unlock(&s->cf_lock);
    return rc;
}

int cn_shard_flush_start(cn_shard_t *s) {
    return cn_rocks_flush_start(s->db);
}

const cn_shard_info_t *cn_shard_info(const cn_shard_t *s) {
    return &s->info;
}

const char *cn_shard_dir(const cn_shard_t *s) {
    return s->dir;
}

int cn_shard_get(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen, cn_buf_t *val) {
    return cn_shard_get_head(s, cf, key, klen, SIZE_MAX, val);
}

int cn_shard_get_head(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen, size_t max, cn_buf_t *val) {
    if ((unsigned)cf >= CN_CF_COUNT_) return cn_err(CN_EINVAL, "no family %d", (int)cf);
    pthread_rwlock_rdlock(&s->cf_lock);
    int rc = cn_rocks_get_head(s->db, (int)cf, key, klen, max, val);
    pthread_rwlock_unlock(&s->cf_lock);
    return rc;
}

bool cn_shard_has(cn_shard_t *s, cn_cf_t cf, const void *key, size_t klen) {
    return cn_shard_get(s, cf, key, klen, NULL) == 0;
}

/* ---- iterators ---- */

struct cn_iter {
    cn_rocks_iter_t *it;
};

int cn_iter_new(cn_shard_t *s, cn_cf_t cf, const void *prefix, size_t plen, cn_iter_t **out) {
    *out = NULL;
    if ((unsigned)cf >= CN_CF_COUNT_) return cn_err(CN_EINVAL, "no family %d", (int)cf);
    cn_iter_t *it = cn_xcalloc(1, sizeof *it);
    pthread_rwlock_rdlock(&s->cf_lock);
    int rc = cn_rocks_iter_new(s->db, (int)cf, prefix, plen, &it->it);
    pthread_rwlock_unlock(&s->cf_lock);
    if (rc < 0) {
        free(it);
        return rc;
    }
    *out = it;
    return 0;
}

void cn_iter_seek(cn_iter_t *it, const void *key, size_t klen) {
    cn_rocks_iter_seek(it->it, key, klen);
}
void cn_iter_seek_last(cn_iter_t *it) {
    cn_rocks_iter_seek_last(it->it);
}
bool cn_iter_valid(cn_iter_t *it) {
    return cn_rocks_iter_valid(it->it);
}
void cn_iter_next(cn_iter_t *it) {
    cn_rocks_iter_next(it->it);
}
void cn_iter_prev(cn_iter_t *it) {
    cn_rocks_iter_prev(it->it);
}

const uint8_t *cn_iter_key(cn_iter_t *it, size_t *klen) {
    return cn_rocks_iter_key(it->it, klen);
}

const uint8_t *cn_iter_value(cn_iter_t *it, size_t *vlen) {
    return cn_rocks_iter_value(it->it, vlen);
}

void cn_iter_destroy(cn_iter_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_rocks_iter_destroy(&(*self_p)->it);
    free(*self_p);
    *self_p = NULL;
}

/* ---- whole-shard operations ---- */

int cn_shard_checkpoint(cn_shard_t *s, const char *dst) {
    return cn_rocks_checkpoint(s->db, dst);
}

uint64_t cn_shard_seq(cn_shard_t *s) {
    return cn_rocks_seq(s->db);
}

int cn_shard_drop_cf(cn_shard_t *s, cn_cf_t cf) {
    if ((unsigned)cf >= CN_CF_COUNT_ || cf == CN_CF_META || !cn_cf_mutable(cf))
        return cn_err(CN_EPERM, "family %s is not a derived table and cannot be dropped", cn_cf_name(cf));
    if (s->read_only) return cn_err(CN_EPERM, "shard %s is open read-only", s->dir);
    pthread_rwlock_wrlock(&s->cf_lock);
    int rc = cn_rocks_drop_cf(s->db, (int)cf);
    pthread_rwlock_unlock(&s->cf_lock);
    if (rc == 0) CN_INFO("shard %s: dropped family %s (rebuilt by replay)", s->dir, cn_cf_name(cf));
    return rc;
}

uint64_t cn_shard_last_u64(cn_shard_t *s, cn_cf_t cf) {
    cn_iter_t *it = NULL;
    uint64_t last = 0;
    if (cn_iter_new(s, cf, NULL, 0, &it) < 0) return 0;
    cn_iter_seek_last(it);
    if (cn_iter_valid(it)) {
        size_t kl;
        const uint8_t *k = cn_iter_key(it, &kl);
        if (kl >= 8) last = cn_get_be64(k);
    }
    cn_iter_destroy(&it);
    return last;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cn_shard_list(const char *shards_dir, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(shards_dir);
    if (!d) return cn_err(CN_ENOTFOUND, "no shards under %s", shards_dir);
    size_t cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *p = cn_path_join(shards_dir, e->d_name);
        struct stat st;
        bool dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        free(p);
        if (!dir) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *names = cn_xrealloc(*names, cap * sizeof **names);
        }
        (*names)[(*n)++] = cn_xstrdup(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, *n, sizeof **names, by_name);
    return 0;
}

int cn_shard_identity(const char *dir, char *out, size_t cap) {
    return cn_rocks_identity(dir, out, cap);
}
