/* h_charts.c: metrics drawn and compared on read (docs/api.md "Metrics"): one series of a run as an SVG
 * line chart, one metric across an experiment's runs as an overlay, and the runs side by side as TSV. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/chart.h"
#include "amlfs/metrics.h"
#include "amlfs/util.h"

/* An overlay holds at most this many runs (the newest) and points in all: enough to see, bounded in memory. */
#define OVERLAY_RUNS_MAX 1000
#define OVERLAY_POINTS_MAX 400000
#define SERIES_POINTS_MIN 256

/* Steps on the x axis, unless every point has the same step (MLflow's log_metric without a step logs
 * step 0 each time): then time. */
static chart_x_kind axis_of(const store_point *pts, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (pts[i].step != pts[0].step)
            return CHART_X_STEP;
    return n > 1 ? CHART_X_TIME : CHART_X_STEP;
}

/* The points as drawn: steps; Unix seconds; or, for CHART_X_ELAPSED, seconds since the series' first
 * point (its earliest timestamp), so runs started hours apart are compared from their starts. */
static chart_point *chart_points(const store_point *pts, size_t n, chart_x_kind kind)
{
    chart_point *out = util_xcalloc(n ? n : 1, sizeof *out);
    int64_t origin = 0;
    for (size_t i = 0; kind == CHART_X_ELAPSED && i < n; i++)
        origin = i == 0 || pts[i].timestamp < origin ? pts[i].timestamp : origin;
    for (size_t i = 0; i < n; i++)
        out[i] = (chart_point){.x = kind == CHART_X_STEP ? (double)pts[i].step : (double)(pts[i].timestamp - origin) / 1000.0,
                               .y = pts[i].value};
    return out;
}

/* "NAME.svg" -> NAME (malloc'd), checked as a metric name; -ENOENT for anything else. */
static int chart_name(const char *tail, char **name, amlfs_err *err)
{
    size_t len = strlen(tail);
    if (len <= 4 || strcmp(tail + len - 4, ".svg") != 0)
        return amlfs_fail(err, ENOENT, "'%s' is not a chart: charts are METRIC.svg", tail);
    *name = util_strdupf("%.*s", (int)(len - 4), tail);
    int rc = metrics_check_key("metric name", *name, err);
    if (rc < 0) {
        free(*name);
        *name = NULL;
    }
    return rc;
}

static int reply_svg(const chart_series *series, size_t n, const chart_opts *opts, http_reply *out, amlfs_err *err)
{
    util_buf svg = {0};
    int rc = chart_svg(series, n, opts, &svg, err);
    if (rc == 0)
        reply_bytes(out, 200, svg.data, svg.len, "image/svg+xml");
    util_buf_free(&svg);
    return rc;
}

int h_run_chart(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *id = req->params[0];
    char *name = NULL;
    int rc = store_run_exists(srv->store, id) ? chart_name(req->tail, &name, err)
                                               : amlfs_fail(err, ENOENT, "run '%s' not found", id);
    store_point *pts = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_series_points(srv->store, id, name, 0, 0, &pts, &n, err);
    if (rc == 0 && n == 0)
        rc = amlfs_fail(err, ENOENT, "run %s has no metric '%s'", id, name);
    if (rc == 0) {
        chart_x_kind kind = axis_of(pts, n);
        chart_point *cp = chart_points(pts, n, kind);
        chart_series s = {.label = id, .points = cp, .count = n};
        chart_opts opts = {.title = name, .y_label = name, .x_kind = kind};
        rc = reply_svg(&s, 1, &opts, out, err);
        free(cp);
    }
    free(pts);
    free(name);
    return rc;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct metric names of an experiment's runs, sorted. */
static int metric_names(const store_run_last *last, size_t n, cJSON **out)
{
    const char **names = util_xcalloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = last[i].name;
    qsort(names, n, sizeof *names, by_string);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
    free(names);
    *out = arr;
    return 0;
}

/* A run's line in the legend: its parameters first, what tells runs apart ("lr=0.01 batch=64 · ID"), or
 * its id alone; the chart cuts it to fit. */
static char *legend_label(const char *run, const store_pair *params, size_t nparams, size_t *cursor)
{
    util_buf b = {0};
    while (*cursor < nparams && strcmp(params[*cursor].run, run) != 0)
        (*cursor)++; /* both lists are in the runs' submission order */
    for (; *cursor < nparams && strcmp(params[*cursor].run, run) == 0; (*cursor)++) {
        char *kv = util_strdupf("%s%s=%s", b.len ? " " : "", params[*cursor].key, params[*cursor].value);
        util_buf_append(&b, kv, strlen(kv), 0);
        free(kv);
    }
    if (b.len)
        util_buf_append(&b, " \u00b7 ", strlen(" \u00b7 "), 0);
    util_buf_append(&b, run, strlen(run), 0);
    return b.data;
}

/* One metric of the experiment's runs that have it (the newest OVERLAY_RUNS_MAX), each run a line. */
static int overlay(server *srv, const char *experiment, const char *metric, const store_run_last *last, size_t nlast,
                   http_reply *out, amlfs_err *err)
{
    const char **runs = util_xcalloc(nlast ? nlast : 1, sizeof *runs);
    size_t nruns = 0;
    for (size_t i = 0; i < nlast; i++) /* in submission order: the newest are last */
        if (strcmp(last[i].name, metric) == 0)
            runs[nruns++] = last[i].run;
    size_t skip = nruns > OVERLAY_RUNS_MAX ? nruns - OVERLAY_RUNS_MAX : 0;
    size_t count = nruns - skip;
    size_t cap = OVERLAY_POINTS_MAX / (count ? count : 1);
    if (cap < SERIES_POINTS_MIN)
        cap = SERIES_POINTS_MIN;
    chart_series *series = util_xcalloc(count ? count : 1, sizeof *series);
    store_point **held = util_xcalloc(count ? count : 1, sizeof *held);
    size_t *held_n = util_xcalloc(count ? count : 1, sizeof *held_n);
    /* Steps when every run has them; else time, each run from its own first point: a run that logs no
     * step (every point at step 0) would be a vertical line at 0 among the others' steps. */
    chart_x_kind kind = CHART_X_STEP;
    int rc = count ? 0 : amlfs_fail(err, ENOENT, "no run of experiment '%s' has a metric '%s'", experiment, metric);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = store_series_points(srv->store, runs[skip + i], metric, 0, 0, &held[i], &held_n[i], err);
        if (rc == 0 && axis_of(held[i], held_n[i]) != CHART_X_STEP)
            kind = CHART_X_ELAPSED;
    }
    store_pair *params = NULL;
    size_t nparams = 0, cursor = 0;
    if (rc == 0 && store_experiment_params(srv->store, experiment, &params, &nparams, NULL) < 0)
        nparams = 0; /* labels without parameters */
    for (size_t i = 0; rc == 0 && i < count; i++) {
        chart_point *cp = chart_points(held[i], held_n[i], kind);
        free(held[i]);
        held[i] = NULL;
        series[i] = (chart_series){.label = legend_label(runs[skip + i], params, nparams, &cursor), .points = cp,
                                   .count = chart_reduce(cp, held_n[i], cap)};
    }
    store_pairs_free(params, nparams);
    if (rc == 0) {
        char *title = util_strdupf("%s across the runs of %s", metric, experiment);
        chart_opts opts = {.title = title, .y_label = metric, .x_kind = kind, .x_since = "each run's first point"};
        rc = reply_svg(series, count, &opts, out, err);
        free(title);
    }
    for (size_t i = 0; i < count; i++) {
        free(held[i]);
        free((void *)series[i].points);
        free((void *)series[i].label);
    }
    free(held);
    free(held_n);
    free(series);
    free(runs);
    return rc;
}

