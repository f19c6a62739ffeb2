/* extract.c: a snapshot tar into a folder, safely: a first pass checks every header and refuses the whole
 * archive before anything is written; a second pass writes through snapshot_tree (never via a symlink). */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libarchive's archive_write_disk is not used for the writing: its ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS
 * refuses the absolute destination paths a server must use (and SECURE_SYMLINKS any symlink in the
 * destination's own path), so it needs chdir() into the destination, which is process-wide, and it sets
 * the process umask to 0 around each entry: both unsafe in the multithreaded server. The first pass
 * refuses what those flags refuse (absolute paths, '..', writing through symlinks) and more, and
 * snapshot_tree opens every folder with O_NOFOLLOW from the destination's descriptor. */

#define CHUNK (1 << 16)

/* One header as the first pass saw it, to be found again, identical, by the second. */
typedef struct seen {
    char *path; /* NULL: the archive's root folder entry, skipped */
    snapshot_type type;
} seen;

typedef struct plan {
    seen *order;
    size_t n;
    snapshot_manifest m; /* the same entries, sorted, for the structural checks */
} plan;

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->order[i].path);
    free(p->order);
    snapshot_manifest_free(&p->m);
}

typedef struct source {
    int fd;           /* -1 for a buffer */
    off_t start;      /* where the archive starts in fd */
    const void *data; /* buffer */
    size_t len;
} source;

static int open_source(source *src, struct archive **a, amlfs_err *err)
{
    if (src->fd < 0)
        return snapshot_archive_reader_buffer(src->data, src->len, a, err);
    if (lseek(src->fd, src->start, SEEK_SET) < 0)
        return amlfs_fail(err, errno, "cannot rewind the snapshot archive: %s", strerror(errno));
    return snapshot_archive_reader_fd(src->fd, a, err);
}

static const char *odd_type(mode_t ft)
{
    switch (ft) {
    case AE_IFCHR:
        return "a character device";
    case AE_IFBLK:
        return "a block device";
    case AE_IFIFO:
        return "a named pipe (fifo)";
    case AE_IFSOCK:
        return "a socket";
    default:
        return "of an unsupported type";
    }
}

static int damaged(struct archive *a, amlfs_err *err)
{
    const char *why = archive_error_string(a);
    return amlfs_fail(err, EINVAL, "snapshot archive is damaged: %s", why ? why : "unreadable header");
}

/* What one header is, or why it is refused. */
static int classify(struct archive_entry *e, snapshot_type *type, amlfs_err *err)
{
    const char *name = archive_entry_pathname(e);
    if (archive_entry_hardlink(e))
        return amlfs_fail(err, EINVAL, "archive entry '%s' refused: it is a hard link (to '%s'); snapshots hold "
                          "no hard links", name, archive_entry_hardlink(e));
    mode_t ft = archive_entry_filetype(e);
    if (ft == AE_IFREG) {
        if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
            return amlfs_fail(err, EINVAL, "archive entry '%s' refused: it has no valid size", name);
        *type = SNAPSHOT_FILE;
    } else if (ft == AE_IFDIR) {
        *type = SNAPSHOT_DIR;
    } else if (ft == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
            return amlfs_fail(err, EINVAL, "archive entry '%s' refused: a symlink without a target", name);
        *type = SNAPSHOT_SYMLINK;
    } else {
        return amlfs_fail(err, EINVAL, "archive entry '%s' refused: it is %s; snapshots hold only files, "
                          "folders and symlinks", name, odd_type(ft));
    }
    return 0;
}

/* First pass: read every header, refuse the archive on the first bad one. */
static int check_all(source *src, const snapshot_limits *limits, plan *p, amlfs_err *err)
{
    uint64_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : SNAPSHOT_DEFAULT_MAX_BYTES;
    uint64_t max_files = limits && limits->max_files ? limits->max_files : SNAPSHOT_DEFAULT_MAX_FILES;
    uint64_t bytes = 0, files = 0, dirs = 0;
    struct archive *a;
    int rc = open_source(src, &a, err);
    if (rc < 0)
        return rc;
    size_t cap = 0;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = damaged(a, err);
            break;
        }
        char *path;
        rc = snapshot_archive_entry_path(e, &path, err);
        if (rc < 0)
            break;
        snapshot_type type;
        if ((rc = classify(e, &type, err)) < 0) {
            free(path);
            break;
        }
        if (!path && type != SNAPSHOT_DIR) {
            rc = amlfs_fail(err, EINVAL, "archive entry '%s' refused: the archive's root must be a folder",
                            archive_entry_pathname(e));
            break;
        }
        if (p->n == cap) {
            cap = cap ? cap * 2 : 64;
            seen *bigger = realloc(p->order, cap * sizeof *bigger);
            if (!bigger)
                abort();
            p->order = bigger;
        }
        p->order[p->n++] = (seen){.path = path, .type = type};
        if (!path)
            continue;
        uint64_t size = type == SNAPSHOT_FILE ? (uint64_t)archive_entry_size(e) : 0;
        snapshot_manifest_add(&p->m, path, type, archive_entry_perm(e), size, NULL, archive_entry_symlink(e));
        bytes += size;
        files += type != SNAPSHOT_DIR;
        dirs += type == SNAPSHOT_DIR;
        /* Stop at once when over a limit: a small gzip can hold a huge number of headers. */
        if (bytes > max_bytes || files > max_files || dirs > max_files) {
            rc = snapshot_limits_check(&p->m, limits, "snapshot archive (read so far)", NULL, err);
            break;
        }
    }
    archive_read_free(a);
    if (rc < 0)
        return rc;
    /* Duplicates, entries under a file or symlink, symlinks leading out (also through other symlinks). */
    snapshot_manifest_sort(&p->m);
    rc = snapshot_manifest_check(&p->m, false, false, err);
    if (rc < 0)
        return err ? amlfs_wrap(err, "snapshot archive refused: ") : rc;
    return 0;
}

