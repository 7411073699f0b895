/* test_pack.c: the pack reader (pack.h) against git itself on real repositories
   made with the git command: every object of a history packed with deep OFS and
   REF deltas, several packs, a loose object, tiny caches with objects held,
   damaged packs and indexes, two threads sharing the packs. Hand-made packs
   and deltas are in test_pack_forged.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "pack.h"
#include "sh_fx.h"
#include "util.h"

static char dir[256];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fx_vsh(dir,
           "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x "
           "GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z",
           fmt, ap);
    va_end(ap);
}

/* n commits, numbered from `from`, editing files of a few hundred lines in
   nested folders: commit i marks line i and adds a line, so each version is
   closest to the one before and git chains the deltas deeply. */
static void commits(const char *repo, int from, int n) {
    sh("cd %s && for i in $(seq %d %d); do for f in a.txt b.txt d/c.txt d/e/f.txt d/e/g/h.txt; do "
       "mkdir -p $(dirname $f); awk -v i=$i -v f=$f 'BEGIN{for(n=1;n<=200+i;n++) "
       "print f \" line \" n (n<=i ? \" edit\" : \"\")}' > $f; done; "
       "if [ $((i %% 7)) = 0 ]; then mkdir -p d/n$i && echo $i > d/n$i/x; fi; "
       "git add -A && git commit -qm \"commit $i\"; done",
       repo, from, from + n - 1);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s/pack-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    /* a root commit with the empty tree, then an empty file: zero-size objects */
    sh("git init -q r && cd r && git config gc.auto 0 && git config pack.threads 1 && git commit -q "
       "--allow-empty -m root && "
       ": > empty && git add empty && git commit -qm empty");
    commits("r", 1, 60);
    sh("cd r && git tag -a v1 -m 'a tag object' && git repack -adfq --depth=50 --window=50");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cn_rm_rf(dir);
    return 0;
}

/* Every object of a repository as git's cat-file gives it. */
typedef struct {
    uint8_t oid[CN_PACK_OID_LEN];
    char hex[CN_PACK_OID_LEN * 2 + 1];
    enum cn_pack_type type;
    size_t size;
    const uint8_t *data;
} obj_t;

typedef struct {
    cn_buf_t raw;
    obj_t *v;
    size_t n;
} objs_t;

static enum cn_pack_type type_of(const char *s, size_t len) {
    static const char *names[] = {"commit", "tree", "blob", "tag"};
    for (int i = 0; i < 4; i++)
        if (len == strlen(names[i]) && memcmp(s, names[i], len) == 0) return (enum cn_pack_type)(i + 1);
    fail_msg("unknown type %.*s", (int)len, s);
    return CN_PACK_BLOB;
}

/* Parses one `git cat-file --batch-all-objects --batch` stream of repo. */
static void load_objects(const char *repo, objs_t *o) {
    memset(o, 0, sizeof *o);
    fx_capture(dir, &o->raw, "cd %s && git cat-file --batch-all-objects --batch", repo);
    const uint8_t *p = o->raw.data, *end = p + o->raw.len;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        o->v = cn_xrealloc(o->v, (o->n + 1) * sizeof *o->v);
        obj_t *x = &o->v[o->n++];
        assert_true(nl - p > 42 && p[40] == ' ');
        memcpy(x->hex, p, 40), x->hex[40] = '\0';
        assert_true(cn_unhex(x->hex, x->oid, CN_PACK_OID_LEN));
        const uint8_t *t = p + 41, *sp = memchr(t, ' ', (size_t)(nl - t));
        assert_non_null(sp);
        x->type = type_of((const char *)t, (size_t)(sp - t));
        char num[32];
        assert_true(nl - sp - 1 < (long)sizeof num);
        memcpy(num, sp + 1, (size_t)(nl - sp - 1)), num[nl - sp - 1] = '\0';
        uint64_t size;
        assert_true(cn_parse_u64(num, &size));
        x->size = (size_t)size;
        x->data = nl + 1;
        assert_true((size_t)(end - x->data) >= x->size + 1 && x->data[x->size] == '\n');
        p = x->data + x->size + 1;
    }
    assert_true(o->n > 0);
}

static void free_objects(objs_t *o) {
    cn_buf_free(&o->raw);
    free(o->v);
}

static const obj_t *find_hex(const objs_t *o, const char *hex) {
    for (size_t i = 0; i < o->n; i++)
        if (memcmp(o->v[i].hex, hex, 40) == 0) return &o->v[i];
    return NULL;
}

