/* h_data.c: data assets over HTTP: list, create (mkdir), get, delete (rmdir), register a version from
 * data.yaml, a version's record, and its content as a read-only folder. What each does: data_assets.c. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static cJSON *version_json(const store_data_version *v, bool with_yaml)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", v->version);
    cJSON_AddStringToObject(o, "type", v->type);
    cJSON_AddStringToObject(o, "snapshot", v->snapshot);
    if (v->file)
        cJSON_AddStringToObject(o, "file", v->file);
    json_add_time(o, "created", v->created);
    if (with_yaml)
        cJSON_AddStringToObject(o, "yaml", v->yaml);
    return o;
}

static int data_json(server *srv, const char *name, cJSON **out, amlfs_err *err)
{
    store_data_version *versions;
    size_t n;
    int rc = store_data_exists(srv->store, name, err);
    if (rc == 0)
        rc = store_data_versions(srv->store, name, &versions, &n, err);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON *arr = cJSON_AddArrayToObject(o, "versions");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, version_json(&versions[i], false));
    char *key = util_strdupf("data/%s", name), *rejected = NULL;
    amlfs_err ignored = {0};
    if (store_folder_status_get(srv->store, key, &rejected, &ignored) < 0)
        rejected = NULL;
    char *line = rejected && rejected[0] ? util_xstrdup(rejected)
                 : n ? util_strdupf("version %d: %s", versions[n - 1].version, versions[n - 1].type)
                     : util_xstrdup("no version yet: write data.yaml (type and path)");
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    free(rejected);
    free(key);
    store_data_version_list_free(versions, n);
    *out = o;
    return 0;
}

int h_data_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    char **names = NULL;
    size_t n = 0;
    int rc = store_data_names(srv->store, &names, &n, err);
    return reply_name_list(srv, "data", NULL, names, n, rc, out, err);
}

int h_data_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const char *name = json_str(body, "name", "");
    cJSON *o = NULL;
    rc = data_create(srv, name, err);
    if (rc == 0)
        rc = data_json(srv, name, &o, err);
    cJSON_Delete(body);
    if (rc == 0)
        reply_json(out, 201, o);
    return rc;
}

int h_data_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *o;
    int rc = data_json(srv, req->params[0], &o, err);
    if (rc == 0)
        reply_json(out, 200, o);
    return rc;
}

int h_data_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    int rc = data_delete(srv, req->params[0], err);
    if (rc == 0)
        reply_empty(out, 204);
    return rc;
}

int h_data_add_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
    const cJSON *code_error = cJSON_GetObjectItemCaseSensitive(body, "code_error");
    submit_code upload = {.snapshot = json_str(body, "snapshot", NULL)};
    if (cJSON_IsObject(code_error)) {
        upload.error_errno = api_errno_from_name(json_str(code_error, "errno", "EINVAL"));
        upload.error_message = json_str(code_error, "message", "");
    }
    int version = 0;
    if (!cJSON_IsString(yaml))
        rc = amlfs_fail(err, EINVAL, "the body needs \"yaml\": the text of data.yaml");
    else
        rc = data_register(srv, req->params[0], yaml->valuestring, http_spec_len(body, yaml),
                           json_str(body, "filename", "data.yaml"), &upload, &version, err);
    cJSON_Delete(body);
    store_data_version v;
    if (rc == 0)
        rc = store_data_version_get(srv->store, req->params[0], version, &v, err);
    if (rc < 0)
        return rc;
    reply_json(out, 201, version_json(&v, true));
    store_data_version_free(&v);
    return 0;
}

/* The version the route names (params[1]). */
static int route_version(server *srv, const http_request *req, store_data_version *v, amlfs_err *err)
{
    long n;
    memset(v, 0, sizeof *v);
    if (spec_parse_long_text(req->params[1], &n) < 0 || n < 1 || n > 1000000000)
        return amlfs_fail(err, ENOENT, "data asset '%s' has no version '%s'", req->params[0], req->params[1]);
    return store_data_version_get(srv->store, req->params[0], (int)n, v, err);
}

int h_data_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_data_version v;
    int rc = route_version(srv, req, &v, err);
    if (rc < 0)
        return rc;
    reply_json(out, 200, version_json(&v, true));
    store_data_version_free(&v);
    return 0;
}

int h_data_version_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_data_version v;
    int rc = route_version(srv, req, &v, err);
    if (rc < 0)
        return rc;
    const snapshot_manifest *m = NULL;
    rc = server_snapshot_get(srv, v.snapshot, &m, err);
    if (rc == 0) {
        char *what = util_strdupf("version %d of data asset %s", v.version, req->params[0]);
        rc = server_snapshot_reply(srv, req, m, v.created, what, out, err);
        free(what);
    }
    server_snapshot_release(srv, m);
    store_data_version_free(&v);
    return rc;
}
