/* blobs.c: the server's content-addressed store: each file content once, named by its SHA-256 and
 * verified on the way in; manifests kept by their hash. Layout: STORE/blobs/ab/abcd..., STORE/manifests. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1 << 16)

void snapshot_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *snapshot_blob_path(const char *store_dir, const char *sha)
{
    return util_strdupf("%s/blobs/%.2s/%s", store_dir, sha, sha);
}

bool snapshot_blob_has(const char *store_dir, const char *sha)
{
    if (!snapshot_sha_valid(sha))
        return false;
    char *path = snapshot_blob_path(store_dir, sha);
    struct stat st;
    bool has = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return has;
}

/* Reads the next chunk of a blob's content: bytes, 0 at the end, or -errno. */
typedef ssize_t (*chunk_reader)(void *ctx, void *buf, size_t len);

static ssize_t read_fd(void *ctx, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(*(int *)ctx, buf, len);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static ssize_t read_archive(void *ctx, void *buf, size_t len)
{
    la_ssize_t n = archive_read_data(ctx, buf, len);
    return n < 0 ? -EIO : (ssize_t)n;
}

/* Copies a content into STORE/tmp while hashing, checks it, then renames it into place: a blob under
 * its final name is always whole and always what its name says. 1 stored now, 0 already there. */
static int put_stream(const char *store_dir, chunk_reader next, void *ctx, const char *what, const char *expect,
                      char out_sha[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    char *tmpdir = util_strdupf("%s/tmp", store_dir);
    int rc = util_mkdir_p(tmpdir, 0700, err);
    char *tmp = util_strdupf("%s/blob-XXXXXX", tmpdir);
    free(tmpdir);
    int fd = rc == 0 ? mkostemp(tmp, O_CLOEXEC) : -1;
    if (rc == 0 && fd < 0)
        rc = amlfs_fail(err, errno, "cannot create a file in %s/tmp: %s", store_dir, strerror(errno));
    snapshot_hasher *h = NULL;
    if (rc == 0)
        rc = snapshot_hasher_new(&h, err);
    char *buf = rc == 0 ? malloc(CHUNK) : NULL;
    if (rc == 0 && !buf)
        rc = amlfs_fail(err, ENOMEM, "out of memory storing %s", what);
    while (rc == 0) {
        ssize_t n = next(ctx, buf, CHUNK);
        if (n < 0) {
            rc = amlfs_fail(err, (int)-n, "cannot read %s: %s", what, strerror((int)-n));
            break;
        }
        if (n == 0)
            break;
        rc = snapshot_hasher_update(h, buf, (size_t)n, err);
        int w = rc == 0 ? util_write_all(fd, buf, (size_t)n) : 0;
        if (w < 0)
            rc = amlfs_fail(err, -w, "cannot write %s: %s", tmp, strerror(-w));
    }
    free(buf);
    char sha[SNAPSHOT_SHA_HEX] = "";
    if (rc == 0) {
        rc = snapshot_hasher_final(h, sha, err);
        h = NULL;
    }
    snapshot_hasher_free(h);
    if (rc == 0 && expect && strcmp(sha, expect) != 0)
        rc = amlfs_fail(err, EINVAL, "%s does not have the content its manifest says (SHA-256 %.12s..., expected "
                        "%.12s...)", what, sha, expect);
    /* Blobs are read-only: the store never changes a content, runs get copies. fsync before the rename,
     * so that a crash cannot leave a short file under a content's name. */
    if (rc == 0 && (fchmod(fd, 0444) < 0 || fsync(fd) < 0))
        rc = amlfs_fail(err, errno, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = amlfs_fail(err, errno, "cannot write %s: %s", tmp, strerror(errno));
    int stored = 0;
    if (rc == 0 && !snapshot_blob_has(store_dir, sha)) {
        char *final = snapshot_blob_path(store_dir, sha);
        char *dir = util_strdupf("%s/blobs/%.2s", store_dir, sha);
        rc = util_mkdir_p(dir, 0755, err);
        /* Two uploads of one content may race: rename is atomic and both hold the same bytes. */
        if (rc == 0 && rename(tmp, final) < 0)
            rc = amlfs_fail(err, errno, "cannot store %s as %s: %s", what, final, strerror(errno));
        stored = rc == 0;
        free(final);
        free(dir);
    }
    if (!stored && fd >= 0)
        unlink(tmp);
    free(tmp);
    if (rc == 0 && out_sha)
        snprintf(out_sha, SNAPSHOT_SHA_HEX, "%s", sha);
    return rc < 0 ? rc : stored;
}

int snapshot_blob_put_fd(const char *store_dir, int fd, const char *expect, char out_sha[SNAPSHOT_SHA_HEX],
                         amlfs_err *err)
{
    if (expect && !snapshot_sha_valid(expect))
        return amlfs_fail(err, EINVAL, "'%s' is not a SHA-256 (64 lowercase hex digits)", expect);
    if (expect && snapshot_blob_has(store_dir, expect)) {
        if (out_sha)
            snprintf(out_sha, SNAPSHOT_SHA_HEX, "%s", expect);
        return 0;
    }
    return put_stream(store_dir, read_fd, &fd, "the uploaded content", expect, out_sha, err);
}

int snapshot_blob_put_file(const char *store_dir, const char *path, const char *expect,
                           char out_sha[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return amlfs_fail(err, errno, "cannot read %s: %s", path, strerror(errno));
    int rc = snapshot_blob_put_fd(store_dir, fd, expect, out_sha, err);
    close(fd);
    return rc;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int snapshot_blobs_missing(const char *store_dir, const snapshot_manifest *m, char ***out, size_t *n,
                           amlfs_err *err)
{
    (void)err; /* nothing here can fail but memory, which aborts */
    char **list = util_xcalloc(m->count ? m->count : 1, sizeof *list);
    size_t count = 0;
    /* Each blob looked up from the store's own folder: a short path for each of thousands of stats. */
    char *blobs = util_strdupf("%s/blobs", store_dir);
    int dirfd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(blobs);
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        if (e->type != SNAPSHOT_FILE)
            continue;
        char rel[SNAPSHOT_SHA_HEX + 3];
        struct stat st;
        snprintf(rel, sizeof rel, "%.2s/%s", e->sha256, e->sha256);
        if (dirfd < 0 || !snapshot_sha_valid(e->sha256) || fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            list[count++] = util_xstrdup(e->sha256);
    }
    if (dirfd >= 0)
        close(dirfd);
    if (count > 1)
        qsort(list, count, sizeof *list, by_string);
    size_t unique = 0;
    for (size_t i = 0; i < count; i++) {
        if (unique && strcmp(list[unique - 1], list[i]) == 0)
            free(list[i]);
        else
            list[unique++] = list[i];
    }
    *out = list;
    *n = unique;
    return 0;
}

static int ingest(const char *store_dir, const snapshot_manifest *m, struct archive *a, amlfs_err *err)
{
    int rc = 0, stored = 0;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            const char *why = archive_error_string(a);
            rc = amlfs_fail(err, EINVAL, "uploaded snapshot archive is damaged: %s", why ? why : "bad header");
            break;
        }
        char *path;
        rc = snapshot_archive_entry_path(e, &path, err);
        if (rc < 0)
            break;
        const snapshot_entry *me = path ? snapshot_manifest_find(m, path) : NULL;
        if (!path || !me || me->type != SNAPSHOT_FILE || archive_entry_filetype(e) != AE_IFREG ||
            archive_entry_hardlink(e)) {
            rc = amlfs_fail(err, EINVAL, "uploaded archive entry '%s' refused: it is not a file of the snapshot",
                            archive_entry_pathname(e));
        } else if (!archive_entry_size_is_set(e) || (uint64_t)archive_entry_size(e) != me->size) {
            rc = amlfs_fail(err, EINVAL, "uploaded archive entry '%s' refused: its size is not the manifest's",
                            path);
        } else if (!snapshot_blob_has(store_dir, me->sha256)) {
            char *what = util_strdupf("uploaded file '%s'", path);
            rc = put_stream(store_dir, read_archive, a, what, me->sha256, NULL, err);
            free(what);
            stored += rc > 0;
        }
        free(path);
        if (rc < 0)
            break;
        rc = 0;
    }
    archive_read_free(a);
    return rc < 0 ? rc : stored;
}

int snapshot_blobs_ingest_fd(const char *store_dir, const snapshot_manifest *m, int fd, amlfs_err *err)
{
    struct archive *a;
    int rc = snapshot_archive_reader_fd(fd, &a, err);
    return rc < 0 ? rc : ingest(store_dir, m, a, err);
}

int snapshot_blobs_ingest_buffer(const char *store_dir, const snapshot_manifest *m, const void *data, size_t len,
                                 amlfs_err *err)
{
    struct archive *a;
    int rc = snapshot_archive_reader_buffer(data, len, &a, err);
    return rc < 0 ? rc : ingest(store_dir, m, a, err);
}

int snapshot_store_put_manifest(const char *store_dir, const snapshot_manifest *m, amlfs_err *err)
{
    if (!snapshot_sha_valid(m->hash))
        return amlfs_fail(err, EINVAL, "a manifest is stored only once finished (it has no hash yet)");
    char *dir = util_strdupf("%s/manifests", store_dir);
    int rc = util_mkdir_p(dir, 0755, err);
    if (rc == 0) {
        char *path = util_strdupf("%s/%s.json", dir, m->hash);
        char *json = snapshot_manifest_to_json(m);
        rc = util_write_file_atomic(path, json, strlen(json), 0644, err);
        free(json);
        free(path);
    }
    free(dir);
    return rc;
}

int snapshot_store_get_manifest(const char *store_dir, const char *hash, snapshot_manifest *m, amlfs_err *err)
{
    snapshot_manifest_init(m);
    if (!snapshot_sha_valid(hash))
        return amlfs_fail(err, EINVAL, "'%s' is not a snapshot hash (64 lowercase hex digits)", hash);
    char *path = util_strdupf("%s/manifests/%s.json", store_dir, hash);
    char *text;
    size_t len;
    int rc = util_read_file(path, &text, &len, err);
    free(path);
    if (rc < 0)
        return rc == -ENOENT ? amlfs_fail(err, ENOENT, "snapshot %.12s... is not in the store", hash) : rc;
    rc = snapshot_manifest_from_json(text, len, m, err);
    free(text);
    if (rc == 0 && strcmp(m->hash, hash) != 0) {
        snapshot_manifest_free(m);
        rc = amlfs_fail(err, EIO, "stored snapshot %.12s... does not hash to its name", hash);
    }
    return rc;
}
