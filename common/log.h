/* log.h: leveled logging to stderr. Plain text on a terminal, one JSON object per
   line otherwise (for log collectors). Thread-safe: each line is one write(2). */
#ifndef CN_LOG_H
#define CN_LOG_H

enum cn_log_level { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };

/* Sets the component name shown in every line ("coordinator", "worker w1") and
   the minimum level (CANOPY_LOG=debug|info|warn|error overrides it). */
void cn_log_init(const char *component, enum cn_log_level min);
void cn_log(enum cn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CN_DEBUG(...) cn_log(CN_LOG_DEBUG, __VA_ARGS__)
#define CN_INFO(...) cn_log(CN_LOG_INFO, __VA_ARGS__)
#define CN_WARN(...) cn_log(CN_LOG_WARN, __VA_ARGS__)
#define CN_ERROR(...) cn_log(CN_LOG_ERROR, __VA_ARGS__)

#endif
