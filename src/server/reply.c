/* reply.c: building libmicrohttpd responses (JSON bodies, raw bytes, a file's bytes read as they are
 * sent, errors in the docs/api.md shape, log ranges) and reading query arguments and JSON request bodies. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

/* A log request without `length` gets at most this much; clients page with offset. */
#define LOG_CHUNK_MAX (1024 * 1024)

static void set_response(http_reply *out, unsigned status, struct MHD_Response *resp, const char *ctype)
{
    if (!resp) {
        log_error("out of memory building a response");
        abort();
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (out->response)
        MHD_destroy_response(out->response);
    out->status = status;
    out->response = resp;
}

void reply_json(http_reply *out, unsigned status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text) {
        log_error("out of memory encoding JSON");
        abort();
    }
    set_response(out, status, MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE),
                 "application/json");
}

void reply_bytes(http_reply *out, unsigned status, const void *data, size_t len, const char *content_type)
{
    set_response(out, status, MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY),
                 content_type ? content_type : "application/octet-stream");
}

/* A file answer reads this much at a time, and holds no more. */
#define FILE_BLOCK (256 * 1024)

typedef struct fd_body {
    int fd;
    uint64_t offset, len;
} fd_body;

static ssize_t read_block(void *cls, uint64_t pos, char *buf, size_t max)
{
    fd_body *b = cls;
    if (pos >= b->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > b->len - pos)
        max = (size_t)(b->len - pos);
    ssize_t k;
    do
        k = pread(b->fd, buf, max, (off_t)(b->offset + pos));
    while (k < 0 && errno == EINTR);
    /* The file got shorter than when it was opened (a job rewrote it): the length told in the headers
     * cannot be kept, so the connection is cut and the client asks again (GETs are retried). Not
     * libmicrohttpd's own fd answers: they sendfile() and spin on a file that shrank. */
    if (k <= 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return k;
}

static void free_body(void *cls)
{
    fd_body *b = cls;
    close(b->fd);
    free(b);
}

int reply_fd(http_reply *out, unsigned status, int fd, uint64_t offset, uint64_t len, const char *content_type,
             amlfs_err *err)
{
    if (len == 0) {
        close(fd);
        reply_bytes(out, status, "", 0, content_type);
        return 0;
    }
    fd_body *b = util_xcalloc(1, sizeof *b);
    *b = (fd_body){.fd = fd, .offset = offset, .len = len};
    struct MHD_Response *resp = MHD_create_response_from_callback(len, len < FILE_BLOCK ? (size_t)len : FILE_BLOCK,
                                                                  read_block, b, free_body);
    if (!resp) {
        free_body(b);
        return amlfs_fail(err, ENOMEM, "out of memory answering with %" PRIu64 " bytes of a file", len);
    }
    set_response(out, status, resp, content_type ? content_type : "application/octet-stream");
    return 0;
}

typedef struct stream_body {
    reply_more_fn more;
    void *state;
    void (*free_state)(void *);
    util_buf pending;           /* made, not yet sent */
    size_t sent;                /* of pending */
    bool ended;
} stream_body;

static ssize_t stream_block(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_body *b = cls;
    while (b->sent == b->pending.len && !b->ended) {
        b->pending.len = b->sent = 0;
        int rc = b->more(b->state, &b->pending);
        if (rc < 0) {
            log_warning("an answer made as it is sent stopped: %s", strerror(-rc));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        b->ended = rc == 1;
    }
    size_t n = b->pending.len - b->sent;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > max)
        n = max;
    memcpy(buf, b->pending.data + b->sent, n);
    b->sent += n;
    return (ssize_t)n;
}

static void free_stream(void *cls)
{
    stream_body *b = cls;
    if (b->free_state)
        b->free_state(b->state);
    util_buf_free(&b->pending);
    free(b);
}

int reply_stream(http_reply *out, unsigned status, const char *content_type, reply_more_fn more, void *state,
                 void (*free_state)(void *), amlfs_err *err)
{
    stream_body *b = util_xcalloc(1, sizeof *b);
    *b = (stream_body){.more = more, .state = state, .free_state = free_state};
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FILE_BLOCK, stream_block, b,
                                                                  free_stream);
    if (!resp) {
        free_stream(b);
        return amlfs_fail(err, ENOMEM, "out of memory starting an answer");
    }
    set_response(out, status, resp, content_type ? content_type : "application/octet-stream");
    return 0;
}

void reply_empty(http_reply *out, unsigned status)
{
    set_response(out, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT),
                 "application/json");
}

void reply_error(http_reply *out, unsigned status, const amlfs_err *err)
{
    int num = err && err->code > 0 ? err->code : EIO;
    reply_json(out, status ? status : (unsigned)api_http_status_for(num), api_error_json(err));
}

