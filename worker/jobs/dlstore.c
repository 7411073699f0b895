/* dlstore.c: the download's store thread (see dlstore.h). One FIFO of units
   under a mutex: the walk pushes, the thread pops, compresses each unit's
   contents into its batch and appends it. The first error stops the appends
   (later units are dropped) and is handed back to the walk with its detail,
   which is per thread. */
#include "dlstore.h"

#include "errors.h"
#include "repo.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cn_dlbuf_t *cn_dlbuf_wrap(const void *data, size_t len, void (*release)(void *owner), void *owner) {
    cn_dlbuf_t *b = cn_xmalloc(sizeof *b);
    atomic_init(&b->refs, 1);
    b->len = len;
    b->data = data;
    b->release = release;
    b->owner = owner;
    return b;
}

cn_dlbuf_t *cn_dlbuf_ref(cn_dlbuf_t *b) {
    if (b) atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void cn_dlbuf_unref(cn_dlbuf_t *b) {
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    b->release(b->owner);
    free(b);
}

/* A unit is handed to the thread at this size (cn_dlstore_full). */
#define UNIT_COMMITS 500u
#define UNIT_BYTES (8u << 20)

typedef struct {
    uint8_t oid[CN_OID_LEN], base_oid[CN_OID_LEN];
    cn_dlbuf_t *data, *base;
    unsigned base_depth;
} put_t;

/* A commit whose records the thread builds: changes [first, first + n). */
typedef struct {
    uint8_t oid[CN_OID_LEN];
    cn_git_commit_t *c;
    size_t first, n;
} citem_t;

typedef struct unit {
    cn_batch_t *b;
    put_t *puts;
    size_t n, cap, raw; /* raw: content bytes not compressed yet */
    citem_t *items;
    size_t nitems, capitems;
    cn_dlchange_t *chg;             /* their paths are in paths */
    size_t nchg, capchg, committed; /* changes [committed, nchg) have no commit yet */
    cn_buf_t paths;
    struct unit *next;
} unit_t;

struct cn_dlstore {
    cn_shard_t *shard;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a unit was queued, one was done, or stop */
    unit_t *head, *tail, *cur;
    size_t inflight, max_inflight; /* raw bytes of queued units and the one in hand */
    size_t busy;                   /* units queued or being appended */
    bool stop;
    int err;
    char detail[1024];
    uint64_t stored; /* compressed content bytes (the thread's) */
    cn_dlrec_t rec;  /* the thread's: interned paths and users */
};

static unit_t *unit_new(void) {
    unit_t *u = cn_xcalloc(1, sizeof *u);
    u->b = cn_batch_new();
    return u;
}

static void unit_free(unit_t *u) {
    if (!u) return;
    for (size_t i = 0; i < u->n; i++) {
        cn_dlbuf_unref(u->puts[i].data);
        cn_dlbuf_unref(u->puts[i].base);
    }
    free(u->puts);
    for (size_t i = 0; i < u->nitems; i++) cn_git_commit_free(u->items[i].c);
    free(u->items);
    free(u->chg);
    cn_buf_free(&u->paths);
    cn_batch_destroy(&u->b);
    free(u);
}

/* Builds the unit's records, compresses its contents and appends it all. */
static int store_unit(cn_dlstore_t *s, unit_t *u) {
    for (size_t i = 0; i < u->nitems; i++) {
        const citem_t *it = &u->items[i];
        /* the changes as queued (paths by offset): nothing is copied */
        const cn_dlchange_t *chg = it->n ? &u->chg[it->first] : NULL; /* no NULL + 0 */
        cn_dlrec_commit(&s->rec, u->b, it->oid, it->c, u->paths.data, chg, it->n);
    }
    for (size_t i = 0; i < u->n; i++) {
        put_t *p = &u->puts[i];
        size_t before = cn_batch_bytes(u->b);
        if (p->base)
            cn_repo_put_content_delta(u->b, p->oid, p->data->data, p->data->len, p->base_oid, p->base->data,
                                      p->base->len, p->base_depth);
        else
            cn_repo_put_content(u->b, p->oid, p->data->data, p->data->len);
        s->stored += cn_batch_bytes(u->b) - before;
    }
    return cn_batch_count(u->b) ? cn_shard_append(s->shard, u->b, false) : 0;
}

static void *store_main(void *arg) {
    cn_dlstore_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->head) break; /* stopped, and nothing left */
        unit_t *u = s->head;
        s->head = u->next;
        if (!s->head) s->tail = NULL;
        bool skip = s->err != 0 || s->stop;
        pthread_mutex_unlock(&s->mu);
        int rc = skip ? 0 : store_unit(s, u);
        pthread_mutex_lock(&s->mu);
        if (rc < 0 && !s->err) {
            s->err = rc;
            snprintf(s->detail, sizeof s->detail, "%s", cn_err_detail());
        }
        s->inflight -= u->raw;
        s->busy--;
        unit_free(u);
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int cn_dlstore_start(cn_shard_t *shard, size_t max_inflight, cn_dlstore_t **out) {
    cn_dlstore_t *s = cn_xcalloc(1, sizeof *s);
    s->shard = shard;
    s->max_inflight = max_inflight;
    s->cur = unit_new();
    cn_dlrec_init(&s->rec);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
        unit_free(s->cur);
        cn_dlrec_free(&s->rec);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return cn_err(CN_EIO, "cannot start the download's store thread");
    }
    *out = s;
    return 0;
}

