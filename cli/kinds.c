/* kinds.c: the registry of CLI job kinds (each cli/kind_<name>.c registers
   itself at program start, see kinds.h) and the argument helpers their build()
   functions share. Single-threaded after start-up. */
#include "kinds.h"

#include "errors.h"

#include <string.h>

static cn_cli_kind_t *kinds;

void cn_cli_kind_register(cn_cli_kind_t *k) {
    /* Keep the list sorted by name so --help lists kinds in order. */
    cn_cli_kind_t **p = &kinds;
    while (*p && strcmp((*p)->name, k->name) < 0) p = &(*p)->next;
    k->next = *p;
    *p = k;
}

const cn_cli_kind_t *cn_cli_kind_find(const char *name) {
    for (cn_cli_kind_t *k = kinds; k; k = k->next)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

const cn_cli_kind_t *cn_cli_kind_next(const cn_cli_kind_t *prev) {
    return prev ? prev->next : kinds;
}

const char *cn_kind_arg_str(const cn_json_obj_t *args, const char *key) {
    const cn_json_pair_t *p = cn_json_get(args, key);
    return p && p->type != CN_JSON_NULL ? p->value : NULL;
}

int cn_kind_arg_u64(const cn_json_obj_t *args, const char *key, uint64_t def, uint64_t *out) {
    const cn_json_pair_t *p = cn_json_get(args, key);
    if (!p || p->type == CN_JSON_NULL) {
        *out = def;
        return 0;
    }
    if ((p->type != CN_JSON_NUM && p->type != CN_JSON_STR) || !cn_parse_u64(p->value, out))
        return cn_err(CN_EINVAL, "%s must be a non-negative integer, not '%s'", key, p->value);
    return 0;
}

int cn_kind_arg_bool(const cn_json_obj_t *args, const char *key, bool def, bool *out) {
    const cn_json_pair_t *p = cn_json_get(args, key);
    if (!p || p->type == CN_JSON_NULL) {
        *out = def;
        return 0;
    }
    const char *v = p->value;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0)
        *out = false;
    else
        return cn_err(CN_EINVAL, "%s must be true or false, not '%s'", key, v);
    return 0;
}

int cn_kind_args_only(const cn_json_obj_t *args, const char *kind, const char *const *known) {
    for (size_t i = 0; i < args->n; i++) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, args->pair[i].key) == 0;
        if (!ok) return cn_err(CN_EINVAL, "%s jobs take no argument '%s'", kind, args->pair[i].key);
    }
    return 0;
}
