/* check_blob.c: the blob client against a live Blob service (Azurite, started by
 * tests/e2e/test_blob_client.sh): uploads (one Put Blob and blocks), listings with folders and pages,
 * properties, ranged reads, downloads, and every refusal. Usage: check_blob WORKDIR, with
 * AZURITE_BLOB_URL, AZURITE_ACCOUNT and AZURITE_KEY in the environment. Ends with "N passed, N failed". */
#include "amlfs/blob.h"
#include "amlfs/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../unit/check.h"

static const char *url, *account, *key, *workdir;
static const char container[] = "amlfs-check";

static blob_config config(void)
{
    return (blob_config){.endpoint = url, .account_name = account, .container = container, .account_key = key};
}

/* Bytes that differ everywhere, the same for a seed. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

/* A file of n such bytes in the work dir; its path (malloc'd). */
static char *make_file(const char *name, size_t n, uint64_t seed)
{
    char *path = util_strdupf("%s/%s", workdir, name);
    unsigned char *data = malloc(n ? n : 1);
    fill(data, n, seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || util_write_all(fd, data, n) < 0) {
        printf("cannot write %s\n", path);
        exit(1);
    }
    close(fd);
    free(data);
    return path;
}

static void sha256_file(const char *path, char hex[65])
{
    unsigned char md[32], buf[65536];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    int fd = open(path, O_RDONLY);
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    if (fd >= 0)
        close(fd);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void md5_base64(const unsigned char *data, size_t n, char out[32])
{
    unsigned char md[16];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

static int upload_path(blob_client *c, const char *name, const char *path, amlfs_err *err)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return amlfs_fail(err, errno, "open %s", path);
    int rc = blob_upload(c, name, fd, (uint64_t)st.st_size, err);
    close(fd);
    return rc;
}

static int download_path(blob_client *c, const char *name, const char *path, amlfs_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return amlfs_fail(err, errno, "open %s", path);
    int rc = blob_download(c, name, fd, err);
    close(fd);
    return rc;
}

static bool no_secret(const amlfs_err *err, const char *secret)
{
    return !secret || !*secret || !strstr(err->msg, secret);
}

static void test_container(blob_client *c)
{
    amlfs_err err = {0};
    CHECK(blob_container_create(c, &err) == 0, "create the container: %s", err.msg);
    CHECK(blob_container_create(c, &err) == -EEXIST && strstr(err.msg, "already exists"), "again: %s", err.msg);
}

static void test_small_and_empty(blob_client *c)
{
    amlfs_err err = {0};
    char *path = make_file("small.bin", 1000, 1);
    CHECK(upload_path(c, "small.bin", path, &err) == 0, "upload 1000 bytes: %s", err.msg);
    unsigned char data[1000];
    fill(data, sizeof data, 1);
    char md5[32];
    md5_base64(data, sizeof data, md5);
    blob_entry e;
    int64_t now = util_now_ms();
    CHECK(blob_head(c, "small.bin", &e, &err) == 0, "head: %s", err.msg);
    CHECK(e.size == 1000 && e.etag && e.etag[0], "size %llu, etag %s", (unsigned long long)e.size, e.etag);
    CHECK(e.content_md5 && strcmp(e.content_md5, md5) == 0, "Content-MD5 %s, expected %s", e.content_md5, md5);
    CHECK(e.last_modified_ms > now - 120000 && e.last_modified_ms < now + 120000, "last modified %lld",
          (long long)e.last_modified_ms);
    blob_entry_free(&e);
    free(path);

    /* Replaced by a smaller one. */
    path = make_file("small2.bin", 10, 2);
    CHECK(upload_path(c, "small.bin", path, &err) == 0, "replace: %s", err.msg);
    CHECK(blob_head(c, "small.bin", &e, &err) == 0 && e.size == 10, "replaced: %llu", (unsigned long long)e.size);
    blob_entry_free(&e);
    free(path);

    path = make_file("empty", 0, 3);
    CHECK(upload_path(c, "empty", path, &err) == 0, "upload an empty file: %s", err.msg);
    CHECK(blob_head(c, "empty", &e, &err) == 0 && e.size == 0, "empty head: %s", err.msg);
    blob_entry_free(&e);
    char buf[10];
    size_t got = 99;
    CHECK(blob_read(c, "empty", 0, sizeof buf, buf, &got, &err) == 0 && got == 0, "read of an empty blob: %zu %s",
          got, err.msg);
    char *back = util_strdupf("%s/empty.back", workdir);
    CHECK(download_path(c, "empty", back, &err) == 0, "download an empty blob: %s", err.msg);
    struct stat st;
    CHECK(stat(back, &st) == 0 && st.st_size == 0, "empty download");
    free(back);

    /* A size the file does not have: refused before anything is sent. */
    int fd = open(path, O_RDONLY);
    CHECK(blob_upload(c, "short", fd, 5, &err) == -EIO && strstr(err.msg, "ended before"), "short file: %s",
          err.msg);
    close(fd);
    CHECK(blob_head(c, "short", &e, &err) == -ENOENT, "nothing of it was created");
    free(path);
}

static void test_big(blob_client *c)
{
    const size_t size = (size_t)20 << 20;
    amlfs_err err = {0};
    char *path = make_file("big.bin", size, 4);
    int64_t t0 = util_mono_ms();
    CHECK(upload_path(c, "big/20mib.bin", path, &err) == 0, "upload 20 MiB in blocks: %s", err.msg);
    int64_t t1 = util_mono_ms();
    printf("info: upload of 20 MiB (3 blocks of 8 MiB) took %lld ms\n", (long long)(t1 - t0));
    blob_entry e;
    CHECK(blob_head(c, "big/20mib.bin", &e, &err) == 0 && e.size == size, "head of the big one: %s", err.msg);
    unsigned char *data = malloc(size);
    fill(data, size, 4);
    char md5[32];
    md5_base64(data, size, md5);
    CHECK(e.content_md5 && strcmp(e.content_md5, md5) == 0, "the whole file's MD5 recorded by the block list: %s",
          e.content_md5 ? e.content_md5 : "(none)");
    blob_entry_free(&e);

    char *back = util_strdupf("%s/big.back", workdir);
    t0 = util_mono_ms();
    CHECK(download_path(c, "big/20mib.bin", back, &err) == 0, "download: %s", err.msg);
    t1 = util_mono_ms();
    printf("info: download of 20 MiB took %lld ms\n", (long long)(t1 - t0));
    char h1[65], h2[65];
    sha256_file(path, h1);
    sha256_file(back, h2);
    CHECK(strcmp(h1, h2) == 0, "sha256 of the download %s, of the file %s", h2, h1);

    /* Ranged reads: the first bytes, the middle, the last byte, across the end, at and past the end. */
    static const struct {
        uint64_t off;
        size_t len, expect;
    } reads[] = {
        {0, 16, 16}, {(10u << 20) - 7, 100, 100}, {(20u << 20) - 1, 1, 1}, {(20u << 20) - 10, 100, 10},
        {20u << 20, 10, 0}, {(20u << 20) + 1000, 10, 0}, {3u << 20, 1 << 20, 1 << 20},
    };
    char *buf = malloc(1 << 20);
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        size_t got = 12345;
        int rc = blob_read(c, "big/20mib.bin", reads[i].off, reads[i].len, buf, &got, &err);
        CHECK(rc == 0 && got == reads[i].expect, "read %zu at %llu: rc %d got %zu (%s)", reads[i].len,
              (unsigned long long)reads[i].off, rc, got, err.msg);
        CHECK(got == 0 || memcmp(buf, data + reads[i].off, got) == 0, "read %zu at %llu: the right bytes",
              reads[i].len, (unsigned long long)reads[i].off);
    }
    free(buf);
    free(data);
    free(back);
    free(path);
}

