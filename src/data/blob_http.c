/* blob_http.c: one request to the Blob service with libcurl: its URL, its headers signed with Shared Key
 * (or its SAS), request and answer bodies streamed, the answer's headers read, the handle pool. */
#include "blob_internal.h"
#include "transfer_stop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 10L
/* A request that is not a long transfer (listing page, properties, range read, commit) ends by then. */
#define REQUEST_TIMEOUT_S 120L
/* Any request slower than this for that long has stalled. */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_TIME_S 60L
/* An error body is a few hundred bytes; keep no more of one. */
#define ERROR_BODY_LIMIT ((size_t)64 << 10)
#define POOL_MAX 16

void blob_req_init(blob_req *r, const char *method, const char *name, const char *what)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->name = name;
    r->what = what;
    r->body_fd = -1;
    r->fd = -1;
    r->sink = BLOB_SINK_BUF;
}

void blob_req_free(blob_req *r)
{
    util_buf_free(&r->error_body);
}

/* More than BLOB_MAX_KV is a mistake in this code, not a condition to handle. */
void blob_req_query(blob_req *r, const char *name, const char *value)
{
    if (r->nquery == BLOB_MAX_KV)
        abort();
    r->query[r->nquery++] = (blob_kv){name, value};
}

void blob_req_header(blob_req *r, const char *name, const char *value)
{
    if (r->nheaders == BLOB_MAX_KV)
        abort();
    r->headers[r->nheaders++] = (blob_kv){name, value};
}

static void append(util_buf *b, const char *s)
{
    util_buf_append(b, s, strlen(s), 0);
}

/* Each '/'-separated part of a blob name percent-encoded (RFC 3986 unreserved characters kept). */
static void append_escaped_name(util_buf *b, const char *name)
{
    for (const char *p = name;;) {
        size_t n = strcspn(p, "/");
        if (n > 0) { /* curl_easy_escape takes a length of 0 to mean strlen */
            char *e = curl_easy_escape(NULL, p, (int)n);
            if (!e)
                abort(); /* out of memory, as util_x* */
            append(b, e);
            curl_free(e);
        }
        if (!p[n])
            break;
        append(b, "/");
        p += n + 1;
    }
}

static void append_query(util_buf *b, const blob_req *r, const char *sas)
{
    for (size_t i = 0; i < r->nquery; i++) {
        char *v = curl_easy_escape(NULL, r->query[i].value, 0);
        if (!v)
            abort();
        append(b, i ? "&" : "?");
        append(b, r->query[i].name);
        append(b, "=");
        append(b, v);
        curl_free(v);
    }
    if (sas) {
        append(b, r->nquery ? "&" : "?");
        append(b, sas);
    }
}

/* --- the handle pool --- */

static CURL *borrow(blob_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_len > 0)
        h = c->pool[--c->pool_len];
    pthread_mutex_unlock(&c->pool_mu);
    return h ? h : curl_easy_init();
}

static void give_back(blob_client *c, CURL *h)
{
    /* Options back to defaults (nothing points at this request's buffers, the URL with a SAS is freed);
     * live connections are kept for the next request. */
    curl_easy_reset(h);
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_len < POOL_MAX) {
        if (!c->pool)
            c->pool = util_xcalloc(POOL_MAX, sizeof *c->pool);
        c->pool[c->pool_len++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* --- bodies --- */

typedef struct {
    blob_req *r;
    CURL *curl;
    bool buf_too_big;
} transfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    blob_req *r = t->r;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        util_buf_append(&r->error_body, data, n, ERROR_BODY_LIMIT); /* the start is enough */
        return n;
    }
    switch (r->sink) {
    case BLOB_SINK_BUF:
        if (r->buf && util_buf_append(r->buf, data, n, r->buf_limit) < 0) {
            t->buf_too_big = true;
            return 0;
        }
        return n;
    case BLOB_SINK_MEM:
        if (n > r->mem_cap - r->mem_len) {
            r->mem_overflow = true;
            return 0;
        }
        memcpy(r->mem + r->mem_len, data, n);
        r->mem_len += n;
        return n;
    case BLOB_SINK_FD: {
        int rc = util_write_all(r->fd, data, n);
        if (rc < 0) {
            r->local_errno = -rc;
            return 0;
        }
        if (r->md5)
            EVP_DigestUpdate(r->md5, data, n);
        r->written += n;
        return n;
    }
    }
    return 0;
}

static size_t on_read(char *dst, size_t size, size_t nitems, void *userp)
{
    blob_req *r = userp;
    size_t want = size * nitems;
    uint64_t left = r->body_len - r->body_sent;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (r->body) {
        memcpy(dst, r->body + r->body_sent, want);
    } else {
        ssize_t got;
        do
            got = pread(r->body_fd, dst, want, (off_t)(r->body_off + r->body_sent));
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            r->local_errno = got < 0 ? errno : EIO;
            r->shrank = got == 0;
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    }
    r->body_sent += want;
    return want;
}

/* curl rewinds the body when it sends the request again (a kept-alive connection found closed). */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
    blob_req *r = userp;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_sent = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* --- the answer's headers (read by libcurl, never parsed here) --- */

