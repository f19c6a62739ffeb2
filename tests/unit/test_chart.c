/* test_chart.c: the chart layer: every SVG parsed with libxml2 (one path per series, texts escaped,
 * no NaN anywhere, edge cases, decimation's size and spikes, bounds for 1,000 runs), tick labels,
 * time axes, and the comparison table's columns, cells, order and cleaning. */
#include "amlfs/chart.h"

#include <float.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../src/chart/chart_internal.h"
#include "check.h"

/* ---- helpers: parse, count, find text ---- */

static xmlDoc *parse_svg(const util_buf *svg)
{
    if (!svg->data)
        return NULL;
    return xmlReadMemory(svg->data, (int)svg->len, "chart.svg", NULL, XML_PARSE_NONET);
}

static size_t count_elements(const xmlNode *node, const char *name)
{
    size_t n = 0;
    for (; node; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, name) == 0)
            n++;
        n += count_elements(node->children, name);
    }
    return n;
}

/* Whether any <text> or <title> element's whole content (tspans included) contains want. */
static bool has_text(const xmlNode *node, const char *want)
{
    for (; node; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && (strcmp((const char *)node->name, "text") == 0 ||
                                               strcmp((const char *)node->name, "title") == 0)) {
            xmlChar *content = xmlNodeGetContent(node);
            bool hit = content && strstr((const char *)content, want);
            xmlFree(content);
            if (hit)
                return true;
        } else if (has_text(node->children, want)) {
            return true;
        }
    }
    return false;
}

/* Every attribute value free of "nan" and "inf" (a coordinate gone wrong). */
static bool attributes_finite(const xmlNode *node)
{
    for (; node; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        for (const xmlAttr *a = node->properties; a; a = a->next) {
            xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
            bool bad = v && (strcasestr((const char *)v, "nan") || strcasestr((const char *)v, "inf"));
            if (bad)
                printf("attribute %s=\"%s\" of <%s>\n", a->name, v, node->name);
            xmlFree(v);
            if (bad)
                return false;
        }
        if (!attributes_finite(node->children))
            return false;
    }
    return true;
}

/* The d attributes of the paths, in order (at most max). */
static size_t path_data(const xmlNode *node, char **out, size_t max)
{
    size_t n = 0;
    for (; node && n < max; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, "path") == 0) {
            xmlChar *d = xmlGetProp(node, (const xmlChar *)"d");
            out[n++] = strdup(d ? (const char *)d : "");
            xmlFree(d);
        }
        n += path_data(node->children, out + n, max - n);
    }
    return n;
}

/* Vertices of a path's d, their smallest y, and whether x never goes back. */
typedef struct path_shape {
    size_t vertices;
    double min_y;
    bool x_ordered;
} path_shape;

static path_shape shape_of(const char *d)
{
    path_shape s = {0, INFINITY, true};
    double last_x = -INFINITY;
    const char *p = d;
    for (;;) {
        while (*p == 'M' || *p == 'L' || *p == ' ')
            p++;
        if (!*p)
            break;
        char *end;
        double x = strtod(p, &end);
        double y = strtod(end, &end);
        if (end == p)
            break;
        p = end;
        s.vertices++;
        s.min_y = y < s.min_y ? y : s.min_y;
        s.x_ordered = s.x_ordered && x >= last_x;
        last_x = x;
    }
    return s;
}

/* Renders and parses; checks what every chart must be: SVG 1.1 root, finite numbers. */
static xmlDoc *render(const chart_series *s, size_t n, const chart_opts *o, util_buf *out, const char *what)
{
    amlfs_err err = {0};
    out->len = 0;
    int rc = chart_svg(s, n, o, out, &err);
    CHECK(rc == 0, "%s: chart_svg: %d %s", what, rc, err.msg);
    xmlDoc *doc = rc == 0 ? parse_svg(out) : NULL;
    CHECK(doc != NULL, "%s: the SVG parses", what);
    if (!doc)
        return NULL;
    xmlNode *root = xmlDocGetRootElement(doc);
    CHECK(root && strcmp((const char *)root->name, "svg") == 0 && root->ns &&
              strcmp((const char *)root->ns->href, "http://www.w3.org/2000/svg") == 0,
          "%s: the root is svg in the SVG namespace", what);
    CHECK(xmlHasProp(root, (const xmlChar *)"viewBox") && xmlHasProp(root, (const xmlChar *)"width") &&
              xmlHasProp(root, (const xmlChar *)"height"),
          "%s: width, height and viewBox", what);
    CHECK(attributes_finite(root), "%s: no NaN or infinity in any attribute", what);
    return doc;
}

