/* fuzz_url.c: arbitrary bytes into the repository URL list parser (plain
   lists and CSV, `submit download --from`) and the URL canonicaliser. Nothing
   may crash, leak or read out of bounds; a canonical URL must be a fixed point. */
#include "errors.h"
#include "url.h"
#include "util.h"

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_one(void *arg, const char *url, size_t line) {
    (void)arg;
    (void)line;
    char *c = NULL;
    if (cn_url_canonical(url, "/fuzz/cwd", &c) == 0) {
        char *again = NULL;
        if (cn_url_canonical(c, "/elsewhere", &again) != 0 || strcmp(again, c) != 0) abort();
        free(again);
        free(c);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    (void)cn_url_list_parse((const char *)data, size, check_one, NULL);
    /* The whole input as one URL too. */
    char *s = cn_xmalloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_one(NULL, s, 0);
    free(s);
    return 0;
}
