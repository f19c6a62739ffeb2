/* mlflow_runs.c: MLflow's runs/create, runs/get, runs/update and runs/search over amlfs runs. A run is
 * made by submitting a job and its status follows the job: what update_run says from inside the job is
 * kept (info.json's metrics.mlflow_status, the tag mlflow.runName) and never ends the amlfs run. */
#include "mlflow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

int mlflow_runs_create(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    if (r->caller->run_id)
        return amlfs_fail(err, EACCES, "a job logs into its own run %s (MLFLOW_RUN_ID, which mlflow.start_run() "
                          "uses); its token may not create runs", r->caller->run_id);
    return amlfs_fail(err, EINVAL, "amlfs makes runs from jobs: write experiments/NAME/job.yaml; an MLflow client "
                      "in the job logs into that run (its environment has MLFLOW_RUN_ID)");
}

int mlflow_runs_get(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    store_run run;
    int rc = mlflow_load_run(r, &run, err);
    cJSON *json = NULL;
    if (rc == 0)
        rc = mlflow_run_json(r->srv, &run, &json, err);
    store_run_free(&run);
    if (rc < 0)
        return rc;
    *answer = cJSON_CreateObject();
    cJSON_AddItemToObject(*answer, "run", json);
    return 0;
}

static bool known_status(const char *s)
{
    static const char *const words[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

int mlflow_runs_update(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    store_run run;
    int rc = mlflow_load_run(r, &run, err);
    if (rc < 0)
        return rc;
    const char *status = NULL, *name = NULL;
    int64_t end = 0;
    const cJSON *end_item = cJSON_GetObjectItemCaseSensitive(r->args, "end_time");
    if ((rc = mlflow_arg_string(r, "status", false, &status, err)) == 0 && status && !known_status(status))
        rc = amlfs_fail(err, EINVAL, "Invalid value '%.60s' for parameter 'status': RUNNING, SCHEDULED, FINISHED, "
                        "FAILED or KILLED", status);
    if (rc == 0 && end_item && !cJSON_IsNull(end_item) && (metrics_json_int64(end_item, &end) < 0 || end < 0))
        rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'end_time': milliseconds since 1970 expected");
    if (rc == 0)
        rc = mlflow_arg_string(r, "run_name", false, &name, err);
    if (rc == 0 && name && strlen(name) > METRICS_TAG_VALUE_MAX)
        rc = amlfs_fail(err, EINVAL, "run_name is longer than %d characters", METRICS_TAG_VALUE_MAX);
    /* The job's word on its run is kept; the run's status stays the job's (its process ending). */
    if (rc == 0 && (status || end > 0))
        rc = store_metric_state_mlflow(r->srv->store, run.id, status, end, err);
    if (rc == 0 && name && name[0]) {
        store_kv tag = {"mlflow.runName", name};
        rc = store_run_data_add(r->srv->store, run.id, NULL, 0, NULL, 0, &tag, 1, NULL, NULL, NULL, err);
    }
    if (rc == 0) {
        events_emitf(r->srv->events, "changed", -1, "runs/%s", run.id);
        *answer = cJSON_CreateObject();
        cJSON_AddItemToObject(*answer, "run_info", mlflow_run_info_json(r->srv, &run));
    }
    store_run_free(&run);
    return rc;
}

/* The experiments of a search's experiment_ids, as names (malloc'd). */
static int searched_experiments(mlflow_req *r, char ***names, size_t *n, amlfs_err *err)
{
    *names = NULL;
    *n = 0;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(r->args, "experiment_ids");
    if (ids && cJSON_IsString(ids)) { /* one id, as a GET query carries it */
        store_experiment e;
        int rc = mlflow_find_experiment(r->srv, ids->valuestring, &e, err);
        if (rc == 0) {
            *names = util_xcalloc(1, sizeof **names);
            (*names)[(*n)++] = util_xstrdup(e.name);
        }
        store_experiment_free(&e);
        return rc == -ENOENT ? 0 : rc;
    }
    if (ids && !cJSON_IsArray(ids))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter 'experiment_ids': a list of strings is expected");
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) {
        if (!cJSON_IsString(id))
            return amlfs_fail(err, EINVAL, "Invalid value for parameter 'experiment_ids': a list of strings is expected");
        store_experiment e;
        int rc = mlflow_find_experiment(r->srv, id->valuestring, &e, err);
        if (rc == 0) {
            *names = util_xrealloc(*names, (*n + 1) * sizeof **names);
            (*names)[(*n)++] = util_xstrdup(e.name);
        }
        store_experiment_free(&e);
        if (rc < 0 && rc != -ENOENT)
            return rc;
    }
    return 0;
}

static int no_order_by(mlflow_req *r, amlfs_err *err)
{
    const cJSON *order = cJSON_GetObjectItemCaseSensitive(r->args, "order_by");
    if (order && !cJSON_IsNull(order) && !(cJSON_IsArray(order) && cJSON_GetArraySize(order) == 0))
        return amlfs_fail(err, EINVAL, "order_by is not supported by amlfs: runs come newest first");
    return 0;
}

int mlflow_runs_search(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    size_t skip, max;
    char **names = NULL;
    size_t nnames = 0;
    const char *view = NULL;
    int rc = mlflow_no_filter(r, err);
    if (rc == 0)
        rc = no_order_by(r, err);
    if (rc == 0)
        rc = mlflow_paging(r, &skip, &max, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "run_view_type", false, &view, err);
    if (rc == 0)
        rc = searched_experiments(r, &names, &nnames, err);
    cJSON *out = cJSON_CreateObject(), *runs = cJSON_AddArrayToObject(out, "runs");
    size_t seen = 0;
    bool more = false;
    bool deleted_only = view && strcmp(view, "DELETED_ONLY") == 0; /* amlfs deletes no run */
    for (size_t i = 0; rc == 0 && !deleted_only && i < nnames; i++) {
        store_run *list;
        size_t n;
        if ((rc = store_run_list(r->srv->store, names[i], &list, &n, err)) < 0)
            break;
        for (size_t k = n; rc == 0 && k-- > 0;) { /* newest first */
            const store_run *run = &list[k];
            if (!metrics_run_id_ok(run->id) || (r->caller->run_id && strcmp(run->id, r->caller->run_id) != 0))
                continue;
            if (seen++ < skip)
                continue;
            if ((size_t)cJSON_GetArraySize(runs) == max) {
                more = true;
                break;
            }
            cJSON *json;
            if ((rc = mlflow_run_json(r->srv, run, &json, err)) == 0)
                cJSON_AddItemToArray(runs, json);
        }
        store_run_list_free(list, n);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
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