static const char *answer_header(CURL *h, const char *name)
{
    struct curl_header *hv = NULL;
    if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hv) != CURLHE_OK || !hv || !hv->value)
        return NULL;
    return hv->value;
}

static void read_answer_headers(CURL *h, blob_req *r)
{
    const char *v;
    if ((v = answer_header(h, "x-ms-error-code")))
        snprintf(r->error_code, sizeof r->error_code, "%s", v);
    if ((v = answer_header(h, "Content-MD5")))
        snprintf(r->content_md5, sizeof r->content_md5, "%s", v);
    if ((v = answer_header(h, "ETag")))
        snprintf(r->etag, sizeof r->etag, "%s", v);
    if ((v = answer_header(h, "Last-Modified"))) {
        time_t t = curl_getdate(v, NULL);
        r->last_modified_ms = t == (time_t)-1 ? 0 : (int64_t)t * 1000;
    }
    curl_off_t len = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK && len >= 0) {
        r->has_length = true;
        r->content_length = (uint64_t)len;
    }
}

/* --- one request --- */

int blob_perform(blob_client *c, blob_req *r, amlfs_err *err)
{
    util_buf path = {0}, url = {0};
    append(&path, c->endpoint_path);
    append(&path, "/");
    append(&path, c->container);
    if (r->name) {
        append(&path, "/");
        append_escaped_name(&path, r->name);
    }
    append(&url, c->endpoint);
    append(&url, path.data + strlen(c->endpoint_path));
    append_query(&url, r, c->sas);

    char date[40], date_h[64], version_h[64];
    blob_http_date(util_now_ms(), date, sizeof date);
    snprintf(date_h, sizeof date_h, "x-ms-date: %s", date);
    snprintf(version_h, sizeof version_h, "x-ms-version: %s", BLOB_API_VERSION);
    blob_kv all[BLOB_MAX_KV + 2];
    size_t nall = 0;
    all[nall++] = (blob_kv){"x-ms-date", date};
    all[nall++] = (blob_kv){"x-ms-version", BLOB_API_VERSION};
    for (size_t i = 0; i < r->nheaders; i++)
        all[nall++] = r->headers[i];

    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, date_h);
    headers = curl_slist_append(headers, version_h);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip before each block */
    for (size_t i = 0; i < r->nheaders; i++) {
        char *line = util_strdupf("%s: %s", r->headers[i].name, r->headers[i].value);
        headers = curl_slist_append(headers, line);
        free(line);
    }
    char *auth = NULL;
    if (c->key) {
        bool put = strcmp(r->method, "PUT") == 0;
        blob_sign_input in = {
            .method = r->method, .account = c->account, .path = path.data, .query = r->query,
            .nquery = r->nquery, .headers = all, .nheaders = nall, .content_length = put ? r->body_len : 0,
        };
        char *text = blob_string_to_sign(&in);
        char sig[45];
        blob_hmac_base64(c->key, c->key_len, text, sig);
        auth = util_strdupf("Authorization: SharedKey %s:%s", c->account, sig);
        explicit_bzero(sig, sizeof sig);
        free(text);
        headers = curl_slist_append(headers, auth);
    }

    int rc = 0;
    CURL *h = borrow(c);
    if (!h) {
        rc = amlfs_fail(err, ENOMEM, "cannot start an HTTP request (curl)");
        goto out;
    }
    transfer t = {.r = r, .curl = h};
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* a blob name's "." and ".." parts are names */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "amlfs-blob/1");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    if (!r->transfer)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    data_curl_stoppable(h);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc == CURLE_OK)
        read_answer_headers(h, r);
    give_back(c, h);

    if (cc != CURLE_OK) {
        if (cc == CURLE_ABORTED_BY_CALLBACK)
            rc = amlfs_fail(err, ECANCELED, "%s %s: stopped (the run was canceled)", r->what,
                            r->name ? r->name : c->container);
        else if (t.buf_too_big)
            rc = amlfs_fail(err, EIO, "%s %s: storage account '%s' answered more than %zu MiB", r->what,
                            r->name ? r->name : c->container, c->account, r->buf_limit >> 20);
        else
            rc = blob_transport_error(c, r, cc, curl_error[0] ? curl_error : curl_easy_strerror(cc), err);
        goto out;
    }
    if (r->error_body.len) {
        char code[sizeof r->error_code];
        if (blob_xml_error(r->error_body.data, r->error_body.len, code, sizeof code, r->error_message,
                           sizeof r->error_message) == 0 && code[0])
            memcpy(r->error_code, code, sizeof code);
    }
    if ((r->status < 200 || r->status >= 300) && r->status != r->accept)
        rc = blob_status_error(c, r, err);
out:
    for (struct curl_slist *s = headers; s; s = s->next) /* the copy of the signature */
        explicit_bzero(s->data, strlen(s->data));
    curl_slist_free_all(headers);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (c->sas && url.data)
        explicit_bzero(url.data, url.len);
    util_buf_free(&url);
    util_buf_free(&path);
    return rc;
}
