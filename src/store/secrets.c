/* secrets.c: the columns that can hold secrets (environment versions' YAML and spec, datastores' YAML)
 * sealed at rest with AES-256-GCM under the workspace's key, which lives in its own file, not the db. */
#include "db.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define SEAL_PREFIX "amlfs-sealed:v1:"
#define NONCE_LEN 12
#define TAG_LEN 16

bool db_is_sealed(const char *stored)
{
    return stored && strncmp(stored, SEAL_PREFIX, strlen(SEAL_PREFIX)) == 0;
}

/* AES-256-GCM over plain, with what (the column) as associated data so a sealed value cannot be moved
 * to another column; out: nonce | ciphertext | tag. */
static int gcm(const unsigned char key[STORE_SECRET_KEY_LEN], bool seal, const unsigned char *nonce,
               const unsigned char *in, int in_len, const char *what, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, total = 0, ok = ctx != NULL;
    ok = ok && (seal ? EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce)
                     : EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce));
    ok = ok && (seal ? EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)what, (int)strlen(what))
                     : EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)what, (int)strlen(what)));
    ok = ok && (seal ? EVP_EncryptUpdate(ctx, out, &len, in, in_len) : EVP_DecryptUpdate(ctx, out, &len, in, in_len));
    total = len;
    if (ok && !seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag);
    ok = ok && (seal ? EVP_EncryptFinal_ex(ctx, out + total, &len) : EVP_DecryptFinal_ex(ctx, out + total, &len));
    total += len;
    if (ok && seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? total : -1;
}

char *db_seal(store *s, const char *plain, const char *what)
{
    if (!plain || !s->has_secret_key)
        return util_xstrdup(plain);
    size_t n = strlen(plain);
    unsigned char *raw = util_xcalloc(1, NONCE_LEN + n + TAG_LEN);
    if (RAND_bytes(raw, NONCE_LEN) != 1 ||
        gcm(s->secret_key, true, raw, (const unsigned char *)plain, (int)n, what, raw + NONCE_LEN,
            raw + NONCE_LEN + n) != (int)n) {
        /* Without randomness or the cipher nothing can be kept safely: say so rather than store it plain. */
        fputs("amlfs-server: cannot seal a secret (OpenSSL failed)\n", stderr);
        abort();
    }
    size_t raw_len = NONCE_LEN + n + TAG_LEN;
    char *out = util_xcalloc(1, strlen(SEAL_PREFIX) + 4 * ((raw_len + 2) / 3) + 1);
    strcpy(out, SEAL_PREFIX);
    EVP_EncodeBlock((unsigned char *)out + strlen(SEAL_PREFIX), raw, (int)raw_len);
    explicit_bzero(raw, raw_len);
    free(raw);
    return out;
}

int db_unseal(store *s, char **value, const char *what, amlfs_err *err)
{
    if (!*value || !db_is_sealed(*value))
        return 0; /* written before sealing existed, or without a key */
    if (!s->has_secret_key)
        return amlfs_fail(err, EACCES, "%s is sealed, and this store was opened without its key", what);
    const char *b64 = *value + strlen(SEAL_PREFIX);
    size_t b64_len = strlen(b64);
    unsigned char *raw = util_xcalloc(1, 3 * (b64_len / 4) + 3);
    int raw_len = b64_len % 4 == 0 ? EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len) : -1;
    /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
    for (size_t i = b64_len; raw_len > 0 && i > 0 && b64[i - 1] == '='; i--)
        raw_len--;
    int rc = 0;
    if (raw_len < NONCE_LEN + TAG_LEN) {
        rc = amlfs_fail(err, EIO, "%s is damaged in the database (not a sealed value)", what);
    } else {
        int n = raw_len - NONCE_LEN - TAG_LEN;
        char *plain = util_xcalloc(1, (size_t)n + 1);
        if (gcm(s->secret_key, false, raw, raw + NONCE_LEN, n, what, (unsigned char *)plain, raw + NONCE_LEN + n) != n) {
            rc = amlfs_fail(err, EACCES, "%s cannot be opened with this workspace's key: was its secret.key replaced?",
                            what);
            free(plain);
        } else {
            free(*value);
            *value = plain;
        }
    }
    free(raw);
    return rc;
}

/* Seals what older servers stored in the clear, then has SQLite overwrite the freed pages and empty the
 * write-ahead log, so the clear text is gone from the files too. */
static int seal_plain_rows(store *s, const char *table, const char *key_sql, const char *column, amlfs_err *err)
{
    char *select = util_strdupf("SELECT %s, %s FROM %s WHERE %s IS NOT NULL AND %s NOT LIKE '" SEAL_PREFIX "%%'",
                                key_sql, column, table, column, column);
    char *update = util_strdupf("UPDATE %s SET %s = ?2 WHERE %s = ?1", table, column, key_sql);
    char *what = util_strdupf("%s.%s", table, column);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = sqlite3_prepare_v2(s->db, select, -1, &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, update, -1, &upd, NULL);
    int changed = 0, r = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        char *sealed = db_seal(s, (const char *)sqlite3_column_text(sel, 1), what);
        sqlite3_bind_value(upd, 1, sqlite3_column_value(sel, 0));
        db_bind_text(upd, 2, sealed);
        rc = sqlite3_step(upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(s->db);
        sqlite3_reset(upd);
        free(sealed);
        changed++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        r = db_fail(s, rc, err, "sealing the secrets of older versions");
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    free(select);
    free(update);
    free(what);
    return r < 0 ? r : changed;
}

int store_set_secret_key(store *s, const unsigned char key[STORE_SECRET_KEY_LEN], amlfs_err *err)
{
    db_lock(s);
    memcpy(s->secret_key, key, STORE_SECRET_KEY_LEN);
    s->has_secret_key = true;
    int r = db_exec(s, "BEGIN IMMEDIATE", err), changed = 0;
    static const struct {
        const char *table, *key, *column;
    } sealed[] = {{"env_versions", "rowid", "yaml"}, {"env_versions", "rowid", "spec_json"},
                  {"datastores", "rowid", "yaml"}};
    for (size_t i = 0; r >= 0 && i < sizeof sealed / sizeof sealed[0]; i++) {
        r = seal_plain_rows(s, sealed[i].table, sealed[i].key, sealed[i].column, err);
        changed += r > 0 ? r : 0;
    }
    if (r >= 0)
        r = db_exec(s, "COMMIT", err);
    else
        db_exec(s, "ROLLBACK", NULL);
    /* The clear text of older rows may linger in freed pages and the log: rewrite both once. */
    if (r >= 0 && changed > 0 && (r = db_exec(s, "VACUUM", err)) == 0)
        r = db_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", err);
    db_unlock(s);
    return r < 0 ? r : 0;
}
