/* request.c: one HTTP exchange with amlfs-server over libcurl, and the GET/PUT/POST/DELETE calls built on
 * it, each waiting as long as its kind may (README "When the server does not answer"). Errors become the
 * server's errno + message, EIO when the server does not answer in time, EINTR when the caller gave up. */
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
#define CONNECT_TIMEOUT_MS 5000L
/* Changes and uploads wait while the server works on them (a data asset fetched, a cluster asked): given
 * up only after this long without a byte either way. */
#define PATIENT_STALL_S 300L
/* Answers the server asks someone else for wait for the server's own bound on that (a Slurm cluster 23 s,
 * a storage service 130 s) and some room, past the metadata deadline. */
#define ELSEWHERE_S 150
/* A request that never left (nothing listens: a restart) is sent again after this pause, doubling, until
 * the metadata deadline. */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 1000
/* While the server is known silent, a change waits this long for the feed's next check of it (events.c
 * checks every 2 s) before it fails unsent. */
#define SILENT_RECHECK_MS 2500

void http_answer_free(http_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->len = a->cap = 0;
}

/* Of an answer going to a file, the first bytes kept in memory too: an error's JSON message. */
#define SINK_HEAD 4096

static bool keep_body(http_answer *a, const char *data, size_t n)
{
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *grown = realloc(a->body, cap);
        if (!grown)
            return false;
        a->body = grown;
        a->cap = cap;
    }
    memcpy(a->body + a->len, data, n);
    a->len += n;
    a->body[a->len] = '\0';
    return true;
}

/* Returning less than n makes curl fail the transfer (CURLE_WRITE_ERROR). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    http_answer *a = userp;
    size_t n = size * nmemb;
    if (a->to_sink) {
        int rc = util_write_all(a->sink_fd, data, n);
        if (rc < 0) {
            a->sink_errno = -rc;
            return 0;
        }
        a->sunk += n;
        size_t head = a->len < SINK_HEAD ? SINK_HEAD - a->len : 0;
        return keep_body(a, data, n < head ? n : head) ? n : 0;
    }
    if (a->len + n + 1 > ANSWER_LIMIT)
        return 0;
    return keep_body(a, data, n) ? n : 0;
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
    bool failed;
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
    if (got <= 0) { /* an error, or the file shrank under us: stop; reported below */
        r->failed = true;
        return CURL_READFUNC_ABORT;
    }
    r->pos += got;
    return (size_t)got;
}

/* Called by curl at least once a second while it waits, and as bytes move. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const http_limits *limits = userp;
    if (limits->abort_flag && atomic_load(limits->abort_flag))
        return 1;
    return client_interrupted() ? 1 : 0;
}

/* How a failed transfer missed its answer. */
static http_miss miss_of(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HTTP_NOT_SENT;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTP_SILENT;
    default:
        return HTTP_CUT;
    }
}

