/* data.c: data assets (each version the snapshot of what data.yaml named; a uri_file's snapshot holds
 * the one file, named in `file`) and datastores (their datastore.yaml) in the store. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

void store_data_version_free(store_data_version *v)
{
    if (!v)
        return;
    free(v->yaml);
    free(v->type);
    free(v->snapshot);
    free(v->file);
    memset(v, 0, sizeof *v);
}

void store_data_version_list_free(store_data_version *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_data_version_free(&list[i]);
    free(list);
}

int store_data_create(store *s, const char *name, int64_t created, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO data_assets(name, created) VALUES(?1, ?2)", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, created);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = amlfs_fail(err, EEXIST, "data asset '%s' exists already", name);
        else if (rc != SQLITE_DONE)
            r = db_fail(s, rc, err, "creating a data asset");
        else
            r = 0;
    }
    db_unlock(s);
    return r;
}

int store_data_exists(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT 1 FROM data_assets WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? amlfs_fail(err, ENOENT, "data asset '%s' not found", name)
                                                     : db_fail(s, rc, err, "reading a data asset");
    }
    db_unlock(s);
    return r;
}

int store_data_delete(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = db_exec(s, "BEGIN IMMEDIATE", err);
    sqlite3_stmt *st = r == 0 ? db_stmt(s, "DELETE FROM data_versions WHERE name = ?1", err) : NULL;
    if (st) {
        db_bind_text(st, 1, name);
        r = db_step_done(s, st, err, "removing data asset versions");
    } else if (r == 0) {
        r = -EIO;
    }
    st = r == 0 ? db_stmt(s, "DELETE FROM data_assets WHERE name = ?1", err) : NULL;
    if (st) {
        db_bind_text(st, 1, name);
        r = db_step_done(s, st, err, "removing a data asset");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "data asset '%s' not found", name);
    } else if (r == 0) {
        r = -EIO;
    }
    if (r == 0)
        r = db_exec(s, "COMMIT", err);
    else
        db_exec(s, "ROLLBACK", NULL);
    db_unlock(s);
    return r;
}

int store_data_names(store *s, char ***names, size_t *n, amlfs_err *err)
{
    *names = NULL;
    *n = 0;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT name FROM data_assets ORDER BY name", err);
    if (st) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            *names = util_xrealloc(*names, (*n + 1) * sizeof **names);
            (*names)[(*n)++] = db_col_text(st, 0);
        }
        sqlite3_reset(st);
        r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, err, "listing data assets");
    }
    db_unlock(s);
    return r;
}

int store_data_version_add(store *s, const char *name, const store_data_version *v, int *version, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    /* Version 0 is "the next one": decided inside the insert, so two registrations never collide. */
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO data_versions(name, version, yaml, type, snapshot, file, created) "
                                  "SELECT ?1, CASE WHEN ?2 > 0 THEN ?2 ELSE coalesce(max(version), 0) + 1 END, ?3, "
                                  "?4, ?5, ?6, ?7 FROM data_versions WHERE name = ?1 "
                                  "RETURNING version", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, v->version);
        db_bind_text(st, 3, v->yaml);
        db_bind_text(st, 4, v->type);
        db_bind_text(st, 5, v->snapshot);
        db_bind_text(st, 6, v->file);
        sqlite3_bind_int64(st, 7, v->created);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *version = sqlite3_column_int(st, 0);
        int done = rc == SQLITE_ROW ? sqlite3_step(st) : rc;
        sqlite3_reset(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || done == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = amlfs_fail(err, EEXIST, "data asset '%s' already has version %d: change `version:` or remove it",
                           name, v->version);
        else if (rc != SQLITE_ROW)
            r = db_fail(s, rc, err, "adding a data asset version");
        else
            r = 0;
    }
    db_unlock(s);
    return r;
}

int store_data_claim_holder(store *s, const char *name, int version, char **run, run_status *status,
                            amlfs_err *err)
{
    *run = NULL;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT c.run, r.status FROM data_claims c JOIN runs r ON r.id = c.run "
                                  "WHERE c.name = ?1 AND c.version = ?2", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, version);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && !*run) {
            int word = run_status_parse((const char *)sqlite3_column_text(st, 1));
            if (word >= 0 && !run_status_terminal((run_status)word)) {
                *run = db_col_text(st, 0);
                *status = (run_status)word;
            }
        }
        sqlite3_reset(st);
        r = rc == SQLITE_ROW || rc == SQLITE_DONE ? (*run ? 0 : -ENOENT) : db_fail(s, rc, err, "reading data claims");
    }
    db_unlock(s);
    return r;
}

