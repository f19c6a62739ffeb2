/* runs.c: runs in the store, in submission order (seq). Status changes are written here but
 * decided only by the server's run lifecycle, which checks every move against the state machine. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define LIGHT_COLUMNS                                                                              \
    "seq, id, experiment, display_name, status, compute, environment, environment_version, "      \
    "created, started, ended, exit_code, error, timeout_s, snapshot, handle, environment_label"
#define FULL_COLUMNS LIGHT_COLUMNS ", job_yaml, spec_json, command, job_env"
/* Status filters bind the wanted words to ?1..?9 (NULL for the rest) so the index on status works. */
#define STATUS_FILTER "status IN (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
/* ?12: STORE_ANY (-1), STORE_UNSUBMITTED (0: no compute handle yet), STORE_SUBMITTED (1). */
#define SUBMITTED_FILTER "AND (?12 < 0 OR (handle IS NOT NULL) = (?12 = 1))"

void store_run_free(store_run *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->experiment);
    free(r->display_name);
    free(r->compute);
    free(r->environment);
    free(r->environment_label);
    free(r->job_yaml);
    free(r->spec_json);
    free(r->command);
    free(r->job_env);
    free(r->error);
    free(r->snapshot);
    free(r->handle);
    memset(r, 0, sizeof *r);
}

void store_run_list_free(store_run *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_run_free(&list[i]);
    free(list);
}

static void bind_ms(sqlite3_stmt *st, int idx, int64_t ms)
{
    if (ms)
        sqlite3_bind_int64(st, idx, ms);
    else
        sqlite3_bind_null(st, idx);
}

int store_run_insert(store *s, store_run *r, amlfs_err *err)
{
    db_lock(s);
    int res = -EIO;
    sqlite3_stmt *st = db_stmt(s,
        "INSERT INTO runs(id, experiment, display_name, status, compute, environment, "
        "environment_version, job_yaml, spec_json, command, job_env, created, timeout_s, snapshot, environment_label) "
        "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15 "
        "WHERE EXISTS (SELECT 1 FROM experiments WHERE name = ?2)", err);
    if (st) {
        db_bind_text(st, 1, r->id);
        db_bind_text(st, 2, r->experiment);
        db_bind_text(st, 3, r->display_name);
        db_bind_text(st, 4, run_status_name(r->status));
        db_bind_text(st, 5, r->compute);
        db_bind_text(st, 6, r->environment);
        if (r->environment_version > 0)
            sqlite3_bind_int(st, 7, r->environment_version);
        db_bind_text(st, 8, r->job_yaml ? r->job_yaml : "");
        db_bind_text(st, 9, r->spec_json ? r->spec_json : "{}");
        db_bind_text(st, 10, r->command ? r->command : "");
        db_bind_text(st, 11, r->job_env ? r->job_env : "[]");
        sqlite3_bind_int64(st, 12, r->created);
        sqlite3_bind_int64(st, 13, r->timeout_s);
        db_bind_text(st, 14, r->snapshot);
        db_bind_text(st, 15, r->environment_label);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            res = amlfs_fail(err, EEXIST, "run '%s' exists already", r->id);
        else if (rc != SQLITE_DONE)
            res = db_fail(s, rc, err, "storing a run");
        else if (sqlite3_changes(s->db) == 0)
            res = amlfs_fail(err, ENOENT, "experiment '%s' not found", r->experiment);
        else {
            r->seq = sqlite3_last_insert_rowid(s->db);
            res = 0;
        }
    }
    db_unlock(s);
    return res;
}

/* The columns of LIGHT_COLUMNS, what listings show. */
static void read_light_row(sqlite3_stmt *st, void *row)
{
    store_run *r = row;
    r->seq = sqlite3_column_int64(st, 0);
    r->id = db_col_text(st, 1);
    r->experiment = db_col_text(st, 2);
    r->display_name = db_col_text(st, 3);
    int status = run_status_parse((const char *)sqlite3_column_text(st, 4));
    /* An unknown word can only come from a newer server: treat the run as failed, never as live. */
    r->status = status < 0 ? RUN_FAILED : (run_status)status;
    r->compute = db_col_text(st, 5);
    r->environment = db_col_text(st, 6);
    r->environment_version = sqlite3_column_int(st, 7);
    r->created = sqlite3_column_int64(st, 8);
    r->started = sqlite3_column_int64(st, 9);
    r->ended = sqlite3_column_int64(st, 10);
    r->has_exit_code = sqlite3_column_type(st, 11) != SQLITE_NULL;
    r->exit_code = sqlite3_column_int(st, 11);
    r->error = db_col_text(st, 12);
    r->timeout_s = (long)sqlite3_column_int64(st, 13);
    r->snapshot = db_col_text(st, 14);
    r->handle = db_col_text(st, 15);
    r->environment_label = db_col_text(st, 16);
}

