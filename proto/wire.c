/* wire.c: see wire.h. */
#include "wire.h"

#include "errors.h"

#include <string.h>

int cn_wire_pack(Canopy__Envelope *env, cn_buf_t *out) {
    env->version = CN_PROTO_VERSION;
    size_t n = canopy__envelope__get_packed_size(env);
    if (n > CN_WIRE_MAX_FRAME)
        return cn_err(CN_ETOOBIG, "message of %zu bytes is over the %u-byte limit", n, CN_WIRE_MAX_FRAME);
    cn_buf_reserve(out, n);
    canopy__envelope__pack(env, out->data + out->len);
    out->len += n;
    return 0;
}

int cn_wire_unpack(const void *data, size_t len, Canopy__Envelope **out) {
    *out = NULL;
    if (len > CN_WIRE_MAX_FRAME)
        return cn_err(CN_ETOOBIG, "frame of %zu bytes is over the %u-byte limit", len, CN_WIRE_MAX_FRAME);
    if (len == 0) return cn_err(CN_EPROTO, "empty frame");
    Canopy__Envelope *env = canopy__envelope__unpack(NULL, len, data);
    if (!env) return cn_err(CN_EPROTO, "frame of %zu bytes is not a canopy envelope", len);
    if (env->version != CN_PROTO_VERSION) {
        int rc = cn_err(CN_EVERSION, "protocol version %u, expected %u", env->version, CN_PROTO_VERSION);
        canopy__envelope__free_unpacked(env, NULL);
        return rc;
    }
    if (env->body_case == CANOPY__ENVELOPE__BODY__NOT_SET) {
        canopy__envelope__free_unpacked(env, NULL);
        return cn_err(CN_EPROTO, "envelope without a body");
    }
    *out = env;
    return 0;
}

void cn_wire_free(Canopy__Envelope *env) {
    if (env) canopy__envelope__free_unpacked(env, NULL);
}

const char *cn_wire_body_name(const Canopy__Envelope *env) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&canopy__envelope__descriptor, (unsigned)env->body_case);
    return f ? f->name : "none";
}

void cn_rec_pack(const ProtobufCMessage *m, cn_buf_t *out) {
    size_t n = protobuf_c_message_get_packed_size(m);
    cn_buf_reserve(out, n);
    protobuf_c_message_pack(m, out->data + out->len);
    out->len += n;
}

int cn_rec_unpack(const ProtobufCMessageDescriptor *d, const void *data, size_t len, ProtobufCMessage **out) {
    *out = NULL;
    if (len > CN_RECORD_MAX) return cn_err(CN_ETOOBIG, "record of %zu bytes is over the limit", len);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    if (!m) return cn_err(CN_ECORRUPT, "stored %s of %zu bytes does not decode", d->short_name, len);
    *out = m;
    return 0;
}

void cn_rec_free(ProtobufCMessage *m) {
    if (m) protobuf_c_message_free_unpacked(m, NULL);
}