/* 0 when the reader gives x exactly as git does, else a description. */
static const char *read_matches(cn_pack_reader_t *r, const obj_t *x, int *rc_out) {
    cn_pack_obj_t *po = NULL;
    int rc = cn_pack_read(r, x->oid, &po);
    if (rc_out) *rc_out = rc;
    if (rc != 0) return "read failed";
    const char *why = NULL;
    if (cn_pack_obj_type(po) != x->type)
        why = "wrong type";
    else if (cn_pack_obj_size(po) != x->size)
        why = "wrong size";
    else if (x->size && memcmp(cn_pack_obj_data(po), x->data, x->size) != 0)
        why = "wrong bytes";
    cn_pack_obj_release(po);
    return why;
}

static void check_all(cn_packs_t *p, const objs_t *o, size_t cache_bytes) {
    cn_pack_reader_t *r = cn_pack_reader_new(p, cache_bytes);
    assert_non_null(r);
    for (int pass = 0; pass < 2; pass++) /* the second pass reads through the cache */
        for (size_t i = 0; i < o->n; i++) {
            int rc;
            const char *why = read_matches(r, &o->v[i], &rc);
            if (why) fail_msg("%s %s (rc %d)", o->v[i].hex, why, rc);
        }
    cn_pack_reader_free(&r);
    assert_null(r);
}

static cn_packs_t *open_packs(const char *repo) {
    char *od = cn_xasprintf("%s/%s/.git/objects", dir, repo);
    cn_packs_t *p = NULL;
    assert_int_equal(cn_packs_open(od, &p), 0);
    assert_non_null(p);
    free(od);
    return p;
}

static size_t count_lines(const char *fmt_repo_cmd) {
    cn_buf_t b = {0};
    fx_capture(dir, &b, "%s", fmt_repo_cmd);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++) n += b.data[i] == '\n';
    cn_buf_free(&b);
    return n;
}

/* Counts the pack entries of repo by their stored type (6 OFS_DELTA, 7
   REF_DELTA) at the offsets verify-pack lists, and the deepest chain. */
static void entry_types(const char *repo, size_t types[8], unsigned *max_depth) {
    memset(types, 0, 8 * sizeof *types);
    *max_depth = 0;
    cn_buf_t ls = {0}, vp = {0}, pack = {0};
    fx_capture(dir, &ls, "cd %s && ls .git/objects/pack/*.pack", repo);
    char *nl = strchr(cn_buf_cstr(&ls), '\n');
    assert_non_null(nl);
    *nl = '\0';
    char *path = cn_xasprintf("%s/%s/%s", dir, repo, (char *)ls.data);
    assert_int_equal(cn_read_file(path, 1u << 30, &pack), 0);
    fx_capture(dir, &vp, "cd %s && git verify-pack -v %s | grep -E '^[0-9a-f]{40} '", repo, (char *)ls.data);
    for (char *l = (char *)cn_buf_cstr(&vp); *l;) {
        char *e = strchr(l, '\n');
        *e = '\0';
        unsigned long long size, packed, off;
        unsigned depth = 0;
        char type[16];
        int f = sscanf(l + 41, "%15s %llu %llu %llu %u", type, &size, &packed, &off, &depth);
        assert_true(f >= 4 && off < pack.len);
        types[(pack.data[off] >> 4) & 7]++;
        if (depth > *max_depth) *max_depth = depth;
        l = e + 1;
    }
    free(path);
    cn_buf_free(&ls);
    cn_buf_free(&vp);
    cn_buf_free(&pack);
}

