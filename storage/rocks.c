/* rocks.c: the one file that includes rocksdb/c.h (see rocks.h). Opens a database
   with named column families behind our own folder lock (dir/canopy.lock, flock +
   holder pid), and wraps batches, gets, iterators, checkpoints and SST ingestion.
   Thread-safe as RocksDB is, except cn_rocks_refresh and cn_rocks_drop_cf, which
   the caller must not run while other threads use the same handle. */
#include "rocks.h"

#include "errors.h"

#include <rocksdb/c.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "canopy.lock" /* RocksDB's own lock file is dir/LOCK */
#define DEFAULT_CACHE_MB 64

struct cn_rocks {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo_sync;
    rocksdb_writeoptions_t *wo_async;
    rocksdb_column_family_handle_t **cfh; /* the caller's families, then any others found */
    char **names;
    size_t ncf;  /* the caller's families */
    size_t nall; /* plus families found on disk that the caller did not name */
    char *dir;
    int lock_fd;
    bool read_only;
};

struct cn_rocks_batch {
    rocksdb_writebatch_t *wb;
};

struct cn_rocks_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    uint8_t *prefix;
    size_t plen;
    uint8_t *upper; /* successor of prefix: the iterate_upper_bound */
    size_t ulen;
};

struct cn_rocks_sst {
    rocksdb_sstfilewriter_t *w;
    rocksdb_envoptions_t *env;
    char *path;
    uint64_t n;
};

/* Turns a RocksDB error string into a CN_E* code with a detail, and frees it. */
static int rerr(char *err, const char *what, const char *dir) {
    int code = CN_EIO;
    if (strstr(err, "Corruption"))
        code = CN_ECORRUPT;
    else if (strstr(err, "lock file") || strstr(err, "lock hold"))
        code = CN_ELOCKED;
    else if (strstr(err, "does not exist"))
        code = CN_ENOTFOUND;
    int rc = cn_err(code, "rocksdb %s%s%s: %s", what, dir ? " " : "", dir ? dir : "", err);
    rocksdb_free(err);
    return rc;
}

/* Takes dir/canopy.lock without waiting. flock belongs to the open file, so a
   second open in the same process is refused as well as one from another process. */