static chart_point *wave(size_t n, double scale)
{
    chart_point *p = calloc(n, sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (chart_point){(double)i, scale * (1 + sin((double)i / 7))};
    return p;
}

/* ---- SVG ---- */

static void test_one_path_per_series(void)
{
    static const size_t counts[] = {1, 3, 50};
    chart_point *pts = wave(100, 1);
    for (size_t c = 0; c < 3; c++) {
        size_t n = counts[c];
        chart_series *s = calloc(n, sizeof *s);
        char **names = calloc(n, sizeof *names);
        for (size_t i = 0; i < n; i++) {
            names[i] = util_strdupf("run-%zu", i);
            s[i] = (chart_series){names[i], pts, 100 - i};
        }
        util_buf out = {0};
        xmlDoc *doc = render(s, n, &(chart_opts){.title = "loss", .y_label = "loss value"}, &out, "series");
        if (doc) {
            xmlNode *root = xmlDocGetRootElement(doc);
            CHECK(count_elements(root, "path") == n, "%zu series: %zu paths", n, count_elements(root, "path"));
            CHECK(has_text(root, "loss value"), "%zu series: the y label", n);
            CHECK(has_text(root, "step"), "%zu series: the x label", n);
            CHECK(has_text(root, "loss"), "%zu series: the title", n);
            CHECK(has_text(root, "0") && has_text(root, "20"), "%zu series: x tick labels", n);
            if (n == 1)
                CHECK(has_text(root, "run-0"), "one series: its label beside the title");
            if (n == 3)
                CHECK(has_text(root, "run-0") && has_text(root, "run-1") && has_text(root, "run-2"),
                      "three series: each in the legend");
            if (n == 50) {
                CHECK(has_text(root, "run-18") && !has_text(root, "run-19"), "50 series: 19 legend entries");
                CHECK(has_text(root, "+31 more"), "50 series: the rest counted");
            }
            xmlFreeDoc(doc);
        }
        /* Distinct looks: colour and dash pattern together differ for the first 28 series. */
        for (size_t i = 0; i < n && i < 28; i++)
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(chart_series_colour(i), chart_series_colour(j)) != 0 ||
                          chart_series_dash(i) != chart_series_dash(j),
                      "series %zu and %zu look different", i, j);
        util_buf_free(&out);
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        free(s);
    }
    free(pts);
}