static bool has_name(const blob_listing *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->blobs[i].name, name) == 0)
            return true;
    return false;
}

static void test_folders(blob_client *c)
{
    amlfs_err err = {0};
    static const char *const names[] = {"tree/a.txt", "tree/b.txt", "tree/sub/c.txt", "tree/sub/deeper/d.txt",
                                        "tree-other.txt", "odd names/a b+c%d \xc3\xbc&=?#.txt"};
    char *path = make_file("leaf", 7, 5);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(upload_path(c, names[i], path, &err) == 0, "upload %s: %s", names[i], err.msg);
    free(path);

    blob_listing l = {0};
    CHECK(blob_list(c, "tree/", "/", &l, &err) == 0, "list tree/ with /: %s", err.msg);
    CHECK(l.count == 2 && has_name(&l, "tree/a.txt") && has_name(&l, "tree/b.txt"), "its blobs: %zu", l.count);
    CHECK(l.prefix_count == 1 && strcmp(l.prefixes[0], "tree/sub/") == 0, "its folder: %zu %s", l.prefix_count,
          l.prefix_count ? l.prefixes[0] : "");
    CHECK(l.count == 0 || (l.blobs[0].size == 7 && l.blobs[0].etag && l.blobs[0].content_md5 &&
                           l.blobs[0].last_modified_ms > 0), "an entry's properties");
    blob_listing_free(&l);
    CHECK(blob_list(c, "tree/", NULL, &l, &err) == 0 && l.count == 4 && l.prefix_count == 0,
          "without a delimiter, every blob below: %zu", l.count);
    blob_listing_free(&l);
    CHECK(blob_list(c, "tree", "/", &l, &err) == 0 && l.count == 1 && has_name(&l, "tree-other.txt") &&
          l.prefix_count == 1 && strcmp(l.prefixes[0], "tree/") == 0, "prefix tree with /: %zu %zu", l.count,
          l.prefix_count);
    blob_listing_free(&l);
    CHECK(blob_list(c, "nothing-here/", "/", &l, &err) == 0 && l.count == 0 && l.prefix_count == 0,
          "an empty listing: %s", err.msg);
    blob_listing_free(&l);

    /* A name with spaces, '+', '%', '&', '=', '?', '#' and UTF-8: encoded in the URL, signed as sent. */
    CHECK(blob_list(c, "odd names/", NULL, &l, &err) == 0 && l.count == 1 && has_name(&l, names[5]),
          "the odd name listed as it is: %s", l.count ? l.blobs[0].name : err.msg);
    blob_listing_free(&l);
    blob_entry e;
    CHECK(blob_head(c, "tree", &e, &err) == -ENOENT && blob_head(c, "tree/", &e, &err) == -ENOENT,
          "a virtual folder is no blob: %s", err.msg);
    CHECK(blob_head(c, names[5], &e, &err) == 0 && e.size == 7, "head of the odd name: %s", err.msg);
    blob_entry_free(&e);
    char buf[7];
    size_t got = 0;
    CHECK(blob_read(c, names[5], 3, 4, buf, &got, &err) == 0 && got == 4, "read of the odd name: %s", err.msg);
}