static void test_every_object_matches_git_through_ofs_deltas(void **state) {
    (void)state;
    size_t types[8];
    unsigned depth;
    entry_types("r", types, &depth);
    assert_true(types[6] > 50); /* many OFS deltas, chained deeply */
    assert_int_equal(types[7], 0);
    assert_true(depth >= 20);
    objs_t o;
    load_objects("r", &o);
    assert_true(o.n > 300);
    assert_non_null(find_hex(&o, "4b825dc642cb6eb9a060e54bf8d69288fbee4904")); /* the empty tree */
    assert_non_null(find_hex(&o, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")); /* the empty blob */
    cn_packs_t *p = open_packs("r");
    assert_int_equal(cn_packs_count(p), 1);
    check_all(p, &o, 0);
    cn_packs_unref(&p);
    assert_null(p);
    free_objects(&o);
}

static void test_every_object_matches_git_through_ref_deltas(void **state) {
    (void)state;
    sh("rm -rf rr && cp -r r rr && cd rr && "
       "git -c repack.useDeltaBaseOffset=false repack -adfq --depth=50 --window=50");
    size_t types[8];
    unsigned depth;
    entry_types("rr", types, &depth);
    assert_true(types[7] > 50);
    assert_int_equal(types[6], 0);
    assert_true(depth >= 20);
    objs_t o;
    load_objects("rr", &o);
    cn_packs_t *p = open_packs("rr");
    check_all(p, &o, 0);
    cn_packs_unref(&p);
    free_objects(&o);
}

static void make_multi(const char *repo) {
    sh("rm -rf %s && cp -r r %s", repo, repo);
    commits(repo, 61, 6);
    sh("cd %s && git repack -dq", repo);
    commits(repo, 67, 6);
    sh("cd %s && git repack -dq", repo);
}

static void test_several_packs_are_all_read(void **state) {
    (void)state;
    make_multi("rm");
    size_t npacks = count_lines("ls rm/.git/objects/pack/*.idx");
    assert_int_equal(npacks, 3);
    assert_int_equal(count_lines("find rm/.git/objects -type f -path '*/objects/[0-9a-f][0-9a-f]/*'"), 0);
    objs_t o;
    load_objects("rm", &o);
    cn_packs_t *p = open_packs("rm");
    assert_int_equal(cn_packs_count(p), npacks);
    check_all(p, &o, 0);
    cn_packs_unref(&p);
    free_objects(&o);
}

static void test_loose_and_unknown_objects_are_not_found(void **state) {
    (void)state;
    sh("rm -rf rl && cp -r r rl");
    cn_buf_t out = {0};
    fx_capture(dir, &out, "cd rl && echo 'only loose' | git hash-object -w --stdin");
    uint8_t oid[CN_PACK_OID_LEN];
    out.data[40] = '\0';
    assert_true(cn_unhex((char *)out.data, oid, CN_PACK_OID_LEN));
    assert_int_equal(count_lines("ls rl/.git/objects/[0-9a-f][0-9a-f]/"), 1);
    cn_packs_t *p = open_packs("rl");
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    cn_pack_obj_t *po = NULL;
    assert_int_equal(cn_pack_read(r, oid, &po), CN_ENOTFOUND);
    uint8_t zero[CN_PACK_OID_LEN] = {0}, ff[CN_PACK_OID_LEN];
    memset(ff, 0xff, sizeof ff);
    assert_int_equal(cn_pack_read(r, zero, &po), CN_ENOTFOUND);
    assert_int_equal(cn_pack_read(r, ff, &po), CN_ENOTFOUND);
    /* A packed oid with its last bit flipped. */
    objs_t o;
    load_objects("r", &o);
    uint8_t near[CN_PACK_OID_LEN];
    memcpy(near, o.v[0].oid, sizeof near);
    near[CN_PACK_OID_LEN - 1] ^= 1;
    int known = 0;
    for (size_t i = 0; i < o.n; i++) known |= memcmp(o.v[i].oid, near, sizeof near) == 0;
    if (!known) assert_int_equal(cn_pack_read(r, near, &po), CN_ENOTFOUND);
    cn_pack_reader_free(&r);
    cn_packs_unref(&p);
    free_objects(&o);
    cn_buf_free(&out);
}

/* Holds 16 objects (one twice) while every object is read, then checks them. */
static void held_objects_survive(cn_packs_t *p, const objs_t *o, size_t cache) {
    cn_pack_reader_t *r = cn_pack_reader_new(p, cache);
    enum { HELD = 16 };
    cn_pack_obj_t *held[HELD];
    size_t which[HELD];
    for (int h = 0; h < HELD; h++) {
        which[h] = (size_t)h * o->n / HELD;
        assert_int_equal(cn_pack_read(r, o->v[which[h]].oid, &held[h]), 0);
    }
    /* The same object twice while held. */
    cn_pack_obj_t *again = NULL;
    assert_int_equal(cn_pack_read(r, o->v[which[0]].oid, &again), 0);
    for (size_t i = 0; i < o->n; i++) assert_null(read_matches(r, &o->v[i], NULL));
    for (int h = 0; h < HELD; h++) {
        const obj_t *x = &o->v[which[h]];
        assert_int_equal(cn_pack_obj_type(held[h]), x->type);
        assert_int_equal(cn_pack_obj_size(held[h]), x->size);
        assert_memory_equal(cn_pack_obj_data(held[h]), x->data, x->size);
        cn_pack_obj_release(held[h]);
    }
    assert_memory_equal(cn_pack_obj_data(again), o->v[which[0]].data, o->v[which[0]].size);
    cn_pack_obj_release(again);
    cn_pack_reader_free(&r);
}

/* Objects held across other reads keep their bytes: with a one-byte cache
   (nothing is kept) and a 16 KiB one (objects are cached, then evicted while
   held, and deltas are applied to bases evicted just before). */
static void test_tiny_cache_keeps_held_objects(void **state) {
    (void)state;
    objs_t o;
    load_objects("r", &o);
    cn_packs_t *p = open_packs("r");
    check_all(p, &o, 1);
    check_all(p, &o, 16384);
    held_objects_survive(p, &o, 1);
    held_objects_survive(p, &o, 16384);
    cn_packs_unref(&p);
    free_objects(&o);
}

/* One entry of verify-pack -v: its place in the pack and its delta base. */
typedef struct {
    char hex[41], base[41];
    unsigned long long off, packed;
    int damaged;
} entry_t;

static size_t load_entries(const char *repo, entry_t **out, char *pack_path, size_t path_cap) {
    cn_buf_t ls = {0}, vp = {0};
    fx_capture(dir, &ls, "cd %s && ls .git/objects/pack/*.pack", repo);
    *strchr(cn_buf_cstr(&ls), '\n') = '\0';
    snprintf(pack_path, path_cap, "%s/%s/%s", dir, repo, (char *)ls.data);
    fx_capture(dir, &vp, "cd %s && git verify-pack -v %s | grep -E '^[0-9a-f]{40} '", repo, (char *)ls.data);
    entry_t *v = NULL;
    size_t n = 0;
    for (char *l = (char *)cn_buf_cstr(&vp); *l;) {
        char *e = strchr(l, '\n');
        *e = '\0';
        v = cn_xrealloc(v, (n + 1) * sizeof *v);
        entry_t *x = &v[n++];
        memset(x, 0, sizeof *x);
        char type[16];
        unsigned long long size;
        unsigned depth;
        memcpy(x->hex, l, 40);
        int f =
            sscanf(l + 41, "%15s %llu %llu %llu %u %40s", type, &size, &x->packed, &x->off, &depth, x->base);
        assert_true(f == 4 || f == 6);
        l = e + 1;
    }
    cn_buf_free(&ls);
    cn_buf_free(&vp);
    *out = v;
    return n;
}

/* Marks the entries overlapping [at, at+len) and, transitively, their deltas. */
static void mark_damage(entry_t *v, size_t n, unsigned long long at, unsigned long long len) {
    for (size_t i = 0; i < n; i++) v[i].damaged = v[i].off < at + len && at < v[i].off + v[i].packed;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].damaged || !v[i].base[0]) continue;
            for (size_t k = 0; k < n; k++)
                if (v[k].damaged && strcmp(v[k].hex, v[i].base) == 0) v[i].damaged = changed = 1;
        }
    }
}

