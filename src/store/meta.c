/* meta.c: the workspace's small facts: meta key/values, folder status lines and object counts. */
#include "db.h"

#include <stdlib.h>

#include "amlfs/util.h"

/* A text column that may be NULL, read as "" so callers always get a string. */
static void read_text_row(sqlite3_stmt *st, void *row)
{
    char **value = row;
    *value = db_col_text(st, 0);
    if (!*value)
        *value = util_xstrdup("");
}

/* Runs one SELECT of a single text value bound to key; -ENOENT when there is no row. */
static int get_text(store *s, const char *sql, const char *key, char **value, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int r = -EIO;
    if (st) {
        db_bind_text(st, 1, key);
        r = db_get_one(s, st, read_text_row, value, err, "reading", "no '%s' recorded", key);
    }
    db_unlock(s);
    return r;
}

static int put_text(store *s, const char *sql, const char *key, const char *value, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int r = -EIO;
    if (st) {
        db_bind_text(st, 1, key);
        db_bind_text(st, 2, value);
        r = db_step_done(s, st, err, "writing");
    }
    db_unlock(s);
    return r;
}

int store_meta_get(store *s, const char *key, char **value, amlfs_err *err)
{
    return get_text(s, "SELECT value FROM meta WHERE key = ?1", key, value, err);
}

int store_meta_set(store *s, const char *key, const char *value, amlfs_err *err)
{
    return put_text(s, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    key, value, err);
}

int store_meta_add(store *s, const char *key, int64_t delta, int64_t *total, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE "
                                  "SET value = CAST(value AS INTEGER) + excluded.value RETURNING value", err);
    int r = -EIO;
    if (st) {
        db_bind_text(st, 1, key);
        sqlite3_bind_int64(st, 2, delta);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (total)
                *total = sqlite3_column_int64(st, 0);
            rc = sqlite3_step(st);
        }
        r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, err, "counting");
        sqlite3_reset(st);
    }
    db_unlock(s);
    return r;
}

int store_folder_status_get(store *s, const char *folder, char **line, amlfs_err *err)
{
    int r = get_text(s, "SELECT status_line FROM folder_status WHERE folder = ?1", folder, line, err);
    if (r == -ENOENT) {
        *line = util_xstrdup("");
        return 0;
    }
    return r;
}

int store_folder_status_set(store *s, const char *folder, const char *line, amlfs_err *err)
{
    return put_text(s, "INSERT INTO folder_status(folder, status_line) VALUES(?1, ?2) "
                       "ON CONFLICT(folder) DO UPDATE SET status_line = excluded.status_line",
                    folder, line ? line : "", err);
}

int store_count_all(store *s, store_counts *out, amlfs_err *err)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM environments), "
                              "(SELECT count(*) FROM computes), (SELECT count(*) FROM experiments), "
                              "(SELECT count(*) FROM runs)";
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, sql, err);
    int r = -EIO;
    if (st) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->environments = sqlite3_column_int64(st, 0);
            out->computes = sqlite3_column_int64(st, 1);
            out->experiments = sqlite3_column_int64(st, 2);
            out->runs = sqlite3_column_int64(st, 3);
            r = 0;
        } else {
            r = db_fail(s, rc, err, "counting objects");
        }
        sqlite3_reset(st);
    }
    db_unlock(s);
    return r;
}
