/* fuzz_records.c: arbitrary bytes into the shard's stored-value decoders: the
   blob decode path (kind byte + zstd frame, with a size bound), the delta blob
   decode path (with a fixed base), the raw zstd decoder, and every record type
   the shard stores and fsck reads. Nothing may
   crash, leak, read out of bounds or allocate past the bound. */
#include "compress.h"
#include "shard_int.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_buf_t out = {0};
    int kind = 0;
    if (cn_blob_decode(data, size, 1u << 20, &out, &kind) == 0 && out.len > (1u << 20)) abort();
    cn_buf_reset(&out);
    if (cn_zstd_decompress(data, size, 1u << 16, &out) == 0 && out.len > (1u << 16)) abort();
    /* A delta value against a fixed base: the one the blob_delta seed was made with. */
    static char base[3000];
    if (!base[0])
        for (size_t i = 0; i < sizeof base; i++) base[i] = "int main(void) { return 0; }\n"[i % 29];
    cn_buf_reset(&out);
    if (cn_blob_decode_delta(data, size, base, sizeof base, 1u << 16, &out) == 0 && out.len > (1u << 16))
        abort();
    cn_buf_reset(&out); /* ... and with no base */
    if (cn_blob_decode_delta(data, size, NULL, 0, 1u << 16, &out) == 0 && out.len > (1u << 16)) abort();
    cn_blob_delta_t d = {0};
    if (cn_blob_parse_delta(data, size, &d) == 0 &&
        (d.depth == 0 || d.base_klen == 0 || d.frame + d.frame_len != data + size || d.base_key != data + 3))
        abort();
    cn_buf_free(&out);
    static const ProtobufCMessageDescriptor *const recs[] = {
        &canopy__stamp__descriptor,         &canopy__session__descriptor,
        &canopy__savepoint__descriptor,     &canopy__job_commit__descriptor,
        &canopy__pointer_ref__descriptor,   &canopy__commit__descriptor,
        &canopy__changes__descriptor,       &canopy__path_name__descriptor,
        &canopy__user__descriptor,          &canopy__heads__descriptor,
        &canopy__project_log__descriptor,   &canopy__project__descriptor,
        &canopy__journal_entry__descriptor, &canopy__merge_watermark__descriptor,
    };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        ProtobufCMessage *m = NULL;
        if (cn_rec_unpack(recs[i], data, size, &m) == 0) {
            cn_buf_t b = {0};
            cn_rec_pack(m, &b); /* a decoded record must re-encode */
            cn_buf_free(&b);
            cn_rec_free(m);
        }
    }
    return 0;
}
