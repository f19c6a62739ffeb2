/* test_util.c: the basics every layer shares: one-line error messages, the logger's levels and its
 * line format, bounded reads of files users write. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/err.h"
#include "amlfs/log.h"
#include "amlfs/util.h"
#include "check.h"

/* A newline in a refused name made the collection's one-line status two lines. */
static void test_one_line_messages(void)
{
    amlfs_err err = {0};
    CHECK(amlfs_fail(&err, EINVAL, "name '%s' is not valid", "a\nb\tc\x01") == -EINVAL &&
              strcmp(err.msg, "name 'a\\nb\\tc\\x01' is not valid") == 0,
          "escaped: %s", err.msg);
    amlfs_fail(&err, ENOENT, "plain");
    amlfs_wrap(&err, "in\r%s: ", "x");
    CHECK(strcmp(err.msg, "in\\rx: plain") == 0 && err.code == ENOENT, "wrapped: %s", err.msg);
    char long_name[3000];
    memset(long_name, '\n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    amlfs_fail(&err, EINVAL, "%s", long_name);
    CHECK(!strchr(err.msg, '\n') && strlen(err.msg) < sizeof err.msg, "long: %zu", strlen(err.msg));
}

static void test_log_levels(void)
{
    log_level level;
    CHECK(log_level_parse("warning", &level) == 0 && level == LOG_LEVEL_WARNING, "warning");
    CHECK(log_level_parse("warn", &level) == 0 && level == LOG_LEVEL_WARNING, "warn");
    CHECK(log_level_parse("debug", &level) == 0 && level == LOG_LEVEL_DEBUG, "debug");
    CHECK(log_level_parse("loud", &level) == -EINVAL && log_level_parse(NULL, &level) == -EINVAL, "unknown");
    /* Lines go to fd 2: point it at a file for the checks. */
    char path[] = "/tmp/amlfs-test-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    unsetenv("JOURNAL_STREAM");
    log_init("prog", LOG_LEVEL_WARNING);
    log_info("hidden");
    log_warning("two\nlines %d", 2);
    log_error("bad");
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = NULL;
    size_t len = 0;
    util_read_file(path, &text, &len, NULL);
    CHECK(text && strcmp(text, "prog: warning: two lines 2\nprog: error: bad\n") == 0, "lines: [%s]", text ? text : "");
    free(text);
    close(fd);
    unlink(path);
}

/* A file a user writes is read up to a bound: a 1 TiB sparse file is refused at once, not read whole. */
static void test_bounded_read(void)
{
    char dir[] = "/tmp/amlfs-test-util.XXXXXX";
    if (!mkdtemp(dir))
        return;
    char *path = util_strdupf("%s/f", dir);
    amlfs_err err = {0};
    char *text = NULL;
    size_t len = 0;
    CHECK(util_write_file_atomic(path, "12345", 5, 0600, &err) == 0, "write: %s", err.msg);
    CHECK(util_read_file_max(path, 5, &text, &len, &err) == 0 && len == 5 && strcmp(text, "12345") == 0,
          "exactly the bound: %s", err.msg);
    free(text);
    CHECK(util_read_file_max(path, 4, &text, &len, &err) == -EFBIG && !text && strstr(err.msg, "over 4 bytes"),
          "one byte over: %s", err.msg);
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)1 << 40) == 0, "a 1 TiB sparse file");
    if (fd >= 0)
        close(fd);
    CHECK(util_read_file_max(path, 1 << 20, &text, &len, &err) == -EFBIG && !text, "1 TiB: %s", err.msg);
    free(path);
    util_rm_rf(dir, &err);
}

int main(void)
{
    test_one_line_messages();
    test_log_levels();
    test_bounded_read();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
