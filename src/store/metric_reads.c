/* metric_reads.c: reading a run's metrics back: its series (names, counts, last values), one series'
 * text by byte range (what runs/ID/metrics/NAME shows, growing like a log), its points, and the last
 * values of every run of an experiment (for comparing runs). */
#include "db.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/metrics.h"
#include "amlfs/util.h"

static double col_value(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

void store_series_list_free(store_series *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].name);
    free(list);
}

static void read_series(sqlite3_stmt *st, void *row)
{
    store_series *x = row;
    x->name = db_col_text(st, 0);
    x->count = sqlite3_column_int64(st, 1);
    x->bytes = sqlite3_column_int64(st, 2);
    x->last_step = sqlite3_column_int64(st, 3);
    x->last_value = col_value(st, 4);
    x->last_timestamp = sqlite3_column_int64(st, 5);
    x->json_extra = sqlite3_column_int64(st, 6);
}

int store_series_list(store *s, const char *run, store_series **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT name, count, bytes, last_step, last_value, last_ts, json_extra FROM metric_series "
                                  "WHERE run = ?1 ORDER BY name", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        rc = db_collect(s, st, read_series, sizeof **out, &rows, &count, err, "listing metric series");
    }
    db_unlock(s);
    if (rc < 0) {
        store_series_list_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}

/* The series' text size (lock held); -ENOENT without such a series. */
static int series_bytes(store *s, const char *run, const char *name, int64_t *bytes, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(s, "SELECT bytes FROM metric_series WHERE run = ?1 AND name = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, run);
    db_bind_text(st, 2, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *bytes = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return amlfs_fail(err, ENOENT, "run %s has no metric '%s'", run, name);
    return rc == SQLITE_ROW ? 0 : db_fail(s, rc, err, "reading a metric series");
}

int store_series_text(store *s, const char *run, const char *name, int64_t offset, int64_t length, char **text,
                      size_t *len, int64_t *total, amlfs_err *err)
{
    *text = NULL;
    *len = 0;
    util_buf b = {0};
    int64_t first = 0; /* the offset of the first line read */
    db_lock(s);
    int rc = series_bytes(s, run, name, total, err);
    if (rc == 0 && offset < *total && length > 0) {
        /* From the line holding `offset` to the one holding offset + length - 1: the key's range. */
        sqlite3_stmt *st = db_stmt(s, "SELECT off, step, value, ts FROM metric_points WHERE run = ?1 AND name = ?2 "
                                      "AND off >= coalesce((SELECT max(off) FROM metric_points WHERE run = ?1 AND "
                                      "name = ?2 AND off <= ?3), 0) AND off < ?4 ORDER BY off", err);
        if (!st)
            rc = -EIO;
        else {
            db_bind_text(st, 1, run);
            db_bind_text(st, 2, name);
            sqlite3_bind_int64(st, 3, offset);
            sqlite3_bind_int64(st, 4, offset + length);
            int step;
            bool any = false;
            while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (!any)
                    first = sqlite3_column_int64(st, 0);
                any = true;
                char line[METRICS_TEXT_LINE_MAX];
                size_t n = metrics_format_line(sqlite3_column_int64(st, 1), col_value(st, 2),
                                               sqlite3_column_int64(st, 3), line, sizeof line);
                util_buf_append(&b, line, n, 0);
            }
            sqlite3_reset(st);
            if (step != SQLITE_DONE)
                rc = db_fail(s, step, err, "reading a metric series");
        }
    }
    db_unlock(s);
    if (rc < 0) {
        util_buf_free(&b);
        return rc;
    }
    /* Cut the lines read to [offset, offset + length). */
    size_t skip = offset > first ? (size_t)(offset - first) : 0;
    size_t avail = b.len > skip ? b.len - skip : 0;
    size_t want = avail < (size_t)length ? avail : (size_t)length;
    char *out = util_xcalloc(1, want + 1);
    if (want)
        memcpy(out, b.data + skip, want);
    util_buf_free(&b);
    *text = out;
    *len = want;
    return 0;
}

static void read_point(sqlite3_stmt *st, void *row)
{
    store_point *p = row;
    p->step = sqlite3_column_int64(st, 0);
    p->value = col_value(st, 1);
    p->timestamp = sqlite3_column_int64(st, 2);
    p->off = sqlite3_column_int64(st, 3);
}

/* sql's ?1 run, ?2 name, ?3 a limit (-1: none), ?4 where to start. */
static int points_query(store *s, const char *sql, const char *run, const char *name, int64_t start, int64_t max,
                        store_point **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, name);
        sqlite3_bind_int64(st, 3, max > 0 ? max : -1);
        sqlite3_bind_int64(st, 4, start > 0 ? start : 0);
        rc = db_collect(s, st, read_point, sizeof **out, &rows, &count, err, "reading metric points");
    }
    db_unlock(s);
    if (rc < 0) {
        free(rows);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}

int store_series_points(store *s, const char *run, const char *name, int64_t skip, int64_t max, store_point **out,
                        size_t *n, amlfs_err *err)
{
    return points_query(s, "SELECT step, value, ts, off FROM metric_points WHERE run = ?1 AND name = ?2 "
                           "ORDER BY off LIMIT ?3 OFFSET ?4", run, name, skip, max, out, n, err);
}

int store_series_points_from(store *s, const char *run, const char *name, int64_t from, int64_t max,
                             store_point **out, size_t *n, amlfs_err *err)
{
    return points_query(s, "SELECT step, value, ts, off FROM metric_points WHERE run = ?1 AND name = ?2 "
                           "AND off >= ?4 ORDER BY off LIMIT ?3", run, name, from, max, out, n, err);
}

void store_run_last_free(store_run_last *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].run);
        free(list[i].name);
    }
    free(list);
}

static void read_last(sqlite3_stmt *st, void *row)
{
    store_run_last *x = row;
    x->run = db_col_text(st, 0);
    x->name = db_col_text(st, 1);
    x->step = sqlite3_column_int64(st, 2);
    x->value = col_value(st, 3);
    x->timestamp = sqlite3_column_int64(st, 4);
}

int store_experiment_metric_last(store *s, const char *experiment, store_run_last **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT m.run, m.name, m.last_step, m.last_value, m.last_ts FROM runs r "
                                  "JOIN metric_series m ON m.run = r.id WHERE r.experiment = ?1 ORDER BY r.seq, m.name",
                               err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, experiment);
        rc = db_collect(s, st, read_last, sizeof **out, &rows, &count, err, "reading the last metric values");
    }
    db_unlock(s);
    if (rc < 0) {
        store_run_last_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}
