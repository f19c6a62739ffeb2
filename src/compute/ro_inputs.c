/* ro_inputs.c: a host job sees its run's inputs/ read-only (EROFS on any write, even as root, whom file
 * modes do not stop): the supervisor enters a mount namespace of its own and binds inputs/ read-only. */
#include "amlfs/compute_local.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "amlfs/util.h"

/* One line into a /proc/self file of a new user namespace. */
static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = util_write_all(fd, text, strlen(text));
    close(fd);
    return rc < 0 ? rc : 0;
}

/* Without CAP_SYS_ADMIN (a server not run as root) a mount namespace needs a user namespace; this one
 * maps the user to itself only, so files keep their owner and the job its identity. */
static int enter_user_namespace(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        return -errno;
    char line[64];
    int rc = write_proc("/proc/self/setgroups", "deny");
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (rc == 0)
        rc = write_proc("/proc/self/uid_map", line);
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (rc == 0)
        rc = write_proc("/proc/self/gid_map", line);
    return rc;
}

/* The flags a remount must keep: a user namespace may not drop nosuid, nodev, noexec or atime ones. */
static unsigned long kept_flags(const char *path)
{
    struct statvfs sv;
    unsigned long flags = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        flags |= MS_RELATIME;
    return flags;
}

int compute_protect_inputs(const char *work_dir, amlfs_err *err)
{
    const char *slash = strrchr(work_dir, '/');
    if (!slash)
        return 0;
    char *inputs = util_strdupf("%.*s/inputs", (int)(slash - work_dir), work_dir);
    struct stat st;
    int rc = 0;
    if (stat(inputs, &st) < 0 || !S_ISDIR(st.st_mode))
        goto out; /* a job without data inputs */
    char *real = realpath(inputs, NULL);
    if (!real) {
        rc = amlfs_fail(err, errno, "%s: %s", inputs, strerror(errno));
        goto out;
    }
    const char *how = "mount namespace";
    if (unshare(CLONE_NEWNS) < 0) {
        int e = errno, ue = e == EPERM ? -enter_user_namespace() : e;
        how = "user and mount namespace";
        if (ue) {
            rc = amlfs_fail(err, ue, "no mount namespace for the job (%s; %s): its inputs are read-only by "
                            "their modes only", strerror(e), strerror(ue));
            free(real);
            goto out;
        }
    }
    /* Slave, not private: mounts made later on the host (a FUSE mount) still reach the job, and nothing
     * made here goes back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
        mount(real, real, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, real, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(real), NULL) < 0)
        rc = amlfs_fail(err, errno, "binding %s read-only in the job's %s: %s", real, how, strerror(errno));
    free(real);
out:
    free(inputs);
    return rc;
}
