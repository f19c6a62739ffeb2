/* request.c: one HTTP exchange with amlfs-server over libcurl, and the GET/PUT/POST/DELETE calls
 * built on it. Errors become the server's errno + message, or EIO when the server cannot be reached. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "amlfs/api.h"
#include "amlfs/util.h"

/* A runaway answer must not eat the daemon's memory. */
#define ANSWER_LIMIT ((size_t)512 << 20)
#define REQUEST_TIMEOUT_S 300L

void http_answer_free(http_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->len = a->cap = 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    http_answer *a = userp;
    size_t n = size * nmemb;
    if (a->len + n + 1 > ANSWER_LIMIT)
        return 0; /* makes curl fail the transfer */
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *grown = realloc(a->body, cap);
        if (!grown)
            return 0;
        a->body = grown;
        a->cap = cap;
    }
    memcpy(a->body + a->len, data, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    http_answer *a = userp;
    size_t n = size * nmemb;
    static const char name[] = "X-Log-Size:";
    if (n > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        char value[32];
        size_t vlen = n - (sizeof name - 1);
        if (vlen >= sizeof value)
            vlen = sizeof value - 1;
        memcpy(value, line + sizeof name - 1, vlen);
        value[vlen] = '\0';
        a->log_size = strtoll(value, NULL, 10);
    }
    return n;
}

typedef struct fd_reader {
    int fd;
    off_t pos, size;
} fd_reader;

static size_t on_read_fd(char *buf, size_t size, size_t nmemb, void *userp)
{
    fd_reader *r = userp;
    size_t want = size * nmemb;
    if ((off_t)want > r->size - r->pos)
        want = (size_t)(r->size - r->pos);
    if (want == 0)
        return 0;
    ssize_t got = pread(r->fd, buf, want, r->pos);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    if (got == 0) /* the file shrank under us: stop; the size check below reports it */
        return CURL_READFUNC_ABORT;
    r->pos += got;
    return (size_t)got;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    atomic_bool *abort_flag = userp;
    return atomic_load(abort_flag) ? 1 : 0;
}

int http_exchange(amlfs_client *c, CURL *h, const char *method, const char *url_path,
                  const http_body *body, long timeout_s, atomic_bool *abort_flag, http_answer *answer,
                  amlfs_err *err)
{
    memset(answer, 0, sizeof *answer);
    answer->log_size = -1;
    char *url = util_strdupf("%s%s", c->base_url, url_path);
    char curl_msg[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    fd_reader reader = {.fd = -1};

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->socket_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* many threads: no SIGALRM-based timeouts */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : REQUEST_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, answer);
    if (abort_flag) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, abort_flag);
    }
    if (c->tls_ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->tls_ca);
    if (c->auth_header)
        headers = curl_slist_append(headers, c->auth_header);
    /* No "Expect: 100-continue" round trip before uploads. */
    headers = curl_slist_append(headers, "Expect:");

    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (body && body->fd >= 0) {
        reader.fd = body->fd;
        reader.size = body->size;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_fd);
        curl_easy_setopt(h, CURLOPT_READDATA, &reader);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->size);
        if (strcmp(method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (!body && strcmp(method, "POST") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method); /* DELETE: no body at all */
    } else {
        /* POSTFIELDS with an explicit size sends exactly these bytes (maybe none) for any method. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body->len : 0));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body && body->data ? body->data : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body && body->content_type) {
        char *ct = util_strdupf("Content-Type: %s", body->content_type);
        headers = curl_slist_append(headers, ct);
        free(ct);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    if (cc == CURLE_ABORTED_BY_CALLBACK && abort_flag && atomic_load(abort_flag)) {
        rc = amlfs_fail(err, ECANCELED, "request to %s stopped", url_path);
    } else if (cc == CURLE_READ_ERROR || (reader.fd >= 0 && cc == CURLE_ABORTED_BY_CALLBACK)) {
        rc = amlfs_fail(err, EIO, "reading the local buffer for %s failed", url_path);
    } else if (cc != CURLE_OK) {
        /* curl's own text names "localhost port 80" for a unix socket: the OS error says more. */
        long os_errno = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        const char *why = c->socket_path && os_errno ? strerror((int)os_errno)
                          : curl_msg[0]              ? curl_msg
                                                     : curl_easy_strerror(cc);
        rc = amlfs_fail(err, EIO, "cannot reach amlfs-server at %s: %s%s", c->address, why,
                        cc == CURLE_PEER_FAILED_VERIFICATION
                            ? " (give the CA that signed its certificate with --tls-ca FILE, or the certificate itself)"
                            : "");
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer->status);
        if (answer->status < 200 || answer->status > 299) {
            rc = api_error_from_body(answer->body, answer->status, err);
            if (!answer->body || !strstr(answer->body, "\"message\""))
                amlfs_wrap(err, "%s %s: ", method, url_path);
        }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    free(url);
    if (rc < 0)
        http_answer_free(answer);
    return rc;
}

/* One exchange on a borrowed handle. */
static int exchange(amlfs_client *c, const char *method, const char *url_path, const http_body *body,
                    http_answer *answer, amlfs_err *err)
{
    CURL *h = http_handle_take(c);
    int rc = http_exchange(c, h, method, url_path, body, 0, NULL, answer, err);
    http_handle_give(c, h);
    return rc;
}

