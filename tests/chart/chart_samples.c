/* chart_samples.c: writes sample charts and a comparison table into a folder, to look at in a
 * browser after changing src/chart/ (build/tests/chart_samples DIR); prints each file's size and time. */
#include "amlfs/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A small deterministic generator: the same samples every time. */
typedef struct rng {
    unsigned long long state;
} rng;

static double uniform(rng *r)
{
    r->state = r->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(r->state >> 11) / 9007199254740992.0;
}

static double noise(rng *r)
{
    return uniform(r) + uniform(r) + uniform(r) - 1.5;
}

/* A training loss: decays from ~2.3 towards floor, noisy, with an occasional spike. */
static chart_point *loss_curve(size_t n, double rate, double floor, unsigned long long seed)
{
    rng r = {seed};
    chart_point *p = calloc(n, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        double base = floor + 2.3 * exp(-(double)i * rate);
        double spike = uniform(&r) < 0.001 ? 1.5 * uniform(&r) : 0;
        p[i] = (chart_point){(double)i, base * (1 + 0.15 * noise(&r)) + spike};
    }
    return p;
}

static int write_chart(const char *dir, const char *name, const chart_series *s, size_t n, const chart_opts *o)
{
    util_buf out = {0};
    amlfs_err err = {0};
    int64_t t0 = util_mono_ms();
    int rc = chart_svg(s, n, o, &out, &err);
    int64_t ms = util_mono_ms() - t0;
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return rc;
    }
    char *path = util_strdupf("%s/%s", dir, name);
    rc = util_write_file_atomic(path, out.data, out.len, 0644, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    printf("%-16s %8zu bytes %5lld ms\n", name, out.len, (long long)ms);
    free(path);
    util_buf_free(&out);
    return rc;
}

