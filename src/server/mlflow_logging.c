/* mlflow_logging.c: MLflow's runs/log-metric, log-batch, log-parameter, set-tag, delete-tag, log-model and
 * metrics/get-history, checked as MLflow's server checks them (mlflow/utils/validation.py): one request
 * is stored whole or not at all, parameters never change once logged. */
#include "mlflow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* One metric of a request ({"key", "value", "timestamp", "step"}); MLflow's step defaults to 0. */
static int take_metric(const cJSON *m, store_metric_in *out, amlfs_err *err)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(m, "key");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(m, "value");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "timestamp");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(m, "step");
    if (!cJSON_IsString(key))
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'key'");
    int rc = metrics_check_key("metric name", key->valuestring, err);
    if (rc < 0)
        return rc;
    if (!value || cJSON_IsNull(value))
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'value' of metric '%s'", key->valuestring);
    if (metrics_json_value(value, &out->value) < 0)
        return amlfs_fail(err, EINVAL, "Got invalid value for metric '%s'. Please specify value as a valid double "
                          "(64-bit floating point)", key->valuestring);
    if (!ts || cJSON_IsNull(ts))
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'timestamp' of metric '%s'",
                          key->valuestring);
    if (metrics_json_int64(ts, &out->timestamp) < 0 || out->timestamp < 0)
        return amlfs_fail(err, EINVAL, "Got invalid timestamp for metric '%s'. Timestamp must be a nonnegative long "
                          "(64-bit integer)", key->valuestring);
    out->step = 0;
    if (step && !cJSON_IsNull(step) && metrics_json_int64(step, &out->step) < 0)
        return amlfs_fail(err, EINVAL, "Got invalid step for metric '%s'. Step must be a valid long (64-bit integer)",
                          key->valuestring);
    out->has_step = true;
    out->name = key->valuestring;
    return 0;
}

int mlflow_take_pair(const cJSON *item, const char *kind, size_t max, store_kv *out, amlfs_err *err)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "key");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, "value");
    if (!cJSON_IsString(key))
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'key' of a %s", kind);
    int rc = metrics_check_key(kind, key->valuestring, err);
    if (rc < 0)
        return rc;
    if (!cJSON_IsString(value))
        return amlfs_fail(err, EINVAL, "Missing value for required parameter 'value' of %s '%s' (a string)", kind,
                          key->valuestring);
    if (strlen(value->valuestring) > max)
        return amlfs_fail(err, EINVAL, "%s '%s' has a value of %zu characters, which exceeded length limit of %zu",
                          kind, key->valuestring, strlen(value->valuestring), max);
    *out = (store_kv){key->valuestring, value->valuestring};
    return 0;
}

/* Stores what one request logs, then tells the change feed. */
static int store_logged(mlflow_req *r, const store_run *run, const store_metric_in *m, size_t nm,
                        const store_kv *p, size_t np, const store_kv *t, size_t nt, amlfs_err *err)
{
    store_series_change *changes = NULL;
    size_t nchanges = 0;
    int rc = store_run_data_add(r->srv->store, run->id, m, nm, p, np, t, nt, NULL, &changes, &nchanges, err);
    if (rc == 0)
        metrics_announce(r->srv, run->id, changes, nchanges, np > 0 || nt > 0);
    store_series_changes_free(changes, nchanges);
    return rc;
}

int mlflow_runs_log_metric(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    store_metric_in m;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = take_metric(r->args, &m, err);
    if (rc == 0)
        rc = store_logged(r, &run, &m, 1, NULL, 0, NULL, 0, err);
    store_run_free(&run);
    return rc;
}

int mlflow_runs_log_param(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    store_kv p;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = mlflow_take_pair(r->args, "param", METRICS_PARAM_VALUE_MAX, &p, err);
    if (rc == 0)
        rc = store_logged(r, &run, NULL, 0, &p, 1, NULL, 0, err);
    store_run_free(&run);
    return rc;
}

int mlflow_runs_set_tag(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    store_kv t;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = mlflow_take_pair(r->args, "tag", METRICS_TAG_VALUE_MAX, &t, err);
    if (rc == 0)
        rc = store_logged(r, &run, NULL, 0, NULL, 0, &t, 1, err);
    store_run_free(&run);
    return rc;
}

int mlflow_runs_delete_tag(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    const char *key = NULL;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "key", true, &key, err);
    if (rc == 0)
        rc = store_run_tag_delete(r->srv->store, run.id, key, err);
    if (rc == 0)
        events_emitf(r->srv->events, "changed", -1, "runs/%s", run.id);
    store_run_free(&run);
    return rc;
}

/* An array member of a batch (absent: empty), with MLflow's limit on its length. */
static int batch_array(mlflow_req *r, const char *key, int max, const cJSON **out, int *n, amlfs_err *err)
{
    *out = cJSON_GetObjectItemCaseSensitive(r->args, key);
    *n = 0;
    if (!*out || cJSON_IsNull(*out))
        return 0;
    if (!cJSON_IsArray(*out))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter '%s': a list is expected", key);
    *n = cJSON_GetArraySize(*out);
    if (*n > max)
        return amlfs_fail(err, EINVAL, "A batch logging request can contain at most %d %s. Got %d %s. Please split up "
                          "%s across multiple requests and try again.", max, key, *n, key, key);
    return 0;
}

