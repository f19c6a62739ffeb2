/* wbuf.c: the buffer of a file being written (or kept after its unlink while open): an unlinked temp
 * file in $TMPDIR (O_TMPFILE, else mkstemp + unlink), so writes land locally and close() uploads the
 * finished content at once. Large generated texts are kept in such temp files too (fs_temp_fd). */
#include "fs_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/util.h"

int fs_temp_fd(const char *purpose, amlfs_err *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    char *templ = util_strdupf("%s/amlfs-write.XXXXXX", dir);
    fd = mkostemp(templ, O_CLOEXEC);
    if (fd >= 0)
        unlink(templ);
    int saved = errno;
    free(templ);
    if (fd < 0)
        return amlfs_fail(err, saved, "cannot make a temp file in %s to %s: %s", dir, purpose, strerror(saved));
    return fd;
}

int wbuf_new(const char *initial, size_t len, mode_t mode, wbuf **out, amlfs_err *err)
{
    *out = NULL;
    int fd = fs_temp_fd("buffer a write", err);
    if (fd < 0)
        return fd;
    int rc = util_write_all(fd, initial ? initial : "", initial ? len : 0);
    if (rc < 0) {
        close(fd);
        return amlfs_fail(err, -rc, "cannot fill the write buffer: %s", strerror(-rc));
    }
    wbuf *b = util_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->stored, NULL);
    b->fd = fd;
    b->mode = mode & 07777;
    b->mtime_ms = util_now_ms();
    *out = b;
    return 0;
}

void wbuf_free(wbuf *b)
{
    if (!b)
        return;
    close(b->fd);
    free(b->before);
    pthread_cond_destroy(&b->stored);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

off_t wbuf_size(wbuf *b)
{
    struct stat st;
    return fstat(b->fd, &st) == 0 ? st.st_size : 0;
}

int wbuf_read_all(wbuf *b, char **text, size_t *len, amlfs_err *err)
{
    off_t size = wbuf_size(b);
    char *buf = util_xcalloc(1, (size_t)size + 1);
    size_t done = 0;
    while (done < (size_t)size) {
        ssize_t n = pread(b->fd, buf + done, (size_t)size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            free(buf);
            return amlfs_fail(err, saved, "cannot read back the write buffer: %s", strerror(saved));
        }
        done += (size_t)n;
    }
    buf[done] = '\0';
    *text = buf;
    *len = done;
    return 0;
}
