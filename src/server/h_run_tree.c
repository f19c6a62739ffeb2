/* h_run_tree.c: GET /v1/runs/ID/tree: what a walk of a run's folders asks first, in one answer: the
 * root and the entries of outputs/, logs/, inputs/ and snapshot/, and the listing of its metrics. */
#include "amlfs/server.h"

#include <stdlib.h>

/* A folder with more entries than this comes without them (null): a walk asks for it by itself, and
 * one answer stays small whatever the run wrote. */
#define TREE_MAX_ENTRIES 256

static int add_snapshot(server *srv, const store_run *r, cJSON *o, amlfs_err *err)
{
    if (!r->snapshot) {
        cJSON_AddNullToObject(o, "snapshot");
        return 0;
    }
    const snapshot_manifest *m = NULL;
    int rc = server_snapshot_get(srv, r->snapshot, &m, err);
    if (rc == 0) {
        cJSON *part = cJSON_AddObjectToObject(o, "snapshot");
        cJSON_AddItemToObject(part, "root", server_snapshot_root_json(r->created));
        cJSON *children = server_snapshot_children_json(m, "", r->created);
        cJSON *entries = cJSON_DetachItemFromObjectCaseSensitive(children, "entries");
        if (cJSON_GetArraySize(entries) <= TREE_MAX_ENTRIES) {
            cJSON_AddItemToObject(part, "entries", entries);
        } else {
            cJSON_Delete(entries);
            cJSON_AddNullToObject(part, "entries");
        }
        cJSON_Delete(children);
    }
    server_snapshot_release(srv, m);
    return rc;
}

int h_run_tree(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    store_run r;
    int rc = store_run_get(srv->store, req->params[0], &r, err);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    static const char *const folders[] = {"outputs", "logs", "inputs"};
    for (size_t i = 0; rc == 0 && i < sizeof folders / sizeof folders[0]; i++) {
        cJSON *part = NULL;
        rc = run_folder_tree_json(srv, &r, folders[i], TREE_MAX_ENTRIES, &part, err);
        if (rc == 0)
            cJSON_AddItemToObject(o, folders[i], part);
    }
    if (rc == 0)
        rc = add_snapshot(srv, &r, o, err);
    cJSON *metrics = NULL;
    if (rc == 0 && (rc = run_series_json(srv, r.id, &metrics, err)) == 0)
        cJSON_AddItemToObject(o, "metrics", metrics);
    if (rc == 0)
        reply_json(out, 200, o);
    else
        cJSON_Delete(o);
    store_run_free(&r);
    return rc;
}