static int take_lock(const char *dir, int *fd_out) {
    char *path = cn_path_join(dir, LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0) return cn_err(CN_ESYS, "cannot open the lock of %s: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = {0};
        ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK) return cn_err(CN_ESYS, "cannot lock %s: %s", dir, strerror(e));
        while (r > 0 && (pid[r - 1] == '\n' || pid[r - 1] == 0)) pid[--r] = 0;
        return cn_err(CN_ELOCKED, "shard %s is locked by pid %s", dir, r > 0 ? pid : "(unknown)");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return cn_err(CN_ESYS, "cannot write the lock of %s: %s", dir, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

static void make_options(cn_rocks_t *r, const cn_rocks_opts_t *o) {
    size_t cache_mb = o->block_cache_mb ? o->block_cache_mb : DEFAULT_CACHE_MB;
    r->cache = rocksdb_cache_create_lru(cache_mb << 20);
    r->bbto = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(r->bbto, r->cache);
    /* The table options own the filter policy. */
    rocksdb_block_based_options_set_filter_policy(r->bbto, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_format_version(r->bbto, 5);
    r->opts = rocksdb_options_create();
    rocksdb_options_set_block_based_table_factory(r->opts, r->bbto);
    rocksdb_options_set_create_if_missing(r->opts, o->create);
    if (o->paranoid) {
        rocksdb_options_set_paranoid_checks(r->opts, 1);
        rocksdb_options_set_wal_recovery_mode(r->opts, 0); /* kTolerateCorruptedTailRecords */
    }
    rocksdb_options_set_create_missing_column_families(r->opts, o->create);
    /* Large values are zstd already; LZ4 is cheap for the small records. */
    rocksdb_options_set_compression(r->opts, rocksdb_lz4_compression);
    rocksdb_options_set_max_background_jobs(r->opts, 2);
    rocksdb_options_set_bytes_per_sync(r->opts, 1 << 20);
    rocksdb_options_set_keep_log_file_num(r->opts, 3);
    rocksdb_options_set_max_log_file_size(r->opts, 4 << 20);
    rocksdb_options_set_info_log_level(r->opts, 2 /* WARN */);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(r->opts, 1);
    rocksdb_options_set_max_total_wal_size(r->opts, 256u << 20);
    /* Appends check that their keys are new: a memtable bloom filter answers
       "absent" without a skip-list search (it halved the append cost). */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(r->opts, 0.05);
    rocksdb_options_set_memtable_whole_key_filtering(r->opts, 1);
    /* Per family, with a cap on all memtables together: a shard has 16 families. */
    if (o->bulk) {
        rocksdb_options_set_write_buffer_size(r->opts, 128u << 20);
        rocksdb_options_set_max_write_buffer_number(r->opts, 4);
        rocksdb_options_set_db_write_buffer_size(r->opts, 512u << 20);
    } else {
        rocksdb_options_set_write_buffer_size(r->opts, 64u << 20);
        rocksdb_options_set_max_write_buffer_number(r->opts, 3);
        rocksdb_options_set_db_write_buffer_size(r->opts, 256u << 20);
    }
    r->ro = rocksdb_readoptions_create();
    r->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo_sync, 1);
    r->wo_async = rocksdb_writeoptions_create();
}

/* Adds the families found on disk that the caller did not name: a writer must
   open every family, and newer builds may have added some. */
static void add_existing_cfs(cn_rocks_t *r) {
    char *err = NULL;
    size_t n = 0;
    char **list = rocksdb_list_column_families(r->opts, r->dir, &n, &err);
    if (err) {
        rocksdb_free(err);                             /* a new database: nothing to add */
        rocksdb_list_column_families_destroy(list, n); /* malloc(0) even on error */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < r->nall && !known; j++) known = strcmp(r->names[j], list[i]) == 0;
        if (known) continue;
        r->names = cn_xrealloc(r->names, (r->nall + 1) * sizeof *r->names);
        r->names[r->nall++] = cn_xstrdup(list[i]);
    }
    rocksdb_list_column_families_destroy(list, n);
}

/* Read-only openers skip families the database does not have (an older shard):
   their handles stay NULL and read as empty. */
static bool *present_cfs(cn_rocks_t *r) {
    bool *present = cn_xcalloc(r->nall, sizeof *present);
    char *err = NULL;
    size_t n = 0;
    char **list = rocksdb_list_column_families(r->opts, r->dir, &n, &err);
    if (err) {
        rocksdb_free(err);
        rocksdb_list_column_families_destroy(list, n);
        for (size_t i = 0; i < r->nall; i++) present[i] = true; /* let open report it */
        return present;
    }
    for (size_t i = 0; i < r->nall; i++)
        for (size_t j = 0; j < n && !present[i]; j++) present[i] = strcmp(r->names[i], list[j]) == 0;
    rocksdb_list_column_families_destroy(list, n);
    return present;
}

static int open_db(cn_rocks_t *r) {
    size_t n = r->nall;
    bool *present = present_cfs(r);
    if (!r->read_only)
        for (size_t i = 0; i < n; i++) present[i] = true; /* created when missing */
    /* RocksDB wants "default" opened too; it stays hidden if the caller did not name it. */
    const char **names = cn_xcalloc(n + 1, sizeof *names);
    const rocksdb_options_t **copts = cn_xcalloc(n + 1, sizeof *copts);
    rocksdb_column_family_handle_t **h = cn_xcalloc(n + 1, sizeof *h);
    size_t *slot = cn_xcalloc(n + 1, sizeof *slot);
    size_t m = 0;
    bool has_default = false;
    for (size_t i = 0; i < n; i++) {
        if (!present[i]) continue;
        has_default |= strcmp(r->names[i], "default") == 0;
        slot[m] = i;
        names[m++] = r->names[i];
    }
    if (!has_default) {
        slot[m] = n;
        names[m++] = "default";
    }
    for (size_t i = 0; i < m; i++) copts[i] = r->opts;
    char *err = NULL;
    if (r->read_only)
        r->db = rocksdb_open_for_read_only_column_families(r->opts, r->dir, (int)m, names, copts, h, 0, &err);
    else
        r->db = rocksdb_open_column_families(r->opts, r->dir, (int)m, names, copts, h, &err);
    int rc = 0;
    if (err) {
        r->db = NULL;
        rc = rerr(err, "open", r->dir);
    } else {
        r->cfh = cn_xcalloc(n + 1, sizeof *r->cfh);
        for (size_t i = 0; i < m; i++) {
            if (slot[i] == n)
                rocksdb_column_family_handle_destroy(h[i]);
            else
                r->cfh[slot[i]] = h[i];
        }
    }
    free(slot);
    free(h);
    free(copts);
    free(names);
    free(present);
    return rc;
}

static void close_db(cn_rocks_t *r) {
    if (!r->db) return;
    for (size_t i = 0; i < r->nall; i++)
        if (r->cfh[i]) rocksdb_column_family_handle_destroy(r->cfh[i]);
    free(r->cfh);
    r->cfh = NULL;
    rocksdb_close(r->db);
    r->db = NULL;
}

static void free_rocks(cn_rocks_t *r) {
    close_db(r);
    if (r->ro) rocksdb_readoptions_destroy(r->ro);
    if (r->wo_sync) rocksdb_writeoptions_destroy(r->wo_sync);
    if (r->wo_async) rocksdb_writeoptions_destroy(r->wo_async);
    if (r->opts) rocksdb_options_destroy(r->opts);
    if (r->bbto) rocksdb_block_based_options_destroy(r->bbto);
    if (r->cache) rocksdb_cache_destroy(r->cache);
    for (size_t i = 0; i < r->nall; i++) free(r->names[i]);
    free(r->names);
    if (r->lock_fd >= 0) close(r->lock_fd); /* releases the flock */
    free(r->dir);
    free(r);
}

int cn_rocks_open(const char *dir, const char *const *cfs, size_t ncf, const cn_rocks_opts_t *opts,
                  cn_rocks_t **out) {
    static const cn_rocks_opts_t defaults = {0};
    if (!opts) opts = &defaults;
    *out = NULL;
    if (!dir || !cfs || ncf == 0) return cn_err(CN_EINVAL, "rocks open: no directory or no families");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (!opts->create || opts->read_only) return cn_err(CN_ENOTFOUND, "no database at %s", dir);
        int rc = cn_mkdir_p(dir);
        if (rc < 0) return rc;
    }
    cn_rocks_t *r = cn_xcalloc(1, sizeof *r);
    r->lock_fd = -1;
    r->dir = cn_xstrdup(dir);
    r->read_only = opts->read_only;
    r->ncf = r->nall = ncf;
    r->names = cn_xcalloc(ncf, sizeof *r->names);
    for (size_t i = 0; i < ncf; i++) r->names[i] = cn_xstrdup(cfs[i]);
    int rc = 0;
    if (!r->read_only && (rc = take_lock(dir, &r->lock_fd)) < 0) goto fail;
    make_options(r, opts);
    if (!r->read_only) add_existing_cfs(r);
    /* A reader can race the writer's compaction deleting a file it just listed. */
    for (int attempt = 0; (rc = open_db(r)) < 0 && r->read_only && attempt < 3; attempt++) {
        if (!strstr(cn_err_detail(), "No such file")) break;
        cn_sleep_ms(10);
    }
    if (rc < 0) goto fail;
    *out = r;
    return 0;
fail:
    free_rocks(r);
    return rc;
}

