/* walk.c: see walk.h. Entries live in fixed-size chunks (indices are stable,
   appended under one lock per directory read); names live in per-thread
   arenas. The directory stack is LIFO so the walk stays depth-first and keeps
   the pending set small. */
#include "walk.h"

#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK_BITS 16
#define CHUNK (1u << CHUNK_BITS)
#define MAX_CHUNKS (1u << 15) /* 2^31 entries */
#define OPEN_LIMIT 3000       /* open by a relative path at most this long */
#define ARENA_BLOCK (1u << 20)
#define MAX_THREADS 16

typedef struct {
    uint8_t **blocks;
    size_t nblocks, used; /* bytes used in the last block */
} arena_t;

typedef struct cn_walk_thread {
    struct cn_walk *w;
    pthread_t tid;
    arena_t arena;
    /* the directory this thread read last, kept open: its children (and, in a
       deep chain, their children) open relative to it in O(1) */
    uint32_t cache_idx;
    int cache_fd;
} walk_thread_t;

struct cn_walk {
    int rootfd;
    dev_t rootdev;
    cn_walk_opts_t o;
    cn_walk_entry_t **chunks;
    uint64_t count;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t *stack; /* directories to read */
    size_t top, cap;
    size_t pending; /* queued + being read */
    int nthreads, running;
    walk_thread_t th[MAX_THREADS];
    atomic_bool stop;
    atomic_bool done;
    atomic_uint_fast64_t seen, name_bytes;
    cn_walk_error_t *errs;
    size_t nerrs;
    uint64_t errs_total;
};

static uint8_t *arena_put(arena_t *a, const void *p, size_t n) {
    if (a->nblocks == 0 || a->used + n > ARENA_BLOCK) {
        a->blocks = cn_xrealloc(a->blocks, (a->nblocks + 1) * sizeof *a->blocks);
        a->blocks[a->nblocks++] = cn_xmalloc(CN_MAX(ARENA_BLOCK, n));
        a->used = 0;
    }
    uint8_t *dst = a->blocks[a->nblocks - 1] + a->used;
    if (n) memcpy(dst, p, n);
    a->used += n;
    return dst;
}

const cn_walk_entry_t *cn_walk_entry(const cn_walk_t *w, uint64_t i) {
    return &w->chunks[i >> CHUNK_BITS][i & (CHUNK - 1)];
}

static cn_walk_entry_t *entry_mut(cn_walk_t *w, uint64_t i) {
    return &w->chunks[i >> CHUNK_BITS][i & (CHUNK - 1)];
}

static void add_error(cn_walk_t *w, const uint8_t *path, size_t len, int errnum, const char *what) {
    pthread_mutex_lock(&w->mu);
    w->errs_total++;
    if (w->nerrs < w->o.max_errors) {
        cn_walk_error_t *e = &w->errs[w->nerrs++];
        e->path = cn_xmalloc(len + 1);
        memcpy(e->path, path, len);
        e->path[len] = 0;
        e->errnum = errnum;
        e->what = what;
    }
    pthread_mutex_unlock(&w->mu);
}

/* The path of entry i relative to the root, into out (reset first). */
static void entry_path(cn_walk_t *w, uint32_t i, cn_buf_t *out) {
    size_t total = 0;
    for (uint32_t x = i; x != 0; x = cn_walk_entry(w, x)->parent) total += cn_walk_entry(w, x)->name_len + 1u;
    cn_buf_reset(out);
    if (total == 0) return;
    total--;
    cn_buf_reserve(out, total);
    size_t pos = total;
    for (uint32_t x = i; x != 0; x = cn_walk_entry(w, x)->parent) {
        const cn_walk_entry_t *e = cn_walk_entry(w, x);
        pos -= e->name_len;
        memcpy(out->data + pos, e->name, e->name_len);
        if (pos) out->data[--pos] = '/';
    }
    out->len = total;
}

/* openat that follows no symlink in any component (a directory swapped for a
   symlink during the walk is refused with ELOOP), with plain openat where the
   kernel has no openat2 (then only the last component is protected). */