int h_experiment_charts(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *experiment = req->params[0];
    store_experiment e;
    int rc = store_experiment_get(srv->store, experiment, &e, err);
    if (rc < 0)
        return rc;
    store_experiment_free(&e);
    store_run_last *last = NULL;
    size_t nlast = 0;
    char *metric = NULL;
    if ((rc = store_experiment_metric_last(srv->store, experiment, &last, &nlast, err)) < 0)
        return rc;
    if (!req->tail[0]) {
        cJSON *o = cJSON_CreateObject(), *names;
        metric_names(last, nlast, &names);
        cJSON_AddItemToObject(o, "metrics", names);
        reply_json(out, 200, o);
    } else if ((rc = chart_name(req->tail, &metric, err)) == 0) {
        rc = overlay(srv, experiment, metric, last, nlast, out, err);
    }
    free(metric);
    store_run_last_free(last, nlast);
    return rc;
}

/* The rows of metrics.tsv: each run with its parameters and the last value of each metric. The store's
 * lists come in the runs' submission order, so each run's entries are one stretch of them. */
int h_experiment_metrics_tsv(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    experiment_comparison cmp;
    int rc = experiment_comparison_load(srv, req->params[0], &cmp, err);
    if (rc < 0)
        return rc;
    const store_run *runs = cmp.runs;
    const store_run_last *last = cmp.last;
    const store_pair *params = cmp.params;
    size_t nruns = cmp.nruns, nlast = cmp.nlast, nparams = cmp.nparams;
    chart_table_run *rows = util_xcalloc(nruns ? nruns : 1, sizeof *rows);
    const char **pnames = util_xcalloc(nparams ? nparams : 1, sizeof *pnames);
    const char **pvalues = util_xcalloc(nparams ? nparams : 1, sizeof *pvalues);
    const char **mnames = util_xcalloc(nlast ? nlast : 1, sizeof *mnames);
    double *mvalues = util_xcalloc(nlast ? nlast : 1, sizeof *mvalues);
    for (size_t i = 0; i < nparams; i++) {
        pnames[i] = params[i].key;
        pvalues[i] = params[i].value;
    }
    for (size_t i = 0; i < nlast; i++) {
        mnames[i] = last[i].name;
        mvalues[i] = last[i].value;
    }
    size_t p = 0, m = 0;
    for (size_t i = 0; i < nruns; i++) {
        chart_table_run *r = &rows[i];
        r->run_id = runs[i].id;
        r->status = run_status_name(runs[i].status);
        r->started = (double)(runs[i].started ? runs[i].started : runs[i].created) / 1000.0;
        r->param_names = pnames + p;
        r->param_values = pvalues + p;
        while (p < nparams && strcmp(params[p].run, runs[i].id) == 0) {
            p++;
            r->n_params++;
        }
        r->metric_names = mnames + m;
        r->metric_last = mvalues + m;
        while (m < nlast && strcmp(last[m].run, runs[i].id) == 0) {
            m++;
            r->n_metrics++;
        }
    }
    util_buf tsv = {0};
    rc = chart_table_tsv(rows, nruns, &tsv, err);
    if (rc == 0)
        reply_bytes(out, 200, tsv.data, tsv.len, "text/tab-separated-values; charset=utf-8");
    util_buf_free(&tsv);
    free(rows);
    free(pnames);
    free(pvalues);
    free(mnames);
    free(mvalues);
    experiment_comparison_free(&cmp);
    return rc;
}
