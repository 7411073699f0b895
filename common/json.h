/* json.h: the JSON canopy needs: a writer for --json output and log lines, and a
   parser for flat objects (one job's arguments per line of `submit --from`).
   Thread-safe (no global state). */
#ifndef CN_JSON_H
#define CN_JSON_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends s (n bytes, any bytes) as a JSON string literal; bytes that are not
   valid UTF-8 are written as \u00XX escapes of the byte so nothing is lost. */
void cn_json_str(cn_buf_t *b, const char *s, size_t n);
/* Appends "key": (with a leading comma unless first). */
void cn_json_key(cn_buf_t *b, const char *key, bool first);

enum cn_json_type { CN_JSON_STR, CN_JSON_NUM, CN_JSON_BOOL, CN_JSON_NULL, CN_JSON_ARRAY, CN_JSON_OBJECT };

typedef struct {
    char *key;
    char *value; /* unescaped string, number text, "true"/"false", raw array/object */
    enum cn_json_type type;
} cn_json_pair_t;

typedef struct {
    cn_json_pair_t *pair;
    size_t n;
} cn_json_obj_t;

/* Parses one JSON object from [s, s+n). Nested arrays/objects are kept as raw
   text. Returns 0 or CN_EINVAL with a detail naming the byte offset. */
int cn_json_parse_object(const char *s, size_t n, cn_json_obj_t *out);
void cn_json_obj_free(cn_json_obj_t *o);
/* Looks up key; NULL if absent. */
const cn_json_pair_t *cn_json_get(const cn_json_obj_t *o, const char *key);
/* Parses a raw JSON array of non-negative integers ("[1, 2]"); returns count or
   CN_EINVAL. *out is owned by the caller. */
int cn_json_parse_u64_array(const char *raw, uint64_t **out);

#endif
