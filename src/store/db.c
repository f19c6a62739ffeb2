/* db.c: opening workspace.db (WAL, synchronous=NORMAL, busy timeout), creating the schema, and
 * the statement cache and error mapping the other store files use. */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

/* Bump when the schema changes; older files are upgraded in store_open. */
#define SCHEMA_VERSION 6
#define AMLFS_STR_(x) #x
#define AMLFS_STR(x) AMLFS_STR_(x)

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS folder_status("
    "  folder TEXT PRIMARY KEY, status_line TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS environments("
    "  name TEXT PRIMARY KEY, created INTEGER NOT NULL, updated INTEGER NOT NULL, rejected TEXT);"
    "CREATE TABLE IF NOT EXISTS env_versions("
    "  name TEXT NOT NULL, version INTEGER NOT NULL, yaml TEXT NOT NULL, spec_json TEXT NOT NULL,"
    "  status TEXT NOT NULL, reason TEXT, created INTEGER NOT NULL, label TEXT, PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS computes("
    "  name TEXT PRIMARY KEY, type TEXT NOT NULL, yaml TEXT NOT NULL, max_instances INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'Succeeded', reason TEXT);"
    "CREATE TABLE IF NOT EXISTS experiments("
    "  name TEXT PRIMARY KEY, created INTEGER NOT NULL, status_line TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS runs("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, experiment TEXT NOT NULL,"
    "  display_name TEXT, status TEXT NOT NULL, compute TEXT NOT NULL, environment TEXT,"
    "  environment_version INTEGER, job_yaml TEXT NOT NULL, spec_json TEXT NOT NULL,"
    "  command TEXT NOT NULL, job_env TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER,"
    "  ended INTEGER, exit_code INTEGER, error TEXT, timeout_s INTEGER NOT NULL DEFAULT 0,"
    "  snapshot TEXT, handle TEXT, environment_label TEXT);"
    "CREATE TABLE IF NOT EXISTS datastores("
    "  name TEXT PRIMARY KEY, yaml TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS data_assets("
    "  name TEXT PRIMARY KEY, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS data_versions("
    "  name TEXT NOT NULL, version INTEGER NOT NULL, yaml TEXT NOT NULL, type TEXT NOT NULL,"
    "  snapshot TEXT NOT NULL, file TEXT, created INTEGER NOT NULL, PRIMARY KEY(name, version));"
    /* 6: the data asset versions a run registers when it completes, claimed when it is submitted (a claim
     * holds while its run has not ended). */
    "CREATE TABLE IF NOT EXISTS data_claims("
    "  name TEXT NOT NULL, version INTEGER NOT NULL, run TEXT NOT NULL, PRIMARY KEY(name, version, run)) WITHOUT ROWID;"
    /* 5: metrics, parameters and tags of runs. A series' points are clustered by (run, name, off), off being
     * the byte offset of the point's line in the series' text: one series is one range scan, and a read at
     * an offset finds its line through the key. metric_series keeps each series' count, text size, next
     * step and last point, so listings and comparisons never scan points (and json_extra, what its
     * non-finite values add to metrics.json, so that file's size is known without writing it). NaN is stored
     * as a NULL value. */
    "CREATE TABLE IF NOT EXISTS metric_points("
    "  run TEXT NOT NULL, name TEXT NOT NULL, off INTEGER NOT NULL, step INTEGER NOT NULL, value REAL,"
    "  ts INTEGER NOT NULL, PRIMARY KEY(run, name, off)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS metric_series("
    "  run TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    "  next_step INTEGER NOT NULL, last_step INTEGER NOT NULL, last_value REAL, last_ts INTEGER NOT NULL,"
    "  json_extra INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(run, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS run_params("
    "  run TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS run_tags("
    "  run TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run, key)) WITHOUT ROWID;"
    /* Per AMLFS_METRICS file: how far it was read, so a restart never reads a line twice or skips one. */
    "CREATE TABLE IF NOT EXISTS metric_files("
    "  run TEXT NOT NULL, file TEXT NOT NULL, off INTEGER NOT NULL, lines INTEGER NOT NULL,"
    "  skipping INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(run, file)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS metric_state("
    "  run TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, series INTEGER NOT NULL DEFAULT 0,"
    "  malformed INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0,"
    "  problems TEXT NOT NULL DEFAULT '[]', mlflow_status TEXT, mlflow_end INTEGER,"
    "  noted INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    /* Runs made by MLflow's runs/create: a nested run's parent, the datasets of log_input. Tables of their
     * own, made on any schema version (a run without a row has neither). */
    "CREATE TABLE IF NOT EXISTS run_parents("
    "  run TEXT PRIMARY KEY, parent TEXT NOT NULL, depth INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS run_parents_by_parent ON run_parents(parent);"
    "CREATE TABLE IF NOT EXISTS run_datasets("
    "  run TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, json TEXT NOT NULL, UNIQUE(run, name, digest));"
    /* MLflow 3's logged models (mlflow.<flavor>.log_model): the model, its tags and parameters (kind 't', 'p'),
     * and the runs' outputs naming them. */
    "CREATE TABLE IF NOT EXISTS logged_models("
    "  id TEXT PRIMARY KEY, experiment TEXT NOT NULL, run TEXT, name TEXT NOT NULL, model_type TEXT,"
    "  status TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS logged_models_by_experiment ON logged_models(experiment);"
    "CREATE TABLE IF NOT EXISTS logged_model_kv("
    "  model TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY(model, kind, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS run_outputs("
    "  run TEXT NOT NULL, model TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY(run, model)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, seq);"
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, seq);"
    "CREATE INDEX IF NOT EXISTS runs_by_environment ON runs(environment);";

