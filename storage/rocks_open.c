/* rocks_open.c: opening and closing a cn_rocks_t (see rocks.h): RocksDB options,
   our own folder lock (dir/canopy.lock, flock + holder pid) for writers, the
   column families found on disk, read-only and secondary instances, refresh and
   catch-up. cn_rocks_refresh and cn_rocks_catch_up must not run while another
   thread uses the same handle (refresh reopens it). */
#include "rocks_int.h"

#include "errors.h"

#include <rocksdb/c.h>

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "canopy.lock" /* RocksDB's own lock file is dir/LOCK */
#define DEFAULT_CACHE_MB 64

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
    /* A writer opens every family (open_db), so it creates those a database
       made by an older build lacks (the feed). */
    rocksdb_options_set_create_missing_column_families(r->opts, !r->read_only);
    /* Large values are zstd already; LZ4 is cheap for the small records. */
    rocksdb_options_set_compression(r->opts, rocksdb_lz4_compression);
    rocksdb_options_set_max_background_jobs(r->opts, 2);
    rocksdb_options_set_bytes_per_sync(r->opts, 1 << 20);
    rocksdb_options_set_keep_log_file_num(r->opts, 3);
    rocksdb_options_set_max_log_file_size(r->opts, 4 << 20);
    rocksdb_options_set_info_log_level(r->opts, 2 /* WARN */);
    /* A secondary keeps every table file open: one the primary deletes after a
       compaction stays readable until the next catch-up drops it. */
    if (o->secondary_dir) rocksdb_options_set_max_open_files(r->opts, -1);
    /* RocksDB 7.8 loads the table handlers of every family on each catch-up with
       this many new threads each, even when nothing changed: 16 (the default) x
       17 families made a catch-up with nothing new cost 35-75 ms. */
    if (o->secondary_dir) rocksdb_options_set_max_file_opening_threads(r->opts, 1);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(r->opts, 1);
    rocksdb_options_set_max_total_wal_size(r->opts, 256u << 20);
    /* Appends check that their keys are new: a memtable bloom filter answers
       "absent" without a skip-list search (it halved the append cost). Not for
       readers: each family's bloom is cleared at open (3.2 MB each, 16
       families), which was most of a query's time and memory. */
    if (!r->read_only) {
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(r->opts, 0.05);
        rocksdb_options_set_memtable_whole_key_filtering(r->opts, 1);
    }
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
    else if (r->only_cfs)
        for (size_t i = 0; i < n; i++) present[i] &= i < 64 && (r->only_cfs >> i & 1);
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
    if (r->secondary_dir)
        r->db = rocksdb_open_as_secondary_column_families(r->opts, r->dir, r->secondary_dir, (int)m, names,
                                                          copts, h, &err);
    else if (r->read_only)
        r->db = rocksdb_open_for_read_only_column_families(r->opts, r->dir, (int)m, names, copts, h, 0, &err);
    else
        r->db = rocksdb_open_column_families(r->opts, r->dir, (int)m, names, copts, h, &err);
    int rc = 0;
    if (err) {
        r->db = NULL;
        rc = cn_rocks_rerr(err, "open", r->dir);
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

/* The write-ahead logs (dir/<n>.log) by name, up to MAX_LOGS. */
#define MAX_LOGS 64
typedef struct {
    char name[MAX_LOGS][NAME_MAX + 1];
    size_t n;
} logs_t;

static void list_logs(const char *dir, logs_t *l) {
    DIR *d = opendir(dir);
    l->n = 0;
    for (struct dirent *e; d && l->n < MAX_LOGS && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) memcpy(l->name[l->n++], e->d_name, len + 1);
    }
    if (d) closedir(d);
}

static bool logs_gone(const char *dir, const logs_t *l) {
    bool gone = false;
    for (size_t i = 0; i < l->n && !gone; i++) {
        char *p = cn_path_join(dir, l->name[i]);
        gone = access(p, F_OK) != 0;
        free(p);
    }
    return gone;
}

