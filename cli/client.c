/* client.c: the CLI's connection to the coordinator (see cli.h): finds the
   endpoint (--coordinator, <data>/coordinator.endpoints, the default ipc path),
   connects a DEALER (CurveZMQ over tcp:// when keys are in <data>/keys/), and
   matches replies to requests by req_id. Single-threaded. */
#include "cli.h"

#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct cn_client {
    cn_sock_t *sock;
    char *endpoint;
    char *events;
    uint64_t next_req;
    int timeout_ms;
    int curve; /* tcp:// only: 1 with CurveZMQ keys, -1 without */
};

/* The error for a coordinator that does not answer, with a hint for tcp:// where
   a CurveZMQ handshake that fails is silent. */
static int no_coordinator(const cn_client_t *c, int code) {
    const char *hint = c->curve > 0   ? "; with CurveZMQ, is this client's public key in the coordinator's "
                                        "keys/allowed/?"
                       : c->curve < 0 ? "; a CurveZMQ coordinator also needs keys/coordinator.public and a "
                                        "client key pair (canopy keygen) under --data"
                                      : "";
    return cn_err(code, "no coordinator at %s (is the cluster up? try canopy up%s)", c->endpoint, hint);
}

/* Reads router and pub endpoints from <data>/coordinator.endpoints, if any. */
static void read_endpoints_file(const char *data, char **router, char **pub) {
    char *path = cn_path_join(data, "coordinator.endpoints");
    cn_buf_t b = {0};
    cn_json_obj_t o = {0};
    if (cn_read_file(path, 64 * 1024, &b) == 0 &&
        cn_json_parse_object((const char *)b.data, b.len, &o) == 0) {
        const cn_json_pair_t *r = cn_json_get(&o, "router"), *p = cn_json_get(&o, "pub");
        if (r && r->type == CN_JSON_STR && r->value[0]) *router = cn_xstrdup(r->value);
        if (p && p->type == CN_JSON_STR && p->value[0]) *pub = cn_xstrdup(p->value);
        cn_json_obj_free(&o);
    }
    cn_buf_free(&b);
    free(path);
    cn_err_clear();
}

static int open_sock(cn_client_t *c, const char *data) {
    cn_sock_opts_t o = {0};
    char *server = NULL, *pub = NULL, *sec = NULL;
    if (strncmp(c->endpoint, "tcp://", 6) == 0) {
        const char *name = getenv("CANOPY_KEY");
        server = cn_curve_data_key(data, "coordinator", "public");
        pub = cn_curve_data_key(data, name && *name ? name : "client", "public");
        sec = cn_curve_data_key(data, name && *name ? name : "client", "secret");
        c->curve = server && pub && sec ? 1 : -1;
        if (c->curve > 0) {
            o.curve_server_key = server;
            o.curve_public = pub;
            o.curve_secret = sec;
        }
    }
    int rc = cn_sock_new(CN_SOCK_DEALER, &o, &c->sock);
    if (rc == 0) rc = cn_sock_connect(c->sock, c->endpoint);
    free(server);
    free(pub);
    free(sec);
    return rc;
}

/* True when nothing listens on an ipc:// endpoint (no socket file, or a file
   left by a coordinator that was killed): then there is no point waiting. */
static bool ipc_dead(const char *endpoint) {
    if (strncmp(endpoint, "ipc://", 6) != 0) return false;
    const char *path = endpoint + 6;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) return false;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool dead =
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && (errno == ENOENT || errno == ECONNREFUSED);
    close(fd);
    return dead;
}

int cn_client_open(const cn_cli_t *g, cn_client_t **out) {
    cn_client_t *c = cn_xcalloc(1, sizeof *c);
    char *router = NULL, *pub = NULL;
    read_endpoints_file(g->data, &router, &pub);
    if (g->coordinator) {
        c->endpoint = cn_xstrdup(g->coordinator);
        /* The events socket is known only for the cluster of the data dir. */
        if (router && strcmp(router, g->coordinator) == 0) c->events = pub, pub = NULL;
        free(router);
    } else if (router) {
        c->endpoint = router;
        c->events = pub;
        pub = NULL;
    } else {
        char *abs = realpath(g->data, NULL);
        c->endpoint = cn_xasprintf("ipc://%s/coordinator.sock", abs ? abs : g->data);
        c->events = cn_xasprintf("ipc://%s/events.sock", abs ? abs : g->data);
        free(abs);
    }
    free(pub);
    c->timeout_ms = g->timeout_ms > 0 ? g->timeout_ms : 10000;
    c->next_req = ((uint64_t)getpid() << 20) + 1;
    /* Say so now rather than after the timeout. */
    if (ipc_dead(c->endpoint)) {
        int rc = no_coordinator(c, CN_EUNREACHABLE);
        cn_client_close(&c);
        return rc;
    }
    int rc = open_sock(c, g->data);
    if (rc) {
        cn_client_close(&c);
        return rc;
    }
    *out = c;
    return 0;
}

