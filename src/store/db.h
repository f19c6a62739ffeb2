/* db.h: the store's own plumbing shared by the store files (not part of the public store.h):
 * the connection, its mutex, cached prepared statements and SQLite error mapping. */
#ifndef AMLFS_STORE_DB_H
#define AMLFS_STORE_DB_H

#include <pthread.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "amlfs/store.h"

#define DB_STMT_CACHE 128

struct store {
    sqlite3 *db;
    /* One connection for the whole server: statements and transactions are serialised here. */
    pthread_mutex_t lock;
    struct {
        const char *sql; /* identity of a string literal: each query text is one statement */
        sqlite3_stmt *st;
    } cache[DB_STMT_CACHE];
    size_t ncache;
    /* Set once by store_set_secret_key before other threads use the store; then only read. */
    unsigned char secret_key[STORE_SECRET_KEY_LEN];
    bool has_secret_key;
};

void db_lock(store *s);
void db_unlock(store *s);
/* The prepared statement for sql, reset and unbound; NULL with err filled on failure.
 * Call with the lock held. */
sqlite3_stmt *db_stmt(store *s, const char *sql, amlfs_err *err);
/* err from SQLite's last error on this connection: -ENOSPC when the disk is full, else -EIO. */
int db_fail(store *s, int sqlite_rc, amlfs_err *err, const char *doing);
/* Run statements without results (schema, BEGIN/COMMIT). Lock held. */
int db_exec(store *s, const char *sql, amlfs_err *err);
/* Bind helpers: NULL text binds NULL. Return the SQLite code. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *text);
/* Column as a malloc'd string, NULL for SQL NULL. */
char *db_col_text(sqlite3_stmt *st, int col);
/* Step a statement that returns no rows (INSERT/UPDATE/DELETE), then reset it. */
int db_step_done(store *s, sqlite3_stmt *st, amlfs_err *err, const char *doing);
/* db_step_done for sql with text bound to ?1; -EIO when sql cannot be prepared. */
int db_run_text_arg(store *s, const char *sql, const char *text, amlfs_err *err, const char *doing);
/* secrets.c: a secret column's value sealed for storage (a copy of plain without a key), and a stored
 * value opened in place (values stored in the clear are left as they are). what names the column. */
char *db_seal(store *s, const char *plain, const char *what);
int db_unseal(store *s, char **value, const char *what, amlfs_err *err);
bool db_is_sealed(const char *stored);

/* Room for one more element in a growing array (aborts on out-of-memory, like util_xcalloc). */
void *db_grow(void *array, size_t count, size_t *cap, size_t elem);

/* Fills the caller's row struct (already zeroed) from the current row of st. */
typedef void db_row_reader(sqlite3_stmt *st, void *row);
/* Steps a bound statement (lock held) to its end, appending each row, read by read into a zeroed
 * elem-sized element, to the growing array *rows; then resets st. On failure *rows and *count
 * still hold what was read, for the caller to free with its list_free; doing names the listing. */
int db_collect(store *s, sqlite3_stmt *st, db_row_reader *read, size_t elem, void **rows,
               size_t *count, amlfs_err *err, const char *doing);
/* Steps a bound statement (lock held) once: a row is read into row and gives 0; no row gives
 * -ENOENT with the message missing_fmt; then resets st. doing names the read for SQLite errors. */
int db_get_one(store *s, sqlite3_stmt *st, db_row_reader *read, void *row, amlfs_err *err,
               const char *doing, const char *missing_fmt, ...) __attribute__((format(printf, 7, 8)));

#endif