void db_lock(store *s)
{
    pthread_mutex_lock(&s->lock);
}

void db_unlock(store *s)
{
    pthread_mutex_unlock(&s->lock);
}

int db_fail(store *s, int sqlite_rc, amlfs_err *err, const char *doing)
{
    int errnum = (sqlite_rc & 0xff) == SQLITE_FULL ? ENOSPC : EIO;
    return amlfs_fail(err, errnum, "workspace database: %s: %s", doing,
                      s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(sqlite_rc));
}

sqlite3_stmt *db_stmt(store *s, const char *sql, amlfs_err *err)
{
    for (size_t i = 0; i < s->ncache; i++) {
        if (s->cache[i].sql == sql) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            return s->cache[i].st;
        }
    }
    if (s->ncache == DB_STMT_CACHE) {
        amlfs_fail(err, EIO, "workspace database: more than %d distinct queries (raise DB_STMT_CACHE)",
                   DB_STMT_CACHE);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        db_fail(s, rc, err, "preparing a query");
        return NULL;
    }
    s->cache[s->ncache].sql = sql;
    s->cache[s->ncache].st = st;
    s->ncache++;
    return st;
}

int db_exec(store *s, const char *sql, amlfs_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int errnum = (rc & 0xff) == SQLITE_FULL ? ENOSPC : EIO;
        amlfs_fail(err, errnum, "workspace database: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -errnum;
    }
    return 0;
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (!text)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
}

char *db_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? util_xstrdup((const char *)t) : NULL;
}

int db_step_done(store *s, sqlite3_stmt *st, amlfs_err *err, const char *doing)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_fail(s, rc, err, doing);
    return 0;
}

int db_run_text_arg(store *s, const char *sql, const char *text, amlfs_err *err, const char *doing)
{
    sqlite3_stmt *st = db_stmt(s, sql, err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, text);
    return db_step_done(s, st, err, doing);
}

void *db_grow(void *array, size_t count, size_t *cap, size_t elem)
{
    if (count < *cap)
        return array;
    size_t want = *cap ? *cap * 2 : 8;
    void *grown = realloc(array, want * elem);
    if (!grown) {
        log_error("out of memory");
        abort();
    }
    *cap = want;
    return grown;
}

int db_collect(store *s, sqlite3_stmt *st, db_row_reader *read, size_t elem, void **rows,
               size_t *count, amlfs_err *err, const char *doing)
{
    size_t cap = *count;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *rows = db_grow(*rows, *count, &cap, elem);
        void *row = (char *)*rows + *count * elem;
        memset(row, 0, elem);
        read(st, row);
        (*count)++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, rc, err, doing);
}