void cn_rocks_close(cn_rocks_t **self_p) {
    if (!self_p || !*self_p) return;
    free_rocks(*self_p);
    *self_p = NULL;
}

/* Reopens a reader (no iterator may be alive). If the reopen fails, the handle
   keeps failing with CN_EIO until a later refresh works or it is closed. */
int cn_rocks_refresh(cn_rocks_t *db) {
    if (!db->read_only) return 0; /* a writer always sees its own writes */
    close_db(db);
    return open_db(db);
}

int cn_rocks_get(cn_rocks_t *db, int cf, const void *key, size_t klen, cn_buf_t *val) {
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    if (!db->cfh[cf]) return CN_ENOTFOUND;
    char *err = NULL;
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned_cf(db->db, db->ro, db->cfh[cf], key, klen, &err);
    if (err) return rerr(err, "get", NULL);
    if (!p) return CN_ENOTFOUND;
    size_t vl = 0;
    const char *v = rocksdb_pinnableslice_value(p, &vl);
    if (val) cn_buf_append(val, v, vl);
    rocksdb_pinnableslice_destroy(p);
    return 0;
}

int cn_rocks_multi_get(cn_rocks_t *db, int cf, const void *const *keys, const size_t *klens, size_t n,
                       bool *found, cn_buf_t *vals) {
    if (n == 0) return 0;
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    if (!db->cfh[cf]) {
        memset(found, 0, n * sizeof *found);
        return 0;
    }
    rocksdb_pinnableslice_t **pv = cn_xcalloc(n, sizeof *pv);
    char **errs = cn_xcalloc(n, sizeof *errs);
    /* Keys already in bytewise order spare RocksDB its own sort (appends sort theirs). */
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) {
        int c = memcmp(keys[i - 1], keys[i], CN_MIN(klens[i - 1], klens[i]));
        sorted = c < 0 || (c == 0 && klens[i - 1] < klens[i]);
    }
    rocksdb_batched_multi_get_cf(db->db, db->ro, db->cfh[cf], n, (const char *const *)keys, klens, pv, errs,
                                 sorted);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        found[i] = pv[i] != NULL;
        if (errs[i]) {
            if (rc == 0)
                rc = rerr(errs[i], "multi_get", NULL);
            else
                rocksdb_free(errs[i]);
        }
        if (!pv[i]) continue;
        if (vals) {
            size_t vl = 0;
            const char *v = rocksdb_pinnableslice_value(pv[i], &vl);
            cn_buf_append(&vals[i], v, vl);
        }
        rocksdb_pinnableslice_destroy(pv[i]);
    }
    free(pv);
    free(errs);
    return rc;
}

