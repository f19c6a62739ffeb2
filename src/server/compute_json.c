/* compute_json.c: the compute object of docs/api.md, with live counts of its runs and the status
 * line the mount's computes/NAME/status shows. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>

#include "amlfs/util.h"

#define B(s) (1u << (s))
#define QUEUED_MASK (B(RUN_NOT_STARTED) | B(RUN_QUEUED))
#define ACTIVE_MASK (B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) | B(RUN_CANCEL_REQUESTED))

cJSON *compute_json(server *srv, const store_compute *c)
{
    compute *live = server_compute(srv, c->name);
    int max = live ? server_compute_max(srv, live) : c->max_instances;
    long running = store_run_count_by_status(srv->store, ACTIVE_MASK, c->name);
    long queued = store_run_count_by_status(srv->store, QUEUED_MASK, c->name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "type", c->type);
    cJSON_AddNumberToObject(o, "max_instances", max);
    cJSON_AddStringToObject(o, "state", "Succeeded");
    cJSON_AddNumberToObject(o, "running", running < 0 ? 0 : running);
    cJSON_AddNumberToObject(o, "queued", queued < 0 ? 0 : queued);
    cJSON_AddStringToObject(o, "yaml", c->yaml);
    char *key = util_strdupf("computes/%s", c->name), *rejected = NULL;
    amlfs_err ignored = {0};
    if (store_folder_status_get(srv->store, key, &rejected, &ignored) < 0)
        rejected = NULL;
    char *line = rejected && rejected[0]
                     ? util_xstrdup(rejected)
                     : util_strdupf("Succeeded: running %ld, queued %ld (max_instances %d)",
                                    running < 0 ? 0 : running, queued < 0 ? 0 : queued, max);
    cJSON_AddStringToObject(o, "status_line", line);
    free(line);
    free(rejected);
    free(key);
    return o;
}
