/* chart.h: run metrics as text people read: an SVG line chart of one or more series, and the
 * comparison table of an experiment's runs (TSV). Pure rendering: data in, text out, no I/O. */
#ifndef AMLFS_CHART_H
#define AMLFS_CHART_H

#include <stddef.h>

#include "amlfs/err.h"
#include "amlfs/util.h"

/* ---- SVG line chart ------------------------------------------------------------------------- */

typedef struct chart_point {
    double x, y; /* x: the step, or Unix seconds for CHART_X_TIME */
} chart_point;

/* One line: a run's values of one metric. Points may come in any x order and x may repeat (MLflow
 * logs several values at one step); NaN and infinite values are skipped when drawing, and the chart
 * says how many were. Magnitudes beyond 1e300 are drawn at +-1e300, below 1e-300 as 0. */
typedef struct chart_series {
    const char *label; /* any bytes: escaped, invalid UTF-8 replaced by U+FFFD; NULL = no label */
    const chart_point *points;
    size_t count;
} chart_series;

typedef enum chart_x_kind {
    CHART_X_STEP, /* x is a step number: integer ticks, axis label "step" */
    /* x is Unix seconds: the axis shows time elapsed since the chart's earliest point, in seconds,
     * minutes, hours or days (whichever suits the span), and names that moment in UTC:
     * "minutes since 2026-11-26T13:02:26Z". Elapsed time reads well for training curves; the
     * anchor keeps the clock time recoverable. */
    CHART_X_TIME,
    /* x is seconds elapsed since each series' own start (the caller subtracts it): series that began
     * at different moments are compared from their starts, in the unit CHART_X_TIME would choose,
     * labelled "minutes since " and opts->x_since. */
    CHART_X_ELAPSED,
} chart_x_kind;

typedef struct chart_opts {
    const char *title;   /* NULL: with one series its label is the title */
    const char *y_label; /* NULL: no y axis label */
    chart_x_kind x_kind;
    const char *x_since; /* CHART_X_ELAPSED: what x counts from; NULL: "each series' first point" */
    unsigned width, height; /* pixels; 0 = CHART_DEFAULT_WIDTH/HEIGHT */
} chart_opts;

#define CHART_DEFAULT_WIDTH 800
#define CHART_DEFAULT_HEIGHT 450
#define CHART_MIN_WIDTH 240
#define CHART_MAX_WIDTH 4096
#define CHART_MIN_HEIGHT 160
#define CHART_MAX_HEIGHT 4096
#define CHART_MAX_SERIES 10000
/* Legend entries shown with several series; past that the last line says "+N more". */
#define CHART_LEGEND_MAX 20

/* Appends a standalone SVG 1.1 document to out: the title (with one series and a title, its label
 * beside it), axes with 1/2/5 x 10^k ticks labelled compactly (0.001, 2.5k, 1e-06) and a grid,
 * exactly one <path> element per series in the order given (empty for a series without points,
 * which the legend marks "no data"), coloured from the Okabe-Ito colour-blind-safe palette (after 7
 * series the colours come back dashed, dotted, dash-dotted), a circle marker where a series comes
 * down to one spot, and with more than one series a legend on the right: the first labels, as many
 * as fit and at most CHART_LEGEND_MAX, the last row "+N more" when some are left out. Without any
 * point the plot says "no data yet". Lines are decimated for drawing only: per pixel column the
 * first, lowest, highest and last point are kept (M4), so spikes stay visible; with many series
 * the columns per series shrink so the chart keeps to ~160,000 vertices (~2 MB for 1,000 runs of
 * 10,000 points). Coordinates have one decimal. Text is cut to fit, with an ellipsis.
 * opts may be NULL (defaults). Returns 0, or with out unchanged -EINVAL (bad arguments or size) or
 * -EFBIG (an SVG over 64 MB: a safety net no chart within these limits reaches). */
int chart_svg(const chart_series *series, size_t n, const chart_opts *opts, util_buf *out, amlfs_err *err);

/* Cuts pts (n points, in any order) down to at most max (at least 8) in place, for holding many long
 * series at once: per bucket of its own x range the first, lowest, highest and last point, in x order;
 * points with a NaN or infinite x or y are dropped. Returns the new count (n when already small enough). */
size_t chart_reduce(chart_point *pts, size_t n, size_t max);

/* ---- Comparison table ----------------------------------------------------------------------- */

/* One run's row. Names and values are any bytes; NULL or "" values show as "-". A name given twice
 * in one run: the last one counts. started <= 0 or not finite: unknown. */
typedef struct chart_table_run {
    const char *run_id;
    const char *status;
    double started; /* Unix seconds */
    const char *const *param_names;
    const char *const *param_values;
    size_t n_params;
    const char *const *metric_names;
    const double *metric_last; /* the last logged value of each metric */
    size_t n_metrics;
} chart_table_run;

#define CHART_TABLE_MAX_RUNS 100000
#define CHART_TABLE_MAX_NAMES 10000000 /* parameters (and metrics) of all runs together */

/* Appends a tab-separated table for `column -t -s$'\t'` (plain `column -t` also aligns it while no
 * value holds a space): a header line, then one line per run, oldest start first (unknown last, ties
 * by run id). Columns: run, status, started (ISO-8601 UTC), then params.NAME for the union of
 * parameter names and metrics.NAME for the union of metric names, each sorted by name (the prefixes
 * of MLflow's search_runs(), so a parameter and a metric may share a name). Empty cells are "-";
 * tabs, line breaks and other control characters in names and values become spaces and invalid
 * UTF-8 U+FFFD, so a row stays one line; cells longer than 100 characters end in "...". Numbers
 * are %.6g; NaN and infinities are "NaN", "Inf", "-Inf".
 * Returns 0, or with out unchanged -EINVAL (NULL arrays with counts), -E2BIG (past the limits above)
 * or -EFBIG (a table over 64 MB). */
int chart_table_tsv(const chart_table_run *runs, size_t n, util_buf *out, amlfs_err *err);

#endif