cn_rocks_batch_t *cn_rocks_batch_new(void) {
    cn_rocks_batch_t *b = cn_xcalloc(1, sizeof *b);
    b->wb = rocksdb_writebatch_create();
    return b;
}

void cn_rocks_batch_destroy(cn_rocks_batch_t **self_p) {
    if (!self_p || !*self_p) return;
    rocksdb_writebatch_destroy((*self_p)->wb);
    free(*self_p);
    *self_p = NULL;
}

void cn_rocks_batch_put(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl, const void *v,
                        size_t vl) {
    rocksdb_writebatch_put_cf(b->wb, db->cfh[cf], k, kl, v, vl);
}

void cn_rocks_batch_delete(cn_rocks_batch_t *b, cn_rocks_t *db, int cf, const void *k, size_t kl) {
    rocksdb_writebatch_delete_cf(b->wb, db->cfh[cf], k, kl);
}

size_t cn_rocks_batch_count(const cn_rocks_batch_t *b) {
    return (size_t)rocksdb_writebatch_count(b->wb);
}

void cn_rocks_batch_clear(cn_rocks_batch_t *b) {
    rocksdb_writebatch_clear(b->wb);
}

int cn_rocks_write(cn_rocks_t *db, cn_rocks_batch_t *b, bool sync) {
    if (db->read_only) return cn_err(CN_EPERM, "%s is open read-only", db->dir);
    char *err = NULL;
    rocksdb_write(db->db, sync ? db->wo_sync : db->wo_async, b->wb, &err);
    if (err) return rerr(err, "write", db->dir);
    return 0;
}

int cn_rocks_sync_wal(cn_rocks_t *db) {
    if (db->read_only) return 0;
    char *err = NULL;
    rocksdb_flush_wal(db->db, 1, &err);
    if (err) return rerr(err, "sync wal", db->dir);
    return 0;
}

