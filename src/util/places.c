/* places.c: where things live by default (data dir, server socket) and what time it is.
 * One definition, so the server and the mount always agree on the socket. */
#include "amlfs/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec util_deadline_after_ms(int clock, int64_t ms)
{
    struct timespec t;
    clock_gettime((clockid_t)clock, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

void util_iso8601(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *util_default_data_dir(void)
{
    const char *explicit_dir = getenv("AMLFS_DATA_DIR");
    if (explicit_dir && *explicit_dir)
        return util_xstrdup(explicit_dir);
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg)
        return util_strdupf("%s/amlfs", xdg);
    const char *home = getenv("HOME");
    return util_strdupf("%s/.local/share/amlfs", home && *home ? home : "/tmp");
}

char *util_socket_path(const char *data_dir)
{
    return util_strdupf("%s/server.sock", data_dir);
}
