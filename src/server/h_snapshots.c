/* h_snapshots.c: the snapshot API: POST /v1/snapshots (a manifest in, the contents the store lacks
 * out), POST /v1/blobs (a tar of those contents, each checked against the manifest), and a run's
 * snapshot as a read-only folder (GET /v1/runs/ID/snapshot/PATH). */
#include "amlfs/server.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/util.h"

#define MB (1024ull * 1024)
/* An upload is a tar of the snapshot's contents: at most their bytes, plus per entry its headers
 * (a pax header and a ustar header, 512 bytes each, and padding), plus gzip's worst case. */
#define UPLOAD_SLACK (1ull << 20)
#define UPLOAD_PER_ENTRY 4096ull

static const char blobs_path[] = "/v1/blobs";

/* ---- POST /v1/snapshots ---- */

static int whole_limit(const cJSON *limits, const char *key, uint64_t max, uint64_t *out, amlfs_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(limits, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 1 && d <= (double)max) || (double)(uint64_t)d != d)
        return amlfs_fail(err, EINVAL, "limits.%s must be a whole number from 1 to %llu", key,
                          (unsigned long long)max);
    *out = (uint64_t)d;
    return 0;
}

/* The workspace's limits, or the ones the body asks for (a job's `amlfs.snapshot_*` properties). */
static int body_limits(server *srv, const cJSON *body, snapshot_limits *out, amlfs_err *err)
{
    *out = server_snapshot_limits(srv, NULL);
    const cJSON *limits = cJSON_GetObjectItemCaseSensitive(body, "limits");
    if (!limits || cJSON_IsNull(limits))
        return 0;
    if (!cJSON_IsObject(limits))
        return amlfs_fail(err, EINVAL, "\"limits\" must be an object: {\"max_mb\": N, \"max_files\": N}");
    uint64_t mb = out->max_bytes / MB, files = out->max_files;
    int rc = whole_limit(limits, "max_mb", SPEC_SNAPSHOT_MAX_MB, &mb, err);
    if (rc == 0)
        rc = whole_limit(limits, "max_files", SPEC_SNAPSHOT_MAX_FILES, &files, err);
    out->max_bytes = mb * MB;
    out->max_files = files;
    return rc;
}

/* {"snapshot", "missing": [sha...], "missing_bytes", "total_bytes", "file_count"} */
static int reply_missing(server *srv, const snapshot_manifest *m, unsigned status, cJSON *extra, http_reply *out,
                         amlfs_err *err)
{
    char **missing = NULL;
    size_t n = 0;
    int rc = server_snapshot_missing(srv, m, &missing, &n, err);
    if (rc < 0) {
        cJSON_Delete(extra);
        return rc;
    }
    cJSON *o = extra ? extra : cJSON_CreateObject();
    cJSON_AddStringToObject(o, "snapshot", m->hash);
    cJSON *arr = cJSON_AddArrayToObject(o, "missing");
    bool *counted = util_xcalloc(n ? n : 1, sizeof *counted);
    uint64_t missing_bytes = 0;
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        if (e->type != SNAPSHOT_FILE)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (!counted[k] && strcmp(missing[k], e->sha256) == 0) {
                counted[k] = true;
                missing_bytes += e->size;
            }
        }
    }
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(missing[k]));
    cJSON_AddNumberToObject(o, "missing_bytes", (double)missing_bytes);
    cJSON_AddNumberToObject(o, "total_bytes", (double)m->total_bytes);
    cJSON_AddNumberToObject(o, "file_count", (double)m->file_count);
    free(counted);
    snapshot_strings_free(missing, n);
    reply_json(out, status, o);
    return 0;
}

int h_snapshots_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(body, "manifest");
    snapshot_manifest m;
    snapshot_manifest_init(&m);
    snapshot_limits limits;
    if (!cJSON_IsObject(jm))
        rc = amlfs_fail(err, EINVAL, "the body needs \"manifest\": the snapshot manifest (see docs/api.md)");
    else
        rc = snapshot_manifest_from_cjson(jm, &m, err); /* parsed once, with the body */
    if (rc == 0)
        rc = body_limits(srv, body, &limits, err);
    cJSON_Delete(body);
    /* Limits first: a snapshot over them is refused before anything of it is kept. */
    if (rc == 0)
        rc = snapshot_limits_check(&m, &limits, "code folder", server_snapshot_ignore_file(&m), err);
    if (rc == 0)
        rc = server_snapshot_keep(srv, &m, err);
    if (rc < 0) {
        snapshot_manifest_free(&m);
        return rc;
    }
    /* Cached now: the submission that names it next (and its upload) need not read it back from disk. */
    char hash[SNAPSHOT_SHA_HEX];
    snprintf(hash, sizeof hash, "%s", m.hash);
    server_snapshot_put(srv, &m);
    const snapshot_manifest *kept;
    rc = server_snapshot_get(srv, hash, &kept, err);
    if (rc == 0)
        rc = reply_missing(srv, kept, 200, NULL, out, err);
    server_snapshot_release(srv, kept);
    return rc;
}

