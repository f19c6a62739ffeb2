/* record.c: which content an image version is (SETUP_DIR/N.json: its hash, written at registration), so
 * runs, rebuilds and a restarted server find its image even after the environment's files changed. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *record_path(const env_version_ref *v)
{
    return util_strdupf("%s/%d.json", v->setup_dir, v->version);
}

int env_record_write(const env_version_ref *v, const char *hash, amlfs_err *err)
{
    if (!v->setup_dir)
        return amlfs_fail(err, EINVAL, "environment %s: nowhere to keep its setup record", v->name);
    int rc = util_mkdir_p(v->setup_dir, 0700, err);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "hash", hash);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    char *path = record_path(v);
    rc = util_write_file_atomic(path, text, strlen(text), 0600, err);
    free(path);
    free(text);
    return rc;
}

int env_record_read(const env_version_ref *v, char hash[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    if (!v->setup_dir)
        return amlfs_fail(err, ENOENT, "environment %s has no setup record", v->name);
    char *path = record_path(v), *text = NULL;
    int rc = util_read_file(path, &text, NULL, err);
    cJSON *o = rc == 0 ? cJSON_Parse(text) : NULL;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hash");
    if (rc == 0 && (!cJSON_IsString(h) || !snapshot_sha_valid(h->valuestring)))
        rc = amlfs_fail(err, EINVAL, "%s is damaged", path);
    if (rc == 0)
        snprintf(hash, SNAPSHOT_SHA_HEX, "%s", h->valuestring);
    cJSON_Delete(o);
    free(text);
    free(path);
    return rc;
}