cn_batch_t *cn_dlstore_batch(cn_dlstore_t *s) {
    return s->cur->b;
}

/* The array v of *cap elements, n of them used, with room for one more. */
static void *room(void *v, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return v;
    *cap = *cap ? 2 * *cap : 64;
    return cn_xrealloc(v, *cap * elem);
}

void cn_dlstore_content(cn_dlstore_t *s, const uint8_t oid[CN_OID_LEN], cn_dlbuf_t *data,
                        const uint8_t *base_oid, cn_dlbuf_t *base, unsigned base_depth) {
    unit_t *u = s->cur;
    u->puts = room(u->puts, u->n, &u->cap, sizeof *u->puts);
    put_t *p = &u->puts[u->n++];
    memcpy(p->oid, oid, CN_OID_LEN);
    p->data = cn_dlbuf_ref(data);
    p->base = base_oid ? cn_dlbuf_ref(base) : NULL;
    if (p->base) memcpy(p->base_oid, base_oid, CN_OID_LEN);
    p->base_depth = base_depth;
    u->raw += data->len;
}

void cn_dlstore_change(cn_dlstore_t *s, const uint8_t *path, size_t path_len, const uint8_t *oid,
                       uint32_t mode) {
    unit_t *u = s->cur;
    u->chg = room(u->chg, u->nchg, &u->capchg, sizeof *u->chg);
    cn_dlchange_t *c = &u->chg[u->nchg++];
    memset(c, 0, sizeof *c);
    c->path_off = u->paths.len;
    c->path_len = path_len;
    cn_buf_append(&u->paths, path, path_len);
    c->mode = mode;
    c->deleted = oid == NULL;
    if (oid) memcpy(c->oid, oid, CN_OID_LEN);
}

void cn_dlstore_commit(cn_dlstore_t *s, const uint8_t oid[CN_OID_LEN], cn_git_commit_t *c) {
    unit_t *u = s->cur;
    u->items = room(u->items, u->nitems, &u->capitems, sizeof *u->items);
    citem_t *it = &u->items[u->nitems++];
    memcpy(it->oid, oid, CN_OID_LEN);
    it->c = c;
    it->first = u->committed;
    it->n = u->nchg - u->committed;
    u->committed = u->nchg;
}

void cn_dlstore_drop_changes(cn_dlstore_t *s) {
    unit_t *u = s->cur;
    if (u->nchg > u->committed) u->paths.len = u->chg[u->committed].path_off;
    u->nchg = u->committed;
}

bool cn_dlstore_full(const cn_dlstore_t *s) {
    const unit_t *u = s->cur;
    /* records to build: about 60 bytes a change and 300 a commit, plus paths */
    size_t bytes = cn_batch_bytes(u->b) + u->raw + u->paths.len + 60 * u->nchg + 300 * u->nitems;
    return u->nitems >= UNIT_COMMITS || bytes > UNIT_BYTES;
}
/* The thread's error, raised again on the calling thread. */
static int thread_err(cn_dlstore_t *s) {
    return s->err ? cn_err(s->err, "%s", s->detail) : 0;
}

int cn_dlstore_flush(cn_dlstore_t *s) {
    unit_t *u = s->cur;
    cn_dlstore_drop_changes(s); /* a unit ends between commits */
    if (u->n == 0 && u->nitems == 0 && cn_batch_count(u->b) == 0) {
        pthread_mutex_lock(&s->mu);
        int rc = thread_err(s);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    s->cur = unit_new();
    pthread_mutex_lock(&s->mu);
    /* One unit always goes, however big: a single large file must pass. */
    while (!s->err && s->busy > 0 && s->inflight + u->raw > s->max_inflight)
        pthread_cond_wait(&s->cv, &s->mu);
    s->inflight += u->raw;
    s->busy++;
    if (s->tail)
        s->tail->next = u;
    else
        s->head = u;
    s->tail = u;
    pthread_cond_broadcast(&s->cv);
    int rc = thread_err(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int cn_dlstore_finish(cn_dlstore_t *s, cn_dlstore_stats_t *st) {
    int rc = cn_dlstore_flush(s);
    pthread_mutex_lock(&s->mu);
    while (s->busy > 0) pthread_cond_wait(&s->cv, &s->mu);
    if (rc == 0) rc = thread_err(s);
    if (st) *st = (cn_dlstore_stats_t){s->stored, s->rec.paths_new, s->rec.users_new};
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void cn_dlstore_free(cn_dlstore_t **self_p) {
    cn_dlstore_t *s = self_p ? *self_p : NULL;
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    unit_free(s->cur);
    cn_dlrec_free(&s->rec);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *self_p = NULL;
}