const char *http_query(const http_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int http_query_i64(const http_request *req, const char *key, int64_t dflt, int64_t *out, amlfs_err *err)
{
    const char *v = http_query(req, key);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0 || v[0] == '-' || v[0] == '+')
        return amlfs_fail(err, EINVAL, "query argument %s=%s: expected a whole number, 0 or more", key, v);
    *out = n;
    return 0;
}

/* cJSON ends its C strings at a NUL, so "ab\u0000/../x" would arrive as "ab": such a body is refused. */
size_t http_json_nul_at(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '\0' || (body[i] == '\\' && i + 5 < len && body[i + 1] == 'u' && strncmp(body + i + 2, "0000", 4) == 0))
            return i;
        if (body[i] == '\\')
            i++; /* an escaped character, e.g. the second backslash of "\\u0000" */
    }
    return SIZE_MAX;
}

int http_body_json(const http_request *req, cJSON **out, amlfs_err *err)
{
    if (!req->body || req->body_len == 0)
        return amlfs_fail(err, EINVAL, "%s %s needs a JSON object as its body", req->method, req->url);
    size_t at = http_json_nul_at(req->body, req->body_len);
    if (at != SIZE_MAX)
        return amlfs_fail(err, EINVAL, "%s %s: the body holds a NUL character (at byte %zu): names and texts "
                          "cannot hold one", req->method, req->url, at);
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return amlfs_fail(err, EINVAL, "%s %s: the body is not a JSON object", req->method, req->url);
    }
    *out = root;
    return 0;
}

size_t http_spec_len(const cJSON *body, const cJSON *yaml)
{
    size_t len = strlen(yaml->valuestring);
    const cJSON *nul_at = cJSON_GetObjectItemCaseSensitive(body, "nul_at");
    /* The string's own terminator stands for the file's NUL byte. */
    return cJSON_IsNumber(nul_at) && nul_at->valuedouble == (double)len ? len + 1 : len;
}

const char *json_str(const cJSON *obj, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : dflt;
}

void json_add_time(cJSON *obj, const char *key, int64_t ms)
{
    if (ms <= 0) {
        cJSON_AddNullToObject(obj, key);
        return;
    }
    char buf[40];
    util_iso8601(ms, buf, sizeof buf);
    cJSON_AddStringToObject(obj, key, buf);
}

int reply_log(http_reply *out, const char *path, const http_request *req, amlfs_err *err)
{
    int64_t offset, length;
    int r = http_query_i64(req, "offset", 0, &offset, err);
    if (r == 0)
        r = http_query_i64(req, "length", LOG_CHUNK_MAX, &length, err);
    if (r < 0)
        return r;
    if (length > LOG_CHUNK_MAX)
        length = LOG_CHUNK_MAX;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int64_t size = 0;
    char *buf = NULL;
    size_t got = 0;
    if (fd < 0 && errno != ENOENT)
        return amlfs_fail(err, EIO, "reading %s: %s", path, strerror(errno));
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            r = amlfs_fail(err, EIO, "reading %s: %s", path, strerror(errno));
            close(fd);
            return r;
        }
        /* Bytes up to the size announced in X-Log-Size, never beyond: the two always agree. */
        size = st.st_size;
        int64_t avail = offset < size ? size - offset : 0;
        size_t want = (size_t)(length < avail ? length : avail);
        buf = malloc(want ? want : 1);
        if (!buf) {
            close(fd);
            return amlfs_fail(err, ENOMEM, "out of memory reading %s", path);
        }
        while (got < want) {
            ssize_t k = pread(fd, buf + got, want - got, (off_t)(offset + (int64_t)got));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            got += (size_t)k;
        }
        close(fd);
    }
    set_response(out, 200, MHD_create_response_from_buffer(got, buf ? buf : (void *)"",
                                                           buf ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT),
                 "application/octet-stream");
    char size_text[32];
    snprintf(size_text, sizeof size_text, "%" PRId64, size);
    MHD_add_response_header(out->response, "X-Log-Size", size_text);
    return 0;
}

int reply_name_list(server *srv, const char *collection, const char *first, char **names, size_t n, int rc,
                    http_reply *out, amlfs_err *err)
{
    char *line = NULL;
    if (rc == 0)
        rc = store_folder_status_get(srv->store, collection, &line, err);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, collection);
    for (size_t i = 0; i < n + (first ? 1 : 0); i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", first && i == 0 ? first : names[i - (first ? 1 : 0)]);
        cJSON_AddItemToArray(arr, item);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    cJSON_AddStringToObject(o, "status_line", line ? line : "");
    free(line);
    if (rc < 0) {
        cJSON_Delete(o);
        return rc;
    }
    reply_json(out, 200, o);
    return 0;
}