/* The columns of FULL_COLUMNS: a listing's plus what the run was submitted with. */
static void read_full_row(sqlite3_stmt *st, void *row)
{
    read_light_row(st, row);
    store_run *r = row;
    r->job_yaml = db_col_text(st, 17);
    r->spec_json = db_col_text(st, 18);
    r->command = db_col_text(st, 19);
    r->job_env = db_col_text(st, 20);
}

int store_run_get(store *s, const char *id, store_run *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT " FULL_COLUMNS " FROM runs WHERE id = ?1", err);
    if (st) {
        db_bind_text(st, 1, id);
        r = db_get_one(s, st, read_full_row, out, err, "reading a run", "run '%s' not found", id);
    }
    db_unlock(s);
    return r;
}

bool store_run_exists(store *s, const char *id)
{
    store_run r;
    amlfs_err err = {0};
    /* Anything but a clean "not found" counts as existing, so a new id is never reused blindly. */
    int rc = store_run_get(s, id, &r, &err);
    store_run_free(&r);
    return rc != -ENOENT;
}

/* Reads every row of a prepared listing (lock held). */
static int collect(store *s, sqlite3_stmt *st, store_run **out, size_t *n, amlfs_err *err)
{
    void *list = NULL;
    size_t count = 0;
    int r = db_collect(s, st, read_light_row, sizeof **out, &list, &count, err, "listing runs");
    if (r < 0) {
        store_run_list_free(list, count);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

int store_run_list(store *s, const char *experiment, store_run **out, size_t *n, amlfs_err *err)
{
    return store_run_list_page(s, experiment, 0, 0, out, n, err);
}

int store_run_list_page(store *s, const char *experiment, int64_t after_seq, size_t limit, store_run **out,
                        size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT " LIGHT_COLUMNS " FROM runs "
                                  "WHERE (?1 IS NULL OR experiment = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3", err);
    if (st) {
        db_bind_text(st, 1, experiment);
        sqlite3_bind_int64(st, 2, after_seq);
        sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
        r = collect(s, st, out, n, err);
    }
    db_unlock(s);
    return r;
}

static void bind_statuses(sqlite3_stmt *st, unsigned mask)
{
    int idx = 1;
    for (int i = 0; i < RUN_STATUS_COUNT && idx <= 9; i++)
        if (mask & (1u << i))
            db_bind_text(st, idx++, run_status_name(i));
}

int store_run_list_by_status(store *s, unsigned status_mask, const char *compute, int submitted, size_t limit,
                             store_run **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT " LIGHT_COLUMNS " FROM runs WHERE " STATUS_FILTER
                                  " AND (?10 IS NULL OR compute = ?10) " SUBMITTED_FILTER
                                  " ORDER BY seq LIMIT ?11", err);
    if (st) {
        bind_statuses(st, status_mask);
        db_bind_text(st, 10, compute);
        sqlite3_bind_int64(st, 11, limit ? (sqlite3_int64)limit : -1);
        sqlite3_bind_int(st, 12, submitted);
        r = collect(s, st, out, n, err);
    }
    db_unlock(s);
    return r;
}

long store_run_count_by_status(store *s, unsigned status_mask, const char *compute, int submitted)
{
    db_lock(s);
    long count = -1;
    amlfs_err err = {0};
    sqlite3_stmt *st = db_stmt(s, "SELECT count(*) FROM runs WHERE " STATUS_FILTER
                                  " AND (?10 IS NULL OR compute = ?10) " SUBMITTED_FILTER, &err);
    if (st) {
        bind_statuses(st, status_mask);
        db_bind_text(st, 10, compute);
        sqlite3_bind_int(st, 12, submitted);
        if (sqlite3_step(st) == SQLITE_ROW)
            count = (long)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    db_unlock(s);
    return count;
}

int store_run_set_status(store *s, const char *id, run_status to, const store_run_change *chg,
                         amlfs_err *err)
{
    static const store_run_change none = {0};
    if (!chg)
        chg = &none;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "UPDATE runs SET status = ?2, started = coalesce(?3, started), "
                                  "ended = coalesce(?4, ended), "
                                  "exit_code = CASE WHEN ?5 THEN ?6 ELSE exit_code END, "
                                  "error = coalesce(?7, error), handle = coalesce(?8, handle) WHERE id = ?1",
                               err);
    if (st) {
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, run_status_name(to));
        bind_ms(st, 3, chg->started);
        bind_ms(st, 4, chg->ended);
        sqlite3_bind_int(st, 5, chg->set_exit_code);
        sqlite3_bind_int(st, 6, chg->exit_code);
        db_bind_text(st, 7, chg->error);
        db_bind_text(st, 8, chg->handle);
        r = db_step_done(s, st, err, "updating a run");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "run '%s' not found", id);
    }
    db_unlock(s);
    return r;
}
