/* hash.c: SHA-256 of buffers and files, as lowercase hex, through OpenSSL's EVP interface.
 * Build note: this needs `libcrypto` in the Makefile's PKGS (and scripts/deps.sh: libssl-dev). */
#include "amlfs/snapshot.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct snapshot_hasher {
    EVP_MD_CTX *ctx;
};

int snapshot_hasher_new(snapshot_hasher **out, amlfs_err *err)
{
    *out = NULL;
    snapshot_hasher *h = calloc(1, sizeof *h);
    if (!h)
        return amlfs_fail(err, ENOMEM, "out of memory starting a SHA-256");
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        snapshot_hasher_free(h);
        return amlfs_fail(err, EIO, "OpenSSL cannot start a SHA-256 digest");
    }
    *out = h;
    return 0;
}

void snapshot_hasher_free(snapshot_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int snapshot_hasher_update(snapshot_hasher *h, const void *data, size_t len, amlfs_err *err)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return amlfs_fail(err, EIO, "OpenSSL SHA-256 update failed");
    return 0;
}

int snapshot_hasher_final(snapshot_hasher *h, char hex[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == 32;
    snapshot_hasher_free(h);
    hex[0] = '\0';
    if (!ok)
        return amlfs_fail(err, EIO, "OpenSSL SHA-256 final failed");
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

int snapshot_sha256_buffer(const void *data, size_t len, char hex[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    snapshot_hasher *h;
    int rc = snapshot_hasher_new(&h, err);
    if (rc < 0)
        return rc;
    rc = snapshot_hasher_update(h, data, len, err);
    if (rc < 0) {
        snapshot_hasher_free(h);
        return rc;
    }
    return snapshot_hasher_final(h, hex, err);
}

int snapshot_sha256_fd(int fd, const char *what, char hex[SNAPSHOT_SHA_HEX], uint64_t *size, amlfs_err *err)
{
    snapshot_hasher *h;
    int rc = snapshot_hasher_new(&h, err);
    if (rc < 0)
        return rc;
    uint64_t total = 0;
    char *buf = malloc(1 << 16);
    if (!buf) {
        snapshot_hasher_free(h);
        return amlfs_fail(err, ENOMEM, "out of memory hashing %s", what);
    }
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = amlfs_fail(err, errno, "cannot read %s: %s", what, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if ((rc = snapshot_hasher_update(h, buf, (size_t)n, err)) < 0)
            break;
    }
    free(buf);
    if (rc < 0) {
        snapshot_hasher_free(h);
        return rc;
    }
    if (size)
        *size = total;
    return snapshot_hasher_final(h, hex, err);
}

bool snapshot_sha_valid(const char *hex)
{
    if (!hex)
        return false;
    size_t i = 0;
    for (; hex[i]; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return i == 64;
}
