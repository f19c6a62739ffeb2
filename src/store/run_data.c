/* run_data.c: a run's parameters and tags as the store keeps them, the state of reading its metrics
 * files (counts, malformed lines, read positions), and what MLflow's update_run said from the job. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

void store_pairs_free(store_pair *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].run);
        free(list[i].key);
        free(list[i].value);
    }
    free(list);
}

static void read_pair(sqlite3_stmt *st, void *row)
{
    store_pair *p = row;
    p->key = db_col_text(st, 0);
    p->value = db_col_text(st, 1);
    if (sqlite3_column_count(st) > 2)
        p->run = db_col_text(st, 2);
}

static int pairs(store *s, const char *sql, const char *arg, store_pair **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, arg);
        rc = db_collect(s, st, read_pair, sizeof **out, &rows, &count, err, "listing parameters or tags");
    }
    db_unlock(s);
    if (rc < 0) {
        store_pairs_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}

int store_run_params(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err)
{
    return pairs(s, "SELECT key, value FROM run_params WHERE run = ?1 ORDER BY key", run, out, n, err);
}

int store_run_tags(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err)
{
    return pairs(s, "SELECT key, value FROM run_tags WHERE run = ?1 ORDER BY key", run, out, n, err);
}

int store_experiment_params(store *s, const char *experiment, store_pair **out, size_t *n, amlfs_err *err)
{
    return pairs(s, "SELECT p.key, p.value, p.run FROM runs r JOIN run_params p ON p.run = r.id "
                    "WHERE r.experiment = ?1 ORDER BY r.seq, p.key", experiment, out, n, err);
}

int store_run_tag_delete(store *s, const char *run, const char *key, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "DELETE FROM run_tags WHERE run = ?1 AND key = ?2", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, key);
        rc = db_step_done(s, st, err, "deleting a tag");
        if (rc == 0 && sqlite3_changes(s->db) == 0)
            rc = amlfs_fail(err, ENOENT, "No tag with name: %s in run with id %s", key, run);
    }
    db_unlock(s);
    return rc;
}

void store_metric_state_free(store_metric_state *st)
{
    if (!st)
        return;
    free(st->problems);
    free(st->mlflow_status);
    memset(st, 0, sizeof *st);
}

int store_metric_state_get(store *s, const char *run, store_metric_state *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT points, series, malformed, dropped, problems, mlflow_status, mlflow_end "
                                  "FROM metric_state WHERE run = ?1", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            out->points = sqlite3_column_int64(st, 0);
            out->series = sqlite3_column_int64(st, 1);
            out->malformed = sqlite3_column_int64(st, 2);
            out->dropped = sqlite3_column_int64(st, 3);
            out->problems = db_col_text(st, 4);
            out->mlflow_status = db_col_text(st, 5);
            out->mlflow_end = sqlite3_column_int64(st, 6);
        }
        sqlite3_reset(st);
        rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : db_fail(s, step, err, "reading a run's metrics state");
    }
    db_unlock(s);
    if (rc == 0 && !out->problems)
        out->problems = util_xstrdup("[]");
    return rc;
}

int store_metric_state_mlflow(store *s, const char *run, const char *status, int64_t end_ms, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO metric_state(run, mlflow_status, mlflow_end) VALUES(?1, ?2, ?3) "
                                  "ON CONFLICT(run) DO UPDATE SET mlflow_status = coalesce(?2, mlflow_status), "
                                  "mlflow_end = coalesce(?3, mlflow_end)", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, status);
        if (end_ms > 0)
            sqlite3_bind_int64(st, 3, end_ms);
        rc = db_step_done(s, st, err, "keeping what MLflow said of a run");
    }
    db_unlock(s);
    return rc;
}

int store_metric_file_get(store *s, const char *run, const char *file, int64_t *offset, int64_t *lines,
                          bool *skipping, amlfs_err *err)
{
    *offset = *lines = 0;
    *skipping = false;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT off, lines, skipping FROM metric_files WHERE run = ?1 AND file = ?2", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, file);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            *offset = sqlite3_column_int64(st, 0);
            *lines = sqlite3_column_int64(st, 1);
            *skipping = sqlite3_column_int(st, 2) != 0;
        }
        sqlite3_reset(st);
        rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : db_fail(s, step, err, "reading a metrics file's position");
    }
    db_unlock(s);
    return rc;
}

int store_metric_state_note_once(store *s, const char *run, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "UPDATE metric_state SET noted = 1 WHERE run = ?1 AND noted = 0", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        rc = db_step_done(s, st, err, "noting a run's metrics problems");
        if (rc == 0)
            rc = sqlite3_changes(s->db) == 1;
    }
    db_unlock(s);
    return rc;
}
