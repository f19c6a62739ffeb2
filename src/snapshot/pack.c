/* pack.c: a code folder's manifest entries to a tar archive (pax, optionally gzip) with libarchive,
 * to an fd or into memory; files are re-hashed while packed, so a file changed since is caught. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 16)

typedef struct membuf {
    char *data;
    size_t len, cap;
} membuf;

static la_ssize_t mem_write(struct archive *a, void *client, const void *buf, size_t len)
{
    membuf *mb = client;
    if (mb->len + len > mb->cap) {
        size_t cap = mb->cap ? mb->cap : 1 << 16;
        while (cap < mb->len + len)
            cap *= 2;
        char *bigger = realloc(mb->data, cap);
        if (!bigger) {
            archive_set_error(a, ENOMEM, "out of memory");
            return -1;
        }
        mb->data = bigger;
        mb->cap = cap;
    }
    memcpy(mb->data + mb->len, buf, len);
    mb->len += len;
    return (la_ssize_t)len;
}

/* The set of wanted content hashes, each packed once. */
typedef struct wanted {
    const char **sha;
    bool *done;
    size_t n;
} wanted;

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int archive_failed(struct archive *a, const char *what, amlfs_err *err)
{
    const char *why = archive_error_string(a);
    return amlfs_fail(err, archive_errno(a) > 0 ? archive_errno(a) : EIO, "packing %s: %s", what,
                      why ? why : "libarchive failed");
}

static int changed(const snapshot_entry *e, amlfs_err *err)
{
    return amlfs_fail(err, EAGAIN, "'%s' changed since the snapshot was taken; submit again", e->path);
}

static int pack_file(struct archive *a, struct archive_entry *ae, const char *full, const snapshot_entry *e,
                     char *buf, amlfs_err *err)
{
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ELOOP ? changed(e, err)
                                                 : amlfs_fail(err, errno, "cannot read %s: %s", full, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = amlfs_fail(err, errno, "cannot read %s: %s", full, strerror(errno));
    else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size)
        rc = changed(e, err);
    snapshot_hasher *h = NULL;
    if (rc == 0)
        rc = snapshot_hasher_new(&h, err);
    if (rc == 0) {
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, e->mode);
        archive_entry_set_size(ae, (la_int64_t)e->size);
        archive_entry_set_mtime(ae, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (archive_write_header(a, ae) < ARCHIVE_WARN)
            rc = archive_failed(a, e->path, err);
    }
    uint64_t total = 0;
    while (rc == 0) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = amlfs_fail(err, errno, "cannot read %s: %s", full, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > e->size) {
            rc = changed(e, err);
            break;
        }
        rc = snapshot_hasher_update(h, buf, (size_t)n, err);
        if (rc == 0 && archive_write_data(a, buf, (size_t)n) != n)
            rc = archive_failed(a, e->path, err);
    }
    close(fd);
    if (rc == 0 && total != e->size)
        rc = changed(e, err);
    if (rc == 0) {
        char hex[SNAPSHOT_SHA_HEX];
        rc = snapshot_hasher_final(h, hex, err);
        h = NULL;
        if (rc == 0 && strcmp(hex, e->sha256) != 0)
            rc = changed(e, err);
    }
    snapshot_hasher_free(h);
    return rc;
}

static int pack_other(struct archive *a, struct archive_entry *ae, const char *full, const snapshot_entry *e,
                      amlfs_err *err)
{
    struct stat st;
    if (lstat(full, &st) < 0)
        return errno == ENOENT ? changed(e, err) : amlfs_fail(err, errno, "cannot read %s: %s", full, strerror(errno));
    if (e->type == SNAPSHOT_DIR) {
        if (!S_ISDIR(st.st_mode))
            return changed(e, err);
        archive_entry_set_filetype(ae, AE_IFDIR);
    } else {
        if (!S_ISLNK(st.st_mode))
            return changed(e, err);
        char *target = util_xcalloc(strlen(e->target) + 2, 1);
        ssize_t n = readlink(full, target, strlen(e->target) + 1);
        bool same = n >= 0 && (size_t)n == strlen(e->target) && memcmp(target, e->target, (size_t)n) == 0;
        free(target);
        if (!same)
            return changed(e, err);
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e->target);
    }
    archive_entry_set_perm(ae, e->mode);
    archive_entry_set_mtime(ae, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    if (archive_write_header(a, ae) < ARCHIVE_WARN)
        return archive_failed(a, e->path, err);
    return 0;
}