static void test_edge_cases(void)
{
    util_buf out = {0};
    xmlDoc *doc = render(NULL, 0, NULL, &out, "no series");
    if (doc) {
        CHECK(count_elements(xmlDocGetRootElement(doc), "path") == 0, "no series: no path");
        CHECK(has_text(xmlDocGetRootElement(doc), "no data yet"), "no series: says so");
        xmlFreeDoc(doc);
    }

    chart_series empty = {"run-empty", NULL, 0};
    doc = render(&empty, 1, &(chart_opts){.title = "loss"}, &out, "no points");
    if (doc) {
        CHECK(count_elements(xmlDocGetRootElement(doc), "path") == 1, "no points: still its one path");
        CHECK(has_text(xmlDocGetRootElement(doc), "no data yet"), "no points: says so");
        xmlFreeDoc(doc);
    }

    chart_point *pts = wave(30, 1);
    chart_series mixed[2] = {{"has-data", pts, 30}, {"not-yet", NULL, 0}};
    doc = render(mixed, 2, NULL, &out, "one empty series of two");
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        CHECK(count_elements(root, "path") == 2, "two paths");
        CHECK(has_text(root, "not-yet no data") && !has_text(root, "no data yet"), "the legend marks the empty one");
        xmlFreeDoc(doc);
    }
    free(pts);

    chart_point one = {42, 0.731};
    chart_series single = {"run-1", &one, 1};
    doc = render(&single, 1, NULL, &out, "one point");
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        CHECK(count_elements(root, "path") == 1 && count_elements(root, "circle") == 1, "one point: a marker");
        CHECK(has_text(root, "42") && has_text(root, "0.74"), "one point: ticks around it");
        xmlFreeDoc(doc);
    }

    chart_point flat[20];
    for (size_t i = 0; i < 20; i++)
        flat[i] = (chart_point){(double)i, 0.5};
    chart_series constant = {"flat", flat, 20};
    doc = render(&constant, 1, NULL, &out, "constant");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "0.5"), "constant: its value is a tick");
        CHECK(count_elements(xmlDocGetRootElement(doc), "circle") == 0, "constant: a line, no marker");
        xmlFreeDoc(doc);
    }

    chart_point odd[7] = {{0, 1}, {1, NAN}, {2, INFINITY}, {INFINITY, 2}, {3, -INFINITY}, {4, 3}, {NAN, NAN}};
    chart_series nans = {"nan", odd, 7};
    doc = render(&nans, 1, NULL, &out, "NaN and infinities");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "5 values not drawn"), "NaN: counted and said");
        xmlFreeDoc(doc);
    }
    chart_point all_nan[3] = {{0, NAN}, {1, NAN}, {2, NAN}};
    chart_series only_nan = {"nan", all_nan, 3};
    doc = render(&only_nan, 1, NULL, &out, "only NaN");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "no data yet"), "only NaN: nothing to draw");
        xmlFreeDoc(doc);
    }

    chart_point neg[4] = {{0, -2.5e9}, {10, 1.2e9}, {20, -3e8}, {30, 4.4e9}};
    chart_series negative = {"reward", neg, 4};
    doc = render(&negative, 1, NULL, &out, "negative and large");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "-2G") && has_text(xmlDocGetRootElement(doc), "4G"),
              "negative: -2G and 4G ticks");
        xmlFreeDoc(doc);
    }

    chart_point extreme[5] = {{0, DBL_MAX}, {1, -DBL_MAX}, {2, DBL_MIN}, {3, 4.9e-324}, {1e308, -0.0}};
    chart_series huge = {"extreme", extreme, 5};
    doc = render(&huge, 1, NULL, &out, "extreme magnitudes");
    if (doc)
        xmlFreeDoc(doc);
    chart_point tiny[3] = {{0, 1e-6}, {1, 3e-6}, {2, 4.5e-6}};
    chart_series small = {"lr", tiny, 3};
    doc = render(&small, 1, NULL, &out, "tiny");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "1e-06"), "tiny: 1e-06 tick");
        xmlFreeDoc(doc);
    }
    chart_point close[2] = {{0, 1.0}, {1, 1.0 + 1e-14}};
    chart_series noise = {"noise", close, 2};
    doc = render(&noise, 1, NULL, &out, "differences below double's noise");
    if (doc)
        xmlFreeDoc(doc);

    /* Unsorted, with several values at one step (MLflow allows it): drawn in x order. */
    chart_point shuffled[8] = {{5, 1}, {1, 2}, {3, 0}, {3, 4}, {3, 2}, {0, 1}, {9, 3}, {7, 2}};
    chart_series unsorted = {"unsorted", shuffled, 8};
    doc = render(&unsorted, 1, NULL, &out, "unsorted");
    if (doc) {
        char *d[1];
        if (path_data(xmlDocGetRootElement(doc), d, 1) == 1) {
            path_shape s = shape_of(d[0]);
            CHECK(s.x_ordered && s.vertices == 8, "unsorted: %zu vertices in x order: %s", s.vertices, d[0]);
            free(d[0]);
        }
        xmlFreeDoc(doc);
    }
    util_buf_free(&out);
}

static void test_hostile_text(void)
{
    const char *hostile = "<script>alert(1)</script> & \"q\" 'a' \x01\xff\xfe\xc3 caf\xc3\xa9 \xe6\x97\xa5\xed\xa0\x80";
    chart_point *pts = wave(10, 1);
    chart_series s[2] = {{hostile, pts, 10}, {"]]><x/>", pts, 5}};
    util_buf out = {0};
    xmlDoc *doc = render(s, 2, &(chart_opts){.title = hostile, .y_label = "a<b>&c"}, &out, "hostile labels");
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        CHECK(count_elements(root, "script") == 0 && count_elements(root, "x") == 0, "no injected element");
        CHECK(has_text(root, "<script>alert(1)</script> & \"q\" 'a'"), "the label reads as written");
        CHECK(has_text(root, "a<b>&c"), "the y label reads as written");
        CHECK(has_text(root, "caf\xc3\xa9 \xe6\x97\xa5"), "valid UTF-8 is kept");
        CHECK(has_text(root, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"), "invalid bytes are U+FFFD");
        CHECK(has_text(root, "]]><x/>"), "the second label too");
        xmlFreeDoc(doc);
    }
    CHECK(out.data && strstr(out.data, "&lt;script&gt;") && !strstr(out.data, "<script"), "escaped in the file");

    /* A label of 100,000 characters is cut, not copied. */
    char *long_label = calloc(1, 100001);
    memset(long_label, 'x', 100000);
    chart_series big[2] = {{long_label, pts, 10}, {long_label, pts, 10}};
    doc = render(big, 2, &(chart_opts){.title = long_label, .y_label = long_label}, &out, "long labels");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "xxx\xe2\x80\xa6"), "cut with an ellipsis");
        xmlFreeDoc(doc);
    }
    CHECK(out.len < 20000, "long labels: %zu bytes", out.len);
    free(long_label);
    free(pts);
    util_buf_free(&out);
}

