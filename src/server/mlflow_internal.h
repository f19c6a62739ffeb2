/* mlflow_internal.h: what the MLflow tracking API's files share (not part of server.h): a request's
 * arguments and caller, the errors MLflow's clients understand, and the run and experiment objects in
 * MLflow's JSON (mlflow/protos/service.proto). */
#ifndef AMLFS_SERVER_MLFLOW_INTERNAL_H
#define AMLFS_SERVER_MLFLOW_INTERNAL_H

#include "amlfs/metrics.h"
#include "amlfs/server.h"

/* One request: its arguments (the JSON body of a POST, the query of a GET) and who sends it. */
typedef struct mlflow_req {
    server *srv;
    const http_caller *caller;
    cJSON *args;
} mlflow_req;

/* A handler fills *answer (a JSON object) or returns a negative errno with the message. errno -> MLflow's
 * error_code (mlflow_dispatch): EINVAL INVALID_PARAMETER_VALUE (400), EBADMSG BAD_REQUEST (400), ENOENT
 * RESOURCE_DOES_NOT_EXIST (404), EEXIST RESOURCE_ALREADY_EXISTS (400), EACCES PERMISSION_DENIED (403),
 * ENOSYS ENDPOINT_NOT_FOUND (404), anything else INTERNAL_ERROR (500). */
typedef int (*mlflow_handler)(mlflow_req *r, cJSON **answer, amlfs_err *err);

/* Arguments. A string argument (required: -EINVAL when absent or not a string). */
int mlflow_arg_string(mlflow_req *r, const char *key, bool required, const char **out, amlfs_err *err);
/* The run the request names (run_id, else run_uuid): -ENOENT when there is none (or its id is not one
 * MLflow accepts: runs from before such ids are in the mount only), -EACCES when the caller's token is
 * another run's. */
int mlflow_load_run(mlflow_req *r, store_run *out, amlfs_err *err);
/* {"key", "value"} of a param or tag, checked as MLflow checks them (the value at most max characters). */
int mlflow_take_pair(const cJSON *item, const char *kind, size_t max, store_kv *out, amlfs_err *err);
/* Whether the caller may read and change run id: the owner any run, a job its own run and the runs nested
 * in it (-EACCES for any other). */
int mlflow_may_act(mlflow_req *r, const char *id, amlfs_err *err);
/* The experiment named by id; -ENOENT when none. */
int mlflow_find_experiment(server *srv, const char *id, store_experiment *out, amlfs_err *err);
/* Whether the caller may see the experiment (a job: only its own run's). */
int mlflow_may_see_experiment(mlflow_req *r, const char *name, amlfs_err *err);

/* MLflow's objects. A run's artifact URI: file://RUN_DIR/work/outputs (malloc'd). */
char *mlflow_artifact_uri(server *srv, const char *run_id);
const char *mlflow_run_status(run_status s);
cJSON *mlflow_run_info_json(server *srv, const store_run *r);
/* {"info", "data": {"metrics" (the last of each), "params", "tags"}, "inputs"} */
int mlflow_run_json(server *srv, const store_run *r, cJSON **out, amlfs_err *err);
cJSON *mlflow_experiment_json(const store_experiment *e);

/* Handlers (mlflow_runs.c, mlflow_logging.c, mlflow_experiments.c). */
int mlflow_runs_create(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_get(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_update(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_search(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_metric(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_batch(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_param(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_set_tag(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_delete_tag(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_model(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_inputs(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_runs_log_outputs(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_create(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_search(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_get(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_finalize(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_set_tags(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_delete_tag(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_models_log_params(mlflow_req *r, cJSON **answer, amlfs_err *err);
/* get_run's "outputs": {"model_outputs": [{"model_id", "step"}]} ({} when none). */
cJSON *mlflow_outputs_json(server *srv, const char *run_id);
/* get_run's "inputs": {"dataset_inputs": [...]} ({} when none). */
cJSON *mlflow_inputs_json(server *srv, const char *run_id);
int mlflow_metrics_history(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_experiments_get(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_experiments_get_by_name(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_experiments_create(mlflow_req *r, cJSON **answer, amlfs_err *err);
int mlflow_experiments_search(mlflow_req *r, cJSON **answer, amlfs_err *err);

/* Paging of searches: page_token is the offset as a decimal string; max_results 1 to 50,000 (default 1,000). */
int mlflow_paging(mlflow_req *r, size_t *skip, size_t *max, amlfs_err *err);
/* A search's `filter` must be empty here (MLflow's filter language is not offered). */
int mlflow_no_filter(mlflow_req *r, amlfs_err *err);

#endif
