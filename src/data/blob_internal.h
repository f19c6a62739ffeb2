/* blob_internal.h: what the files of the blob client share: the client, one signed request, the Shared
 * Key string-to-sign, the XML parsers and error mapping. Not for other layers (they use amlfs/blob.h). */
#ifndef AMLFS_BLOB_INTERNAL_H
#define AMLFS_BLOB_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "amlfs/blob.h"
#include "amlfs/util.h"

struct blob_client {
    char *endpoint;             /* scheme://host[:port][/path], no trailing slash; for URLs and messages */
    char *endpoint_path;        /* its path ("" or "/devstoreaccount1"), percent-encoded as sent */
    char *account, *container;
    unsigned char *key;         /* the decoded account key, or NULL */
    size_t key_len;
    char *sas;                  /* the SAS query string, or NULL */
    unsigned page_size;
    size_t list_limit, block_size;

    /* curl easy handles are not thread-safe: each request borrows one (keeping its connections). */
    pthread_mutex_t pool_mu;
    CURL **pool;
    size_t pool_len;
};

/* One name=value of a request's query or headers; query values are raw (percent-encoded when sent). */
typedef struct blob_kv {
    const char *name, *value;
} blob_kv;

#define BLOB_MAX_KV 8

/* What a Shared Key signature covers. */
typedef struct blob_sign_input {
    const char *method;
    const char *account;
    const char *path;           /* the URI path as sent (percent-encoded), starting with '/' */
    const blob_kv *query;
    size_t nquery;
    const blob_kv *headers;     /* every header the request sends but Content-Length and Authorization */
    size_t nheaders;
    uint64_t content_length;    /* of the request body */
} blob_sign_input;

/* The string to sign of "Authorize with Shared Key" (version 2015-02-21 and later). malloc'd. */
char *blob_string_to_sign(const blob_sign_input *in);
/* base64(HMAC-SHA256(key, text)) into out (>= 45 bytes). */
void blob_hmac_base64(const unsigned char *key, size_t key_len, const char *text, char out[45]);
/* Strict base64 decoding (length a multiple of 4, padding only at the end): malloc'd bytes, or NULL. */
unsigned char *blob_base64_decode(const char *text, size_t *len);
/* base64 of bytes into a malloc'd string. */
char *blob_base64(const unsigned char *bytes, size_t len);
/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 1123, English whatever the locale) into buf (>= 30 bytes). */
void blob_http_date(int64_t ms, char *buf, size_t len);

/* The service's error body: <Error><Code/><Message/></Error>. 0 when it is one (code and the first line of
 * the message copied, each possibly empty), -1 otherwise. */
int blob_xml_error(const char *xml, size_t len, char *code, size_t code_len, char *msg, size_t msg_len);
/* One List Blobs page appended to out (at most `limit` entries in all: -EFBIG beyond), *next_marker
 * malloc'd or NULL on the last page. -EIO when the page is not a listing. */
int blob_xml_listing(const char *xml, size_t len, blob_listing *out, size_t limit, char **next_marker,
                     amlfs_err *err);
/* <BlockList><Latest>id</Latest>...</BlockList> for Put Block List. malloc'd, *len set. */
char *blob_xml_block_list(char *const *ids, size_t n, size_t *len);

/* Where a request's answer body goes (errors always go to `error_body`). */
typedef enum { BLOB_SINK_BUF, BLOB_SINK_MEM, BLOB_SINK_FD } blob_sink;

typedef struct blob_req {
    const char *method;         /* GET HEAD PUT */
    const char *name;           /* the blob, or NULL for the container */
    const char *what;           /* for messages: "listing", "reading", ... */
    blob_kv query[BLOB_MAX_KV];
    size_t nquery;
    blob_kv headers[BLOB_MAX_KV];
    size_t nheaders;
    long accept;                /* a non-2xx status the caller handles itself (416, 409), or 0 */
    bool transfer;              /* a long transfer: a low-speed limit instead of a total timeout */

    /* The request body: body_len bytes from memory, or from body_fd at body_off (pread). */
    const char *body;
    int body_fd;
    uint64_t body_off, body_len, body_sent;
    int local_errno;            /* a local read or write failure that ended the transfer */
    bool shrank;                /* the file ended before body_len bytes */

    /* The answer body on success. */
    blob_sink sink;
    util_buf *buf;              /* BLOB_SINK_BUF, bounded by buf_limit */
    size_t buf_limit;
    char *mem;                  /* BLOB_SINK_MEM: at most mem_cap bytes */
    size_t mem_cap, mem_len;
    bool mem_overflow;
    int fd;                     /* BLOB_SINK_FD, with md5 updated on the way */
    EVP_MD_CTX *md5;
    uint64_t written;

    /* The answer. */
    long status;
    util_buf error_body;
    char error_code[128];       /* x-ms-error-code, or the error body's Code */
    char error_message[512];    /* the first line of the error body's Message */
    char content_md5[64], etag[256];
    int64_t last_modified_ms;
    bool has_length;
    uint64_t content_length;
} blob_req;

void blob_req_init(blob_req *r, const char *method, const char *name, const char *what);
void blob_req_free(blob_req *r);
void blob_req_query(blob_req *r, const char *name, const char *value);
void blob_req_header(blob_req *r, const char *name, const char *value);

/* Sends r, signed; 0 for a 2xx (or r->accept) answer, otherwise the errno and message of the failure. */
int blob_perform(blob_client *c, blob_req *r, amlfs_err *err);

/* A non-2xx answer as errno + message (blob_errors.c). */
int blob_status_error(const blob_client *c, const blob_req *r, amlfs_err *err);
/* A transfer curl could not complete. */
int blob_transport_error(const blob_client *c, const blob_req *r, CURLcode cc, const char *curl_text,
                         amlfs_err *err);

/* A blob name the service accepts: 1 to 1024 bytes. */
int blob_check_name(const char *name, amlfs_err *err);

#endif