static void test_time_axis(void)
{
    struct {
        double span;
        const char *label;
    } cases[] = {{90, "seconds since 2025-11-26T13:02:26Z"},
                 {45 * 60, "minutes since 2025-11-26T13:02:26Z"},
                 {5 * 3600, "hours since"},
                 {10 * 86400, "days since"}};
    chart_point pts[50];
    util_buf out = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t i = 0; i < 50; i++)
            pts[i] = (chart_point){1764162146 + cases[c].span * (double)i / 49, (double)i};
        chart_series s = {"run", pts, 50};
        xmlDoc *doc = render(&s, 1, &(chart_opts){.x_kind = CHART_X_TIME}, &out, cases[c].label);
        if (doc) {
            CHECK(has_text(xmlDocGetRootElement(doc), cases[c].label), "time axis: %s", cases[c].label);
            CHECK(has_text(xmlDocGetRootElement(doc), "0"), "time axis: starts at 0");
            xmlFreeDoc(doc);
        }
    }
    util_buf_free(&out);
}

/* Series compared from their own starts: the x axis counts from 0 in the unit of the longest, labelled
 * with what it counts from. */
static void test_elapsed_axis(void)
{
    chart_point a[40], b[20];
    for (size_t i = 0; i < 40; i++)
        a[i] = (chart_point){15.0 * (double)i, (double)i};
    for (size_t i = 0; i < 20; i++)
        b[i] = (chart_point){15.0 * (double)i, 40 - (double)i};
    chart_series s[2] = {{"longer", a, 40}, {"shorter", b, 20}};
    util_buf out = {0};
    chart_opts o = {.x_kind = CHART_X_ELAPSED, .x_since = "each run's first point"};
    xmlDoc *doc = render(s, 2, &o, &out, "elapsed");
    if (doc) {
        xmlNode *root = xmlDocGetRootElement(doc);
        CHECK(has_text(root, "minutes since each run's first point"), "elapsed: the unit and the origin");
        CHECK(has_text(root, "0") && has_text(root, "8"), "elapsed: ticks from 0 to about 10 minutes");
        CHECK(!has_text(root, "step"), "elapsed: not steps");
        xmlFreeDoc(doc);
    }
    o.x_since = NULL;
    doc = render(s, 2, &o, &out, "elapsed, no origin named");
    if (doc) {
        CHECK(has_text(xmlDocGetRootElement(doc), "since each series' first point"), "elapsed: a default origin");
        xmlFreeDoc(doc);
    }
    util_buf_free(&out);
}

/* The text of the first <text> (or <title>) whose content starts with prefix (malloc'd), or NULL. */
static char *text_starting(const xmlNode *node, const char *prefix)
{
    for (; node; node = node->next) {
        if (node->type == XML_ELEMENT_NODE && strcmp((const char *)node->name, "text") == 0) {
            xmlChar *content = xmlNodeGetContent(node);
            if (content && strncmp((const char *)content, prefix, strlen(prefix)) == 0) {
                char *copy = strdup((const char *)content);
                xmlFree(content);
                return copy;
            }
            xmlFree(content);
        } else {
            char *hit = text_starting(node->children, prefix);
            if (hit)
                return hit;
        }
    }
    return NULL;
}

/* Text is measured in the font's widths (digits are wider than an average letter) and cut to its room:
 * a legend of long run ids stays inside the picture. */