static int open_nofollow(int base, const char *rel) {
    static atomic_int no_openat2;
    if (!atomic_load(&no_openat2)) {
        struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, base, rel, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return (int)fd;
        atomic_store(&no_openat2, 1);
    }
    return openat(base, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Opens directory entry i without following symlinks, at any depth. */
static int open_dir(walk_thread_t *t, uint32_t i, cn_buf_t *path) {
    cn_walk_t *w = t->w;
    if (i == 0) return openat(w->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* find the highest ancestor whose path from it to i stays under the limit,
       or stop early at the directory this thread still holds open */
    size_t len = 0;
    uint32_t a = i;
    bool cached = false;
    while (a != 0) {
        const cn_walk_entry_t *e = cn_walk_entry(w, a);
        if (len + e->name_len + 1 > OPEN_LIMIT && len > 0) break;
        len += e->name_len + 1u;
        a = e->parent;
        if (t->cache_fd >= 0 && a == t->cache_idx) {
            cached = true;
            break;
        }
    }
    int base = w->rootfd, own = -1;
    if (cached) {
        base = t->cache_fd;
    } else if (a != 0) {
        own = open_dir(t, a, path);
        if (own < 0) return -1;
        base = own;
    }
    /* the suffix from a to i */
    size_t total = len - 1, pos = total;
    cn_buf_reset(path);
    cn_buf_reserve(path, total + 1);
    for (uint32_t x = i; x != a; x = cn_walk_entry(w, x)->parent) {
        const cn_walk_entry_t *e = cn_walk_entry(w, x);
        pos -= e->name_len;
        memcpy(path->data + pos, e->name, e->name_len);
        if (pos) path->data[--pos] = '/';
    }
    path->data[total] = 0;
    path->len = total;
    int fd = open_nofollow(base, (const char *)path->data);
    int saved = errno;
    if (own >= 0) close(own);
    errno = saved;
    return fd;
}

static uint8_t stat_type(mode_t m) {
    return S_ISDIR(m) ? CN_PT_DIR : S_ISREG(m) ? CN_PT_FILE : S_ISLNK(m) ? CN_PT_SYMLINK : CN_PT_OTHER;
}

typedef struct {
    cn_walk_entry_t *v;
    bool *descend;
    size_t n, cap;
    size_t counted;      /* entries of this batch already in the progress counters */
    uint64_t name_bytes; /* name bytes not yet in them */
} batch_t;

/* Progress counters move once per getdents buffer: per entry, they would
   bounce between cores. */
static void count_progress(cn_walk_t *w, batch_t *b) {
    atomic_fetch_add(&w->seen, b->n - b->counted);
    atomic_fetch_add(&w->name_bytes, b->name_bytes);
    b->counted = b->n;
    b->name_bytes = 0;
}

/* Stats one name of directory fd into the batch; false when it vanished or failed. */
static void read_one(walk_thread_t *t, int fd, uint32_t dir, const char *name, size_t nl, batch_t *b,
                     cn_buf_t *tmp) {
    cn_walk_t *w = t->w;
    struct stat sb;
    if (fstatat(fd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        entry_path(w, dir, tmp);
        if (tmp->len) cn_buf_putc(tmp, '/');
        cn_buf_append(tmp, name, nl);
        add_error(w, tmp->data, tmp->len, e, e == ENOENT ? "vanished" : "stat");
        return;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = cn_xrealloc(b->v, b->cap * sizeof *b->v);
        b->descend = cn_xrealloc(b->descend, b->cap * sizeof *b->descend);
    }
    cn_walk_entry_t *e = &b->v[b->n];
    memset(e, 0, sizeof *e);
    e->name = arena_put(&t->arena, name, nl);
    e->name_len = (uint16_t)nl;
    e->parent = dir;
    e->st.type = stat_type(sb.st_mode);
    e->st.mode = (uint32_t)sb.st_mode;
    e->st.uid = sb.st_uid;
    e->st.gid = sb.st_gid;
    e->st.size = (uint64_t)sb.st_size;
    e->st.mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    b->descend[b->n] = e->st.type == CN_PT_DIR && (w->o.cross_fs || sb.st_dev == w->rootdev);
    if (e->st.type == CN_PT_SYMLINK) {
        char buf[CN_PT_TARGET_MAX + 1];
        ssize_t r = readlinkat(fd, name, buf, sizeof buf);
        if (r < 0 || (size_t)r > CN_PT_TARGET_MAX) {
            int er = r < 0 ? errno : ENAMETOOLONG;
            entry_path(w, dir, tmp);
            if (tmp->len) cn_buf_putc(tmp, '/');
            cn_buf_append(tmp, name, nl);
            add_error(w, tmp->data, tmp->len, er, "readlink");
        } else {
            e->target = arena_put(&t->arena, buf, (size_t)r);
            e->target_len = (uint16_t)r;
        }
    }
    b->n++;
    b->name_bytes += nl;
}

/* Reads directory dir; returns false when it could not be read at all. */
static void read_dir(walk_thread_t *t, uint32_t dir, batch_t *b, cn_buf_t *tmp) {
    cn_walk_t *w = t->w;
    int fd = open_dir(t, dir, tmp);
    if (fd < 0) {
        int e = errno;
        entry_path(w, dir, tmp);
        add_error(w, tmp->data, tmp->len, e, e == ENOENT ? "vanished" : "open directory");
        return;
    }
    _Alignas(8) char buf[32768];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0) {
            int e = errno;
            entry_path(w, dir, tmp);
            add_error(w, tmp->data, tmp->len, e, "read directory");
            break;
        }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
            read_one(t, fd, dir, nm, strlen(nm), b, tmp);
        }
        count_progress(w, b);
        if (atomic_load(&w->stop)) break;
    }
    if (t->cache_fd >= 0) close(t->cache_fd);
    t->cache_fd = fd;
    t->cache_idx = dir;
}

/* Publishes a directory's entries and queues its subdirectories. */
static void publish(cn_walk_t *w, batch_t *b) {
    count_progress(w, b);
    b->counted = 0;
    pthread_mutex_lock(&w->mu);
    uint64_t base = w->count;
    if (base + b->n >= (uint64_t)MAX_CHUNKS * CHUNK) {
        w->errs_total += b->n; /* NEEDSWORK: over 2^31 entries the rest is dropped */
        b->n = 0;
    }
    for (size_t k = 0; k < b->n; k++) {
        uint64_t i = base + k;
        if ((i & (CHUNK - 1)) == 0 && !w->chunks[i >> CHUNK_BITS])
            w->chunks[i >> CHUNK_BITS] = cn_xmalloc(CHUNK * sizeof(cn_walk_entry_t));
        *entry_mut(w, i) = b->v[k];
        if (b->descend[k]) {
            if (w->top == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 1024;
                w->stack = cn_xrealloc(w->stack, w->cap * sizeof *w->stack);
            }
            w->stack[w->top++] = (uint32_t)i;
            w->pending++;
        }
    }
    w->count = base + b->n;
    w->pending--; /* the directory just read */
    if (w->top || w->pending == 0) pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    b->n = 0;
}

static void *walk_main(void *arg) {
    walk_thread_t *t = arg;
    cn_walk_t *w = t->w;
    batch_t b = {0};
    cn_buf_t tmp = {0};
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->top == 0 && w->pending > 0 && !atomic_load(&w->stop)) pthread_cond_wait(&w->cv, &w->mu);
        if (w->pending == 0 || atomic_load(&w->stop)) break;
        uint32_t dir = w->stack[--w->top];
        pthread_mutex_unlock(&w->mu);
        read_dir(t, dir, &b, &tmp);
        publish(w, &b);
        pthread_mutex_lock(&w->mu);
    }
    if (--w->running == 0) atomic_store(&w->done, true);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    free(b.v);
    free(b.descend);
    cn_buf_free(&tmp);
    if (t->cache_fd >= 0) close(t->cache_fd);
    t->cache_fd = -1;
    return NULL;
}

