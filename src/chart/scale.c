/* scale.c: axis domains, "nice" ticks (1/2/5 x 10^k) and their compact labels, time units.
 * Inputs are clamped to +-CHART_VALUE_MAX first, so nothing here meets an infinity or a NaN. */
#include "chart_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The smallest of 1, 2, 5 x 10^k that is >= raw (> 0). */
static double nice_step(double raw)
{
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    double m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
    return m * p;
}

/* The decimal exponent of a nice step (1, 2 or 5 x 10^e): e. */
static int step_exponent(double step)
{
    return (int)floor(log10(step) + 1e-9);
}

/* Drops trailing zeros of a decimal fraction ("2.50" -> "2.5", "3.0" -> "3"); in "1.50e-06" only
 * the mantissa's. */
static void strip_zeros(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot)
        return;
    char *exp = strchr(s, 'e');
    char *end = exp ? exp : s + strlen(s);
    char *cut = end;
    while (cut > dot + 1 && cut[-1] == '0')
        cut--;
    if (cut == dot + 1)
        cut = dot;
    memmove(cut, end, strlen(end) + 1);
}

void chart_tick_label(double v, double step, double max_abs, char *buf, size_t len)
{
    if (fabs(v) < step * 1e-6) {
        snprintf(buf, len, "0");
        return;
    }
    int e_step = step_exponent(step);
    if (max_abs >= 1e15 || max_abs < 1e-4 || e_step < -9) {
        /* Scientific, with just the digits that tell ticks apart: 1e-06, 1.5e-06, 2e+18. */
        int digits = (int)floor(log10(fabs(v)) + 1e-12) - e_step;
        digits = digits < 0 ? 0 : digits > 15 ? 15 : digits;
        snprintf(buf, len, "%.*e", digits, v);
        strip_zeros(buf);
        return;
    }
    /* Fixed; from 1000 on with a k/M/G/T suffix while that needs at most two decimals: 500, 1k,
     * 2.5k, 1.25M (like d3's "~s"), but 1000.2 where the ticks are that close. */
    static const char *const suffix[] = {"", "k", "M", "G", "T"};
    int k = 0;
    double scale = 1;
    while (k < 4 && fabs(v) >= scale * 1000 && step >= scale * 1000 / 100) {
        scale *= 1000;
        k++;
    }
    int decimals = -step_exponent(step / scale);
    decimals = decimals < 0 ? 0 : decimals;
    char num[CHART_TICK_LABEL_MAX];
    snprintf(num, sizeof num, "%.*f", decimals, v / scale);
    strip_zeros(num);
    snprintf(buf, len, "%s%s", num, suffix[k]);
}

void chart_axis_make(chart_axis *axis, double lo, double hi, double pad, size_t max_ticks, double min_step)
{
    double mag = fmax(fabs(lo), fabs(hi));
    if (!(hi - lo > mag * 1e-9)) {
        /* A constant (or differences below double's noise): widen around it, line in the middle. */
        double c = lo / 2 + hi / 2;
        double half = min_step > 0 ? min_step : c != 0 ? fabs(c) * 0.1 : 1;
        lo = c - half;
        hi = c + half;
        pad = 0;
    }
    double span = hi - lo;
    lo -= span * pad;
    hi += span * pad;
    axis->lo = lo;
    axis->hi = hi;
    if (max_ticks < 2)
        max_ticks = 2;
    if (max_ticks > CHART_TICKS_MAX - 1)
        max_ticks = CHART_TICKS_MAX - 1;
    double step = nice_step((hi - lo) / (double)max_ticks);
    if (step < min_step)
        step = min_step;
    axis->step = step;
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    axis->n_ticks = 0;
    double max_abs = 0;
    for (double k = k0; k <= k1 && axis->n_ticks < CHART_TICKS_MAX; k++) {
        double t = k * step;
        if (fabs(t) < step * 1e-6)
            t = 0;
        axis->ticks[axis->n_ticks++] = t;
        max_abs = fmax(max_abs, fabs(t));
    }
    axis->label_px = 0;
    for (size_t i = 0; i < axis->n_ticks; i++) {
        chart_tick_label(axis->ticks[i], step, max_abs, axis->labels[i], CHART_TICK_LABEL_MAX);
        axis->label_px = fmax(axis->label_px, chart_text_px(axis->labels[i], 11, false));
    }
}

chart_time_unit chart_time_unit_for(double span_seconds)
{
    if (span_seconds <= 180)
        return (chart_time_unit){1, "seconds"};
    if (span_seconds <= 180 * 60)
        return (chart_time_unit){60, "minutes"};
    if (span_seconds <= 72 * 3600)
        return (chart_time_unit){3600, "hours"};
    return (chart_time_unit){86400, "days"};
}
