/* blob.h: a client of the Azure Blob Storage REST API (and of Azurite) for one container: listings, stat,
 * ranged reads, streaming downloads and uploads, with an account key (Shared Key) or a SAS token. */
#ifndef AMLFS_BLOB_H
#define AMLFS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "amlfs/err.h"

/* The REST API version every request asks for (x-ms-version) and SAS tokens made here are signed for. */
#define BLOB_API_VERSION "2021-08-06"
/* Most entries (blobs and virtual folders) one blob_list returns, unless blob_config says otherwise:
 * a hostile or broken server cannot make a listing grow without end. */
#define BLOB_LIST_LIMIT ((size_t)1000000)
/* Put Block size; files up to this size go in one Put Blob. */
#define BLOB_BLOCK_SIZE ((size_t)8 << 20)

typedef struct blob_config {
    /* https://ACCOUNT.blob.core.windows.net, or an emulator's URL with the account as its path
     * (Azurite: http://127.0.0.1:10000/devstoreaccount1). No query string. */
    const char *endpoint;
    const char *account_name;
    const char *container;
    /* One credential: the account key (base64, as the portal's "Access keys" shows it), or a SAS token
     * (the query string of a SAS URL without the '?': "sv=...&sig=..."). */
    const char *account_key;
    const char *sas_token;
    unsigned list_page_size;    /* maxresults of each List Blobs request; 0: the service's (5000) */
    size_t list_limit;          /* most entries of one blob_list; 0: BLOB_LIST_LIMIT */
    size_t block_size;          /* 0: BLOB_BLOCK_SIZE; at least 64 KiB */
} blob_config;

/* One blob as a listing or blob_head describes it. Strings are malloc'd. */
typedef struct blob_entry {
    char *name;                 /* the full name in the container ("dir/file.txt") */
    uint64_t size;
    int64_t last_modified_ms;   /* Unix time in milliseconds */
    char *etag;                 /* as the service gives it, quotes included */
    char *content_md5;          /* base64 MD5 of the content, NULL when the service has none */
} blob_entry;

typedef struct blob_listing {
    blob_entry *blobs;
    size_t count;
    char **prefixes;            /* virtual folders ("dir/sub/") when a delimiter was given */
    size_t prefix_count;
} blob_listing;

/* One client of one container; thread-safe (each request borrows its own curl handle). */
typedef struct blob_client blob_client;

/* Checks the configuration (-EINVAL with one line saying which setting is wrong and how to fix it);
 * asks nothing of the service. Make the first client before starting threads (libcurl's global init). */
blob_client *blob_client_new(const blob_config *cfg, amlfs_err *err);
/* Scrubs the key or SAS from memory. NULL-safe. */
void blob_client_free(blob_client *c);

/* Every function below returns 0 or a negative errno with a message for people:
 *   -EACCES        the service refused the account key or SAS (the account is named, the secret never)
 *   -ENOENT        no such container or blob (named)
 *   -EHOSTUNREACH  the endpoint does not answer ("blob endpoint URL does not answer: ...")
 *   -EIO           any other failure, with the service's error code and message
 * plus a local errno when a local file fails (-ENOSPC writing a download ...). */

/* Create Container; -EEXIST when it exists already. */
int blob_container_create(blob_client *c, amlfs_err *err);

/* Every blob whose name starts with prefix (NULL or "": all), following the service's pages to the end.
 * With a delimiter ("/"), names are cut at the first delimiter after the prefix into virtual folders
 * (out->prefixes). -EFBIG past the client's list_limit entries. out is filled only on success. */
int blob_list(blob_client *c, const char *prefix, const char *delimiter, blob_listing *out, amlfs_err *err);
void blob_listing_free(blob_listing *l);

/* Get Blob Properties: size, time, etag and MD5 of one blob (-ENOENT when absent). */
int blob_head(blob_client *c, const char *name, blob_entry *out, amlfs_err *err);
void blob_entry_free(blob_entry *e);

/* Up to length bytes at offset into buf, one ranged GET; *got < length only at the end of the blob
 * (0 at or past it, as pread). */
int blob_read(blob_client *c, const char *name, uint64_t offset, size_t length, void *buf, size_t *got,
              amlfs_err *err);

/* The whole blob written to fd at its current offset, streamed (bounded memory). Checked against the
 * length the service announced and, when the blob has one, its Content-MD5 (-EIO when they differ). */
int blob_download(blob_client *c, const char *name, int fd, amlfs_err *err);

/* size bytes read from offset 0 of fd (pread: a regular file; its offset is not moved) become the blob
 * `name`, replacing it. Up to block_size in one Put Blob, beyond in blocks (Put Block, Put Block List)
 * each sent with its Content-MD5; the blob records the MD5 of the whole. Streamed: memory is bounded
 * whatever the size. -EIO when the file changes size meanwhile. */
int blob_upload(blob_client *c, const char *name, int fd, uint64_t size, amlfs_err *err);

/* A service SAS for this container (sr=c) signed with the client's account key, for version
 * BLOB_API_VERSION: permissions in the service's letters and order ("racwdl": read, add, create, write,
 * delete, list), valid until expiry_ms (Unix ms). *sas is malloc'd, without '?'; free it with
 * blob_secret_free. -EINVAL when the client has no account key. */
int blob_container_sas(blob_client *c, const char *permissions, int64_t expiry_ms, char **sas, amlfs_err *err);
/* Scrubs and frees a string holding a secret. NULL-safe. */
void blob_secret_free(char *secret);

#endif
