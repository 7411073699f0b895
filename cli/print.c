/* print.c: how the CLI shows jobs and numbers: state names, a job as JSON (its
   spec decoded through the kind's protobuf descriptor), durations and progress
   bars. Single-threaded; callers own the buffers. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {"unknown",   "queued", "leased",    "running",
                                          "succeeded", "failed", "cancelled", "dead"};

const char *cn_state_name(int state) {
    if (state < 0 || (size_t)state >= CN_ARRAY_LEN(state_names)) return "unknown";
    return state_names[state];
}

int cn_state_parse(const char *s) {
    for (size_t i = 1; i < CN_ARRAY_LEN(state_names); i++)
        if (strcmp(s, state_names[i]) == 0) return (int)i;
    if (strcmp(s, "canceled") == 0) return CANOPY__JOB_STATE__CANCELLED;
    return 0;
}

bool cn_state_final(int state) {
    return state == CANOPY__JOB_STATE__SUCCEEDED || state == CANOPY__JOB_STATE__CANCELLED ||
           state == CANOPY__JOB_STATE__DEAD;
}

/* Spec messages by kind name, to show a job's arguments. */
static const ProtobufCMessageDescriptor *spec_desc(const char *kind) {
    static const struct {
        const char *kind;
        const ProtobufCMessageDescriptor *d;
    } t[] = {
        {"noop", &canopy__noop_spec__descriptor},
        {"sleep", &canopy__sleep_spec__descriptor},
        {"scan", &canopy__scan_spec__descriptor},
        {"download", &canopy__download_spec__descriptor},
        {"sync", &canopy__sync_spec__descriptor},
        {"compile", &canopy__compile_spec__descriptor},
        {"compile-task", &canopy__compile_spec__descriptor},
        {"ingest", &canopy__ingest_spec__descriptor},
        {"merge", &canopy__merge_spec__descriptor},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(t); i++)
        if (strcmp(t[i].kind, kind) == 0) return t[i].d;
    return NULL;
}