int http_exchange(amlfs_client *c, CURL *h, const char *method, const char *url_path,
                  const http_body *body, const http_limits *limits, int sink_fd, http_answer *answer, amlfs_err *err)
{
    memset(answer, 0, sizeof *answer);
    answer->log_size = -1;
    answer->miss = HTTP_LOCAL;
    answer->to_sink = sink_fd >= 0;
    answer->sink_fd = sink_fd;
    /* An answer sent again (a retry) replaces what the last try wrote. */
    if (answer->to_sink && (ftruncate(answer->sink_fd, 0) < 0 || lseek(answer->sink_fd, 0, SEEK_SET) < 0))
        return amlfs_fail(err, errno, "cannot empty the temp file for %s: %s", url_path, strerror(errno));
    if (client_interrupted())
        return amlfs_fail(err, EINTR, "%s %s: interrupted before it was sent", method, url_path);
    int64_t started = util_mono_ms();
    char *url = util_strdupf("%s%s", c->base_url, url_path);
    char curl_msg[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    fd_reader reader = {.fd = -1};

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->socket_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* many threads: no SIGALRM-based timeouts */
    long connect_ms = limits->total_ms > 0 && limits->total_ms < CONNECT_TIMEOUT_MS ? (long)limits->total_ms
                                                                                   : CONNECT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (limits->total_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)limits->total_ms);
    if (limits->stall_s > 0) {
        /* A transfer goes on while bytes move, however long it takes: given up when below 1 byte/s. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, limits->stall_s);
    }
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)limits);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, answer);
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
    if (cc == CURLE_ABORTED_BY_CALLBACK && limits->abort_flag && atomic_load(limits->abort_flag)) {
        rc = amlfs_fail(err, ECANCELED, "request to %s stopped", url_path);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK && !reader.failed && client_interrupted()) {
        rc = amlfs_fail(err, EINTR, "%s %s: interrupted (the caller gave up waiting)", method, url_path);
    } else if (cc == CURLE_READ_ERROR || reader.failed) {
        rc = amlfs_fail(err, EIO, "reading the local buffer for %s failed", url_path);
    } else if (cc == CURLE_WRITE_ERROR && answer->to_sink) {
        rc = amlfs_fail(err, answer->sink_errno ? answer->sink_errno : ENOMEM, "writing the answer to %s %s to a temp file: %s",
                        method, url_path, strerror(answer->sink_errno ? answer->sink_errno : ENOMEM));
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = amlfs_fail(err, EIO, "the answer to %s %s is over %zu MiB", method, url_path, ANSWER_LIMIT >> 20);
    } else if (cc != CURLE_OK) {
        answer->miss = miss_of(cc);
        /* curl's own text names "localhost port 80" for a unix socket: the OS error says more. */
        long os_errno = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        const char *why = c->socket_path && os_errno ? strerror((int)os_errno)
                          : curl_msg[0]              ? curl_msg
                                                     : curl_easy_strerror(cc);
        if (answer->miss == HTTP_SILENT)
            rc = amlfs_fail(err, EIO, "amlfs-server at %s did not answer %s %s: nothing came for %.0f s", c->address,
                            method, url_path,
                            limits->total_ms > 0 ? (double)limits->total_ms / 1000 : (double)limits->stall_s);
        else
            rc = amlfs_fail(err, EIO, "cannot reach amlfs-server at %s: %s%s", c->address, why,
                            cc == CURLE_PEER_FAILED_VERIFICATION
                                ? " (give the CA that signed its certificate with --tls-ca FILE, or the certificate "
                                  "itself)"
                                : "");
    } else {
        answer->miss = HTTP_ANSWERED;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &answer->status);
        if (answer->status < 200 || answer->status > 299) {
            rc = api_error_from_body(answer->body, answer->status, err);
            if (!answer->body || !strstr(answer->body, "\"message\""))
                amlfs_wrap(err, "%s %s: ", method, url_path);
        }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
    curl_slist_free_all(headers);
    free(url);
    if (answer->miss == HTTP_ANSWERED)
        away_answered(c);
    else if (answer->miss != HTTP_LOCAL)
        away_missed(c, answer->miss, started);
    if (rc < 0)
        http_answer_free(answer);
    return rc;
}

/* One exchange on a borrowed handle. */
static int exchange(amlfs_client *c, const char *method, const char *url_path, const http_body *body,
                    const http_limits *limits, int sink_fd, http_answer *answer, amlfs_err *err)
{
    CURL *h = http_handle_take(c);
    int rc = http_exchange(c, h, method, url_path, body, limits, sink_fd, answer, err);
    http_handle_give(c, h);
    return rc;
}

/* Answers the server asks someone else for: a compute's live state (the cluster), a datastore's blobs
 * (the storage service). They take what those take (ELSEWHERE_S), not the metadata deadline. */
static bool asks_elsewhere(const char *url_path)
{
    return strstr(url_path, "?live=1") || strstr(url_path, "&live=1") ||
           (strncmp(url_path, "/v1/datastores/", 15) == 0 && strstr(url_path, "/files"));
}

static int64_t deadline_after(amlfs_client *c)
{
    return util_mono_ms() + (int64_t)c->limits.metadata_timeout_s * 1000;
}

