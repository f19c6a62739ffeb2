/* mlflow_runs.c: MLflow's runs/create, runs/get, runs/update and runs/search over amlfs runs. A job's run
 * follows its job: what update_run says of it is kept (info.json's metrics.mlflow_status) and never ends it;
 * runs/create makes interactive runs (a notebook's, or nested in a job's), which update_run ends. */
#include "mlflow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "amlfs/util.h"

/* MLflow's Default experiment, where its clients log when no experiment is set: amlfs has none (runs
 * belong to experiments a user made, each a folder), so the client is told what to set. */
#define DEFAULT_EXPERIMENT_ID "0"

/* The tags of a runs/create, checked; *parent: the value of mlflow.parentRunId (nested runs), or NULL. */
static int create_tags(mlflow_req *r, store_kv **tags, int *n, const char **parent, amlfs_err *err)
{
    *tags = NULL;
    *n = 0;
    *parent = NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->args, "tags");
    if (!list || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter 'tags': a list is expected");
    int count = cJSON_GetArraySize(list);
    if (count > METRICS_BATCH_TAGS_MAX)
        return amlfs_fail(err, EINVAL, "A run can be created with at most %d tags, got %d", METRICS_BATCH_TAGS_MAX,
                          count);
    *tags = util_xcalloc((size_t)count + 1, sizeof **tags);
    int rc = 0;
    for (int i = 0; rc == 0 && i < count; i++) {
        rc = mlflow_take_pair(cJSON_GetArrayItem(list, i), "tag", METRICS_TAG_VALUE_MAX, &(*tags)[i], err);
        if (rc == 0 && strcmp((*tags)[i].key, "mlflow.parentRunId") == 0)
            *parent = (*tags)[i].value;
        *n = i + 1;
    }
    return rc;
}

/* The parent a nested run names: one the caller may act on (a job: its own run or one nested in it),
 * not deeper than STORE_RUN_DEPTH_MAX. *depth: the new run's. */
static int check_parent(mlflow_req *r, const char *parent, const char *experiment, int *depth, amlfs_err *err)
{
    if (!metrics_run_id_ok(parent))
        return amlfs_fail(err, EINVAL, "Invalid value '%.300s' for tag 'mlflow.parentRunId': not a run id", parent);
    int rc = mlflow_may_act(r, parent, err);
    store_run p;
    memset(&p, 0, sizeof p);
    if (rc == 0 && (rc = store_run_get(r->srv->store, parent, &p, err)) == -ENOENT)
        rc = amlfs_fail(err, ENOENT, "Parent run '%s' (tag mlflow.parentRunId) not found", parent);
    if (rc == 0 && strcmp(p.experiment, experiment) != 0)
        rc = amlfs_fail(err, EINVAL, "Parent run '%s' is in experiment '%s': a nested run is made in its parent's "
                        "experiment", parent, p.experiment);
    store_run_free(&p);
    char *grand = NULL;
    int pdepth = 0;
    if (rc == 0)
        rc = store_run_parent_get(r->srv->store, parent, &grand, &pdepth, err);
    free(grand);
    if (rc == 0 && pdepth + 1 > STORE_RUN_DEPTH_MAX)
        rc = amlfs_fail(err, EINVAL, "Run '%s' is nested %d levels deep already: amlfs nests runs at most %d levels",
                        parent, pdepth, STORE_RUN_DEPTH_MAX);
    *depth = pdepth + 1;
    return rc;
}

/* A new run id of the experiment, claimed by making its folder (with work/outputs, MLflow's artifact_uri). */
static int claim_run(server *srv, const char *experiment, char **id, char **dir, amlfs_err *err)
{
    char *runs = server_path(srv, "runs");
    int rc = util_mkdir_p(runs, 0700, err);
    free(runs);
    for (int attempt = 0; rc == 0 && attempt < 8; attempt++) {
        uint32_t rnd;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            return amlfs_fail(err, EIO, "getrandom: %s", strerror(errno));
        *id = run_id_make(experiment, rnd);
        *dir = server_path(srv, "runs/%s", *id);
        if (!store_run_exists(srv->store, *id) && mkdir(*dir, 0700) == 0) {
            char *outputs = util_strdupf("%s/work/outputs", *dir);
            rc = util_mkdir_p(outputs, 0755, err);
            free(outputs);
            return rc;
        }
        free(*id);
        free(*dir);
        *id = *dir = NULL;
    }
    return rc < 0 ? rc : amlfs_fail(err, EIO, "could not find a free run id under %s", srv->data_dir);
}

/* A notebook's mlflow.start_run() (the owner's token) makes an interactive run in the experiment; a job's
 * mlflow.start_run(nested=True) (its token, tag mlflow.parentRunId) makes a run nested in its own. */
