/* mlflow_models.c: MLflow 3's logged models as mlflow.<flavor>.log_model uses them (create, files written to
 * the model's artifact_uri, finalize, runs/outputs), with get, search, tags and parameters. A model's files
 * are kept in its run's outputs (outputs/models/MODEL_ID), so a model is created from a run. */
#include "mlflow_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "amlfs/util.h"

#define MODEL_KV_MAX 100 /* tags or parameters a request, as MLflow's batches */
#define MODEL_NAME_MAX 250

static const char *const statuses[] = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"};

static cJSON *pairs_json(const store_pair *p, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", p[i].key);
        cJSON_AddStringToObject(o, "value", p[i].value);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* {"info": LoggedModelInfo, "data": {"params", "metrics"}} of service.proto. */
static cJSON *model_json(server *srv, const store_logged_model *m)
{
    cJSON *o = cJSON_CreateObject(), *info = cJSON_AddObjectToObject(o, "info");
    char exp_id[17];
    mlflow_experiment_id(m->experiment, exp_id, sizeof exp_id);
    cJSON_AddStringToObject(info, "model_id", m->id);
    cJSON_AddStringToObject(info, "experiment_id", exp_id);
    cJSON_AddStringToObject(info, "name", m->name);
    cJSON_AddNumberToObject(info, "creation_timestamp_ms", (double)m->created);
    cJSON_AddNumberToObject(info, "last_updated_timestamp_ms", (double)m->updated);
    if (m->run) {
        char *base = mlflow_artifact_uri(srv, m->run);
        char *uri = util_strdupf("%s/models/%s", base, m->id);
        cJSON_AddStringToObject(info, "artifact_uri", uri);
        cJSON_AddStringToObject(info, "source_run_id", m->run);
        free(uri);
        free(base);
    }
    cJSON_AddStringToObject(info, "status", m->status);
    if (m->model_type)
        cJSON_AddStringToObject(info, "model_type", m->model_type);
    cJSON_AddItemToObject(info, "tags", pairs_json(m->tags, m->ntags));
    cJSON *data = cJSON_AddObjectToObject(o, "data");
    cJSON_AddItemToObject(data, "params", pairs_json(m->params, m->nparams));
    cJSON_AddArrayToObject(data, "metrics");
    return o;
}

/* The model the request names (model_id, from the path), if the caller may act on its run. */
static int load_model(mlflow_req *r, store_logged_model *m, amlfs_err *err)
{
    memset(m, 0, sizeof *m);
    const char *id = NULL;
    int rc = mlflow_arg_string(r, "model_id", true, &id, err);
    if (rc == 0)
        rc = store_logged_model_get(r->srv->store, id, m, err);
    if (rc == 0 && r->caller->run_id && (!m->run || mlflow_may_act(r, m->run, err) < 0))
        rc = amlfs_fail(err, EACCES, "this token is run %s's: model %s is not of its run", r->caller->run_id, id);
    if (rc < 0)
        store_logged_model_free(m);
    return rc;
}

static int answer_model(mlflow_req *r, const char *id, cJSON **answer, amlfs_err *err)
{
    store_logged_model m;
    int rc = store_logged_model_get(r->srv->store, id, &m, err);
    if (rc == 0) {
        *answer = cJSON_CreateObject();
        cJSON_AddItemToObject(*answer, "model", model_json(r->srv, &m));
    }
    store_logged_model_free(&m);
    return rc;
}

/* A list of {"key", "value"} (tags or params), at most MODEL_KV_MAX; *kv points into the request. */
static int take_pairs(mlflow_req *r, const char *member, const char *kind, size_t max_value, store_kv **kv,
                      size_t *n, amlfs_err *err)
{
    *kv = NULL;
    *n = 0;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->args, member);
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > MODEL_KV_MAX)
        return amlfs_fail(err, EINVAL, "Invalid value for parameter '%s': a list of at most %d {\"key\", \"value\"}",
                          member, MODEL_KV_MAX);
    *kv = util_xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof **kv);
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        int rc = mlflow_take_pair(item, kind, max_value, &(*kv)[*n], err);
        if (rc < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

int mlflow_models_create(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    const char *exp_id = NULL, *name = NULL, *type = NULL, *run_id = NULL;
    store_experiment e;
    memset(&e, 0, sizeof e);
    store_run run;
    memset(&run, 0, sizeof run);
    store_kv *tags = NULL, *params = NULL;
    size_t ntags = 0, nparams = 0;
    int rc = mlflow_arg_string(r, "experiment_id", true, &exp_id, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "name", false, &name, err);
    if (rc == 0 && name && (strlen(name) > MODEL_NAME_MAX || strpbrk(name, "/:%\"'")))
        rc = amlfs_fail(err, EINVAL, "Invalid model name '%.100s': at most %d characters, none of / : %% \" '", name,
                        MODEL_NAME_MAX);
    if (rc == 0 && (rc = mlflow_arg_string(r, "model_type", false, &type, err)) == 0 && type &&
        strlen(type) > METRICS_KEY_MAX)
        rc = amlfs_fail(err, EINVAL, "model_type is longer than %d characters", METRICS_KEY_MAX);
    if (rc == 0 && (rc = mlflow_arg_string(r, "source_run_id", false, &run_id, err)) == 0 && (!run_id || !run_id[0]))
        rc = amlfs_fail(err, EINVAL, "amlfs keeps a model's files in its run's outputs: log the model inside a run "
                        "(mlflow.start_run()), so that source_run_id names it");
    if (rc == 0)
        rc = mlflow_find_experiment(r->srv, exp_id, &e, err);
    if (rc == 0)
        rc = mlflow_may_see_experiment(r, e.name, err);
    if (rc == 0 && (rc = mlflow_may_act(r, run_id, err)) == 0 &&
        (rc = store_run_get(r->srv->store, run_id, &run, err)) == -ENOENT)
        rc = amlfs_fail(err, ENOENT, "Run '%.300s' not found", run_id);
    if (rc == 0 && strcmp(run.experiment, e.name) != 0)
        rc = amlfs_fail(err, EINVAL, "run %s is in experiment '%s', not in '%s'", run.id, run.experiment, e.name);
    if (rc == 0)
        rc = take_pairs(r, "tags", "tag", METRICS_TAG_VALUE_MAX, &tags, &ntags, err);
    if (rc == 0)
        rc = take_pairs(r, "params", "param", METRICS_PARAM_VALUE_MAX, &params, &nparams, err);
    unsigned char rnd[16];
    if (rc == 0 && getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rc = amlfs_fail(err, EIO, "getrandom: %s", strerror(errno));
    char id[2 + 2 * sizeof rnd + 1] = "m-";
    for (size_t i = 0; rc == 0 && i < sizeof rnd; i++)
        snprintf(id + 2 + 2 * i, 3, "%02x", rnd[i]);
    if (rc == 0) {
        int64_t now = util_now_ms();
        store_logged_model m = {.id = id, .experiment = e.name, .run = run.id, .name = (char *)(name && name[0] ? name : id),
                                .model_type = (char *)type, .status = (char *)statuses[0], .created = now, .updated = now};
        rc = store_logged_model_create(r->srv->store, &m, tags, ntags, params, nparams, err);
    }
    if (rc == 0) {
        events_emitf(r->srv->events, "changed", -1, "runs/%s", run.id);
        rc = answer_model(r, id, answer, err);
    }
    free(tags);
    free(params);
    store_run_free(&run);
    store_experiment_free(&e);
    return rc;
}

int mlflow_models_get(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    store_logged_model m;
    int rc = load_model(r, &m, err);
    if (rc == 0) {
        *answer = cJSON_CreateObject();
        cJSON_AddItemToObject(*answer, "model", model_json(r->srv, &m));
    }
    store_logged_model_free(&m);
    return rc;
}

int mlflow_models_finalize(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    store_logged_model m;
    const char *status = NULL;
    int rc = load_model(r, &m, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "status", true, &status, err);
    bool known = false;
    for (size_t i = 0; rc == 0 && i < sizeof statuses / sizeof statuses[0]; i++)
        known = known || strcmp(status, statuses[i]) == 0;
    if (rc == 0 && !known)
        rc = amlfs_fail(err, EINVAL, "Invalid value '%.60s' for parameter 'status': LOGGED_MODEL_PENDING, "
                        "LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED", status);
    if (rc == 0)
        rc = store_logged_model_set_status(r->srv->store, m.id, status, util_now_ms(), err);
    if (rc == 0)
        rc = answer_model(r, m.id, answer, err);
    store_logged_model_free(&m);
    return rc;
}

static int add_pairs(mlflow_req *r, const char *member, const char *kind, char store_kind, size_t max_value,
                     amlfs_err *err)
{
    store_logged_model m;
    store_kv *kv = NULL;
    size_t n = 0;
    int rc = load_model(r, &m, err);
    if (rc == 0)
        rc = take_pairs(r, member, kind, max_value, &kv, &n, err);
    if (rc == 0)
        rc = store_logged_model_kv_add(r->srv->store, m.id, store_kind, kv, n, util_now_ms(), err);
    free(kv);
    store_logged_model_free(&m);
    return rc;
}

int mlflow_models_set_tags(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    return add_pairs(r, "tags", "tag", 't', METRICS_TAG_VALUE_MAX, err);
}

int mlflow_models_log_params(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    return add_pairs(r, "params", "param", 'p', METRICS_PARAM_VALUE_MAX, err);
}

int mlflow_models_delete_tag(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_logged_model m;
    const char *key = NULL;
    int rc = load_model(r, &m, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "tag_key", true, &key, err);
    if (rc == 0)
        rc = store_logged_model_tag_delete(r->srv->store, m.id, key, err);
    store_logged_model_free(&m);
    return rc;
}

int mlflow_models_search(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    size_t skip, max;
    int rc = mlflow_no_filter(r, err);
    const cJSON *order = cJSON_GetObjectItemCaseSensitive(r->args, "order_by");
    if (rc == 0 && order && !cJSON_IsNull(order) && !(cJSON_IsArray(order) && cJSON_GetArraySize(order) == 0))
        rc = amlfs_fail(err, EINVAL, "order_by is not supported by amlfs: models come oldest first");
    if (rc == 0)
        rc = mlflow_paging(r, &skip, &max, err);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(r->args, "experiment_ids");
    if (rc == 0 && (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0))
        rc = amlfs_fail(err, EINVAL, "Missing value for required parameter 'experiment_ids' (a list of ids)");
    if (rc < 0)
        return rc;
    cJSON *out = cJSON_CreateObject(), *models = cJSON_AddArrayToObject(out, "models");
    size_t seen = 0;
    bool more = false;
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) {
        if (rc < 0 || more)
            break;
        store_experiment e;
        amlfs_err hidden = {0};
        if (!cJSON_IsString(id)) {
            rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'experiment_ids': a list of strings is expected");
            break;
        }
        if (mlflow_find_experiment(r->srv, id->valuestring, &e, &hidden) < 0 ||
            mlflow_may_see_experiment(r, e.name, &hidden) < 0) {
            store_experiment_free(&e);
            continue;
        }
        store_logged_model *list = NULL;
        size_t n = 0;
        rc = store_logged_model_list(r->srv->store, e.name, &list, &n, err);
        store_experiment_free(&e);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (r->caller->run_id && (!list[i].run || mlflow_may_act(r, list[i].run, &hidden) < 0))
                continue;
            if (seen++ < skip)
                continue;
            if ((size_t)cJSON_GetArraySize(models) == max) {
                more = true;
                break;
            }
            store_logged_model full;
            if ((rc = store_logged_model_get(r->srv->store, list[i].id, &full, err)) == 0)
                cJSON_AddItemToArray(models, model_json(r->srv, &full));
            store_logged_model_free(&full);
        }
        store_logged_model_list_free(list, n);
    }
    if (rc < 0) {
        cJSON_Delete(out);
        return rc;
    }
    if (more) {
        char token[32];
        snprintf(token, sizeof token, "%zu", skip + max);
        cJSON_AddStringToObject(out, "next_page_token", token);
    }
    *answer = out;
    return 0;
}

