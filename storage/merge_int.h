/* merge_int.h: the merge's insides, shared by storage/merge*.c only: the run
   state, the per-family rule table, the lease classes that implement fencing,
   a small u64 map, and the generation directories. merge.c drives the phases;
   merge_gen.c owns merged/ on disk; merge_rules.c streams families into SST
   files; merge_jobs.c resolves commit records and the journal. */
#ifndef CN_MERGE_INT_H
#define CN_MERGE_INT_H

#include "journal.h"
#include "merge.h"
#include "shard_int.h"
#include "u64map.h"

#include <pthread.h>

/* ---- how each family is merged ---- */
typedef enum {
    MG_META,      /* not copied: the merged store keeps its own */
    MG_JOBS,      /* commit records: the highest lease of each job wins */
    MG_CONTENT,   /* content-addressed: union, stored once */
    MG_POINTER,   /* kept when its lease (in the key) is a winning lease */
    MG_VERSIONED, /* pointer + the highest (version, lease) per identity */
    MG_JOURNAL,   /* renumbered into one ordered journal */
    MG_DERIVED,   /* rebuilt on the merged store (scanidx) */
} mg_kind_t;

typedef struct {
    cn_cf_t cf;
    mg_kind_t kind;
    size_t key_len;   /* POINTER/VERSIONED: the key length the rule understands */
    size_t lease_off; /* POINTER/VERSIONED: lease_seq BE64 at this key offset */
    size_t id_len;    /* VERSIONED: the identity is the key's first id_len bytes (then
                         version BE64, so keys sort by version) */
} mg_rule_t;
const mg_rule_t *mg_rule(cn_cf_t cf);
/* How many families the family phase merges record by record. */
size_t mg_families_count(void);
/* A family the report counts (META ones and derived ones are not merged). */
bool mg_family_reported(cn_cf_t cf);

/* Lease classes: fencing in one place. */
enum { MG_DROP = 0, MG_OLD = 1, MG_NEW = 2 };

/* One family's new records of a shard read from its feed, sorted by key. */
typedef struct {
    cn_buf_t *keys, *vals;
    size_t n;
} mg_delta_t;

typedef struct {
    char *name;    /* directory name under shards/: the watermark's key */
    cn_shard_t *s; /* opened read-only */
    uint64_t seq;
    bool has_feed;      /* the shard has a feed family: the feed watermark is kept */
    uint64_t feed_last; /* its last feed counter as this merge sees it */
    bool delta;         /* read from the feed (fam), not whole */
    mg_delta_t fam[CN_CF_COUNT_];
    cn_buf_t pending; /* feed-encoded keys left out for lack of a commit yet */
} mg_shard_t;

/* A commit record read from a moved shard. */
typedef struct {
    uint64_t job_id, lease_seq;
    size_t shard;
    Canopy__JobCommit *jc;
    bool win; /* the commit record this merge writes */
} mg_commit_t;

/* A new journal entry: where it came from and the id it gets. */
typedef struct {
    Canopy__JournalEntry *e;
    size_t shard;
    uint64_t old_id, new_id;
} mg_jentry_t;

typedef struct {
    cn_shard_t *out; /* the new generation, open for writing */
    const char *gen_dir;
    mg_shard_t *sh; /* shards that moved since their watermark */
    size_t nsh;
    cn_merge_report_t *rep;
    unsigned threads;
    bool (*stop)(void *arg);
    void *stop_arg;
    const cn_merge_opts_t *opts;
    uint64_t families_done;
    cn_u64map_t won_before; /* job -> lease merged before this run */
    cn_u64map_t top;        /* job -> its highest committed lease seen in this run */
    cn_u64map_t lease;      /* lease -> MG_OLD / MG_NEW */
    mg_commit_t *commits;
    size_t ncommits;
    uint64_t *superseded; /* leases merged before that lost to a higher one */
    size_t nsuperseded;
    mg_jentry_t *jentries;
    size_t njentries;
    mg_jentry_t *jdups; /* copies of an entry in other shards (new_id: index in jentries) */
    size_t njdups;
    cn_u64map_t committed;      /* lease -> 1 for every commit record seen */
    cn_u64map_t evidence;       /* job -> a lease seen without any commit (problems) */
    cn_u64map_t evidence_shard; /* job -> 1 + index of the shard it was seen in */
    bool rebuild_scanidx;       /* a superseded lease had journal entries */
    pthread_mutex_t mu;         /* report fields shared by family threads */
} mg_t;