/* Before sending while the server is known silent (a request waited its whole deadline in vain): a read
 * fails at once (the last answers stood in already); a change waits for the feed's next check of the
 * server, then fails unsent. Without a feed to check, the request is the check. */
static int unless_silent(amlfs_client *c, bool change, int64_t deadline, amlfs_err *err)
{
    int64_t since = 0;
    if (away_state(c, &since) != AWAY_SILENT || !atomic_load(&c->ev_running))
        return 0;
    int64_t until = util_mono_ms() + SILENT_RECHECK_MS;
    if (until > deadline)
        until = deadline;
    while (change && away_state(c, NULL) == AWAY_SILENT && util_mono_ms() < until) {
        if (!client_pause(50))
            return amlfs_fail(err, EINTR, "interrupted while waiting for amlfs-server at %s", c->address);
    }
    if (away_state(c, NULL) != AWAY_SILENT)
        return 0;
    return amlfs_fail(err, EIO, "amlfs-server at %s has not answered for %lld s (the mount asks it every 2 s)%s",
                      c->address, (long long)((util_mono_ms() - since) / 1000),
                      change ? ": the change was not sent" : "");
}

/* Whether a request that got no answer may be sent again: it never left (or, for a GET, the connection
 * broke: GETs change nothing), the server answered this client before (it is restarting, not absent:
 * mounting must learn at once that none runs), and a pause still fits before the deadline. Pauses. */
static bool again(amlfs_client *c, const http_answer *a, bool get, int64_t deadline, int *pause, int *rc,
                  amlfs_err *err)
{
    if (!(a->miss == HTTP_NOT_SENT || (get && a->miss == HTTP_CUT)) || !away_answered_once(c) ||
        util_mono_ms() + *pause >= deadline)
        return false;
    if (!client_pause(*pause)) {
        *rc = amlfs_fail(err, EINTR, "interrupted while waiting for amlfs-server at %s", c->address);
        return false;
    }
    *pause = *pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *pause * 2;
    return true;
}

/* A GET, waiting as a reader may: a JSON answer for the metadata deadline in all, bytes while they move
 * (none for that long: given up), an answer asked elsewhere ELSEWHERE_S longer; sent again while nothing
 * listens, until the deadline. */
static int get(amlfs_client *c, const char *url_path, bool bytes, int sink_fd, http_answer *a, amlfs_err *err)
{
    bool elsewhere = asks_elsewhere(url_path);
    int64_t retry_until = deadline_after(c);
    int64_t deadline = retry_until + (elsewhere && !bytes ? ELSEWHERE_S * 1000L : 0);
    int pause = RETRY_MIN_MS, rc;
    memset(a, 0, sizeof *a);
    a->miss = HTTP_NOT_SENT;
    do {
        if ((rc = unless_silent(c, false, retry_until, err)) < 0)
            return rc;
        http_limits limits = {0};
        if (bytes)
            limits.stall_s = c->limits.metadata_timeout_s + (elsewhere ? ELSEWHERE_S : 0);
        else
            limits.total_ms = deadline - util_mono_ms() > 1 ? deadline - util_mono_ms() : 1;
        rc = exchange(c, "GET", url_path, NULL, &limits, sink_fd, a, err);
    } while (rc < 0 && again(c, a, true, retry_until, &pause, &rc, err));
    return rc;
}

/* A change (PUT, POST, DELETE): as long as the server works on it or bytes move; sent again only while
 * it never left, until the deadline. */
static int change(amlfs_client *c, const char *method, const char *url_path, const http_body *body,
                  http_answer *a, amlfs_err *err)
{
    int64_t deadline = deadline_after(c);
    int pause = RETRY_MIN_MS, rc;
    memset(a, 0, sizeof *a);
    a->miss = HTTP_NOT_SENT;
    do {
        if ((rc = unless_silent(c, true, deadline, err)) < 0)
            return rc;
        http_limits limits = {.stall_s = PATIENT_STALL_S};
        rc = exchange(c, method, url_path, body, &limits, -1, a, err);
    } while (rc < 0 && again(c, a, false, deadline, &pause, &rc, err));
    return rc;
}

