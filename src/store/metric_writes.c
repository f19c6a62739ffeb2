/* metric_writes.c: adding a run's metric points, parameters and tags, in one transaction with what was
 * read of its AMLFS_METRICS file (offset, lines, malformed lines), so a restart never loses or repeats a
 * point; the run's limits of points and series are kept here. */
#include "db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "amlfs/metrics.h"
#include "amlfs/util.h"

void store_series_changes_free(store_series_change *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].name);
    free(list);
}

typedef struct batch {
    store *s;
    const char *run;
    const store_metric_source *src;
    int64_t points, series, malformed, dropped;
    cJSON *problems;
    store_series_change *changes;
    size_t nchanges, cap;
} batch;

static void note_change(batch *b, const char *name, int64_t bytes, bool created)
{
    for (size_t i = 0; i < b->nchanges; i++) {
        if (strcmp(b->changes[i].name, name) == 0) {
            b->changes[i].bytes = bytes;
            return;
        }
    }
    b->changes = db_grow(b->changes, b->nchanges, &b->cap, sizeof *b->changes);
    b->changes[b->nchanges++] = (store_series_change){util_xstrdup(name), bytes, created};
}

static int load_state(batch *b, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(b->s, "INSERT OR IGNORE INTO metric_state(run) VALUES(?1)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    int rc = db_step_done(b->s, st, err, "starting a run's metrics");
    if (rc < 0)
        return rc;
    st = db_stmt(b->s, "SELECT points, series, malformed, dropped, problems FROM metric_state WHERE run = ?1", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        b->points = sqlite3_column_int64(st, 0);
        b->series = sqlite3_column_int64(st, 1);
        b->malformed = sqlite3_column_int64(st, 2);
        b->dropped = sqlite3_column_int64(st, 3);
        const char *text = (const char *)sqlite3_column_text(st, 4);
        b->problems = cJSON_Parse(text ? text : "[]");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_fail(b->s, rc, err, "reading a run's metrics");
    if (!cJSON_IsArray(b->problems)) {
        cJSON_Delete(b->problems);
        b->problems = cJSON_CreateArray();
    }
    return 0;
}

static int save_state(batch *b, amlfs_err *err)
{
    char *problems = cJSON_PrintUnformatted(b->problems);
    if (!problems)
        abort();
    sqlite3_stmt *st = db_stmt(b->s, "UPDATE metric_state SET points = ?2, series = ?3, malformed = ?4, dropped = ?5, "
                                     "problems = ?6 WHERE run = ?1", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, b->run);
        sqlite3_bind_int64(st, 2, b->points);
        sqlite3_bind_int64(st, 3, b->series);
        sqlite3_bind_int64(st, 4, b->malformed);
        sqlite3_bind_int64(st, 5, b->dropped);
        db_bind_text(st, 6, problems);
        rc = db_step_done(b->s, st, err, "keeping a run's metrics counts");
    }
    free(problems);
    return rc;
}

/* The file's stored position must be where the reader started. */
static int check_source(batch *b, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(b->s, "SELECT off FROM metric_files WHERE run = ?1 AND file = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, b->src->file);
    int rc = sqlite3_step(st);
    int64_t stored = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(b->s, rc, err, "reading a metrics file's position");
    if (stored != b->src->from_offset)
        return amlfs_fail(err, EAGAIN, "metrics file %s of run %s was read meanwhile", b->src->file, b->run);
    return 0;
}

static int save_source(batch *b, amlfs_err *err)
{
    const store_metric_source *src = b->src;
    sqlite3_stmt *st = db_stmt(b->s, "INSERT OR REPLACE INTO metric_files(run, file, off, lines, skipping) "
                                     "VALUES(?1, ?2, ?3, ?4, ?5)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, src->file);
    sqlite3_bind_int64(st, 3, src->to_offset);
    sqlite3_bind_int64(st, 4, src->lines);
    sqlite3_bind_int(st, 5, src->skipping);
    int rc = db_step_done(b->s, st, err, "keeping a metrics file's position");
    b->malformed += src->malformed;
    for (size_t i = 0; rc == 0 && i < src->nproblems; i++)
        if (cJSON_GetArraySize(b->problems) < METRICS_PROBLEMS_KEPT) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "file", src->problems[i].file ? src->problems[i].file : src->file);
            cJSON_AddNumberToObject(p, "line", (double)src->problems[i].line);
            cJSON_AddStringToObject(p, "reason", src->problems[i].reason);
            cJSON_AddItemToArray(b->problems, p);
        }
    return rc;
}

/* A dropped point (file) or a refused batch (API). Returns 1 for dropped. */
static int over_limit(batch *b, const char *what, amlfs_err *err)
{
    if (!b->src)
        return amlfs_fail(err, EFBIG, "run %s has %s already (amlfs's limit per run)", b->run, what);
    if (b->dropped++ == 0 && cJSON_GetArraySize(b->problems) < METRICS_PROBLEMS_KEPT) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "file", b->src->file);
        cJSON_AddNumberToObject(p, "line", 0);
        char *why = util_strdupf("points dropped from here on: the run has %s (amlfs's limit per run)", what);
        cJSON_AddStringToObject(p, "reason", why);
        free(why);
        cJSON_AddItemToArray(b->problems, p);
    }
    return 1;
}

