/* token.c: the bearer token that guards the TCP listener and the key that seals secrets at rest: 0600
 * files of 64 hex characters made from getrandom when absent; a comparison whose time does not leak. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/util.h"

#define TOKEN_BYTES 32

static int create_token_file(const char *path, amlfs_err *err)
{
    unsigned char raw[TOKEN_BYTES];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return amlfs_fail(err, EIO, "getrandom: %s", strerror(errno));
    char hex[2 * TOKEN_BYTES + 2];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    strcat(hex, "\n");
    /* O_EXCL: two servers starting together must not overwrite each other's token. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : amlfs_fail(err, errno, "token file %s: %s", path, strerror(errno));
    size_t len = strlen(hex);
    ssize_t w = write(fd, hex, len);
    int rc = (w == (ssize_t)len && fsync(fd) == 0) ? 0 : -1;
    int saved = errno;
    close(fd);
    if (rc < 0) {
        unlink(path);
        return amlfs_fail(err, saved, "writing the token file %s: %s", path, strerror(saved));
    }
    return 0;
}

int token_load_or_create(const char *path, char **token, amlfs_err *err)
{
    int r = create_token_file(path, err);
    if (r < 0)
        return r;
    struct stat st;
    /* A secret others can read is no secret: refused rather than used (it only warned once). */
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        return amlfs_fail(err, EACCES, "%s is readable by others (mode %03o): chmod 600 it (or delete it to get "
                          "a new one)", path, st.st_mode & 0777);
    char *text;
    size_t len;
    if ((r = util_read_file(path, &text, &len, err)) < 0)
        return r;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (len < 16) {
        free(text);
        return amlfs_fail(err, EINVAL, "token file %s holds a token of %zu characters; at least 16 are "
                          "needed (delete the file to get a new random one)", path, len);
    }
    *token = text;
    return 0;
}

bool token_equal(const char *given, const char *expected)
{
    if (!given || !expected)
        return false;
    size_t glen = strlen(given), elen = strlen(expected);
    /* Every byte of the expected token is looked at, whatever the given one holds. */
    unsigned diff = glen != elen;
    for (size_t i = 0; i < elen; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

int secret_key_load_or_create(const char *path, unsigned char key[STORE_SECRET_KEY_LEN], amlfs_err *err)
{
    char *hex = NULL;
    int r = token_load_or_create(path, &hex, err);
    if (r < 0)
        return amlfs_wrap(err, "the workspace's secret key: ");
    size_t len = strlen(hex);
    for (size_t i = 0; r == 0 && i < STORE_SECRET_KEY_LEN; i++) {
        unsigned byte;
        if (len != 2 * STORE_SECRET_KEY_LEN || sscanf(hex + 2 * i, "%2x", &byte) != 1)
            r = amlfs_fail(err, EINVAL, "%s is not a key of %d hex digits: restore the right one (secrets sealed "
                           "with it cannot be read without it)", path, 2 * STORE_SECRET_KEY_LEN);
        else
            key[i] = (unsigned char)byte;
    }
    explicit_bzero(hex, len);
    free(hex);
    return r;
}