/* ---- POST /v1/blobs?snapshot=HASH ---- */

uint64_t http_spool_limit(server *srv, struct MHD_Connection *conn, const char *method, const char *url)
{
    size_t n = strlen(url);
    while (n > 1 && url[n - 1] == '/')
        n--;
    if (strcmp(method, "POST") != 0 || n != strlen(blobs_path) || strncmp(url, blobs_path, n) != 0)
        return 0;
    const char *hash = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "snapshot");
    const snapshot_manifest *m = NULL;
    if (!hash || server_snapshot_get(srv, hash, &m, NULL) < 0)
        return 0; /* kept in memory (small, or refused by the size cap); the handler says what is wrong */
    uint64_t limit = UPLOAD_SLACK + m->total_bytes + m->total_bytes / 64 + (uint64_t)m->count * UPLOAD_PER_ENTRY;
    server_snapshot_release(srv, m);
    return limit;
}

int h_blobs_upload(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *hash = http_query(req, "snapshot");
    if (!hash || !*hash)
        return amlfs_fail(err, EINVAL, "POST %s needs ?snapshot=HASH, the snapshot (POST /v1/snapshots) whose "
                          "contents the tar holds", blobs_path);
    const snapshot_manifest *m;
    int rc = server_snapshot_get(srv, hash, &m, err);
    if (rc == -ENOENT)
        return amlfs_fail(err, ENOENT, "snapshot %.12s... is not known here: POST /v1/snapshots with its manifest "
                          "first", hash);
    if (rc < 0)
        return rc;
    int stored = 0;
    if (req->body_len > 0 && req->body_spooled) {
        if (lseek(req->body_fd, 0, SEEK_SET) < 0)
            stored = amlfs_fail(err, EIO, "cannot read back the upload: %s", strerror(errno));
        else
            stored = snapshot_blobs_ingest_fd(srv->snapshot_dir, m, req->body_fd, err);
    } else if (req->body_len > 0) {
        stored = snapshot_blobs_ingest_buffer(srv->snapshot_dir, m, req->body, req->body_len, err);
    }
    /* What arrived counts, refused or not: the counters say what clients sent. */
    server_uploads_count(srv, (int64_t)req->body_len, stored > 0 ? stored : 0);
    if (stored >= 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "stored", stored);
        rc = reply_missing(srv, m, 200, o, out, err);
    } else {
        rc = stored;
    }
    server_snapshot_release(srv, m);
    return rc;
}

/* ---- GET /v1/runs/ID/snapshot/PATH ---- */

/* The files API's entry shape (docs/api.md); times are the folder's as snapshotted, else (a manifest from
 * before they were kept, the root) the run's creation, when it was taken. */
static cJSON *entry_json(const char *name, const snapshot_entry *e, int64_t mtime_ms)
{
    cJSON *o = cJSON_CreateObject();
    snapshot_type type = e ? e->type : SNAPSHOT_DIR;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "type", snapshot_type_name(type));
    cJSON_AddNumberToObject(o, "size", type == SNAPSHOT_FILE     ? (double)e->size
                                       : type == SNAPSHOT_SYMLINK ? (double)strlen(e->target)
                                                                  : 4096);
    cJSON_AddNumberToObject(o, "mode", e ? e->mode : 0755);
    cJSON_AddNumberToObject(o, "mtime_ms", (double)(e && e->mtime_ms >= 0 ? e->mtime_ms : mtime_ms));
    if (type == SNAPSHOT_SYMLINK)
        cJSON_AddStringToObject(o, "target", e->target);
    else
        cJSON_AddNullToObject(o, "target");
    if (type == SNAPSHOT_FILE)
        cJSON_AddStringToObject(o, "sha256", e->sha256);
    return o;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

