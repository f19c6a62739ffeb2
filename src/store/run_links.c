/* run_links.c: what the store keeps of runs made by MLflow's runs/create beyond the run itself: a nested
 * run's parent and depth, and the datasets MLflow's log_input recorded in a run. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

void store_strings_free(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

int store_run_parent_set(store *s, const char *run, const char *parent, int depth, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "INSERT OR REPLACE INTO run_parents(run, parent, depth) VALUES (?1, ?2, ?3)", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, parent);
        sqlite3_bind_int(st, 3, depth);
        rc = db_step_done(s, st, err, "storing a run's parent");
    }
    db_unlock(s);
    return rc;
}

typedef struct parent_row {
    char *parent;
    int depth;
} parent_row;

static void read_parent(sqlite3_stmt *st, void *row)
{
    parent_row *p = row;
    p->parent = db_col_text(st, 0);
    p->depth = sqlite3_column_int(st, 1);
}

int store_run_parent_get(store *s, const char *run, char **parent, int *depth, amlfs_err *err)
{
    *parent = NULL;
    *depth = 0;
    parent_row row = {0};
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT parent, depth FROM run_parents WHERE run = ?1", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        rc = db_get_one(s, st, read_parent, &row, err, "reading a run's parent", "run %s has no parent", run);
    }
    db_unlock(s);
    if (rc == -ENOENT) {
        amlfs_err_clear(err);
        return 0;
    }
    *parent = row.parent;
    *depth = row.depth;
    return rc;
}

static void read_string(sqlite3_stmt *st, void *row)
{
    *(char **)row = db_col_text(st, 0);
}

static int strings(store *s, const char *sql, const char *arg, char ***out, size_t *n, amlfs_err *err,
                   const char *doing)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, arg);
        rc = db_collect(s, st, read_string, sizeof(char *), &rows, &count, err, doing);
    }
    db_unlock(s);
    if (rc < 0) {
        store_strings_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}

int store_run_children(store *s, const char *parent, char ***ids, size_t *n, amlfs_err *err)
{
    /* Joined with runs: a link stored just before a run that never came is no child. */
    return strings(s, "SELECT r.id FROM run_parents p JOIN runs r ON r.id = p.run WHERE p.parent = ?1 ORDER BY r.seq",
                   parent, ids, n, err, "listing a run's children");
}

static void read_count(sqlite3_stmt *st, void *row)
{
    *(int64_t *)row = sqlite3_column_int64(st, 0);
}

int store_run_datasets_add(store *s, const char *run, const store_dataset_in *list, size_t n, size_t max,
                           amlfs_err *err)
{
    db_lock(s);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *st = db_stmt(s, "INSERT INTO run_datasets(run, name, digest, json) VALUES (?1, ?2, ?3, ?4) "
                                      "ON CONFLICT(run, name, digest) DO UPDATE SET json = excluded.json", err);
        if (!st) {
            rc = -EIO;
            break;
        }
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, list[i].name);
        db_bind_text(st, 3, list[i].digest);
        db_bind_text(st, 4, list[i].json);
        rc = db_step_done(s, st, err, "storing a dataset input");
    }
    int64_t held = 0;
    sqlite3_stmt *count = rc == 0 ? db_stmt(s, "SELECT COUNT(*) FROM run_datasets WHERE run = ?1", err) : NULL;
    if (rc == 0 && !count)
        rc = -EIO;
    if (count) {
        db_bind_text(count, 1, run);
        rc = db_get_one(s, count, read_count, &held, err, "counting a run's datasets", "no count");
    }
    if (rc == 0 && held > (int64_t)max)
        rc = amlfs_fail(err, EFBIG, "run %s would hold %lld datasets: at most %zu are kept", run, (long long)held, max);
    if (rc == 0)
        rc = db_exec(s, "COMMIT", err);
    if (rc < 0)
        db_exec(s, "ROLLBACK", NULL);
    db_unlock(s);
    return rc;
}

int store_run_datasets(store *s, const char *run, char ***json, size_t *n, amlfs_err *err)
{
    return strings(s, "SELECT json FROM run_datasets WHERE run = ?1 ORDER BY rowid", run, json, n, err,
                   "listing a run's datasets");
}
