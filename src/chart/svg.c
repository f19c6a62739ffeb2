/* svg.c: chart_svg: checks its arguments, finds the data's extent, lays the chart out (title, plot,
 * axes, legend) and writes it; the elements themselves are drawn by svg_draw.c and svg_legend.c. */
#include "chart_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* All series together keep to about this many vertices: ~2 MB of path data however many runs. */
#define VERTEX_BUDGET 160000
/* No chart comes near this; it bounds the output whatever happens. */
#define SVG_MAX_BYTES ((size_t)64 << 20)

/* The drawable points' extent, clamped values (x before the time transform). */
typedef struct extent {
    double x_lo, x_hi, y_lo, y_hi;
    size_t points, skipped;
} extent;

static int check_args(const chart_series *series, size_t n, const chart_opts *opts, util_buf *out,
                      amlfs_err *err)
{
    if (!out)
        return amlfs_fail(err, EINVAL, "chart: no output buffer");
    if (!series && n)
        return amlfs_fail(err, EINVAL, "chart: %zu series announced but none given", n);
    if (n > CHART_MAX_SERIES)
        return amlfs_fail(err, EINVAL, "chart: %zu series are more than the %d one chart can show", n,
                          CHART_MAX_SERIES);
    for (size_t i = 0; i < n; i++)
        if (series[i].count && !series[i].points)
            return amlfs_fail(err, EINVAL, "chart: series %zu has %zu points but no array", i, series[i].count);
    if (opts && opts->width && (opts->width < CHART_MIN_WIDTH || opts->width > CHART_MAX_WIDTH))
        return amlfs_fail(err, EINVAL, "chart: width %u is outside %d..%d pixels", opts->width,
                          CHART_MIN_WIDTH, CHART_MAX_WIDTH);
    if (opts && opts->height && (opts->height < CHART_MIN_HEIGHT || opts->height > CHART_MAX_HEIGHT))
        return amlfs_fail(err, EINVAL, "chart: height %u is outside %d..%d pixels", opts->height,
                          CHART_MIN_HEIGHT, CHART_MAX_HEIGHT);
    if (opts && opts->x_kind != CHART_X_STEP && opts->x_kind != CHART_X_TIME && opts->x_kind != CHART_X_ELAPSED)
        return amlfs_fail(err, EINVAL, "chart: unknown x axis kind %d", (int)opts->x_kind);
    return 0;
}

static extent measure(const chart_series *series, size_t n, size_t *drawn)
{
    extent e = {0};
    chart_xform identity = {0, 1};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < series[i].count; k++) {
            double x, y;
            if (!chart_point_drawn(&series[i].points[k], &identity, &x, &y)) {
                e.skipped++;
                continue;
            }
            if (e.points == 0) {
                e.x_lo = e.x_hi = x;
                e.y_lo = e.y_hi = y;
            }
            /* Plain comparisons: fmin/fmax are library calls, and no NaN gets here. */
            e.x_lo = x < e.x_lo ? x : e.x_lo;
            e.x_hi = x > e.x_hi ? x : e.x_hi;
            e.y_lo = y < e.y_lo ? y : e.y_lo;
            e.y_hi = y > e.y_hi ? y : e.y_hi;
            e.points++;
            drawn[i]++;
        }
    }
    return e;
}

static size_t clamp_size(double v, size_t lo, size_t hi)
{
    return v < (double)lo ? lo : v > (double)hi ? hi : (size_t)v;
}

/* The x axis for the plot's width: as many ticks as their labels leave room for. */
static void make_x_axis(chart_frame *f, double lo, double hi, double min_step)
{
    double plot_w = f->right - f->left;
    size_t max_ticks = clamp_size(plot_w / 70, 2, 12);
    for (;;) {
        chart_axis_make(&f->x, lo, hi, 0.02, max_ticks, min_step);
        double need = (f->x.label_px + 16) * (double)f->x.n_ticks;
        if (need <= plot_w || max_ticks == 2)
            break;
        max_ticks--;
    }
}

/* The plot's left and right edges (top and bottom are set): the y tick labels and the y label
 * take the left, the legend with several series the right. */
static void lay_out(chart_frame *f, const chart_series *series, size_t n, const size_t *drawn,
                    const char *y_label, double *legend_w, size_t *legend_rows)
{
    double plot_h = f->bottom - f->top;
    f->left = (y_label && *y_label ? 26 : 8) + f->y.label_px + 8;
    f->left = floor(fmin(f->left, f->width * 0.35));
    f->right = f->width - 20;
    *legend_w = 0;
    *legend_rows = 0;
    if (n > 1) {
        size_t rows = clamp_size(plot_h / CHART_LEGEND_ROW, 1, CHART_LEGEND_MAX);
        rows = rows < n ? rows : n;
        double widest = chart_text_px("+10000 more", 11, false);
        for (size_t i = 0; i < rows; i++) {
            double px = series[i].label && *series[i].label ? chart_text_px(series[i].label, 11, false)
                                                              : chart_text_px("series 10000", 11, false);
            px += drawn[i] ? 0 : chart_text_px(CHART_NO_DATA, 11, false);
            widest = fmax(widest, px);
        }
        *legend_w = fmin(fmax(CHART_LEGEND_TEXT_X + 4 + widest, 90), f->width * 0.3);
        *legend_rows = rows;
        f->right = floor(f->width - *legend_w - 16);
    }
}

