/* h_experiments.c: experiments: list, create, get, delete, and submitting a run (the work of which
 * is in submit.c). */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

int h_experiments_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    store_experiment *list;
    size_t n;
    char *line = NULL;
    int r = store_experiment_list(srv->store, &list, &n, err);
    if (r < 0)
        return r;
    if ((r = store_folder_status_get(srv->store, "experiments", &line, err)) < 0) {
        store_experiment_list_free(list, n);
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "experiments");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, experiment_json(srv, &list[i]));
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    store_experiment_list_free(list, n);
    reply_json(out, 200, o);
    return 0;
}

int experiment_create(server *srv, const char *name, amlfs_err *err)
{
    int r = util_check_name("experiment", name, err);
    char *files = r == 0 ? server_path(srv, "experiments/%s/files", name) : NULL;
    if (r == 0)
        r = util_mkdir_p(files, 0700, err);
    if (r == 0)
        r = store_experiment_create(srv->store, name, util_now_ms(), err);
    free(files);
    server_folder_status(srv, "experiments", r < 0 ? err : NULL);
    if (r == 0)
        events_emitf(srv->events, "created", -1, "experiments/%s", name);
    return r;
}

int h_experiments_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int r = http_body_json(req, &body, err);
    if (r < 0)
        return r;
    const char *name = json_str(body, "name", "");
    r = experiment_create(srv, name, err);
    store_experiment e;
    if (r == 0)
        r = store_experiment_get(srv->store, name, &e, err);
    cJSON_Delete(body);
    if (r < 0)
        return r;
    reply_json(out, 201, experiment_json(srv, &e));
    store_experiment_free(&e);
    return 0;
}

int h_experiment_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_experiment e;
    int r = store_experiment_get(srv->store, req->params[0], &e, err);
    if (r < 0)
        return r;
    reply_json(out, 200, experiment_json(srv, &e));
    store_experiment_free(&e);
    return 0;
}

int h_experiment_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    store_experiment e;
    int r = store_experiment_get(srv->store, name, &e, err);
    if (r < 0)
        return r;
    store_experiment_free(&e);
    char *files = server_path(srv, "experiments/%s/files", name);
    r = folder_is_empty(files, err);
    free(files);
    if (r == 0)
        r = amlfs_fail(err, ENOTEMPTY, "experiment '%s' still holds files; remove them first", name);
    else if (r > 0)
        r = store_experiment_delete(srv->store, name, err);
    /* `experiments/status` tells why an rmdir was refused, as it does for mkdir. */
    server_folder_status(srv, "experiments", r < 0 ? err : NULL);
    if (r < 0)
        return r;
    char *dir = server_path(srv, "experiments/%s", name);
    amlfs_err why = {0};
    if (util_rm_rf(dir, &why) < 0)
        log_warning("%s", why.msg);
    free(dir);
    events_emitf(srv->events, "deleted", -1, "experiments/%s", name);
    reply_empty(out, 204);
    return 0;
}

int h_experiment_submit(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int r = http_body_json(req, &body, err);
    if (r < 0)
        return r;
    const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
    const cJSON *code_error = cJSON_GetObjectItemCaseSensitive(body, "code_error");
    char *id = NULL;
    /* An absolute code: folder: the snapshot the client uploaded, or why it could not make one. */
    submit_code code = {
        .snapshot = json_str(body, "snapshot", NULL),
        .input_snapshots = cJSON_GetObjectItemCaseSensitive(body, "input_snapshots"),
        .input_errors = cJSON_GetObjectItemCaseSensitive(body, "input_errors"),
    };
    if (cJSON_IsObject(code_error)) {
        code.error_errno = api_errno_from_name(json_str(code_error, "errno", "EINVAL"));
        code.error_message = json_str(code_error, "message", "");
    }
    if (!cJSON_IsString(yaml))
        r = amlfs_fail(err, EINVAL, "the body needs \"yaml\": the text of the job file");
    else if (code_error && !cJSON_IsNull(code_error) && !cJSON_IsObject(code_error))
        r = amlfs_fail(err, EINVAL, "\"code_error\" must be {\"errno\": NAME, \"message\": TEXT}");
    else
        r = run_submit_code(srv, req->params[0], yaml->valuestring, http_spec_len(body, yaml),
                            json_str(body, "filename", "job.yaml"), json_str(body, "dir", ""), &code, &id, err);
    cJSON_Delete(body);
    store_run run;
    if (r == 0)
        r = store_run_get(srv->store, id, &run, err);
    free(id);
    if (r < 0)
        return r;
    reply_json(out, 201, run_json(srv, &run, false));
    store_run_free(&run);
    return 0;
}
