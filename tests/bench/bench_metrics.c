/* bench_metrics.c: `make bench`: how fast the store reads metrics at the scale issue 9 names: 10,000 points
 * in one series, 100 series in one run, 1,000 runs in one experiment. Prints one line per measure (not a
 * test: nothing fails on a slow machine; it exits 1 only when the store fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/metrics.h"
#include "amlfs/store.h"
#include "amlfs/util.h"

#define SERIES 100
#define POINTS 10000
#define RUNS 1000
#define BATCH 10000

static int64_t t0;
static void start(void) { t0 = util_mono_ms(); }
static void done(const char *what) { printf("%-64s %6lld ms\n", what, (long long)(util_mono_ms() - t0)); }

static int fail(const amlfs_err *err)
{
    fprintf(stderr, "bench_metrics: %s\n", err->msg);
    return 1;
}

int main(void)
{
    char dir[] = "/tmp/amlfs-bench.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char *db = util_strdupf("%s/workspace.db", dir);
    store *s = NULL;
    amlfs_err err = {0};
    int rc = 1;
    if (store_open(db, &s, &err) < 0 || store_experiment_create(s, "bench", 1, &err) < 0)
        goto out;
    char names[SERIES][16];
    store_metric_in *pts = util_xcalloc(BATCH, sizeof *pts);
    /* One run with 100 series of 10,000 points (a million points), in batches as ingestion makes them. */
    store_run big = {.id = "big", .experiment = "bench", .compute = "local", .created = 1};
    if (store_run_insert(s, &big, &err) < 0)
        goto out;
    start();
    for (int k = 0; k < SERIES; k++) {
        snprintf(names[k], sizeof names[k], "series%03d", k);
        for (int i = 0; i < POINTS; i++)
            pts[i] = (store_metric_in){.name = names[k], .value = 1.0 / (i + 1), .timestamp = 1764000000000 + i};
        if (store_run_data_add(s, "big", pts, POINTS, NULL, 0, NULL, 0, NULL, NULL, NULL, &err) < 0)
            goto out;
    }
    done("store 100 series x 10,000 points (100 transactions)");
    char *text;
    size_t len;
    int64_t total;
    start();
    if (store_series_text(s, "big", "series050", 0, INT64_MAX / 2, &text, &len, &total, &err) < 0)
        goto out;
    free(text);
    done("read one series of 10,000 points whole (cat metrics/NAME)");
    start();
    for (int i = 0; i < 100; i++) {
        if (store_series_text(s, "big", "series050", total - 4096, 4096, &text, &len, &total, &err) < 0)
            goto out;
        free(text);
    }
    done("read its last 4 KiB, 100 times (tail -f)");
    store_point *points;
    size_t np;
    start();
    if (store_series_points(s, "big", "series050", 0, 0, &points, &np, &err) < 0)
        goto out;
    free(points);
    done("its 10,000 points (metrics.json, MLflow's get-history)");
    store_series *series;
    size_t ns;
    start();
    for (int i = 0; i < 100; i++) {
        if (store_series_list(s, "big", &series, &ns, &err) < 0)
            goto out;
        store_series_list_free(series, ns);
    }
    done("list the run's 100 series with last values, 100 times (ls metrics/)");
    /* 1,000 runs in the experiment, each with 5 series of 100 points and 3 parameters. */
    start();
    for (int r = 0; r < RUNS; r++) {
        char id[32], lr[32];
        snprintf(id, sizeof id, "run%04d", r);
        snprintf(lr, sizeof lr, "%g", 0.001 * (r + 1));
        store_run run = {.id = id, .experiment = "bench", .compute = "local", .created = 2 + r};
        store_kv params[] = {{"lr", lr}, {"epochs", "10"}, {"model", "resnet"}};
        int n = 0;
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < 100; i++)
                pts[n++] = (store_metric_in){.name = names[k], .value = i, .timestamp = 1764000000000 + i};
        if (store_run_insert(s, &run, &err) < 0 ||
            store_run_data_add(s, id, pts, (size_t)n, params, 3, NULL, 0, NULL, NULL, NULL, &err) < 0)
            goto out;
    }
    done("store 1,000 runs x (5 series x 100 points + 3 params)");
    store_run_last *last;
    store_pair *pairs;
    size_t nl, npairs;
    start();
    if (store_experiment_metric_last(s, "bench", &last, &nl, &err) < 0 ||
        store_experiment_params(s, "bench", &pairs, &npairs, &err) < 0)
        goto out;
    store_run_last_free(last, nl);
    store_pairs_free(pairs, npairs);
    done("last value of every metric and every param of 1,001 runs (runs-summary)");
    free(pts);
    rc = 0;
out:
    if (rc)
        fail(&err);
    store_close(s);
    amlfs_err ignored = {0};
    if (util_rm_rf(dir, &ignored) < 0)
        fprintf(stderr, "bench_metrics: %s\n", ignored.msg);
    free(db);
    return rc;
}