static int parse_json(const char *text, const char *url_path, cJSON **out, amlfs_err *err)
{
    *out = cJSON_Parse(text ? text : "");
    if (!*out)
        return amlfs_fail(err, EIO, "amlfs-server answered %s with something that is not JSON", url_path);
    return 0;
}

int client_get_json_unkept(amlfs_client *c, const char *url_path, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    http_answer a;
    int rc = get(c, url_path, false, -1, &a, err);
    if (rc == 0) {
        rc = parse_json(a.body, url_path, out, err);
        http_answer_free(&a);
    }
    return rc;
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
    /* While the server is away, what it last said stands in for it when still true, at once (the feed
     * checks the server meanwhile; without a feed, each request does, and falls back after it). */
    char *last = atomic_load(&c->ev_running) ? away_last_answer(c, url_path) : NULL;
    int rc = 0;
    if (!last) {
        uint64_t generation = cache_generation(c->cache);
        http_answer a;
        rc = get(c, url_path, false, -1, &a, err);
        if (rc == 0) {
            rc = parse_json(a.body, url_path, out, err);
            if (rc == 0)
                cache_put(c->cache, url_path, a.body, generation);
            http_answer_free(&a);
            return rc;
        }
        if (rc == -EINTR || a.miss == HTTP_ANSWERED || a.miss == HTTP_LOCAL ||
            !(last = away_last_answer(c, url_path)))
            return rc;
    }
    rc = parse_json(last, url_path, out, err);
    free(last);
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
    int rc = get(c, url, true, -1, &a, err);
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

int client_get_to_fd(amlfs_client *c, const char *url_path, int fd, size_t *len, amlfs_err *err)
{
    *len = 0;
    http_answer a;
    int rc = get(c, url_path, true, fd, &a, err);
    if (rc < 0)
        return rc;
    *len = a.sunk;
    http_answer_free(&a);
    return 0;
}

/* After a change, any cached answer may be wrong: drop them all (changes are rare next to reads). Not
 * when the request never left: nothing changed, and the last answers may be needed meanwhile. */
static int finish_change(amlfs_client *c, int rc, http_answer *a, const char *url_path, cJSON **out,
                         amlfs_err *err)
{
    if (a->miss != HTTP_NOT_SENT)
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
    int rc = change(c, "PUT", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_put_fd(amlfs_client *c, const char *url_path, int fd, off_t size, cJSON **out, amlfs_err *err)
{
    http_body body = {.fd = fd, .size = size, .content_type = "application/octet-stream"};
    http_answer a;
    int rc = change(c, "PUT", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_post_fd(amlfs_client *c, const char *url_path, int fd, off_t size, const char *content_type,
                   cJSON **out, amlfs_err *err)
{
    http_body body = {.fd = fd, .size = size, .content_type = content_type};
    http_answer a;
    int rc = change(c, "POST", url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_send_json_text(amlfs_client *c, const char *method, const char *url_path, const char *text, size_t len,
                          cJSON **out, amlfs_err *err)
{
    http_body body = {.data = text, .len = text ? len : 0, .fd = -1, .content_type = text ? "application/json" : NULL};
    http_answer a;
    int rc = change(c, method, url_path, &body, &a, err);
    return finish_change(c, rc, &a, url_path, out, err);
}

int client_send_json(amlfs_client *c, const char *method, const char *url_path, const cJSON *json,
                     cJSON **out, amlfs_err *err)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    if (json && !text)
        abort(); /* cJSON only fails to print on out-of-memory */
    int rc = client_send_json_text(c, method, url_path, text, text ? strlen(text) : 0, out, err);
    free(text);
    return rc;
}

int client_delete(amlfs_client *c, const char *url_path, amlfs_err *err)
{
    http_answer a;
    int rc = change(c, "DELETE", url_path, NULL, &a, err);
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