/* A read-only open races the writer: a compaction deletes a table file the open
   just listed, or a flush deletes a log it is opening (the open fails: it is
   made again), or a flush deletes the log the open was about to replay after it
   read the MANIFEST from before the flush (RocksDB then replays nothing: the
   flushed records are missing from this reader's view; an idle worker's flush
   made `canopy query` miss a just-downloaded project). So a log seen before the
   open and gone after it also makes it again, a few times: a writer flushing
   without pause keeps deleting logs, and a false alarm is a log this open
   replayed before it went. */
#define READER_FAILED_TRIES 20
#define READER_RACED_TRIES 3
static int open_reader(cn_rocks_t *r) {
    int failed = 0, raced = 0;
    for (;;) {
        logs_t logs;
        list_logs(r->dir, &logs);
        int rc = open_db(r);
        if (rc < 0 && (++failed >= READER_FAILED_TRIES || !strstr(cn_err_detail(), "No such file")))
            return rc;
        if (rc == 0 && (++raced > READER_RACED_TRIES || !logs_gone(r->dir, &logs))) return 0;
        if (rc == 0) close_db(r);
        cn_sleep_ms(10);
    }
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
    free(r->secondary_dir);
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
        if (!opts->create || opts->read_only || opts->secondary_dir)
            return cn_err(CN_ENOTFOUND, "no database at %s", dir);
        int rc = cn_mkdir_p(dir);
        if (rc < 0) return rc;
    }
    cn_rocks_t *r = cn_xcalloc(1, sizeof *r);
    r->lock_fd = -1;
    r->dir = cn_xstrdup(dir);
    r->read_only = opts->read_only || opts->secondary_dir;
    r->secondary_dir = opts->secondary_dir ? cn_xstrdup(opts->secondary_dir) : NULL;
    r->only_cfs = opts->only_cfs;
    r->ncf = r->nall = ncf;
    r->names = cn_xcalloc(ncf, sizeof *r->names);
    for (size_t i = 0; i < ncf; i++) r->names[i] = cn_xstrdup(cfs[i]);
    int rc = 0;
    if (!r->read_only && (rc = take_lock(dir, &r->lock_fd)) < 0) goto fail;
    /* A secondary keeps its own info log (and nothing else) in its folder. */
    if (r->secondary_dir && (rc = cn_mkdir_p(r->secondary_dir)) < 0) goto fail;
    make_options(r, opts);
    if (!r->read_only) add_existing_cfs(r);
    rc = r->read_only && !r->secondary_dir ? open_reader(r) : open_db(r);
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

int cn_rocks_identity(const char *dir, char *out, size_t cap) {
    assert(cap > 0);
    out[0] = '\0';
    /* CURRENT names the live MANIFEST: a folder without it holds no database. */
    char *current = cn_path_join(dir, "CURRENT");
    bool db = access(current, F_OK) == 0;
    free(current);
    if (!db) return cn_err(CN_ENOTFOUND, "no database at %s", dir);
    char *path = cn_path_join(dir, "IDENTITY");
    cn_buf_t id = {0};
    if (cn_read_file(path, cap - 1, &id) < 0) cn_err_clear(); /* not written yet: "" */
    free(path);
    size_t n = CN_MIN(id.len, cap - 1);
    while (n > 0 && (id.data[n - 1] == '\n' || id.data[n - 1] == '\r')) n--;
    if (n) memcpy(out, id.data, n);
    out[n] = '\0';
    cn_buf_free(&id);
    return 0;
}

/* Reopens a reader (no iterator may be alive). If the reopen fails, the handle
   keeps failing with CN_EIO until a later refresh works or it is closed. A
   secondary catches up instead. */
int cn_rocks_refresh(cn_rocks_t *db) {
    if (!db->read_only) return 0; /* a writer always sees its own writes */
    if (db->secondary_dir) return cn_rocks_catch_up(db);
    close_db(db);
    return open_reader(db);
}

int cn_rocks_catch_up(cn_rocks_t *db) {
    if (!db->secondary_dir) return 0;
    if (!db->db) return cn_err(CN_EIO, "%s is not open", db->dir);
    char *err = NULL;
    rocksdb_try_catch_up_with_primary(db->db, &err);
    if (err) return cn_rocks_rerr(err, "catch up with", db->dir);
    return 0;
}