int store_data_claims_add(store *s, const char *run, const store_data_claim *claims, size_t n, amlfs_err *err)
{
    db_lock(s);
    int r = 0;
    sqlite3_stmt *st = db_stmt(s, "INSERT OR IGNORE INTO data_claims(name, version, run) VALUES (?1, ?2, ?3)", err);
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!st) {
            r = -EIO;
            break;
        }
        db_bind_text(st, 1, claims[i].name);
        sqlite3_bind_int(st, 2, claims[i].version);
        db_bind_text(st, 3, run);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = db_fail(s, rc, err, "recording a data claim");
    }
    db_unlock(s);
    return r;
}

static void read_version(sqlite3_stmt *st, void *row)
{
    store_data_version *v = row;
    v->version = sqlite3_column_int(st, 0);
    v->yaml = db_col_text(st, 1);
    v->type = db_col_text(st, 2);
    v->snapshot = db_col_text(st, 3);
    v->file = db_col_text(st, 4);
    v->created = sqlite3_column_int64(st, 5);
}

int store_data_version_get(store *s, const char *name, int version, store_data_version *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT version, yaml, type, snapshot, file, created FROM data_versions "
                                  "WHERE name = ?1 AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, version);
        r = version ? db_get_one(s, st, read_version, out, err, "reading a data asset version",
                                 "data asset '%s' has no version %d", name, version)
                    : db_get_one(s, st, read_version, out, err, "reading a data asset version",
                                 "data asset '%s' has no version yet: write its data.yaml", name);
    }
    db_unlock(s);
    return r;
}

int store_data_versions(store *s, const char *name, store_data_version **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    void *list = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT version, yaml, type, snapshot, file, created FROM data_versions "
                                  "WHERE name = ?1 ORDER BY version", err);
    int r = -EIO;
    if (st) {
        db_bind_text(st, 1, name);
        r = db_collect(s, st, read_version, sizeof **out, &list, &count, err, "listing data asset versions");
    }
    db_unlock(s);
    if (r < 0) {
        store_data_version_list_free(list, count);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

/* ---- datastores: name and the datastore.yaml that defines one (its credentials included: the server
 * never sends that text out unredacted) ---- */

int store_datastore_put(store *s, const char *name, const char *yaml, int64_t created, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO datastores(name, yaml, created) VALUES(?1, ?2, ?3) "
                                  "ON CONFLICT(name) DO UPDATE SET yaml = excluded.yaml", err);
    if (st) {
        db_bind_text(st, 1, name);
        char *sealed = db_seal(s, yaml, "datastores.yaml");
        db_bind_text(st, 2, sealed);
        sqlite3_bind_int64(st, 3, created);
        r = db_step_done(s, st, err, "storing a datastore");
        free(sealed);
    }
    db_unlock(s);
    return r;
}

static void read_yaml(sqlite3_stmt *st, void *row)
{
    *(char **)row = db_col_text(st, 0);
}

int store_datastore_get(store *s, const char *name, char **yaml, amlfs_err *err)
{
    *yaml = NULL;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT yaml FROM datastores WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_get_one(s, st, read_yaml, yaml, err, "reading a datastore", "datastore '%s' not found", name);
    }
    if (r == 0 && (r = db_unseal(s, yaml, "datastores.yaml", err)) < 0) {
        free(*yaml);
        *yaml = NULL;
    }
    db_unlock(s);
    return r;
}

int store_datastore_delete(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "DELETE FROM datastores WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_step_done(s, st, err, "removing a datastore");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "datastore '%s' not found", name);
    }
    db_unlock(s);
    return r;
}

int store_datastore_names(store *s, char ***names, size_t *n, amlfs_err *err)
{
    *names = NULL;
    *n = 0;
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT name FROM datastores ORDER BY name", err);
    if (st) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            *names = util_xrealloc(*names, (*n + 1) * sizeof **names);
            (*names)[(*n)++] = db_col_text(st, 0);
        }
        sqlite3_reset(st);
        r = rc == SQLITE_DONE ? 0 : db_fail(s, rc, err, "listing datastores");
    }
    db_unlock(s);
    return r;
}
