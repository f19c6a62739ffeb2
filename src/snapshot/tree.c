/* tree.c: writing a folder tree below a destination without ever following a symlink: every path is
 * walked one folder at a time from the destination's descriptor with O_NOFOLLOW, so nothing lands outside. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct snapshot_tree {
    char *dest;
    int fd;       /* the destination folder */
    bool created; /* made here: an abort removes it */
};

static bool folder_is_empty(int dirfd, bool *empty)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return false;
    }
    *empty = true;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            *empty = false;
    closedir(d);
    return true;
}

int snapshot_tree_open(const char *dest, snapshot_tree **out, amlfs_err *err)
{
    *out = NULL;
    bool created = mkdir(dest, 0755) == 0;
    if (!created && errno != EEXIST)
        return amlfs_fail(err, errno, "cannot create folder %s: %s", dest, strerror(errno));
    int fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (created)
            rmdir(dest);
        return amlfs_fail(err, e == ELOOP ? ENOTDIR : e, "cannot use %s as a destination: %s", dest,
                          e == ELOOP ? "it is a symlink" : strerror(e));
    }
    bool empty = false;
    if (!created && (!folder_is_empty(fd, &empty) || !empty)) {
        close(fd);
        return amlfs_fail(err, ENOTEMPTY, "destination %s exists and is not an empty folder", dest);
    }
    if (created && fchmod(fd, 0755) < 0) {
        int e = errno;
        close(fd);
        rmdir(dest);
        return amlfs_fail(err, e, "cannot set the mode of %s: %s", dest, strerror(e));
    }
    snapshot_tree *t = util_xcalloc(1, sizeof *t);
    t->dest = util_xstrdup(dest);
    t->fd = fd;
    t->created = created;
    *out = t;
    return 0;
}

/* A folder 0755 whatever the umask. */
static int set_dir_mode(int parent, const char *name, int *fd_out)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, 0755) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return 0;
}

/* The folder holding relpath's last part, missing folders created; *leaf points into relpath. */
static int open_parent(snapshot_tree *t, const char *relpath, const char **leaf, amlfs_err *err)
{
    int rc = util_check_relpath(relpath, err);
    if (rc < 0)
        return err ? amlfs_wrap(err, "cannot write into %s: ", t->dest) : rc;
    int fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return amlfs_fail(err, errno, "cannot write into %s: %s", t->dest, strerror(errno));
    const char *p = relpath;
    for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        char *name = strndup(p, (size_t)(slash - p));
        if (!name)
            abort();
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = next < 0 ? errno : 0;
        if (next < 0 && e == ENOENT) {
            if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST)
                e = errno;
            else
                e = -set_dir_mode(fd, name, &next);
        }
        free(name);
        close(fd);
        if (e) {
            size_t upto = (size_t)(slash - relpath);
            if (e == ELOOP || e == ENOTDIR)
                return amlfs_fail(err, ENOTDIR, "cannot write '%s': '%.*s' is not a folder", relpath, (int)upto,
                                  relpath);
            return amlfs_fail(err, e, "cannot write '%s' into %s: %s", relpath, t->dest, strerror(e));
        }
        fd = next;
    }
    *leaf = p;
    return fd;
}

int snapshot_tree_mkdir(snapshot_tree *t, const char *relpath, amlfs_err *err)
{
    const char *leaf;
    int parent = open_parent(t, relpath, &leaf, err);
    if (parent < 0)
        return parent;
    int rc = 0;
    if (mkdirat(parent, leaf, 0755) < 0 && errno != EEXIST)
        rc = amlfs_fail(err, errno, "cannot create folder '%s' in %s: %s", relpath, t->dest, strerror(errno));
    /* An existing folder (made for an entry below it) is fine; anything else there is not. */
    if (rc == 0) {
        int e = -set_dir_mode(parent, leaf, NULL);
        if (e)
            rc = amlfs_fail(err, e == ELOOP ? EEXIST : e, "cannot create folder '%s' in %s: %s", relpath,
                            t->dest, e == ELOOP || e == ENOTDIR ? "something else is there" : strerror(e));
    }
    close(parent);
    return rc;
}

int snapshot_tree_create_file(snapshot_tree *t, const char *relpath, amlfs_err *err)
{
    const char *leaf;
    int parent = open_parent(t, relpath, &leaf, err);
    if (parent < 0)
        return parent;
    int fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = errno;
    close(parent);
    if (fd < 0)
        return amlfs_fail(err, e, "cannot create '%s' in %s: %s", relpath, t->dest, strerror(e));
    return fd;
}

int snapshot_tree_close_file(snapshot_tree *t, int fd, const char *relpath, unsigned mode, int64_t mtime_s,
                             amlfs_err *err)
{
    int rc = 0;
    if (fchmod(fd, mode & 0777) < 0)
        rc = amlfs_fail(err, errno, "cannot set the mode of '%s' in %s: %s", relpath, t->dest, strerror(errno));
    if (rc == 0 && mtime_s >= 0) {
        struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)mtime_s}};
        if (futimens(fd, times) < 0)
            rc = amlfs_fail(err, errno, "cannot set the time of '%s' in %s: %s", relpath, t->dest,
                            strerror(errno));
    }
    if (close(fd) < 0 && rc == 0)
        rc = amlfs_fail(err, errno, "cannot write '%s' in %s: %s", relpath, t->dest, strerror(errno));
    return rc;
}

int snapshot_tree_symlink(snapshot_tree *t, const char *relpath, const char *target, amlfs_err *err)
{
    const char *leaf;
    int parent = open_parent(t, relpath, &leaf, err);
    if (parent < 0)
        return parent;
    int rc = 0;
    if (symlinkat(target, parent, leaf) < 0)
        rc = amlfs_fail(err, errno, "cannot create symlink '%s' in %s: %s", relpath, t->dest, strerror(errno));
    close(parent);
    return rc;
}

void snapshot_tree_done(snapshot_tree *t)
{
    if (!t)
        return;
    close(t->fd);
    free(t->dest);
    free(t);
}

void snapshot_tree_abort(snapshot_tree *t)
{
    if (!t)
        return;
    if (t->created) {
        util_rm_rf(t->dest, NULL);
    } else {
        /* The folder was empty when opened: empty it again. Names are read first, removal after, as
         * removing while reading a folder may skip entries. */
        int fd = openat(t->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0)
            close(fd);
        char **paths = NULL;
        size_t n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char **bigger = realloc(paths, (n + 1) * sizeof *paths);
            if (!bigger)
                abort();
            paths = bigger;
            paths[n++] = util_strdupf("%s/%s", t->dest, de->d_name);
        }
        if (d)
            closedir(d);
        for (size_t i = 0; i < n; i++)
            util_rm_rf(paths[i], NULL);
        snapshot_strings_free(paths, n);
    }
    snapshot_tree_done(t);
}
