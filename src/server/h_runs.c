/* h_runs.c: runs: list (in submission order, by pages), get (with the kept job.yaml), the log by byte
 * offset, and cancel. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>

/* A listing is paged, so one request costs the server a bounded amount of memory whatever the
 * number of runs: `next` is where the following page starts (docs/api.md). */
#define RUNS_PAGE_DEFAULT 1000
#define RUNS_PAGE_MAX 5000

int h_runs_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *experiment = http_query(req, "experiment");
    if (experiment) {
        store_experiment e;
        int r = store_experiment_get(srv->store, experiment, &e, err);
        if (r < 0)
            return r;
        store_experiment_free(&e);
    }
    int64_t limit, after;
    int r = http_query_i64(req, "limit", RUNS_PAGE_DEFAULT, &limit, err);
    if (r == 0)
        r = http_query_i64(req, "after", 0, &after, err);
    if (r == 0 && (limit < 1 || limit > RUNS_PAGE_MAX))
        r = amlfs_fail(err, EINVAL, "limit must be 1 to %d runs a page", RUNS_PAGE_MAX);
    if (r < 0)
        return r;
    /* One more than asked tells whether a next page exists. */
    store_run *list;
    size_t n;
    r = store_run_list_page(srv->store, experiment, after, (size_t)limit + 1, &list, &n, err);
    if (r < 0)
        return r;
    size_t shown = n > (size_t)limit ? (size_t)limit : n;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "runs");
    for (size_t i = 0; i < shown; i++)
        cJSON_AddItemToArray(arr, run_json(srv, &list[i], false));
    if (n > shown) {
        char next[32];
        snprintf(next, sizeof next, "%lld", (long long)list[shown - 1].seq);
        cJSON_AddStringToObject(o, "next", next);
    } else {
        cJSON_AddNullToObject(o, "next");
    }
    store_run_list_free(list, n);
    reply_json(out, 200, o);
    return 0;
}

static int reply_run(server *srv, const char *id, unsigned status, http_reply *out, amlfs_err *err)
{
    store_run r;
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc < 0)
        return rc;
    reply_json(out, status, run_json(srv, &r, true));
    store_run_free(&r);
    return 0;
}

int h_run_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    return reply_run(srv, req->params[0], 200, out, err);
}

int h_run_log(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    if (!store_run_exists(srv->store, req->params[0]))
        return amlfs_fail(err, ENOENT, "run '%s' not found", req->params[0]);
    char *path = server_path(srv, "runs/%s/log", req->params[0]);
    int r = reply_log(out, path, req, err);
    free(path);
    return r;
}

int h_run_cancel(server *srv, const http_request *req, http_reply *out, amlfs_err *err)
{
    int r = run_cancel(srv, req->params[0], err);
    if (r == -EINVAL) { /* it has ended: a conflict with its state, said as EINVAL for the mount */
        reply_error(out, 409, err);
        return 0;
    }
    if (r < 0)
        return r;
    return reply_run(srv, req->params[0], 202, out, err);
}
