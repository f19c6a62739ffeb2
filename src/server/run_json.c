/* run_json.c: the run object of docs/api.md. Secrets in the kept job.yaml are redacted here. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/util.h"

/* "kind" (job, or interactive: made by MLflow's runs/create), "parent" and "children" (MLflow's nested
 * runs), "datasets" (MLflow's log_input). A store that cannot say leaves them out rather than failing the
 * whole answer. */
static void add_nesting(server *srv, cJSON *o, const store_run *r)
{
    cJSON_AddStringToObject(o, "kind", run_is_interactive(r) ? "interactive" : "job");
    amlfs_err err = {0};
    char *parent = NULL, **ids = NULL;
    int depth = 0;
    size_t n = 0;
    if (store_run_parent_get(srv->store, r->id, &parent, &depth, &err) == 0) {
        if (parent)
            cJSON_AddStringToObject(o, "parent", parent);
        else
            cJSON_AddNullToObject(o, "parent");
    }
    free(parent);
    if (store_run_children(srv->store, r->id, &ids, &n, &err) == 0) {
        cJSON *arr = cJSON_AddArrayToObject(o, "children");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(ids[i]));
    }
    store_strings_free(ids, n);
    cJSON_AddItemToObject(o, "datasets", mlflow_datasets_json(srv, r->id));
}

cJSON *run_json(server *srv, const store_run *r, bool with_job_yaml)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "experiment", r->experiment);
    if (r->display_name)
        cJSON_AddStringToObject(o, "display_name", r->display_name);
    else
        cJSON_AddNullToObject(o, "display_name");
    cJSON_AddStringToObject(o, "status", run_status_name(r->status));
    if (run_is_interactive(r)) /* made by MLflow's runs/create: no job, no compute */
        cJSON_AddNullToObject(o, "compute");
    else
        cJSON_AddStringToObject(o, "compute", r->compute);
    if (r->environment) {
        cJSON_AddStringToObject(o, "environment", r->environment);
        char number[16];
        snprintf(number, sizeof number, "%d", r->environment_version);
        cJSON_AddItemToObject(o, "environment_version",
                              env_version_label_json(r->environment_label ? r->environment_label : number));
    } else {
        cJSON_AddNullToObject(o, "environment");
        cJSON_AddNullToObject(o, "environment_version");
    }
    json_add_time(o, "created", r->created);
    json_add_time(o, "started", r->started);
    json_add_time(o, "ended", r->ended);
    if (r->has_exit_code)
        cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
    else
        cJSON_AddNullToObject(o, "exit_code");
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    else
        cJSON_AddNullToObject(o, "error");
    char *log = server_path(srv, "runs/%s/log", r->id);
    struct stat st;
    cJSON_AddNumberToObject(o, "log_size", stat(log, &st) == 0 ? (double)st.st_size : 0);
    free(log);
    if (r->timeout_s > 0)
        cJSON_AddNumberToObject(o, "timeout_s", (double)r->timeout_s);
    else
        cJSON_AddNullToObject(o, "timeout_s");
    /* What the compute knows the run by (a Slurm job id), for squeue/sacct beside the mount. */
    if (r->handle)
        cJSON_AddStringToObject(o, "compute_handle", r->handle);
    else
        cJSON_AddNullToObject(o, "compute_handle");
    if (r->snapshot)
        cJSON_AddStringToObject(o, "snapshot", r->snapshot);
    else
        cJSON_AddNullToObject(o, "snapshot");
    if (with_job_yaml) { /* the single run's answer only: a listing would ask the store once a run */
        cJSON_AddItemToObject(o, "ctl_status", ctl_status_json(srv, "runs", r->id));
        add_nesting(srv, o, r);
    }
    if (with_job_yaml && r->job_yaml) {
        /* What the job file said that means nothing here, as the submission's status line said it. */
        job_spec job;
        amlfs_err ignored = {0};
        cJSON *keys = cJSON_AddArrayToObject(o, "ignored_keys");
        if (spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &job, &ignored) == 0) {
            for (size_t i = 0; i < job.ignored.count; i++)
                cJSON_AddItemToArray(keys, cJSON_CreateString(job.ignored.items[i].key));
            /* What the file said; the run's experiment is its folder (submit.c notes a difference). */
            if (job.experiment_name)
                cJSON_AddStringToObject(o, "experiment_name", job.experiment_name);
            spec_job_free(&job);
        }
        /* What the job's `environment:` said when it was not the environment itself: a registry's
         * environment (azureml://registries/...) or an environment file (file:./env.yml). */
        cJSON *spec = r->spec_json ? cJSON_Parse(r->spec_json) : NULL;
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "environment_reference");
        if (cJSON_IsString(ref))
            cJSON_AddStringToObject(o, "environment_reference", ref->valuestring);
        else
            cJSON_AddNullToObject(o, "environment_reference");
        cJSON_Delete(spec);
        /* What was read of its AMLFS_METRICS files (malformed lines with their reasons, points dropped
         * over the limits) and what MLflow's update_run said from the job. */
        cJSON_AddItemToObject(o, "metrics", metrics_state_json(srv, r->id));
        char *redacted = spec_redact_yaml(r->job_yaml, strlen(r->job_yaml));
        cJSON_AddStringToObject(o, "job_yaml", redacted ? redacted : "");
        free(redacted);
    }
    return o;
}
