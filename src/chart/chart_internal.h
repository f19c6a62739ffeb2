/* chart_internal.h: the parts of the chart layer its files share: text cleaning, axis scales and
 * tick labels, line decimation. Not for other layers (they use include/amlfs/chart.h). */
#ifndef AMLFS_CHART_INTERNAL_H
#define AMLFS_CHART_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "amlfs/chart.h"
#include "amlfs/util.h"

/* ---- text.c ---- */

typedef enum chart_text_mode {
    CHART_TEXT_XML, /* escape & < > " ', for element text and attribute values */
    CHART_TEXT_TSV, /* tabs, line breaks and other controls become spaces */
} chart_text_mode;

/* Appends s (NULL = "") cleaned for mode: invalid UTF-8 and characters XML 1.0 forbids become
 * U+FFFD; with max_chars > 0 at most that many characters, the last one replaced by `ellipsis`
 * when s was longer. Returns 0 or -EFBIG when out would pass limit (0 = none). */
int chart_text_append(util_buf *out, const char *s, size_t max_chars, const char *ellipsis,
                      chart_text_mode mode, size_t limit);
/* Characters (code points, invalid bytes counting one each) of s, counting no further than max. */
size_t chart_text_chars(const char *s, size_t max);

/* ---- text_width.c ---- */

/* The width in pixels s (NULL = "") takes in the charts' sans-serif at font_px, bold or not: DejaVu
 * Sans' advances, an upper bound for the usual sans-serif fonts. */
double chart_text_px(const char *s, double font_px, bool bold);
/* The max_chars to give chart_text_append (with a one-character ellipsis) so that s fits in room_px:
 * 0 when it fits whole, at least 1. */
size_t chart_text_fit(const char *s, double room_px, double font_px, bool bold);

/* ---- scale.c ---- */

/* An axis: the domain drawn and its ticks (at most CHART_TICKS_MAX, multiples of step). */
#define CHART_TICKS_MAX 32
#define CHART_TICK_LABEL_MAX 32
typedef struct chart_axis {
    double lo, hi; /* the domain, lo < hi, both finite */
    double step;
    size_t n_ticks;
    double ticks[CHART_TICKS_MAX];
    char labels[CHART_TICKS_MAX][CHART_TICK_LABEL_MAX];
    double label_px; /* the widest label at 11px */
} chart_axis;

/* Values beyond these magnitudes are drawn at the limit (or as 0), so every difference, padding
 * and tick of a domain stays finite. */
#define CHART_VALUE_MAX 1e300
#define CHART_VALUE_MIN 1e-300
/* Inline: it runs for every point of every series (10 million for a 1,000-run overlay). */
static inline double chart_clamp_value(double v)
{
    if (v > CHART_VALUE_MAX)
        return CHART_VALUE_MAX;
    if (v < -CHART_VALUE_MAX)
        return -CHART_VALUE_MAX;
    if (v < CHART_VALUE_MIN && v > -CHART_VALUE_MIN)
        return 0; /* also turns -0 into 0 */
    return v;
}

/* The domain for data in [lo, hi] (finite, lo <= hi) padded by `pad` of the span on each side (a
 * constant is widened around its value: by min_step, or without one by a tenth of it) and ticks at 1/2/5 x 10^k, no more than max_ticks, no step
 * below min_step (0 = any), labelled compactly (0.001, 2.5k, 1e-06). */
void chart_axis_make(chart_axis *axis, double lo, double hi, double pad, size_t max_ticks, double min_step);
/* One compact tick label of v for ticks `step` apart (in buf, >= CHART_TICK_LABEL_MAX bytes). */
void chart_tick_label(double v, double step, double max_abs, char *buf, size_t len);

/* The time unit for a span of seconds: its length in seconds and its plural name. */
typedef struct chart_time_unit {
    double seconds;
    const char *name;
} chart_time_unit;
chart_time_unit chart_time_unit_for(double span_seconds);