void cn_client_close(cn_client_t **self_p) {
    if (!self_p || !*self_p) return;
    cn_client_t *c = *self_p;
    cn_sock_destroy(&c->sock);
    free(c->endpoint);
    free(c->events);
    free(c);
    *self_p = NULL;
}

const char *cn_client_endpoint(const cn_client_t *c) {
    return c->endpoint;
}
const char *cn_client_events(const cn_client_t *c) {
    return c->events;
}

int cn_client_send(cn_client_t *c, Canopy__Envelope *req, uint64_t *req_id) {
    req->req_id = c->next_req++;
    if (req_id) *req_id = req->req_id;
    /* Never block for good: a DEALER with no peer would wait forever. */
    uint64_t deadline = cn_mono_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
        int rc = cn_sock_send(c->sock, NULL, req, false);
        if (rc != CN_EAGAIN) return rc;
        if (cn_mono_ms() >= deadline) return no_coordinator(c, CN_EUNREACHABLE);
        cn_sleep_ms(5);
    }
}

/* Receives the next well-formed envelope, Error bodies included. */
static int recv_raw(cn_client_t *c, Canopy__Envelope **reply, int wait) {
    uint64_t deadline = cn_mono_ms() + (uint64_t)(wait > 0 ? wait : 0);
    for (;;) {
        uint64_t now = cn_mono_ms();
        int left = now >= deadline ? 0 : (int)(deadline - now);
        int rc = cn_sock_recv(c->sock, NULL, reply, left > 0 ? left : 1);
        if (rc == CN_EAGAIN) {
            if (cn_mono_ms() < deadline) continue; /* interrupted by a signal */
            return no_coordinator(c, CN_ETIMEOUT);
        }
        if (rc == CN_EPROTO || rc == CN_ETOOBIG || rc == CN_EVERSION) continue; /* counted, dropped */
        return rc;
    }
}

/* Turns an Error body into its code (freeing it). */
static int take_error(Canopy__Envelope **env) {
    if ((*env)->body_case != CANOPY__ENVELOPE__BODY_ERROR) return 0;
    Canopy__Error *e = (*env)->error;
    int code = e->code < 0 ? e->code : CN_EINVAL;
    int rc = cn_err(code, "%s", e->message[0] ? e->message : cn_strerror(code));
    cn_wire_free(*env);
    *env = NULL;
    return rc;
}

int cn_client_recv(cn_client_t *c, Canopy__Envelope **reply, int timeout_ms) {
    *reply = NULL;
    int rc = recv_raw(c, reply, timeout_ms < 0 ? c->timeout_ms : timeout_ms);
    return rc ? rc : take_error(reply);
}

int cn_client_recv_env(cn_client_t *c, Canopy__Envelope **reply, int timeout_ms) {
    *reply = NULL;
    return recv_raw(c, reply, timeout_ms < 0 ? c->timeout_ms : timeout_ms);
}

int cn_client_call(cn_client_t *c, Canopy__Envelope *req, Canopy__Envelope__BodyCase expect,
                   Canopy__Envelope **reply) {
    uint64_t id;
    *reply = NULL;
    int rc = cn_client_send(c, req, &id);
    if (rc) return rc;
    uint64_t deadline = cn_mono_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
        uint64_t now = cn_mono_ms();
        if (now >= deadline) return no_coordinator(c, CN_ETIMEOUT);
        Canopy__Envelope *env;
        rc = recv_raw(c, &env, (int)(deadline - now));
        if (rc) return rc;
        if (env->req_id != id) {
            cn_wire_free(env); /* a late reply to an earlier request */
            continue;
        }
        if ((rc = take_error(&env))) return rc;
        if (env->body_case != expect) {
            rc = cn_err(CN_EPROTO, "the coordinator answered %s to our request", cn_wire_body_name(env));
            cn_wire_free(env);
            return rc;
        }
        *reply = env;
        return 0;
    }
}
