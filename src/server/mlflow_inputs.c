/* mlflow_inputs.c: MLflow's runs/log-inputs (mlflow.log_input): the datasets a run read, checked with
 * MLflow's limits (mlflow/utils/validation.py) and kept once per name and digest; shown in get_run's
 * "inputs" and in info.json's "datasets". */
#include "mlflow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define DATASETS_PER_BATCH 1000 /* MAX_DATASETS_PER_BATCH */
#define DATASETS_PER_RUN 1000   /* amlfs's: a run's inputs are listed whole in info.json */
#define INPUT_TAGS_MAX 100
#define INPUT_TAG_KEY_MAX 255
#define INPUT_TAG_VALUE_MAX 500

/* A string member of a dataset: required ones must be non-empty; at most max bytes. */
static int dataset_field(const cJSON *d, const char *key, bool required, size_t max, cJSON *into, amlfs_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return amlfs_fail(err, EINVAL, "Missing value for required parameter 'dataset.%s'", key);
        return 0;
    }
    if (!cJSON_IsString(v) || (required && !v->valuestring[0]))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter 'dataset.%s': a non-empty string is expected", key);
    if (strlen(v->valuestring) > max)
        return amlfs_fail(err, EINVAL, "Dataset %s of %zu bytes exceeds the limit of %zu", key,
                          strlen(v->valuestring), max);
    cJSON_AddStringToObject(into, key, v->valuestring);
    return 0;
}

static int input_tags(const cJSON *tags, cJSON *into, amlfs_err *err)
{
    cJSON *out = cJSON_AddArrayToObject(into, "tags");
    if (!tags || cJSON_IsNull(tags))
        return 0;
    if (!cJSON_IsArray(tags) || cJSON_GetArraySize(tags) > INPUT_TAGS_MAX)
        return amlfs_fail(err, EINVAL, "Invalid value for parameter 'tags' of a dataset input: a list of at most %d "
                          "{\"key\", \"value\"} is expected", INPUT_TAGS_MAX);
    const cJSON *t;
    cJSON_ArrayForEach(t, tags) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(t, "key");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (!cJSON_IsString(key) || !key->valuestring[0] || strlen(key->valuestring) > INPUT_TAG_KEY_MAX)
            return amlfs_fail(err, EINVAL, "An input tag's key must be a string of 1 to %d characters",
                              INPUT_TAG_KEY_MAX);
        if (!cJSON_IsString(value) || strlen(value->valuestring) > INPUT_TAG_VALUE_MAX)
            return amlfs_fail(err, EINVAL, "Input tag '%s' must have a string value of at most %d characters",
                              key->valuestring, INPUT_TAG_VALUE_MAX);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", key->valuestring);
        cJSON_AddStringToObject(o, "value", value->valuestring);
        cJSON_AddItemToArray(out, o);
    }
    return 0;
}

/* One DatasetInput ({"tags", "dataset": {name, digest, source_type, source, schema, profile}}), as the JSON
 * kept (only the members MLflow defines). */
static int take_input(const cJSON *in, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(in, "dataset");
    if (!cJSON_IsObject(in) || !cJSON_IsObject(d))
        return amlfs_fail(err, EINVAL, "Invalid value for parameter 'datasets': each is {\"tags\", \"dataset\"}");
    cJSON *kept = cJSON_CreateObject();
    int rc = input_tags(cJSON_GetObjectItemCaseSensitive(in, "tags"), kept, err);
    cJSON *ds = cJSON_AddObjectToObject(kept, "dataset");
    if (rc == 0)
        rc = dataset_field(d, "name", true, 500, ds, err);
    if (rc == 0)
        rc = dataset_field(d, "digest", true, 36, ds, err);
    if (rc == 0)
        rc = dataset_field(d, "source_type", true, 500, ds, err);
    if (rc == 0)
        rc = dataset_field(d, "source", true, 65535, ds, err);
    if (rc == 0)
        rc = dataset_field(d, "schema", false, 1048575, ds, err);
    if (rc == 0)
        rc = dataset_field(d, "profile", false, 16777215, ds, err);
    if (rc < 0)
        cJSON_Delete(kept);
    else
        *out = kept;
    return rc;
}

