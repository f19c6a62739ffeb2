/* environments.c: environments and their versions in the store: each numbered in registration order and
 * labelled with the version users name (a whole number by default, or `version:` as written).
 * The YAML of a version is kept as written (secrets too); only redacted forms leave the server. */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define NOT_ENDED "status NOT IN ('Completed', 'Failed', 'Canceled')"

void store_env_free(store_env *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->rejected);
    for (size_t i = 0; e->labels && i < e->nversions; i++)
        free(e->labels[i]);
    free(e->labels);
    free(e->versions);
    free(e->latest_status);
    free(e->latest_reason);
    memset(e, 0, sizeof *e);
}

void store_env_list_free(store_env *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        store_env_free(&list[i]);
    free(list);
}

void store_env_version_free(store_env_version *v)
{
    if (!v)
        return;
    free(v->label);
    free(v->yaml);
    free(v->spec_json);
    free(v->status);
    free(v->reason);
    memset(v, 0, sizeof *v);
}

int store_env_create(store *s, const char *name, int64_t now_ms, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "INSERT INTO environments(name, created, updated) VALUES(?1, ?2, ?2)",
                               err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, now_ms);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            r = 0;
        else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = amlfs_fail(err, EEXIST, "environment '%s' exists already", name);
        else
            r = db_fail(s, rc, err, "creating an environment");
    }
    db_unlock(s);
    return r;
}

/* Fills versions and the latest version's status of e (lock held). */
static int load_versions(store *s, store_env *e, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(s, "SELECT version, status, reason, label FROM env_versions WHERE name = ?1 "
                                  "ORDER BY version", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, e->name);
    size_t cap = 0, label_cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        e->versions = db_grow(e->versions, e->nversions, &cap, sizeof *e->versions);
        e->labels = db_grow(e->labels, e->nversions, &label_cap, sizeof *e->labels);
        e->versions[e->nversions] = sqlite3_column_int(st, 0);
        e->labels[e->nversions] = db_col_text(st, 3);
        if (!e->labels[e->nversions])
            e->labels[e->nversions] = util_strdupf("%d", e->versions[e->nversions]);
        e->nversions++;
        free(e->latest_status);
        free(e->latest_reason);
        e->latest_status = db_col_text(st, 1);
        e->latest_reason = db_col_text(st, 2);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, rc, err, "listing environment versions");
}

static void read_env_row(sqlite3_stmt *st, void *row)
{
    store_env *e = row;
    e->name = db_col_text(st, 0);
    e->created = sqlite3_column_int64(st, 1);
    e->updated = sqlite3_column_int64(st, 2);
    e->rejected = db_col_text(st, 3);
}

int store_env_get(store *s, const char *name, store_env *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT name, created, updated, rejected FROM environments "
                                  "WHERE name = ?1", err);
    if (st) {
        db_bind_text(st, 1, name);
        r = db_get_one(s, st, read_env_row, out, err, "reading an environment",
                       "environment '%s' not found", name);
        if (r == 0)
            r = load_versions(s, out, err);
    }
    db_unlock(s);
    if (r < 0)
        store_env_free(out);
    return r;
}

int store_env_list(store *s, store_env **out, size_t *n, amlfs_err *err)
{
    *out = NULL;
    *n = 0;
    void *rows = NULL;
    size_t count = 0;
    db_lock(s);
    sqlite3_stmt *st = db_stmt(s, "SELECT name, created, updated, rejected FROM environments "
                                  "ORDER BY name", err);
    int r = st ? db_collect(s, st, read_env_row, sizeof **out, &rows, &count, err,
                            "listing environments")
               : -EIO;
    store_env *list = rows;
    for (size_t i = 0; r == 0 && i < count; i++)
        r = load_versions(s, &list[i], err);
    db_unlock(s);
    if (r < 0) {
        store_env_list_free(list, count);
        return r;
    }
    *out = list;
    *n = count;
    return 0;
}

/* Lock held. EBUSY with `why` (formatted with NAME and the row's two columns) when the query about
 * NAME finds a row; 0 when it finds none. */
static int refuse_if_found(store *s, const char *sql, const char *name, const char *doing, const char *why,
                           amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(s, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, name);
    int rc = sqlite3_step(st), r = 0;
    if (rc == SQLITE_ROW)
        r = amlfs_fail(err, EBUSY, why, name, (const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1));
    else if (rc != SQLITE_DONE)
        r = db_fail(s, rc, err, doing);
    sqlite3_reset(st);
    return r;
}

