/* folder.c: folders of stored files (an experiment's code, an environment's build context).
 * Every path is resolved with openat2(RESOLVE_BENEATH) from the folder's root, so a symlink can
 * point anywhere inside the folder but never lead the server out of it. Writes are atomic. */
#include "amlfs/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "amlfs/util.h"

/* Unfinished atomic writes live under this prefix in the target's folder; listings hide them. */
#define TEMP_PREFIX ".amlfs-tmp-"

void folder_entry_free(folder_entry *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->target);
    memset(e, 0, sizeof *e);
}

void folder_list_free(folder_entry *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        folder_entry_free(&list[i]);
    free(list);
}

cJSON *folder_entry_json(const folder_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "type", e->type == 'd' ? "dir" : e->type == 'l' ? "symlink" : "file");
    cJSON_AddNumberToObject(o, "size", (double)e->size);
    cJSON_AddNumberToObject(o, "mode", e->mode);
    cJSON_AddNumberToObject(o, "mtime_ms", (double)e->mtime_ms);
    if (e->target)
        cJSON_AddStringToObject(o, "target", e->target);
    else
        cJSON_AddNullToObject(o, "target");
    return o;
}

/* A person-readable failure about one path inside the folder. */
static int path_fail(amlfs_err *err, int errnum, const char *rel, const char *doing)
{
    const char *shown = rel && rel[0] ? rel : "/";
    switch (errnum) {
    case ENOENT:
        return amlfs_fail(err, ENOENT, "%s: no such file or folder", shown);
    case EEXIST:
        return amlfs_fail(err, EEXIST, "%s exists already", shown);
    case ENOTDIR:
        return amlfs_fail(err, ENOTDIR, "%s: a part of the path is not a folder", shown);
    case EISDIR:
        return amlfs_fail(err, EISDIR, "%s is a folder", shown);
    case ENOTEMPTY:
        return amlfs_fail(err, ENOTEMPTY, "%s: the folder is not empty", shown);
    case EXDEV:
    case ELOOP:
        /* RESOLVE_BENEATH answers EXDEV for a symlink that leads out of the folder. */
        return amlfs_fail(err, EACCES, "%s: a symlink on the way leads outside the folder", shown);
    case ENOSPC:
    case EDQUOT:
        return amlfs_fail(err, ENOSPC, "%s: %s: the server's disk is full", shown, doing);
    default:
        return amlfs_fail(err, errnum, "%s: %s: %s", shown, doing, strerror(errnum));
    }
}

static int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = mode,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof how);
}

static int open_root(const char *root, amlfs_err *err)
{
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return amlfs_fail(err, errno == ENOENT ? ENOENT : EIO, "stored folder %s: %s", root,
                          strerror(errno));
    return fd;
}

/* Opens relpath (already checked) with flags from the folder's root, failing as doing. */
static int open_in_folder(const char *root, const char *relpath, int flags, const char *doing,
                          amlfs_err *err)
{
    int rootfd = open_root(root, err);
    if (rootfd < 0)
        return rootfd;
    int fd = open_beneath(rootfd, relpath, flags, 0);
    int saved = errno;
    close(rootfd);
    return fd < 0 ? path_fail(err, saved, relpath, doing) : fd;
}

/* Opens the folder that holds relpath's last part; *leaf points into relpath. */
static int open_parent(const char *root, const char *relpath, const char **leaf, amlfs_err *err)
{
    int r = util_check_relpath(relpath, err);
    if (r < 0)
        return r;
    const char *slash = strrchr(relpath, '/');
    if (!slash) {
        *leaf = relpath;
        return open_root(root, err);
    }
    *leaf = slash + 1;
    char *parent = strndup(relpath, (size_t)(slash - relpath));
    if (!parent)
        return amlfs_fail(err, ENOMEM, "out of memory");
    int dirfd = open_in_folder(root, parent, O_PATH | O_DIRECTORY, "opening the folder", err);
    free(parent);
    return dirfd;
}

static void fill_entry(folder_entry *e, const char *name, const struct stat *st, int dirfd)
{
    memset(e, 0, sizeof *e);
    e->name = util_xstrdup(name);
    e->type = S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l' : 'f';
    e->size = st->st_size;
    e->mode = st->st_mode & 07777;
    e->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    if (e->type == 'l') {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, buf, sizeof buf - 1);
        buf[n < 0 ? 0 : n] = '\0';
        e->target = util_xstrdup(buf);
    }
}

static bool listed(const char *name, const struct stat *st)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    if (strncmp(name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) == 0)
        return false;
    return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const folder_entry *)a)->name, ((const folder_entry *)b)->name);
}