int mlflow_runs_log_inputs(mlflow_req *r, cJSON **answer, amlfs_err *err)
{
    (void)answer;
    store_run run;
    int rc = mlflow_load_run(r, &run, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->args, "datasets");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(r->args, "models"); /* MLflow 3: not kept */
    int n = 0;
    if (rc == 0 && list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
        rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'datasets': a list is expected");
    if (rc == 0 && models && !cJSON_IsNull(models) && !cJSON_IsArray(models))
        rc = amlfs_fail(err, EINVAL, "Invalid value for parameter 'models': a list is expected");
    if (rc == 0 && (n = cJSON_GetArraySize(list)) > DATASETS_PER_BATCH)
        rc = amlfs_fail(err, EINVAL, "A batch logging request can contain at most %d datasets. Got %d datasets. "
                        "Please split up datasets across multiple requests and try again.", DATASETS_PER_BATCH, n);
    if (rc < 0 || n == 0) {
        store_run_free(&run);
        return rc;
    }
    store_dataset_in *in = util_xcalloc((size_t)n, sizeof *in);
    cJSON **kept = util_xcalloc((size_t)n, sizeof *kept);
    char **texts = util_xcalloc((size_t)n, sizeof *texts);
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = take_input(cJSON_GetArrayItem(list, i), &kept[i], err);
        if (rc < 0)
            break;
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(kept[i], "dataset");
        texts[i] = cJSON_PrintUnformatted(kept[i]);
        in[i] = (store_dataset_in){cJSON_GetObjectItemCaseSensitive(ds, "name")->valuestring,
                                   cJSON_GetObjectItemCaseSensitive(ds, "digest")->valuestring, texts[i]};
    }
    if (rc == 0)
        rc = store_run_datasets_add(r->srv->store, run.id, in, (size_t)n, DATASETS_PER_RUN, err);
    if (rc == 0)
        events_emitf(r->srv->events, "changed", -1, "runs/%s", run.id);
    for (int i = 0; i < n; i++) {
        cJSON_Delete(kept[i]);
        free(texts[i]);
    }
    free(kept);
    free(texts);
    free(in);
    store_run_free(&run);
    return rc;
}

cJSON *mlflow_inputs_json(server *srv, const char *run_id)
{
    cJSON *inputs = cJSON_CreateObject();
    char **texts = NULL;
    size_t n = 0;
    amlfs_err err = {0};
    if (store_run_datasets(srv->store, run_id, &texts, &n, &err) < 0 || n == 0) {
        store_strings_free(texts, n);
        return inputs; /* MLflow leaves an empty list out */
    }
    cJSON *arr = cJSON_AddArrayToObject(inputs, "dataset_inputs");
    for (size_t i = 0; i < n; i++) {
        cJSON *one = cJSON_Parse(texts[i]);
        if (one)
            cJSON_AddItemToArray(arr, one);
    }
    store_strings_free(texts, n);
    return inputs;
}

cJSON *mlflow_datasets_json(server *srv, const char *run_id)
{
    cJSON *out = cJSON_CreateArray();
    cJSON *inputs = mlflow_inputs_json(srv, run_id);
    const cJSON *in;
    cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(inputs, "dataset_inputs")) {
        /* Flat for jq: the dataset's members, then its tags as an object (mlflow.data.context: training). */
        cJSON *one = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(in, "dataset"), true);
        cJSON *tags = cJSON_AddObjectToObject(one, "tags");
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(in, "tags")) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
            if (cJSON_IsString(k) && cJSON_IsString(v) && !cJSON_GetObjectItemCaseSensitive(tags, k->valuestring))
                cJSON_AddStringToObject(tags, k->valuestring, v->valuestring);
        }
        cJSON_AddItemToArray(out, one);
    }
    cJSON_Delete(inputs);
    return out;
}
