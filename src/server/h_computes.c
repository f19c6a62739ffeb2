/* h_computes.c: compute targets: list, get, create (mkdir), PUT of a compute.yaml and delete (rmdir);
 * what each does is in compute_specs.c. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

static int reply_compute(server *srv, const char *name, bool live, http_reply *out, amlfs_err *err)
{
    store_compute c;
    int r = store_compute_get(srv->store, name, &c, err);
    if (r < 0)
        return r;
    reply_json(out, 200, compute_json(srv, &c, live));
    store_compute_free(&c);
    return 0;
}

int h_computes_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    (void)req;
    store_compute *list;
    size_t n;
    char *line = NULL;
    int r = store_compute_list(srv->store, &list, &n, err);
    if (r < 0)
        return r;
    if ((r = store_folder_status_get(srv->store, "computes", &line, err)) < 0) {
        store_compute_list_free(list, n);
        return r;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "computes");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, compute_json(srv, &list[i], false));
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    store_compute_list_free(list, n);
    reply_json(out, 200, o);
    return 0;
}

int h_compute_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *live = http_query(req, "live");
    return reply_compute(srv, req->params[0], live && strcmp(live, "0") != 0, out, err);
}

int h_compute_put(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int r = http_body_json(req, &body, err);
    if (r < 0)
        return r;
    const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
    if (!cJSON_IsString(yaml))
        r = amlfs_fail(err, EINVAL, "the body needs \"yaml\": the text of compute.yaml");
    else
        r = server_compute_put(srv, req->params[0], yaml->valuestring, http_spec_len(body, yaml),
                               json_str(body, "filename", "compute.yaml"), err);
    cJSON_Delete(body);
    if (r < 0)
        return r;
    return reply_compute(srv, req->params[0], true, out, err);
}

int h_computes_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    cJSON *body;
    int r = http_body_json(req, &body, err);
    if (r < 0)
        return r;
    const char *name = json_str(body, "name", NULL);
    if (!name)
        r = amlfs_fail(err, EINVAL, "the body needs \"name\": the compute's name");
    else
        r = server_compute_create(srv, name, err);
    if (r == 0)
        r = reply_compute(srv, name, false, out, err);
    if (r == 0)
        out->status = 201;
    cJSON_Delete(body);
    return r;
}

int h_compute_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    int r = server_compute_delete(srv, req->params[0], err);
    if (r == 0)
        reply_empty(out, 204);
    return r;
}
