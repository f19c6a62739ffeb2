/* h_datastores.c: datastores over HTTP: list (workspaceblobstore first), create (mkdir), get (its
 * datastore.yaml with the credentials as "***"), PUT of a datastore.yaml, delete, and its files. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static int datastore_json(server *srv, const char *name, cJSON **out, amlfs_err *err)
{
    char *yaml = NULL;
    bool builtin = datastore_is_builtin(name);
    int rc = builtin ? 0 : store_datastore_get(srv->store, name, &yaml, err);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "type", builtin ? "workspace" : yaml[0] ? "azure_blob" : "");
    char *redacted = yaml ? spec_redact_yaml(yaml, strlen(yaml)) : util_xstrdup("");
    cJSON_AddStringToObject(o, "yaml", redacted);
    free(redacted);
    char *key = util_strdupf("datastores/%s", name), *rejected = NULL;
    amlfs_err ignored = {0};
    if (store_folder_status_get(srv->store, key, &rejected, &ignored) < 0)
        rejected = NULL;
    const char *line = rejected && rejected[0] ? rejected
                       : builtin               ? "the workspace's own storage"
                       : yaml[0]               ? "azure_blob"
                                               : "no datastore.yaml yet: write one (type: azure_blob)";
    cJSON_AddStringToObject(o, "status_line", line);
    free(rejected);
    free(key);
    if (yaml)
        explicit_bzero(yaml, strlen(yaml));
    free(yaml);
    *out = o;
    return 0;
}

int h_datastores_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    char **names = NULL;
    size_t n = 0;
    int rc = store_datastore_names(srv->store, &names, &n, err);
    return reply_name_list(srv, "datastores", "workspaceblobstore", names, n, rc, out, err);
}

int h_datastores_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const char *name = json_str(body, "name", "");
    rc = util_check_name("datastore", name, err);
    if (rc == 0 && datastore_is_builtin(name))
        rc = amlfs_fail(err, EEXIST, "%s exists already: the workspace's own storage", name);
    char *existing = NULL;
    if (rc == 0 && store_datastore_get(srv->store, name, &existing, NULL) == 0)
        rc = amlfs_fail(err, EEXIST, "datastore '%s' exists already", name);
    free(existing);
    /* A new datastore is a name and an empty datastore.yaml until one is written. */
    if (rc == 0)
        rc = store_datastore_put(srv->store, name, "", util_now_ms(), err);
    server_folder_status(srv, "datastores", rc < 0 ? err : NULL);
    cJSON *o = NULL;
    if (rc == 0) {
        events_emitf(srv->events, "created", -1, "datastores/%s", name);
        rc = datastore_json(srv, name, &o, err);
    }
    cJSON_Delete(body);
    if (rc == 0)
        reply_json(out, 201, o);
    return rc;
}

int h_datastore_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *o;
    int rc = datastore_json(srv, req->params[0], &o, err);
    if (rc == 0)
        reply_json(out, 200, o);
    return rc;
}

int h_datastore_put(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
    char *existing = NULL;
    if (!cJSON_IsString(yaml))
        rc = amlfs_fail(err, EINVAL, "the body needs \"yaml\": the text of datastore.yaml");
    else if (!datastore_is_builtin(req->params[0]) && (rc = store_datastore_get(srv->store, req->params[0], &existing, err)) == 0)
        rc = datastore_put(srv, req->params[0], yaml->valuestring, http_spec_len(body, yaml),
                           json_str(body, "filename", "datastore.yaml"), err);
    else if (datastore_is_builtin(req->params[0]))
        rc = amlfs_fail(err, EPERM, "workspaceblobstore is the workspace's own storage and has no datastore.yaml");
    free(existing);
    cJSON_Delete(body);
    cJSON *o = NULL;
    if (rc == 0)
        rc = datastore_json(srv, req->params[0], &o, err);
    if (rc == 0)
        reply_json(out, 200, o);
    return rc;
}

int h_datastore_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    int rc = datastore_is_builtin(name) ? amlfs_fail(err, EPERM, "workspaceblobstore is the workspace's own storage "
                                                     "and cannot be removed")
                                        : store_datastore_delete(srv->store, name, err);
    server_folder_status(srv, "datastores", rc < 0 ? err : NULL);
    if (rc < 0)
        return rc;
    char *key = util_strdupf("datastores/%s", name);
    amlfs_err ignored = {0};
    store_folder_status_set(srv->store, key, "", &ignored);
    free(key);
    events_emitf(srv->events, "deleted", -1, "datastores/%s", name);
    reply_empty(out, 204);
    return 0;
}

int h_datastore_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return datastore_files_reply(srv, req->params[0], req, out, err);
}
