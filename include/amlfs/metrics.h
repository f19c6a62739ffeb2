/* metrics.h: a run's metrics, parameters and tags as MLflow defines them: the key and value rules of
 * mlflow/utils/validation.py, one AMLFS_METRICS line parsed, and a point's text line in the mount. */
#ifndef AMLFS_METRICS_H
#define AMLFS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "amlfs/err.h"

/* MLflow's limits (MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH) and its batch limits. */
#define METRICS_KEY_MAX 250
#define METRICS_PARAM_VALUE_MAX 6000
#define METRICS_TAG_VALUE_MAX 5000
#define METRICS_BATCH_METRICS_MAX 1000
#define METRICS_BATCH_PARAMS_MAX 100
#define METRICS_BATCH_TAGS_MAX 100
#define METRICS_BATCH_TOTAL_MAX 1000
/* amlfs's own limits (README "Metrics"): one AMLFS_METRICS line, points and series of one run, and the
 * problems of malformed lines kept with their line numbers (all are counted). */
#define METRICS_LINE_MAX 16384
#define METRICS_POINTS_MAX 1000000
#define METRICS_SERIES_MAX 1000
#define METRICS_PROBLEMS_KEPT 5
/* "STEP VALUE TIMESTAMP\n" is at most 20 + 1 + 24 + 1 + 20 + 1 bytes. */
#define METRICS_TEXT_LINE_MAX 80

/* A job's AMLFS_METRICS file is RUN_DIR/metrics/metrics.jsonl (metrics-nodeN.jsonl on node N > 0 of a
 * run on several nodes: appends from several machines to one file on a shared folder are not atomic). */
#define METRICS_DIR "metrics"
#define METRICS_FILE "metrics.jsonl"

/* One point as a job logs it. */
typedef struct metric_point {
    char name[METRICS_KEY_MAX + 1];
    double value;               /* NaN and the infinities are values too, as in MLflow */
    bool has_step;              /* false: the next step of its series */
    int64_t step;
    bool has_timestamp;         /* false: when it is read */
    int64_t timestamp;          /* ms since the epoch */
} metric_point;

/* A metric name, parameter or tag key (`kind` names it in the message) as MLflow allows it: 1 to 250
 * ASCII letters, digits, '_', '-', '.', ' ' and '/', that is also a path naming nothing else (no
 * leading or trailing '/', no empty, '.' or '..' parts). MLflow also takes non-ASCII letters; they are
 * refused here, since names become file names of the mount. */
int metrics_check_key(const char *kind, const char *key, amlfs_err *err);
/* MLflow's run id rule: ^[a-zA-Z0-9][\w\-]{0,255}$ (ASCII). */
bool metrics_run_id_ok(const char *id);
/* A metric's value in JSON: a number, or MLflow's JSON spelling of the others ("NaN", "Infinity",
 * "-Infinity"), or Python's str() of them ("nan", "inf", "-inf"), or a number in a string (protobuf's
 * JSON allows it). -EINVAL otherwise. */
int metrics_json_value(const cJSON *v, double *out);
/* A whole number in JSON (a step, a timestamp): an integral number, or a decimal string (protobuf's
 * JSON for int64). -EINVAL otherwise. */
int metrics_json_int64(const cJSON *v, int64_t *out);
/* One AMLFS_METRICS line (without its newline): a JSON object {"name", "value", "step"?, "timestamp"?}
 * (step and timestamp may be null: absent). -EINVAL with the reason in err, for the run's info. */
int metrics_parse_line(const char *line, size_t len, metric_point *p, amlfs_err *err);

/* The shortest text that reads back as v ("0.31", "1e-07"), "nan", "inf", "-inf"; returns its length. */
size_t metrics_format_value(double v, char *buf, size_t len);
/* "STEP VALUE TIMESTAMP\n" of one point (buf >= METRICS_TEXT_LINE_MAX); returns its length. */
size_t metrics_format_line(int64_t step, double value, int64_t timestamp, char *buf, size_t len);
/* A value as MLflow's JSON writes it: a number, or "NaN", "Infinity", "-Infinity". */
cJSON *metrics_value_json(double v);
/* The same into buf (as text: 0.31, "NaN"); returns its length. */
size_t metrics_value_json_text(double v, char *buf, size_t len);
/* How much longer a value's JSON text is than its text in a series' line ("NaN" quoted vs nan: 2). */
size_t metrics_value_json_extra(double v);

/* metrics.json, written as it is read (a run may have a million points) and sized without writing it: a
 * series' head and each point's entry, and the file's size from its series' counts and text sizes. */
void metrics_json_head(char *buf, size_t len, const char *name, bool first);
void metrics_json_point(char *buf, size_t len, int64_t step, double value, int64_t timestamp, bool first);
const char *metrics_json_series_end(size_t points);
const char *metrics_json_end(size_t series);
/* One series' share of the file: its name, points, the bytes of its text and its json_extra. */
int64_t metrics_json_series_size(const char *name, int64_t count, int64_t text_bytes, int64_t extra, bool first);

#endif
