/* archive_in.c: reading snapshot tar archives (plain or gzip) with libarchive, and turning an entry's
 * name into a clean relative path or a refusal that says why. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

/* Only tar and gzip: nothing else is ever produced by snapshot_pack, and fewer formats mean less
 * parser exposed to what a client sends. */
static struct archive *new_reader(void)
{
    struct archive *a = archive_read_new();
    if (!a)
        abort(); /* out of memory */
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    return a;
}

static int opened(struct archive *a, int r, struct archive **out, amlfs_err *err)
{
    if (r != ARCHIVE_OK) {
        int rc = amlfs_fail(err, EINVAL, "not a tar archive: %s",
                            archive_error_string(a) ? archive_error_string(a) : "unreadable");
        archive_read_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int snapshot_archive_reader_fd(int fd, struct archive **out, amlfs_err *err)
{
    *out = NULL;
    struct archive *a = new_reader();
    return opened(a, archive_read_open_fd(a, fd, 1 << 16), out, err);
}

int snapshot_archive_reader_buffer(const void *data, size_t len, struct archive **out, amlfs_err *err)
{
    *out = NULL;
    struct archive *a = new_reader();
    return opened(a, archive_read_open_memory(a, data, len), out, err);
}

/* Returns 1 (and *out NULL) for the archive's own root ("." or "./", as `tar -C dir .` writes). */
int snapshot_archive_entry_path(struct archive_entry *e, char **out, amlfs_err *err)
{
    *out = NULL;
    const char *raw = archive_entry_pathname(e);
    if (!raw || !*raw)
        return amlfs_fail(err, EINVAL, "an archive entry has no usable name");
    if (raw[0] == '/')
        return amlfs_fail(err, EINVAL, "archive entry '%s' refused: it is an absolute path", raw);
    const char *p = raw;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    while (*p == '/')
        p++;
    if (!*p || strcmp(p, ".") == 0)
        return 1;
    char *path = util_xstrdup(p);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    for (const char *q = path; *q;) {
        const char *slash = strchr(q, '/');
        size_t len = slash ? (size_t)(slash - q) : strlen(q);
        if (len == 2 && q[0] == '.' && q[1] == '.') {
            free(path);
            return amlfs_fail(err, EINVAL, "archive entry '%s' refused: it has a '..' part, which leads outside",
                              raw);
        }
        q += len;
        if (*q == '/')
            q++;
    }
    int rc = util_check_relpath(path, err);
    if (rc < 0) {
        free(path);
        return amlfs_fail(err, -rc, "archive entry '%s' refused: %s", raw,
                          -rc == ENAMETOOLONG ? "a part of it is longer than 255 bytes"
                                              : "it has an empty or '.' part");
    }
    *out = path;
    return 0;
}
