/* fuzz_wire.c: arbitrary bytes into the envelope decoder and every record
   decoder. Nothing may crash, leak or read out of bounds. */
#include "wire.h"

#include <stdint.h>
#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Canopy__Envelope *env = NULL;
    if (cn_wire_unpack(data, size, &env) == 0) {
        (void)cn_wire_body_name(env);
        cn_buf_t b = {0};
        cn_wire_pack(env, &b); /* a decoded envelope must re-encode */
        cn_buf_free(&b);
        cn_wire_free(env);
    }
    static const ProtobufCMessageDescriptor *const recs[] = {
        &canopy__job__descriptor,           &canopy__job_commit__descriptor,
        &canopy__commit__descriptor,        &canopy__changes__descriptor,
        &canopy__heads__descriptor,         &canopy__project_log__descriptor,
        &canopy__journal_entry__descriptor, &canopy__scan_meta__descriptor,
        &canopy__sync_entry__descriptor,    &canopy__compiled_chunk__descriptor,
        &canopy__def__descriptor,           &canopy__def_ref__descriptor,
    };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        ProtobufCMessage *m = NULL;
        if (cn_rec_unpack(recs[i], data, size, &m) == 0) cn_rec_free(m);
    }
    return 0;
}
