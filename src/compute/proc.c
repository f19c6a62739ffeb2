/* proc.c: recognising a process again from a pid file: pid plus start time from /proc/PID/stat.
 * A pid alone can name a different process after reuse; a pid with its start time cannot. */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

char *compute_run_file(const char *run_dir, const char *name)
{
    return util_strdupf("%s/%s", run_dir, name);
}

int compute_proc_stat(pid_t pid, unsigned long long *starttime, char *state)
{
    compute_proc_info info;
    int rc = compute_proc_read(pid, &info);
    if (rc < 0)
        return rc;
    if (starttime)
        *starttime = info.starttime;
    if (state)
        *state = info.state;
    return 0;
}

int compute_proc_read(pid_t pid, compute_proc_info *out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    char buf[2048];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int read_errno = errno;
    close(fd);
    if (n < 0)
        return read_errno == ESRCH ? -ESRCH : -read_errno;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')', so fields are counted from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    char *save = NULL;
    char *tok = strtok_r(p + 1, " ", &save);
    memset(out, 0, sizeof *out);
    out->pid = pid;
    for (int field = 3; tok; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field == 3)
            out->state = tok[0];
        if (field == 4 || field == 5 || field == 22) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(tok, &end, 10);
            if (errno || end == tok)
                return -EIO;
            if (field == 4)
                out->ppid = (pid_t)v;
            else if (field == 5)
                out->pgid = (pid_t)v;
            else
                out->starttime = v;
        }
        if (field == 22)
            return 0;
    }
    return -EIO;
}

bool compute_proc_alive(const compute_proc_id *id)
{
    unsigned long long start;
    char state = '?';
    if (id->pid <= 0 || compute_proc_stat(id->pid, &start, &state) < 0)
        return false;
    return start == id->starttime && state != 'Z' && state != 'X';
}

int compute_proc_signal(const compute_proc_id *id, int sig)
{
    if (id->pid <= 0)
        return -ESRCH;
    /* The pidfd is opened before the identity check: if the check then passes, the pidfd names the
     * process that was checked, so the signal cannot reach a process that reused the pid. */
    int pidfd = pidfd_open(id->pid, 0);
    if (pidfd < 0 && errno != ENOSYS)
        return errno == ESRCH ? -ESRCH : -errno;
    if (!compute_proc_alive(id)) {
        if (pidfd >= 0)
            close(pidfd);
        return -ESRCH;
    }
    int rc = pidfd >= 0 ? pidfd_send_signal(pidfd, sig, NULL, 0) : kill(id->pid, sig);
    int e = errno;
    if (pidfd >= 0)
        close(pidfd);
    return rc < 0 ? -e : 0;
}

int compute_pidfile_write(const char *run_dir, amlfs_err *err)
{
    unsigned long long start;
    int rc = compute_proc_stat(getpid(), &start, NULL);
    if (rc < 0)
        return amlfs_fail(err, -rc, "cannot read this process's start time from /proc/self/stat: %s",
                          strerror(-rc));
    char line[64];
    int len = snprintf(line, sizeof line, "%d %llu\n", (int)getpid(), start);
    char *path = compute_run_file(run_dir, COMPUTE_PID_FILE);
    rc = util_write_file_atomic(path, line, (size_t)len, 0644, err);
    free(path);
    return rc;
}

int compute_pidfile_read(const char *run_dir, compute_proc_id *out, amlfs_err *err)
{
    out->pid = 0;
    out->starttime = 0;
    char *path = compute_run_file(run_dir, COMPUTE_PID_FILE);
    char *text = NULL;
    int rc = util_read_file(path, &text, NULL, err);
    if (rc == 0) {
        int pid = 0;
        unsigned long long start = 0;
        if (sscanf(text, "%d %llu", &pid, &start) != 2 || pid <= 0) {
            rc = amlfs_fail(err, EINVAL, "%s does not hold \"PID STARTTIME\"", path);
        } else {
            out->pid = (pid_t)pid;
            out->starttime = start;
        }
    }
    free(text);
    free(path);
    return rc;
}
