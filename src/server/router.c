/* router.c: which handler answers which METHOD /path: the whole HTTP surface of docs/api.md in
 * one table. ":" matches one path part (a name), "*" the rest of the path (a file path). */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

typedef struct route {
    const char *method;         /* "*": the handler looks at the method itself */
    const char *pattern;
    http_handler handler;
} route;

static const route routes[] = {
    {"GET", "/v1/workspace", h_workspace},
    {"GET", "/v1/events", h_events},

    {"GET", "/v1/experiments", h_experiments_list},
    {"POST", "/v1/experiments", h_experiments_create},
    {"GET", "/v1/experiments/:", h_experiment_get},
    {"DELETE", "/v1/experiments/:", h_experiment_delete},
    {"POST", "/v1/experiments/:/runs", h_experiment_submit},
    {"GET", "/v1/experiments/:/runs-summary", h_experiment_runs_summary},
    {"GET", "/v1/experiments/:/metrics.tsv", h_experiment_metrics_tsv},
    {"GET", "/v1/experiments/:/charts/*", h_experiment_charts},
    {"*", "/v1/experiments/:/files/*", h_experiment_files},

    {"GET", "/v1/environments", h_environments_list},
    {"POST", "/v1/environments", h_environments_create},
    {"GET", "/v1/environments/:", h_environment_get},
    {"DELETE", "/v1/environments/:", h_environment_delete},
    {"POST", "/v1/environments/:/versions", h_environment_add_version},
    {"GET", "/v1/environments/:/versions/:", h_environment_version},
    {"GET", "/v1/environments/:/build-log", h_environment_build_log},
    {"POST", "/v1/environments/:/rebuild", h_environment_rebuild},
    {"POST", "/v1/environments/:/ctl", h_environment_ctl},
    {"*", "/v1/environments/:/files/*", h_environment_files},

    {"GET", "/v1/datastores", h_datastores_list},
    {"POST", "/v1/datastores", h_datastores_create},
    {"GET", "/v1/datastores/:", h_datastore_get},
    {"PUT", "/v1/datastores/:", h_datastore_put},
    {"DELETE", "/v1/datastores/:", h_datastore_delete},
    {"GET", "/v1/datastores/:/files/*", h_datastore_files},

    {"GET", "/v1/data", h_data_list},
    {"POST", "/v1/data", h_data_create},
    {"GET", "/v1/data/:", h_data_get},
    {"DELETE", "/v1/data/:", h_data_delete},
    {"POST", "/v1/data/:/versions", h_data_add_version},
    {"GET", "/v1/data/:/versions/:", h_data_version},
    {"GET", "/v1/data/:/versions/:/files/*", h_data_version_files},
    {"*", "/v1/data/:/files/*", h_data_files},

    {"GET", "/v1/computes", h_computes_list},
    {"GET", "/v1/computes/:", h_compute_get},
    {"POST", "/v1/computes", h_computes_create},
    {"PUT", "/v1/computes/:", h_compute_put},
    {"DELETE", "/v1/computes/:", h_compute_delete},

    {"GET", "/v1/runs", h_runs_list},
    {"GET", "/v1/runs/:", h_run_get},
    {"GET", "/v1/runs/:/log", h_run_log},
    {"POST", "/v1/runs/:/cancel", h_run_cancel},
    {"POST", "/v1/runs/:/ctl", h_run_ctl},
    {"GET", "/v1/runs/:/snapshot/*", h_run_snapshot},
    {"GET", "/v1/runs/:/outputs/*", h_run_outputs},
    {"GET", "/v1/runs/:/logs/*", h_run_logs},
    {"GET", "/v1/runs/:/inputs/*", h_run_inputs},
    {"GET", "/v1/runs/:/tree", h_run_tree},
    {"GET", "/v1/runs/:/metrics.json", h_run_metrics_json},
    {"GET", "/v1/runs/:/params.json", h_run_params_json},
    {"GET", "/v1/runs/:/tags.json", h_run_tags_json},
    {"GET", "/v1/runs/:/metrics/*", h_run_metrics},
    {"GET", "/v1/runs/:/charts/*", h_run_chart},

    {"POST", "/v1/snapshots", h_snapshots_create},
    {"POST", "/v1/blobs", h_blobs_upload},
};

#define MAX_PARTS 16

/* Splits s in place at '/', skipping empty parts; returns how many. */
static size_t split(char *s, char **parts, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *p = strtok_r(s, "/", &save); p; p = strtok_r(NULL, "/", &save))
        if (n < max)
            parts[n++] = p;
    return n;
}

/* Where the k-th non-empty part of url starts. */
static const char *part_start(const char *url, size_t k)
{
    const char *p = url;
    for (size_t i = 0;; i++) {
        while (*p == '/')
            p++;
        if (i == k || !*p)
            return p;
        p += strcspn(p, "/");
    }
}

/* Matches url against one pattern; captures into req (tail into *tail_buf, malloc'd). */
static bool match(const char *pattern, const char *url, char **url_parts, size_t nurl,
                  http_request *req, char **tail_buf)
{
    char pat_copy[128];
    char *pat_parts[MAX_PARTS];
    strcpy(pat_copy, pattern);
    size_t npat = split(pat_copy, pat_parts, MAX_PARTS), nparams = 0;
    for (size_t i = 0; i < npat; i++) {
        if (strcmp(pat_parts[i], "*") == 0) {
            char *tail = util_xstrdup(part_start(url, i));
            size_t len = strlen(tail);
            req->trailing_slash = len > 0 ? tail[len - 1] == '/' : url[strlen(url) - 1] == '/';
            while (len > 0 && tail[len - 1] == '/')
                tail[--len] = '\0';
            *tail_buf = tail;
            req->tail = tail;
            return true;
        }
        if (i >= nurl)
            return false;
        if (strcmp(pat_parts[i], ":") == 0) {
            if (nparams < sizeof req->params / sizeof req->params[0])
                req->params[nparams++] = url_parts[i];
        } else if (strcmp(pat_parts[i], url_parts[i]) != 0) {
            return false;
        }
    }
    if (npat != nurl)
        return false;
    req->tail = "";
    req->trailing_slash = url[strlen(url) - 1] == '/';
    return true;
}

http_handler router_find(http_request *req, char **scratch, unsigned *status)
{
    /* scratch[0]: the url's parts (params point into it); scratch[1]: the tail of a files route. */
    scratch[0] = util_xstrdup(req->url);
    scratch[1] = NULL;
    char *parts[MAX_PARTS + 1];
    /* A url deeper than any route keeps MAX_PARTS parts: only a files route ("*") can match it, and
     * its tail is taken from the url itself. */
    size_t n = split(scratch[0], parts, MAX_PARTS);
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        http_request probe = *req;
        char *tail = NULL;
        if (!match(routes[i].pattern, req->url, parts, n, &probe, &tail))
            continue;
        path_known = true;
        if (strcmp(routes[i].method, "*") != 0 && strcmp(routes[i].method, req->method) != 0) {
            free(tail);
            continue;
        }
        *req = probe;
        scratch[1] = tail;
        return routes[i].handler;
    }
    *status = path_known ? 405 : 404;
    return NULL;
}
