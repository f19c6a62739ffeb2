/* log.h: the one logger of both programs: one line per message on standard error, with its level.
 * "PROGRAM: LEVEL: message", or "<N>message" (syslog priority) when standard error is systemd's journal. */
#ifndef AMLFS_LOG_H
#define AMLFS_LOG_H

/* The syslog priorities, so the journal's prefix is the level itself. */
typedef enum log_level {
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
} log_level;

/* Called once in main before any thread starts: the program's name, the least important level that
 * is written, and whether standard error is the journal ($JOURNAL_STREAM naming fd 2's file). */
void log_init(const char *program, log_level min);
/* "error", "warning" (or "warn"), "info", "debug" -> level; -EINVAL otherwise. */
int log_level_parse(const char *name, log_level *out);
log_level log_min_level(void);
/* One write per line, so lines of threads never interleave; newlines in the message become spaces. */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
