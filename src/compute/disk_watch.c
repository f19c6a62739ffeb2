/* disk_watch.c: a run's disk filling up while its job runs. The job writes its log itself, so what a full
 * disk refused leaves no trace there: the supervisor looks every second and, once space returns, says in
 * the log where output may be missing and why (the end of a job on a full disk is said at its record). */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LOOK_EVERY_MS 1000

bool compute_disk_full(const char *run_dir)
{
    struct statvfs st;
    return statvfs(run_dir, &st) == 0 && st.f_bavail == 0;
}

void compute_disk_watch_init(compute_disk_watch *w, const char *run_dir)
{
    memset(w, 0, sizeof *w);
    w->run_dir = run_dir;
    w->next_look_ms = util_mono_ms() + LOOK_EVERY_MS;
}

/* The marker at the log's end, on a line of its own even when the job was in the middle of one. */
static int write_marker(const compute_disk_watch *w)
{
    char since[32], until[32], line[400];
    util_iso8601(w->full_since_ms, since, sizeof since);
    util_iso8601(util_now_ms(), until, sizeof until);
    char *path = compute_run_file(w->run_dir, COMPUTE_LOG_FILE);
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -1;
    char last = '\n';
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > 0 && pread(fd, &last, 1, end - 1) != 1)
        last = '\n';
    int n = snprintf(line, sizeof line, "%s[amlfs] the disk holding this run was full from %s until %s: output "
                     "the job wrote meanwhile may be missing above this line\n", last == '\n' ? "" : "\n",
                     since, until);
    int rc = util_write_all(fd, line, (size_t)n);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        errno = -rc;
    return rc < 0 ? -1 : 0;
}

int compute_disk_watch_tick(compute_disk_watch *w, char *note, size_t note_len)
{
    if (note && note_len)
        note[0] = '\0';
    int64_t now = util_mono_ms();
    if (now < w->next_look_ms)
        return (int)(w->next_look_ms - now);
    w->next_look_ms = now + LOOK_EVERY_MS;
    bool full = compute_disk_full(w->run_dir);
    if (full && !w->full_since_ms) {
        w->full_since_ms = util_now_ms();
        if (note)
            snprintf(note, note_len, "the disk holding the run is full: the job's output may be lost until it "
                     "has room again");
    } else if (!full && w->full_since_ms && compute_disk_watch_say(w) == 0) {
        /* (A marker that could not be written, the disk full again already, is tried at the next look.) */
        if (note)
            snprintf(note, note_len, "the disk has room again: the log says where output may be missing");
    }
    return LOOK_EVERY_MS;
}

int compute_disk_watch_say(compute_disk_watch *w)
{
    if (!w->full_since_ms)
        return 0;
    if (write_marker(w) < 0)
        return -1;
    w->full_since_ms = 0;
    return 0;
}

int64_t compute_disk_watch_full_since(const compute_disk_watch *w)
{
    return w->full_since_ms;
}
