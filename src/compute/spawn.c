/* spawn.c: start a program fully detached from the (multithreaded) server: double fork + setsid.
 * The forked children make only async-signal-safe calls; a pipe reports the pid and any exec failure. */
#include "amlfs/compute_local.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* One message on the report pipe; writes this small to a pipe are atomic. */
typedef struct spawn_report {
    int32_t kind;
    int32_t value;
} spawn_report;

enum { REPORT_PID = 1, REPORT_SETSID_FAILED, REPORT_FORK_FAILED, REPORT_EXEC_FAILED };

static void report(int fd, int32_t kind, int32_t value)
{
    spawn_report r = {kind, value};
    ssize_t n;
    do
        n = write(fd, &r, sizeof r);
    while (n < 0 && errno == EINTR);
}

/* In the grandchild: stdio on /dev/null, the report pipe moved to fd 3 (close-on-exec, so a successful
 * exec closes it and the parent reads EOF), inherit_fd as fd 4, every other fd closed, signal mask
 * emptied. */
static void exec_detached(char *const argv[], int report_fd, int inherit_fd)
{
    /* The inherited descriptor first goes above the ones set up below, then to its own number. */
    int inherited = inherit_fd >= 0 ? fcntl(inherit_fd, F_DUPFD_CLOEXEC, COMPUTE_LOCK_FD + 1) : -1;
    int keep = fcntl(report_fd, F_DUPFD_CLOEXEC, 3);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (keep < 0 || null_fd < 0) {
        report(keep >= 0 ? keep : report_fd, REPORT_EXEC_FAILED, errno);
        _exit(127);
    }
    for (int fd = 0; fd <= 2; fd++) {
        if (null_fd != fd)
            dup2(null_fd, fd);
        else
            fcntl(fd, F_SETFD, 0);
    }
    /* keep was the lowest free fd >= 3 when taken, so null_fd cannot be 3 unless keep is 3 too. */
    if (keep != 3) {
        dup2(keep, 3);
        fcntl(3, F_SETFD, FD_CLOEXEC);
    }
    if (inherited >= 0 && inherited != COMPUTE_LOCK_FD)
        dup2(inherited, COMPUTE_LOCK_FD); /* without close-on-exec: the program keeps it */
    close_range(inherited >= 0 ? COMPUTE_LOCK_FD + 1 : COMPUTE_LOCK_FD, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], argv);
    report(3, REPORT_EXEC_FAILED, errno);
    _exit(127);
}

int compute_spawn_detached(char *const argv[], int inherit_fd, pid_t *pid_out, amlfs_err *err)
{
    *pid_out = 0;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return amlfs_fail(err, errno, "cannot create a pipe to start %s: %s", argv[0], strerror(errno));
    pid_t middle = fork();
    if (middle < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return amlfs_fail(err, e, "cannot fork to start %s: %s", argv[0], strerror(e));
    }
    if (middle == 0) {
        /* The middle child leaves the server's session and process group, then exits at once so the
         * program it forks is adopted by init: not the server's child, untouched by its signals. */
        close(pipefd[0]);
        if (setsid() < 0) {
            report(pipefd[1], REPORT_SETSID_FAILED, errno);
            _exit(1);
        }
        pid_t grandchild = fork();
        if (grandchild < 0) {
            report(pipefd[1], REPORT_FORK_FAILED, errno);
            _exit(1);
        }
        if (grandchild == 0)
            exec_detached(argv, pipefd[1], inherit_fd);
        report(pipefd[1], REPORT_PID, grandchild);
        _exit(0);
    }
    close(pipefd[1]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR)
        ;
    /* Read until EOF: the grandchild's copy closes on a successful exec. */
    spawn_report r;
    int failed_kind = 0, failed_errno = 0;
    for (;;) {
        ssize_t n = read(pipefd[0], &r, sizeof r);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof r)
            break;
        if (r.kind == REPORT_PID) {
            *pid_out = r.value;
        } else {
            failed_kind = r.kind;
            failed_errno = r.value;
        }
    }
    close(pipefd[0]);
    if (failed_kind) {
        const char *what = failed_kind == REPORT_EXEC_FAILED ? "cannot run"
                           : failed_kind == REPORT_FORK_FAILED ? "cannot fork to run"
                                                               : "cannot start a new session for";
        return amlfs_fail(err, failed_errno, "%s %s: %s", what, argv[0], strerror(failed_errno));
    }
    if (*pid_out <= 0)
        return amlfs_fail(err, EIO, "starting %s: the forked helper ended without reporting it", argv[0]);
    return 0;
}
