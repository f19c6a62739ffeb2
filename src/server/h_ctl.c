/* h_ctl.c: the commands written to a run's or an environment's ctl file (POST .../ctl {"command"}): cancel,
 * rebuild, and what became of the last one, kept for reading the ctl file back ("ctl_status"). */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static char *ctl_key(const char *kind, const char *name)
{
    return util_strdupf("%s/%s/ctl", kind, name);
}

cJSON *ctl_status_json(server *srv, const char *kind, const char *name)
{
    char *key = ctl_key(kind, name), *line = NULL;
    amlfs_err ignored = {0};
    cJSON *s = store_folder_status_get(srv->store, key, &line, &ignored) == 0 ? cJSON_CreateString(line)
                                                                               : cJSON_CreateString("");
    free(line);
    free(key);
    return s;
}

/* The command, trimmed, from {"command": TEXT}; "" when none. */
static int command_of(const http_request *req, char **command, amlfs_err *err)
{
    cJSON *body = NULL;
    int rc = http_body_json(req, &body, err);
    if (rc < 0)
        return rc;
    const char *text = json_str(body, "command", "");
    size_t len = strlen(text);
    while (len && strchr(" \t\r\n", text[len - 1]))
        len--;
    while (len && strchr(" \t\r\n", *text))
        text++, len--;
    *command = util_strdupf("%.*s", (int)(len > 64 ? 64 : len), text);
    cJSON_Delete(body);
    return 0;
}

/* Records what became of command (rc, err) where `cat ctl` shows it, and answers the request. */
static int settle(server *srv, const char *kind, const char *name, const char *command, int rc, amlfs_err *err)
{
    char *key = ctl_key(kind, name);
    amlfs_err said = {0};
    if (rc < 0)
        amlfs_fail(&said, err->code ? err->code : -rc, "%s: %s", command, err->msg);
    server_folder_status(srv, key, rc < 0 ? &said : NULL);
    free(key);
    return rc;
}

int h_run_ctl(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *id = req->params[0];
    if (!store_run_exists(srv->store, id))
        return amlfs_fail(err, ENOENT, "run '%s' not found", id);
    char *command = NULL;
    int rc = command_of(req, &command, err);
    if (rc < 0)
        return rc;
    if (!command[0])
        rc = 0; /* `echo > ctl`: nothing asked */
    else if (strcmp(command, "cancel") == 0)
        rc = run_cancel(srv, id, err);
    else
        rc = amlfs_fail(err, EINVAL, "unknown command (known: cancel)");
    rc = settle(srv, "runs", id, command, rc, err);
    free(command);
    if (rc < 0)
        return rc;
    reply_json(out, 202, cJSON_CreateObject());
    return 0;
}

int h_environment_ctl(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *name = req->params[0];
    store_env e;
    int rc = store_env_get(srv->store, name, &e, err);
    if (rc < 0)
        return rc;
    store_env_free(&e);
    char *command = NULL;
    if ((rc = command_of(req, &command, err)) < 0)
        return rc;
    int version = 0;
    char *label = NULL;
    if (!command[0])
        rc = 0;
    else if (strcmp(command, "rebuild") == 0)
        rc = env_version_rebuild(srv, name, &version, &label, err);
    else
        rc = amlfs_fail(err, EINVAL, "unknown command (known: rebuild)");
    rc = settle(srv, "environments", name, command, rc, err);
    free(label);
    free(command);
    if (rc < 0)
        return rc;
    reply_json(out, 202, cJSON_CreateObject());
    return 0;
}
