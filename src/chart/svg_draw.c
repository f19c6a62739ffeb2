/* svg_draw.c: the SVG elements of a chart: writing helpers, grid and axes, one series' path.
 * Every number written is a pixel coordinate clamped to the picture, so none is NaN or huge. */
#include "chart_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chart_svg_put(chart_svg_writer *w, const char *s)
{
    if (w->rc == 0)
        w->rc = util_buf_append(w->out, s, strlen(s), w->limit);
}

void chart_svg_putf(chart_svg_writer *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap); /* only fixed text and numbers: never longer */
    va_end(ap);
    chart_svg_put(w, line);
}

void chart_svg_put_num(chart_svg_writer *w, double v)
{
    if (!(v > -1e6))
        v = -1e6;
    if (!(v < 1e6))
        v = 1e6;
    long tenths = lround(v * 10);
    char num[32];
    long whole = labs(tenths) / 10, frac = labs(tenths) % 10;
    if (frac)
        snprintf(num, sizeof num, "%s%ld.%ld", tenths < 0 ? "-" : "", whole, frac);
    else
        snprintf(num, sizeof num, "%s%ld", tenths < 0 ? "-" : "", whole);
    chart_svg_put(w, num);
}

void chart_svg_put_text(chart_svg_writer *w, const char *s, size_t max_chars)
{
    if (w->rc == 0)
        w->rc = chart_text_append(w->out, s, max_chars, "\xE2\x80\xA6", CHART_TEXT_XML, w->limit);
}