static void test_missing(blob_client *c)
{
    amlfs_err err = {0};
    blob_entry e;
    CHECK(blob_head(c, "no/such/blob", &e, &err) == -ENOENT && strstr(err.msg, "blob 'no/such/blob'") &&
          strstr(err.msg, container), "head of a missing blob: %s", err.msg);
    printf("info: %s\n", err.msg);
    char buf[4];
    size_t got;
    CHECK(blob_read(c, "no/such/blob", 0, 4, buf, &got, &err) == -ENOENT && strstr(err.msg, "does not exist"),
          "read of a missing blob: %s", err.msg);
    char *back = util_strdupf("%s/missing.back", workdir);
    CHECK(download_path(c, "no/such/blob", back, &err) == -ENOENT, "download of a missing blob: %s", err.msg);
    struct stat st;
    CHECK(stat(back, &st) == 0 && st.st_size == 0, "the error body was not written into the file");
    free(back);

    blob_config cfg = config();
    cfg.container = "no-such-container";
    blob_client *other = blob_client_new(&cfg, &err);
    blob_listing l = {0};
    CHECK(other && blob_list(other, NULL, NULL, &l, &err) == -ENOENT &&
          strstr(err.msg, "container 'no-such-container' does not exist in storage account") &&
          strstr(err.msg, account), "a missing container: %s", err.msg);
    printf("info: %s\n", err.msg);
    CHECK(other && blob_head(other, "x", &e, &err) == -ENOENT, "head in a missing container: %s", err.msg);
    blob_client_free(other);

    /* A download into a file that cannot be written: the local errno. */
    int fd = open("/dev/null", O_RDONLY);
    CHECK(blob_download(c, "small.bin", fd, &err) == -EBADF && strstr(err.msg, "local file"),
          "a read-only fd: %s", err.msg);
    close(fd);
}

