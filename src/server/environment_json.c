/* environment_json.c: the environment object of docs/api.md, with the status line the mount's
 * `status` file shows. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/util.h"

cJSON *env_version_label_json(const char *label)
{
    size_t n = strlen(label);
    if (n >= 1 && n <= 9 && strspn(label, "0123456789") == n && label[0] != '0')
        return cJSON_CreateNumber(atoi(label));
    return cJSON_CreateString(label);
}

cJSON *environment_json(server *srv, const store_env *e)
{
    cJSON *o = cJSON_CreateObject();
    const char *status = e->latest_status ? e->latest_status : "Draft";
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddItemToObject(o, "ctl_status", ctl_status_json(srv, "environments", e->name));
    if (e->latest_reason)
        cJSON_AddStringToObject(o, "reason", e->latest_reason);
    else
        cJSON_AddNullToObject(o, "reason");
    char *line;
    if (e->rejected)
        line = util_strdupf("Rejected: %s", e->rejected);
    else if (strcmp(status, "Failed") == 0)
        line = util_strdupf("Failed: %s", e->latest_reason ? e->latest_reason : "no reason recorded");
    else
        line = util_xstrdup(status);
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    if (e->nversions)
        cJSON_AddItemToObject(o, "latest_version", env_version_label_json(e->labels[e->nversions - 1]));
    else
        cJSON_AddNullToObject(o, "latest_version");
    /* In registration order: the last is the latest. */
    cJSON *versions = cJSON_AddArrayToObject(o, "versions");
    for (size_t i = 0; i < e->nversions; i++)
        cJSON_AddItemToArray(versions, env_version_label_json(e->labels[i]));
    json_add_time(o, "created", e->created);
    json_add_time(o, "updated", e->updated);
    char *log = server_path(srv, "environments/%s/build.log", e->name);
    struct stat st;
    cJSON_AddNumberToObject(o, "build_log_size", stat(log, &st) == 0 ? (double)st.st_size : 0);
    free(log);
    return o;
}
