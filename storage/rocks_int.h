/* rocks_int.h: the insides of a cn_rocks_t, shared by rocks.c (data path) and
   rocks_open.c (open, options, close). Not for use outside those two files. It
   names the RocksDB types by their struct tags so that only rocks.c and
   rocks_*.c include rocksdb/c.h. */
#ifndef CN_ROCKS_INT_H
#define CN_ROCKS_INT_H

#include "rocks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cn_rocks {
    struct rocksdb_t *db;
    struct rocksdb_options_t *opts;
    struct rocksdb_block_based_table_options_t *bbto;
    struct rocksdb_cache_t *cache;
    struct rocksdb_readoptions_t *ro;
    struct rocksdb_writeoptions_t *wo_sync;
    struct rocksdb_writeoptions_t *wo_async;
    struct rocksdb_column_family_handle_t **cfh; /* the caller's families, then any others found */
    char **names;
    size_t ncf;  /* the caller's families */
    size_t nall; /* plus families found on disk that the caller did not name */
    char *dir;
    char *secondary_dir; /* a secondary instance's own folder (NULL: not one) */
    int lock_fd;
    bool read_only;    /* also set for secondary instances */
    uint64_t only_cfs; /* readers: the families opened (bit i: cfs[i]); 0: all */
};

/* Turns a RocksDB error string into a CN_E* code with a detail, and frees it. */
int cn_rocks_rerr(char *err, const char *what, const char *dir);

#endif
