/* fetch.c: https:// data inputs: a conditional GET (If-None-Match / If-Modified-Since) into a cache
 * folder per URL, the body streamed to disk, then a read-only copy for the run. */
#include "amlfs/fetch.h"
#include "amlfs/snapshot.h"
#include "amlfs/util.h"
#include "transfer_stop.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 10L
/* A transfer slower than this for this long is given up (no total limit: data can be large). */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_S 30L

typedef struct sink {
    int fd;
    uint64_t written, max;
    int error;                  /* errno of a failed write, or EFBIG */
} sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    sink *s = userp;
    size_t n = size * nmemb;
    if (s->written + n > s->max) {
        s->error = EFBIG;
        return 0;
    }
    int rc = util_write_all(s->fd, data, n);
    if (rc < 0) {
        s->error = -rc;
        return 0;
    }
    s->written += n;
    return n;
}

char *fetch_url_basename(const char *url)
{
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    size_t path_end = strcspn(start, "?#");
    const char *last = NULL;
    for (const char *p = start; p < start + path_end; p++)
        if (*p == '/')
            last = p;
    char *name = util_xcalloc(1, path_end + 1);
    size_t k = 0;
    for (const char *p = last ? last + 1 : start + path_end; p < start + path_end; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(".-_", *p))
            name[k++] = *p;
    if (!k || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        free(name);
        return util_xstrdup("data");
    }
    return name;
}

/* The validators the cache holds for its copy, from meta.json (NULL when none). */
static void read_meta(const char *meta_path, char **etag, char **last_modified)
{
    *etag = *last_modified = NULL;
    char *text = NULL;
    if (util_read_file(meta_path, &text, NULL, NULL) < 0)
        return;
    cJSON *meta = cJSON_Parse(text);
    free(text);
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "etag"));
    const char *l = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "last_modified"));
    *etag = e && *e ? util_xstrdup(e) : NULL;
    *last_modified = l && *l ? util_xstrdup(l) : NULL;
    cJSON_Delete(meta);
}

static char *response_header(CURL *curl, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value)
        return NULL;
    return util_xstrdup(h->value);
}

static int status_error(const char *url, long status, amlfs_err *err)
{
    int errnum = status == 404 || status == 410 ? ENOENT : status == 401 || status == 403 ? EACCES : EIO;
    return amlfs_fail(err, errnum, "GET %s answered HTTP %ld", url, status);
}

/* One conditional GET into body.tmp, renamed over body on a 200. Lock held by the caller. */
static int refresh(const char *dir, const char *url, uint64_t max_bytes, fetch_result *out, amlfs_err *err)
{
    char *body = util_strdupf("%s/body", dir), *tmp = util_strdupf("%s/body.tmp", dir);
    char *meta_path = util_strdupf("%s/meta.json", dir);
    char *etag = NULL, *last_modified = NULL;
    struct stat st;
    if (stat(body, &st) == 0)
        read_meta(meta_path, &etag, &last_modified);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    CURL *curl = fd >= 0 ? curl_easy_init() : NULL;
    if (fd < 0)
        rc = amlfs_fail(err, errno, "cannot write the download cache %s: %s", tmp, strerror(errno));
    else if (!curl)
        rc = amlfs_fail(err, ENOMEM, "cannot start an HTTP request (curl)");
    struct curl_slist *headers = NULL;
    sink s = {.fd = fd, .max = max_bytes};
    char curl_error[CURL_ERROR_SIZE] = "";
    if (rc == 0) {
        char *h;
        if (etag) {
            h = util_strdupf("If-None-Match: %s", etag);
            headers = curl_slist_append(headers, h);
            free(h);
        }
        if (last_modified) {
            h = util_strdupf("If-Modified-Since: %s", last_modified);
            headers = curl_slist_append(headers, h);
            free(h);
        }
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_S);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
        data_curl_stoppable(curl);
        CURLcode cc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        out->http_status = status;
        if (cc != CURLE_OK && s.error == EFBIG)
            rc = amlfs_fail(err, EFBIG, "GET %s: the file is larger than %llu MB", url,
                            (unsigned long long)(max_bytes >> 20));
        else if (cc == CURLE_ABORTED_BY_CALLBACK)
            rc = amlfs_fail(err, ECANCELED, "GET %s: stopped (the run was canceled)", url);
        else if (cc != CURLE_OK && s.error)
            rc = amlfs_fail(err, s.error, "writing %s: %s", tmp, strerror(s.error));
        else if (cc != CURLE_OK)
            rc = amlfs_fail(err, EHOSTUNREACH, "GET %s failed: %s", url,
                            curl_error[0] ? curl_error : curl_easy_strerror(cc));
        else if (status == 304 && stat(body, &st) == 0)
            out->bytes = (uint64_t)st.st_size;
        else if (status != 200)
            rc = status_error(url, status, err);
        else if (fsync(fd) < 0 || rename(tmp, body) < 0)
            rc = amlfs_fail(err, errno, "keeping the download of %s: %s", url, strerror(errno));
        if (rc == 0 && status == 200) {
            out->downloaded = true;
            out->bytes = s.written;
            char *new_etag = response_header(curl, "ETag"), *new_lm = response_header(curl, "Last-Modified");
            cJSON *meta = cJSON_CreateObject();
            cJSON_AddStringToObject(meta, "url", url);
            cJSON_AddStringToObject(meta, "etag", new_etag ? new_etag : "");
            cJSON_AddStringToObject(meta, "last_modified", new_lm ? new_lm : "");
            char *text = cJSON_PrintUnformatted(meta);
            amlfs_err ignored = {0};
            /* Without its validators the copy is merely fetched again next time: no error. */
            util_write_file_atomic(meta_path, text, strlen(text), 0600, &ignored);
            free(text);
            cJSON_Delete(meta);
            free(new_etag);
            free(new_lm);
        }
    }
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    free(etag);
    free(last_modified);
    free(body);
    free(tmp);
    free(meta_path);
    return rc;
}

int fetch_url(const char *cache_dir, const char *url, const char *dest, uint64_t max_bytes, fetch_result *out,
              amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    char key[SNAPSHOT_SHA_HEX];
    int rc = snapshot_sha256_buffer(url, strlen(url), key, err);
    if (rc < 0)
        return rc;
    char *dir = util_strdupf("%s/%s", cache_dir, key);
    char *lock_path = util_strdupf("%s/lock", dir);
    char *body = util_strdupf("%s/body", dir);
    rc = util_mkdir_p(dir, 0700, err);
    int lock = rc == 0 ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (rc == 0 && lock < 0)
        rc = amlfs_fail(err, errno, "cannot lock %s: %s", lock_path, strerror(errno));
    /* One fetch of a URL at a time (across threads and processes): the second finds the copy fresh. */
    if (rc == 0 && flock(lock, LOCK_EX) < 0)
        rc = amlfs_fail(err, errno, "cannot lock %s: %s", lock_path, strerror(errno));
    if (rc == 0)
        rc = refresh(dir, url, max_bytes, out, err);
    if (rc == 0)
        rc = util_copy_file(body, dest, 0444, err);
    if (lock >= 0)
        close(lock);
    free(body);
    free(lock_path);
    free(dir);
    return rc;
}