static void draw_title(chart_svg_writer *w, const chart_frame *f, const char *title, const char *subtitle)
{
    double room = f->width - 24;
    chart_svg_put(w, "<text x=\"12\" y=\"26\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">");
    size_t fit = chart_text_fit(title, room, 15, true);
    chart_svg_put_text(w, title, fit);
    /* The subtitle only beside a whole title, and only when a few of its characters fit. */
    double left = room - chart_text_px(title, 15, true) - chart_text_px(" \xC2\xB7 ", 13, false);
    if (subtitle && fit == 0 && left > 60) {
        chart_svg_put(w, "<tspan font-size=\"13\" font-weight=\"normal\" fill=\"#666\"> \xC2\xB7 ");
        chart_svg_put_text(w, subtitle, chart_text_fit(subtitle, left, 13, false));
        chart_svg_put(w, "</tspan>");
    }
    chart_svg_put(w, "</text>\n");
}

static void draw_notes(chart_svg_writer *w, const chart_frame *f, const extent *e)
{
    if (e->points == 0) {
        chart_svg_put(w, "<text x=\"");
        chart_svg_put_num(w, (f->left + f->right) / 2);
        chart_svg_put(w, "\" y=\"");
        chart_svg_put_num(w, (f->top + f->bottom) / 2);
        chart_svg_put(w, "\" text-anchor=\"middle\" font-size=\"14\" fill=\"#888\">no data yet</text>\n");
    }
    if (e->skipped) {
        chart_svg_put(w, "<text x=\"12\" y=\"");
        chart_svg_put_num(w, f->height - 8);
        chart_svg_putf(w, "\" font-size=\"10\" fill=\"#888\">%zu value%s not drawn (NaN or infinite)</text>\n",
                       e->skipped, e->skipped == 1 ? "" : "s");
    }
}

/* The x label: "step", or for time the unit and the moment it counts from. */
static void x_label_for(const chart_opts *opts, const extent *e, chart_xform *xf, char *label, size_t len)
{
    if (opts->x_kind == CHART_X_STEP) {
        snprintf(label, len, "step");
        return;
    }
    if (e->points == 0) {
        snprintf(label, len, "time");
        return;
    }
    if (opts->x_kind == CHART_X_ELAPSED) {
        /* Each series starts at 0 already: only the unit is chosen. */
        chart_time_unit unit = chart_time_unit_for(e->x_hi - fmin(e->x_lo, 0));
        xf->x_unit = unit.seconds;
        snprintf(label, len, "%s since %s", unit.name,
                 opts->x_since && *opts->x_since ? opts->x_since : "each series' first point");
        return;
    }
    chart_time_unit unit = chart_time_unit_for(e->x_hi - e->x_lo);
    xf->x_origin = e->x_lo;
    xf->x_unit = unit.seconds;
    if (e->x_lo >= 0 && e->x_lo < 253402300800.0) { /* up to year 9999 */
        char when[40];
        util_iso8601((int64_t)(e->x_lo * 1000), when, sizeof when);
        snprintf(label, len, "%s since %s", unit.name, when);
    } else {
        snprintf(label, len, "%s since the first point", unit.name);
    }
}

/* Everything decided before the first byte is written. */
typedef struct chart_plan {
    chart_frame frame;
    chart_xform xf;
    double x_lo, x_hi; /* the drawn x extent, after the time transform */
    char x_label[160];
    const char *title, *subtitle; /* NULL: none */
    double legend_w;
    size_t legend_rows; /* 0: no legend */
} chart_plan;

static void plan_chart(chart_plan *p, const chart_series *series, size_t n, const chart_opts *opts,
                       const size_t *drawn, const extent *e)
{
    chart_frame *f = &p->frame;
    p->xf = (chart_xform){0, 1};
    x_label_for(opts, e, &p->xf, p->x_label, sizeof p->x_label);
    double y_lo = 0, y_hi = 1; /* no data: an empty frame of sensible size */
    p->x_lo = 0;
    p->x_hi = 10;
    if (e->points) {
        p->x_lo = chart_clamp_value((e->x_lo - p->xf.x_origin) / p->xf.x_unit);
        p->x_hi = chart_clamp_value((e->x_hi - p->xf.x_origin) / p->xf.x_unit);
        y_lo = e->y_lo;
        y_hi = e->y_hi;
    }
    const char *label0 = n == 1 && series[0].label && *series[0].label ? series[0].label : NULL;
    bool has_title = opts->title && *opts->title;
    p->title = has_title ? opts->title : label0;
    p->subtitle = has_title ? label0 : NULL;

    /* The y ticks first: their labels' width sets the plot's left edge, which sets the x ticks. */
    f->top = p->title ? 44 : 14;
    f->bottom = f->height - 44 - (e->skipped ? 12 : 0);
    chart_axis_make(&f->y, y_lo, y_hi, 0.05, clamp_size((f->bottom - f->top) / 40, 2, 10), 0);
    lay_out(f, series, n, drawn, opts->y_label, &p->legend_w, &p->legend_rows);
    double min_step = opts->x_kind == CHART_X_STEP ? 1 : 0;
    make_x_axis(f, p->x_lo, p->x_hi, min_step);
    /* The last x label is centred on its tick: keep it inside the picture. */
    double overhang = chart_frame_px(f, f->x.ticks[f->x.n_ticks - 1]) +
                      f->x.label_px / 2 - (f->width - 4);
    if (p->legend_rows == 0 && overhang > 0) {
        f->right = floor(f->right - overhang);
        make_x_axis(f, p->x_lo, p->x_hi, min_step);
    }
}

/* Every series' path, decimated to its share of the vertex budget: a column per pixel, fewer
 * when many series share it. */
static void draw_lines(chart_svg_writer *w, const chart_plan *p, const chart_series *series, size_t n)
{
    size_t columns = clamp_size(p->frame.right - p->frame.left, 1, CHART_MAX_WIDTH);
    size_t share = n ? VERTEX_BUDGET / 4 / n : columns;
    columns = share < 2 ? 2 : share < columns ? share : columns;
    chart_columns cols;
    chart_columns_init(&cols, columns);
    chart_kept kept = {0};
    bool many = n > 10; /* thinner and see-through, so crossing lines stay apart */
    chart_svg_putf(w, "<g fill=\"none\" stroke-width=\"%s\" stroke-linejoin=\"round\" stroke-linecap=\"round\"%s>\n",
                   many ? "1" : "1.5", many ? " stroke-opacity=\"0.8\"" : "");
    for (size_t i = 0; i < n && w->rc == 0; i++) {
        chart_decimate(&series[i], &p->xf, p->x_lo, p->x_hi, &cols, &kept);
        chart_draw_series(w, &p->frame, &series[i], i, &p->xf, &kept);
    }
    chart_svg_put(w, "</g>\n");
    chart_kept_free(&kept);
    chart_columns_free(&cols);
}

static void write_chart(chart_svg_writer *w, const chart_plan *p, const chart_series *series, size_t n,
                        const chart_opts *opts, const size_t *drawn, const extent *e)
{
    const chart_frame *f = &p->frame;
    chart_svg_putf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
                      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n",
                   f->width, f->height, f->width, f->height);
    if (p->title) {
        chart_svg_put(w, "<title>");
        chart_svg_put_text(w, p->title, 200);
        chart_svg_put(w, "</title>\n");
    }
    chart_svg_putf(w, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", f->width, f->height);
    if (p->title)
        draw_title(w, f, p->title, p->subtitle);
    chart_draw_axes(w, f, p->x_label, opts->y_label);
    draw_lines(w, p, series, n);
    if (p->legend_rows)
        chart_draw_legend(w, series, n, drawn, f->right + 14, f->top, p->legend_w, p->legend_rows);
    draw_notes(w, f, e);
    chart_svg_put(w, "</svg>\n");
}

int chart_svg(const chart_series *series, size_t n, const chart_opts *opts, util_buf *out, amlfs_err *err)
{
    int rc = check_args(series, n, opts, out, err);
    if (rc < 0)
        return rc;
    chart_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    chart_plan plan = {.frame = {.width = opts->width ? opts->width : CHART_DEFAULT_WIDTH,
                                 .height = opts->height ? opts->height : CHART_DEFAULT_HEIGHT}};
    size_t *drawn = util_xcalloc(n, sizeof *drawn);
    extent e = measure(series, n, drawn);
    plan_chart(&plan, series, n, opts, drawn, &e);
    size_t start = out->len;
    chart_svg_writer w = {.out = out, .limit = start + SVG_MAX_BYTES};
    write_chart(&w, &plan, series, n, opts, drawn, &e);
    free(drawn);
    if (w.rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return amlfs_fail(err, -w.rc, "chart: the SVG would pass %zu MB", SVG_MAX_BYTES >> 20);
    }
    return 0;
}
