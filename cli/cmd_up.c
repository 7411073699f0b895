/* cmd_up.c: `canopy up`: starts a local cluster (canopy-coordinator and N
   canopy-worker processes named w1..wN, binaries next to canopy), waits until it
   answers, prints where everything is, writes <data>/up.pid and supervises until
   SIGTERM/SIGINT (or `canopy down`). --detach runs the supervisor in the
   background and returns once the cluster answers. Single-threaded. */
#include "supervise.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "canopy up [--workers N] [--slots N] [--data DIR] [--detach] [--json]\n\n"
    "Starts a local cluster: one coordinator and N workers (w1..wN) with N slots\n"
    "each, logs under DIR/logs/. Supervises them (a process that dies is restarted\n"
    "with backoff) until SIGTERM or Ctrl-C, then stops workers and coordinator.\n"
    "  --workers N   worker processes (default 2)\n"
    "  --slots N     jobs each worker runs at once (default 4)\n"
    "  --detach      run in the background; stop with canopy down\n"
    "  --wait DUR    how long to wait for the cluster to answer (default 30s)\n";

typedef struct {
    uint64_t workers, slots, wait_ms;
    bool detach;
} up_opts_t;

static int parse(cn_cli_t *g, up_opts_t *o, int argc, char **argv) {
    *o = (up_opts_t){2, 4, 30000, false};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int rc = cn_arg_global(g, argc, argv, &i);
        if (rc == 0 && strcmp(argv[i], "--detach") == 0) o->detach = true, rc = 1;
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--workers", &v)) > 0 &&
            (!cn_parse_u64(v, &o->workers) || o->workers > 256))
            return cn_usage_error(usage_text, "--workers takes a number from 0 to 256, not '%s'", v);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--slots", &v)) > 0 &&
            (!cn_parse_u64(v, &o->slots) || o->slots == 0 || o->slots > 4096))
            return cn_usage_error(usage_text, "--slots takes a number from 1 to 4096, not '%s'", v);
        if (rc == 0 && (rc = cn_arg_value(argc, argv, &i, "--wait", &v)) > 0 &&
            !cn_parse_duration_ms(v, &o->wait_ms))
            return cn_usage_error(usage_text, "--wait takes a duration like 30s, not '%s'", v);
        if (rc < 0) return cn_usage_error(usage_text, "%s", cn_err_detail());
        if (rc == 0) return cn_usage_error(usage_text, "unexpected argument '%s'", argv[i]);
    }
    return 0;
}

/* The pid in <data>/up.pid if that process is alive and is a canopy; else 0. */
int cn_up_running(const char *data) {
    char *path = cn_path_join(data, "up.pid");
    cn_buf_t b = {0};
    uint64_t pid = 0;
    if (cn_read_file(path, 64, &b) == 0) {
        while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ')) b.len--;
        if (!cn_parse_u64(cn_buf_cstr(&b), &pid) || pid == 0 || pid > 1u << 30 || kill((pid_t)pid, 0) != 0)
            pid = 0;
    }
    if (pid) {
        /* A recycled pid belongs to something else. */
        char *cmd = cn_xasprintf("/proc/%llu/cmdline", (unsigned long long)pid);
        cn_buf_t c = {0};
        if (cn_read_file(cmd, 4096, &c) != 0 || !memmem(c.data, c.len, "canopy", 6)) pid = 0;
        cn_buf_free(&c);
        free(cmd);
    }
    cn_buf_free(&b);
    free(path);
    cn_err_clear();
    return (int)pid;
}

static char **child_argv(const char *bin, const char *const *args) {
    size_t n = 0;
    while (args[n]) n++;
    char **v = cn_xcalloc(n + 2, sizeof *v);
    v[0] = cn_sibling_binary(bin);
    for (size_t i = 0; i < n; i++) v[i + 1] = cn_xstrdup(args[i]);
    return v;
}

static void setup(cn_cluster_t *cl, const up_opts_t *o) {
    char *logs = cn_path_join(cl->data, "logs");
    cn_mkdir_p(logs);
    cl->endpoint = cn_xasprintf("ipc://%s/coordinator.sock", cl->data);
    const char *cargs[] = {"--data", cl->data, NULL};
    cl->coord = (cn_child_t){.name = cn_xstrdup("coordinator"),
                             .argv = child_argv("canopy-coordinator", cargs),
                             .log = cn_path_join(logs, "coordinator.log"),
                             .always_restart = true};
    cl->n_workers = (int)o->workers;
    cl->workers = cn_xcalloc(o->workers + 1, sizeof *cl->workers);
    char slots[32];
    snprintf(slots, sizeof slots, "%llu", (unsigned long long)o->slots);
    for (int i = 0; i < cl->n_workers; i++) {
        char name[32];
        snprintf(name, sizeof name, "w%d", i + 1);
        char *log = cn_xasprintf("%s/%s.log", logs, name);
        const char *wargs[] = {"--data", cl->data, "--name", name, "--slots", slots, NULL};
        cl->workers[i] =
            (cn_child_t){.name = cn_xstrdup(name), .argv = child_argv("canopy-worker", wargs), .log = log};
    }
    free(logs);
}

