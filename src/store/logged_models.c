/* logged_models.c: MLflow 3's logged models in the store (what mlflow.<flavor>.log_model creates, fills and
 * finalizes): the model, its tags and immutable parameters, and the run outputs that name it. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define COLUMNS "id, experiment, run, name, model_type, status, created, updated"

void store_logged_model_free(store_logged_model *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->experiment);
    free(m->run);
    free(m->name);
    free(m->model_type);
    free(m->status);
    store_pairs_free(m->tags, m->ntags);
    store_pairs_free(m->params, m->nparams);
    memset(m, 0, sizeof *m);
}

void store_logged_model_list_free(store_logged_model *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_logged_model_free(&list[i]);
    free(list);
}

static void read_model(sqlite3_stmt *st, void *row)
{
    store_logged_model *m = row;
    m->id = db_col_text(st, 0);
    m->experiment = db_col_text(st, 1);
    m->run = db_col_text(st, 2);
    m->name = db_col_text(st, 3);
    m->model_type = db_col_text(st, 4);
    m->status = db_col_text(st, 5);
    m->created = sqlite3_column_int64(st, 6);
    m->updated = sqlite3_column_int64(st, 7);
}

static void read_pair(sqlite3_stmt *st, void *row)
{
    store_pair *p = row;
    p->key = db_col_text(st, 0);
    p->value = db_col_text(st, 1);
}

/* Lock held, in a transaction. kind 't' replaces, 'p' refuses another value for a key. */
static int put_kv(store *s, const char *id, char kind, const store_kv *kv, size_t n, amlfs_err *err)
{
    const char *k = kind == 't' ? "t" : "p";
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        if (kind == 'p') {
            st = db_stmt(s, "SELECT value FROM logged_model_kv WHERE model = ?1 AND kind = 'p' AND key = ?2", err);
            if (!st)
                return -EIO;
            db_bind_text(st, 1, id);
            db_bind_text(st, 2, kv[i].key);
            int rc = sqlite3_step(st);
            bool changed = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), kv[i].value) != 0;
            sqlite3_reset(st);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return db_fail(s, rc, err, "reading a model's parameter");
            if (changed)
                return amlfs_fail(err, EINVAL, "Changing param values is not allowed. Param with key='%.250s' was "
                                  "already logged for model %s", kv[i].key, id);
        }
        st = db_stmt(s, "INSERT OR REPLACE INTO logged_model_kv(model, kind, key, value) VALUES (?1, ?2, ?3, ?4)", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, k);
        db_bind_text(st, 3, kv[i].key);
        db_bind_text(st, 4, kv[i].value);
        int rc = db_step_done(s, st, err, "storing a model's tag or parameter");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int finish(store *s, int rc, amlfs_err *err)
{
    if (rc == 0)
        rc = db_exec(s, "COMMIT", err);
    if (rc < 0)
        db_exec(s, "ROLLBACK", NULL);
    db_unlock(s);
    return rc;
}

int store_logged_model_create(store *s, const store_logged_model *m, const store_kv *tags, size_t ntags,
                              const store_kv *params, size_t nparams, amlfs_err *err)
{
    db_lock(s);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    sqlite3_stmt *st = rc == 0 ? db_stmt(s, "INSERT INTO logged_models(" COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                            "?7, ?8)", err) : NULL;
    if (rc == 0 && !st)
        rc = -EIO;
    if (st) {
        db_bind_text(st, 1, m->id);
        db_bind_text(st, 2, m->experiment);
        db_bind_text(st, 3, m->run);
        db_bind_text(st, 4, m->name);
        db_bind_text(st, 5, m->model_type);
        db_bind_text(st, 6, m->status);
        sqlite3_bind_int64(st, 7, m->created);
        sqlite3_bind_int64(st, 8, m->updated);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if ((step & 0xff) == SQLITE_CONSTRAINT)
            rc = amlfs_fail(err, EEXIST, "model %s exists already", m->id);
        else if (step != SQLITE_DONE)
            rc = db_fail(s, step, err, "storing a model");
    }
    if (rc == 0)
        rc = put_kv(s, m->id, 't', tags, ntags, err);
    if (rc == 0)
        rc = put_kv(s, m->id, 'p', params, nparams, err);
    return finish(s, rc, err);
}