double chart_frame_px(const chart_frame *f, double x)
{
    double px = f->left + (x - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
    return px > f->left ? (px < f->right ? px : f->right) : f->left;
}

double chart_frame_py(const chart_frame *f, double y)
{
    double py = f->bottom - (y - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
    return py > f->top ? (py < f->bottom ? py : f->bottom) : f->top;
}

/* "<line x1=.. y1=.. x2=.. y2=../>" with the attributes given after it. */
static void put_line(chart_svg_writer *w, double x1, double y1, double x2, double y2, const char *attrs)
{
    chart_svg_put(w, "<line x1=\"");
    chart_svg_put_num(w, x1);
    chart_svg_put(w, "\" y1=\"");
    chart_svg_put_num(w, y1);
    chart_svg_put(w, "\" x2=\"");
    chart_svg_put_num(w, x2);
    chart_svg_put(w, "\" y2=\"");
    chart_svg_put_num(w, y2);
    chart_svg_putf(w, "\"%s/>\n", attrs);
}

/* Opens a <text> at (x, y) with extra attributes; the caller writes the content and "</text>". */
static void open_text(chart_svg_writer *w, double x, double y, const char *attrs)
{
    chart_svg_put(w, "<text x=\"");
    chart_svg_put_num(w, x);
    chart_svg_put(w, "\" y=\"");
    chart_svg_put_num(w, y);
    chart_svg_putf(w, "\"%s>", attrs);
}

void chart_draw_axes(chart_svg_writer *w, const chart_frame *f, const char *x_label, const char *y_label)
{
    /* crispEdges: one-pixel lines on whole pixels, not smeared over two. */
    chart_svg_put(w, "<g stroke=\"#e4e4e4\" stroke-width=\"1\" shape-rendering=\"crispEdges\">\n");
    for (size_t i = 0; i < f->x.n_ticks; i++) {
        double px = chart_frame_px(f, f->x.ticks[i]);
        put_line(w, px, f->top, px, f->bottom, "");
    }
    for (size_t i = 0; i < f->y.n_ticks; i++) {
        double py = chart_frame_py(f, f->y.ticks[i]);
        put_line(w, f->left, py, f->right, py, "");
    }
    chart_svg_put(w, "</g>\n<rect x=\"");
    chart_svg_put_num(w, f->left);
    chart_svg_put(w, "\" y=\"");
    chart_svg_put_num(w, f->top);
    chart_svg_put(w, "\" width=\"");
    chart_svg_put_num(w, f->right - f->left);
    chart_svg_put(w, "\" height=\"");
    chart_svg_put_num(w, f->bottom - f->top);
    chart_svg_put(w, "\" fill=\"none\" stroke=\"#a0a0a0\" shape-rendering=\"crispEdges\"/>\n");

    chart_svg_put(w, "<g fill=\"#555\" text-anchor=\"middle\">\n");
    for (size_t i = 0; i < f->x.n_ticks; i++) {
        open_text(w, chart_frame_px(f, f->x.ticks[i]), f->bottom + 15, "");
        chart_svg_putf(w, "%s</text>\n", f->x.labels[i]);
    }
    chart_svg_put(w, "</g>\n<g fill=\"#555\" text-anchor=\"end\">\n");
    for (size_t i = 0; i < f->y.n_ticks; i++) {
        open_text(w, f->left - 6, chart_frame_py(f, f->y.ticks[i]), " dy=\"0.35em\"");
        chart_svg_putf(w, "%s</text>\n", f->y.labels[i]);
    }
    chart_svg_put(w, "</g>\n");

    /* Axis labels at 12px, cut to the length of their side. */
    double plot_w = f->right - f->left, plot_h = f->bottom - f->top;
    open_text(w, f->left + plot_w / 2, f->bottom + 33, " text-anchor=\"middle\" font-size=\"12\"");
    chart_svg_put_text(w, x_label, chart_text_fit(x_label, plot_w, 12, false));
    chart_svg_put(w, "</text>\n");
    if (y_label && *y_label) {
        chart_svg_put(w, "<text transform=\"rotate(-90)\" x=\"");
        chart_svg_put_num(w, -(f->top + plot_h / 2));
        chart_svg_put(w, "\" y=\"16\" text-anchor=\"middle\" font-size=\"12\">");
        chart_svg_put_text(w, y_label, chart_text_fit(y_label, plot_h, 12, false));
        chart_svg_put(w, "</text>\n");
    }
}

/* Okabe & Ito's palette for colour vision deficiencies, without its yellow (too faint on white). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000"};
#define PALETTE_N (sizeof palette / sizeof palette[0])
static const char *const dashes[] = {NULL, "7 3", "2 2", "8 3 2 3"};

const char *chart_series_colour(size_t i)
{
    return palette[i % PALETTE_N];
}

const char *chart_series_dash(size_t i)
{
    return dashes[(i / PALETTE_N) % (sizeof dashes / sizeof dashes[0])];
}

void chart_draw_series(chart_svg_writer *w, const chart_frame *f, const chart_series *s, size_t i,
                       const chart_xform *xf, const chart_kept *kept)
{
    chart_svg_putf(w, "<path stroke=\"%s\"", chart_series_colour(i));
    if (chart_series_dash(i))
        chart_svg_putf(w, " stroke-dasharray=\"%s\"", chart_series_dash(i));
    chart_svg_put(w, " d=\"");
    long last_x = 0, last_y = 0;
    size_t vertices = 0;
    double spot_x = 0, spot_y = 0;
    for (size_t k = 0; k < kept->n; k++) {
        double x = 0, y = 0; /* every kept point is drawn */
        chart_point_drawn(&s->points[kept->index[k]], xf, &x, &y);
        double px = chart_frame_px(f, x), py = chart_frame_py(f, y);
        long tx = lround(px * 10), ty = lround(py * 10);
        if (vertices > 0 && tx == last_x && ty == last_y)
            continue; /* the same spot as written: adds nothing to the picture */
        chart_svg_put(w, vertices == 0 ? "M" : vertices == 1 ? "L" : " ");
        chart_svg_put_num(w, px);
        chart_svg_put(w, " ");
        chart_svg_put_num(w, py);
        last_x = tx;
        last_y = ty;
        if (vertices++ == 0) {
            spot_x = px;
            spot_y = py;
        }
    }
    chart_svg_put(w, "\"/>\n");
    if (vertices == 1) {
        chart_svg_put(w, "<circle cx=\"");
        chart_svg_put_num(w, spot_x);
        chart_svg_put(w, "\" cy=\"");
        chart_svg_put_num(w, spot_y);
        chart_svg_putf(w, "\" r=\"3.5\" fill=\"%s\" stroke=\"none\"/>\n", chart_series_colour(i));
    }
}
