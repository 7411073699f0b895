/* log.c: see log.h. */
#include "log.h"

#include "json.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char component[64] = "canopy";
static enum cn_log_level min_level = CN_LOG_INFO;
static int as_json = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cn_log_init(const char *comp, enum cn_log_level min) {
    snprintf(component, sizeof component, "%s", comp);
    min_level = min;
    const char *env = getenv("CANOPY_LOG");
    for (int i = 0; env && i < 4; i++)
        if (strcmp(env, level_names[i]) == 0) min_level = (enum cn_log_level)i;
    as_json = !isatty(STDERR_FILENO);
}

void cn_log(enum cn_log_level lvl, const char *fmt, ...) {
    if (lvl < min_level) return;
    if (as_json < 0) as_json = !isatty(STDERR_FILENO);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    cn_buf_t b = {0};
    uint64_t now = cn_wall_ms();
    if (as_json) {
        cn_buf_printf(&b, "{\"ts\":%llu,\"level\":\"%s\",\"component\":", (unsigned long long)now,
                      level_names[lvl]);
        cn_json_str(&b, component, strlen(component));
        cn_buf_printf(&b, ",\"pid\":%d,\"msg\":", (int)getpid());
        cn_json_str(&b, msg, strlen(msg));
        cn_buf_append(&b, "}\n", 2);
    } else {
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        cn_buf_printf(&b, "%02d:%02d:%02d.%03d %-5s %s: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                      (int)(now % 1000), level_names[lvl], component, msg);
    }
    ssize_t rc = write(STDERR_FILENO, b.data, b.len);
    (void)rc;
    cn_buf_free(&b);
}
