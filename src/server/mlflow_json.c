/* mlflow_json.c: amlfs's runs and experiments as MLflow's objects (Run, RunInfo, RunData, Experiment of
 * mlflow/protos/service.proto): an experiment's id (a hash of its name), a run's status in MLflow's words,
 * its last metric values, parameters and tags. */
#include "mlflow_internal.h"

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "amlfs/util.h"

void mlflow_experiment_id(const char *name, char *buf, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)name, strlen(name), md);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(buf, len, "%s", hex);
}

int mlflow_find_experiment(server *srv, const char *id, store_experiment *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    if (strcmp(id, "0") == 0) /* the experiment MLflow's clients fall back to when none is set */
        return amlfs_fail(err, ENOENT, "No Experiment with id=0: that is MLflow's Default experiment, which amlfs does "
                          "not have; set MLFLOW_EXPERIMENT_NAME=NAME (or call mlflow.set_experiment(\"NAME\"))");
    store_experiment *list;
    size_t n;
    int rc = store_experiment_list(srv->store, &list, &n, err);
    if (rc < 0)
        return rc;
    rc = amlfs_fail(err, ENOENT, "No Experiment with id=%.100s exists", id);
    for (size_t i = 0; i < n; i++) {
        char mine[17];
        mlflow_experiment_id(list[i].name, mine, sizeof mine);
        if (strcmp(mine, id) == 0) {
            *out = list[i];
            memset(&list[i], 0, sizeof list[i]);
            rc = 0;
            break;
        }
    }
    store_experiment_list_free(list, n);
    return rc;
}

int mlflow_may_see_experiment(mlflow_req *r, const char *name, amlfs_err *err)
{
    if (!r->caller->run_id)
        return 0;
    store_run run;
    int rc = store_run_get(r->srv->store, r->caller->run_id, &run, err);
    if (rc == 0 && strcmp(run.experiment, name) != 0)
        rc = amlfs_fail(err, EACCES, "this token is run %s's: it may see experiment '%s' only", run.id, run.experiment);
    store_run_free(&run);
    return rc;
}

const char *mlflow_run_status(run_status s)
{
    switch (s) {
    case RUN_NOT_STARTED:
    case RUN_QUEUED:
    case RUN_PREPARING:
        return "SCHEDULED";
    case RUN_RUNNING:
    case RUN_FINALIZING:
    case RUN_CANCEL_REQUESTED:
        return "RUNNING";
    case RUN_COMPLETED:
        return "FINISHED";
    case RUN_CANCELED:
        return "KILLED";
    default:
        return "FAILED";
    }
}

/* The server's user: MLflow's user_id. */
static void user_name(char *buf, size_t len)
{
    struct passwd pw, *found = NULL;
    char scratch[1024];
    if (getpwuid_r(getuid(), &pw, scratch, sizeof scratch, &found) == 0 && found)
        snprintf(buf, len, "%s", found->pw_name);
    else
        snprintf(buf, len, "%u", (unsigned)getuid());
}

char *mlflow_artifact_uri(server *srv, const char *run_id)
{
    /* The job's ./outputs, at the path the job sees (a cluster's shared folder): what MLflow's
     * log_artifact copies there shows in runs/ID/outputs. */
    char *dir = server_path(srv, "runs/%s", run_id);
    char *real = realpath(dir, NULL);
    char *uri = util_strdupf("file://%s/work/outputs", real ? real : dir);
    free(real);
    free(dir);
    return uri;
}