static int write_file(struct archive *a, struct archive_entry *e, snapshot_tree *t, const char *path, char *buf,
                      amlfs_err *err)
{
    int fd = snapshot_tree_create_file(t, path, err);
    if (fd < 0)
        return fd;
    int64_t want = archive_entry_size(e), got = 0;
    int rc = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, CHUNK);
        if (n < 0) {
            rc = damaged(a, err);
            break;
        }
        if (n == 0)
            break;
        got += n;
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = amlfs_fail(err, errno, "cannot write '%s': %s", path, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && got != want)
        rc = amlfs_fail(err, EINVAL, "snapshot archive is damaged: '%s' is shorter than its header says", path);
    /* Only the executable bit is kept, as in manifests: no set-id bits, nothing group- or world-writable. */
    unsigned mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
    int64_t mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : -1;
    int crc = snapshot_tree_close_file(t, fd, path, mode, mtime, rc == 0 ? err : NULL);
    return rc < 0 ? rc : crc;
}

/* Second pass: the same headers again, written. */
static int write_all(source *src, const plan *p, snapshot_tree *t, amlfs_err *err)
{
    struct archive *a;
    int rc = open_source(src, &a, err);
    if (rc < 0)
        return rc;
    char *buf = malloc(CHUNK);
    if (!buf)
        abort();
    size_t i = 0;
    int written = 0;
    for (;; i++) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = damaged(a, err);
            break;
        }
        char *path;
        snapshot_type type = SNAPSHOT_DIR;
        rc = snapshot_archive_entry_path(e, &path, err);
        if (rc >= 0)
            rc = classify(e, &type, err);
        if (rc >= 0 && (i >= p->n || type != p->order[i].type || (path == NULL) != (p->order[i].path == NULL) ||
                        (path && strcmp(path, p->order[i].path) != 0)))
            rc = amlfs_fail(err, EIO, "the snapshot archive changed while it was being extracted");
        if (rc >= 0 && path) {
            if (type == SNAPSHOT_DIR)
                rc = snapshot_tree_mkdir(t, path, err);
            else if (type == SNAPSHOT_SYMLINK)
                rc = snapshot_tree_symlink(t, path, archive_entry_symlink(e), err);
            else
                rc = write_file(a, e, t, path, buf, err);
            if (rc >= 0)
                written++;
        }
        free(path);
        if (rc < 0)
            break;
        rc = 0;
    }
    if (rc == 0 && i != p->n)
        rc = amlfs_fail(err, EIO, "the snapshot archive changed while it was being extracted");
    free(buf);
    archive_read_free(a);
    return rc < 0 ? rc : written;
}

static int extract(source *src, const char *dest, const snapshot_limits *limits, amlfs_err *err)
{
    plan p = {0};
    snapshot_manifest_init(&p.m);
    int rc = check_all(src, limits, &p, err);
    snapshot_tree *t = NULL;
    if (rc == 0)
        rc = snapshot_tree_open(dest, &t, err);
    if (rc == 0) {
        rc = write_all(src, &p, t, err);
        if (rc < 0)
            snapshot_tree_abort(t);
        else
            snapshot_tree_done(t);
    }
    plan_free(&p);
    return rc;
}

int snapshot_extract_fd(int fd, const char *dest, const snapshot_limits *limits, amlfs_err *err)
{
    source src = {.fd = fd, .start = lseek(fd, 0, SEEK_CUR)};
    if (src.start < 0)
        return amlfs_fail(err, errno == ESPIPE ? EINVAL : errno,
                          "a snapshot archive is read twice (checked, then written), so it must come from a "
                          "file, not a pipe: %s", strerror(errno));
    return extract(&src, dest, limits, err);
}

int snapshot_extract_buffer(const void *data, size_t len, const char *dest, const snapshot_limits *limits,
                            amlfs_err *err)
{
    source src = {.fd = -1, .data = data, .len = len};
    return extract(&src, dest, limits, err);
}
