/* h_metrics.c: a run's metrics, parameters and tags for the mount (docs/api.md "Metrics"): the series
 * and what was read of its AMLFS_METRICS files, one series' text by byte range (growing like a log),
 * metrics.json, params.json, tags.json, and an experiment's runs side by side for comparing them. */
#include "amlfs/server.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/log.h"
#include "amlfs/metrics.h"
#include "amlfs/util.h"

/* Without `length`, at most this much of a series' text per request; clients page with offset. */
#define TEXT_CHUNK_MAX (1024 * 1024)

static int run_exists(server *srv, const char *id, amlfs_err *err)
{
    return store_run_exists(srv->store, id) ? 0 : amlfs_fail(err, ENOENT, "run '%s' not found", id);
}

static cJSON *point_json(int64_t step, double value, int64_t timestamp)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "step", (double)step);
    cJSON_AddItemToObject(p, "value", metrics_value_json(value));
    cJSON_AddNumberToObject(p, "timestamp", (double)timestamp);
    return p;
}

cJSON *metrics_state_json(server *srv, const char *run_id)
{
    store_metric_state st;
    amlfs_err ignored = {0};
    cJSON *o = cJSON_CreateObject();
    if (store_metric_state_get(srv->store, run_id, &st, &ignored) < 0)
        return o;
    cJSON_AddNumberToObject(o, "points", (double)st.points);
    cJSON_AddNumberToObject(o, "series", (double)st.series);
    cJSON_AddNumberToObject(o, "malformed_lines", (double)st.malformed);
    cJSON_AddNumberToObject(o, "dropped_points", (double)st.dropped);
    cJSON *problems = cJSON_Parse(st.problems);
    cJSON_AddItemToObject(o, "problems", cJSON_IsArray(problems) ? problems : cJSON_CreateArray());
    if (!cJSON_IsArray(problems))
        cJSON_Delete(problems);
    if (st.mlflow_status)
        cJSON_AddStringToObject(o, "mlflow_status", st.mlflow_status);
    store_metric_state_free(&st);
    return o;
}

int run_series_json(server *srv, const char *run_id, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    store_series *list;
    size_t n;
    int rc = store_series_list(srv->store, run_id, &list, &n, err);
    if (rc < 0)
        return rc;
    cJSON *o = metrics_state_json(srv, run_id);
    cJSON *arr = cJSON_AddArrayToObject(o, "metrics");
    int64_t json_size = (int64_t)strlen("{") + (int64_t)strlen(metrics_json_end(n));
    for (size_t i = 0; i < n; i++)
        json_size += metrics_json_series_size(list[i].name, list[i].count, list[i].bytes, list[i].json_extra, i == 0);
    cJSON_AddNumberToObject(o, "json_size", (double)json_size); /* metrics.json's, without writing it */
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", list[i].name);
        cJSON_AddNumberToObject(s, "count", (double)list[i].count);
        cJSON_AddNumberToObject(s, "size", (double)list[i].bytes);
        cJSON_AddItemToObject(s, "last", point_json(list[i].last_step, list[i].last_value, list[i].last_timestamp));
        cJSON_AddItemToArray(arr, s);
    }
    store_series_list_free(list, n);
    *out = o;
    return 0;
}

static int list_series(server *srv, const char *run_id, http_reply *out, amlfs_err *err)
{
    cJSON *o;
    int rc = run_series_json(srv, run_id, &o, err);
    if (rc == 0)
        reply_json(out, 200, o);
    return rc;
}

int h_run_metrics(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *id = req->params[0];
    int rc = run_exists(srv, id, err);
    if (rc < 0)
        return rc;
    if (!req->tail[0])
        return list_series(srv, id, out, err);
    if ((rc = metrics_check_key("metric name", req->tail, err)) < 0)
        return rc;
    int64_t offset, length;
    if ((rc = http_query_i64(req, "offset", 0, &offset, err)) < 0 ||
        (rc = http_query_i64(req, "length", TEXT_CHUNK_MAX, &length, err)) < 0)
        return rc;
    if (length > TEXT_CHUNK_MAX)
        length = TEXT_CHUNK_MAX;
    char *text;
    size_t len;
    int64_t total;
    if ((rc = store_series_text(srv->store, id, req->tail, offset, length, &text, &len, &total, err)) < 0)
        return rc;
    reply_bytes(out, 200, text, len, "text/plain; charset=utf-8");
    free(text);
    char size[32];
    snprintf(size, sizeof size, "%" PRId64, total);
    MHD_add_response_header(out->response, "X-Log-Size", size);
    return 0;
}

static void append(util_buf *b, const char *s)
{
    util_buf_append(b, s, strlen(s), 0);
}

/* metrics.json (metrics.h's pieces), made as it is sent: a run may have a million points (74 MB of
 * JSON), so the server holds one batch of one series at a time, never the file. Names are plain ASCII
 * (metrics_check_key): nothing to escape. */
#define JSON_BATCH 4096

typedef struct json_stream {
    store *store;
    char *run;
    store_series *list;         /* the series when the answer began; points logged since come too */
    size_t n, i;
    bool begun, in_series;
    int64_t next_off;           /* of the series' next point */
    size_t written;             /* points of the series written */
} json_stream;

