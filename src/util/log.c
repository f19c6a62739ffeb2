/* log.c: the one logger (include/amlfs/log.h): levels, the journal's priority prefix, one write per
 * line. Its settings are written once by log_init before threads exist, then only read. */
#include "amlfs/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/err.h"
#include "amlfs/util.h"

/* Set before any thread starts (log_init's contract); the level is atomic so a later change is safe. */
static char log_program[64] = "amlfs";
static bool log_to_journal;
static atomic_int log_threshold = LOG_LEVEL_INFO;

static bool stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *program, log_level min)
{
    snprintf(log_program, sizeof log_program, "%s", program);
    log_to_journal = stderr_is_journal();
    atomic_store(&log_threshold, (int)min);
}

int log_level_parse(const char *name, log_level *out)
{
    static const struct {
        const char *name;
        log_level level;
    } names[] = {{"error", LOG_LEVEL_ERROR}, {"warning", LOG_LEVEL_WARNING}, {"warn", LOG_LEVEL_WARNING},
                 {"info", LOG_LEVEL_INFO},   {"debug", LOG_LEVEL_DEBUG}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

log_level log_min_level(void)
{
    return (log_level)atomic_load(&log_threshold);
}

static const char *level_name(log_level level)
{
    return level <= LOG_LEVEL_ERROR     ? "error"
           : level == LOG_LEVEL_WARNING ? "warning"
           : level == LOG_LEVEL_INFO    ? "info"
                                        : "debug";
}

void log_msg(log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_threshold))
        return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char line[2200];
    int n = log_to_journal ? snprintf(line, sizeof line, "<%d>%s\n", (int)level, message)
                           : snprintf(line, sizeof line, "%s: %s: %s\n", log_program, level_name(level), message);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (len && line[len - 1] != '\n')
        line[len - 1] = '\n';
    (void)util_write_all(STDERR_FILENO, line, len); /* nowhere to report a failed log write */
}