int mg_lease_class(const mg_t *m, uint64_t lease);
/* True when job has a committed lease above lease (merged before, or in a
   moved shard): lease can never win any more, committed later or not. Valid
   after mg_jobs_resolve. */
bool mg_lease_fenced(const mg_t *m, uint64_t job, uint64_t lease);
/* Reports progress to the caller; the caller holds m->mu or runs alone. */
void mg_progress(const mg_t *m, const char *phase, uint64_t done, uint64_t total);
/* CN_ECANCELLED (with a detail) when the caller asked the merge to stop. */
int mg_check_stop(const mg_t *m);

/* merge_jobs.c */
int mg_jobs_resolve(mg_t *m);     /* reads commits, decides winners, problems */
int mg_jobs_supersede(mg_t *m);   /* drops pointers of superseded leases */
int mg_journal_merge(mg_t *m);    /* orders and writes new journal entries */
int mg_jobs_write(mg_t *m);       /* writes the winning commit records */
void mg_jobs_unfinished(mg_t *m); /* problems: jobs seen with no commit anywhere */
void mg_jobs_free(mg_t *m);
void mg_problem_add(cn_merge_report_t *r, uint64_t job, const char *issue, const uint64_t *leases, size_t n,
                    const char *shards);

/* merge_rules.c: streams every CONTENT/POINTER/VERSIONED family of the moved
   shards into the merged store (sorted SST files, ingested), in threads. */
int mg_families_merge(mg_t *m);

/* merge_feed.c: reading a shard from its change feed. */
/* Decides how sh is read: from its feed after the feed watermark kept in cur
   (plus the keys left pending there), or whole. Fills sh->fam when from the feed. */
int mg_feed_plan(mg_shard_t *sh, cn_shard_t *cur, const cn_merge_opts_t *o);
/* Puts the feed watermark and pending keys of sh into b (the merged store's meta). */
void mg_feed_marks(const mg_shard_t *sh, cn_batch_t *b);
/* A record of shard si left out because its lease has no commit yet: read again next time. */
void mg_feed_pending(mg_t *m, size_t si, cn_cf_t cf, const uint8_t *k, size_t kl);
/* True when the lease is uncommitted as far as this merge knows. */
bool mg_lease_uncommitted(const mg_t *m, uint64_t lease);
/* cn_journal_each over a delta's journal records (cn_journal_pair). */
int mg_feed_journal_each(const mg_delta_t *d, cn_journal_cb cb, void *arg);
void mg_feed_free(mg_shard_t *sh);

/* merge_gen.c: merged/ on disk. */
typedef struct {
    char *root; /* <data>/merged */
    int lock_fd;
    uint64_t cur;  /* current generation, 0 if none */
    char *cur_dir; /* NULL if none */
    uint64_t next;
    char *next_dir;
} mg_gen_t;
int mg_gen_begin(const char *data_dir, mg_gen_t *g); /* lock, clean up, pick next */
int mg_gen_copy(const mg_gen_t *g);                  /* next := links to cur's files */
int mg_gen_switch(mg_gen_t *g);                      /* atomically make next current */
void mg_gen_end(mg_gen_t *g);                        /* unlock, free */
/* Test hook: CN_MERGE_PAUSE=<point> makes the merge print the point on stderr
   and sleep (so a test can kill -9 it there). */
void mg_pause_point(const char *point);

#endif
