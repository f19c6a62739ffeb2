/* fuzz_metrics.c: what a job writes to its AMLFS_METRICS file, line by line as the server ingests it: each
 * line parsed and checked as MLflow checks a metric, and a point taken written back as the mount shows it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "amlfs/metrics.h"

static void take(const metric_point *p)
{
    amlfs_err err = {0};
    /* What parsing accepted is a name MLflow accepts, and its lines fit their buffers. */
    if (metrics_check_key("metric name", p->name, &err) < 0)
        abort();
    char text[METRICS_TEXT_LINE_MAX], json[256];
    size_t n = metrics_format_line(p->step, p->value, p->timestamp, text, sizeof text);
    if (n == 0 || n >= sizeof text || text[n - 1] != '\n')
        abort();
    n = metrics_value_json_text(p->value, json, sizeof json);
    if (n == 0 || n >= sizeof json)
        abort();
    metrics_json_head(json, sizeof json, p->name, true);
    metrics_json_point(json, sizeof json, p->step, p->value, p->timestamp, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        metric_point p;
        amlfs_err err = {0};
        if (metrics_parse_line(s, len, &p, &err) == 0)
            take(&p);
        else if (!err.msg[0])
            abort(); /* a refused line always says why (the reason goes to the run's info) */
        /* The same bytes as a key and as a run id, as MLflow's handlers check them. */
        char key[METRICS_KEY_MAX + 8];
        size_t k = len < sizeof key - 1 ? len : sizeof key - 1;
        memcpy(key, s, k);
        key[k] = '\0';
        metrics_check_key("key", key, &err);
        metrics_run_id_ok(key);
        s += len + 1;
    }
    return 0;
}
