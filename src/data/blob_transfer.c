/* blob_transfer.c: whole blobs streamed between a file and the service: downloads checked against the
 * announced length and Content-MD5, uploads as one Put Blob or as MD5-checked blocks and a block list. */
#include "blob_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

/* The service takes at most this many blocks in one blob. */
#define MAX_BLOCKS 50000
#define READ_CHUNK ((size_t)64 << 10)

int blob_download(blob_client *c, const char *name, int fd, amlfs_err *err)
{
    int rc = blob_check_name(name, err);
    if (rc < 0)
        return rc;
    blob_req r;
    blob_req_init(&r, "GET", name, "downloading");
    r.transfer = true;
    r.sink = BLOB_SINK_FD;
    r.fd = fd;
    r.md5 = EVP_MD_CTX_new();
    if (!r.md5 || !EVP_DigestInit_ex(r.md5, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(r.md5);
        return amlfs_fail(err, ENOMEM, "cannot start an MD5 digest (libcrypto)");
    }
    rc = blob_perform(c, &r, err);
    if (rc == 0 && r.has_length && r.written != r.content_length)
        rc = amlfs_fail(err, EIO, "downloading blob '%s': got %llu of its %llu bytes", name,
                        (unsigned long long)r.written, (unsigned long long)r.content_length);
    if (rc == 0 && r.content_md5[0]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_DigestFinal_ex(r.md5, md, &md_len);
        char *got = blob_base64(md, md_len);
        if (strcmp(got, r.content_md5) != 0)
            rc = amlfs_fail(err, EIO, "downloading blob '%s': the content's MD5 %s differs from the blob's "
                            "Content-MD5 %s (corrupted in transit or at rest)", name, got, r.content_md5);
        free(got);
    }
    EVP_MD_CTX_free(r.md5);
    blob_req_free(&r);
    return rc;
}

/* MD5 (base64) of len bytes of fd at off, also fed into `whole` when given; pread in small chunks. */
static int md5_of_range(const char *name, int fd, uint64_t off, uint64_t len, EVP_MD_CTX *whole, char **b64,
                        amlfs_err *err)
{
    *b64 = NULL;
    EVP_MD_CTX *part = EVP_MD_CTX_new();
    if (!part || !EVP_DigestInit_ex(part, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(part);
        return amlfs_fail(err, ENOMEM, "cannot start an MD5 digest (libcrypto)");
    }
    char *chunk = util_xcalloc(1, READ_CHUNK);
    int rc = 0;
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done < READ_CHUNK ? (size_t)(len - done) : READ_CHUNK;
        ssize_t got = pread(fd, chunk, want, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = amlfs_fail(err, errno, "uploading blob '%s': reading the file: %s", name, strerror(errno));
            break;
        }
        if (got == 0) {
            rc = amlfs_fail(err, EIO, "uploading blob '%s': the file ended before its %llu bytes (it changed "
                            "meanwhile)", name, (unsigned long long)(off + len));
            break;
        }
        EVP_DigestUpdate(part, chunk, (size_t)got);
        if (whole)
            EVP_DigestUpdate(whole, chunk, (size_t)got);
        done += (uint64_t)got;
    }
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_DigestFinal_ex(part, md, &md_len);
        *b64 = blob_base64(md, md_len);
    }
    free(chunk);
    EVP_MD_CTX_free(part);
    return rc;
}

static int put_blob(blob_client *c, const char *name, int fd, uint64_t size, amlfs_err *err)
{
    char *md5 = NULL;
    int rc = md5_of_range(name, fd, 0, size, NULL, &md5, err);
    if (rc < 0)
        return rc;
    blob_req r;
    blob_req_init(&r, "PUT", name, "uploading");
    blob_req_header(&r, "x-ms-blob-type", "BlockBlob");
    blob_req_header(&r, "Content-MD5", md5);
    r.transfer = true;
    r.body_fd = fd;
    r.body_len = size;
    rc = blob_perform(c, &r, err);
    blob_req_free(&r);
    free(md5);
    return rc;
}

