/* mlflow_dispatch.c: MLflow's tracking REST API as MLflow's clients call it (mlflow/store/tracking/
 * rest_store.py): which endpoint answers which METHOD /api/2.0/mlflow/PATH, the arguments (a GET's query,
 * a POST's JSON body), who may call, and errors in MLflow's {"error_code", "message"} shape. */
#include "mlflow_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* MLflow refuses a batch request over 1 MB (MAX_BATCH_LOG_REQUEST_SIZE); no request here needs more. */
#define BODY_MAX 1000000

static const char *const prefixes[] = {"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"};

typedef struct endpoint {
    const char *method, *path;
    mlflow_handler handler;
} endpoint;

static const endpoint endpoints[] = {
    {"POST", "runs/create", mlflow_runs_create},
    {"GET", "runs/get", mlflow_runs_get},
    {"POST", "runs/update", mlflow_runs_update},
    {"POST", "runs/search", mlflow_runs_search},
    {"POST", "runs/log-metric", mlflow_runs_log_metric},
    {"POST", "runs/log-batch", mlflow_runs_log_batch},
    {"POST", "runs/log-parameter", mlflow_runs_log_param},
    {"POST", "runs/set-tag", mlflow_runs_set_tag},
    {"POST", "runs/delete-tag", mlflow_runs_delete_tag},
    {"POST", "runs/log-model", mlflow_runs_log_model},
    {"POST", "runs/log-inputs", mlflow_runs_log_inputs},
    {"GET", "metrics/get-history", mlflow_metrics_history},
    {"GET", "experiments/get", mlflow_experiments_get},
    {"GET", "experiments/get-by-name", mlflow_experiments_get_by_name},
    {"POST", "experiments/create", mlflow_experiments_create},
    {"POST", "experiments/search", mlflow_experiments_search},
    {"GET", "experiments/search", mlflow_experiments_search},
    /* MLflow 3's logged models; a :NAME segment is an argument (the last one takes the rest of the path). */
    {"POST", "logged-models", mlflow_models_create},
    {"POST", "logged-models/search", mlflow_models_search},
    {"GET", "logged-models/:model_id", mlflow_models_get},
    {"PATCH", "logged-models/:model_id", mlflow_models_finalize},
    {"PATCH", "logged-models/:model_id/tags", mlflow_models_set_tags},
    {"DELETE", "logged-models/:model_id/tags/:tag_key", mlflow_models_delete_tag},
    {"POST", "logged-models/:model_id/params", mlflow_models_log_params},
    {"POST", "runs/outputs", mlflow_runs_log_outputs},
};

/* Whether url (after the prefix) is pattern; its :NAME segments' values are added to args (when given). */
static bool path_matches(const char *pattern, const char *url, cJSON *args)
{
    while (*pattern) {
        if (*pattern == ':') {
            const char *name_end = strchr(pattern, '/');
            size_t name_len = name_end ? (size_t)(name_end - pattern - 1) : strlen(pattern + 1);
            size_t value_len = name_end ? strcspn(url, "/") : strlen(url);
            if (value_len == 0)
                return false;
            if (args) {
                char name[32];
                snprintf(name, sizeof name, "%.*s", (int)name_len, pattern + 1);
                char *value = util_strdupf("%.*s", (int)value_len, url);
                cJSON_DeleteItemFromObjectCaseSensitive(args, name);
                cJSON_AddStringToObject(args, name, value);
                free(value);
            }
            pattern += name_len + 1;
            url += value_len;
            continue;
        }
        if (*pattern != *url)
            return false;
        pattern++;
        url++;
    }
    return *url == '\0';
}

bool mlflow_path(const char *url)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(url, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static const char *endpoint_path(const char *url)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(url, prefixes[i], strlen(prefixes[i])) == 0)
            return url + strlen(prefixes[i]);
    return url;
}

static void reply_mlflow_error(http_reply *out, unsigned status, const char *code, const char *message)
{
    char text[sizeof ((amlfs_err *)NULL)->msg];
    snprintf(text, sizeof text, "%s", message);
    util_utf8_sanitize(text); /* a value cut short in the message must not make the JSON invalid */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error_code", code);
    cJSON_AddStringToObject(o, "message", text);
    reply_json(out, status, o);
}