cJSON *server_snapshot_root_json(int64_t mtime_ms)
{
    return entry_json("", NULL, mtime_ms);
}

cJSON *server_snapshot_children_json(const snapshot_manifest *m, const char *dir, int64_t mtime_ms)
{
    size_t dlen = strlen(dir);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "entries");
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        const char *rest = e->path;
        if (dlen) {
            if (strncmp(e->path, dir, dlen) != 0 || e->path[dlen] != '/')
                continue;
            rest = e->path + dlen + 1;
        }
        if (!strchr(rest, '/'))
            cJSON_AddItemToArray(arr, entry_json(rest, e, mtime_ms));
    }
    return o;
}

static void list_children(const snapshot_manifest *m, const char *dir, int64_t mtime_ms, http_reply *out)
{
    reply_json(out, 200, server_snapshot_children_json(m, dir, mtime_ms));
}

static int reply_blob(server *srv, const http_request *req, const snapshot_entry *e, http_reply *out,
                      amlfs_err *err)
{
    int64_t offset, length;
    int rc = http_query_i64(req, "offset", 0, &offset, err);
    if (rc == 0)
        rc = http_query_i64(req, "length", -1, &length, err);
    if (rc < 0)
        return rc;
    uint64_t start = (uint64_t)offset < e->size ? (uint64_t)offset : e->size;
    uint64_t n = e->size - start;
    if (length >= 0 && (uint64_t)length < n)
        n = (uint64_t)length;
    struct MHD_Response *resp;
    if (n == 0) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        char *path = snapshot_blob_path(srv->snapshot_dir, e->sha256);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        rc = fd < 0 ? amlfs_fail(err, EIO, "the content of '%s' (%s) cannot be read: %s", e->path, path,
                                 strerror(errno))
                    : 0;
        free(path);
        if (rc < 0)
            return rc;
        /* Sent from the blob itself (libmicrohttpd closes fd): a large file is never held in memory. */
        resp = MHD_create_response_from_fd_at_offset64(n, fd, start);
        if (!resp) {
            close(fd);
            return amlfs_fail(err, ENOMEM, "cannot answer with '%s'", e->path);
        }
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    out->status = 200;
    out->response = resp;
    return 0;
}

int server_snapshot_reply(server *srv, const http_request *req, const snapshot_manifest *m, int64_t mtime_ms,
                          const char *what, http_reply *out, amlfs_err *err)
{
    const char *path = req->tail;
    const snapshot_entry *e = NULL;
    if (path[0]) {
        int rc = util_check_relpath(path, err);
        if (rc < 0)
            return rc;
        if (!(e = snapshot_manifest_find(m, path)))
            return amlfs_fail(err, ENOENT, "'%s' is not in %s", path, what);
    }
    const char *stat_arg = http_query(req, "stat");
    if (stat_arg && strcmp(stat_arg, "0") != 0) {
        reply_json(out, 200, entry_json(base_name(path), e, mtime_ms));
        return 0;
    }
    if (!e || req->trailing_slash) {
        if (e && e->type != SNAPSHOT_DIR)
            return amlfs_fail(err, ENOTDIR, "'%s' in %s is not a folder", path, what);
        list_children(m, path, mtime_ms, out);
        return 0;
    }
    if (e->type == SNAPSHOT_DIR)
        return amlfs_fail(err, EISDIR, "'%s' in %s is a folder: list it with a trailing '/'", path, what);
    if (e->type == SNAPSHOT_SYMLINK)
        return amlfs_fail(err, EINVAL, "'%s' in %s is a symlink to '%s'", path, what, e->target);
    return reply_blob(srv, req, e, out, err);
}

int h_run_snapshot(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_run r;
    int rc = store_run_get(srv->store, req->params[0], &r, err);
    if (rc < 0)
        return rc;
    const snapshot_manifest *m = NULL;
    if (!r.snapshot)
        rc = amlfs_fail(err, ENOENT, "run %s has no snapshot: it was submitted before amlfs kept them", r.id);
    else
        rc = server_snapshot_get(srv, r.snapshot, &m, err);
    if (rc == 0)
    {
        char *what = util_strdupf("the snapshot of run %s", r.id);
        rc = server_snapshot_reply(srv, req, m, r.created, what, out, err);
        free(what);
    }
    server_snapshot_release(srv, m);
    store_run_free(&r);
    return rc;
}
