/* h_files.c: the folder-of-files API shared by experiments (their code), data assets (what data.yaml
 * registers from) and environments (their
 * build context): list, stat, read, atomic write, mkdir, symlink, delete, rename. Every change is a
 * "KIND/NAME files" event. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/spec_yaml.h"
#include "amlfs/util.h"

typedef struct files_kind {
    const char *kind;           /* "experiments" | "environments" */
    const char *object;         /* "experiment" | "environment" (messages) */
    const char *const *reserved; /* names the mount shows as live files at the root */
} files_kind;

static const char *const experiment_reserved[] = {"status", "runs", NULL};
static const char *const environment_reserved[] = {"status", "build.log", "versions", "ctl", NULL};
static const files_kind experiments = {"experiments", "experiment", experiment_reserved};
static const files_kind environments = {"environments", "environment", environment_reserved};
static const char *const data_reserved[] = {"status", "versions", NULL};
static const files_kind data = {"data", "data asset", data_reserved};

static int check_exists(server *srv, const files_kind *k, const char *name, amlfs_err *err)
{
    if (k == &data)
        return store_data_exists(srv->store, name, err);
    if (k == &experiments) {
        store_experiment e;
        int r = store_experiment_get(srv->store, name, &e, err);
        store_experiment_free(&e);
        return r;
    }
    store_env e;
    int r = store_env_get(srv->store, name, &e, err);
    store_env_free(&e);
    return r;
}

static int check_not_reserved(const files_kind *k, const char *path, amlfs_err *err)
{
    for (size_t i = 0; k->reserved[i]; i++)
        if (strcmp(path, k->reserved[i]) == 0)
            return amlfs_fail(err, EPERM, "'%s' is a live file of every %s folder in the mount; choose "
                              "another name", path, k->object);
    return 0;
}

/* Spec files that may hold a registry password (image_registry.password): an environment's
 * environment.yaml, an experiment's job.yaml (an inline environment). They are kept with the secret
 * replaced by ***, so no file of the mount ever shows it; the server keeps the secret with the
 * version it registers from the text the writer sends (and *** in a later version means "the same
 * password as before"). */
static bool may_hold_secret(const files_kind *k, const char *path)
{
    if (k == &environments)
        return strcmp(path, "environment.yaml") == 0;
    const char *slash = strrchr(path, '/');
    return strcmp(slash ? slash + 1 : path, "job.yaml") == 0;
}

/* The stored file at path with its secrets hidden (after a rename put it there). */
static int redact_stored(const char *root, const char *path, amlfs_err *err)
{
    folder_entry e;
    char *data = NULL;
    size_t len = 0;
    int r = folder_stat(root, path, &e, err);
    if (r < 0)
        return r;
    /* A file over a spec's size is no spec (a submission refuses it): it is not read whole to be redacted. */
    if (e.type == 'f' && e.size <= SPEC_TEXT_MAX && (r = folder_read(root, path, 0, -1, &data, &len, err)) == 0 &&
        !memchr(data, '\0', len)) {
        char *redacted = spec_redact_yaml(data, len);
        bool created;
        if (strlen(redacted) != len || memcmp(redacted, data, len) != 0)
            r = folder_write(root, path, redacted, strlen(redacted), e.mode, &created, err);
        free(redacted);
    }
    free(data);
    folder_entry_free(&e);
    return r;
}

static int reply_entry(const char *root, const char *path, unsigned status, http_reply *out, amlfs_err *err)
{
    folder_entry e;
    int r = folder_stat(root, path, &e, err);
    if (r < 0)
        return r;
    reply_json(out, status, folder_entry_json(&e));
    folder_entry_free(&e);
    return 0;
}

int folder_get_reply(const char *root, const char *rel, bool list, const http_request *req, http_reply *out,
                     amlfs_err *err)
{
    const char *stat_arg = http_query(req, "stat");
    if (stat_arg && strcmp(stat_arg, "0") != 0)
        return reply_entry(root, rel, 200, out, err);
    if (list) {
        folder_entry *entries;
        size_t n;
        int r = folder_list(root, rel, &entries, &n, err);
        if (r < 0)
            return r;
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "entries");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, folder_entry_json(&entries[i]));
        folder_list_free(entries, n);
        reply_json(out, 200, o);
        return 0;
    }
    int64_t offset, length;
    int r = http_query_i64(req, "offset", 0, &offset, err);
    if (r == 0)
        r = http_query_i64(req, "length", -1, &length, err);
    if (r < 0)
        return r;
    int fd;
    int64_t size;
    if ((r = folder_open_file(root, rel, &fd, &size, err)) < 0)
        return r;
    int64_t start = offset < size ? offset : size;
    int64_t n = length >= 0 && length < size - start ? length : size - start;
    return reply_fd(out, 200, fd, (uint64_t)start, (uint64_t)n, "application/octet-stream", err);
}

static int parse_mode(const char *text, mode_t *mode, amlfs_err *err)
{
    *mode = 0644;
    if (!text)
        return 0;
    char *end;
    long m = strtol(text, &end, 8);
    if (!*text || *end || m < 0 || m > 07777)
        return amlfs_fail(err, EINVAL, "mode=%s: expected octal permission bits like 0644", text);
    *mode = (mode_t)m;
    return 0;
}