static void reply_errno(http_reply *out, const amlfs_err *err)
{
    static const struct {
        int errnum;
        unsigned status;
        const char *code;
    } map[] = {
        {EINVAL, 400, "INVALID_PARAMETER_VALUE"}, {EFBIG, 400, "INVALID_PARAMETER_VALUE"},
        {EBADMSG, 400, "BAD_REQUEST"}, {ENOENT, 404, "RESOURCE_DOES_NOT_EXIST"},
        {EEXIST, 400, "RESOURCE_ALREADY_EXISTS"}, {EACCES, 403, "PERMISSION_DENIED"},
        {EPERM, 403, "PERMISSION_DENIED"}, {ENOSYS, 404, "ENDPOINT_NOT_FOUND"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (map[i].errnum == err->code) {
            reply_mlflow_error(out, map[i].status, map[i].code, err->msg);
            return;
        }
    }
    reply_mlflow_error(out, 500, "INTERNAL_ERROR", err->msg[0] ? err->msg : "the server failed");
}

/* A GET's query as a JSON object of strings (a key given again becomes an array, as `requests` sends
 * lists). */
static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    cJSON *o = cls;
    if (!key)
        return MHD_YES;
    if (!util_utf8_valid(key, strlen(key)) || (value && !util_utf8_valid(value, strlen(value)))) {
        cJSON_AddTrueToObject(o, "\x01not-utf8"); /* read_args refuses the request */
        return MHD_YES;
    }
    cJSON *v = cJSON_CreateString(value ? value : "");
    cJSON *had = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!had) {
        cJSON_AddItemToObject(o, key, v);
    } else if (cJSON_IsArray(had)) {
        cJSON_AddItemToArray(had, v);
    } else {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(had, true));
        cJSON_AddItemToArray(arr, v);
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, arr);
    }
    return MHD_YES;
}

static int read_args(const http_request *req, cJSON **args, amlfs_err *err)
{
    if (strcmp(req->method, "GET") == 0) {
        *args = cJSON_CreateObject();
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_query, *args);
        if (cJSON_GetObjectItemCaseSensitive(*args, "\x01not-utf8")) {
            cJSON_Delete(*args);
            *args = NULL;
            return amlfs_fail(err, EBADMSG, "the query is not UTF-8");
        }
        return 0;
    }
    if (req->body_len > BODY_MAX)
        return amlfs_fail(err, EINVAL, "requests must be at most %d bytes (MLflow's limit), got %zu", BODY_MAX,
                          req->body_len);
    if (!req->body || req->body_len == 0) {
        *args = cJSON_CreateObject();
        return 0;
    }
    /* MLflow's server reads JSON as UTF-8; cJSON would pass other bytes on into every answer. */
    if (!util_utf8_valid(req->body, req->body_len))
        return amlfs_fail(err, EBADMSG, "the request body is not UTF-8");
    size_t nul = http_json_nul_at(req->body, req->body_len);
    if (nul != SIZE_MAX)
        return amlfs_fail(err, EINVAL, "the request body holds a NUL character (\\u0000, at byte %zu): MLflow's "
                          "names and values cannot hold one", nul);
    *args = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(*args)) {
        cJSON_Delete(*args);
        *args = NULL;
        return amlfs_fail(err, EBADMSG, "the request body is not a JSON object");
    }
    return 0;
}

void mlflow_dispatch(server *srv, const http_request *req, http_reply *out)
{
    const http_caller *caller = req->caller;
    if (!caller || !caller->known) {
        reply_mlflow_error(out, 401, "UNAUTHENTICATED",
                           "this address needs `Authorization: Bearer TOKEN`: a job's MLFLOW_TRACKING_TOKEN (its "
                           "environment has it), or the server's token file");
        MHD_add_response_header(out->response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return;
    }
    const char *path = endpoint_path(req->url);
    const endpoint *found = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        if (!path_matches(endpoints[i].path, path, NULL))
            continue;
        path_known = true;
        if (strcmp(endpoints[i].method, req->method) == 0)
            found = &endpoints[i];
    }
    amlfs_err err = {0};
    if (!found) {
        char msg[600];
        snprintf(msg, sizeof msg, path_known ? "%s is not a method of %s" : "%s %s is not an MLflow endpoint amlfs "
                 "serves (see docs/api.md \"MLflow\")", req->method, req->url);
        reply_mlflow_error(out, path_known ? 405 : 404, path_known ? "BAD_REQUEST" : "ENDPOINT_NOT_FOUND", msg);
        return;
    }
    mlflow_req r = {.srv = srv, .caller = caller};
    cJSON *answer = NULL;
    int rc = read_args(req, &r.args, &err);
    if (rc == 0 && !util_utf8_valid(path, strlen(path)))
        rc = amlfs_fail(&err, EBADMSG, "the path is not UTF-8");
    if (rc == 0) {
        path_matches(found->path, path, r.args); /* MLflow takes a path's arguments over the body's */
        rc = found->handler(&r, &answer, &err);
    }
    cJSON_Delete(r.args);
    if (rc < 0) {
        cJSON_Delete(answer);
        reply_errno(out, &err);
        return;
    }
    reply_json(out, 200, answer ? answer : cJSON_CreateObject());
}