static void overwrite(const char *path, unsigned long long at, size_t len) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)at, SEEK_SET), 0);
    for (size_t i = 0; i < len; i++) fputc(0xaa, f);
    assert_int_equal(fclose(f), 0);
}

/* 64 bytes in the middle of one large entry's zlib data: exactly that object
   and the deltas built on it fail with CN_ECORRUPT, every other one reads as
   git reads it from the undamaged copy. */
static void test_damaged_entry_is_corrupt_and_others_read(void **state) {
    (void)state;
    sh("rm -rf rc && cp -r r rc && chmod -R u+w rc");
    char pack[512];
    entry_t *v = NULL;
    size_t n = load_entries("rc", &v, pack, sizeof pack);
    size_t big = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].packed > v[big].packed) big = i;
    assert_true(v[big].packed > 300);
    unsigned long long at = v[big].off + v[big].packed / 2 - 32;
    overwrite(pack, at, 64);
    mark_damage(v, n, at, 64);
    objs_t o;
    load_objects("r", &o);
    cn_packs_t *p = open_packs("rc");
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const obj_t *x = find_hex(&o, v[i].hex);
        assert_non_null(x);
        int rc;
        const char *why = read_matches(r, x, &rc);
        if (v[i].damaged) {
            bad++;
            if (rc != CN_ECORRUPT) fail_msg("damaged %s gave %d, not CN_ECORRUPT", x->hex, rc);
        } else if (why) {
            fail_msg("undamaged %s: %s (rc %d)", x->hex, why, rc);
        }
    }
    assert_true(bad >= 1);
    cn_pack_reader_free(&r);
    cn_packs_unref(&p);
    free_objects(&o);
    free(v);
}

