/* svg_legend.c: the legend of a chart with several series: a line sample and the label of each of
 * the first ones (as many as fit, at most CHART_LEGEND_MAX), then "+N more". */
#include "chart_internal.h"

#include <stdio.h>

void chart_draw_legend(chart_svg_writer *w, const chart_series *series, size_t n, const size_t *drawn,
                       double x, double top, double width, size_t rows)
{
    if (rows == 0 || n == 0)
        return;
    size_t entries = n > rows ? rows - 1 : n;
    double room = width - CHART_LEGEND_TEXT_X - 4; /* off the picture's edge */
    chart_svg_put(w, "<g>\n");
    for (size_t i = 0; i < entries; i++) {
        double y = top + CHART_LEGEND_ROW * ((double)i + 0.5);
        chart_svg_put(w, "<line x1=\"");
        chart_svg_put_num(w, x);
        chart_svg_put(w, "\" y1=\"");
        chart_svg_put_num(w, y);
        chart_svg_put(w, "\" x2=\"");
        chart_svg_put_num(w, x + 22);
        chart_svg_put(w, "\" y2=\"");
        chart_svg_put_num(w, y);
        chart_svg_putf(w, "\" stroke=\"%s\" stroke-width=\"2\"", chart_series_colour(i));
        if (chart_series_dash(i))
            chart_svg_putf(w, " stroke-dasharray=\"%s\"", chart_series_dash(i));
        chart_svg_put(w, "/>\n<text x=\"");
        chart_svg_put_num(w, x + CHART_LEGEND_TEXT_X);
        chart_svg_put(w, "\" y=\"");
        chart_svg_put_num(w, y);
        chart_svg_put(w, "\" dy=\"0.35em\">");
        const char *label = series[i].label;
        char fallback[48];
        if (!label || !*label) {
            snprintf(fallback, sizeof fallback, "series %zu", i + 1);
            label = fallback;
        }
        if (drawn[i] == 0) {
            double left = room - chart_text_px(CHART_NO_DATA, 11, false);
            chart_svg_put_text(w, label, left > 20 ? chart_text_fit(label, left, 11, false) : 2);
            chart_svg_put(w, "<tspan fill=\"#888\">" CHART_NO_DATA "</tspan>");
        } else {
            chart_svg_put_text(w, label, chart_text_fit(label, room, 11, false));
        }
        chart_svg_put(w, "</text>\n");
    }
    if (entries < n) {
        chart_svg_put(w, "<text x=\"");
        chart_svg_put_num(w, x + CHART_LEGEND_TEXT_X);
        chart_svg_put(w, "\" y=\"");
        chart_svg_put_num(w, top + CHART_LEGEND_ROW * ((double)entries + 0.5));
        chart_svg_putf(w, "\" dy=\"0.35em\" fill=\"#666\">+%zu more</text>\n", n - entries);
    }
    chart_svg_put(w, "</g>\n");
}
