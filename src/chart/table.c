/* table.c: chart_table_tsv: an experiment's runs side by side, one line each, their parameters
 * and the last value of each metric. Names are found by binary search in the sorted union. */
#include "chart_internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TSV_MAX_BYTES ((size_t)64 << 20)
#define CELL_MAX_CHARS 100

typedef struct tsv_writer {
    util_buf *out;
    size_t limit;
    int rc;
} tsv_writer;

static void put_raw(tsv_writer *w, const char *s)
{
    if (w->rc == 0)
        w->rc = util_buf_append(w->out, s, strlen(s), w->limit);
}

/* A cell: "-" when empty, otherwise cleaned so it stays in its column and its line. */
static void put_cell(tsv_writer *w, const char *sep, const char *s)
{
    put_raw(w, sep);
    if (!s || !*s)
        put_raw(w, "-");
    else if (w->rc == 0)
        w->rc = chart_text_append(w->out, s, CELL_MAX_CHARS, "...", CHART_TEXT_TSV, w->limit);
}

static void put_number(tsv_writer *w, double v)
{
    char num[40];
    if (isnan(v))
        snprintf(num, sizeof num, "\tNaN");
    else if (isinf(v))
        snprintf(num, sizeof num, "\t%s", v < 0 ? "-Inf" : "Inf");
    else
        snprintf(num, sizeof num, "\t%.6g", v);
    put_raw(w, num);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted, distinct names of every run's parameters (metrics = false) or metrics. */
static size_t union_names(const chart_table_run *runs, size_t n, bool metrics, const char ***names)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += metrics ? runs[i].n_metrics : runs[i].n_params;
    const char **all = util_xcalloc(total, sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *const *list = metrics ? runs[i].metric_names : runs[i].param_names;
        size_t count = metrics ? runs[i].n_metrics : runs[i].n_params;
        for (size_t j = 0; j < count; j++)
            if (list[j])
                all[k++] = list[j];
    }
    qsort(all, k, sizeof *all, compare_names);
    size_t distinct = 0;
    for (size_t j = 0; j < k; j++)
        if (distinct == 0 || strcmp(all[distinct - 1], all[j]) != 0)
            all[distinct++] = all[j];
    *names = all;
    return distinct;
}

static size_t find_name(const char **names, size_t n, const char *name)
{
    const char **hit = bsearch(&name, names, n, sizeof *names, compare_names);
    return hit ? (size_t)(hit - names) : SIZE_MAX;
}

typedef struct row_order {
    double started; /* NAN when unknown */
    const char *run_id;
    size_t index;
} row_order;

static bool known_time(double t)
{
    return isfinite(t) && t > 0;
}

