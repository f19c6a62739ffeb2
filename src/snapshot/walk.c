/* walk.c: a code folder on disk to a manifest: ignore rules applied while walking (ignored folders are
 * never entered), unsupported entries refused, limits checked before any file is read, then hashing
 * of the files the hash cache does not know. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct walker {
    const char *root;
    snapshot_ignore *ig;
    snapshot_manifest *m;
    const char *suggest_file; /* where messages suggest adding ignore lines */
    amlfs_err *err;
} walker;

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a folder, sorted; the folder is closed before its children are walked, so a deep tree
 * holds one descriptor at a time. */
static int list_names(const char *dir, char ***out, size_t *count, amlfs_err *err)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return amlfs_fail(err, errno, "cannot list %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **bigger = realloc(names, cap * sizeof *bigger);
            if (!bigger)
                abort();
            names = bigger;
        }
        names[n++] = util_xstrdup(de->d_name);
        errno = 0;
    }
    int e = errno;
    closedir(d);
    if (e) {
        snapshot_strings_free(names, n);
        return amlfs_fail(err, e, "cannot list %s: %s", dir, strerror(e));
    }
    if (n > 1)
        qsort(names, n, sizeof *names, by_string);
    *out = names;
    *count = n;
    return 0;
}

static int read_link(const char *path, char **out, amlfs_err *err)
{
    for (size_t cap = 256;; cap *= 2) {
        char *buf = malloc(cap);
        if (!buf)
            abort();
        ssize_t n = readlink(path, buf, cap);
        if (n < 0) {
            int e = errno;
            free(buf);
            return amlfs_fail(err, e, "cannot read symlink %s: %s", path, strerror(e));
        }
        if ((size_t)n < cap) {
            buf[n] = '\0';
            *out = buf;
            return 0;
        }
        free(buf);
    }
}

static const char *odd_type_name(mode_t mode)
{
    if (S_ISCHR(mode))
        return "character device";
    if (S_ISBLK(mode))
        return "block device";
    if (S_ISFIFO(mode))
        return "named pipe (fifo)";
    if (S_ISSOCK(mode))
        return "socket";
    return "special file";
}

static int walk_dir(walker *w, const char *reldir)
{
    char *dir = *reldir ? util_strdupf("%s/%s", w->root, reldir) : util_xstrdup(w->root);
    char **names;
    size_t n;
    int rc = list_names(dir, &names, &n, w->err);
    free(dir);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *rel = *reldir ? util_strdupf("%s/%s", reldir, names[i]) : util_xstrdup(names[i]);
        char *full = util_strdupf("%s/%s", w->root, rel);
        struct stat st;
        if (lstat(full, &st) < 0) {
            /* Listed, then gone: renamed or removed meanwhile (a save's temp file renamed into place). */
            rc = errno == ENOENT ? amlfs_fail(w->err, EAGAIN, "'%s' changed while the snapshot was taken; submit again", rel)
                                 : amlfs_fail(w->err, errno, "cannot read %s: %s", full, strerror(errno));
        } else if (!snapshot_ignore_match_entry(w->ig, rel, S_ISDIR(st.st_mode), NULL)) {
            if (S_ISREG(st.st_mode)) {
                /* A file known by this very stat is not opened at all; the limits are still checked before
                 * any file is read, as a lookup reads nothing. */
                char sha[SNAPSHOT_SHA_HEX];
                bool known = snapshot_hash_cache_lookup(&st, sha);
                snapshot_manifest_add(w->m, rel, SNAPSHOT_FILE, st.st_mode, (uint64_t)st.st_size, known ? sha : NULL,
                                      NULL);
                snapshot_manifest_set_mtime(w->m, &st.st_mtim);
            } else if (S_ISDIR(st.st_mode)) {
                snapshot_manifest_add(w->m, rel, SNAPSHOT_DIR, st.st_mode, 0, NULL, NULL);
                snapshot_manifest_set_mtime(w->m, &st.st_mtim);
                rc = snapshot_ignore_enter_dir(w->ig, rel, w->err);
                if (rc == 0)
                    rc = walk_dir(w, rel);
            } else if (S_ISLNK(st.st_mode)) {
                char *target = NULL;
                rc = read_link(full, &target, w->err);
                if (rc == 0) {
                    snapshot_manifest_add(w->m, rel, SNAPSHOT_SYMLINK, 0777, 0, NULL, target);
                    snapshot_manifest_set_mtime(w->m, &st.st_mtim);
                    free(target);
                }
            } else {
                char *line = snapshot_ignore_line_for(rel, false);
                rc = amlfs_fail(w->err, EINVAL,
                                "'%s' in the code folder is a %s: a snapshot holds only files, folders and "
                                "symlinks; add `%s` to %s to leave it out",
                                rel, odd_type_name(st.st_mode), line, w->suggest_file);
                free(line);
            }
        }
        free(rel);
        free(full);
    }
    snapshot_strings_free(names, n);
    return rc;
}

/* Symlinks are checked with the whole tree known: one may lead out through another. */
static int check_symlinks(walker *w)
{
    for (size_t i = 0; i < w->m->count; i++) {
        const snapshot_entry *e = &w->m->entries[i];
        if (e->type != SNAPSHOT_SYMLINK || snapshot_symlink_check(w->m, e->path, e->target, w->err) == 0)
            continue;
        char why[sizeof w->err->msg];
        snprintf(why, sizeof why, "%s", w->err->msg);
        char *line = snapshot_ignore_line_for(e->path, false);
        int rc = amlfs_fail(w->err, EINVAL,
                            "code folder: %s; add `%s` to %s to leave it out, or copy what it points to into "
                            "the folder",
                            why, line, w->suggest_file);
        free(line);
        return rc;
    }
    return 0;
}