static void bind_value(sqlite3_stmt *st, int idx, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, idx); /* SQLite keeps no NaN */
    else
        sqlite3_bind_double(st, idx, v);
}

static int add_point(batch *b, const store_metric_in *m, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(b->s, "SELECT bytes, next_step, last_step, last_ts FROM metric_series "
                                     "WHERE run = ?1 AND name = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, m->name);
    int rc = sqlite3_step(st);
    bool exists = rc == SQLITE_ROW;
    int64_t bytes = exists ? sqlite3_column_int64(st, 0) : 0, next = exists ? sqlite3_column_int64(st, 1) : 0;
    int64_t last_step = exists ? sqlite3_column_int64(st, 2) : 0, last_ts = exists ? sqlite3_column_int64(st, 3) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(b->s, rc, err, "reading a metric series");
    char what[80];
    if (b->points >= METRICS_POINTS_MAX) {
        snprintf(what, sizeof what, "%d points", METRICS_POINTS_MAX);
        return over_limit(b, what, err);
    }
    if (!exists && b->series >= METRICS_SERIES_MAX) {
        snprintf(what, sizeof what, "%d metric series", METRICS_SERIES_MAX);
        return over_limit(b, what, err);
    }
    int64_t step = m->has_step ? m->step : next;
    char line[METRICS_TEXT_LINE_MAX];
    int64_t len = (int64_t)metrics_format_line(step, m->value, m->timestamp, line, sizeof line);
    st = db_stmt(b->s, "INSERT INTO metric_points(run, name, off, step, value, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                 err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, m->name);
    sqlite3_bind_int64(st, 3, bytes);
    sqlite3_bind_int64(st, 4, step);
    bind_value(st, 5, m->value);
    sqlite3_bind_int64(st, 6, m->timestamp);
    if ((rc = db_step_done(b->s, st, err, "storing a metric point")) < 0)
        return rc;
    /* The last value is MLflow's: the highest step, the latest logged among equal steps. */
    bool newest = !exists || step > last_step || (step == last_step && m->timestamp >= last_ts);
    st = db_stmt(b->s, "INSERT INTO metric_series(run, name, count, bytes, next_step, last_step, last_value, last_ts, "
                       "json_extra) VALUES(?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?9) ON CONFLICT(run, name) DO UPDATE SET "
                       "count = count + 1, bytes = bytes + ?3, next_step = max(next_step, ?4), "
                       "json_extra = json_extra + ?9, "
                       "last_step = CASE WHEN ?8 THEN ?5 ELSE last_step END, "
                       "last_value = CASE WHEN ?8 THEN ?6 ELSE last_value END, "
                       "last_ts = CASE WHEN ?8 THEN ?7 ELSE last_ts END", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, m->name);
    sqlite3_bind_int64(st, 3, len);
    sqlite3_bind_int64(st, 4, step < INT64_MAX ? step + 1 : step);
    sqlite3_bind_int64(st, 5, step);
    bind_value(st, 6, m->value);
    sqlite3_bind_int64(st, 7, m->timestamp);
    sqlite3_bind_int(st, 8, newest);
    sqlite3_bind_int64(st, 9, (int64_t)metrics_value_json_extra(m->value));
    if ((rc = db_step_done(b->s, st, err, "storing a metric series")) < 0)
        return rc;
    b->points++;
    b->series += !exists;
    note_change(b, m->name, bytes + len, !exists);
    return 0;
}

static int add_param(batch *b, const store_kv *p, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(b->s, "SELECT value FROM run_params WHERE run = ?1 AND key = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, p->key);
    int rc = sqlite3_step(st);
    char *old = rc == SQLITE_ROW ? db_col_text(st, 0) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(b->s, rc, err, "reading a parameter");
    if (old) {
        rc = strcmp(old, p->value) == 0 ? 0
                                        : amlfs_fail(err, EINVAL, "Changing param values is not allowed. Param with "
                                                     "key='%.250s' was already logged with value='%.250s' for run "
                                                     "ID='%s'. Attempted logging new value '%.250s'.",
                                                     p->key, old, b->run, p->value);
        free(old);
        return rc;
    }
    st = db_stmt(b->s, "INSERT INTO run_params(run, key, value) VALUES(?1, ?2, ?3)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, p->key);
    db_bind_text(st, 3, p->value);
    return db_step_done(b->s, st, err, "storing a parameter");
}

static int add_tag(batch *b, const store_kv *t, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(b->s, "INSERT OR REPLACE INTO run_tags(run, key, value) VALUES(?1, ?2, ?3)", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, b->run);
    db_bind_text(st, 2, t->key);
    db_bind_text(st, 3, t->value);
    return db_step_done(b->s, st, err, "storing a tag");
}

static int add_all(batch *b, const store_metric_in *metrics, size_t nmetrics, const store_kv *params,
                   size_t nparams, const store_kv *tags, size_t ntags, amlfs_err *err)
{
    int rc = load_state(b, err);
    if (rc == 0 && b->src)
        rc = check_source(b, err);
    for (size_t i = 0; rc == 0 && i < nparams; i++)
        rc = add_param(b, &params[i], err);
    for (size_t i = 0; rc == 0 && i < ntags; i++)
        rc = add_tag(b, &tags[i], err);
    for (size_t i = 0; rc == 0 && i < nmetrics; i++) {
        rc = add_point(b, &metrics[i], err);
        if (rc > 0)
            rc = 0; /* dropped, counted */
    }
    if (rc == 0 && b->src)
        rc = save_source(b, err);
    if (rc == 0)
        rc = save_state(b, err);
    return rc;
}

int store_run_data_add(store *s, const char *run, const store_metric_in *metrics, size_t nmetrics,
                       const store_kv *params, size_t nparams, const store_kv *tags, size_t ntags,
                       const store_metric_source *src, store_series_change **changes, size_t *nchanges,
                       amlfs_err *err)
{
    batch b = {.s = s, .run = run, .src = src};
    db_lock(s);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    if (rc == 0) {
        rc = add_all(&b, metrics, nmetrics, params, nparams, tags, ntags, err);
        if (rc == 0)
            rc = db_exec(s, "COMMIT", err);
        if (rc < 0)
            db_exec(s, "ROLLBACK", NULL);
    }
    db_unlock(s);
    cJSON_Delete(b.problems);
    if (rc == 0 && changes) {
        *changes = b.changes;
        *nchanges = b.nchanges;
    } else {
        store_series_changes_free(b.changes, b.nchanges);
        if (changes) {
            *changes = NULL;
            *nchanges = 0;
        }
    }
    return rc;
}