/* Oldest first, unknown start last, then by run id, then as given. */
static int compare_rows(const void *a, const void *b)
{
    const row_order *x = a, *y = b;
    bool kx = known_time(x->started), ky = known_time(y->started);
    if (kx != ky)
        return kx ? -1 : 1;
    if (kx && x->started != y->started)
        return x->started < y->started ? -1 : 1;
    int c = strcmp(x->run_id, y->run_id);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int check_runs(const chart_table_run *runs, size_t n, amlfs_err *err)
{
    if (!runs && n)
        return amlfs_fail(err, EINVAL, "table: %zu runs announced but none given", n);
    if (n > CHART_TABLE_MAX_RUNS)
        return amlfs_fail(err, E2BIG, "table: %zu runs are more than the %d one table shows", n,
                          CHART_TABLE_MAX_RUNS);
    size_t params = 0, metrics = 0;
    for (size_t i = 0; i < n; i++) {
        const chart_table_run *r = &runs[i];
        /* Each count is compared before it is added, so the sums cannot wrap. */
        if (r->n_params > CHART_TABLE_MAX_NAMES - params || r->n_metrics > CHART_TABLE_MAX_NAMES - metrics)
            return amlfs_fail(err, E2BIG, "table: the runs hold more than %d parameters or metrics in all",
                              CHART_TABLE_MAX_NAMES);
        params += r->n_params;
        metrics += r->n_metrics;
        if (r->n_params && (!r->param_names || !r->param_values))
            return amlfs_fail(err, EINVAL, "table: run %zu has %zu parameters but no names or values", i,
                              r->n_params);
        if (r->n_metrics && (!r->metric_names || !r->metric_last))
            return amlfs_fail(err, EINVAL, "table: run %zu has %zu metrics but no names or values", i,
                              r->n_metrics);
    }
    return 0;
}

static void put_header(tsv_writer *w, const char **params, size_t np, const char **metrics, size_t nm)
{
    put_raw(w, "run\tstatus\tstarted");
    for (size_t j = 0; j < np; j++) {
        put_raw(w, "\tparams.");
        if (w->rc == 0)
            w->rc = chart_text_append(w->out, params[j], CELL_MAX_CHARS, "...", CHART_TEXT_TSV, w->limit);
    }
    for (size_t j = 0; j < nm; j++) {
        put_raw(w, "\tmetrics.");
        if (w->rc == 0)
            w->rc = chart_text_append(w->out, metrics[j], CELL_MAX_CHARS, "...", CHART_TEXT_TSV, w->limit);
    }
    put_raw(w, "\n");
}

/* One run's line; value and metric hold one slot per column (scratch). */
static void put_row(tsv_writer *w, const chart_table_run *r, const char **params, size_t np,
                    const char **metrics, size_t nm, const char **value, const double **metric)
{
    for (size_t j = 0; j < np; j++)
        value[j] = NULL;
    for (size_t j = 0; j < nm; j++)
        metric[j] = NULL;
    for (size_t j = 0; j < r->n_params; j++) {
        size_t at = r->param_names[j] ? find_name(params, np, r->param_names[j]) : SIZE_MAX;
        if (at != SIZE_MAX)
            value[at] = r->param_values[j];
    }
    for (size_t j = 0; j < r->n_metrics; j++) {
        size_t at = r->metric_names[j] ? find_name(metrics, nm, r->metric_names[j]) : SIZE_MAX;
        if (at != SIZE_MAX)
            metric[at] = &r->metric_last[j];
    }
    put_cell(w, "", r->run_id);
    put_cell(w, "\t", r->status);
    char when[40] = "";
    if (known_time(r->started) && r->started < 253402300800.0) /* up to year 9999 */
        util_iso8601((int64_t)(r->started * 1000), when, sizeof when);
    put_cell(w, "\t", when);
    for (size_t j = 0; j < np; j++)
        put_cell(w, "\t", value[j]);
    for (size_t j = 0; j < nm; j++) {
        if (metric[j])
            put_number(w, *metric[j]);
        else
            put_raw(w, "\t-");
    }
    put_raw(w, "\n");
}

int chart_table_tsv(const chart_table_run *runs, size_t n, util_buf *out, amlfs_err *err)
{
    if (!out)
        return amlfs_fail(err, EINVAL, "table: no output buffer");
    int rc = check_runs(runs, n, err);
    if (rc < 0)
        return rc;
    const char **params, **metrics;
    size_t np = union_names(runs, n, false, &params);
    size_t nm = union_names(runs, n, true, &metrics);
    row_order *order = util_xcalloc(n, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = (row_order){runs[i].started, runs[i].run_id ? runs[i].run_id : "", i};
    qsort(order, n, sizeof *order, compare_rows);
    const char **value = util_xcalloc(np, sizeof *value);
    const double **metric = util_xcalloc(nm, sizeof *metric);

    size_t start = out->len;
    tsv_writer w = {.out = out, .limit = start + TSV_MAX_BYTES};
    put_header(&w, params, np, metrics, nm);
    for (size_t i = 0; i < n && w.rc == 0; i++)
        put_row(&w, &runs[order[i].index], params, np, metrics, nm, value, metric);

    free(value);
    free(metric);
    free(order);
    free(params);
    free(metrics);
    if (w.rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return amlfs_fail(err, -w.rc, "table: the TSV would pass %zu MB", TSV_MAX_BYTES >> 20);
    }
    return 0;
}