/* ---- iterators ---- */

/* The smallest key greater than every key with this prefix, or none (all 0xff). */
static bool prefix_successor(const uint8_t *p, size_t n, uint8_t **out, size_t *olen) {
    while (n > 0 && p[n - 1] == 0xff) n--;
    if (n == 0) return false;
    *out = cn_xmemdup(p, n);
    (*out)[n - 1]++;
    *olen = n;
    return true;
}

int cn_rocks_iter_new(cn_rocks_t *db, int cf, const void *prefix, size_t plen, cn_rocks_iter_t **out) {
    cn_rocks_iter_t *it = cn_xcalloc(1, sizeof *it);
    it->ro = rocksdb_readoptions_create();
    if (plen) {
        it->prefix = cn_xmemdup(prefix, plen);
        it->plen = plen;
        rocksdb_readoptions_set_iterate_lower_bound(it->ro, (const char *)it->prefix, plen);
        if (prefix_successor(it->prefix, plen, &it->upper, &it->ulen))
            rocksdb_readoptions_set_iterate_upper_bound(it->ro, (const char *)it->upper, it->ulen);
    }
    if (db->db && db->cfh[cf]) it->it = rocksdb_create_iterator_cf(db->db, it->ro, db->cfh[cf]);
    cn_rocks_iter_seek_first(it);
    *out = it;
    return 0;
}

void cn_rocks_iter_seek(cn_rocks_iter_t *it, const void *key, size_t klen) {
    if (!it->it) return;
    /* Below the prefix: start at the prefix. */
    if (it->plen &&
        (klen < it->plen ? memcmp(key, it->prefix, klen) <= 0 : memcmp(key, it->prefix, it->plen) < 0))
        rocksdb_iter_seek(it->it, (const char *)it->prefix, it->plen);
    else
        rocksdb_iter_seek(it->it, key, klen);
}

void cn_rocks_iter_seek_first(cn_rocks_iter_t *it) {
    if (!it->it) return;
    if (it->plen)
        rocksdb_iter_seek(it->it, (const char *)it->prefix, it->plen);
    else
        rocksdb_iter_seek_to_first(it->it);
}

void cn_rocks_iter_seek_last(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_seek_to_last(it->it); /* honours the upper bound */
}

bool cn_rocks_iter_valid(cn_rocks_iter_t *it) {
    if (!it->it || !rocksdb_iter_valid(it->it)) return false;
    if (!it->plen) return true;
    size_t kl = 0;
    const char *k = rocksdb_iter_key(it->it, &kl);
    return kl >= it->plen && memcmp(k, it->prefix, it->plen) == 0;
}

void cn_rocks_iter_next(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_next(it->it);
}

void cn_rocks_iter_prev(cn_rocks_iter_t *it) {
    if (it->it) rocksdb_iter_prev(it->it);
}

const uint8_t *cn_rocks_iter_key(cn_rocks_iter_t *it, size_t *klen) {
    return (const uint8_t *)rocksdb_iter_key(it->it, klen);
}

const uint8_t *cn_rocks_iter_value(cn_rocks_iter_t *it, size_t *vlen) {
    return (const uint8_t *)rocksdb_iter_value(it->it, vlen);
}

void cn_rocks_iter_destroy(cn_rocks_iter_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_rocks_iter_t *it = *self_p;
    if (it->it) rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    free(it->prefix);
    free(it->upper);
    free(it);
    *self_p = NULL;
}

int cn_rocks_iter_status(cn_rocks_iter_t *it) {
    if (!it->it) return 0;
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    return err ? rerr(err, "iterate", NULL) : 0;
}

/* ---- whole-database operations ---- */

int cn_rocks_checkpoint(cn_rocks_t *db, const char *dst) {
    if (!db->db) return cn_err(CN_EIO, "%s is not open (a refresh failed)", db->dir);
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(db->db, &err);
    if (err) return rerr(err, "checkpoint", db->dir);
    rocksdb_checkpoint_create(cp, dst, 0, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err) return rerr(err, "checkpoint into", dst);
    return 0;
}