static void test_wrong_key(void)
{
    amlfs_err err = {0};
    blob_config cfg = config();
    static const char wrong[] = "d3Jvbmcga2V5IGZvciB0aGUgZGV2ZWxvcG1lbnQgYWNjb3VudA==";
    cfg.account_key = wrong;
    blob_client *c = blob_client_new(&cfg, &err);
    blob_listing l = {0};
    CHECK(c && blob_list(c, NULL, NULL, &l, &err) == -EACCES, "a wrong key is refused: %s", err.msg);
    CHECK(strstr(err.msg, "storage account") && strstr(err.msg, account) && strstr(err.msg, "refused the account key"),
          "naming the account: %s", err.msg);
    printf("info: %s\n", err.msg);
    CHECK(no_secret(&err, wrong) && no_secret(&err, key), "quoting no key: %s", err.msg);
    char buf[4];
    size_t got;
    CHECK(c && blob_read(c, "small.bin", 0, 4, buf, &got, &err) == -EACCES && no_secret(&err, wrong),
          "a read with a wrong key: %s", err.msg);
    blob_client_free(c);
}

static void test_dead_port(void)
{
    /* A port bound a moment ago and closed: nothing listens there. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &alen);
    close(s);
    char *dead = util_strdupf("http://127.0.0.1:%d/%s", ntohs(a.sin_port), account);
    blob_config cfg = config();
    cfg.endpoint = dead;
    amlfs_err err = {0};
    blob_client *c = blob_client_new(&cfg, &err);
    blob_listing l = {0};
    int64_t t0 = util_mono_ms();
    CHECK(c && blob_list(c, NULL, NULL, &l, &err) == -EHOSTUNREACH, "a dead port: %s", err.msg);
    char *expect = util_strdupf("blob endpoint %s does not answer: ", dead);
    CHECK(strncmp(err.msg, expect, strlen(expect)) == 0, "says so: %s", err.msg);
    printf("info: %s\n", err.msg);
    CHECK(util_mono_ms() - t0 < 5000, "at once");
    free(expect);
    blob_client_free(c);
    free(dead);
}

static void test_sas(blob_client *c)
{
    amlfs_err err = {0};
    char *read_sas = NULL, *write_sas = NULL, *old_sas = NULL;
    CHECK(blob_container_sas(c, "rl", util_now_ms() + 3600000, &read_sas, &err) == 0, "a read SAS: %s", err.msg);
    CHECK(blob_container_sas(c, "racwl", util_now_ms() + 3600000, &write_sas, &err) == 0, "a write SAS");
    CHECK(blob_container_sas(c, "rl", util_now_ms() - 3600000, &old_sas, &err) == 0, "an expired SAS");
    if (!read_sas || !write_sas || !old_sas)
        return;
    blob_config cfg = config();
    cfg.account_key = NULL;
    cfg.sas_token = read_sas;
    blob_client *r = blob_client_new(&cfg, &err);
    CHECK(r, "a client with a SAS: %s", err.msg);
    blob_listing l = {0};
    CHECK(r && blob_list(r, "tree/", "/", &l, &err) == 0 && l.count == 2, "list with the SAS: %s", err.msg);
    blob_listing_free(&l);
    char buf[16];
    size_t got = 0;
    CHECK(r && blob_read(r, "big/20mib.bin", 0, 16, buf, &got, &err) == 0 && got == 16, "read with the SAS: %s",
          err.msg);
    blob_entry e;
    CHECK(r && blob_head(r, "small.bin", &e, &err) == 0 && e.size == 10, "head with the SAS: %s", err.msg);
    blob_entry_free(&e);
    char *path = make_file("sas.bin", 100, 6);
    CHECK(r && upload_path(r, "sas.bin", path, &err) == -EACCES && strstr(err.msg, "refused the SAS token") &&
          strstr(err.msg, account), "a read SAS cannot write: %s", err.msg);
    printf("info: %s\n", err.msg);
    CHECK(no_secret(&err, strstr(read_sas, "sig=") + 4), "the SAS is not quoted: %s", err.msg);
    char *mine = NULL;
    CHECK(r && blob_container_sas(r, "r", util_now_ms(), &mine, &err) == -EINVAL, "no SAS made from a SAS");
    blob_client_free(r);

    cfg.sas_token = write_sas;
    blob_client *w = blob_client_new(&cfg, &err);
    CHECK(w && upload_path(w, "sas.bin", path, &err) == 0, "a write SAS uploads: %s", err.msg);
    CHECK(w && blob_head(w, "sas.bin", &e, &err) == 0 && e.size == 100, "and sees it: %s", err.msg);
    blob_entry_free(&e);
    blob_client_free(w);
    free(path);

    cfg.sas_token = old_sas;
    blob_client *o = blob_client_new(&cfg, &err);
    CHECK(o && blob_list(o, NULL, NULL, &l, &err) == -EACCES && strstr(err.msg, "expiry (se=)"),
          "an expired SAS is refused: %s", err.msg);
    printf("info: %s\n", err.msg);
    CHECK(no_secret(&err, strstr(old_sas, "sig=") + 4), "quoting no signature");
    blob_client_free(o);
    blob_secret_free(read_sas);
    blob_secret_free(write_sas);
    blob_secret_free(old_sas);
}

/* --- many blobs, uploaded by threads sharing one client --- */

#define MANY 2500
#define THREADS 8

typedef struct {
    blob_client *c;
    const char *path;
    int first, failures;
    char why[1200];
} uploader;

static void *upload_some(void *arg)
{
    uploader *u = arg;
    for (int i = u->first; i < MANY; i += THREADS) {
        char name[64];
        snprintf(name, sizeof name, "many/%05d", i);
        amlfs_err err = {0};
        if (upload_path(u->c, name, u->path, &err) < 0 && u->failures++ == 0)
            snprintf(u->why, sizeof u->why, "%s: %s", name, err.msg);
    }
    return NULL;
}

static void test_many(blob_client *c)
{
    char *path = make_file("tiny", 3, 7);
    uploader u[THREADS];
    pthread_t t[THREADS];
    int64_t t0 = util_mono_ms();
    for (int i = 0; i < THREADS; i++) {
        u[i] = (uploader){.c = c, .path = path, .first = i};
        pthread_create(&t[i], NULL, upload_some, &u[i]);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += u[i].failures;
        CHECK(u[i].failures == 0, "thread %d: %d failures, first %s", i, u[i].failures, u[i].why);
    }
    printf("info: %d small uploads by %d threads took %lld ms\n", MANY, THREADS, (long long)(util_mono_ms() - t0));
    free(path);
    if (failures)
        return;

    blob_config cfg = config();
    cfg.list_page_size = 100;
    amlfs_err err = {0};
    blob_client *paged = blob_client_new(&cfg, &err);
    blob_listing l = {0};
    t0 = util_mono_ms();
    int rc = paged ? blob_list(paged, "many/", NULL, &l, &err) : -EINVAL;
    CHECK(rc == 0, "list 2500 in pages of 100: %s", err.msg);
    printf("info: listing %d blobs in pages of 100 took %lld ms\n", MANY, (long long)(util_mono_ms() - t0));
    CHECK(l.count == MANY, "all of them: %zu", l.count);
    bool in_order = rc == 0;
    for (size_t i = 0; in_order && i < l.count; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/%05zu", i);
        in_order = strcmp(l.blobs[i].name, name) == 0 && l.blobs[i].size == 3;
    }
    CHECK(in_order, "each once, in order");
    blob_listing_free(&l);
    blob_client_free(paged);

    cfg.list_limit = 1000;
    blob_client *bounded = blob_client_new(&cfg, &err);
    CHECK(bounded && blob_list(bounded, "many/", NULL, &l, &err) == -EFBIG &&
          strstr(err.msg, "more than 1000 entries") && strstr(err.msg, "under 'many/'"), "the bound: %s", err.msg);
    printf("info: %s\n", err.msg);
    blob_client_free(bounded);

    /* With a delimiter, the 2500 are one folder. */
    CHECK(blob_list(c, "", "/", &l, &err) == 0, "the top: %s", err.msg);
    bool found = false;
    for (size_t i = 0; i < l.prefix_count; i++)
        found |= strcmp(l.prefixes[i], "many/") == 0;
    CHECK(found, "many/ is a folder at the top");
    blob_listing_free(&l);
}

int main(int argc, char **argv)
{
    url = getenv("AZURITE_BLOB_URL");
    account = getenv("AZURITE_ACCOUNT");
    key = getenv("AZURITE_KEY");
    if (argc != 2 || !url || !account || !key) {
        fprintf(stderr, "usage: AZURITE_BLOB_URL=... AZURITE_ACCOUNT=... AZURITE_KEY=... check_blob WORKDIR\n");
        printf("0 passed, 1 failed\n");
        return 2;
    }
    workdir = argv[1];
    blob_config cfg = config();
    amlfs_err err = {0};
    blob_client *c = blob_client_new(&cfg, &err);
    CHECK(c, "a client: %s", err.msg);
    if (c) {
        test_container(c);
        test_small_and_empty(c);
        test_big(c);
        test_folders(c);
        test_missing(c);
        test_wrong_key();
        test_dead_port();
        test_sas(c);
        test_many(c);
        blob_client_free(c);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