int mlflow_arg_string(mlflow_req *r, const char *key, bool required, const char **out, amlfs_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return amlfs_fail(err, EINVAL, "Missing value for required parameter '%s'", key);
        return 0;
    }
    if (!cJSON_IsString(v))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter '%s': a string is expected", key);
    *out = v->valuestring;
    return 0;
}

int mlflow_may_act(mlflow_req *r, const char *id, amlfs_err *err)
{
    const char *own = r->caller->run_id;
    if (!own || strcmp(own, id) == 0)
        return 0;
    /* Up the parents: nesting is at most STORE_RUN_DEPTH_MAX deep, so this ends even on a broken chain. */
    char *at = util_xstrdup(id);
    int rc = -EACCES;
    for (int i = 0; i <= STORE_RUN_DEPTH_MAX && at; i++) {
        char *parent = NULL;
        int depth;
        if ((rc = store_run_parent_get(r->srv->store, at, &parent, &depth, err)) < 0)
            break;
        rc = -EACCES;
        free(at);
        at = parent;
        if (at && strcmp(at, own) == 0) {
            rc = 0;
            break;
        }
    }
    free(at);
    if (rc == -EACCES)
        rc = amlfs_fail(err, EACCES, "this token is run %s's: it may read or change that run and the runs nested "
                        "in it, not run %.300s", own, id);
    return rc;
}

int mlflow_load_run(mlflow_req *r, store_run *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    const char *id = NULL;
    int rc = mlflow_arg_string(r, "run_id", false, &id, err);
    if (rc == 0 && !id)
        rc = mlflow_arg_string(r, "run_uuid", false, &id, err);
    if (rc < 0)
        return rc;
    if (!id || !id[0])
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'run_id'");
    if (!metrics_run_id_ok(id))
        return amlfs_fail(err, ENOENT, "Run '%.300s' not found: not a run id MLflow accepts (runs made before amlfs "
                          "gave MLflow-valid ids are in the mount only)", id);
    if ((rc = mlflow_may_act(r, id, err)) < 0)
        return rc;
    rc = store_run_get(r->srv->store, id, out, err);
    if (rc == -ENOENT)
        return amlfs_fail(err, ENOENT, "Run '%s' not found", id);
    return rc;
}

int mlflow_paging(mlflow_req *r, size_t *skip, size_t *max, amlfs_err *err)
{
    *skip = 0;
    *max = 1000;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->args, "max_results");
    int64_t n;
    if (m && !cJSON_IsNull(m)) {
        if (metrics_json_int64(m, &n) < 0 || n < 1 || n > 50000)
            return amlfs_fail(err, EINVAL, "Invalid value for request parameter max_results: a whole number from 1 "
                              "to 50000 is expected");
        *max = (size_t)n;
    }
    const char *token = NULL;
    int rc = mlflow_arg_string(r, "page_token", false, &token, err);
    if (rc < 0 || !token || !token[0])
        return rc;
    cJSON *t = cJSON_CreateString(token);
    rc = metrics_json_int64(t, &n);
    cJSON_Delete(t);
    if (rc < 0 || n < 0)
        return amlfs_fail(err, EINVAL, "Invalid page_token '%.100s': give back the next_page_token of the last answer",
                          token);
    *skip = (size_t)n;
    return 0;
}

int mlflow_no_filter(mlflow_req *r, amlfs_err *err)
{
    const char *filter = NULL;
    int rc = mlflow_arg_string(r, "filter", false, &filter, err);
    if (rc == 0 && filter && filter[strspn(filter, " \t")] != '\0')
        rc = amlfs_fail(err, EINVAL, "search filters are not supported by amlfs (filter '%.200s'): search without "
                        "one and select on the client, or read experiments/NAME/ in the mount", filter);
    return rc;
}
