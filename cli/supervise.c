/* supervise.c: starts, restarts and stops the processes of a local cluster for
   `canopy up` (see supervise.h). A child that exits abnormally is restarted
   after a backoff of 100 ms doubling to 5 s (reset once it has run for 3 s).
   Single-threaded; signals are taken with sigtimedwait. */
#include "supervise.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_MS 3000
#define STOP_GRACE_MS 20000

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    printf("[%s] up: ", when);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void cn_sup_block_signals(cn_cluster_t *cl) {
    sigemptyset(&cl->sigs);
    sigaddset(&cl->sigs, SIGCHLD);
    sigaddset(&cl->sigs, SIGTERM);
    sigaddset(&cl->sigs, SIGINT);
    sigaddset(&cl->sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &cl->sigs, NULL);
}

/* In the child: own process group (a terminal's Ctrl-C reaches only the
   supervisor, which stops things in order), output to the log, and SIGTERM if
   the supervisor dies. */
static void child_exec(cn_cluster_t *cl, cn_child_t *ch) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = open("/dev/null", O_RDONLY);
    int log = open(ch->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null >= 0) dup2(null, 0);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    }
    sigprocmask(SIG_UNBLOCK, &cl->sigs, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(ch->argv[0], ch->argv);
    dprintf(2, "canopy up: cannot run %s: %s\n", ch->argv[0], strerror(errno));
    _exit(127);
}

int cn_sup_start(cn_cluster_t *cl, cn_child_t *ch) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return cn_err(CN_ESYS, "fork: %m");
    if (pid == 0) child_exec(cl, ch);
    ch->pid = pid;
    ch->started_ms = cn_mono_ms();
    ch->restart_at = 0;
    return 0;
}

static cn_child_t *find(cn_cluster_t *cl, pid_t pid) {
    if (cl->coord.pid == pid) return &cl->coord;
    for (int i = 0; i < cl->n_workers; i++)
        if (cl->workers[i].pid == pid) return &cl->workers[i];
    return NULL;
}

static void on_exit_status(cn_child_t *ch, int st, bool restart) {
    char how[64];
    bool abnormal = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    if (WIFSIGNALED(st))
        snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
    uint64_t ran = cn_mono_ms() - ch->started_ms;
    pid_t old = ch->pid;
    ch->pid = 0;
    if (!restart || !(abnormal || ch->always_restart)) {
        if (restart) say("%s (pid %d) %s; not restarted", ch->name, (int)old, how);
        return;
    }
    if (ran >= STABLE_MS || ch->backoff_ms == 0) ch->backoff_ms = BACKOFF_FIRST_MS;
    ch->restart_at = cn_mono_ms() + ch->backoff_ms;
    say("%s (pid %d) %s after %llu ms; restarting in %llu ms", ch->name, (int)old, how,
        (unsigned long long)ran, (unsigned long long)ch->backoff_ms);
    ch->backoff_ms = CN_MIN(ch->backoff_ms * 2, BACKOFF_MAX_MS);
}

int cn_sup_reap(cn_cluster_t *cl, bool restart) {
    int n = 0, st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        cn_child_t *ch = find(cl, pid);
        if (ch) on_exit_status(ch, st, restart);
        n++;
    }
    return n;
}

static void restart_due(cn_cluster_t *cl) {
    uint64_t now = cn_mono_ms();
    cn_child_t *all[1 + 4096];
    int n = 0;
    all[n++] = &cl->coord;
    for (int i = 0; i < cl->n_workers && n < (int)CN_ARRAY_LEN(all); i++) all[n++] = &cl->workers[i];
    for (int i = 0; i < n; i++) {
        cn_child_t *ch = all[i];
        if (ch->pid || !ch->restart_at || now < ch->restart_at) continue;
        if (cn_sup_start(cl, ch) == 0) {
            ch->restarts++;
            say("%s restarted (pid %d, restart %u)", ch->name, (int)ch->pid, ch->restarts);
        } else {
            ch->restart_at = now + ch->backoff_ms;
        }
    }
}

static int next_wait_ms(const cn_cluster_t *cl) {
    uint64_t now = cn_mono_ms(), next = now + 1000;
    if (cl->coord.restart_at) next = CN_MIN(next, cl->coord.restart_at);
    for (int i = 0; i < cl->n_workers; i++)
        if (cl->workers[i].restart_at) next = CN_MIN(next, cl->workers[i].restart_at);
    return next > now ? (int)(next - now) : 0;
}

void cn_sup_loop(cn_cluster_t *cl) {
    for (;;) {
        int ms = next_wait_ms(cl);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        siginfo_t info;
        int sig = sigtimedwait(&cl->sigs, &info, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            say("signal %d: stopping the cluster", sig);
            return;
        }
        cn_sup_reap(cl, true);
        restart_due(cl);
    }
}

/* Signals the running children of list and waits up to grace_ms for them. */
static void stop_group(cn_cluster_t *cl, cn_child_t **list, int n, uint64_t grace_ms) {
    for (int i = 0; i < n; i++) {
        list[i]->restart_at = 0;
        if (list[i]->pid) kill(list[i]->pid, SIGTERM);
    }
    uint64_t deadline = cn_mono_ms() + grace_ms;
    for (;;) {
        cn_sup_reap(cl, false);
        int left = 0;
        for (int i = 0; i < n; i++) left += list[i]->pid != 0;
        if (left == 0) return;
        if (cn_mono_ms() >= deadline) break;
        struct timespec ts = {0, 50 * 1000000L};
        siginfo_t info;
        sigtimedwait(&cl->sigs, &info, &ts); /* SIGCHLD, or a second SIGTERM: keep waiting */
    }
    for (int i = 0; i < n; i++) {
        if (!list[i]->pid) continue;
        say("%s (pid %d) did not stop within %llu ms: killing it", list[i]->name, (int)list[i]->pid,
            (unsigned long long)grace_ms);
        kill(list[i]->pid, SIGKILL);
        waitpid(list[i]->pid, NULL, 0);
        list[i]->pid = 0;
    }
}

void cn_sup_stop(cn_cluster_t *cl) {
    cn_child_t **list = cn_xcalloc((size_t)cl->n_workers + 1, sizeof *list);
    for (int i = 0; i < cl->n_workers; i++) list[i] = &cl->workers[i];
    stop_group(cl, list, cl->n_workers, STOP_GRACE_MS);
    list[0] = &cl->coord;
    stop_group(cl, list, 1, STOP_GRACE_MS);
    free(list);
    say("cluster stopped");
}

char *cn_sup_log_tail(const char *path, int lines) {
    cn_buf_t b = {0};
    FILE *f = fopen(path, "r");
    if (!f) return cn_xstrdup("");
    if (fseek(f, -4096, SEEK_END) != 0) rewind(f);
    char chunk[4096];
    size_t n = fread(chunk, 1, sizeof chunk, f);
    fclose(f);
    size_t start = n;
    int seen = 0;
    while (start > 0) {
        if (chunk[start - 1] == '\n' && start != n && ++seen >= lines) break;
        start--;
    }
    cn_buf_append(&b, chunk + start, n - start);
    while (b.len && b.data[b.len - 1] == '\n') b.len--;
    cn_buf_cstr(&b);
    return (char *)b.data ? (char *)b.data : cn_xstrdup("");
}