int mlflow_runs_create(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    const char *exp_id = NULL, *name = NULL, *parent = NULL;
    store_kv *tags = NULL;
    int ntags = 0, depth = 0;
    int64_t start = 0;
    store_experiment e;
    memset(&e, 0, sizeof e);
    int rc = create_tags(r, &tags, &ntags, &parent, err);
    if (rc == 0 && r->caller->run_id && !parent)
        rc = amlfs_fail(err, EACCES, "a job logs into its own run %s (MLFLOW_RUN_ID, which mlflow.start_run() uses) "
                        "or runs nested in it (mlflow.start_run(nested=True)); its token may not create other runs",
                        r->caller->run_id);
    if (rc == 0)
        rc = mlflow_arg_string(r, "experiment_id", true, &exp_id, err);
    if (rc == 0 && strcmp(exp_id, DEFAULT_EXPERIMENT_ID) == 0)
        rc = amlfs_fail(err, EINVAL, "experiment_id 0 is MLflow's Default experiment, which amlfs does not have: set "
                        "MLFLOW_EXPERIMENT_NAME=NAME (or call mlflow.set_experiment(\"NAME\")) to log into "
                        "experiments/NAME");
    if (rc == 0 && (rc = mlflow_arg_string(r, "run_name", false, &name, err)) == 0 && name &&
        strlen(name) > METRICS_KEY_MAX)
        rc = amlfs_fail(err, EINVAL, "run_name is longer than %d characters", METRICS_KEY_MAX);
    const cJSON *start_item = cJSON_GetObjectItemCaseSensitive(r->args, "start_time");
    if (rc == 0 && start_item && !cJSON_IsNull(start_item) && (metrics_json_int64(start_item, &start) < 0 || start < 0))
        rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'start_time': milliseconds since 1970 expected");
    if (rc == 0)
        rc = mlflow_find_experiment(r->srv, exp_id, &e, err);
    if (rc == 0)
        rc = mlflow_may_see_experiment(r, e.name, err);
    if (rc == 0 && parent)
        rc = check_parent(r, parent, e.name, &depth, err);
    char *id = NULL, *dir = NULL;
    if (rc == 0)
        rc = claim_run(r->srv, e.name, &id, &dir, err);
    if (rc == 0) {
        store_run run = {.id = id, .experiment = e.name, .display_name = (char *)(name && name[0] ? name : id),
                         .compute = "", .created = util_now_ms(), .started = start};
        rc = run_create_interactive(r->srv, &run, parent, depth, err);
        if (rc < 0) {
            amlfs_err ignored = {0};
            util_rm_rf(dir, &ignored);
        }
    }
    if (rc == 0 && ntags > 0)
        rc = store_run_data_add(r->srv->store, id, NULL, 0, NULL, 0, tags, (size_t)ntags, NULL, NULL, NULL, err);
    store_run run;
    memset(&run, 0, sizeof run);
    if (rc == 0)
        rc = store_run_get(r->srv->store, id, &run, err);
    cJSON *json = NULL;
    if (rc == 0)
        rc = mlflow_run_json(r->srv, &run, &json, err);
    if (rc == 0) {
        *answer = cJSON_CreateObject();
        cJSON_AddItemToObject(*answer, "run", json);
    }
    store_run_free(&run);
    store_experiment_free(&e);
    free(tags);
    free(id);
    free(dir);
    return rc;
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

/* The amlfs status an MLflow end status means; -1 for the others (RUNNING, SCHEDULED). */
static int ended_status(const char *s)
{
    if (strcmp(s, "FINISHED") == 0)
        return RUN_COMPLETED;
    if (strcmp(s, "FAILED") == 0)
        return RUN_FAILED;
    if (strcmp(s, "KILLED") == 0)
        return RUN_CANCELED;
    return -1;
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
    /* The client's word is kept; a job's run keeps its job's status (its process ending), an interactive run
     * ends with it. */
    if (rc == 0 && (status || end > 0))
        rc = store_metric_state_mlflow(r->srv->store, run.id, status, end, err);
    int to = status ? ended_status(status) : -1;
    if (rc == 0 && to >= 0 && run_is_interactive(&run)) {
        rc = run_end_interactive(r->srv, run.id, (run_status)to, "the MLflow client ended it FAILED", err);
        if (rc > 0) /* ended already (canceled, or with its parent): it stays as it ended */
            rc = 0;
        store_run now;
        if (rc == 0 && store_run_get(r->srv->store, run.id, &now, err) == 0) {
            store_run_free(&run);
            run = now;
        }
    }
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
            amlfs_err hidden = {0};
            if (!metrics_run_id_ok(run->id) || mlflow_may_act(r, run->id, &hidden) < 0)
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