int cn_walk_start(const char *root, const cn_walk_opts_t *opts, cn_walk_t **out) {
    *out = NULL;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return cn_err(CN_ENOTFOUND, "scan root %s does not exist", root);
        if (e == ENOTDIR) return cn_err(CN_EINVAL, "scan root %s is not a directory", root);
        if (e == EACCES || e == EPERM) return cn_err(CN_EPERM, "scan root %s: permission denied", root);
        return cn_err(CN_ESYS, "scan root %s: %s", root, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return cn_err(CN_ESYS, "scan root %s: %s", root, strerror(errno));
    }
    cn_walk_t *w = cn_xcalloc(1, sizeof *w);
    w->rootfd = fd;
    w->rootdev = sb.st_dev;
    w->o = opts ? *opts : (cn_walk_opts_t){0};
    if (w->o.threads <= 0) w->o.threads = 2;
    if (w->o.threads > MAX_THREADS) w->o.threads = MAX_THREADS;
    if (w->o.max_errors == 0) w->o.max_errors = 100;
    w->errs = cn_xcalloc(w->o.max_errors, sizeof *w->errs);
    w->chunks = cn_xcalloc(MAX_CHUNKS, sizeof *w->chunks);
    w->chunks[0] = cn_xmalloc(CHUNK * sizeof(cn_walk_entry_t));
    cn_walk_entry_t *r = entry_mut(w, 0);
    memset(r, 0, sizeof *r);
    r->name = (const uint8_t *)"";
    r->st = (cn_pstat_t){.type = CN_PT_DIR,
                         .mode = (uint32_t)sb.st_mode,
                         .uid = sb.st_uid,
                         .gid = sb.st_gid,
                         .size = (uint64_t)sb.st_size,
                         .mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec};
    w->count = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->cap = 1024;
    w->stack = cn_xmalloc(w->cap * sizeof *w->stack);
    w->stack[w->top++] = 0;
    w->pending = 1;
    atomic_store(&w->seen, 1);
    w->nthreads = w->running = w->o.threads;
    for (int i = 0; i < w->nthreads; i++) {
        w->th[i].w = w;
        w->th[i].cache_fd = -1;
        if (pthread_create(&w->th[i].tid, NULL, walk_main, &w->th[i]) != 0) abort();
    }
    *out = w;
    return 0;
}