uint64_t cn_rocks_seq(cn_rocks_t *db) {
    return rocksdb_get_latest_sequence_number(db->db);
}

bool cn_rocks_has_cf(const cn_rocks_t *db, int cf) {
    return db->db && cf >= 0 && (size_t)cf < db->nall && db->cfh[cf] != NULL;
}

int cn_rocks_drop_cf(cn_rocks_t *db, int cf) {
    if (db->read_only) return cn_err(CN_EPERM, "%s is open read-only", db->dir);
    char *err = NULL;
    rocksdb_drop_column_family(db->db, db->cfh[cf], &err);
    if (err) return rerr(err, "drop family", db->names[cf]);
    rocksdb_column_family_handle_destroy(db->cfh[cf]);
    db->cfh[cf] = rocksdb_create_column_family(db->db, db->opts, db->names[cf], &err);
    if (err) {
        db->cfh[cf] = NULL;
        return rerr(err, "create family", db->names[cf]);
    }
    return 0;
}

int cn_rocks_flush(cn_rocks_t *db) {
    if (db->read_only) return 0;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    int rc = 0;
    for (size_t i = 0; i < db->nall && rc == 0; i++) {
        char *err = NULL;
        rocksdb_flush_cf(db->db, fo, db->cfh[i], &err);
        if (err) rc = rerr(err, "flush", db->dir);
    }
    rocksdb_flushoptions_destroy(fo);
    return rc;
}

uint64_t cn_rocks_estimate_keys(cn_rocks_t *db, int cf) {
    uint64_t n = 0;
    if (!db->db || !db->cfh[cf] ||
        rocksdb_property_int_cf(db->db, db->cfh[cf], "rocksdb.estimate-num-keys", &n) != 0)
        return 0;
    return n;
}

/* ---- SST files ---- */

int cn_rocks_sst_open(cn_rocks_t *db, const char *path, cn_rocks_sst_t **out) {
    cn_rocks_sst_t *w = cn_xcalloc(1, sizeof *w);
    w->env = rocksdb_envoptions_create();
    w->w = rocksdb_sstfilewriter_create(w->env, db->opts);
    w->path = cn_xstrdup(path);
    char *err = NULL;
    rocksdb_sstfilewriter_open(w->w, path, &err);
    if (err) {
        rocksdb_sstfilewriter_destroy(w->w);
        rocksdb_envoptions_destroy(w->env);
        free(w->path);
        free(w);
        *out = NULL;
        return rerr(err, "sst open", path);
    }
    *out = w;
    return 0;
}

int cn_rocks_sst_put(cn_rocks_sst_t *w, const void *k, size_t kl, const void *v, size_t vl) {
    char *err = NULL;
    rocksdb_sstfilewriter_put(w->w, k, kl, v, vl, &err);
    if (err) return rerr(err, "sst put", w->path);
    w->n++;
    return 0;
}

int cn_rocks_sst_finish(cn_rocks_sst_t **self_p, bool *empty) {
    cn_rocks_sst_t *w = *self_p;
    int rc = 0;
    *empty = w->n == 0;
    if (w->n) {
        char *err = NULL;
        rocksdb_sstfilewriter_finish(w->w, &err);
        if (err) rc = rerr(err, "sst finish", w->path);
    }
    rocksdb_sstfilewriter_destroy(w->w);
    rocksdb_envoptions_destroy(w->env);
    if (*empty) unlink(w->path); /* RocksDB refuses to finish an empty file */
    free(w->path);
    free(w);
    *self_p = NULL;
    return rc;
}

int cn_rocks_ingest(cn_rocks_t *db, int cf, const char *const *paths, size_t n) {
    if (n == 0) return 0;
    rocksdb_ingestexternalfileoptions_t *o = rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(o, 1);
    char *err = NULL;
    rocksdb_ingest_external_file_cf(db->db, db->cfh[cf], paths, n, o, &err);
    rocksdb_ingestexternalfileoptions_destroy(o);
    if (err) return rerr(err, "ingest into", db->names[cf]);
    return 0;
}