static int parse_json(const char *text, const char *url_path, cJSON **out, amlfs_err *err)
{
    *out = cJSON_Parse(text ? text : "");
    if (!*out)
        return amlfs_fail(err, EIO, "amlfs-server answered %s with something that is not JSON", url_path);
    return 0;
}

int client_get_json(amlfs_client *c, const char *url_path, bool use_cache, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    if (use_cache) {
        char *cached = cache_get(c->cache, url_path);
        if (cached) {
            int rc = parse_json(cached, url_path, out, err);
            free(cached);
            return rc;
        }
    }
    uint64_t generation = cache_generation(c->cache);
    http_answer a;
    int rc = exchange(c, "GET", url_path, NULL, &a, err);
    if (rc < 0)
        return rc;
    rc = parse_json(a.body, url_path, out, err);
    if (rc == 0)
        cache_put(c->cache, url_path, a.body, generation);
    http_answer_free(&a);
    return rc;
}

int client_get_bytes(amlfs_client *c, const char *url_path, off_t offset, size_t length, char **data,
                     size_t *len, long long *total, amlfs_err *err)
{
    *data = NULL;
    *len = 0;
    if (total)
        *total = -1;
    char *url;
    const char *sep = strchr(url_path, '?') ? "&" : "?";
    if (length > 0)
        url = util_strdupf("%s%soffset=%lld&length=%zu", url_path, sep, (long long)offset, length);
    else if (offset > 0)
        url = util_strdupf("%s%soffset=%lld", url_path, sep, (long long)offset);
    else
        url = util_xstrdup(url_path);
    http_answer a;
    int rc = exchange(c, "GET", url, NULL, &a, err);
    free(url);
    if (rc < 0)
        return rc;
    if (length > 0 && a.len > length) /* a server that ignores the range: keep what was asked for */
        a.len = length;
    *data = a.body ? a.body : util_xcalloc(1, 1);
    *len = a.len;
    if (total)
        *total = a.log_size;
    return 0;
}

/* After a change, any cached answer may be wrong: drop them all (changes are rare next to reads). */
static int finish_change(amlfs_client *c, int rc, http_answer *a, const char *url_path, cJSON **out,
                         amlfs_err *err)
{
    cache_clear(c->cache);
    if (rc < 0)
        return rc;
    if (out) {
        *out = NULL;
        if (a->len > 0)
            rc = parse_json(a->body, url_path, out, err);
        else
            *out = cJSON_CreateObject();
    }
    http_answer_free(a);
    return rc;
}

int client_put_bytes(amlfs_client *c, const char *url_path, const void *data, size_t len, cJSON **out,
                     amlfs_err *err)
{
    http_body body = {.data = data, .len = len, .fd = -1, .content_type = "application/octet-stream"};
    http_answer a;
    int rc = exchange(c, "PUT", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_put_fd(amlfs_client *c, const char *url_path, int fd, off_t size, cJSON **out, amlfs_err *err)
{
    http_body body = {.fd = fd, .size = size, .content_type = "application/octet-stream"};
    http_answer a;
    int rc = exchange(c, "PUT", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_post_fd(amlfs_client *c, const char *url_path, int fd, off_t size, const char *content_type,
                   cJSON **out, amlfs_err *err)
{
    http_body body = {.fd = fd, .size = size, .content_type = content_type};
    http_answer a;
    int rc = exchange(c, "POST", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_send_json(amlfs_client *c, const char *method, const char *url_path, const cJSON *json,
                     cJSON **out, amlfs_err *err)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    if (json && !text)
        abort(); /* cJSON only fails to print on out-of-memory */
    http_body body = {.data = text, .len = text ? strlen(text) : 0, .fd = -1,
                      .content_type = text ? "application/json" : NULL};
    http_answer a;
    int rc = exchange(c, method, url_path, &body, &a, err);
    free(text);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_delete(amlfs_client *c, const char *url_path, amlfs_err *err)
{
    http_answer a;
    int rc = exchange(c, "DELETE", url_path, NULL, &a, err);
    return finish_change(c, rc, &a, url_path, NULL, err);
}

char *client_escape(const char *s)
{
    char *escaped = curl_easy_escape(NULL, s, 0);
    if (!escaped)
        abort();
    char *copy = util_xstrdup(escaped);
    curl_free(escaped);
    return copy;
}

char *client_escape_path(const char *relpath)
{
    size_t cap = strlen(relpath) * 3 + 1, len = 0;
    char *out = util_xcalloc(1, cap);
    const char *p = relpath;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char *part = curl_easy_escape(NULL, p, (int)n);
        if (!part)
            abort();
        size_t plen = strlen(part);
        memcpy(out + len, part, plen);
        len += plen;
        curl_free(part);
        if (!slash)
            break;
        out[len++] = '/';
        p = slash + 1;
    }
    out[len] = '\0';
    return out;
}

char *client_object_url(const char *kind, const char *name, const char *suffix, const char *rel)
{
    char *escaped = client_escape(name);
    char *path = rel ? client_escape_path(rel) : util_xstrdup("");
    char *url = util_strdupf("/v1/%s/%s%s%s", kind, escaped, suffix ? suffix : "", path);
    free(escaped);
    free(path);
    return url;
}

char *client_run_url(const char *run_id, const char *suffix, const char *rel)
{
    return client_object_url("runs", run_id, suffix, rel);
}