static int put_block(blob_client *c, const char *name, int fd, uint64_t off, uint64_t len, const char *id,
                     EVP_MD_CTX *whole, amlfs_err *err)
{
    char *md5 = NULL;
    int rc = md5_of_range(name, fd, off, len, whole, &md5, err);
    if (rc < 0)
        return rc;
    blob_req r;
    blob_req_init(&r, "PUT", name, "uploading a block of");
    blob_req_query(&r, "comp", "block");
    blob_req_query(&r, "blockid", id);
    blob_req_header(&r, "Content-MD5", md5);
    r.transfer = true;
    r.body_fd = fd;
    r.body_off = off;
    r.body_len = len;
    rc = blob_perform(c, &r, err);
    blob_req_free(&r);
    free(md5);
    return rc;
}

static int put_block_list(blob_client *c, const char *name, char *const *ids, size_t n, const char *md5,
                          amlfs_err *err)
{
    size_t len = 0;
    char *body = blob_xml_block_list(ids, n, &len);
    if (!body)
        return amlfs_fail(err, ENOMEM, "uploading blob '%s': cannot write its block list (libxml2)", name);
    blob_req r;
    blob_req_init(&r, "PUT", name, "committing the blocks of");
    blob_req_query(&r, "comp", "blocklist");
    blob_req_header(&r, "x-ms-blob-content-md5", md5);
    r.body = body;
    r.body_len = len;
    int rc = blob_perform(c, &r, err);
    blob_req_free(&r);
    free(body);
    return rc;
}

static int put_blocks(blob_client *c, const char *name, int fd, uint64_t size, amlfs_err *err)
{
    /* Blocks of block_size, bigger when the file would need more than the service's 50,000. */
    uint64_t block = c->block_size;
    if ((size + block - 1) / block > MAX_BLOCKS) {
        uint64_t mib = (uint64_t)1 << 20;
        block = ((size + MAX_BLOCKS - 1) / MAX_BLOCKS + mib - 1) / mib * mib;
        if (block > ((uint64_t)4000 << 20))
            return amlfs_fail(err, EFBIG, "uploading blob '%s': %llu bytes is more than a block blob holds", name,
                              (unsigned long long)size);
    }
    size_t n = (size_t)((size + block - 1) / block);
    /* Ids unique to this upload: a concurrent upload of the same name cannot mix its blocks into ours. */
    unsigned char nonce[8];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return amlfs_fail(err, EIO, "cannot draw random bytes (libcrypto)");
    char **ids = util_xcalloc(n, sizeof *ids);
    EVP_MD_CTX *whole = EVP_MD_CTX_new();
    int rc = 0;
    if (!whole || !EVP_DigestInit_ex(whole, EVP_md5(), NULL))
        rc = amlfs_fail(err, ENOMEM, "cannot start an MD5 digest (libcrypto)");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char raw[64];
        snprintf(raw, sizeof raw, "amlfs-%02x%02x%02x%02x%02x%02x%02x%02x-%08zu", nonce[0], nonce[1], nonce[2],
                 nonce[3], nonce[4], nonce[5], nonce[6], nonce[7], i);
        ids[i] = blob_base64((const unsigned char *)raw, strlen(raw));
        uint64_t off = (uint64_t)i * block;
        rc = put_block(c, name, fd, off, size - off < block ? size - off : block, ids[i], whole, err);
    }
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        EVP_DigestFinal_ex(whole, md, &md_len);
        char *md5 = blob_base64(md, md_len);
        rc = put_block_list(c, name, ids, n, md5, err);
        free(md5);
    }
    /* Blocks never committed are dropped by the service after a week. */
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    EVP_MD_CTX_free(whole);
    return rc;
}

int blob_upload(blob_client *c, const char *name, int fd, uint64_t size, amlfs_err *err)
{
    int rc = blob_check_name(name, err);
    if (rc < 0)
        return rc;
    if (size <= c->block_size)
        return put_blob(c, name, fd, size, err);
    return put_blocks(c, name, fd, size, err);
}
