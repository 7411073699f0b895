/* net.c: see net.h. */
#include "net.h"

#include "errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct cn_sock {
    void *z;
    enum cn_sock_type type;
    uint64_t bad;
};

static void *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void) {
    ctx = zmq_ctx_new();
    if (!ctx) abort();
    zmq_ctx_set(ctx, ZMQ_BLOCKY, 0);
}

static int zerr(const char *what) {
    return cn_err(CN_ESYS, "%s: %s", what, zmq_strerror(zmq_errno()));
}

int cn_sock_new(enum cn_sock_type type, const cn_sock_opts_t *o, cn_sock_t **out) {
    static const int ztype[] = {ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUB, ZMQ_SUB, ZMQ_XPUB};
    pthread_once(&ctx_once, ctx_init);
    void *z = zmq_socket(ctx, ztype[type]);
    if (!z) return zerr("zmq_socket");
    int linger = 1000, one = 1, zero = 0;
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    if (type == CN_SOCK_ROUTER) {
        zmq_setsockopt(z, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        /* A reconnecting worker keeps its routing id: the new pipe takes it over. */
        zmq_setsockopt(z, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    }
    if (o && o->identity) zmq_setsockopt(z, ZMQ_ROUTING_ID, o->identity, strlen(o->identity));
    int hwm = o && o->sndhwm ? o->sndhwm : 100000;
    zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    hwm = o && o->rcvhwm ? o->rcvhwm : 100000;
    zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (type == CN_SOCK_DEALER) {
        int ivl = 100, max = 5000;
        zmq_setsockopt(z, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        zmq_setsockopt(z, ZMQ_RECONNECT_IVL_MAX, &max, sizeof max);
    }
    if (o && o->curve_server && o->curve_secret) {
        one = 1;
        zmq_setsockopt(z, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, o->curve_secret, 40);
    } else if (o && o->curve_server_key && o->curve_public && o->curve_secret) {
        zmq_setsockopt(z, ZMQ_CURVE_SERVERKEY, o->curve_server_key, 40);
        zmq_setsockopt(z, ZMQ_CURVE_PUBLICKEY, o->curve_public, 40);
        zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, o->curve_secret, 40);
    }
    (void)zero;
    cn_sock_t *s = cn_xcalloc(1, sizeof *s);
    s->z = z;
    s->type = type;
    *out = s;
    return 0;
}

void cn_sock_destroy(cn_sock_t **self_p) {
    if (!self_p || !*self_p) return;
    zmq_close((*self_p)->z);
    free(*self_p);
    *self_p = NULL;
}

int cn_sock_bind(cn_sock_t *s, const char *endpoint) {
    if (zmq_bind(s->z, endpoint) == -1)
        return cn_err(CN_ESYS, "bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

int cn_sock_connect(cn_sock_t *s, const char *endpoint) {
    if (zmq_connect(s->z, endpoint) == -1)
        return cn_err(CN_ESYS, "connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

int cn_sock_subscribe_all(cn_sock_t *s) {
    if (zmq_setsockopt(s->z, ZMQ_SUBSCRIBE, "", 0) == -1) return zerr("subscribe");
    return 0;
}

/* One frame; a send interrupted by a signal (EINTR: our own SIGTERM) is
   repeated, as the receive paths do. */
static int send_frame(void *z, const void *data, size_t len, int flags) {
    int r;
    while ((r = zmq_send(z, data, len, flags)) == -1 && zmq_errno() == EINTR) continue;
    return r;
}

int cn_sock_send_raw(cn_sock_t *s, const cn_peer_t *to, const void *data, size_t len, bool block) {
    int flags = block ? 0 : ZMQ_DONTWAIT;
    if (s->type == CN_SOCK_ROUTER) {
        if (!to) return cn_err(CN_EINVAL, "ROUTER send without a peer");
        if (send_frame(s->z, to->id, to->len, flags | ZMQ_SNDMORE) == -1) goto fail;
    }
    if (send_frame(s->z, data, len, flags) == -1) goto fail;
    return 0;
fail:
    if (zmq_errno() == EHOSTUNREACH) return cn_err(CN_EUNREACHABLE, "peer is gone");
    if (zmq_errno() == EAGAIN) return cn_err(CN_EAGAIN, "peer queue is full");
    return zerr("send");
}

int cn_sock_send(cn_sock_t *s, const cn_peer_t *to, Canopy__Envelope *env, bool block) {
    cn_buf_t b = {0};
    int rc = cn_wire_pack(env, &b);
    if (rc == 0) rc = cn_sock_send_raw(s, to, b.data, b.len, block);
    cn_buf_free(&b);
    return rc;
}

/* Drains the remaining frames of a multipart message we will not read. */
static void drain(void *z) {
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(z, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, z, 0);
        zmq_msg_close(&m);
    }
}

static bool has_more(void *z) {
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt(z, ZMQ_RCVMORE, &more, &sz);
    return more != 0;
}

int cn_sock_recv(cn_sock_t *s, cn_peer_t *from, Canopy__Envelope **env, int timeout_ms) {
    *env = NULL;
    if (timeout_ms != 0) {
        zmq_pollitem_t it = {s->z, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, timeout_ms);
        if (n == -1) return zmq_errno() == EINTR ? cn_err(CN_EAGAIN, "interrupted") : zerr("poll");
        if (n == 0) return CN_EAGAIN;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (s->type == CN_SOCK_ROUTER) {
        if (zmq_msg_recv(&m, s->z, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close(&m);
            return zmq_errno() == EAGAIN ? CN_EAGAIN : zerr("recv");
        }
        size_t idlen = zmq_msg_size(&m);
        if (from) {
            from->len = CN_MIN(idlen, sizeof from->id);
            memcpy(from->id, zmq_msg_data(&m), from->len);
        }
        if (!has_more(s->z)) {
            zmq_msg_close(&m);
            s->bad++;
            return cn_err(CN_EPROTO, "routing frame without a body");
        }
        zmq_msg_close(&m);
        zmq_msg_init(&m);
    }
    if (zmq_msg_recv(&m, s->z, s->type == CN_SOCK_ROUTER ? 0 : ZMQ_DONTWAIT) == -1) {
        zmq_msg_close(&m);
        return zmq_errno() == EAGAIN ? CN_EAGAIN : zerr("recv");
    }
    int rc;
    if (has_more(s->z)) {
        drain(s->z);
        rc = cn_err(CN_EPROTO, "multipart body");
    } else {
        rc = cn_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), env);
    }
    zmq_msg_close(&m);
    if (rc) s->bad++;
    return rc;
}

uint64_t cn_sock_bad_count(const cn_sock_t *s) {
    return s->bad;
}

int cn_sock_recv_frame(cn_sock_t *s, cn_buf_t *out, int timeout_ms) {
    uint8_t buf[4096];
    if (timeout_ms != 0) {
        zmq_pollitem_t it = {s->z, 0, ZMQ_POLLIN, 0};
        int r = zmq_poll(&it, 1, timeout_ms);
        if (r == -1) return zmq_errno() == EINTR ? CN_EAGAIN : zerr("poll");
        if (r == 0) return CN_EAGAIN;
    }
    int n = zmq_recv(s->z, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n == -1) return zmq_errno() == EAGAIN ? CN_EAGAIN : zerr("recv");
    if (has_more(s->z)) drain(s->z);
    cn_buf_reset(out);
    cn_buf_append(out, buf, CN_MIN((size_t)n, sizeof buf));
    return 0;
}

int cn_poll(cn_sock_t **socks, bool *ready, int n, int timeout_ms) {
    zmq_pollitem_t items[16];
    if (n > 16) return cn_err(CN_EINVAL, "too many sockets to poll");
    for (int i = 0; i < n; i++) items[i] = (zmq_pollitem_t){socks[i]->z, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(items, n, timeout_ms);
    if (rc == -1) return cn_err(CN_ESYS, "poll: %s", zmq_strerror(zmq_errno()));
    for (int i = 0; i < n; i++) ready[i] = (items[i].revents & ZMQ_POLLIN) != 0;
    return rc;
}

int cn_curve_keypair(char public_z85[41], char secret_z85[41]) {
    if (zmq_curve_keypair(public_z85, secret_z85) == -1) return zerr("curve keypair");
    return 0;
}

char *cn_curve_read_key(const char *path) {
    cn_buf_t b = {0};
    char *key = NULL;
    if (cn_read_file(path, 1024, &b) == 0 && b.len >= 40) {
        key = cn_xmalloc(41);
        memcpy(key, b.data, 40);
        key[40] = '\0';
    }
    cn_buf_free(&b);
    cn_err_clear();
    return key;
}

char *cn_curve_data_key(const char *data_dir, const char *name, const char *ext) {
    char *file = cn_xasprintf("%s/keys/%s.%s", data_dir, name, ext);
    char *key = cn_curve_read_key(file);
    free(file);
    return key;
}

/* ---- ZAP: the allow-list of client keys (RFC 27) ---- */

static char **zap_allowed;
static size_t zap_n;

static void *zap_thread(void *arg) {
    void *z = arg;
    for (;;) {
        zmq_msg_t part[7];
        int nparts = 0;
        for (;;) {
            zmq_msg_init(&part[nparts]);
            if (zmq_msg_recv(&part[nparts], z, 0) == -1) {
                zmq_msg_close(&part[nparts]);
                for (int i = 0; i < nparts; i++) zmq_msg_close(&part[i]);
                zmq_close(z);
                return NULL; /* context terminated */
            }
            nparts++;
            if (!has_more(z) || nparts == 7) break;
        }
        if (has_more(z)) drain(z);
        bool ok = false;
        if (nparts == 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&part[6]) == 32) {
            char key[41];
            zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
            ok = zap_n == 0;
            for (size_t i = 0; i < zap_n && !ok; i++) ok = strcmp(zap_allowed[i], key) == 0;
        } else if (nparts >= 6) {
            ok = zap_n == 0;
        }
        const char *reqid = nparts > 1 ? zmq_msg_data(&part[1]) : "";
        size_t reqlen = nparts > 1 ? zmq_msg_size(&part[1]) : 0;
        zmq_send(z, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z, reqid, reqlen, ZMQ_SNDMORE);
        zmq_send(z, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(z, ok ? "OK" : "key not allowed", ok ? 2 : 15, ZMQ_SNDMORE);
        zmq_send(z, "", 0, ZMQ_SNDMORE);
        zmq_send(z, "", 0, 0);
        for (int i = 0; i < nparts; i++) zmq_msg_close(&part[i]);
    }
}

int cn_zap_start(const char *const *allowed, size_t n) {
    pthread_once(&ctx_once, ctx_init);
    zap_allowed = cn_xcalloc(n ? n : 1, sizeof *zap_allowed);
    for (size_t i = 0; i < n; i++) zap_allowed[i] = cn_xstrdup(allowed[i]);
    zap_n = n;
    void *z = zmq_socket(ctx, ZMQ_REP);
    if (!z) return zerr("zap socket");
    int linger = 0;
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z, "inproc://zeromq.zap.01") == -1) {
        zmq_close(z);
        return zerr("zap bind");
    }
    pthread_t t;
    if (pthread_create(&t, NULL, zap_thread, z) != 0) {
        zmq_close(z);
        return cn_err(CN_ESYS, "zap thread");
    }
    pthread_detach(t);
    return 0;
}

void cn_net_shutdown(void) {
    if (ctx) zmq_ctx_term(ctx);
    ctx = NULL;
}
