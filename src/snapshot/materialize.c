/* materialize.c: a run's snapshot folder built from a manifest and the blob store: folders, copies of
 * the blobs (a run may change its copy, the store never changes), symlinks; all or nothing. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 16)

/* copy_file_range lets the file system share or copy in the kernel; plain read/write where it cannot. */
static int copy_fd(int in, int out, uint64_t size, const char *what, amlfs_err *err)
{
    uint64_t left = size;
    bool plain = false;
    while (left && !plain) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, left > (1u << 30) ? (1u << 30) : (size_t)left, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
            plain = true;
            break;
        }
        if (n < 0)
            return amlfs_fail(err, errno, "cannot copy %s: %s", what, strerror(errno));
        if (n == 0)
            return amlfs_fail(err, EIO, "blob of %s is shorter than its manifest says", what);
        left -= (uint64_t)n;
    }
    if (!plain)
        return 0;
    char *buf = malloc(CHUNK);
    if (!buf)
        return amlfs_fail(err, ENOMEM, "out of memory copying %s", what);
    int rc = 0;
    while (left && rc == 0) {
        ssize_t n = read(in, buf, left > CHUNK ? CHUNK : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? amlfs_fail(err, errno, "cannot read the blob of %s: %s", what, strerror(errno))
                       : amlfs_fail(err, EIO, "blob of %s is shorter than its manifest says", what);
            break;
        }
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = amlfs_fail(err, errno, "cannot write %s: %s", what, strerror(errno));
            else
                off += w;
        }
        left -= (uint64_t)n;
    }
    free(buf);
    return rc;
}

static int copy_blob(const char *store_dir, const snapshot_entry *e, snapshot_tree *t, amlfs_err *err)
{
    char *blob = snapshot_blob_path(store_dir, e->sha256);
    int in = open(blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;
    struct stat st;
    if (in < 0 && errno == ENOENT)
        rc = amlfs_fail(err, ENOENT, "the content of '%s' (%.12s...) is not in the store", e->path, e->sha256);
    else if (in < 0)
        rc = amlfs_fail(err, errno, "cannot read the blob of '%s' (%s): %s", e->path, blob, strerror(errno));
    else if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size)
        rc = amlfs_fail(err, EIO, "the blob of '%s' (%s) is damaged: its size is not the manifest's", e->path,
                        blob);
    free(blob);
    int out = rc == 0 ? snapshot_tree_create_file(t, e->path, err) : -1;
    if (rc == 0 && out < 0)
        rc = out;
    if (rc == 0)
        rc = copy_fd(in, out, e->size, e->path, err);
    if (out >= 0) {
        /* The job sees its files' times as the folder had them (make and friends compare them). */
        int crc = snapshot_tree_close_file(t, out, e->path, e->mode, e->mtime_ms >= 0 ? e->mtime_ms / 1000 : -1,
                                           rc == 0 ? err : NULL);
        if (rc == 0)
            rc = crc;
    }
    if (in >= 0)
        close(in);
    return rc;
}

int snapshot_materialize(const char *store_dir, const snapshot_manifest *m, const char *dest, amlfs_err *err)
{
    if (!snapshot_sha_valid(m->hash))
        return amlfs_fail(err, EINVAL, "only a finished manifest (with its hash) can be materialized");
    /* Each blob is opened once, when it is copied: one that is missing stops the copy there, and the
     * abort below leaves dest as it was found. */
    snapshot_tree *t;
    int rc = snapshot_tree_open(dest, &t, err);
    if (rc < 0)
        return rc;
    /* Sorted by path, so each folder comes before what it holds. */
    for (size_t i = 0; rc == 0 && i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        if (e->type == SNAPSHOT_DIR)
            rc = snapshot_tree_mkdir(t, e->path, err);
        else if (e->type == SNAPSHOT_SYMLINK)
            rc = snapshot_tree_symlink(t, e->path, e->target, err);
        else
            rc = copy_blob(store_dir, e, t, err);
    }
    if (rc < 0) {
        snapshot_tree_abort(t);
        return rc;
    }
    snapshot_tree_done(t);
    return 0;
}
