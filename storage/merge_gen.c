/* merge_gen.c: the merged store on disk (storage/MERGE.md). <data>/merged/ holds
   generations gen-NNNNNN/ (each a complete store in the shard format) and the
   symlink `current` naming the live one. A merge builds the next generation
   beside the current one (hard links to its immutable SST files, copies of the
   rest), then swaps the symlink with one rename(2): a merge killed at any point
   leaves `current` as it was. Called by merge.c under merged/merge.lock. */
#include "merge_int.h"

#include "errors.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_FILE "merge.lock"
#define CURRENT "current"

void mg_pause_point(const char *point) {
    const char *want = getenv("CN_MERGE_PAUSE");
    if (!want || strcmp(want, point) != 0) return;
    fprintf(stderr, "merge: paused at %s\n", point);
    fflush(stderr);
    for (int i = 0; i < 600; i++) cn_sleep_ms(100); /* the test kills us here */
}

/* The generation number of a name "gen-NNNNNN", or 0. */
static uint64_t gen_number(const char *name) {
    uint64_t n;
    if (strncmp(name, "gen-", 4) != 0 || !cn_parse_u64(name + 4, &n)) return 0;
    return n;
}

static uint64_t read_current(const char *root) {
    char *link = cn_path_join(root, CURRENT);
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof target - 1);
    free(link);
    if (n <= 0) return 0;
    target[n] = 0;
    return gen_number(target);
}

char *cn_merge_current_dir(const char *data_dir) {
    char *root = cn_path_join(data_dir, "merged");
    uint64_t cur = read_current(root);
    char *dir = NULL;
    if (cur) {
        char name[32];
        snprintf(name, sizeof name, "gen-%06" PRIu64, cur);
        dir = cn_path_join(root, name);
    }
    free(root);
    return dir;
}

int cn_merge_open(const char *data_dir, cn_shard_t **out) {
    *out = NULL;
    int rc = CN_ENOTFOUND;
    /* A merge may replace the generation between readlink and open: try again. */
    for (int attempt = 0; attempt < 10; attempt++) {
        char *dir = cn_merge_current_dir(data_dir);
        if (!dir)
            return cn_err(CN_ENOTFOUND, "no merged store in %s/merged yet (run canopy merge)", data_dir);
        cn_shard_opts_t o = {.read_only = true};
        rc = cn_shard_open(dir, &o, out);
        free(dir);
        if (rc != CN_ENOTFOUND && rc != CN_EIO) return rc;
        cn_sleep_ms(20);
    }
    return rc;
}

static int fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cn_err(CN_ESYS, "cannot open %s: %s", path, strerror(errno));
    int rc = fsync(fd) == 0 ? 0 : cn_err(CN_ESYS, "cannot fsync %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* Removes every generation but the current one: leftovers of a killed merge
   (a half-built next generation) or of one killed after its switch. */
static void clean_up(const char *root, uint64_t cur) {
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t n = gen_number(de->d_name);
        bool tmp = strncmp(de->d_name, CURRENT ".tmp", strlen(CURRENT) + 4) == 0;
        if ((n == 0 || n == cur) && !tmp) continue;
        char *p = cn_path_join(root, de->d_name);
        CN_INFO("merge: removing %s (left by an earlier merge)", p);
        if (tmp)
            unlink(p);
        else
            cn_rm_rf(p);
        free(p);
    }
    closedir(d);
}

