/* experiments.c: experiments in the store, with what a listing shows of their runs (count and
 * latest) and the status line of their last submission. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define EXPERIMENT_COLUMNS                                                                         \
    "SELECT e.name, e.created, e.status_line, "                                                    \
    "(SELECT count(*) FROM runs r WHERE r.experiment = e.name), "                                  \
    "(SELECT r.id FROM runs r WHERE r.experiment = e.name ORDER BY r.seq DESC LIMIT 1) "           \
    "FROM experiments e "

void store_experiment_free(store_experiment *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->status_line);
    free(e->latest_run);
    memset(e, 0, sizeof *e);
}

void store_experiment_list_free(store_experiment *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_experiment_free(&list[i]);
    free(list);
}

int store_experiment_create(store *s, const char *name, int64_t now_ms, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO experiments(name, created) VALUES(?1, ?2)", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now_ms);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            r = 0;
        else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = amlfs_fail(err, EEXIST, "experiment '%s' exists already", name);
        else
            r = db_fail(s, rc, err, "creating an experiment");
    }
    db_unlock(s);
    return r;
}

static void read_row(sqlite3_stmt *st, void *row)
{
    store_experiment *e = row;
    e->name = db_col_text(st, 0);
    e->created = sqlite3_column_int64(st, 1);
    e->status_line = db_col_text(st, 2);
    if (!e->status_line)
        e->status_line = util_xstrdup("");
    e->run_count = sqlite3_column_int64(st, 3);
    e->latest_run = db_col_text(st, 4);
}

int store_experiment_get(store *s, const char *name, store_experiment *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, EXPERIMENT_COLUMNS "WHERE e.name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_get_one(s, st, read_row, out, err, "reading an experiment",
                       "experiment '%s' not found", name);
    }
    db_unlock(s);
    return r;
}

int store_experiment_list(store *s, store_experiment **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    void *list = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, EXPERIMENT_COLUMNS "ORDER BY e.name", err);
    int r = st ? db_collect(s, st, read_row, sizeof **out, &list, &count, err, "listing experiments")
               : -EIO;
    db_unlock(s);
    if (r < 0) {
        store_experiment_list_free(list, count);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

int store_experiment_delete(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = db_exec(s, "BEGIN IMMEDIATE", err);
    if (r < 0)
        goto out;
    sqlite3_stmt *st = db_stmt(s, "SELECT count(*) FROM runs WHERE experiment = ?1", err);
    if (!st) {
        r = -EIO;
        goto rollback;
    }
    db_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    long runs = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        r = db_fail(s, rc, err, "counting the runs of an experiment");
        goto rollback;
    }
    if (runs > 0) {
        r = amlfs_fail(err, ENOTEMPTY, "experiment '%s' has %ld run%s; runs are kept, so the "
                       "experiment stays", name, runs, runs == 1 ? "" : "s");
        goto rollback;
    }
    if ((r = db_run_text_arg(s, "DELETE FROM experiments WHERE name = ?1", name, err,
                             "deleting an experiment")) < 0)
        goto rollback;
    if (sqlite3_changes(s->db) == 0) {
        r = amlfs_fail(err, ENOENT, "experiment '%s' not found", name);
        goto rollback;
    }
    if ((r = db_exec(s, "COMMIT", err)) < 0)
        goto rollback;
    goto out;
rollback:
    db_exec(s, "ROLLBACK", NULL);
out:
    db_unlock(s);
    return r;
}

int store_experiment_set_status_line(store *s, const char *name, const char *line, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "UPDATE experiments SET status_line = ?2 WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, line ? line : "");
        r = db_step_done(s, st, err, "updating an experiment");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "experiment '%s' not found", name);
    }
    db_unlock(s);
    return r;
}