static int pack_entries(struct archive *a, const char *root, const snapshot_manifest *m, wanted *want,
                        amlfs_err *err)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return amlfs_fail(err, ENOMEM, "out of memory packing %s", root);
    int rc = 0, written = 0;
    for (size_t i = 0; rc == 0 && i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        if (want) {
            if (e->type != SNAPSHOT_FILE)
                continue;
            const char *key = e->sha256;
            const char **hit = bsearch(&key, want->sha, want->n, sizeof *want->sha, by_string);
            if (!hit || want->done[hit - want->sha])
                continue;
            want->done[hit - want->sha] = true;
        }
        if (e->type == SNAPSHOT_FILE && !snapshot_sha_valid(e->sha256)) {
            rc = amlfs_fail(err, EINVAL, "'%s' has no content hash: the manifest is not finished", e->path);
            break;
        }
        char *full = util_strdupf("%s/%s", root, e->path);
        struct archive_entry *ae = archive_entry_new();
        if (!ae)
            abort();
        archive_entry_set_pathname(ae, e->path);
        rc = e->type == SNAPSHOT_FILE ? pack_file(a, ae, full, e, buf, err) : pack_other(a, ae, full, e, err);
        archive_entry_free(ae);
        free(full);
        written++;
    }
    free(buf);
    return rc < 0 ? rc : written;
}

typedef int (*opener)(struct archive *a, void *ctx);

static int pack(const char *root, const snapshot_manifest *m, const snapshot_pack_opts *opts, opener open_out,
                void *ctx, amlfs_err *err)
{
    wanted want = {0};
    if (opts && opts->only_sha) {
        want.n = opts->only_count;
        want.sha = util_xcalloc(want.n ? want.n : 1, sizeof *want.sha);
        want.done = util_xcalloc(want.n ? want.n : 1, sizeof *want.done);
        for (size_t i = 0; i < want.n; i++)
            want.sha[i] = opts->only_sha[i];
        if (want.n > 1)
            qsort(want.sha, want.n, sizeof *want.sha, by_string);
    }
    struct archive *a = archive_write_new();
    if (!a)
        abort();
    int rc = 0;
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        (opts && opts->gzip && archive_write_add_filter_gzip(a) < ARCHIVE_WARN) ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK || open_out(a, ctx) != ARCHIVE_OK)
        rc = archive_failed(a, root, err);
    if (rc == 0)
        rc = pack_entries(a, root, m, opts && opts->only_sha ? &want : NULL, err);
    if (rc >= 0 && archive_write_close(a) != ARCHIVE_OK)
        rc = archive_failed(a, root, err);
    archive_write_free(a);
    free(want.sha);
    free(want.done);
    return rc;
}

static int open_fd(struct archive *a, void *ctx)
{
    return archive_write_open_fd(a, *(int *)ctx);
}

static int open_mem(struct archive *a, void *ctx)
{
    return archive_write_open2(a, ctx, NULL, mem_write, NULL, NULL);
}

int snapshot_pack_fd(const char *root, const snapshot_manifest *m, const snapshot_pack_opts *opts, int fd,
                     amlfs_err *err)
{
    return pack(root, m, opts, open_fd, &fd, err);
}

int snapshot_pack_buffer(const char *root, const snapshot_manifest *m, const snapshot_pack_opts *opts, char **out,
                         size_t *len, amlfs_err *err)
{
    *out = NULL;
    *len = 0;
    membuf mb = {0};
    int rc = pack(root, m, opts, open_mem, &mb, err);
    if (rc < 0) {
        free(mb.data);
        return rc;
    }
    *out = mb.data ? mb.data : util_xcalloc(1, 1);
    *len = mb.len;
    return rc;
}
