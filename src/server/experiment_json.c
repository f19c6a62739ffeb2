/* experiment_json.c: the experiment object of docs/api.md. */
#include "amlfs/server.h"

cJSON *experiment_json(const store_experiment *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", e->name);
    json_add_time(o, "created", e->created);
    cJSON_AddStringToObject(o, "status_line", e->status_line ? e->status_line : "");
    cJSON_AddNumberToObject(o, "run_count", (double)e->run_count);
    if (e->latest_run)
        cJSON_AddStringToObject(o, "latest_run", e->latest_run);
    else
        cJSON_AddNullToObject(o, "latest_run");
    return o;
}
