/* reduce.c: a series cut down before it is held for drawing: per bucket of its own x range the first,
 * lowest, highest and last point, so an overlay of many long series stays within a memory bound. */
#include "chart_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
    size_t first, last, low, high;
    bool used;
} bucket;

static int by_x(const void *a, const void *b)
{
    double xa = ((const chart_point *)a)->x, xb = ((const chart_point *)b)->x;
    return (xa > xb) - (xa < xb);
}

size_t chart_reduce(chart_point *pts, size_t n, size_t max)
{
    if (max < 8)
        max = 8;
    if (n <= max)
        return n;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(pts[i].x)) {
            lo = pts[i].x < lo ? pts[i].x : lo;
            hi = pts[i].x > hi ? pts[i].x : hi;
        }
    }
    size_t nb = max / 4;
    bucket *b = util_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y))
            continue;
        size_t k = hi > lo ? (size_t)((pts[i].x - lo) / (hi - lo) * (double)(nb - 1)) : 0;
        if (k >= nb)
            k = nb - 1;
        if (!b[k].used) {
            b[k] = (bucket){.first = i, .last = i, .low = i, .high = i, .used = true};
            continue;
        }
        b[k].last = i;
        if (pts[i].y < pts[b[k].low].y)
            b[k].low = i;
        if (pts[i].y > pts[b[k].high].y)
            b[k].high = i;
    }
    chart_point *kept = util_xcalloc(max, sizeof *kept);
    size_t m = 0;
    for (size_t k = 0; k < nb; k++) {
        if (!b[k].used)
            continue;
        size_t picks[4] = {b[k].first, b[k].low, b[k].high, b[k].last}, start = m;
        for (size_t j = 0; j < 4; j++) {
            bool dup = false;
            for (size_t q = 0; q < j && !dup; q++)
                dup = picks[q] == picks[j];
            if (!dup)
                kept[m++] = pts[picks[j]];
        }
        qsort(kept + start, m - start, sizeof *kept, by_x);
    }
    memcpy(pts, kept, m * sizeof *kept);
    free(kept);
    free(b);
    return m;
}