static int put(const char *root, const files_kind *k, const http_request *req, http_reply *out,
               amlfs_err *err)
{
    const char *path = req->tail, *type = http_query(req, "type");
    if (!path[0])
        return amlfs_fail(err, EINVAL, "PUT needs a file path after /files/");
    int r = check_not_reserved(k, path, err);
    if (r < 0)
        return r;
    if (!type || strcmp(type, "file") == 0) {
        mode_t mode;
        bool created = false;
        const char *body = req->body ? req->body : "";
        size_t len = req->body_len;
        char *redacted = NULL;
        if (may_hold_secret(k, path) && len > 0 && !memchr(body, '\0', len)) { /* text only */
            redacted = spec_redact_yaml(body, len);
            body = redacted;
            len = strlen(redacted);
        }
        int64_t mtime_ms;
        r = parse_mode(http_query(req, "mode"), &mode, err);
        if (r == 0)
            r = http_query_i64(req, "mtime_ms", -1, &mtime_ms, err);
        if (r == 0)
            r = folder_write(root, path, body, len, mode, &created, err);
        free(redacted);
        if (r == 0 && mtime_ms >= 0)
            r = folder_set_attr(root, path, -1, mtime_ms, err); /* cp -p, tar: a time set while writing */
        if (r < 0)
            return r;
        return reply_entry(root, path, created ? 201 : 200, out, err);
    }
    if (strcmp(type, "dir") == 0) {
        mode_t mode;
        r = parse_mode(http_query(req, "mode"), &mode, err);
        if (r == 0)
            r = folder_mkdir(root, path, err);
        if (r == 0 && http_query(req, "mode"))
            r = folder_set_attr(root, path, mode, -1, err);
    } else if (strcmp(type, "symlink") == 0)
        r = folder_symlink(root, path, http_query(req, "target"), err);
    else
        r = amlfs_fail(err, EINVAL, "type=%s: expected file, dir or symlink", type);
    if (r < 0)
        return r;
    return reply_entry(root, path, 201, out, err);
}

/* POST BASE/PATH?mode=0755&mtime_ms=MS (PATH may be empty: the folder itself): chmod and utimens. */
static int set_attr(const char *root, const files_kind *k, const http_request *req, http_reply *out,
                    amlfs_err *err)
{
    int r = req->tail[0] ? check_not_reserved(k, req->tail, err) : 0;
    mode_t mode = 0;
    int64_t mtime_ms = -1;
    if (r == 0 && http_query(req, "mode"))
        r = parse_mode(http_query(req, "mode"), &mode, err);
    if (r == 0)
        r = http_query_i64(req, "mtime_ms", -1, &mtime_ms, err);
    if (r == 0)
        r = folder_set_attr(root, req->tail, http_query(req, "mode") ? (int64_t)mode : -1, mtime_ms, err);
    return r < 0 ? r : reply_entry(root, req->tail, 200, out, err);
}

static int files(server *srv, const files_kind *k, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    int r = check_exists(srv, k, name, err);
    if (r < 0)
        return r;
    char *root = server_path(srv, "%s/%s/files", k->kind, name);
    bool changed = false;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        r = folder_get_reply(root, req->tail, !req->tail[0] || req->trailing_slash, req, out, err);
    } else if (strcmp(req->method, "PUT") == 0) {
        r = put(root, k, req, out, err);
        changed = r == 0;
    } else if (strcmp(req->method, "DELETE") == 0) {
        if (!req->tail[0])
            r = amlfs_fail(err, EINVAL, "DELETE needs a path after /files/ (to remove the %s itself, "
                           "DELETE /v1/%s/%s)", k->object, k->kind, name);
        else if ((r = folder_remove(root, req->tail, err)) == 0)
            reply_empty(out, 204);
        changed = r == 0;
    } else if (strcmp(req->method, "POST") == 0) {
        const char *to = http_query(req, "rename_to");
        if (!to && (http_query(req, "mode") || http_query(req, "mtime_ms")))
            r = set_attr(root, k, req, out, err);
        else if (!to || !req->tail[0])
            r = amlfs_fail(err, EINVAL, "POST on a file needs ?rename_to=NEWPATH, or ?mode=0755 and/or ?mtime_ms=MS");
        else if ((r = check_not_reserved(k, to, err)) == 0 && (r = folder_rename(root, req->tail, to, err)) == 0 &&
                 (!may_hold_secret(k, to) || (r = redact_stored(root, to, err)) == 0))
            r = reply_entry(root, to, 200, out, err);
        changed = r == 0;
    } else {
        r = amlfs_fail(err, EINVAL, "%s is not a method of the files API", req->method);
    }
    free(root);
    if (changed)
        events_emitf(srv->events, "files", -1, "%s/%s", k->kind, name);
    return r;
}

int h_experiment_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    int rc = files(srv, &experiments, req, out, err);
    /* The save of job.yaml fails before it is a submission (its disk full): said where the submission's
     * outcome would be, or the previous "submitted ..." line would still show. */
    if (rc < 0 && strcmp(req->method, "PUT") == 0 && strcmp(req->tail, "job.yaml") == 0) {
        char *line = util_strdupf("Rejected: job.yaml could not be stored: %s", err->msg);
        server_status_line_set(srv, req->params[0], line);
        events_emitf(srv->events, "changed", -1, "experiments/%s", req->params[0]);
        free(line);
    }
    return rc;
}

int h_environment_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return files(srv, &environments, req, out, err);
}

int h_data_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return files(srv, &data, req, out, err);
}