/* ---- decimate.c ---- */

/* Indices of the points kept for drawing, in drawing (x) order. */
typedef struct chart_kept {
    size_t *index;
    size_t n, cap;
} chart_kept;

/* Per-column scratch reused across series: `columns` buckets. */
typedef struct chart_columns {
    size_t n;
    size_t *first, *last, *low, *high; /* point indices; SIZE_MAX = empty column */
    double *first_x, *last_x, *low_y, *high_y;
} chart_columns;

void chart_columns_init(chart_columns *cols, size_t n);
void chart_columns_free(chart_columns *cols);
void chart_kept_free(chart_kept *kept);

/* x and y of one point as drawn: x after the axis transform (time: elapsed units), both clamped;
 * false when the point is not drawn (NaN or infinite). */
typedef struct chart_xform {
    double x_origin, x_unit; /* x' = (x - x_origin) / x_unit */
} chart_xform;
static inline bool chart_point_drawn(const chart_point *p, const chart_xform *xf, double *x, double *y)
{
    if (!isfinite(p->x) || !isfinite(p->y))
        return false;
    *x = chart_clamp_value((p->x - xf->x_origin) / xf->x_unit);
    *y = chart_clamp_value(p->y);
    return true;
}

/* M4 decimation of one series over [x_lo, x_hi] split into cols->n columns: per column the first
 * and last point by x and the lowest and highest by y, in x order (ties in input order). Any x
 * order in, x order out; O(count + columns). kept is overwritten. */
void chart_decimate(const chart_series *s, const chart_xform *xf, double x_lo, double x_hi,
                    chart_columns *cols, chart_kept *kept);

/* ---- svg_draw.c ---- */

/* Appends to an SVG being written; the first failure sticks in rc and later calls do nothing. */
typedef struct chart_svg_writer {
    util_buf *out;
    size_t limit;
    int rc;
} chart_svg_writer;

void chart_svg_put(chart_svg_writer *w, const char *s);
void chart_svg_putf(chart_svg_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A coordinate with at most one decimal ("12", "12.5"). */
void chart_svg_put_num(chart_svg_writer *w, double v);
/* User text, escaped, at most max_chars characters (0 = no limit), cut ones ending in U+2026. */
void chart_svg_put_text(chart_svg_writer *w, const char *s, size_t max_chars);

/* The plot area in pixels and its axes. */
typedef struct chart_frame {
    double width, height;
    double left, right, top, bottom; /* the plot rectangle */
    chart_axis x, y;
} chart_frame;

double chart_frame_px(const chart_frame *f, double x);
double chart_frame_py(const chart_frame *f, double y);

/* Grid, frame, tick labels and the axis labels (y_label NULL: none). */
void chart_draw_axes(chart_svg_writer *w, const chart_frame *f, const char *x_label, const char *y_label);

/* The style of the i-th series: colour, dash pattern (NULL = solid). */
const char *chart_series_colour(size_t i);
const char *chart_series_dash(size_t i);

/* One series' single <path> (empty without kept points) and, when it comes down to one spot, a
 * circle marker. */
void chart_draw_series(chart_svg_writer *w, const chart_frame *f, const chart_series *s, size_t i,
                       const chart_xform *xf, const chart_kept *kept);

/* ---- svg_legend.c ---- */

#define CHART_LEGEND_ROW 16.0    /* pixels per entry */
#define CHART_LEGEND_TEXT_X 28.0 /* a label's start: after its 22px line sample */
#define CHART_NO_DATA " no data" /* after the label of a series without a drawable point */

/* The legend at (x, top), `width` wide, `rows` rows: the first series' colour, dash and label (an
 * empty one marked "no data": drawn[i] == 0); when n > rows the last row says "+N more". */
void chart_draw_legend(chart_svg_writer *w, const chart_series *series, size_t n, const size_t *drawn,
                       double x, double top, double width, size_t rows);

#endif
