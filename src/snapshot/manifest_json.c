/* manifest_json.c: a snapshot manifest to and from JSON (cJSON), as it travels between mount and server.
 * Reading trusts nothing: every field is checked and a stated hash must match the entries. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_FORMAT "amlfs-snapshot-1"

static void out_of_memory(void)
{
    abort(); /* as util_x* do: the daemons cannot go on without memory */
}

static cJSON *must(cJSON *item)
{
    if (!item)
        out_of_memory();
    return item;
}

char *snapshot_manifest_to_json(const snapshot_manifest *m)
{
    cJSON *root = must(cJSON_CreateObject());
    must(cJSON_AddStringToObject(root, "format", MANIFEST_FORMAT));
    must(cJSON_AddStringToObject(root, "hash", m->hash));
    must(cJSON_AddNumberToObject(root, "total_bytes", (double)m->total_bytes));
    must(cJSON_AddNumberToObject(root, "file_count", (double)m->file_count));
    cJSON *entries = must(cJSON_AddArrayToObject(root, "entries"));
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        cJSON *o = must(cJSON_CreateObject());
        cJSON_AddItemToArray(entries, o);
        must(cJSON_AddStringToObject(o, "path", e->path));
        must(cJSON_AddStringToObject(o, "type", snapshot_type_name(e->type)));
        must(cJSON_AddNumberToObject(o, "mode", e->mode));
        if (e->type == SNAPSHOT_FILE) {
            must(cJSON_AddNumberToObject(o, "size", (double)e->size));
            must(cJSON_AddStringToObject(o, "sha256", e->sha256));
        }
        if (e->type == SNAPSHOT_SYMLINK)
            must(cJSON_AddStringToObject(o, "target", e->target));
        if (e->mtime_ms >= 0)
            must(cJSON_AddNumberToObject(o, "mtime_ms", (double)e->mtime_ms));
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        out_of_memory();
    return text;
}

/* A JSON number that is a whole number in [0, 2^53] (doubles are exact up to there). */
static bool whole_number(const cJSON *n, uint64_t *out)
{
    if (!cJSON_IsNumber(n))
        return false;
    double v = n->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || (double)(uint64_t)v != v)
        return false;
    *out = (uint64_t)v;
    return true;
}

static int entry_from_json(const cJSON *o, size_t index, snapshot_manifest *m, amlfs_err *err)
{
    if (!cJSON_IsObject(o))
        return amlfs_fail(err, EINVAL, "snapshot manifest entry %zu is not an object", index);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(path) || !cJSON_IsString(type))
        return amlfs_fail(err, EINVAL, "snapshot manifest entry %zu needs string \"path\" and \"type\"", index);
    const char *p = path->valuestring;
    snapshot_type t;
    if (strcmp(type->valuestring, "file") == 0)
        t = SNAPSHOT_FILE;
    else if (strcmp(type->valuestring, "dir") == 0)
        t = SNAPSHOT_DIR;
    else if (strcmp(type->valuestring, "symlink") == 0)
        t = SNAPSHOT_SYMLINK;
    else
        return amlfs_fail(err, EINVAL, "snapshot entry '%s' has type \"%s\": expected file, dir or symlink", p,
                          type->valuestring);
    uint64_t mode = t == SNAPSHOT_FILE ? 0644 : 0755;
    const cJSON *jmode = cJSON_GetObjectItemCaseSensitive(o, "mode");
    if (jmode && (!whole_number(jmode, &mode) || mode > 07777))
        return amlfs_fail(err, EINVAL, "snapshot entry '%s' has an invalid \"mode\"", p);
    uint64_t size = 0;
    const char *sha = NULL, *target = NULL;
    if (t == SNAPSHOT_FILE) {
        const cJSON *jsize = cJSON_GetObjectItemCaseSensitive(o, "size");
        const cJSON *jsha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
        if (!whole_number(jsize, &size))
            return amlfs_fail(err, EINVAL, "file '%s' needs a whole, non-negative \"size\"", p);
        if (!cJSON_IsString(jsha) || !snapshot_sha_valid(jsha->valuestring))
            return amlfs_fail(err, EINVAL, "file '%s' needs \"sha256\": 64 lowercase hex digits", p);
        sha = jsha->valuestring;
    }
    if (t == SNAPSHOT_SYMLINK) {
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(o, "target");
        if (!cJSON_IsString(jt) || !*jt->valuestring)
            return amlfs_fail(err, EINVAL, "symlink '%s' needs a non-empty \"target\"", p);
        target = jt->valuestring;
    }
    uint64_t mtime_ms = 0;
    const cJSON *jmtime = cJSON_GetObjectItemCaseSensitive(o, "mtime_ms");
    if (jmtime && !whole_number(jmtime, &mtime_ms))
        return amlfs_fail(err, EINVAL, "snapshot entry '%s' has an invalid \"mtime_ms\"", p);
    snapshot_manifest_add(m, p, t, (unsigned)mode, size, sha, target);
    if (jmtime)
        m->entries[m->count - 1].mtime_ms = (int64_t)mtime_ms;
    return 0;
}

int snapshot_manifest_from_cjson(const cJSON *root, snapshot_manifest *m, amlfs_err *err)
{
    snapshot_manifest_init(m);
    int rc = 0;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(root, "hash");
    if (!cJSON_IsObject(root) || !cJSON_IsString(format) || strcmp(format->valuestring, MANIFEST_FORMAT) != 0)
        rc = amlfs_fail(err, EINVAL, "snapshot manifest needs \"format\": \"%s\"", MANIFEST_FORMAT);
    else if (!cJSON_IsArray(entries))
        rc = amlfs_fail(err, EINVAL, "snapshot manifest needs an \"entries\" array");
    else if (hash && !cJSON_IsNull(hash) && !(cJSON_IsString(hash) && (!*hash->valuestring ||
                                                                        snapshot_sha_valid(hash->valuestring))))
        rc = amlfs_fail(err, EINVAL, "snapshot manifest \"hash\" must be 64 lowercase hex digits");
    size_t i = 0;
    const cJSON *o;
    if (rc == 0)
        cJSON_ArrayForEach(o, entries)
        {
            if ((rc = entry_from_json(o, i++, m, err)) < 0)
                break;
        }
    if (rc == 0)
        rc = snapshot_manifest_finish(m, err);
    if (rc == 0 && cJSON_IsString(hash) && *hash->valuestring && strcmp(hash->valuestring, m->hash) != 0)
        rc = amlfs_fail(err, EINVAL, "snapshot manifest says its hash is %.12s... but its entries hash to %.12s...",
                        hash->valuestring, m->hash);
    if (rc < 0)
        snapshot_manifest_free(m);
    return rc;
}

int snapshot_manifest_from_json(const char *text, size_t len, snapshot_manifest *m, amlfs_err *err)
{
    snapshot_manifest_init(m);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return amlfs_fail(err, EINVAL, "snapshot manifest is not valid JSON");
    int rc = snapshot_manifest_from_cjson(root, m, err);
    cJSON_Delete(root);
    return rc;
}
