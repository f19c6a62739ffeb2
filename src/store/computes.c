/* computes.c: compute targets in the store: name, type, the YAML that defines them and how many
 * runs they take at once. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#define COLUMNS "name, type, yaml, max_instances, state, reason"

void store_compute_free(store_compute *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->type);
    free(c->yaml);
    free(c->state);
    free(c->reason);
    memset(c, 0, sizeof *c);
}

void store_compute_list_free(store_compute *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_compute_free(&list[i]);
    free(list);
}

int store_compute_put(store *s, const store_compute *c, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO computes(name, type, yaml, max_instances, state, reason) "
                                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE SET "
                                  "type = excluded.type, yaml = excluded.yaml, "
                                  "max_instances = excluded.max_instances, state = excluded.state, "
                                  "reason = excluded.reason", err);
    if (st) {
        db_bind_text(st, 1, c->name);
        db_bind_text(st, 2, c->type);
        db_bind_text(st, 3, c->yaml);
        sqlite3_bind_int(st, 4, c->max_instances);
        db_bind_text(st, 5, c->state ? c->state : "Succeeded");
        db_bind_text(st, 6, c->reason);
        r = db_step_done(s, st, err, "storing a compute");
    }
    db_unlock(s);
    return r;
}

static void read_row(sqlite3_stmt *st, void *row)
{
    store_compute *c = row;
    c->name = db_col_text(st, 0);
    c->type = db_col_text(st, 1);
    c->yaml = db_col_text(st, 2);
    c->max_instances = sqlite3_column_int(st, 3);
    c->state = db_col_text(st, 4);
    c->reason = db_col_text(st, 5);
}

int store_compute_get(store *s, const char *name, store_compute *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT " COLUMNS " FROM computes WHERE name = ?1",
                               err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_get_one(s, st, read_row, out, err, "reading a compute", "compute '%s' not found", name);
    }
    db_unlock(s);
    return r;
}

int store_compute_list(store *s, store_compute **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    void *list = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT " COLUMNS " FROM computes ORDER BY name",
                               err);
    int r = st ? db_collect(s, st, read_row, sizeof **out, &list, &count, err, "listing computes") : -EIO;
    db_unlock(s);
    if (r < 0) {
        store_compute_list_free(list, count);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

int store_compute_create(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO computes(name, type, yaml, max_instances, state) "
                                  "VALUES(?1, '', '', 1, 'Draft')", err);
    if (st) {
        db_bind_text(st, 1, name);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = amlfs_fail(err, EEXIST, "compute '%s' exists already", name);
        else if (rc != SQLITE_DONE)
            r = db_fail(s, rc, err, "creating a compute");
        else
            r = 0;
    }
    db_unlock(s);
    return r;
}

int store_compute_delete(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "DELETE FROM computes WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_step_done(s, st, err, "removing a compute");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "compute '%s' not found", name);
    }
    db_unlock(s);
    return r;
}