int mlflow_runs_log_outputs(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    int rc = mlflow_load_run(r, &run, err);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(r->args, "models");
    if (rc == 0 && models && !cJSON_IsNull(models) &&
        (!cJSON_IsArray(models) || cJSON_GetArraySize(models) > MODEL_KV_MAX))
        rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'models': a list of at most %d {\"model_id\", "
                        "\"step\"}", MODEL_KV_MAX);
    const cJSON *item;
    /* Checked whole before any is kept. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        cJSON_ArrayForEach(item, models) {
            const cJSON *mid = cJSON_GetObjectItemCaseSensitive(item, "model_id");
            const cJSON *step = cJSON_GetObjectItemCaseSensitive(item, "step");
            int64_t s = 0;
            if (!cJSON_IsString(mid)) {
                rc = amlfs_fail(err, EINVAL, "Missing value for required parameter 'model_id' of an output");
                break;
            }
            if (step && !cJSON_IsNull(step) && metrics_json_int64(step, &s) < 0) {
                rc = amlfs_fail(err, EINVAL, "Invalid step of output %.100s: a whole number is expected",
                                mid->valuestring);
                break;
            }
            if (pass == 0) {
                store_logged_model m;
                rc = store_logged_model_get(r->srv->store, mid->valuestring, &m, err);
                if (rc == 0 && (!m.run || strcmp(m.run, run.id) != 0))
                    rc = amlfs_fail(err, EINVAL, "model %s was not logged from run %s", m.id, run.id);
                store_logged_model_free(&m);
            } else {
                rc = store_run_output_add(r->srv->store, run.id, mid->valuestring, s, err);
            }
            if (rc < 0)
                break;
        }
    }
    if (rc == 0)
        events_emitf(r->srv->events, "changed", -1, "runs/%s", run.id);
    store_run_free(&run);
    return rc;
}

cJSON *mlflow_outputs_json(server *srv, const char *run_id)
{
    cJSON *outputs = cJSON_CreateObject();
    store_pair *list = NULL;
    size_t n = 0;
    amlfs_err err = {0};
    if (store_run_outputs(srv->store, run_id, &list, &n, &err) == 0 && n > 0) {
        cJSON *arr = cJSON_AddArrayToObject(outputs, "model_outputs");
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model_id", list[i].key);
            cJSON_AddNumberToObject(o, "step", strtod(list[i].value, NULL));
            cJSON_AddItemToArray(arr, o);
        }
    }
    store_pairs_free(list, n);
    return outputs;
}
