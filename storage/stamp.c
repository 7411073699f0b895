/* stamp.c: the build stamp (canopy version + git commit of the build), recorded
   in every shard and every commit record. */
#include "shard.h"

const char *cn_build_version(void) {
    return CN_VERSION;
}

const char *cn_build_commit(void) {
    return CN_GIT_COMMIT;
}