bool cn_walk_poll(cn_walk_t *w, uint64_t *entries, uint64_t *name_bytes) {
    if (entries) *entries = atomic_load(&w->seen);
    if (name_bytes) *name_bytes = atomic_load(&w->name_bytes);
    return atomic_load(&w->done);
}

void cn_walk_stop(cn_walk_t *w) {
    atomic_store(&w->stop, true);
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int cn_walk_wait(cn_walk_t *w) {
    for (int i = 0; i < w->nthreads; i++) pthread_join(w->th[i].tid, NULL);
    w->nthreads = 0;
    return atomic_load(&w->stop) ? cn_err(CN_ECANCELLED, "scan walk stopped") : 0;
}

void cn_walk_destroy(cn_walk_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_walk_t *w = *self_p;
    if (w->nthreads) {
        cn_walk_stop(w);
        cn_walk_wait(w);
    }
    for (int i = 0; i < MAX_THREADS; i++) {
        for (size_t k = 0; k < w->th[i].arena.nblocks; k++) free(w->th[i].arena.blocks[k]);
        free(w->th[i].arena.blocks);
    }
    for (uint32_t c = 0; c < MAX_CHUNKS && w->chunks[c]; c++) free(w->chunks[c]);
    free(w->chunks);
    for (size_t i = 0; i < w->nerrs; i++) free(w->errs[i].path);
    free(w->errs);
    free(w->stack);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    close(w->rootfd);
    free(w);
    *self_p = NULL;
}

uint64_t cn_walk_count(const cn_walk_t *w) {
    return w->count;
}
uint64_t cn_walk_errors_total(const cn_walk_t *w) {
    return w->errs_total;
}

const cn_walk_error_t *cn_walk_errors(const cn_walk_t *w, size_t *n) {
    *n = w->nerrs;
    return w->errs;
}

static int by_name(const void *a, const void *b, void *arg) {
    const cn_walk_entry_t *ea = cn_walk_entry(arg, *(const uint32_t *)a);
    const cn_walk_entry_t *eb = cn_walk_entry(arg, *(const uint32_t *)b);
    int c = memcmp(ea->name, eb->name, CN_MIN(ea->name_len, eb->name_len));
    return c ? c : (int)ea->name_len - (int)eb->name_len;
}

int cn_walk_sorted(cn_walk_t *w,
                   int (*cb)(void *arg, const uint8_t *path, size_t len, const cn_walk_entry_t *e),
                   void *arg) {
    uint64_t n = w->count;
    uint32_t *start = cn_xcalloc(n + 1, sizeof *start), *kids = cn_xmalloc((n ? n : 1) * sizeof *kids);
    for (uint64_t i = 1; i < n; i++) start[cn_walk_entry(w, i)->parent + 1]++;
    for (uint64_t i = 0; i < n; i++) start[i + 1] += start[i];
    uint32_t *fill = cn_xmemdup(start, n * sizeof *fill);
    for (uint64_t i = 1; i < n; i++) kids[fill[cn_walk_entry(w, i)->parent]++] = (uint32_t)i;
    free(fill);
    for (uint64_t i = 0; i < n; i++)
        if (start[i + 1] - start[i] > 1)
            qsort_r(kids + start[i], start[i + 1] - start[i], sizeof *kids, by_name, w);
    /* iterative depth-first walk: stack of (node, next child position, path length) */
    typedef struct {
        uint32_t node, pos;
        size_t plen;
    } frame_t;
    size_t cap = 64, top = 0;
    frame_t *st = cn_xmalloc(cap * sizeof *st);
    cn_buf_t path = {0};
    int rc = cb(arg, (const uint8_t *)"", 0, cn_walk_entry(w, 0));
    st[top++] = (frame_t){0, start[0], 0};
    while (rc == 0 && top) {
        frame_t *f = &st[top - 1];
        if (f->pos == start[f->node + 1]) {
            top--;
            continue;
        }
        uint32_t c = kids[f->pos++];
        const cn_walk_entry_t *e = cn_walk_entry(w, c);
        path.len = f->plen;
        if (path.len) cn_buf_putc(&path, '/');
        cn_buf_append(&path, e->name, e->name_len);
        rc = cb(arg, path.data, path.len, e);
        if (start[c + 1] > start[c]) {
            if (top == cap) st = cn_xrealloc(st, (cap *= 2) * sizeof *st);
            st[top++] = (frame_t){c, start[c], path.len};
        }
    }
    free(st);
    free(start);
    free(kids);
    cn_buf_free(&path);
    return rc;
}
