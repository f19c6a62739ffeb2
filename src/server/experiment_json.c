/* experiment_json.c: the experiment object of docs/api.md. */
#include "amlfs/server.h"

#include <stdlib.h>

cJSON *experiment_json(server *srv, const store_experiment *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", e->name);
    json_add_time(o, "created", e->created);
    /* A line its disk could not take yet wins: it is the newest. */
    char *pending = server_status_line_pending(srv, e->name);
    cJSON_AddStringToObject(o, "status_line", pending ? pending : e->status_line ? e->status_line : "");
    free(pending);
    cJSON_AddNumberToObject(o, "run_count", (double)e->run_count);
    if (e->latest_run)
        cJSON_AddStringToObject(o, "latest_run", e->latest_run);
    else
        cJSON_AddNullToObject(o, "latest_run");
    return o;
}
