/* line.c: one line of a job's AMLFS_METRICS file, {"name": "loss", "value": 0.31, "step": 12,
 * "timestamp": 1764162000000}, parsed with cJSON and checked as MLflow checks a logged metric. A line that
 * is not one gets a reason a person can act on. */
#include "amlfs/metrics.h"
#include "amlfs/util.h"

#include <stdio.h>
#include <string.h>

static const char *const known_keys[] = {"name", "value", "step", "timestamp"};

static bool known(const char *key)
{
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (strcmp(key, known_keys[i]) == 0)
            return true;
    return false;
}

int metrics_parse_line(const char *line, size_t len, metric_point *p, amlfs_err *err)
{
    memset(p, 0, sizeof *p);
    if (len > METRICS_LINE_MAX)
        return amlfs_fail(err, EINVAL, "longer than %d bytes", METRICS_LINE_MAX);
    if (memchr(line, '\0', len))
        return amlfs_fail(err, EINVAL, "holds a NUL byte");
    if (!util_utf8_valid(line, len)) /* what a reason quotes of the line must stay valid in info.json */
        return amlfs_fail(err, EINVAL, "not UTF-8 text");
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    if (!obj) {
        size_t at = end && end >= line && end <= line + len ? (size_t)(end - line) : 0;
        return amlfs_fail(err, EINVAL, "not JSON (at byte %zu); write one object a line: {\"name\": \"loss\", "
                          "\"value\": 0.31, \"step\": 12} (NaN and infinities as \"NaN\", \"Infinity\")", at + 1);
    }
    int rc = 0;
    for (const char *rest = end; rest < line + len; rest++)
        if (*rest != ' ' && *rest != '\t' && *rest != '\r')
            rc = amlfs_fail(err, EINVAL, "more than one JSON value on the line");
    if (rc == 0 && !cJSON_IsObject(obj))
        rc = amlfs_fail(err, EINVAL, "not a JSON object; write {\"name\": \"loss\", \"value\": 0.31}");
    const cJSON *item;
    if (rc == 0) {
        cJSON_ArrayForEach(item, obj) {
            if (!item->string || !known(item->string)) {
                rc = amlfs_fail(err, EINVAL, "unknown key '%.60s' (known: name, value, step, timestamp)",
                                item->string ? item->string : "");
                break;
            }
            for (const cJSON *before = obj->child; before != item; before = before->next) {
                if (strcmp(before->string, item->string) == 0) {
                    rc = amlfs_fail(err, EINVAL, "key '%s' is given twice", item->string);
                    break;
                }
            }
            if (rc < 0)
                break;
        }
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, "value");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(obj, "step");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(obj, "timestamp");
    if (rc == 0 && !cJSON_IsString(name))
        rc = amlfs_fail(err, EINVAL, "\"name\" is missing or not a string");
    if (rc == 0) {
        amlfs_err why = {0};
        if (metrics_check_key("metric name", name->valuestring, &why) < 0)
            rc = amlfs_fail(err, EINVAL, "%s", why.msg);
        else
            snprintf(p->name, sizeof p->name, "%s", name->valuestring);
    }
    if (rc == 0 && !value)
        rc = amlfs_fail(err, EINVAL, "\"value\" is missing");
    if (rc == 0 && metrics_json_value(value, &p->value) < 0)
        rc = amlfs_fail(err, EINVAL, "\"value\" of '%s' is not a number (nor \"NaN\", \"Infinity\", \"-Infinity\")",
                        p->name);
    if (rc == 0 && step && !cJSON_IsNull(step)) {
        if (metrics_json_int64(step, &p->step) < 0)
            rc = amlfs_fail(err, EINVAL, "\"step\" of '%s' is not a whole number", p->name);
        p->has_step = true;
    }
    if (rc == 0 && ts && !cJSON_IsNull(ts)) {
        if (metrics_json_int64(ts, &p->timestamp) < 0 || p->timestamp < 0)
            rc = amlfs_fail(err, EINVAL, "\"timestamp\" of '%s' is not a whole number of milliseconds since "
                            "1970, 0 or more", p->name);
        p->has_timestamp = true;
    }
    cJSON_Delete(obj);
    if (rc < 0)
        memset(p, 0, sizeof *p);
    return rc;
}
