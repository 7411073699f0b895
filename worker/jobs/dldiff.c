/* dldiff.c: the download's diff threads (see dldiff.h). Chunks live in a ring
   of CN_DLDIFF_WINDOW slots numbered by the order they were handed out; a
   thread takes the oldest ready one, diffs each of its commits into the
   chunk's own arrays, and marks it done. One lock guards the states only. */
#include "dldiff.h"

#include "errors.h"
#include "treediff.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A slot is idle (free, being filled, or taken back) unless the threads own it. */
enum { SLOT_IDLE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct {
    cn_dldiff_chunk_t chunk;
    int state;
} slot_t;

typedef struct {
    cn_dldiff_t *pool;
    cn_git_t *g;
    pthread_t t;
    bool started;
} worker_t;

struct cn_dldiff {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    slot_t slots[CN_DLDIFF_WINDOW];
    uint64_t next_seq, take_seq; /* chunks handed out; the oldest not yet done */
    bool stop;
    worker_t *workers;
    int nworkers;
};

static int record(void *arg, const cn_tdiff_change_t *c) {
    cn_dldiff_chunk_t *ch = arg;
    if (ch->nchanges == ch->cap)
        ch->changes = cn_xrealloc(ch->changes, (ch->cap = ch->cap ? 2 * ch->cap : 256) * sizeof *ch->changes);
    cn_dldiff_change_t *r = &ch->changes[ch->nchanges++];
    *r = (cn_dldiff_change_t){.path_off = ch->paths.len,
                              .path_len = c->path_len,
                              .mode = c->mode,
                              .deleted = c->deleted,
                              .has_old = c->old_oid != NULL};
    if (c->oid) r->oid = *c->oid;
    if (c->old_oid) r->old_oid = *c->old_oid;
    cn_buf_append(&ch->paths, c->path, c->path_len);
    return 0;
}

static void diff_chunk(cn_git_t *g, cn_dldiff_chunk_t *ch) {
    for (size_t i = 0; i < ch->n; i++) {
        cn_dldiff_item_t *it = &ch->items[i];
        it->first = ch->nchanges;
        if (it->diff) {
            it->rc = cn_treediff(g, it->has_parent ? &it->ptree : NULL, &it->tree, record, ch);
            if (it->rc < 0) snprintf(it->detail, sizeof it->detail, "%s", cn_err_detail());
        }
        it->n = ch->nchanges - it->first;
    }
}

/* Under mu: the oldest ready slot (chunk k lives in slot k % WINDOW), or NULL. */
static slot_t *oldest_ready(cn_dldiff_t *p) {
    for (uint64_t k = p->take_seq; k < p->next_seq; k++)
        if (p->slots[k % CN_DLDIFF_WINDOW].state == SLOT_READY) return &p->slots[k % CN_DLDIFF_WINDOW];
    return NULL;
}

static void *diff_thread(void *arg) {
    worker_t *w = arg;
    cn_dldiff_t *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        slot_t *s = NULL;
        while (!p->stop && !(s = oldest_ready(p))) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);
        diff_chunk(w->g, &s->chunk);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int cn_dldiff_start(cn_git_t *g, int threads, cn_dldiff_t **out) {
    *out = NULL;
    cn_dldiff_t *p = cn_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->nworkers = threads < 1 ? 1 : threads;
    p->workers = cn_xcalloc((size_t)p->nworkers, sizeof *p->workers);
    int rc = 0;
    for (int i = 0; i < p->nworkers && rc == 0; i++) {
        worker_t *w = &p->workers[i];
        w->pool = p;
        if ((rc = cn_git_open_sibling(g, &w->g)) < 0) break;
        if (pthread_create(&w->t, NULL, diff_thread, w) != 0)
            rc = cn_err(CN_ESYS, "cannot start a diff thread");
        w->started = rc == 0;
    }
    if (rc < 0) {
        cn_dldiff_free(&p);
        return rc;
    }
    *out = p;
    return 0;
}

cn_dldiff_chunk_t *cn_dldiff_next(cn_dldiff_t *p) {
    pthread_mutex_lock(&p->mu);
    slot_t *s = NULL;
    if (p->next_seq - p->take_seq < CN_DLDIFF_WINDOW) {
        s = &p->slots[p->next_seq++ % CN_DLDIFF_WINDOW];
        s->chunk.n = s->chunk.nchanges = 0;
        cn_buf_reset(&s->chunk.paths);
    }
    pthread_mutex_unlock(&p->mu);
    return s ? &s->chunk : NULL;
}

static slot_t *slot_of(cn_dldiff_chunk_t *c) {
    return (slot_t *)(void *)((char *)c - offsetof(slot_t, chunk));
}

void cn_dldiff_submit(cn_dldiff_t *p, cn_dldiff_chunk_t *c) {
    pthread_mutex_lock(&p->mu);
    slot_of(c)->state = SLOT_READY;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

cn_dldiff_chunk_t *cn_dldiff_take(cn_dldiff_t *p) {
    pthread_mutex_lock(&p->mu);
    slot_t *s = NULL;
    if (p->take_seq < p->next_seq) {
        s = &p->slots[p->take_seq % CN_DLDIFF_WINDOW];
        while (s->state != SLOT_DONE && !(p->stop && s->state == SLOT_READY))
            pthread_cond_wait(&p->done, &p->mu);
        s->state = SLOT_IDLE;
    }
    pthread_mutex_unlock(&p->mu);
    return s ? &s->chunk : NULL;
}

void cn_dldiff_done(cn_dldiff_t *p) {
    pthread_mutex_lock(&p->mu);
    p->take_seq++;
    pthread_mutex_unlock(&p->mu);
}

void cn_dldiff_stop(cn_dldiff_t *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void cn_dldiff_free(cn_dldiff_t **self_p) {
    cn_dldiff_t *p = *self_p;
    if (!p) return;
    cn_dldiff_stop(p);
    for (int i = 0; i < p->nworkers; i++) {
        if (p->workers[i].started) pthread_join(p->workers[i].t, NULL);
        cn_git_close_later(&p->workers[i].g); /* its reader's cache of trees */
    }
    for (int i = 0; i < CN_DLDIFF_WINDOW; i++) {
        free(p->slots[i].chunk.changes);
        cn_buf_free(&p->slots[i].chunk.paths);
    }
    free(p->workers);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
    *self_p = NULL;
}