static void samples_lines(const char *dir)
{
    chart_point *loss = loss_curve(10000, 1.0 / 1500, 0.05, 1);
    chart_series one = {"run-7f3a", loss, 10000};
    write_chart(dir, "loss.svg", &one, 1, &(chart_opts){.title = "train/loss", .y_label = "loss"});

    chart_series five[5];
    chart_point *curves[5];
    static const char *const labels[] = {"lr=0.1", "lr=0.03", "lr=0.01", "lr=0.003 (batch 256, adam)", "lr=0.001"};
    for (size_t i = 0; i < 5; i++) {
        curves[i] = loss_curve(2000, 1.0 / (100.0 + 150.0 * (double)i), 0.04 * (double)(i + 1), 10 + i);
        five[i] = (chart_series){labels[i], curves[i], 2000 - 200 * i};
    }
    write_chart(dir, "overlay.svg", five, 5, &(chart_opts){.title = "val/loss", .y_label = "loss"});

    write_chart(dir, "small.svg", five, 3, &(chart_opts){.title = "val/loss", .y_label = "loss", .width = 240, .height = 160});

    rng r = {3};
    chart_point acc[300];
    double t = 1764162146; /* 2025-11-26 13:02:26 UTC */
    for (size_t i = 0; i < 300; i++) {
        t += 5 + 10 * uniform(&r);
        acc[i] = (chart_point){t, 0.97 - 0.6 * exp(-(double)i / 60) + 0.01 * noise(&r)};
    }
    chart_series timed = {"run-time", acc, 300};
    write_chart(dir, "time.svg", &timed, 1, &(chart_opts){.title = "accuracy", .y_label = "accuracy", .x_kind = CHART_X_TIME});

    chart_point single = {42, 0.731};
    chart_series dot = {"run-1", &single, 1};
    write_chart(dir, "one_point.svg", &dot, 1, &(chart_opts){.title = "val/acc", .y_label = "accuracy"});

    write_chart(dir, "empty.svg", NULL, 0, &(chart_opts){.title = "loss"});

    chart_point weird[6] = {{0, 1e-6}, {1, NAN}, {2, 3e-6}, {3, INFINITY}, {4, 2.5e-6}, {5, 4e-6}};
    chart_series tiny = {"lr <script>alert(1)</script> & \"q\" \xff\xfe", weird, 6};
    write_chart(dir, "tiny.svg", &tiny, 1, &(chart_opts){.y_label = "learning rate"});

    chart_point neg[4] = {{0, -2.5e9}, {10, 1.2e9}, {20, -3e8}, {30, 4.4e9}};
    chart_series big = {"reward", neg, 4};
    write_chart(dir, "huge.svg", &big, 1, &(chart_opts){.title = "episode reward", .width = 500, .height = 300});

    chart_point flat[50];
    for (size_t i = 0; i < 50; i++)
        flat[i] = (chart_point){(double)i * 100, 0.5};
    chart_series constant = {"run-flat", flat, 50};
    write_chart(dir, "constant.svg", &constant, 1, &(chart_opts){.title = "dropout"});

    size_t runs = 1000, points = 10000;
    chart_series *many = calloc(runs, sizeof *many);
    chart_point **data = calloc(runs, sizeof *data);
    char **names = calloc(runs, sizeof *names);
    for (size_t i = 0; i < runs; i++) {
        data[i] = loss_curve(points, 1.0 / (500.0 + (double)i), 0.02 + 0.0002 * (double)i, 100 + i);
        names[i] = util_strdupf("sweep-%04zu", i);
        many[i] = (chart_series){names[i], data[i], points};
    }
    write_chart(dir, "runs1000.svg", many, runs, &(chart_opts){.title = "loss across the sweep", .y_label = "loss"});
    write_chart(dir, "runs30.svg", many, 30, &(chart_opts){.title = "loss, 30 runs", .y_label = "loss"});
    /* Labels as the server makes them (parameters, then the run id), the second run without a drawable point. */
    chart_point nan_only[3] = {{0, NAN}, {1, NAN}, {2, INFINITY}};
    for (size_t i = 0; i < 40; i++) {
        free(names[i]);
        names[i] = util_strdupf("lr=%g batch_size=%d \u00b7 sweep.lr-search_1796170044_%08zx", 0.001 * (double)(i + 1),
                                64 << (i % 3), i * 2654435761u);
        many[i] = (chart_series){names[i], i == 1 ? nan_only : data[i], i == 1 ? 3 : 2000};
    }
    write_chart(dir, "legend40.svg", many, 40, &(chart_opts){.title = "val/loss across the runs of sweep.lr-search", .y_label = "val/loss"});
    for (size_t i = 0; i < runs; i++) {
        free(data[i]);
        free(names[i]);
    }
    free(many);
    free(data);
    free(names);
    for (size_t i = 0; i < 5; i++)
        free(curves[i]);
    free(loss);
}

static void sample_table(const char *dir)
{
    const char *pn1[] = {"lr", "batch_size", "optimizer"}, *pv1[] = {"0.01", "64", "adam"};
    const char *mn1[] = {"loss", "accuracy"};
    double mv1[] = {0.0734, 0.9712};
    const char *pn2[] = {"lr", "notes"}, *pv2[] = {"0.1", "tab\there\nnewline"};
    const char *mn2[] = {"loss", "val_loss"};
    double mv2[] = {NAN, 1.23456789e-7};
    chart_table_run runs[] = {
        {"run-b", "Completed", 1764162146, pn1, pv1, 3, mn1, mv1, 2},
        {"run-a", "Running", 1764160000, pn2, pv2, 2, mn2, mv2, 2},
        {"run-c", "Queued", 0, NULL, NULL, 0, NULL, NULL, 0},
    };
    util_buf out = {0};
    amlfs_err err = {0};
    if (chart_table_tsv(runs, 3, &out, &err) < 0) {
        fprintf(stderr, "table: %s\n", err.msg);
        return;
    }
    char *path = util_strdupf("%s/metrics.tsv", dir);
    util_write_file_atomic(path, out.data, out.len, 0644, &err);
    printf("%-16s %8zu bytes\n", "metrics.tsv", out.len);
    free(path);
    util_buf_free(&out);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: chart_samples DIR\n");
        return 2;
    }
    amlfs_err err = {0};
    if (util_mkdir_p(argv[1], 0755, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    samples_lines(argv[1]);
    sample_table(argv[1]);
    return 0;
}
