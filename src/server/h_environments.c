/* h_environments.c: environments: list, create, get, delete, registering a version from an
 * environment.yaml (env_versions.c sets it up), a rebuild, a version read back redacted, the build log. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/env.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

static int reply_environment(server *srv, const char *name, unsigned status, http_reply *out, amlfs_err *err)
{
    store_env e;
    int r = store_env_get(srv->store, name, &e, err);
    if (r < 0)
        return r;
    reply_json(out, status, environment_json(srv, &e));
    store_env_free(&e);
    return 0;
}

int h_environments_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    store_env *list;
    size_t n;
    char *line = NULL;
    int r = store_env_list(srv->store, &list, &n, err);
    if (r < 0)
        return r;
    if ((r = store_folder_status_get(srv->store, "environments", &line, err)) < 0) {
        store_env_list_free(list, n);
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "environments");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, environment_json(srv, &list[i]));
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    store_env_list_free(list, n);
    reply_json(out, 200, o);
    return 0;
}

int h_environments_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int r = http_body_json(req, &body, err);
    if (r < 0)
        return r;
    char *name = util_xstrdup(json_str(body, "name", ""));
    cJSON_Delete(body);
    r = util_check_name("environment", name, err);
    char *files = r == 0 ? server_path(srv, "environments/%s/files", name) : NULL;
    if (r == 0)
        r = util_mkdir_p(files, 0700, err);
    if (r == 0)
        r = store_env_create(srv->store, name, util_now_ms(), err);
    free(files);
    server_folder_status(srv, "environments", r < 0 ? err : NULL);
    if (r == 0) {
        events_emitf(srv->events, "created", -1, "environments/%s", name);
        r = reply_environment(srv, name, 201, out, err);
    }
    free(name);
    return r;
}

int h_environment_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return reply_environment(srv, req->params[0], 200, out, err);
}

int h_environment_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    int r = store_env_delete(srv->store, name, err);
    /* `environments/status` tells why an rmdir was refused, as it does for mkdir. */
    server_folder_status(srv, "environments", r < 0 ? err : NULL);
    if (r < 0)
        return r;
    char *dir = server_path(srv, "environments/%s", name);
    amlfs_err why = {0};
    if (util_rm_rf(dir, &why) < 0)
        log_warning("%s", why.msg);
    free(dir);
    events_emitf(srv->events, "deleted", -1, "environments/%s", name);
    reply_empty(out, 204);
    return 0;
}

/* {"version": N, "environment": ENV}: the answer to registering or rebuilding a version. */
static int reply_version(server *srv, const char *name, const char *label, unsigned status, http_reply *out,
                         amlfs_err *err)
{
    store_env e;
    int r = store_env_get(srv->store, name, &e, err);
    if (r < 0)
        return r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "version", env_version_label_json(label));
    cJSON_AddItemToObject(o, "environment", environment_json(srv, &e));
    store_env_free(&e);
    reply_json(out, status, o);
    return 0;
}

int h_environment_add_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    store_env e;
    int r = store_env_get(srv->store, name, &e, err);
    if (r < 0)
        return r;
    store_env_free(&e);
    cJSON *body;
    if ((r = http_body_json(req, &body, err)) < 0)
        return r;
    const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
    int version = 0;
    char *label = NULL;
    if (!cJSON_IsString(yaml)) {
        r = amlfs_fail(err, EINVAL, "the body needs \"yaml\": the text of environment.yaml");
    } else {
        r = env_version_register(srv, name, yaml->valuestring, http_spec_len(body, yaml),
                                 json_str(body, "filename", "environment.yaml"), &version, &label, err);
        amlfs_err ignored = {0};
        /* A rejected file shows in the status line; a good one clears it (store_env_version_add). */
        if (r < 0 && store_env_set_rejected(srv->store, name, err->msg, util_now_ms(), &ignored) < 0)
            log_warning("%s", ignored.msg);
        events_emitf(srv->events, "changed", -1, "environments/%s", name);
    }
    cJSON_Delete(body);
    if (r == 0)
        r = reply_version(srv, name, label, 201, out, err);
    free(label);
    return r;
}

int h_environment_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0], *label = req->params[1];
    int n = 0;
    store_env_version v;
    int r = store_env_version_find(srv->store, name, label, &n, err);
    if (r == 0)
        r = store_env_version_get(srv->store, name, n, &v, err);
    if (r < 0)
        return r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "version", env_version_label_json(v.label));
    char *redacted = spec_redact_yaml(v.yaml, strlen(v.yaml));
    cJSON_AddStringToObject(o, "yaml", redacted ? redacted : "");
    free(redacted);
    cJSON *spec = cJSON_Parse(v.spec_json);
    cJSON_AddItemToObject(o, "spec", spec ? spec : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "status", v.status);
    if (v.reason)
        cJSON_AddStringToObject(o, "reason", v.reason);
    else
        cJSON_AddNullToObject(o, "reason");
    json_add_time(o, "created", v.created);
    store_env_version_free(&v);
    reply_json(out, 200, o);
    return 0;
}

int h_environment_build_log(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_env e;
    int r = store_env_get(srv->store, req->params[0], &e, err);
    if (r < 0)
        return r;
    store_env_free(&e);
    char *path = server_path(srv, "environments/%s/build.log", req->params[0]);
    r = reply_log(out, path, req, err);
    free(path);
    return r;
}

int h_environment_rebuild(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    int version = 0;
    char *label = NULL;
    int r = env_version_rebuild(srv, name, &version, &label, err);
    if (r == 0)
        r = reply_version(srv, name, label, 202, out, err);
    free(label);
    return r;
}
