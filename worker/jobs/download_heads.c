/* download_heads.c: a project's newest stored heads in the other workers' shards
   (<data>/shards/<name>), for a download that must update, not copy, a project
   another worker downloaded last. One RocksDB secondary instance per other shard
   stays open for the life of the process and catches up with its live writer
   before each lookup: opening a shard read-only per job replays its whole live
   WAL. The secondaries' folders live in <scratch>/secondaries, the worker's
   private scratch directory. Called from slot threads: one mutex guards the
   cache and each lookup. */
#include "download.h"

#include "errors.h"
#include "log.h"
#include "repo.h"
#include "util.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDARIES "secondaries" /* in the scratch directory */

typedef struct {
    char *path;    /* shards_dir/name, as listed */
    char *sec_dir; /* the secondary's private folder (removed at close) */
    cn_shard_t *s;
    char identity[64]; /* the database's identity when opened */
    bool seen;         /* listed by the current call */
} sec_t;

/* Every field is guarded by mu. The cache serves one shards_dir and one scratch
   directory (a worker has one of each); a call for others closes it first. */
static struct {
    pthread_mutex_t mu;
    char *shards_dir, *scratch_dir;
    char *scratch; /* scratch_dir/secondaries, once made: the secondaries' folders */
    sec_t *v;
    size_t n, cap;
    uint64_t next_id;
    bool atexit_set;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void close_sec(sec_t *e) {
    cn_shard_close(&e->s);
    if (e->sec_dir) cn_rm_rf(e->sec_dir);
    free(e->sec_dir);
    free(e->path);
    memset(e, 0, sizeof *e);
}

static void close_all_locked(void) {
    for (size_t i = 0; i < cache.n; i++) close_sec(&cache.v[i]);
    free(cache.v);
    cache.v = NULL;
    cache.n = cache.cap = 0;
    if (cache.scratch) cn_rm_rf(cache.scratch);
    free(cache.scratch);
    cache.scratch = NULL;
    free(cache.scratch_dir);
    cache.scratch_dir = NULL;
    free(cache.shards_dir);
    cache.shards_dir = NULL;
}

void cn_download_heads_close_all(void) {
    pthread_mutex_lock(&cache.mu);
    close_all_locked();
    pthread_mutex_unlock(&cache.mu);
}

/* At exit, RocksDB handles still open would race its own static destructors: a
   process that never called close_all (a test, a fatal path) closes them here.
   trylock: exit() from a thread holding the lock must not hang. */
static void close_at_exit(void) {
    if (pthread_mutex_trylock(&cache.mu) != 0) return;
    close_all_locked();
    pthread_mutex_unlock(&cache.mu);
}

/* The folder for the secondaries, made empty on first use: the scratch
   directory is this worker's alone, so what is there was left by an earlier
   process of the worker that died without close_all (kill -9). */
static const char *secondaries_folder(void) {
    if (cache.scratch) return cache.scratch;
    char *t = cn_path_join(cache.scratch_dir, SECONDARIES);
    if (cn_rm_rf(t) < 0 || cn_mkdir_p(t) < 0) {
        CN_WARN("cannot make a folder for shard secondaries at %s: %s", t, cn_err_detail());
        free(t);
        return NULL;
    }
    cache.scratch = t;
    return t;
}

/* Opens a secondary of the shard at path into e. False (e untouched) when the
   shard cannot be opened now (being created, not a shard): tried again next call. */
static bool open_sec(const char *path, const char *name, const char *identity, sec_t *e) {
    const char *scratch = secondaries_folder();
    if (!scratch) return false;
    char leaf[300];
    snprintf(leaf, sizeof leaf, "%.200s.%llu", name, (unsigned long long)++cache.next_id);
    char *sec_dir = cn_path_join(scratch, leaf);
    /* Only the heads (and meta, for the stamp): the secondary then skips every
       other record of the writer's WAL, holding and replaying a fraction of it. */
    cn_shard_opts_t o = {.secondary_dir = sec_dir, .only_families = 1u << CN_CF_HEADS};
    cn_shard_t *s = NULL;
    if (cn_shard_open(path, &o, &s) < 0) {
        CN_DEBUG("no secondary of %s: %s", path, cn_err_detail());
        cn_rm_rf(sec_dir);
        free(sec_dir);
        return false;
    }
    if (!cache.atexit_set) cache.atexit_set = atexit(close_at_exit) == 0;
    *e = (sec_t){.path = cn_xstrdup(path), .sec_dir = sec_dir, .s = s};
    snprintf(e->identity, sizeof e->identity, "%s", identity);
    return true;
}

static sec_t *find_sec(const char *path) {
    for (size_t i = 0; i < cache.n; i++)
        if (strcmp(cache.v[i].path, path) == 0) return &cache.v[i];
    return NULL;
}

/* The up-to-date secondary of the shard at path, whose database's identity is
   id, opened or reopened as needed. */
static sec_t *get_sec(const char *path, const char *name, const char *id) {
    sec_t *e = find_sec(path);
    bool same = e && strcmp(e->identity, id) == 0;
    if (same && cn_shard_catch_up(e->s) == 0) return e;
    if (e) {
        /* A replaced shard, or a failed catch-up (the handle is in doubt): a
           fresh open sees everything. */
        if (same)
            CN_WARN("shard %s: the secondary could not catch up (%s); opening it again", path,
                    cn_err_detail());
        close_sec(e);
        *e = cache.v[--cache.n];
    }
    sec_t fresh;
    if (!open_sec(path, name, id, &fresh)) return NULL;
    if (cache.n == cache.cap) {
        cache.cap = cache.cap ? cache.cap * 2 : 8;
        cache.v = cn_xrealloc(cache.v, cache.cap * sizeof *cache.v);
    }
    cache.v[cache.n] = fresh;
    return &cache.v[cache.n++];
}

/* Keeps *best the newer (by lease_seq) of itself and the shard's latest heads. */
static void take_newer(cn_shard_t *s, uint64_t project_id, Canopy__Heads **best) {
    Canopy__Heads *h = NULL;
    if (cn_repo_latest_heads(s, project_id, &h) == 0 && (!*best || h->lease_seq > (*best)->lease_seq)) {
        if (*best) cn_rec_free(&(*best)->base);
        *best = h;
    } else if (h) {
        cn_rec_free(&h->base);
    }
}

/* Closes the handles of shards no longer listed (removed, or now our own). */
static void drop_unseen(void) {
    for (size_t i = 0; i < cache.n;) {
        if (cache.v[i].seen) {
            cache.v[i++].seen = false;
            continue;
        }
        close_sec(&cache.v[i]);
        cache.v[i] = cache.v[--cache.n];
    }
}

void cn_download_other_heads(const char *shards_dir, const char *scratch_dir, const char *own_shard_dir,
                             uint64_t project_id, Canopy__Heads **inout) {
    if (!shards_dir) return;
    assert(scratch_dir);
    pthread_mutex_lock(&cache.mu);
    if (cache.shards_dir &&
        (strcmp(cache.shards_dir, shards_dir) != 0 || strcmp(cache.scratch_dir, scratch_dir) != 0))
        close_all_locked();
    if (!cache.shards_dir) {
        cache.shards_dir = cn_xstrdup(shards_dir);
        cache.scratch_dir = cn_xstrdup(scratch_dir);
    }
    char **names = NULL;
    size_t n = 0;
    bool listed = cn_shard_list(shards_dir, &names, &n) == 0;
    char *own = own_shard_dir ? realpath(own_shard_dir, NULL) : NULL;
    for (size_t i = 0; i < n; i++) {
        char *p = cn_path_join(shards_dir, names[i]), *rp = NULL;
        /* Only folders that hold a database: the rest is skipped unopened. A
           shard made again under the same name has another identity. */
        char id[64];
        if ((rp = realpath(p, NULL)) && !(own && strcmp(rp, own) == 0) &&
            cn_shard_identity(p, id, sizeof id) == 0) {
            sec_t *e = get_sec(p, names[i], id);
            if (e) {
                e->seen = true;
                take_newer(e->s, project_id, inout);
            }
        }
        free(rp);
        free(p);
        free(names[i]);
    }
    free(names);
    if (listed) drop_unseen();
    free(own);
    pthread_mutex_unlock(&cache.mu);
    cn_err_clear();
}