static void test_labels_fit(void)
{
    double digits = chart_text_px("0123456789", 11, false);
    CHECK(digits > 69 && digits < 71, "ten digits at 11px: %.1f px", digits);
    CHECK(chart_text_px("iiii", 11, false) < chart_text_px("MMMM", 11, false), "narrow and wide letters");
    CHECK(chart_text_fit("short", 100, 11, false) == 0, "a label that fits is kept whole");
    size_t keep = chart_text_fit("12345678901234567890", 60, 11, false);
    CHECK(keep > 1 && (double)(keep - 1) * 7.0 + 11 <= 60.5, "a cut label and its ellipsis fit: %zu kept", keep);

    chart_point pts[10];
    for (size_t i = 0; i < 10; i++)
        pts[i] = (chart_point){(double)i, (double)i};
    const char *ids[] = {"experiment_1796170044_0123456789012345678901234567890123456789",
                         "experiment_1796170045_9876543210987654321098765432109876543210"};
    chart_series s[2] = {{ids[0], pts, 10}, {ids[1], pts, 10}};
    util_buf out = {0};
    for (unsigned width = 240; width <= 1200; width += 320) {
        xmlDoc *doc = render(s, 2, &(chart_opts){.title = "a title long enough to be cut in a narrow chart, surely",
                                                 .width = width}, &out, "long labels");
        if (!doc)
            continue;
        char *label = text_starting(xmlDocGetRootElement(doc), "exp");
        double legend_w = width * 0.3; /* the legend's widest */
        CHECK(label && chart_text_px(label, 11, false) <= legend_w - CHART_LEGEND_TEXT_X - 4 + 0.01,
              "width %u: the legend's label fits its room: %s", width, label ? label : "(none)");
        CHECK(label && strstr(label, "\xE2\x80\xA6"), "width %u: the cut label ends in an ellipsis", width);
        free(label);
        xmlFreeDoc(doc);
    }
    util_buf_free(&out);
}

static void test_decimation(void)
{
    /* A noisy loss curve of 10,000 points and one spike, which min/max decimation must keep. */
    size_t n = 10000;
    chart_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++)
        pts[i] = (chart_point){(double)i, 2.3 * exp(-(double)i / 1500) + 0.05 * sin((double)i * 1.7) + 0.1};
    pts[6001].y = 9;
    chart_series s = {"loss", pts, n};
    util_buf out = {0};
    int64_t t0 = util_mono_ms();
    xmlDoc *doc = render(&s, 1, NULL, &out, "10,000 points");
    int64_t ms = util_mono_ms() - t0;
    CHECK(out.len < 60000, "10,000 points: %zu bytes", out.len);
    CHECK(ms < 2000, "10,000 points: %lld ms", (long long)ms);
    printf("chart of 10,000 points: %zu bytes, %lld ms\n", out.len, (long long)ms);
    if (doc) {
        char *d[1];
        if (path_data(xmlDocGetRootElement(doc), d, 1) == 1) {
            path_shape shape = shape_of(d[0]);
            CHECK(shape.vertices <= 4 * CHART_DEFAULT_WIDTH && shape.vertices > 500,
                  "10,000 points: %zu vertices", shape.vertices);
            CHECK(shape.x_ordered, "10,000 points: x in order");
            /* The plot starts at y=44 and the spike tops a domain padded by 5%. */
            CHECK(shape.min_y < 70, "the spike is drawn: highest vertex at y=%.1f", shape.min_y);
            free(d[0]);
        }
        xmlFreeDoc(doc);
    }

    /* 1,000 runs of 10,000 points: all drawn, within the vertex budget. */
    size_t runs = 1000;
    chart_series *many = calloc(runs, sizeof *many);
    for (size_t i = 0; i < runs; i++)
        many[i] = (chart_series){"sweep", pts, n};
    t0 = util_mono_ms();
    doc = render(many, runs, &(chart_opts){.title = "loss"}, &out, "1,000 runs");
    ms = util_mono_ms() - t0;
    CHECK(out.len < 4000000, "1,000 runs: %zu bytes", out.len);
    CHECK(ms < 30000, "1,000 runs: %lld ms", (long long)ms);
    if (doc) {
        CHECK(count_elements(xmlDocGetRootElement(doc), "path") == runs, "1,000 runs: 1,000 paths");
        CHECK(has_text(xmlDocGetRootElement(doc), "+981 more"), "1,000 runs: the legend is capped");
        xmlFreeDoc(doc);
    }
    printf("chart of 1,000 runs x 10,000 points: %zu bytes, %lld ms\n", out.len, (long long)ms);
    free(many);
    free(pts);
    util_buf_free(&out);
}