int mg_gen_begin(const char *data_dir, mg_gen_t *g) {
    memset(g, 0, sizeof *g);
    g->lock_fd = -1;
    g->root = cn_path_join(data_dir, "merged");
    int rc = cn_mkdir_p(g->root);
    if (rc < 0) return rc;
    char *lock = cn_path_join(g->root, LOCK_FILE);
    g->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(lock);
    if (g->lock_fd < 0) return cn_err(CN_ESYS, "cannot open %s/%s: %s", g->root, LOCK_FILE, strerror(errno));
    if (flock(g->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = {0};
        ssize_t r = pread(g->lock_fd, pid, sizeof pid - 1, 0);
        while (r > 0 && (pid[r - 1] == '\n' || pid[r - 1] == 0)) pid[--r] = 0;
        return cn_err(CN_ELOCKED, "another merge is running on %s (pid %s)", g->root, r > 0 ? pid : "?");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(g->lock_fd, 0) != 0 || pwrite(g->lock_fd, pid, (size_t)n, 0) != n)
        return cn_err(CN_ESYS, "cannot write %s/%s: %s", g->root, LOCK_FILE, strerror(errno));
    g->cur = read_current(g->root);
    clean_up(g->root, g->cur);
    char name[32];
    if (g->cur) {
        snprintf(name, sizeof name, "gen-%06" PRIu64, g->cur);
        g->cur_dir = cn_path_join(g->root, name);
        struct stat st;
        if (stat(g->cur_dir, &st) != 0) { /* removed by hand: the shards are the truth */
            CN_WARN("merge: %s names %s, which is gone: merging every shard from the start", CURRENT,
                    g->cur_dir);
            free(g->cur_dir);
            g->cur_dir = NULL;
        }
    }
    g->next = g->cur + 1;
    snprintf(name, sizeof name, "gen-%06" PRIu64, g->next);
    g->next_dir = cn_path_join(g->root, name);
    return 0;
}

static int copy_file(const char *src, const char *dst) {
    cn_buf_t b = {0};
    int rc = cn_read_file(src, SIZE_MAX / 2, &b);
    if (rc == 0) {
        int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = cn_err(CN_ESYS, "cannot create %s: %s", dst, strerror(errno));
        } else {
            size_t off = 0;
            while (off < b.len && rc == 0) {
                ssize_t w = write(fd, b.data + off, b.len - off);
                if (w < 0 && errno != EINTR)
                    rc = cn_err(CN_ESYS, "cannot write %s: %s", dst, strerror(errno));
                if (w > 0) off += (size_t)w;
            }
            if (rc == 0 && fsync(fd) != 0) rc = cn_err(CN_ESYS, "cannot fsync %s: %s", dst, strerror(errno));
            close(fd);
        }
    }
    cn_buf_free(&b);
    return rc;
}

static bool skip_name(const char *n) {
    return n[0] == '.' || strcmp(n, "LOCK") == 0 || strcmp(n, "canopy.lock") == 0 ||
           strncmp(n, "LOG", 3) == 0;
}

/* SST files are immutable once written: the next generation links them; the
   few small mutable files (MANIFEST, CURRENT, OPTIONS, WAL) are copied. This
   is what a RocksDB checkpoint does, without opening the current store. */
int mg_gen_copy(const mg_gen_t *g) {
    if (!g->cur_dir) return 0;
    int rc = cn_mkdir_p(g->next_dir);
    if (rc < 0) return rc;
    DIR *d = opendir(g->cur_dir);
    if (!d) return cn_err(CN_ESYS, "cannot read %s: %s", g->cur_dir, strerror(errno));
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (skip_name(de->d_name)) continue;
        char *src = cn_path_join(g->cur_dir, de->d_name);
        char *dst = cn_path_join(g->next_dir, de->d_name);
        size_t len = strlen(de->d_name);
        bool sst = len > 4 && strcmp(de->d_name + len - 4, ".sst") == 0;
        struct stat st;
        if (stat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
            /* nothing of ours lives in subdirectories */
        } else if (sst) {
            if (link(src, dst) != 0) rc = cn_err(CN_ESYS, "cannot link %s: %s", dst, strerror(errno));
        } else {
            rc = copy_file(src, dst);
        }
        free(src);
        free(dst);
    }
    closedir(d);
    if (rc == 0) rc = fsync_path(g->next_dir);
    return rc;
}

int mg_gen_switch(mg_gen_t *g) {
    int rc = fsync_path(g->next_dir);
    if (rc < 0) return rc;
    char name[32];
    snprintf(name, sizeof name, "gen-%06" PRIu64, g->next);
    char *tmp = cn_path_join(g->root, CURRENT ".tmp");
    char *cur = cn_path_join(g->root, CURRENT);
    unlink(tmp);
    if (symlink(name, tmp) != 0)
        rc = cn_err(CN_ESYS, "cannot create %s: %s", tmp, strerror(errno));
    else if (rename(tmp, cur) != 0)
        rc = cn_err(CN_ESYS, "cannot rename %s: %s", tmp, strerror(errno));
    if (rc == 0) rc = fsync_path(g->root);
    free(tmp);
    free(cur);
    if (rc < 0) return rc;
    /* Readers of the old generation keep their open files; new readers follow the link. */
    if (g->cur_dir) cn_rm_rf(g->cur_dir);
    free(g->cur_dir);
    g->cur_dir = cn_xstrdup(g->next_dir);
    g->cur = g->next;
    return 0;
}

void mg_gen_end(mg_gen_t *g) {
    if (g->lock_fd >= 0) close(g->lock_fd);
    free(g->root);
    free(g->cur_dir);
    free(g->next_dir);
    memset(g, 0, sizeof *g);
    g->lock_fd = -1;
}
