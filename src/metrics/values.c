/* values.c: metric values and whole numbers as MLflow's JSON carries them (protobuf JSON: NaN and the
 * infinities as strings, int64 as numbers or strings), and the text a point shows in the mount. */
#include "amlfs/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool special_value(const char *s, double *out)
{
    static const struct {
        const char *word;
        double value;
    } words[] = {{"NaN", NAN}, {"nan", NAN}, {"Infinity", INFINITY}, {"inf", INFINITY},
                 {"-Infinity", -INFINITY}, {"-inf", -INFINITY}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(s, words[i].word) == 0) {
            *out = words[i].value;
            return true;
        }
    }
    return false;
}

int metrics_json_value(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
        return -EINVAL;
    if (special_value(v->valuestring, out))
        return 0;
    /* A number in a string ("0.5"): all of it, nothing but a finite number. */
    const char *s = v->valuestring;
    if (strspn(s, "0123456789+-.eE") != strlen(s))
        return -EINVAL;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d))
        return -EINVAL;
    *out = d;
    return 0;
}

int metrics_json_int64(const cJSON *v, int64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* Integral and well inside int64 (doubles are exact to 2^53; beyond it a JSON number is not). */
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
            return -EINVAL;
        *out = (int64_t)d;
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return -EINVAL;
    const char *s = v->valuestring;
    size_t digits = strspn(s + (s[0] == '-'), "0123456789");
    if (digits == 0 || digits > 19 || s[(s[0] == '-') + digits] != '\0')
        return -EINVAL;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = n;
    return 0;
}

size_t metrics_format_value(double v, char *buf, size_t len)
{
    int n;
    if (isnan(v))
        n = snprintf(buf, len, "nan");
    else if (isinf(v))
        n = snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else {
        /* The fewest digits that read back as the same double. */
        n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t metrics_format_line(int64_t step, double value, int64_t timestamp, char *buf, size_t len)
{
    char v[40];
    metrics_format_value(value, v, sizeof v);
    int n = snprintf(buf, len, "%lld %s %lld\n", (long long)step, v, (long long)timestamp);
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

cJSON *metrics_value_json(double v)
{
    if (isnan(v))
        return cJSON_CreateString("NaN");
    if (isinf(v))
        return cJSON_CreateString(v > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(v);
}

size_t metrics_value_json_text(double v, char *buf, size_t len)
{
    if (isfinite(v))
        return metrics_format_value(v, buf, len);
    int n = snprintf(buf, len, "\"%s\"", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t metrics_value_json_extra(double v)
{
    char text[48], json[48];
    return metrics_value_json_text(v, json, sizeof json) - metrics_format_value(v, text, sizeof text);
}