/* Any doubles at all (random bit patterns: NaNs, infinities, subnormals, huge values) make a valid
 * chart with finite coordinates. */
static void test_any_doubles(void)
{
    unsigned long long state = 11;
    util_buf out = {0};
    chart_point pts[3][40];
    for (int round = 0; round < 300; round++) {
        chart_series s[3];
        size_t n = (size_t)round % 4;
        for (size_t i = 0; i < n; i++) {
            size_t count = (size_t)(round * 7 + (int)i) % 41;
            for (size_t k = 0; k < count; k++) {
                double v[2];
                for (int j = 0; j < 2; j++) {
                    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                    unsigned long long bits = state;
                    /* Half of them ordinary numbers, so lines get drawn among the oddities. */
                    if (bits & 1)
                        v[j] = (double)(long long)(bits >> 40) / 1000;
                    else
                        memcpy(&v[j], &bits, sizeof v[j]);
                }
                pts[i][k] = (chart_point){v[0], v[1]};
            }
            s[i] = (chart_series){"r", pts[i], count};
        }
        chart_opts o = {.x_kind = round % 2 ? CHART_X_TIME : CHART_X_STEP,
                        .width = round % 3 ? 0 : CHART_MIN_WIDTH + (unsigned)round,
                        .height = round % 5 ? 0 : CHART_MIN_HEIGHT};
        char what[32];
        snprintf(what, sizeof what, "random doubles #%d", round);
        xmlDoc *doc = render(s, n, &o, &out, what);
        if (doc) {
            CHECK(count_elements(xmlDocGetRootElement(doc), "path") == n, "%s: one path per series", what);
            xmlFreeDoc(doc);
        }
    }
    util_buf_free(&out);
}

static void test_bad_arguments(void)
{
    amlfs_err err = {0};
    util_buf out = {0};
    util_buf_append(&out, "kept", 4, 0);
    chart_series no_points = {"x", NULL, 3};
    CHECK(chart_svg(NULL, 2, NULL, &out, &err) == -EINVAL && strstr(err.msg, "none given"), "%s", err.msg);
    CHECK(chart_svg(&no_points, 1, NULL, &out, &err) == -EINVAL && strstr(err.msg, "no array"), "%s", err.msg);
    CHECK(chart_svg(NULL, 0, &(chart_opts){.width = 100}, &out, &err) == -EINVAL && strstr(err.msg, "width 100"),
          "%s", err.msg);
    CHECK(chart_svg(NULL, 0, &(chart_opts){.height = 99999}, &out, &err) == -EINVAL, "%s", err.msg);
    CHECK(chart_svg(NULL, CHART_MAX_SERIES + 1, NULL, &out, &err) == -EINVAL, "too many series");
    CHECK(out.len == 4 && strcmp(out.data, "kept") == 0, "out unchanged on failure");
    CHECK(chart_svg(NULL, 0, NULL, &out, &err) == 0 && strncmp(out.data, "kept<?xml", 9) == 0, "appends");
    util_buf_free(&out);
}

/* ---- scales ---- */