static void field_json(cn_buf_t *b, const ProtobufCFieldDescriptor *f, const void *p) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        cn_buf_printf(b, "%d", *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        cn_buf_printf(b, "%u", *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        cn_buf_printf(b, "%lld", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        cn_buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        cn_buf_printf(b, "%s", *(const protobuf_c_boolean *)p ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        cn_buf_printf(b, "%g", (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        cn_buf_printf(b, "%g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        cn_json_str(b, s ? s : "", s ? strlen(s) : 0);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = p;
        cn_json_str(b, (const char *)d->data, d->len);
        break;
    }
    default:
        cn_buf_printf(b, "null");
        break;
    }
}

/* The spec as a JSON object of its scalar fields (nested messages are skipped). */
static void spec_json(cn_buf_t *b, const char *kind, const ProtobufCBinaryData *spec) {
    const ProtobufCMessageDescriptor *d = spec_desc(kind);
    ProtobufCMessage *m = NULL;
    if (!d || cn_rec_unpack(d, spec->data, spec->len, &m) != 0) {
        cn_buf_printf(b, "{\"bytes\":%zu}", spec->len);
        return;
    }
    cn_buf_putc(b, '{');
    bool first = true;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE) continue;
        cn_json_key(b, f->name, first);
        first = false;
        field_json(b, f, (const char *)m + f->offset);
    }
    cn_buf_putc(b, '}');
    cn_rec_free(m);
}

static void kv_str(cn_buf_t *b, const char *k, const char *v) {
    cn_json_key(b, k, false);
    cn_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

static void kv_u64(cn_buf_t *b, const char *k, uint64_t v) {
    cn_json_key(b, k, false);
    cn_buf_printf(b, "%llu", (unsigned long long)v);
}

static void history_json(cn_buf_t *b, const Canopy__Job *j) {
    cn_json_key(b, "history", false);
    cn_buf_putc(b, '[');
    for (size_t i = 0; i < j->n_history; i++) {
        const Canopy__AttemptRecord *h = j->history[i];
        cn_buf_printf(b, "%s{\"attempt\":%u,\"lease_seq\":%llu", i ? "," : "", h->attempt,
                      (unsigned long long)h->lease_seq);
        kv_str(b, "worker", h->worker);
        kv_u64(b, "started_ms", h->started_ms);
        kv_u64(b, "finished_ms", h->finished_ms);
        kv_str(b, "outcome", cn_state_name(h->outcome));
        kv_str(b, "error", h->error);
        cn_json_key(b, "result_accepted", false);
        cn_buf_printf(b, "%s", h->result_accepted ? "true" : "false");
        cn_buf_putc(b, '}');
    }
    cn_buf_putc(b, ']');
}

void cn_job_json(cn_buf_t *b, const Canopy__Job *j, bool full) {
    const Canopy__JobSpec *sp = j->spec;
    cn_buf_printf(b, "{\"id\":%llu", (unsigned long long)j->id);
    kv_str(b, "kind", sp ? sp->kind : "");
    kv_str(b, "state", cn_state_name(j->state));
    kv_u64(b, "attempts", j->attempts);
    kv_u64(b, "accepted_results", j->accepted_results);
    kv_str(b, "worker", j->worker);
    kv_str(b, "error", j->error);
    cn_json_key(b, "error_code", false);
    cn_buf_printf(b, "%d", j->error_code);
    cn_json_key(b, "priority", false);
    cn_buf_printf(b, "%d", sp ? sp->priority : 0);
    kv_u64(b, "lease_seq", j->lease_seq);
    kv_u64(b, "submitted_ms", j->submitted_ms);
    kv_u64(b, "started_ms", j->started_ms);
    kv_u64(b, "finished_ms", j->finished_ms);
    kv_u64(b, "progress_done", j->progress_done);
    kv_u64(b, "progress_total", j->progress_total);
    kv_u64(b, "progress_bytes_done", j->progress_bytes_done);
    kv_u64(b, "progress_bytes_total", j->progress_bytes_total);
    if (j->summary && j->summary[0] == '{') {
        cn_json_key(b, "summary", false);
        cn_buf_printf(b, "%s", j->summary);
    }
    if (full && sp) {
        kv_str(b, "key", sp->dedup_key);
        kv_str(b, "serial_key", sp->serial_key);
        kv_u64(b, "max_attempts", sp->max_attempts);
        kv_u64(b, "timeout_ms", sp->timeout_ms);
        cn_json_key(b, "after", false);
        cn_buf_putc(b, '[');
        for (size_t i = 0; i < sp->n_after; i++)
            cn_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)sp->after[i]);
        cn_buf_putc(b, ']');
        cn_json_key(b, "spec", false);
        spec_json(b, sp->kind, &sp->spec);
        kv_u64(b, "key_id", j->key_id);
        kv_u64(b, "not_before_ms", j->not_before_ms);
        kv_u64(b, "deadline_ms", j->deadline_ms);
        kv_str(b, "progress_unit", j->progress_unit);
        cn_json_key(b, "cancel_requested", false);
        cn_buf_printf(b, "%s", j->cancel_requested ? "true" : "false");
        history_json(b, j);
    }
    cn_buf_putc(b, '}');
}

void cn_fmt_duration(char *out, size_t n, uint64_t ms) {
    if (ms < 1000)
        snprintf(out, n, "%llums", (unsigned long long)ms);
    else if (ms < 60000)
        snprintf(out, n, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(out, n, "%llum%02llus", (unsigned long long)(ms / 60000),
                 (unsigned long long)(ms / 1000 % 60));
    else
        snprintf(out, n, "%lluh%02llum", (unsigned long long)(ms / 3600000),
                 (unsigned long long)(ms / 60000 % 60));
}

void cn_fmt_bar(char *out, size_t n, uint64_t done, uint64_t total, int width) {
    if (n == 0) return;
    if (width < 1) width = 1;
    if ((size_t)width + 3 > n) width = (int)n - 3;
    int fill = total ? (int)((double)CN_MIN(done, total) * width / (double)total) : 0;
    size_t k = 0;
    out[k++] = '[';
    for (int i = 0; i < width; i++) out[k++] = i < fill ? '#' : (total ? '.' : '?');
    out[k++] = ']';
    out[k] = '\0';
}

void cn_fmt_bytes(char *out, size_t n, uint64_t bytes) {
    static const char *const units[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
    if (bytes < 1000) {
        snprintf(out, n, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1000.0;
    size_t u = 0;
    while (v >= 999.95 && u + 1 < CN_ARRAY_LEN(units)) v /= 1000.0, u++;
    snprintf(out, n, "%.1f %s", v, units[u]);
}

bool cn_fmt_progress(cn_buf_t *b, const char *lead, uint64_t done, uint64_t total, const char *unit,
                     uint64_t bytes_done, uint64_t bytes_total) {
    bool units = done || total, bytes = bytes_done || bytes_total;
    if (!units && !bytes) return false;
    cn_buf_printf(b, "%s", lead);
    if (units) {
        cn_buf_printf(b, "%llu/%llu", (unsigned long long)done, (unsigned long long)total);
        if (unit && unit[0]) cn_buf_printf(b, " %s", unit);
    }
    if (!bytes) return true;
    char d[32], t[32];
    cn_fmt_bytes(d, sizeof d, bytes_done);
    cn_buf_printf(b, "%s%s", units ? ", " : "", d);
    if (bytes_total) {
        cn_fmt_bytes(t, sizeof t, bytes_total);
        cn_buf_printf(b, " of %s", t);
    }
    return true;
}

void cn_print_buf(cn_buf_t *b) {
    cn_buf_putc(b, '\n');
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    cn_buf_free(b);
}