int store_env_delete(store *s, const char *name, amlfs_err *err)
{
    db_lock(s);
    int r = db_exec(s, "BEGIN IMMEDIATE", err);
    if (r < 0)
        goto out;
    if ((r = refuse_if_found(s, "SELECT id, status FROM runs WHERE environment = ?1 AND " NOT_ENDED
                                " ORDER BY seq LIMIT 1", name, "checking the runs of an environment",
                             "environment '%s' is used by run %s (%s); delete it when the run has ended",
                             err)) < 0)
        goto rollback;
    /* A build in flight reports to NAME + version when it ends: were the name deleted and made again,
     * that report would land on the new environment. So a building environment stays until it ends. */
    if ((r = refuse_if_found(s, "SELECT version, status FROM env_versions WHERE name = ?1 AND "
                                "status = 'Building' LIMIT 1", name, "checking the builds of an environment",
                             "environment '%1$s' is building version %2$s; delete it when its status is "
                             "Ready or Failed", err)) < 0)
        goto rollback;
    if ((r = db_run_text_arg(s, "DELETE FROM env_versions WHERE name = ?1", name, err,
                             "deleting environment versions")) < 0 ||
        (r = db_run_text_arg(s, "DELETE FROM environments WHERE name = ?1", name, err,
                             "deleting an environment")) < 0)
        goto rollback;
    if (sqlite3_changes(s->db) == 0) {
        r = amlfs_fail(err, ENOENT, "environment '%s' not found", name);
        goto rollback;
    }
    r = db_exec(s, "COMMIT", err);
    if (r < 0)
        goto rollback;
    goto out;
rollback:
    db_exec(s, "ROLLBACK", NULL);
out:
    db_unlock(s);
    return r;
}

int store_env_set_rejected(store *s, const char *name, const char *why, int64_t now_ms, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "UPDATE environments SET rejected = ?2, updated = ?3 WHERE name = ?1",
                               err);
    if (st) {
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, why);
        sqlite3_bind_int64(st, 3, now_ms);
        r = db_step_done(s, st, err, "recording a rejection");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "environment '%s' not found", name);
    }
    db_unlock(s);
    return r;
}

/* One integer of a query about NAME (lock held). */
static int query_int(store *s, const char *sql, const char *name, int *out, amlfs_err *err)
{
    sqlite3_stmt *st = db_stmt(s, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_fail(s, rc, err, "reading the latest version");
}

/* The label of the latest registered version, "" without versions (lock held). */
static char *latest_label(store *s, const char *name)
{
    amlfs_err ignored = {0};
    sqlite3_stmt *st = db_stmt(s, "SELECT label FROM env_versions WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                               &ignored);
    char *label = NULL;
    if (st) {
        db_bind_text(st, 1, name);
        if (sqlite3_step(st) == SQLITE_ROW)
            label = db_col_text(st, 0);
        sqlite3_reset(st);
    }
    return label ? label : util_xstrdup("");
}

int store_env_version_add(store *s, const char *name, const char *label, const char *yaml,
                          const char *spec_json, const char *status, const char *reason,
                          int64_t now_ms, int *out_version, char **out_label, amlfs_err *err)
{
    db_lock(s);
    int r = db_exec(s, "BEGIN IMMEDIATE", err), latest = 0, highest = 0;
    char *next = NULL;
    if (r < 0)
        goto out;
    sqlite3_stmt *st = db_stmt(s, "UPDATE environments SET updated = ?2, rejected = NULL "
                                  "WHERE name = ?1", err);
    if (!st) {
        r = -EIO;
        goto rollback;
    }
    db_bind_text(st, 1, name);
    sqlite3_bind_int64(st, 2, now_ms);
    if ((r = db_step_done(s, st, err, "updating an environment")) < 0)
        goto rollback;
    if (sqlite3_changes(s->db) == 0) {
        r = amlfs_fail(err, ENOENT, "environment '%s' not found", name);
        goto rollback;
    }
    /* The next number in registration order, and the next whole-number label: one above the highest
     * whole-number label (names such as 22.02-py3 do not count). */
    if ((r = query_int(s, "SELECT coalesce(max(version), 0) FROM env_versions WHERE name = ?1", name, &latest,
                       err)) < 0 ||
        (r = query_int(s, "SELECT coalesce(max(CAST(label AS INTEGER)), 0) FROM env_versions WHERE name = ?1 AND "
                          "label NOT GLOB '*[^0-9]*' AND length(label) BETWEEN 1 AND 9", name, &highest, err)) < 0)
        goto rollback;
    next = util_strdupf("%d", highest + 1);
    if (!label)
        label = next;
    st = db_stmt(s, "INSERT INTO env_versions(name, version, label, yaml, spec_json, status, reason, created) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", err);
    if (!st) {
        r = -EIO;
        goto rollback;
    }
    db_bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, latest + 1);
    db_bind_text(st, 3, label);
    char *sealed_yaml = db_seal(s, yaml, "env_versions.yaml");
    char *sealed_spec = db_seal(s, spec_json, "env_versions.spec_json");
    db_bind_text(st, 4, sealed_yaml);
    db_bind_text(st, 5, sealed_spec);
    db_bind_text(st, 6, status);
    db_bind_text(st, 7, reason);
    sqlite3_bind_int64(st, 8, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(sealed_yaml);
    free(sealed_spec);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        char *last = latest_label(s, name);
        r = amlfs_fail(err, EEXIST, "environment '%s' already has version %s (latest: %s); change "
                       "`version:` or remove it to register version %s", name, label, last, next);
        free(last);
        goto rollback;
    }
    if (rc != SQLITE_DONE) {
        r = db_fail(s, rc, err, "adding an environment version");
        goto rollback;
    }
    if ((r = db_exec(s, "COMMIT", err)) < 0)
        goto rollback;
    *out_version = latest + 1;
    if (out_label)
        *out_label = util_xstrdup(label);
    goto out;
rollback:
    db_exec(s, "ROLLBACK", NULL);
out:
    db_unlock(s);
    free(next);
    return r;
}

int store_env_version_find(store *s, const char *name, const char *label, int *version, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT version FROM env_versions WHERE name = ?1 AND label = ?2", err);
    if (st) {
        db_bind_text(st, 1, name);
        db_bind_text(st, 2, label);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            r = 0;
        } else if (rc == SQLITE_DONE) {
            r = amlfs_fail(err, ENOENT, "environment '%s' has no version '%s'", name, label);
        } else {
            r = db_fail(s, rc, err, "finding an environment version");
        }
        sqlite3_reset(st);
    }
    db_unlock(s);
    return r;
}

