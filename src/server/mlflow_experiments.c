/* mlflow_experiments.c: MLflow's experiments/get, get-by-name, create and search over amlfs experiments
 * (mlflow.set_experiment asks get-by-name, then create). A job's token sees its run's experiment only and
 * creates none. */
#include "mlflow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static int answer_experiment(const store_experiment *e, cJSON **answer)
{
    *answer = cJSON_CreateObject();
    cJSON_AddItemToObject(*answer, "experiment", mlflow_experiment_json(e));
    return 0;
}


/* The end of a lookup: the experiment found (rc 0) answered if the caller may see it; e is freed. */
static int answer_visible(mlflow_req *r, int rc, store_experiment *e, cJSON **answer, amlfs_err *err)
{
    if (rc == 0)
        rc = mlflow_may_see_experiment(r, e->name, err);
    if (rc == 0)
        answer_experiment(e, answer);
    store_experiment_free(e);
    return rc;
}
int mlflow_experiments_get(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    const char *id = NULL;
    store_experiment e;
    memset(&e, 0, sizeof e);
    int rc = mlflow_arg_string(r, "experiment_id", true, &id, err);
    if (rc == 0)
        rc = mlflow_find_experiment(r->srv, id, &e, err);
    return answer_visible(r, rc, &e, answer, err);
}

int mlflow_experiments_get_by_name(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    const char *name = NULL;
    store_experiment e;
    memset(&e, 0, sizeof e);
    int rc = mlflow_arg_string(r, "experiment_name", true, &name, err);
    if (rc == 0) {
        rc = store_experiment_get(r->srv->store, name, &e, err);
        if (rc == -ENOENT)
            rc = amlfs_fail(err, ENOENT, "Could not find experiment with name '%.300s'", name);
    }
    return answer_visible(r, rc, &e, answer, err);
}

static bool empty_member(const cJSON *args, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0]) ||
           (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0);
}

int mlflow_experiments_create(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    if (r->caller->run_id)
        return amlfs_fail(err, EACCES, "this token is run %s's: it may not create experiments", r->caller->run_id);
    const char *name = NULL;
    int rc = mlflow_arg_string(r, "name", true, &name, err);
    if (rc == 0 && !empty_member(r->args, "artifact_location"))
        rc = amlfs_fail(err, EINVAL, "artifact_location is not supported: a run's artifacts are its ./outputs");
    if (rc == 0 && !empty_member(r->args, "tags"))
        rc = amlfs_fail(err, EINVAL, "experiment tags are not supported by amlfs");
    if (rc == 0) {
        rc = experiment_create(r->srv, name, err);
        if (rc == -EEXIST)
            rc = amlfs_fail(err, EEXIST, "Experiment '%.300s' already exists.", name);
    }
    if (rc < 0)
        return rc;
    char id[17];
    mlflow_experiment_id(name, id, sizeof id);
    *answer = cJSON_CreateObject();
    cJSON_AddStringToObject(*answer, "experiment_id", id);
    return 0;
}

int mlflow_experiments_search(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    size_t skip, max;
    const char *view = NULL;
    int rc = mlflow_no_filter(r, err);
    if (rc == 0 && !empty_member(r->args, "order_by"))
        rc = amlfs_fail(err, EINVAL, "order_by is not supported by amlfs: experiments come by name");
    if (rc == 0)
        rc = mlflow_paging(r, &skip, &max, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "view_type", false, &view, err);
    store_experiment *list = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_experiment_list(r->srv->store, &list, &n, err);
    if (rc < 0)
        return rc;
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "experiments");
    bool deleted_only = view && strcmp(view, "DELETED_ONLY") == 0;
    size_t seen = 0;
    for (size_t i = 0; !deleted_only && i < n; i++) {
        amlfs_err ignored = {0};
        if (mlflow_may_see_experiment(r, list[i].name, &ignored) < 0 || seen++ < skip)
            continue;
        if ((size_t)cJSON_GetArraySize(arr) == max) {
            char token[32];
            snprintf(token, sizeof token, "%zu", skip + max);
            cJSON_AddStringToObject(out, "next_page_token", token);
            break;
        }
        cJSON_AddItemToArray(arr, mlflow_experiment_json(&list[i]));
    }
    store_experiment_list_free(list, n);
    *answer = out;
    return 0;
}
