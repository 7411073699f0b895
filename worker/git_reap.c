/* git_reap.c: closing a repository on a reaper thread (see git.h). A mirror
   that a download walked holds libgit2's object cache: about 90 MB in some
   200,000 allocations after redis's history, 45-70 ms to free, which the job
   would otherwise wait for after its work is done (git itself leaves all of it
   to the process's exit); the diff threads' handles hold their readers' tree
   caches. One thread per process, started on first use; waited for at exit
   so that nothing is freed under a leak checker. */
#include "git.h"

#include "util.h"

#include <pthread.h>
#include <stdlib.h>

/* More repositories waiting than this: the caller closes its own (bounds the
   memory a fast stream of jobs could leave behind). A download hands over
   three: its walk's handle and its two diff threads'. */
#define REAP_MAX_PENDING 6

typedef struct reap_item {
    struct reap_item *next;
    cn_git_t *g;
} reap_item_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    reap_item_t *head, *tail;
    int pending; /* queued or being closed */
    bool started;
} reap = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *reaper(void *arg) {
    (void)arg;
    pthread_mutex_lock(&reap.mu);
    for (;;) {
        while (!reap.head) pthread_cond_wait(&reap.cv, &reap.mu);
        reap_item_t *it = reap.head;
        reap.head = it->next;
        if (!reap.head) reap.tail = NULL;
        pthread_mutex_unlock(&reap.mu);
        cn_git_close(&it->g);
        free(it);
        pthread_mutex_lock(&reap.mu);
        reap.pending--;
        pthread_cond_broadcast(&reap.cv);
    }
    return NULL;
}

void cn_git_reap_wait(void) {
    pthread_mutex_lock(&reap.mu);
    while (reap.pending > 0) pthread_cond_wait(&reap.cv, &reap.mu);
    pthread_mutex_unlock(&reap.mu);
}

/* Under reap.mu: the reaper runs (started now if needed). */
static bool reaper_ready(void) {
    if (reap.started) return true;
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0) return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    bool ok = pthread_create(&t, &attr, reaper, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) return false;
    reap.started = true;
    atexit(cn_git_reap_wait);
    return true;
}

void cn_git_close_later(cn_git_t **self_p) {
    if (!*self_p) return;
    reap_item_t *it = cn_xmalloc(sizeof *it);
    pthread_mutex_lock(&reap.mu);
    bool queued = reap.pending < REAP_MAX_PENDING && reaper_ready();
    if (queued) {
        *it = (reap_item_t){.g = *self_p};
        if (reap.tail)
            reap.tail->next = it;
        else
            reap.head = it;
        reap.tail = it;
        reap.pending++;
        pthread_cond_signal(&reap.cv);
    }
    pthread_mutex_unlock(&reap.mu);
    if (queued) {
        *self_p = NULL;
        return;
    }
    free(it);
    cn_git_close(self_p);
}
