/* files.c: whole-file reads, atomic writes, mkdir -p, rm -rf and tree copies.
 * The server keeps its plain-file state with these; each reports the path that failed. */
#include "amlfs/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int util_read_file(const char *path, char **out, size_t *len, amlfs_err *err)
{
    return util_read_file_max(path, SIZE_MAX / 4, out, len, err);
}

int util_read_file_max(const char *path, size_t max, char **out, size_t *len, amlfs_err *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return amlfs_fail(err, errno, "cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return amlfs_fail(err, ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (used == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                close(fd);
                return amlfs_fail(err, ENOMEM, "out of memory reading %s", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t room = cap - used;
        if (room > max + 1 - used)
            room = max + 1 - used; /* one byte past max says it is over */
        ssize_t n = read(fd, buf + used, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return amlfs_fail(err, e, "cannot read %s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max) {
            free(buf);
            close(fd);
            return amlfs_fail(err, EFBIG, "%s is over %zu bytes", path, max);
        }
    }
    close(fd);
    buf[used] = '\0';
    *out = buf;
    if (len)
        *len = used;
    return 0;
}

int util_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, amlfs_err *err)
{
    char *tmp = util_strdupf("%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return amlfs_fail(err, e, "cannot create a file next to %s: %s", path, strerror(e));
    }
    int rc = util_write_all(fd, data, len);
    if (rc == 0 && fchmod(fd, mode) < 0)
        rc = -errno;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    util_fault_point_file("before-rename", path); /* a crash leaves the temp file, never a torn file */
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        free(tmp);
        return amlfs_fail(err, -rc, "cannot write %s: %s", path, strerror(-rc));
    }
    free(tmp);
    return 0;
}

int util_mkdir_p(const char *path, mode_t mode, amlfs_err *err)
{
    char *copy = util_xstrdup(path);
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) < 0 && errno != EEXIST) {
                int e = errno;
                int rc = amlfs_fail(err, e, "cannot create folder %s: %s", copy, strerror(e));
                free(copy);
                return rc;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return amlfs_fail(err, ENOTDIR, "%s exists and is not a folder", path);
    return 0;
}

static int rm_one(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf)
{
    (void)sb;
    (void)ftwbuf;
    int rc = (typeflag == FTW_DP) ? rmdir(fpath) : unlink(fpath);
    return (rc < 0 && errno != ENOENT) ? -1 : 0;
}

int util_rm_rf(const char *path, amlfs_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : amlfs_fail(err, errno, "cannot remove %s: %s", path, strerror(errno));
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return amlfs_fail(err, errno ? errno : EIO, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int util_rm_rf_through_link(const char *path, amlfs_err *err)
{
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) {
        target[n] = '\0';
        int rc = util_rm_rf(target, err);
        if (rc < 0)
            return rc;
    }
    return util_rm_rf(path, err);
}

int util_copy_file(const char *src, const char *dst, mode_t mode, amlfs_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return amlfs_fail(err, errno, "cannot open %s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        int e = errno;
        close(in);
        return amlfs_fail(err, e, "cannot create %s: %s", dst, strerror(e));
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = amlfs_fail(err, errno, "cannot read %s: %s", src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        int w = util_write_all(out, buf, (size_t)n);
        if (w < 0) {
            rc = amlfs_fail(err, -w, "cannot write %s: %s", dst, strerror(-w));
            break;
        }
    }
    close(in);
    if (fchmod(out, mode & 07777) < 0 && rc == 0)
        rc = amlfs_fail(err, errno, "cannot set the mode of %s: %s", dst, strerror(errno));
    if (close(out) < 0 && rc == 0)
        rc = amlfs_fail(err, errno, "cannot write %s: %s", dst, strerror(errno));
    return rc;
}

int util_copy_tree(const char *src, const char *dst, amlfs_err *err)
{
    struct stat st;
    if (lstat(src, &st) < 0)
        return amlfs_fail(err, errno, "cannot read %s: %s", src, strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n < 0)
            return amlfs_fail(err, errno, "cannot read link %s: %s", src, strerror(errno));
        target[n] = '\0';
        if (symlink(target, dst) < 0)
            return amlfs_fail(err, errno, "cannot create link %s: %s", dst, strerror(errno));
        return 0;
    }
    if (S_ISREG(st.st_mode))
        return util_copy_file(src, dst, st.st_mode, err);
    if (!S_ISDIR(st.st_mode))
        return amlfs_fail(err, EINVAL, "%s is neither a file, a folder nor a link", src);
    if (mkdir(dst, (st.st_mode & 07777) | 0700) < 0)
        return amlfs_fail(err, errno, "cannot create folder %s: %s", dst, strerror(errno));
    DIR *dir = opendir(src);
    if (!dir)
        return amlfs_fail(err, errno, "cannot list %s: %s", src, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *s = util_strdupf("%s/%s", src, de->d_name);
        char *d = util_strdupf("%s/%s", dst, de->d_name);
        rc = util_copy_tree(s, d, err);
        free(s);
        free(d);
    }
    closedir(dir);
    return rc;
}

void util_ensure_std_fds(void)
{
    for (;;) {
        int fd = open("/dev/null", O_RDWR);
        if (fd < 0)
            return;
        if (fd > STDERR_FILENO) {
            close(fd);
            return;
        }
    }
}
