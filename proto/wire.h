/* wire.h: the only code that frames, packs, unpacks and size-checks canopy's
   protobuf messages: Envelopes on the wire (canopy.proto) and stored records
   (records.proto). Callers: coordinator, worker, cli, storage. Thread-safe.
   Decoding never trusts its input: version, size limits and a set oneof are
   checked here, so a handler sees only well-formed envelopes. */
#ifndef CN_WIRE_H
#define CN_WIRE_H

#include "canopy.pb-c.h"
#include "records.pb-c.h"
#include "util.h"

#include <stddef.h>

#define CN_PROTO_VERSION 1u
/* Hard limits: a frame larger than this is rejected before unpacking. */
#define CN_WIRE_MAX_FRAME (16u << 20)
/* Records in shards may be larger (a commit message, a scan tree). */
#define CN_RECORD_MAX (256u << 20)

/* Packs env (setting env->version) and appends it to out. CN_ETOOBIG past the
   frame limit. Never blocks. */
int cn_wire_pack(Canopy__Envelope *env, cn_buf_t *out);
/* Unpacks one frame. Returns 0 and *out (free with cn_wire_free), or CN_ETOOBIG,
   CN_EPROTO (malformed, or no body) or CN_EVERSION, with a detail. */
int cn_wire_unpack(const void *data, size_t len, Canopy__Envelope **out);
void cn_wire_free(Canopy__Envelope *env);
/* The name of the envelope's body ("heartbeat", ...) for logs and counters. */
const char *cn_wire_body_name(const Canopy__Envelope *env);

/* Stored records: pack any message; unpack with a size limit. */
void cn_rec_pack(const ProtobufCMessage *m, cn_buf_t *out);
/* Returns 0 and *out (free with cn_rec_free), CN_ETOOBIG or CN_ECORRUPT. */
int cn_rec_unpack(const ProtobufCMessageDescriptor *d, const void *data, size_t len, ProtobufCMessage **out);
void cn_rec_free(ProtobufCMessage *m);

#endif
