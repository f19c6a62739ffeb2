/* holders.c: who is closing a file, read from /proc: the thread a request came from as its process
 * (thread group), and whether that process still holds the file on another descriptor. */
#include "fs_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pid_t fs_tgid_of(pid_t tid)
{
    if (tid <= 0)
        return tid;
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return tid; /* gone already: its own number is the best name left */
    pid_t tgid = tid;
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "Tgid: %d", &v) == 1) {
            tgid = (pid_t)v;
            break;
        }
    }
    fclose(f);
    return tgid;
}

/* Whether descriptor fd of /proc/TGID is on inode ino (its fdinfo's "ino:" line; true when the kernel
 * does not say). */
static bool fd_on_inode(int fdinfo_dir, const char *fd, fuse_ino_t ino)
{
    int f = openat(fdinfo_dir, fd, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return false;
    char buf[512];
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strstr(buf, "\nino:");
    return !p || strtoull(p + 5, NULL, 10) == (unsigned long long)ino;
}

bool fs_holds_other_fd(pid_t tgid, fuse_ino_t ino, const char *mount_path)
{
    if (tgid <= 0 || !mount_path)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)tgid);
    DIR *d = opendir(path);
    if (!d)
        return false; /* not ours to look at, or gone: nobody else holds it */
    snprintf(path, sizeof path, "/proc/%d/fdinfo", (int)tgid);
    int info = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t want = strlen(mount_path);
    bool found = false;
    struct dirent *de;
    while (!found && info >= 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char target[4096];
        ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        /* The link names the file as the process sees it: MOUNTPOINT/PATH. */
        size_t tl = (size_t)n;
        bool same_path = tl > want && target[tl - want - 1] == '/' && strcmp(target + tl - want, mount_path) == 0;
        found = same_path && fd_on_inode(info, de->d_name, ino);
    }
    if (info >= 0)
        close(info);
    closedir(d);
    return found;
}