static void read_version_row(sqlite3_stmt *st, void *row)
{
    store_env_version *v = row;
    v->version = sqlite3_column_int(st, 0);
    v->yaml = db_col_text(st, 1);
    v->spec_json = db_col_text(st, 2);
    v->status = db_col_text(st, 3);
    v->reason = db_col_text(st, 4);
    v->created = sqlite3_column_int64(st, 5);
    v->label = db_col_text(st, 6);
    if (!v->label)
        v->label = util_strdupf("%d", v->version);
}

int store_env_version_get(store *s, const char *name, int version, store_env_version *out,
                          amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "SELECT version, yaml, spec_json, status, reason, created, label "
                                  "FROM env_versions WHERE name = ?1 AND (?2 = 0 OR version = ?2) "
                                  "ORDER BY version DESC LIMIT 1", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, version);
        static const char doing[] = "reading an environment version";
        r = version ? db_get_one(s, st, read_version_row, out, err, doing,
                                 "environment '%s' has no version %d", name, version)
                    : db_get_one(s, st, read_version_row, out, err, doing,
                                 "environment '%s' has no version yet", name);
    }
    if (r == 0 && ((r = db_unseal(s, &out->yaml, "env_versions.yaml", err)) < 0 ||
                   (r = db_unseal(s, &out->spec_json, "env_versions.spec_json", err)) < 0))
        store_env_version_free(out);
    db_unlock(s);
    return r;
}

int store_env_version_set_status(store *s, const char *name, int version, const char *status,
                                 const char *reason, amlfs_err *err)
{
    db_lock(s);
    int r = -EIO;
    sqlite3_stmt *st = db_stmt(s, "UPDATE env_versions SET status = ?3, reason = ?4 "
                                  "WHERE name = ?1 AND version = ?2", err);
    if (st) {
        db_bind_text(st, 1, name);
        sqlite3_bind_int(st, 2, version);
        db_bind_text(st, 3, status);
        db_bind_text(st, 4, reason);
        r = db_step_done(s, st, err, "updating an environment version");
        if (r == 0 && sqlite3_changes(s->db) == 0)
            r = amlfs_fail(err, ENOENT, "environment '%s' has no version %d", name, version);
    }
    db_unlock(s);
    return r;
}