static void test_tick_labels(void)
{
    struct {
        double v, step, max_abs;
        const char *want;
    } cases[] = {
        {0.001, 0.001, 0.005, "0.001"}, {2500, 500, 10000, "2.5k"},      {500, 500, 10000, "500"},
        {10000, 2000, 10000, "10k"},    {1e-6, 1e-6, 5e-6, "1e-06"},     {1.5e-6, 5e-7, 5e-6, "1.5e-06"},
        {-2e9, 2e9, 4e9, "-2G"},        {0.30000000000000004, 0.1, 1, "0.3"}, {1e18, 5e17, 1e18, "1e+18"},
        {1000.2, 0.2, 1001, "1000.2"},  {1.25e6, 50000, 2e6, "1.25M"},  {-1e-17, 0.1, 1, "0"},
        {42, 1, 46, "42"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[CHART_TICK_LABEL_MAX];
        chart_tick_label(cases[i].v, cases[i].step, cases[i].max_abs, buf, sizeof buf);
        CHECK(strcmp(buf, cases[i].want) == 0, "label of %g (step %g): %s, not %s", cases[i].v, cases[i].step,
              buf, cases[i].want);
    }

    /* Any range: steps of 1, 2 or 5 x 10^k, ticks inside the domain, labels distinct. */
    unsigned long long state = 7;
    for (int i = 0; i < 2000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double a = (double)(state >> 11) / 9007199254740992.0;
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double b = (double)(state >> 11) / 9007199254740992.0;
        double mag = pow(10, (double)(i % 60) - 30);
        double lo = (a - 0.5) * mag, hi = lo + b * mag * pow(10, -(double)(i % 7));
        chart_axis axis;
        chart_axis_make(&axis, lo, hi, 0.05, 8, 0);
        double mant = axis.step / pow(10, floor(log10(axis.step) + 1e-9));
        bool nice = fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 5) < 1e-6;
        CHECK(nice && axis.n_ticks >= 2 && axis.n_ticks <= 9, "[%g, %g]: step %g, %zu ticks", lo, hi, axis.step,
              axis.n_ticks);
        for (size_t t = 0; t < axis.n_ticks; t++) {
            CHECK(axis.ticks[t] >= axis.lo - axis.step * 1e-6 && axis.ticks[t] <= axis.hi + axis.step * 1e-6,
                  "[%g, %g]: tick %g inside", lo, hi, axis.ticks[t]);
            if (t > 0)
                CHECK(strcmp(axis.labels[t], axis.labels[t - 1]) != 0, "[%g, %g]: labels %s and %s differ", lo, hi,
                      axis.labels[t - 1], axis.labels[t]);
        }
    }
}

/* ---- TSV ---- */

/* Line i (0-based) of text, in a static buffer. */
static const char *line_of(const char *text, size_t i)
{
    static char line[4096];
    const char *p = text;
    for (; i > 0 && p; i--) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p)
        return "";
    size_t n = strcspn(p, "\n");
    n = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, p, n);
    line[n] = '\0';
    return line;
}

