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

cn_dlbuf_t *cn_dlbuf_new(const void *data, size_t len) {
    cn_dlbuf_t *b = cn_xmalloc(sizeof *b + (len ? len : 1));
    uint8_t *copy = (uint8_t *)(b + 1);
    if (len) memcpy(copy, data, len);
    atomic_init(&b->refs, 1);
    b->len = len;
    b->data = copy;
    b->release = NULL;
    b->owner = NULL;
    return b;
}

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
    if (b->release) b->release(b->owner);
    free(b);
}

typedef struct {
    uint8_t oid[CN_DL_OID_LEN], base_oid[CN_DL_OID_LEN];
    cn_dlbuf_t *data, *base;
    unsigned base_depth;
} put_t;

typedef struct unit {
    cn_batch_t *b;
    put_t *puts;
    size_t n, cap, raw; /* raw: content bytes not compressed yet */
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
    cn_batch_destroy(&u->b);
    free(u);
}

/* Compresses the unit's contents into its batch and appends it. */
static int store_unit(cn_dlstore_t *s, unit_t *u) {
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
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
        unit_free(s->cur);
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

void cn_dlstore_content(cn_dlstore_t *s, const uint8_t oid[CN_DL_OID_LEN], cn_dlbuf_t *data,
                        const uint8_t *base_oid, cn_dlbuf_t *base, unsigned base_depth) {
    unit_t *u = s->cur;
    if (u->n == u->cap) {
        u->cap = u->cap ? 2 * u->cap : 64;
        u->puts = cn_xrealloc(u->puts, u->cap * sizeof *u->puts);
    }
    put_t *p = &u->puts[u->n++];
    memcpy(p->oid, oid, CN_DL_OID_LEN);
    p->data = cn_dlbuf_ref(data);
    p->base = base_oid ? cn_dlbuf_ref(base) : NULL;
    if (p->base) memcpy(p->base_oid, base_oid, CN_DL_OID_LEN);
    p->base_depth = base_depth;
    u->raw += data->len;
}

size_t cn_dlstore_pending(const cn_dlstore_t *s) {
    return cn_batch_bytes(s->cur->b) + s->cur->raw;
}

/* The thread's error, raised again on the calling thread. */
static int thread_err(cn_dlstore_t *s) {
    return s->err ? cn_err(s->err, "%s", s->detail) : 0;
}

int cn_dlstore_flush(cn_dlstore_t *s) {
    unit_t *u = s->cur;
    if (u->n == 0 && cn_batch_count(u->b) == 0) {
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

int cn_dlstore_finish(cn_dlstore_t *s, uint64_t *stored_bytes) {
    int rc = cn_dlstore_flush(s);
    pthread_mutex_lock(&s->mu);
    while (s->busy > 0) pthread_cond_wait(&s->cv, &s->mu);
    if (rc == 0) rc = thread_err(s);
    if (stored_bytes) *stored_bytes = s->stored;
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
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *self_p = NULL;
}