cJSON *mlflow_run_info_json(server *srv, const store_run *r)
{
    cJSON *info = cJSON_CreateObject();
    char exp_id[17], user[128];
    mlflow_experiment_id(r->experiment, exp_id, sizeof exp_id);
    user_name(user, sizeof user);
    cJSON_AddStringToObject(info, "run_id", r->id);
    cJSON_AddStringToObject(info, "run_uuid", r->id);
    cJSON_AddStringToObject(info, "run_name", r->display_name ? r->display_name : r->id);
    cJSON_AddStringToObject(info, "experiment_id", exp_id);
    cJSON_AddStringToObject(info, "user_id", user);
    cJSON_AddStringToObject(info, "status", mlflow_run_status(r->status));
    cJSON_AddNumberToObject(info, "start_time", (double)(r->started ? r->started : r->created));
    if (r->ended)
        cJSON_AddNumberToObject(info, "end_time", (double)r->ended);
    char *uri = mlflow_artifact_uri(srv, r->id);
    cJSON_AddStringToObject(info, "artifact_uri", uri);
    free(uri);
    cJSON_AddStringToObject(info, "lifecycle_stage", "active");
    return info;
}

static cJSON *kv_json(const char *key, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "value", value);
    return o;
}

int mlflow_run_json(server *srv, const store_run *r, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    store_series *series = NULL;
    store_pair *params = NULL, *tags = NULL;
    size_t nseries = 0, nparams = 0, ntags = 0;
    int rc = store_series_list(srv->store, r->id, &series, &nseries, err);
    if (rc == 0)
        rc = store_run_params(srv->store, r->id, &params, &nparams, err);
    if (rc == 0)
        rc = store_run_tags(srv->store, r->id, &tags, &ntags, err);
    if (rc == 0) {
        cJSON *run = cJSON_CreateObject();
        cJSON_AddItemToObject(run, "info", mlflow_run_info_json(srv, r));
        cJSON *data = cJSON_AddObjectToObject(run, "data");
        cJSON *metrics = cJSON_AddArrayToObject(data, "metrics");
        for (size_t i = 0; i < nseries; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "key", series[i].name);
            cJSON_AddItemToObject(m, "value", metrics_value_json(series[i].last_value));
            cJSON_AddNumberToObject(m, "timestamp", (double)series[i].last_timestamp);
            cJSON_AddNumberToObject(m, "step", (double)series[i].last_step);
            cJSON_AddItemToArray(metrics, m);
        }
        cJSON *ps = cJSON_AddArrayToObject(data, "params");
        for (size_t i = 0; i < nparams; i++)
            cJSON_AddItemToArray(ps, kv_json(params[i].key, params[i].value));
        cJSON *ts = cJSON_AddArrayToObject(data, "tags");
        bool has_name = false;
        for (size_t i = 0; i < ntags; i++) {
            has_name = has_name || strcmp(tags[i].key, "mlflow.runName") == 0;
            cJSON_AddItemToArray(ts, kv_json(tags[i].key, tags[i].value));
        }
        if (!has_name) /* MLflow's clients read a run's name from this tag too */
            cJSON_AddItemToArray(ts, kv_json("mlflow.runName", r->display_name ? r->display_name : r->id));
        cJSON_AddItemToObject(run, "inputs", mlflow_inputs_json(srv, r->id));
        cJSON *outputs = mlflow_outputs_json(srv, r->id);
        if (cJSON_GetArraySize(outputs) > 0) /* MLflow 3's field: left out for the clients before it */
            cJSON_AddItemToObject(run, "outputs", outputs);
        else
            cJSON_Delete(outputs);
        *out = run;
    }
    store_series_list_free(series, nseries);
    store_pairs_free(params, nparams);
    store_pairs_free(tags, ntags);
    return rc;
}

cJSON *mlflow_experiment_json(const store_experiment *e)
{
    cJSON *o = cJSON_CreateObject();
    char id[17];
    mlflow_experiment_id(e->name, id, sizeof id);
    cJSON_AddStringToObject(o, "experiment_id", id);
    cJSON_AddStringToObject(o, "name", e->name);
    char *where = util_strdupf("amlfs:experiments/%s", e->name);
    cJSON_AddStringToObject(o, "artifact_location", where);
    free(where);
    cJSON_AddStringToObject(o, "lifecycle_stage", "active");
    cJSON_AddNumberToObject(o, "creation_time", (double)e->created);
    cJSON_AddNumberToObject(o, "last_update_time", (double)e->created);
    cJSON_AddArrayToObject(o, "tags");
    return o;
}