/* The middle of the pack file, wherever it falls (headers included): a read
   never succeeds with other bytes than git's, and something is corrupt. A
   header damaged into a size over 4 GiB is left to libgit2 (CN_ENOTFOUND). */
static void test_damaged_middle_never_gives_wrong_bytes(void **state) {
    (void)state;
    objs_t o;
    load_objects("r", &o);
    for (int k = 1; k <= 3; k++) {
        sh("rm -rf rc && cp -r r rc && chmod -R u+w rc");
        char pack[512];
        entry_t *v = NULL;
        size_t n = load_entries("rc", &v, pack, sizeof pack);
        unsigned long long end = 0;
        for (size_t i = 0; i < n; i++) end = CN_MAX(end, v[i].off + v[i].packed);
        unsigned long long at = end * (unsigned long long)k / 4;
        overwrite(pack, at, 64);
        cn_packs_t *p = open_packs("rc");
        cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
        size_t corrupt = 0;
        for (size_t i = 0; i < o.n; i++) {
            int rc;
            const char *why = read_matches(r, &o.v[i], &rc);
            if (rc == CN_ECORRUPT)
                corrupt++;
            else if (why && rc != CN_ENOTFOUND)
                fail_msg("damage at %llu: %s %s (rc %d)", at, o.v[i].hex, why, rc);
        }
        assert_true(corrupt >= 1);
        cn_pack_reader_free(&r);
        cn_packs_unref(&p);
        free(v);
    }
    free_objects(&o);
}

static void expect_all_not_found(cn_packs_t *p, const objs_t *o) {
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    for (size_t i = 0; i < o->n; i++) {
        cn_pack_obj_t *po = NULL;
        assert_int_equal(cn_pack_read(r, o->v[i].oid, &po), CN_ENOTFOUND);
    }
    cn_pack_reader_free(&r);
}

/* A copy ri of r whose pack files get `damage` (a shell loop over them, run
   in the pack folder) holds no readable pack: every object is not found. */
static void damaged_packs_read_nothing(const objs_t *o, const char *damage) {
    sh("rm -rf ri && cp -r r ri && chmod -R u+w ri && cd ri/.git/objects/pack && %s", damage);
    cn_packs_t *p = open_packs("ri");
    assert_int_equal(cn_packs_count(p), 0);
    expect_all_not_found(p, o);
    cn_packs_unref(&p);
}

/* A cut or wrong-version index leaves its pack out; the other packs still read. */
static void test_bad_index_leaves_its_pack_out(void **state) {
    (void)state;
    objs_t o;
    load_objects("r", &o);
    damaged_packs_read_nothing(&o, "for f in *.idx; do truncate -s $(( $(stat -c %s $f) / 2 )) $f; done");
    damaged_packs_read_nothing(
        &o, "for f in *.idx; do printf '\\000\\000\\000\\003' | dd of=$f bs=1 seek=4 conv=notrunc; done");
    /* a pack whose checksum is not the one its index names, and a cut pack */
    damaged_packs_read_nothing(&o, "for f in *.pack; do printf 'XXXX' | dd of=$f bs=1 seek=$(( $(stat -c %s "
                                   "$f) - 4 )) conv=notrunc; done");
    damaged_packs_read_nothing(&o, "for f in *.pack; do truncate -s $(( $(stat -c %s $f) / 2 )) $f; done");
    free_objects(&o);

    /* Three packs, the oldest one's index (the big pack of r) made version 3. */
    make_multi("rv");
    objs_t all;
    load_objects("rv", &all);
    cn_buf_t ls = {0};
    fx_capture(dir, &ls, "cd rv/.git/objects/pack && ls -S *.idx | head -1");
    *strchr(cn_buf_cstr(&ls), '\n') = '\0';
    cn_buf_t in_bad = {0};
    fx_capture(dir, &in_bad, "cd rv/.git/objects/pack && git show-index < %s | cut -d' ' -f2",
               (char *)ls.data);
    sh("cd rv/.git/objects/pack && chmod u+w %s && printf '\\000\\000\\000\\003' | "
       "dd of=%s bs=1 seek=4 conv=notrunc",
       (char *)ls.data, (char *)ls.data);
    cn_packs_t *p = open_packs("rv");
    assert_int_equal(cn_packs_count(p), 2);
    cn_pack_reader_t *r = cn_pack_reader_new(p, 0);
    size_t missing = 0;
    for (size_t i = 0; i < all.n; i++) {
        const obj_t *x = &all.v[i];
        char key[43];
        snprintf(key, sizeof key, "%s\n", x->hex);
        int gone = strstr(cn_buf_cstr(&in_bad), key) != NULL;
        int rc;
        const char *why = read_matches(r, x, &rc);
        if (gone) {
            missing++;
            assert_int_equal(rc, CN_ENOTFOUND);
        } else if (why) {
            fail_msg("%s: %s (rc %d)", x->hex, why, rc);
        }
    }
    assert_true(missing > 300 && missing < all.n);
    cn_pack_reader_free(&r);
    cn_packs_unref(&p);
    cn_buf_free(&ls);
    cn_buf_free(&in_bad);
    free_objects(&all);
}