int folder_list(const char *root, const char *relpath, folder_entry **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    if (relpath[0]) {
        int r = util_check_relpath(relpath, err);
        if (r < 0)
            return r;
    }
    int fd = open_in_folder(root, relpath, O_RDONLY | O_DIRECTORY, "listing", err);
    if (fd < 0)
        return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        return path_fail(err, saved, relpath, "listing");
    }
    folder_entry *list = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !listed(de->d_name, &st))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            folder_entry *grown = realloc(list, cap * sizeof *grown);
            if (!grown) {
                closedir(d);
                folder_list_free(list, count);
                return amlfs_fail(err, ENOMEM, "out of memory listing %s", relpath);
            }
            list = grown;
        }
        fill_entry(&list[count++], de->d_name, &st, fd);
    }
    closedir(d);
    if (count > 1)
        qsort(list, count, sizeof *list, by_name);
    *out = list;
    *n = count;
    return 0;
}

int folder_stat(const char *root, const char *relpath, folder_entry *out, amlfs_err *err)
{
    struct stat st;
    if (!relpath[0]) {
        if (stat(root, &st) < 0)
            return path_fail(err, errno, relpath, "reading");
        fill_entry(out, "", &st, AT_FDCWD);
        return 0;
    }
    const char *leaf;
    int dirfd = open_parent(root, relpath, &leaf, err);
    if (dirfd < 0)
        return dirfd;
    int r = 0;
    if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        r = path_fail(err, errno, relpath, "reading");
    else
        fill_entry(out, leaf, &st, dirfd);
    close(dirfd);
    return r;
}

int folder_open_file(const char *root, const char *relpath, int *fd_out, int64_t *size, amlfs_err *err)
{
    *fd_out = -1;
    *size = 0;
    int r = util_check_relpath(relpath, err);
    if (r < 0)
        return r;
    /* O_NONBLOCK: a fifo (a run's job can make one in its outputs) is refused below, never waited on. */
    int fd = open_in_folder(root, relpath, O_RDONLY | O_NONBLOCK, "reading", err);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        return path_fail(err, saved, relpath, "reading");
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return path_fail(err, EISDIR, relpath, "reading");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return amlfs_fail(err, EINVAL, "%s is not a regular file", relpath);
    }
    *fd_out = fd;
    *size = st.st_size;
    return 0;
}

int folder_read(const char *root, const char *relpath, int64_t offset, int64_t length, char **out,
                size_t *out_len, amlfs_err *err)
{
    *out = NULL;
    *out_len = 0;
    int fd;
    int64_t size;
    int r = folder_open_file(root, relpath, &fd, &size, err);
    if (r < 0)
        return r;
    int64_t avail = offset < size ? size - offset : 0;
    size_t want = (size_t)(length < 0 || length > avail ? avail : length);
    char *buf = malloc(want + 1);
    if (!buf) {
        close(fd);
        return amlfs_fail(err, ENOMEM, "%s: out of memory reading %zu bytes", relpath, want);
    }
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(fd, buf + got, want - got, (off_t)(offset + (int64_t)got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int saved = errno;
            free(buf);
            close(fd);
            return path_fail(err, saved, relpath, "reading");
        }
        if (k == 0)
            break; /* truncated meanwhile: answer what is there */
        got += (size_t)k;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *out_len = got;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int folder_write(const char *root, const char *relpath, const void *data, size_t len, mode_t mode,
                 bool *created, amlfs_err *err)
{
    const char *leaf;
    int dirfd = open_parent(root, relpath, &leaf, err);
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    int r = 0;
    if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(dirfd);
            return path_fail(err, EISDIR, relpath, "writing");
        }
        *created = false;
    } else {
        *created = true;
    }
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        close(dirfd);
        return amlfs_fail(err, EIO, "getrandom: %s", strerror(errno));
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, TEMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = path_fail(err, errno, relpath, "writing");
        close(dirfd);
        return r;
    }
    /* No fsync: the rename makes the new content appear whole; editors fsync through the mount
     * when they want durability, and ext4 flushes replaced files on rename. */
    int w = write_all(fd, data, len);
    if (w == 0 && fchmod(fd, mode & 07777) < 0)
        w = -errno;
    if (close(fd) < 0 && w == 0)
        w = -errno;
    if (w == 0 && renameat(dirfd, tmp, dirfd, leaf) < 0)
        w = -errno;
    if (w < 0) {
        unlinkat(dirfd, tmp, 0);
        r = path_fail(err, -w, relpath, "writing");
    }
    close(dirfd);
    return r;
}

/* Creates relpath's last part in its folder: a folder, or a symlink to target when given. */
static int create_leaf(const char *root, const char *relpath, const char *target, amlfs_err *err)
{
    const char *leaf;
    int dirfd = open_parent(root, relpath, &leaf, err);
    if (dirfd < 0)
        return dirfd;
    int r = 0;
    if (target ? symlinkat(target, dirfd, leaf) < 0 : mkdirat(dirfd, leaf, 0755) < 0)
        r = path_fail(err, errno, relpath, target ? "creating the symlink" : "creating the folder");
    close(dirfd);
    return r;
}

int folder_mkdir(const char *root, const char *relpath, amlfs_err *err)
{
    return create_leaf(root, relpath, NULL, err);
}