int mlflow_runs_log_batch(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    const cJSON *metrics, *params, *tags;
    int nm = 0, np = 0, nt = 0;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0 && (rc = batch_array(r, "metrics", METRICS_BATCH_METRICS_MAX, &metrics, &nm, err)) == 0 &&
        (rc = batch_array(r, "params", METRICS_BATCH_PARAMS_MAX, &params, &np, err)) == 0 &&
        (rc = batch_array(r, "tags", METRICS_BATCH_TAGS_MAX, &tags, &nt, err)) == 0 &&
        nm + np + nt > METRICS_BATCH_TOTAL_MAX)
        rc = amlfs_fail(err, EINVAL, "A batch logging request can contain at most %d metrics, params, and tags. Got "
                        "%d.", METRICS_BATCH_TOTAL_MAX, nm + np + nt);
    if (rc < 0) { /* the counts are bounded by MLflow's limits from here on */
        store_run_free(&run);
        return rc;
    }
    store_metric_in *m = util_xcalloc((size_t)nm + 1, sizeof *m);
    store_kv *p = util_xcalloc((size_t)np + 1, sizeof *p), *t = util_xcalloc((size_t)nt + 1, sizeof *t);
    for (int i = 0; rc == 0 && i < nm; i++)
        rc = take_metric(cJSON_GetArrayItem(metrics, i), &m[i], err);
    for (int i = 0; rc == 0 && i < np; i++) {
        rc = mlflow_take_pair(cJSON_GetArrayItem(params, i), "param", METRICS_PARAM_VALUE_MAX, &p[i], err);
        for (int k = 0; rc == 0 && k < i; k++)
            if (strcmp(p[k].key, p[i].key) == 0)
                rc = amlfs_fail(err, EINVAL, "Duplicate parameter keys have been submitted: ['%s']. Please ensure the "
                                "request contains only one param value per param key.", p[i].key);
    }
    for (int i = 0; rc == 0 && i < nt; i++)
        rc = mlflow_take_pair(cJSON_GetArrayItem(tags, i), "tag", METRICS_TAG_VALUE_MAX, &t[i], err);
    if (rc == 0)
        rc = store_logged(r, &run, m, (size_t)nm, p, (size_t)np, t, (size_t)nt, err);
    free(m);
    free(p);
    free(t);
    store_run_free(&run);
    return rc;
}

static cJSON *metric_json(const char *key, const store_point *pt)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddItemToObject(o, "value", metrics_value_json(pt->value));
    cJSON_AddNumberToObject(o, "timestamp", (double)pt->timestamp);
    cJSON_AddNumberToObject(o, "step", (double)pt->step);
    return o;
}

int mlflow_metrics_history(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    store_run run;
    const char *key = NULL;
    size_t skip = 0, max = 0;
    bool paged = cJSON_GetObjectItemCaseSensitive(r->args, "max_results") ||
                 cJSON_GetObjectItemCaseSensitive(r->args, "page_token");
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "metric_key", true, &key, err);
    if (rc == 0)
        rc = metrics_check_key("metric name", key, err);
    if (rc == 0 && paged)
        rc = mlflow_paging(r, &skip, &max, err);
    store_point *pts = NULL;
    size_t n = 0;
    /* One more than a page tells whether another page follows. */
    if (rc == 0)
        rc = store_series_points(r->srv->store, run.id, key, (int64_t)skip, paged ? (int64_t)max + 1 : 0, &pts, &n, err);
    if (rc == 0) {
        *answer = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(*answer, "metrics");
        for (size_t i = 0; i < n && (!paged || i < max); i++)
            cJSON_AddItemToArray(arr, metric_json(key, &pts[i]));
        if (paged && n > max) {
            char token[32];
            snprintf(token, sizeof token, "%zu", skip + max);
            cJSON_AddStringToObject(*answer, "next_page_token", token);
        }
    }
    free(pts);
    store_run_free(&run);
    return rc;
}

/* What log_model records (mlflow.<flavor>.log_model calls it after writing the model's files into the run's
 * artifacts, its ./outputs): the model's JSON appended to the tag mlflow.log-model.history, as MLflow's own
 * stores keep it. */
int mlflow_runs_log_model(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    const char *model = NULL;
    int rc = mlflow_load_run(r, &run, err);
    if (rc == 0)
        rc = mlflow_arg_string(r, "model_json", true, &model, err);
    cJSON *parsed = rc == 0 ? cJSON_Parse(model) : NULL;
    if (rc == 0 && !cJSON_IsObject(parsed))
        rc = amlfs_fail(err, EINVAL, "model_json is not a JSON object");
    store_pair *tags = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_run_tags(r->srv->store, run.id, &tags, &n, err);
    cJSON *history = NULL;
    for (size_t i = 0; rc == 0 && i < n && !history; i++)
        if (strcmp(tags[i].key, "mlflow.log-model.history") == 0)
            history = cJSON_Parse(tags[i].value);
    if (rc == 0) {
        if (!cJSON_IsArray(history)) {
            cJSON_Delete(history);
            history = cJSON_CreateArray();
        }
        cJSON_AddItemToArray(history, parsed);
        parsed = NULL;
        char *text = cJSON_PrintUnformatted(history);
        store_kv tag = {"mlflow.log-model.history", text};
        rc = store_logged(r, &run, NULL, 0, NULL, 0, &tag, 1, err);
        free(text);
    }
    cJSON_Delete(history);
    cJSON_Delete(parsed);
    store_pairs_free(tags, n);
    store_run_free(&run);
    return rc;
}