static void test_table(void)
{
    const char *pn1[] = {"lr", "batch_size", "optimizer", "lr"}, *pv1[] = {"0.5", "64", "adam", "0.01"};
    const char *mn1[] = {"loss", "accuracy"};
    double mv1[] = {0.0734, 0.9712};
    const char *pn2[] = {"lr", "notes", "loss"}, *pv2[] = {"0.1", "tab\there\nnew\rline", ""};
    const char *mn2[] = {"loss", "val_loss"};
    double mv2[] = {NAN, 1.23456789e-7};
    const char *pn3[] = {"bad\xff", NULL}, *pv3[] = {"x", "y"};
    chart_table_run runs[] = {
        {"run-b", "Completed", 1764162146, pn1, pv1, 4, mn1, mv1, 2},
        {"run-a", "Running", 1764160000, pn2, pv2, 3, mn2, mv2, 2},
        {"run-c", NULL, 0, pn3, pv3, 2, NULL, NULL, 0},
        {"run-0", "Queued", NAN, NULL, NULL, 0, NULL, NULL, 0},
    };
    util_buf out = {0};
    amlfs_err err = {0};
    CHECK(chart_table_tsv(runs, 4, &out, &err) == 0, "table: %s", err.msg);
    const char *text = out.data ? out.data : "";
    CHECK(strcmp(line_of(text, 0), "run\tstatus\tstarted\tparams.bad\xef\xbf\xbd\tparams.batch_size\tparams.loss\t"
                                    "params.lr\tparams.notes\tparams.optimizer\tmetrics.accuracy\tmetrics.loss\t"
                                    "metrics.val_loss") == 0,
          "header: %s", line_of(text, 0));
    CHECK(strcmp(line_of(text, 1), "run-a\tRunning\t2025-11-26T12:26:40Z\t-\t-\t-\t0.1\ttab here new line\t-\t-\tNaN\t"
                                    "1.23457e-07") == 0,
          "oldest first, cleaned, NaN: %s", line_of(text, 1));
    CHECK(strcmp(line_of(text, 2), "run-b\tCompleted\t2025-11-26T13:02:26Z\t-\t64\t-\t0.01\t-\tadam\t0.9712\t0.0734\t-") == 0,
          "the last of a repeated name: %s", line_of(text, 2));
    CHECK(strcmp(line_of(text, 3), "run-0\tQueued\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-") == 0, "unknown start last, by id: %s",
          line_of(text, 3));
    CHECK(strcmp(line_of(text, 4), "run-c\t-\t-\tx\t-\t-\t-\t-\t-\t-\t-\t-") == 0, "unknown start last: %s",
          line_of(text, 4));
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK(lines == 5, "one line per run and the header: %zu", lines);

    out.len = 0;
    CHECK(chart_table_tsv(NULL, 0, &out, &err) == 0 && strcmp(out.data, "run\tstatus\tstarted\n") == 0,
          "no runs: the header only");
    chart_table_run broken = {"r", "s", 1, NULL, NULL, 2, NULL, NULL, 0};
    CHECK(chart_table_tsv(&broken, 1, &out, &err) == -EINVAL && strstr(err.msg, "parameters"), "%s", err.msg);
    CHECK(chart_table_tsv(NULL, 1, &out, &err) == -EINVAL, "%s", err.msg);

    /* 1,000 runs x 100 metrics and 20 parameters: every cell in place, quickly. */
    size_t n = 1000, nm = 100, np = 20;
    char **names = calloc(nm, sizeof *names);
    for (size_t j = 0; j < nm; j++)
        names[j] = util_strdupf("metric_%03zu", nm - 1 - j);
    double *values = calloc(nm, sizeof *values);
    for (size_t j = 0; j < nm; j++)
        values[j] = (double)j / 4;
    chart_table_run *many = calloc(n, sizeof *many);
    char **ids = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = util_strdupf("run-%04zu", i);
        many[i] = (chart_table_run){ids[i], "Completed", 1764160000 + (double)((i * 7919) % n),
                                    (const char *const *)names, (const char *const *)names, np,
                                    (const char *const *)names, values, nm};
    }
    out.len = 0;
    int64_t t0 = util_mono_ms();
    CHECK(chart_table_tsv(many, n, &out, &err) == 0, "big table: %s", err.msg);
    int64_t ms = util_mono_ms() - t0;
    CHECK(ms < 2000, "1,000 x 100: %lld ms", (long long)ms);
    lines = 0;
    for (const char *p = out.data; *p; p++)
        lines += *p == '\n';
    CHECK(lines == n + 1, "1,000 rows: %zu lines", lines);
    CHECK(strncmp(line_of(out.data, 1), "run-0000\tCompleted\t", 19) == 0, "sorted by start: %s",
          line_of(out.data, 1));
    /* metric_000 is the last name given, with value 99/4; it is the first metrics column. */
    CHECK(strstr(line_of(out.data, 0), "\tmetrics.metric_000\tmetrics.metric_001\t") != NULL, "metric columns sorted");
    CHECK(strstr(line_of(out.data, 1), "\tmetric_099\t24.75\t24.5\t") != NULL, "cells in place: %.200s",
          line_of(out.data, 1));
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    for (size_t j = 0; j < nm; j++)
        free(names[j]);
    free(ids);
    free(names);
    free(values);
    free(many);
    util_buf_free(&out);
}

/* chart_reduce keeps an overlay's memory bounded and its spikes: at most max points, in x order, the
 * lowest and highest kept, non-finite points dropped. */
static void test_reduce(void)
{
    size_t n = 100000;
    chart_point *pts = util_xcalloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++)
        pts[i] = (chart_point){.x = (double)(n - 1 - i), .y = (i == 4321) ? 99.0 : (i == 777) ? -5.0 : 1.0};
    pts[10].y = NAN;
    size_t m = chart_reduce(pts, n, 400);
    bool sorted = true, high = false, low = false, finite = true;
    for (size_t i = 0; i < m; i++) {
        sorted = sorted && (i == 0 || pts[i - 1].x <= pts[i].x);
        high = high || pts[i].y == 99.0;
        low = low || pts[i].y == -5.0;
        finite = finite && isfinite(pts[i].y);
    }
    CHECK(m <= 400 && m > 100 && sorted && high && low && finite, "reduce: %zu points, sorted %d spikes %d %d",
          m, sorted, high, low);
    CHECK(chart_reduce(pts, 5, 400) == 5, "a short series is kept whole");
    free(pts);
}

int main(void)
{
    test_reduce();
    test_one_path_per_series();
    test_edge_cases();
    test_hostile_text();
    test_time_axis();
    test_elapsed_axis();
    test_labels_fit();
    test_decimation();
    test_any_doubles();
    test_bad_arguments();
    test_tick_labels();
    test_table();
    xmlCleanupParser();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