static int json_more(void *state, util_buf *b)
{
    json_stream *js = state;
    char piece[METRICS_KEY_MAX + 160];
    if (!js->begun) {
        append(b, "{");
        js->begun = true;
    }
    while (b->len < 64 * 1024) {
        if (js->i == js->n) {
            append(b, metrics_json_end(js->n));
            return 1;
        }
        const char *name = js->list[js->i].name;
        if (!js->in_series) {
            metrics_json_head(piece, sizeof piece, name, js->i == 0);
            append(b, piece);
            js->in_series = true;
            js->next_off = 0;
            js->written = 0;
        }
        store_point *pts = NULL;
        size_t np = 0;
        amlfs_err err = {0};
        int rc = store_series_points_from(js->store, js->run, name, js->next_off, JSON_BATCH, &pts, &np, &err);
        if (rc < 0) {
            log_warning("metrics.json of run %s: %s", js->run, err.msg);
            return rc;
        }
        for (size_t k = 0; k < np; k++) {
            metrics_json_point(piece, sizeof piece, pts[k].step, pts[k].value, pts[k].timestamp, js->written++ == 0);
            append(b, piece);
        }
        if (np > 0)
            js->next_off = pts[np - 1].off + 1;
        free(pts);
        if (np < JSON_BATCH) {
            append(b, metrics_json_series_end(js->written));
            js->in_series = false;
            js->i++;
        }
    }
    return 0;
}

static void json_stream_free(void *state)
{
    json_stream *js = state;
    store_series_list_free(js->list, js->n);
    free(js->run);
    free(js);
}

int h_run_metrics_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *id = req->params[0];
    int rc = run_exists(srv, id, err);
    store_series *list = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_series_list(srv->store, id, &list, &n, err);
    if (rc < 0)
        return rc;
    json_stream *js = util_xcalloc(1, sizeof *js);
    *js = (json_stream){.store = srv->store, .run = util_xstrdup(id), .list = list, .n = n};
    return reply_stream(out, 200, "application/json", json_more, js, json_stream_free, err);
}

static int pairs_reply(server *srv, const http_request *req, bool tags, http_reply *out, amlfs_err *err)
{
    const char *id = req->params[0];
    int rc = run_exists(srv, id, err);
    store_pair *list = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = tags ? store_run_tags(srv->store, id, &list, &n, err) : store_run_params(srv->store, id, &list, &n, err);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++)
        cJSON_AddStringToObject(o, list[i].key, list[i].value);
    store_pairs_free(list, n);
    reply_json(out, 200, o);
    return 0;
}

int h_run_params_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return pairs_reply(srv, req, false, out, err);
}

int h_run_tags_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return pairs_reply(srv, req, true, out, err);
}

/* The member of run `id` in a summary being built. Rows come in the runs' submission order, as the runs
 * do: the cursor only moves forward, so 1,000 runs cost one pass. */
static cJSON *summary_run(cJSON *runs, cJSON **cursor, const char *id, const char *member)
{
    for (cJSON *r = *cursor ? *cursor : runs->child; r; r = r->next) {
        if (strcmp(json_str(r, "id", ""), id) == 0) {
            *cursor = r;
            return cJSON_GetObjectItemCaseSensitive(r, member);
        }
    }
    return NULL;
}

int experiment_comparison_load(server *srv, const char *experiment, experiment_comparison *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    store_experiment e;
    int rc = store_experiment_get(srv->store, experiment, &e, err);
    if (rc < 0)
        return rc;
    store_experiment_free(&e);
    if ((rc = store_run_list(srv->store, experiment, &out->runs, &out->nruns, err)) < 0 ||
        (rc = store_experiment_metric_last(srv->store, experiment, &out->last, &out->nlast, err)) < 0 ||
        (rc = store_experiment_params(srv->store, experiment, &out->params, &out->nparams, err)) < 0)
        experiment_comparison_free(out);
    return rc;
}

void experiment_comparison_free(experiment_comparison *c)
{
    store_run_list_free(c->runs, c->nruns);
    store_run_last_free(c->last, c->nlast);
    store_pairs_free(c->params, c->nparams);
    memset(c, 0, sizeof *c);
}

int h_experiment_runs_summary(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    experiment_comparison cmp;
    int rc = experiment_comparison_load(srv, name, &cmp, err);
    if (rc < 0)
        return rc;
    store_run *runs = cmp.runs;
    store_run_last *last = cmp.last;
    store_pair *params = cmp.params;
    size_t nruns = cmp.nruns, nlast = cmp.nlast, nparams = cmp.nparams;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "experiment", name);
    cJSON *arr = cJSON_AddArrayToObject(o, "runs");
    for (size_t i = 0; i < nruns; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", runs[i].id);
        cJSON_AddStringToObject(r, "status", run_status_name(runs[i].status));
        json_add_time(r, "created", runs[i].created);
        json_add_time(r, "started", runs[i].started);
        json_add_time(r, "ended", runs[i].ended);
        cJSON_AddObjectToObject(r, "params");
        cJSON_AddObjectToObject(r, "metrics");
        cJSON_AddItemToArray(arr, r);
    }
    cJSON *cursor = NULL;
    for (size_t i = 0; i < nparams; i++) {
        cJSON *p = summary_run(arr, &cursor, params[i].run, "params");
        if (p)
            cJSON_AddStringToObject(p, params[i].key, params[i].value);
    }
    cursor = NULL;
    for (size_t i = 0; i < nlast; i++) {
        cJSON *m = summary_run(arr, &cursor, last[i].run, "metrics");
        if (m)
            cJSON_AddItemToObject(m, last[i].name, point_json(last[i].step, last[i].value, last[i].timestamp));
    }
    reply_json(out, 200, o);
    experiment_comparison_free(&cmp);
    return 0;
}