static int kv_list(store *s, const char *id, const char *kind, store_pair **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    sqlite3_stmt *st = db_stmt(s, "SELECT key, value FROM logged_model_kv WHERE model = ?1 AND kind = ?2 ORDER BY key",
                               err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, kind);
        rc = db_collect(s, st, read_pair, sizeof(store_pair), &rows, &count, err, "listing a model's tags");
    }
    *out = rows;
    *n = count;
    return rc;
}

int store_logged_model_get(store *s, const char *id, store_logged_model *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT " COLUMNS " FROM logged_models WHERE id = ?1", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, id);
        rc = db_get_one(s, st, read_model, out, err, "reading a model", "Logged model with ID '%.100s' not found", id);
    }
    if (rc == 0)
        rc = kv_list(s, id, "t", &out->tags, &out->ntags, err);
    if (rc == 0)
        rc = kv_list(s, id, "p", &out->params, &out->nparams, err);
    db_unlock(s);
    if (rc < 0)
        store_logged_model_free(out);
    return rc;
}

int store_logged_model_list(store *s, const char *experiment, store_logged_model **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT " COLUMNS " FROM logged_models WHERE experiment = ?1 ORDER BY rowid", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, experiment);
        rc = db_collect(s, st, read_model, sizeof(store_logged_model), &rows, &count, err, "listing models");
    }
    db_unlock(s);
    if (rc < 0) {
        store_logged_model_list_free(rows, count);
        rows = NULL;
        count = 0;
    }
    *out = rows;
    *n = count;
    return rc;
}

/* Lock held: -ENOENT unless the model exists; else its updated time is now. */
static int touch(store *s, const char *id, const char *status, int64_t now, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(s, "UPDATE logged_models SET updated = ?2, status = COALESCE(?3, status) WHERE id = ?1",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    db_bind_text(st, 3, status);
    int rc = db_step_done(s, st, err, "changing a model");
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        rc = amlfs_fail(err, ENOENT, "Logged model with ID '%.100s' not found", id);
    return rc;
}

int store_logged_model_set_status(store *s, const char *id, const char *status, int64_t now, amlfs_err *err)
{
    db_lock(s);
    int rc = touch(s, id, status, now, err);
    db_unlock(s);
    return rc;
}

int store_logged_model_kv_add(store *s, const char *id, char kind, const store_kv *kv, size_t n, int64_t now,
                              amlfs_err *err)
{
    db_lock(s);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = touch(s, id, NULL, now, err);
    if (rc == 0)
        rc = put_kv(s, id, kind, kv, n, err);
    return finish(s, rc, err);
}

int store_logged_model_tag_delete(store *s, const char *id, const char *key, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "DELETE FROM logged_model_kv WHERE model = ?1 AND kind = 't' AND key = ?2", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, id);
        db_bind_text(st, 2, key);
        rc = db_step_done(s, st, err, "deleting a model's tag");
        if (rc == 0 && sqlite3_changes(s->db) == 0)
            rc = amlfs_fail(err, ENOENT, "No tag with key '%.250s' on model %.100s", key, id);
    }
    db_unlock(s);
    return rc;
}

int store_run_output_add(store *s, const char *run, const char *model, int64_t step, amlfs_err *err)
{
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "INSERT OR REPLACE INTO run_outputs(run, model, step) VALUES (?1, ?2, ?3)", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        db_bind_text(st, 2, model);
        sqlite3_bind_int64(st, 3, step);
        rc = db_step_done(s, st, err, "storing a run's output");
    }
    db_unlock(s);
    return rc;
}

int store_run_outputs(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err)
{
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT model, CAST(step AS TEXT) FROM run_outputs WHERE run = ?1 ORDER BY model", err);
    int rc = -EIO;
    if (st) {
        db_bind_text(st, 1, run);
        rc = db_collect(s, st, read_pair, sizeof(store_pair), &rows, &count, err, "listing a run's outputs");
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
