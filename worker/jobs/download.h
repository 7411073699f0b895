/* download.h: the download job's core, callable without a worker (unit tests,
   benchmarks): fetch a repository into a mirror, compare its heads with the
   stored ones, store the new commits, changes, paths, users and contents in a
   shard, and queue the pointer records (heads, log, project) for the job's
   commit batch. The job kind "download" (download.c) is a thin adapter over
   cn_download_run. One call per thread; no global state. */
#ifndef CN_DOWNLOAD_H
#define CN_DOWNLOAD_H

#include "dlstore.h"
#include "git.h"
#include "keyset.h"
#include "shard.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    cn_shard_t *shard;
    cn_batch_t *pointers;   /* the job's commit batch (heads, log, project) */
    const char *mirror_dir; /* this project's bare mirror (made when missing) */
    const char *url;        /* canonical URL */
    uint64_t project_id, job_id, lease_seq;
    uint32_t attempt;
    uint64_t max_file_size;    /* 0: CN_REPO_MAX_FILE_DEFAULT */
    bool allow_partial;        /* store what is consistent, log what is missing */
    bool no_contents;          /* benchmarks only: commits, changes, paths and users */
    size_t cache_bytes;        /* bytes kept as delta bases (0: 64 MiB) */
    uint64_t fetch_timeout_ms; /* 0: none */
    /* Other workers' shards (<data>/shards): their newest heads for the
       project are the baseline when newer than this shard's, so a project
       downloaded elsewhere is updated, not stored again (download_heads.c).
       NULL: only this shard. */
    const char *shards_dir;
    /* The worker's private scratch directory (cn_job_scratch_dir): those
       shards' secondaries live in scratch_dir/secondaries. Needed with shards_dir. */
    const char *scratch_dir;
    bool (*cancelled)(void *arg);
    void (*progress)(void *arg, uint64_t done, uint64_t total, const char *unit);
    /* bytes done and to do (0: not known): received while fetching, file
       contents read while walking */
    void (*progress_bytes)(void *arg, uint64_t done, uint64_t total);
    void *arg;
} cn_download_t;

typedef struct {
    int log_kind; /* CANOPY__LOG_KIND__LOG_OK or __LOG_NO_CHANGE */
    uint64_t refs, commits_new, commits_skipped, changes, paths_new, users_new;
    uint64_t contents_new, contents_too_big, content_bytes, content_stored_bytes;
    uint64_t contents_delta; /* stored against the previous version of their path */
    uint64_t base_reads;     /* delta bases read from git again (not in the cache) */
    uint64_t missing;        /* objects found missing (allow_partial) */
    uint64_t fetch_ms, walk_ms, total_ms;
    char message[512]; /* the log message (what is missing, when partial) */
} cn_download_stats_t;

/* Runs one download attempt. Returns 0 with the pointer records queued in
   d->pointers, or a negative CN_E* code with a detail (cn_err) that names the
   URL or the missing object; *fatal tells whether retrying cannot help (bad
   input). Content-addressed records are appended to the shard on the way:
   nothing becomes visible before the commit batch is written. Blocks. */
int cn_download_run(const cn_download_t *d, cn_download_stats_t *st, bool *fatal);

/* Records a failed attempt: a LOG_ERROR ProjectLog entry with message, written
   with its own commit record (kind "download") in one synced batch, so the
   project's log shows the failure and fsck finds every pointer committed. */
int cn_download_log_error(const cn_download_t *d, const char *message);

/* The job summary (a JSON object, malloc'd). */
char *cn_download_summary(const cn_download_t *d, const cn_download_stats_t *st);

/* ---- inside the download (download_walk.c) ---- */
typedef struct {
    const cn_download_t *d;
    cn_download_stats_t *st;
    cn_git_t *g;
    cn_dlstore_t *store;       /* the second thread: compresses contents, appends */
    cn_bcache_t *cache;        /* contents stored by this job: depths, recent bytes */
    cn_keyset_t blobs;         /* looked at by this job */
    cn_keyset_t missing_blobs; /* could not be read (partial) */
    cn_keyset_t bad;           /* commits not stored: inconsistent (partial) */
    uint64_t max_file;
    /* the commit in progress */
    bool commit_bad;
    char first_missing[200];
} cn_dl_t;

/* Stores every commit of oids[0..n) (parents first) that the shard lacks. */
int cn_dl_store_commits(cn_dl_t *dl, const cn_oid_t *oids, size_t n);
/* Stops the store thread (what it has not appended is dropped) and drops the
   base cache: both hold git blobs, so this comes before the mirror closes. */
void cn_dl_stop_store(cn_dl_t *dl);
void cn_dl_free(cn_dl_t *dl);

/* ---- the project's heads in other workers' shards (download_heads.c) ---- */
/* Replaces *inout (NULL or heads owned by the caller) with the newest heads (the
   highest lease_seq) stored for project_id in the shards under shards_dir other
   than own_shard_dir, when they are newer; leaves *inout unchanged otherwise. A
   shard that cannot be read counts as having none. Keeps a RocksDB secondary of
   each other shard open for the process and catches it up per call (new shards
   are found: the folder is listed each time). The secondaries' folders are in
   scratch_dir/secondaries (emptied on first use): scratch_dir must be this
   process's alone, as a worker's is. Thread-safe (one lock); blocks on disk I/O. */
void cn_download_other_heads(const char *shards_dir, const char *scratch_dir, const char *own_shard_dir,
                             uint64_t project_id, Canopy__Heads **inout);
/* Closes every cached secondary and removes the secondaries' folder (worker
   shutdown). A later call opens them again. */
void cn_download_heads_close_all(void);

#endif
