/* decimate.c: a series cut down for drawing: per pixel column its first, last, lowest and highest
 * point (M4), so a line of 10,000 points costs a few per pixel and keeps its spikes. */
#include "chart_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

void chart_columns_init(chart_columns *cols, size_t n)
{
    cols->n = n;
    cols->first = util_xcalloc(n, sizeof *cols->first);
    cols->last = util_xcalloc(n, sizeof *cols->last);
    cols->low = util_xcalloc(n, sizeof *cols->low);
    cols->high = util_xcalloc(n, sizeof *cols->high);
    cols->first_x = util_xcalloc(n, sizeof *cols->first_x);
    cols->last_x = util_xcalloc(n, sizeof *cols->last_x);
    cols->low_y = util_xcalloc(n, sizeof *cols->low_y);
    cols->high_y = util_xcalloc(n, sizeof *cols->high_y);
}

void chart_columns_free(chart_columns *cols)
{
    free(cols->first);
    free(cols->last);
    free(cols->low);
    free(cols->high);
    free(cols->first_x);
    free(cols->last_x);
    free(cols->low_y);
    free(cols->high_y);
    *cols = (chart_columns){0};
}

void chart_kept_free(chart_kept *kept)
{
    free(kept->index);
    *kept = (chart_kept){0};
}

static double drawn_x(const chart_series *s, const chart_xform *xf, size_t i)
{
    double x = 0, y = 0;
    chart_point_drawn(&s->points[i], xf, &x, &y);
    return x;
}

/* Appends a column's kept points: its (up to 4) distinct indices by x, then input order. */
static void keep_column(const chart_series *s, const chart_xform *xf, const size_t idx[4], chart_kept *kept)
{
    size_t pick[4];
    double px[4];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || pick[j] == idx[i];
        if (seen)
            continue;
        double x = drawn_x(s, xf, idx[i]);
        size_t at = n++;
        while (at > 0 && (px[at - 1] > x || (px[at - 1] == x && pick[at - 1] > idx[i]))) {
            pick[at] = pick[at - 1];
            px[at] = px[at - 1];
            at--;
        }
        pick[at] = idx[i];
        px[at] = x;
    }
    for (size_t i = 0; i < n; i++)
        kept->index[kept->n++] = pick[i];
}

void chart_decimate(const chart_series *s, const chart_xform *xf, double x_lo, double x_hi,
                    chart_columns *cols, chart_kept *kept)
{
    size_t ncols = cols->n;
    for (size_t c = 0; c < ncols; c++)
        cols->first[c] = SIZE_MAX;
    double per_x = x_hi > x_lo ? (double)ncols / (x_hi - x_lo) : 0;
    for (size_t i = 0; i < s->count; i++) {
        double x, y;
        if (!chart_point_drawn(&s->points[i], xf, &x, &y))
            continue;
        double f = (x - x_lo) * per_x;
        size_t c = !(f > 0) ? 0 : f >= (double)ncols ? ncols - 1 : (size_t)f;
        if (cols->first[c] == SIZE_MAX) {
            cols->first[c] = cols->last[c] = cols->low[c] = cols->high[c] = i;
            cols->first_x[c] = cols->last_x[c] = x;
            cols->low_y[c] = cols->high_y[c] = y;
            continue;
        }
        if (x < cols->first_x[c]) {
            cols->first[c] = i;
            cols->first_x[c] = x;
        }
        if (x >= cols->last_x[c]) {
            cols->last[c] = i;
            cols->last_x[c] = x;
        }
        if (y < cols->low_y[c]) {
            cols->low[c] = i;
            cols->low_y[c] = y;
        }
        if (y > cols->high_y[c]) {
            cols->high[c] = i;
            cols->high_y[c] = y;
        }
    }
    if (kept->cap < 4 * ncols) {
        kept->cap = 4 * ncols;
        kept->index = util_xrealloc(kept->index, kept->cap * sizeof *kept->index);
    }
    kept->n = 0;
    for (size_t c = 0; c < ncols; c++) {
        if (cols->first[c] == SIZE_MAX)
            continue;
        size_t idx[4] = {cols->first[c], cols->low[c], cols->high[c], cols->last[c]};
        keep_column(s, xf, idx, kept);
    }
}
