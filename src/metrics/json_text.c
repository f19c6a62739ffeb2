/* json_text.c: the text of a run's metrics.json, {"NAME": [{"step", "value", "timestamp"}, ...], ...},
 * in pieces written as the points are read, and its size computed from each series' count, text size and
 * json_extra without writing it (so `ls -l` of a run with a million points writes nothing). The pieces and
 * the sizes are kept side by side here: they must always agree. */
#include "amlfs/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* `,` between series, then "\n  \"NAME\": [": 8 bytes and the name. */
void metrics_json_head(char *buf, size_t len, const char *name, bool first)
{
    snprintf(buf, len, "%s\n  \"%s\": [", first ? "" : ",", name);
}

/* `,` between points, then "\n    {\"step\": S, \"value\": V, \"timestamp\": T}": 41 bytes and the three
 * values; the text line "S V T\n" is 3 bytes and the same values (V's JSON longer by its json_extra). */
void metrics_json_point(char *buf, size_t len, int64_t step, double value, int64_t timestamp, bool first)
{
    char v[48];
    metrics_value_json_text(value, v, sizeof v);
    snprintf(buf, len, "%s\n    {\"step\": %" PRId64 ", \"value\": %s, \"timestamp\": %" PRId64 "}", first ? "" : ",",
             step, v, timestamp);
}

const char *metrics_json_series_end(size_t points)
{
    return points ? "\n  ]" : "]";
}

const char *metrics_json_end(size_t series)
{
    return series ? "\n}\n" : "}\n";
}

int64_t metrics_json_series_size(const char *name, int64_t count, int64_t text_bytes, int64_t extra, bool first)
{
    int64_t head = (first ? 0 : 1) + 8 + (int64_t)strlen(name);
    int64_t points = count > 0 ? text_bytes + count * (41 - 3) + extra + (count - 1) : 0;
    return head + points + (int64_t)strlen(metrics_json_series_end((size_t)count));
}