int db_get_one(store *s, sqlite3_stmt *st, db_row_reader *read, void *row, amlfs_err *err,
               const char *doing, const char *missing_fmt, ...)
{
    int r = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read(st, row);
    } else if (rc == SQLITE_DONE) {
        char missing[sizeof ((amlfs_err *)NULL)->msg];
        va_list ap;
        va_start(ap, missing_fmt);
        vsnprintf(missing, sizeof missing, missing_fmt, ap);
        va_end(ap);
        r = amlfs_fail(err, ENOENT, "%s", missing);
    } else {
        r = db_fail(s, rc, err, doing);
    }
    sqlite3_reset(st);
    return r;
}

/* 1 when TABLE has COLUMN, 0 when not, or a negative sqlite code. */
static int column_exists(store *s, const char *table, const char *column)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return -rc;
    int found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (strcmp((const char *)sqlite3_column_text(st, 1), column) == 0)
            found = 1;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? found : -rc;
}

static int configure(store *s, amlfs_err *err)
{
    int rc = sqlite3_busy_timeout(s->db, 5000);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, "setting the busy timeout");
    /* WAL: readers never block the writer; NORMAL: durable at checkpoints, never corrupt. */
    int r = db_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, err, "reading the schema version");
    int version = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_fail(s, rc, err, "reading the schema version");
    if (version > SCHEMA_VERSION)
        return amlfs_fail(err, EINVAL,
                          "workspace database has schema %d, newer than this amlfs-server knows (%d): "
                          "use a newer amlfs-server", version, SCHEMA_VERSION);
    if ((r = db_exec(s, "BEGIN IMMEDIATE", err)) < 0)
        return r;
    /* Files made by older servers: missing tables are made whole by schema_sql, then each column added
     * since is added where it is missing (a table made just now has it already). */
    static const struct {
        const char *table, *column, *decl;
    } added[] = {
        {"runs", "snapshot", "TEXT"},                                 /* 2: code snapshots */
        {"runs", "handle", "TEXT"},                                   /* 3: compute handles (Slurm job ids) */
        {"computes", "state", "TEXT NOT NULL DEFAULT 'Succeeded'"},   /* 3: provisioning state */
        {"computes", "reason", "TEXT"},
        {"env_versions", "label", "TEXT"},                            /* 4: versions with names */
        {"runs", "environment_label", "TEXT"},
    };
    if ((r = db_exec(s, schema_sql, err)) < 0) {
        db_exec(s, "ROLLBACK", NULL);
        return r;
    }
    for (size_t i = 0; r == 0 && version && version < SCHEMA_VERSION && i < sizeof added / sizeof added[0]; i++) {
        int has = column_exists(s, added[i].table, added[i].column);
        if (has < 0) {
            r = db_fail(s, -has, err, "reading the schema");
        } else if (!has) {
            char sql[256];
            snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s;", added[i].table, added[i].column,
                     added[i].decl);
            r = db_exec(s, sql, err);
        }
    }
    /* An environment version's number is its registration order; its label is the version users name
     * (the number as text unless `version:` gave a name), one per environment. */
    if (r == 0)
        r = db_exec(s, "UPDATE env_versions SET label = CAST(version AS TEXT) WHERE label IS NULL;"
                       "CREATE UNIQUE INDEX IF NOT EXISTS env_versions_by_label ON env_versions(name, label);", err);
    if (r < 0 || (r = db_exec(s, "PRAGMA user_version = " AMLFS_STR(SCHEMA_VERSION), err)) < 0) {
        db_exec(s, "ROLLBACK", NULL);
        return r;
    }
    return db_exec(s, "COMMIT", err);
}

int store_open(const char *db_path, store **out, amlfs_err *err)
{
    store *s = util_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    int rc = sqlite3_open_v2(db_path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        amlfs_fail(err, EIO, "cannot open the workspace database %s: %s", db_path,
                   s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return -EIO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    int r = configure(s, err);
    if (r < 0) {
        amlfs_wrap(err, "%s: ", db_path);
        store_close(s);
        return r;
    }
    *out = s;
    return 0;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    if (s->db) {
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK)
            log_error("closing the workspace database: %s", sqlite3_errstr(rc));
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