static void free_child(cn_child_t *ch) {
    for (char **a = ch->argv; a && *a; a++) free(*a);
    free(ch->argv);
    free(ch->name);
    free(ch->log);
}

static void teardown(cn_cluster_t *cl) {
    free_child(&cl->coord);
    for (int i = 0; i < cl->n_workers; i++) free_child(&cl->workers[i]);
    free(cl->workers);
    free(cl->endpoint);
    free(cl->events);
    free(cl->data);
}

/* Waits until the coordinator answers and every worker has said Hello. */
static int wait_ready(cn_cluster_t *cl, cn_cli_t *g, uint64_t wait_ms) {
    uint64_t deadline = cn_mono_ms() + wait_ms;
    cn_cli_t q = *g;
    q.data = cl->data;
    q.coordinator = cl->endpoint;
    q.timeout_ms = 500;
    int rc = CN_ETIMEOUT;
    while (cn_mono_ms() < deadline) {
        /* A worker that exits now is restarted by the supervising loop later. */
        cn_sup_reap(cl, true);
        int exited = 0;
        for (int i = 0; i < cl->n_workers; i++) exited += cl->workers[i].pid == 0;
        if (!cl->coord.pid) {
            char *tail = cn_sup_log_tail(cl->coord.log, 5);
            rc = cn_err(CN_EIO, "the coordinator exited at start; %s says:\n%s", cl->coord.log, tail);
            free(tail);
            return rc;
        }
        cn_client_t *c = NULL;
        Canopy__Envelope *rep = NULL;
        if (cn_client_open(&q, &c) == 0 && cn_status_fetch(c, &rep) == 0) {
            if (!cl->events && cn_client_events(c)) cl->events = cn_xstrdup(cn_client_events(c));
            int alive = 0;
            for (size_t i = 0; i < rep->status_reply->n_worker; i++)
                alive += rep->status_reply->worker[i]->alive;
            cn_wire_free(rep);
            cn_client_close(&c);
            rc = 0;
            if (alive + exited >= cl->n_workers) return 0;
        }
        cn_client_close(&c);
        cn_sleep_ms(100);
    }
    if (rc == 0) return 0; /* the coordinator answers; slow workers will join */
    return cn_err(CN_ETIMEOUT, "the coordinator did not answer within %llu ms (see %s)",
                  (unsigned long long)wait_ms, cl->coord.log);
}

static void summary(const cn_cluster_t *cl, const cn_cli_t *g, cn_buf_t *b) {
    if (g->json) {
        cn_buf_printf(b, "{\"data\":");
        cn_json_str(b, cl->data, strlen(cl->data));
        cn_buf_printf(b, ",\"coordinator\":{\"endpoint\":");
        cn_json_str(b, cl->endpoint, strlen(cl->endpoint));
        cn_buf_printf(b, ",\"events\":");
        cn_json_str(b, cl->events ? cl->events : "", cl->events ? strlen(cl->events) : 0);
        cn_buf_printf(b, ",\"pid\":%d,\"log\":", (int)cl->coord.pid);
        cn_json_str(b, cl->coord.log, strlen(cl->coord.log));
        cn_buf_printf(b, "},\"supervisor_pid\":%d,\"workers\":[", (int)getpid());
        for (int i = 0; i < cl->n_workers; i++) {
            cn_buf_printf(b, "%s{\"name\":\"%s\",\"pid\":%d,\"log\":", i ? "," : "", cl->workers[i].name,
                          (int)cl->workers[i].pid);
            cn_json_str(b, cl->workers[i].log, strlen(cl->workers[i].log));
            cn_buf_putc(b, '}');
        }
        cn_buf_printf(b, "]}\n");
        return;
    }
    cn_buf_printf(b, "canopy cluster up\n  data         %s\n  coordinator  %s  pid %d  log %s\n", cl->data,
                  cl->endpoint, (int)cl->coord.pid, cl->coord.log);
    if (cl->events) cn_buf_printf(b, "  events       %s\n", cl->events);
    for (int i = 0; i < cl->n_workers; i++) {
        const cn_child_t *w = &cl->workers[i];
        if (w->pid)
            cn_buf_printf(b, "  worker %-5s pid %d  log %s\n", w->name, (int)w->pid, w->log);
        else
            cn_buf_printf(b, "  worker %-5s EXITED at start, restarting (see %s)\n", w->name, w->log);
    }
    cn_buf_printf(b, "  supervisor   pid %d (%s/up.pid)\n  stop with    canopy --data %s down\n",
                  (int)getpid(), cl->data, cl->data);
}