/* chmod of an O_PATH descriptor: through its /proc/self/fd link, which names exactly that file (no
 * path is looked up again, so nothing can be swapped in between). */
static int chmod_path_fd(int fd, mode_t mode)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    return chmod(link, mode & 07777) == 0 ? 0 : -errno;
}

int folder_set_attr(const char *root, const char *relpath, int64_t mode, int64_t mtime_ms, amlfs_err *err)
{
    if (relpath[0]) {
        int r = util_check_relpath(relpath, err);
        if (r < 0)
            return r;
    }
    int fd = open_in_folder(root, relpath, O_PATH | O_NOFOLLOW, "changing its attributes", err);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    if (rc == 0 && mode >= 0 && !S_ISLNK(st.st_mode))
        rc = chmod_path_fd(fd, (mode_t)mode); /* a symlink has no mode of its own */
    if (rc == 0 && mtime_ms >= 0) {
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = (time_t)(mtime_ms / 1000);
        ts[0].tv_nsec = ts[1].tv_nsec = (long)(mtime_ms % 1000) * 1000000L;
        /* AT_EMPTY_PATH on the O_PATH descriptor: the file itself, a symlink not followed. */
        if (utimensat(fd, "", ts, AT_EMPTY_PATH) != 0)
            rc = -errno;
    }
    close(fd);
    return rc < 0 ? path_fail(err, -rc, relpath, "changing its attributes") : 0;
}

int folder_symlink(const char *root, const char *relpath, const char *target, amlfs_err *err)
{
    if (!target || !target[0])
        return amlfs_fail(err, EINVAL, "%s: a symlink needs a target", relpath);
    if (strlen(target) >= PATH_MAX)
        return amlfs_fail(err, ENAMETOOLONG, "%s: the symlink target is too long", relpath);
    return create_leaf(root, relpath, target, err);
}

int folder_remove(const char *root, const char *relpath, amlfs_err *err)
{
    const char *leaf;
    int dirfd = open_parent(root, relpath, &leaf, err);
    if (dirfd < 0)
        return dirfd;
    struct stat st;
    int r = 0;
    if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        r = path_fail(err, errno, relpath, "removing");
    else if (unlinkat(dirfd, leaf, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        r = path_fail(err, errno == EEXIST ? ENOTEMPTY : errno, relpath, "removing");
    close(dirfd);
    return r;
}

int folder_rename(const char *root, const char *from, const char *to, amlfs_err *err)
{
    const char *from_leaf, *to_leaf;
    int from_fd = open_parent(root, from, &from_leaf, err);
    if (from_fd < 0)
        return from_fd;
    int to_fd = open_parent(root, to, &to_leaf, err);
    if (to_fd < 0) {
        close(from_fd);
        return to_fd;
    }
    int r = 0;
    if (renameat(from_fd, from_leaf, to_fd, to_leaf) < 0) {
        int e = errno;
        struct stat st;
        /* Say which side is missing: rename reports ENOENT for both. */
        const char *which = e == ENOENT && fstatat(from_fd, from_leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 ? to
                                                                                                     : from;
        if (e == EINVAL)
            r = amlfs_fail(err, EINVAL, "%s cannot move into itself (%s)", from, to);
        else
            r = path_fail(err, e == EEXIST ? ENOTEMPTY : e, e == ENOENT ? which : to, "renaming");
    }
    close(from_fd);
    close(to_fd);
    return r;
}

int folder_is_empty(const char *root, amlfs_err *err)
{
    folder_entry *list;
    size_t n;
    int r = folder_list(root, "", &list, &n, err);
    if (r == -ENOENT)
        return 1;
    if (r < 0)
        return r;
    folder_list_free(list, n);
    return n == 0;
}

int folder_resolve_dir(const char *root, const char *relpath, char **abs_path, amlfs_err *err)
{
    *abs_path = NULL;
    char *real_root = realpath(root, NULL);
    if (!real_root)
        return amlfs_fail(err, errno == ENOENT ? ENOENT : EIO, "stored folder %s: %s", root,
                          strerror(errno));
    char *joined = relpath[0] ? util_strdupf("%s/%s", real_root, relpath) : util_xstrdup(real_root);
    char *real = realpath(joined, NULL);
    int r = 0;
    struct stat st;
    size_t rl = strlen(real_root);
    if (!real)
        r = path_fail(err, errno, relpath, "resolving");
    else if (strncmp(real, real_root, rl) != 0 || (real[rl] != '\0' && real[rl] != '/'))
        r = path_fail(err, EXDEV, relpath, "resolving");
    else if (stat(real, &st) < 0)
        r = path_fail(err, errno, relpath, "resolving");
    else if (!S_ISDIR(st.st_mode))
        r = path_fail(err, ENOTDIR, relpath, "resolving");
    if (r == 0)
        *abs_path = real;
    else
        free(real);
    free(joined);
    free(real_root);
    return r;
}
