/* net.h: canopy's ZeroMQ sockets (the only file that includes zmq.h). Sends and
   receives whole Envelopes through wire.h, so a malformed frame is counted and
   dropped here and callers only ever see well-formed messages.
   A cn_sock_t is used by one thread at a time (ZeroMQ's rule). */
#ifndef CN_NET_H
#define CN_NET_H

#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cn_sock cn_sock_t;

/* XPUB: a PUB that also receives its subscribers' (un)subscriptions
   (cn_sock_recv_frame), so a publisher can skip work nobody listens to. */
enum cn_sock_type { CN_SOCK_ROUTER, CN_SOCK_DEALER, CN_SOCK_PUB, CN_SOCK_SUB, CN_SOCK_XPUB };

/* A ROUTER peer's routing id. */
typedef struct {
    uint8_t id[256];
    size_t len;
} cn_peer_t;

static inline bool cn_peer_eq(const cn_peer_t *a, const cn_peer_t *b) {
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

typedef struct {
    const char *identity; /* DEALER routing id (NULL: random) */
    /* CurveZMQ: a server sets secret_key (z85, 40 chars) and server=true;
       a client sets its own public/secret keys and the server's public key. */
    const char *curve_public;
    const char *curve_secret;
    const char *curve_server_key;
    bool curve_server;
    int sndhwm, rcvhwm; /* 0: defaults */
} cn_sock_opts_t;

/* Creates a socket on the process-wide context. opts may be NULL. */
int cn_sock_new(enum cn_sock_type type, const cn_sock_opts_t *opts, cn_sock_t **out);
void cn_sock_destroy(cn_sock_t **self_p);
int cn_sock_bind(cn_sock_t *s, const char *endpoint);
int cn_sock_connect(cn_sock_t *s, const char *endpoint);
/* SUB: subscribe to everything. */
int cn_sock_subscribe_all(cn_sock_t *s);

/* Sends env (to `to` on a ROUTER; NULL elsewhere). Non-blocking unless block:
   CN_EAGAIN when the peer's queue is full, CN_EUNREACHABLE when a ROUTER's peer is
   gone (ZMQ_ROUTER_MANDATORY). */
int cn_sock_send(cn_sock_t *s, const cn_peer_t *to, Canopy__Envelope *env, bool block);
/* Sends an already packed envelope. */
int cn_sock_send_raw(cn_sock_t *s, const cn_peer_t *to, const void *data, size_t len, bool block);
/* Receives one envelope, waiting up to timeout_ms (-1: forever, 0: poll).
   Returns 0 with *env (free with cn_wire_free), CN_EAGAIN on timeout, or the
   decode error (CN_EPROTO, CN_ETOOBIG, CN_EVERSION) for a bad frame, which has
   been consumed and counted in cn_sock_bad_count. */
int cn_sock_recv(cn_sock_t *s, cn_peer_t *from, Canopy__Envelope **env, int timeout_ms);
uint64_t cn_sock_bad_count(const cn_sock_t *s);
/* Receives one raw frame (not an envelope) into out (reset first), waiting up to
   timeout_ms: for XPUB subscription messages (byte 1 subscribe, 0 unsubscribe,
   then the topic). Returns 0 or CN_EAGAIN. Frames over 4 KiB are truncated. */
int cn_sock_recv_frame(cn_sock_t *s, cn_buf_t *out, int timeout_ms);

/* Waits until one of socks is readable or timeout_ms passes (-1: forever).
   Sets ready[i]. Returns the number ready (0 on timeout) or CN_ESYS (EINTR
   included, so a signal handler's flag can be checked). */
int cn_poll(cn_sock_t **socks, bool *ready, int n, int timeout_ms);

/* CurveZMQ key pair in z85 (41 bytes each with the NUL). */
int cn_curve_keypair(char public_z85[41], char secret_z85[41]);
/* Reads a z85 key (the first 40 bytes) from a key file such as
   <data>/keys/NAME.public; returns a malloc'd string or NULL if absent/short. */
char *cn_curve_read_key(const char *path);
/* The same for <data_dir>/keys/NAME.EXT (ext "public" or "secret"). */
char *cn_curve_data_key(const char *data_dir, const char *name, const char *ext);
/* Runs a ZAP handler thread that allows only the listed client public keys
   (z85); call before binding a curve server. NULL/0 allows every key. */
int cn_zap_start(const char *const *allowed, size_t n);

/* Terminates the process-wide context (at exit, after every socket is closed). */
void cn_net_shutdown(void);

#endif