/* Frees blocks full of 0xff so the next allocations reuse dirty memory. */
static void dirty_heap(void) {
    for (size_t n = 16; n <= 512; n += 8) {
        void *b = cn_xmalloc(n);
        memset(b, 0xff, n);
        free(b);
    }
}

/* The pack is found from objects folders of every path length (its name is
   built from the index's; a lost terminator shows only at some lengths). */
static void test_packs_found_at_every_path_length(void **state) {
    (void)state;
    char name[64] = {0};
    for (int len = 1; len < 48; len++) {
        name[len - 1] = 'l';
        sh("ln -sfn r %s", name);
        char *od = cn_xasprintf("%s/%s/.git/objects", dir, name);
        cn_packs_t *p = NULL;
        dirty_heap();
        assert_int_equal(cn_packs_open(od, &p), 0);
        if (cn_packs_count(p) != 1) fail_msg("no pack under %s (%zu bytes)", od, strlen(od));
        cn_packs_unref(&p);
        free(od);
    }
}

typedef struct {
    cn_packs_t *packs;
    const objs_t *objs;
    int backwards;
    size_t wrong;
} worker_t;

/* No cmocka asserts here (not thread-safe): counts wrong reads instead. */
static void *read_all(void *arg) {
    worker_t *w = arg;
    cn_pack_reader_t *r = cn_pack_reader_new(w->packs, 64 * 1024);
    for (int pass = 0; pass < 3; pass++)
        for (size_t k = 0; k < w->objs->n; k++) {
            size_t i = w->backwards ? w->objs->n - 1 - k : k;
            if (read_matches(r, &w->objs->v[i], NULL)) w->wrong++;
        }
    cn_pack_reader_free(&r);
    cn_packs_unref(&w->packs);
    return NULL;
}

static void test_two_threads_share_the_packs(void **state) {
    (void)state;
    objs_t o;
    load_objects("r", &o);
    cn_packs_t *p = open_packs("r");
    worker_t w[2] = {{cn_packs_ref(p), &o, 0, 0}, {cn_packs_ref(p), &o, 1, 0}};
    cn_packs_unref(&p); /* the threads hold the last references */
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, read_all, &w[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(w[0].wrong, 0);
    assert_int_equal(w[1].wrong, 0);
    assert_null(w[0].packs);
    assert_null(w[1].packs);
    free_objects(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_object_matches_git_through_ofs_deltas),
        cmocka_unit_test(test_every_object_matches_git_through_ref_deltas),
        cmocka_unit_test(test_several_packs_are_all_read),
        cmocka_unit_test(test_loose_and_unknown_objects_are_not_found),
        cmocka_unit_test(test_tiny_cache_keeps_held_objects),
        cmocka_unit_test(test_damaged_entry_is_corrupt_and_others_read),
        cmocka_unit_test(test_damaged_middle_never_gives_wrong_bytes),
        cmocka_unit_test(test_bad_index_leaves_its_pack_out),
        cmocka_unit_test(test_two_threads_share_the_packs),
        cmocka_unit_test(test_packs_found_at_every_path_length),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