/* Starts everything; on failure stops what was started. */
static int start_all(cn_cluster_t *cl, cn_cli_t *g, const up_opts_t *o) {
    char *endpoints = cn_path_join(cl->data, "coordinator.endpoints");
    unlink(endpoints); /* a previous run's; the coordinator writes a fresh one */
    free(endpoints);
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    char *pidfile = cn_path_join(cl->data, "up.pid");
    int rc = cn_write_file_atomic(pidfile, pid, (size_t)n);
    free(pidfile);
    if (rc == 0) rc = cn_sup_start(cl, &cl->coord);
    for (int i = 0; i < cl->n_workers && rc == 0; i++) rc = cn_sup_start(cl, &cl->workers[i]);
    if (rc == 0) rc = wait_ready(cl, g, o->wait_ms);
    if (rc) {
        int keep = rc;
        cn_sup_stop(cl);
        rc = keep;
    }
    return rc;
}

static void remove_pidfile(const cn_cluster_t *cl) {
    char *p = cn_path_join(cl->data, "up.pid");
    unlink(p);
    free(p);
}

/* The background supervisor: reports "0<summary>" or "1<error>" on fd, then
   supervises. Never returns. */
static void daemon_main(cn_cluster_t *cl, cn_cli_t *g, const up_opts_t *o, int fd) {
    setsid();
    char *log = cn_xasprintf("%s/logs/up.log", cl->data);
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0);
    if (lfd >= 0) dup2(lfd, 1), dup2(lfd, 2);
    free(log);
    cn_buf_t b = {0};
    int rc = start_all(cl, g, o);
    cn_buf_putc(&b, rc ? '1' : '0');
    if (rc)
        cn_buf_printf(&b, "%s", cn_err_detail());
    else
        summary(cl, g, &b);
    if (write(fd, b.data, b.len) < 0) { /* the parent is gone: supervise anyway */
    }
    close(fd);
    cn_buf_free(&b);
    if (rc == 0) {
        cn_sup_loop(cl);
        cn_sup_stop(cl);
    }
    remove_pidfile(cl);
    teardown(cl);
    _exit(rc ? 1 : 0);
}

static int detach(cn_cluster_t *cl, cn_cli_t *g, const up_opts_t *o) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        teardown(cl);
        return cn_fail(cn_err(CN_ESYS, "pipe: %m"));
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        teardown(cl);
        return cn_fail(cn_err(CN_ESYS, "fork: %m"));
    }
    if (pid == 0) {
        close(p[0]);
        daemon_main(cl, g, o, p[1]);
    }
    close(p[1]);
    cn_buf_t b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0) cn_buf_append(&b, chunk, (size_t)n);
    close(p[0]);
    int status;
    if (b.len == 0) {
        status =
            cn_fail(cn_err(CN_EIO, "the background supervisor died at start (see %s/logs/up.log)", cl->data));
    } else if (b.data[0] != '0') {
        fprintf(stderr, "canopy: %.*s\n", (int)b.len - 1, (const char *)b.data + 1);
        status = CN_EXIT_FAIL;
    } else {
        fwrite(b.data + 1, 1, b.len - 1, stdout);
        status = 0;
    }
    cn_buf_free(&b);
    teardown(cl);
    return status;
}

int cn_cmd_up(cn_cli_t *g, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (cn_arg_help(argv[i])) return cn_print_help(usage_text);
    up_opts_t o;
    int rc = parse(g, &o, argc, argv);
    if (rc) return rc;
    if ((rc = cn_mkdir_p(g->data))) return cn_fail(rc);
    cn_cluster_t cl = {0};
    cl.data = realpath(g->data, NULL);
    if (!cl.data) return cn_fail(cn_err(CN_ESYS, "cannot resolve %s: %m", g->data));
    /* One supervisor per data directory: it holds up.lock for its lifetime (the
       lock passes to the background supervisor with the fork; CLOEXEC keeps it
       from the daemons). */
    char *lockpath = cn_path_join(cl.data, "up.lock");
    int lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(lockpath);
    int running = cn_up_running(cl.data);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0 || running) {
        rc = running
                 ? cn_err(CN_EEXIST,
                          "a cluster is already up in %s (supervisor pid %d); canopy --data %s down stops it",
                          cl.data, running, cl.data)
                 : cn_err(CN_ELOCKED, "a cluster is already up or starting in %s (%s/up.lock is held)",
                          cl.data, cl.data);
        if (lockfd >= 0) close(lockfd);
        free(cl.data);
        return cn_fail(rc);
    }
    setup(&cl, &o);
    cn_sup_block_signals(&cl);
    if (o.detach) {
        rc = detach(&cl, g, &o);
        close(lockfd); /* the background supervisor keeps its own reference */
        return rc;
    }
    rc = start_all(&cl, g, &o);
    if (rc == 0) {
        cn_buf_t b = {0};
        summary(&cl, g, &b);
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        cn_buf_free(&b);
        cn_sup_loop(&cl);
        cn_sup_stop(&cl);
    }
    remove_pidfile(&cl);
    teardown(&cl);
    close(lockfd);
    return rc ? cn_fail(rc) : 0;
}
