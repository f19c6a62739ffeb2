/* h_outputs.c: a run's outputs, logs and inputs as read-only folders (GET /v1/runs/ID/outputs/PATH, .../logs/,
 * .../inputs/): what the job wrote under ./outputs and ./logs of its working folder (DATA_DIR/runs/ID/work),
 * live while the run goes, and its data inputs as placed (DATA_DIR/runs/ID/inputs). */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* Paths are resolved from the working folder, not from outputs/ itself: a job may replace outputs/
 * with a symlink, and openat2(RESOLVE_BENEATH) from work/ keeps even that inside the run's own folder
 * (a link out of it is refused), with no window between a check and an open. */
static char *rel_in_work(const char *folder, const char *path)
{
    return path[0] ? util_strdupf("%s/%s", folder, path) : util_xstrdup(folder);
}

/* The root is a folder whatever the job did to it: absent (not prepared yet, or removed by the job)
 * it is empty, created when the run was. */
static bool absent_root(int rc)
{
    return rc == -ENOENT || rc == -ENOTDIR;
}

static cJSON *root_entry_json(const char *work, const char *folder, const store_run *r)
{
    folder_entry e;
    amlfs_err ignored = {0};
    int rc = folder_stat(work, folder, &e, &ignored);
    if (rc < 0 || e.type != 'd') {
        if (rc == 0)
            folder_entry_free(&e);
        memset(&e, 0, sizeof e);
        e.type = 'd';
        e.size = 4096;
        e.mode = 0755;
        e.mtime_ms = r->created;
    }
    free(e.name);
    e.name = util_xstrdup("");
    cJSON *o = folder_entry_json(&e);
    folder_entry_free(&e);
    return o;
}

/* The run's working folder (outputs, logs) or the run's own (inputs). */
static char *folder_base(server *srv, const store_run *r, const char *folder)
{
    return server_path(srv, "runs/%s%s", r->id, strcmp(folder, "inputs") != 0 ? "/work" : "");
}

int run_folder_tree_json(server *srv, const store_run *r, const char *folder, size_t max_entries, cJSON **out,
                         amlfs_err *err)
{
    char *base = folder_base(srv, r, folder);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "root", root_entry_json(base, folder, r));
    folder_entry *list = NULL;
    size_t n = 0;
    int rc = folder_list(base, folder, &list, &n, err);
    if (rc < 0 && absent_root(rc)) {
        rc = 0;
        n = 0;
    }
    if (rc == 0 && n <= max_entries) {
        cJSON *entries = cJSON_AddArrayToObject(o, "entries");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(entries, folder_entry_json(&list[i]));
    } else if (rc == 0) {
        cJSON_AddNullToObject(o, "entries"); /* too many to send here: asked for by themselves */
    }
    folder_list_free(list, n);
    free(base);
    if (rc < 0) {
        cJSON_Delete(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int folder_request(const char *work, const char *folder, const store_run *r, const http_request *req,
                          http_reply *out, amlfs_err *err)
{
    const char *path = req->tail;
    if (path[0]) {
        int rc = util_check_relpath(path, err);
        if (rc < 0)
            return rc;
    }
    const char *stat_arg = http_query(req, "stat");
    if (!path[0] && stat_arg && strcmp(stat_arg, "0") != 0) {
        reply_json(out, 200, root_entry_json(work, folder, r));
        return 0;
    }
    bool list = !path[0] || req->trailing_slash;
    char *rel = rel_in_work(folder, path);
    int rc = folder_get_reply(work, rel, list, req, out, err);
    free(rel);
    if (rc < 0 && !path[0] && absent_root(rc)) {
        cJSON *empty = cJSON_CreateObject();
        cJSON_AddArrayToObject(empty, "entries");
        reply_json(out, 200, empty);
        return 0;
    }
    return rc;
}

/* folder is under the run's working folder, or, for inputs, under the run's folder itself. */
static int run_folder(server *srv, const char *folder, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_run r;
    int rc = store_run_get(srv->store, req->params[0], &r, err);
    if (rc < 0)
        return rc;
    char *work = folder_base(srv, &r, folder);
    rc = folder_request(work, folder, &r, req, out, err);
    if (rc < 0)
        amlfs_wrap(err, "%s of run %s: ", folder, r.id);
    free(work);
    store_run_free(&r);
    return rc;
}

int h_run_outputs(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return run_folder(srv, "outputs", req, out, err);
}

int h_run_logs(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return run_folder(srv, "logs", req, out, err);
}

int h_run_inputs(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return run_folder(srv, "inputs", req, out, err);
}