static bool same_key(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Hashes fd and remembers the hash when the file's stat is the same after the read as before it (a file
 * written meanwhile is hashed again next time). started: when the read began, for the racy check. */
static int hash_and_keep(int fd, const struct stat *before, int64_t started, const char *what,
                         char hex[SNAPSHOT_SHA_HEX], uint64_t *got, amlfs_err *err)
{
    snapshot_hash_cache_note_read();
    int rc = snapshot_sha256_fd(fd, what, hex, got, err);
    struct stat after;
    if (rc == 0 && fstat(fd, &after) == 0 && same_key(before, &after))
        snapshot_hash_cache_store(before, hex, started);
    return rc;
}

static int hash_files(walker *w)
{
    for (size_t i = 0; i < w->m->count; i++) {
        snapshot_entry *e = &w->m->entries[i];
        if (e->type != SNAPSHOT_FILE || e->sha256[0])
            continue; /* not a file, or known to the hash cache already */
        char *full = util_strdupf("%s/%s", w->root, e->path);
        int64_t started = snapshot_hash_cache_clock();
        /* O_NONBLOCK: should a fifo have replaced the file meanwhile, open must not hang on it. */
        int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        int rc = 0;
        struct stat st;
        if (fd < 0) {
            rc = errno == ELOOP || errno == ENOENT
                     ? amlfs_fail(w->err, EAGAIN, "'%s' changed while the snapshot was taken; submit again",
                                  e->path)
                     : amlfs_fail(w->err, errno, "cannot read %s: %s", full, strerror(errno));
        } else if (fstat(fd, &st) < 0) {
            rc = amlfs_fail(w->err, errno, "cannot read %s: %s", full, strerror(errno));
        } else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
            rc = amlfs_fail(w->err, EAGAIN, "'%s' changed while the snapshot was taken; submit again", e->path);
        } else {
            uint64_t got;
            rc = hash_and_keep(fd, &st, started, full, e->sha256, &got, w->err);
            if (rc == 0 && got != e->size)
                rc = amlfs_fail(w->err, EAGAIN, "'%s' changed while the snapshot was taken; submit again",
                                e->path);
        }
        if (fd >= 0)
            close(fd);
        free(full);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int snapshot_manifest_build(const char *root, const snapshot_limits *limits, snapshot_manifest *out,
                            amlfs_err *err)
{
    snapshot_manifest_init(out);
    amlfs_err scratch;
    if (!err)
        err = &scratch; /* the symlink message is rebuilt from the checker's text */
    struct stat st;
    if (stat(root, &st) < 0)
        return amlfs_fail(err, errno, "code folder %s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return amlfs_fail(err, ENOTDIR, "code folder %s is not a folder", root);
    snapshot_ignore *ig;
    int rc = snapshot_ignore_load(root, &ig, err);
    if (rc < 0)
        return rc;
    /* Suggest the file in effect; with none, .amlignore (creating a .gitignore would change git). */
    const char *suggest = snapshot_ignore_root_has_file(ig) ? snapshot_ignore_kind(ig) : SNAPSHOT_AMLIGNORE;
    walker w = {.root = root, .ig = ig, .m = out, .suggest_file = suggest, .err = err};
    rc = walk_dir(&w, "");
    if (rc == 0) {
        snapshot_manifest_sort(out);
        rc = check_symlinks(&w);
    }
    if (rc == 0)
        rc = snapshot_limits_check(out, limits, limits && limits->subject ? limits->subject : "code folder", suggest,
                                   err);
    if (rc == 0)
        rc = hash_files(&w);
    if (rc == 0)
        rc = snapshot_manifest_finish(out, err);
    snapshot_ignore_free(ig);
    if (rc < 0)
        snapshot_manifest_free(out);
    return rc;
}

int snapshot_manifest_build_file(const char *path, const snapshot_limits *limits, snapshot_manifest *out,
                                 amlfs_err *err)
{
    snapshot_manifest_init(out);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    int64_t started = snapshot_hash_cache_clock();
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char sha[SNAPSHOT_SHA_HEX];
    uint64_t size = 0;
    int rc = 0;
    if (fd < 0)
        rc = amlfs_fail(err, errno, "file %s: %s", path, strerror(errno));
    else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = amlfs_fail(err, EINVAL, "%s is not a regular file", path);
    else if (!name[0])
        rc = amlfs_fail(err, EINVAL, "%s names no file", path);
    else if (limits && limits->max_bytes && (uint64_t)st.st_size > limits->max_bytes) {
        char have[32], limit[32];
        snapshot_format_size((uint64_t)st.st_size, have, sizeof have);
        snapshot_format_size(limits->max_bytes, limit, sizeof limit);
        rc = amlfs_fail(err, EFBIG, "file %s is %s, over the limit of %s", path, have, limit);
    } else if (snapshot_hash_cache_lookup(&st, sha))
        size = (uint64_t)st.st_size;
    else
        rc = hash_and_keep(fd, &st, started, path, sha, &size, err);
    if (fd >= 0)
        close(fd);
    if (rc == 0) {
        snapshot_manifest_add(out, name, SNAPSHOT_FILE, (st.st_mode & 0111) ? 0755 : 0644, size, sha, NULL);
        snapshot_manifest_set_mtime(out, &st.st_mtim);
        rc = snapshot_manifest_finish(out, err);
    }
    if (rc < 0)
        snapshot_manifest_free(out);
    return rc;
}
