/* h_workspace.c: GET /v1/workspace (what this workspace is) and GET /v1/events (the change feed's
 * long-poll). */
#include "amlfs/server.h"

#include <stdlib.h>
#include <sys/statvfs.h>

#include "amlfs/util.h"

#define EVENTS_DEFAULT_TIMEOUT_S 25

int h_workspace(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    store_counts counts;
    int64_t up_bytes, up_blobs, up_requests;
    int r = store_count_all(srv->store, &counts, err);
    if (r == 0)
        r = server_uploads_get(srv, &up_bytes, &up_blobs, &up_requests, err);
    if (r < 0)
        return r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", srv->workspace_name);
    cJSON_AddStringToObject(o, "api_version", AMLFS_API_VERSION);
    cJSON_AddStringToObject(o, "server_version", AMLFS_VERSION);
    cJSON_AddStringToObject(o, "data_dir", srv->data_dir);
    char *address = util_strdupf("unix:%s", srv->socket_path);
    cJSON_AddStringToObject(o, "address", address);
    free(address);
    /* Where jobs reach MLflow's tracking API (README "Metrics"). */
    if (srv->tracking_uri)
        cJSON_AddStringToObject(o, "mlflow_tracking_uri", srv->tracking_uri);
    cJSON_AddNumberToObject(o, "event_seq", (double)events_last_seq(srv->events));
    cJSON_AddNumberToObject(o, "requests", (double)http_requests_taken(srv));
    cJSON *c = cJSON_AddObjectToObject(o, "counts");
    cJSON_AddNumberToObject(c, "environments", (double)counts.environments);
    cJSON_AddNumberToObject(c, "computes", (double)counts.computes);
    cJSON_AddNumberToObject(c, "experiments", (double)counts.experiments);
    cJSON_AddNumberToObject(c, "runs", (double)counts.runs);
    cJSON *limits = cJSON_AddObjectToObject(o, "snapshot_limits");
    cJSON_AddNumberToObject(limits, "max_mb", (double)srv->snapshot_max_mb);
    cJSON_AddNumberToObject(limits, "max_files", (double)srv->snapshot_max_files);
    cJSON *data_limits = cJSON_AddObjectToObject(o, "data_limits");
    cJSON_AddNumberToObject(data_limits, "max_mb", (double)srv->data_max_mb);
    cJSON_AddNumberToObject(data_limits, "max_files", (double)srv->data_max_files);
    cJSON *uploads = cJSON_AddObjectToObject(o, "uploads");
    cJSON_AddNumberToObject(uploads, "bytes", (double)up_bytes);
    cJSON_AddNumberToObject(uploads, "blobs", (double)up_blobs);
    cJSON_AddNumberToObject(uploads, "requests", (double)up_requests);
    /* The data directory's disk, for the mount's statfs (df). */
    struct statvfs vfs;
    if (statvfs(srv->data_dir, &vfs) == 0) {
        cJSON *disk = cJSON_AddObjectToObject(o, "disk");
        cJSON_AddNumberToObject(disk, "bytes_total", (double)vfs.f_blocks * (double)vfs.f_frsize);
        cJSON_AddNumberToObject(disk, "bytes_free", (double)vfs.f_bfree * (double)vfs.f_frsize);
        cJSON_AddNumberToObject(disk, "bytes_avail", (double)vfs.f_bavail * (double)vfs.f_frsize);
        cJSON_AddNumberToObject(disk, "files_total", (double)vfs.f_files);
        cJSON_AddNumberToObject(disk, "files_free", (double)vfs.f_ffree);
    }
    reply_json(out, 200, o);
    return 0;
}

int h_events(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    int64_t since, timeout;
    int r = http_query_i64(req, "since", 0, &since, err);
    if (r == 0)
        r = http_query_i64(req, "timeout", EVENTS_DEFAULT_TIMEOUT_S, &timeout, err);
    if (r < 0)
        return r;
    if (timeout > EVENTS_MAX_TIMEOUT_S)
        timeout = EVENTS_MAX_TIMEOUT_S;
    reply_json(out, 200, events_wait_json(srv->events, (uint64_t)since, (int)timeout * 1000));
    return 0;
}
