/* replay_main.c: runs a libFuzzer target without libFuzzer (gcc builds, CTest):
   feeds every file of a seed corpus, then N pseudo-random and mutated inputs.
   Usage: fuzz_X_replay CORPUS_DIR [N]. A crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    cn_buf_t *seeds = NULL;
    size_t nseeds = 0;
    if (argc > 1) {
        DIR *d = opendir(argv[1]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *p = cn_path_join(argv[1], e->d_name);
            cn_buf_t b = {0};
            if (cn_read_file(p, 1u << 20, &b) == 0) {
                LLVMFuzzerTestOneInput(b.data, b.len);
                seeds = cn_xrealloc(seeds, (nseeds + 1) * sizeof *seeds);
                seeds[nseeds++] = b;
            } else {
                cn_buf_free(&b);
            }
            free(p);
        }
        if (d) closedir(d);
    }
    uint64_t n = 10000;
    if (argc > 2) cn_parse_u64(argv[2], &n);
    uint8_t *buf = cn_xmalloc(4096);
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        if (nseeds && (i & 1)) { /* mutate a seed: flip, truncate, extend */
            cn_buf_t *s = &seeds[next() % nseeds];
            len = CN_MIN(s->len, 4096);
            memcpy(buf, s->data, len);
            for (int k = 0, m = (int)(next() % 4) + 1; k < m && len; k++)
                buf[next() % len] ^= (uint8_t)(1u << (next() % 8));
            if (next() % 4 == 0 && len) len = next() % len;
        } else {
            len = next() % 512;
            for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)next();
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
    for (size_t i = 0; i < nseeds; i++) cn_buf_free(&seeds[i]);
    free(seeds);
    printf("replayed %zu seeds and %llu generated inputs\n", nseeds, (unsigned long long)n);
    return 0;
}
