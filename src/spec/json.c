/* json.c: JSON views of parsed specs for the API, field names as in the structs.
 * Absent values are left out; a registry password is always "***". */
#include "amlfs/spec_yaml.h"

static void add_str(cJSON *o, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(o, key, value);
}

static void add_kv(cJSON *o, const char *key, const spec_kvlist *l)
{
    cJSON *kv = spec_kvlist_to_json(l);
    if (kv)
        cJSON_AddItemToObject(o, key, kv);
}

cJSON *spec_env_to_json(const env_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "name", s->name);
    add_str(o, "version", s->version);
    add_str(o, "description", s->description);
    add_str(o, "image", s->image);
    if (s->has_build) {
        cJSON *b = cJSON_AddObjectToObject(o, "build");
        if (b) {
            add_str(b, "path", s->build_path);
            add_str(b, "dockerfile_path", s->build_dockerfile);
        }
    }
    add_str(o, "conda_file", s->conda_file_path);
    add_str(o, "conda_file_inline", s->conda_file_inline);
    add_str(o, "os_type", s->os_type);
    if (s->user_managed >= 0)
        cJSON_AddBoolToObject(o, "user_managed_dependencies", s->user_managed);
    if (s->registry_address || s->registry_username || s->registry_password) {
        cJSON *r = cJSON_AddObjectToObject(o, "image_registry");
        if (r) {
            add_str(r, "address", s->registry_address);
            add_str(r, "username", s->registry_username);
            if (s->registry_password)
                cJSON_AddStringToObject(r, "password", "***");
        }
    }
    add_kv(o, "tags", &s->tags);
    return o;
}

cJSON *spec_job_to_json(const job_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "command", s->command);
    add_str(o, "code", s->code);
    add_str(o, "environment_name", s->environment_name);
    add_str(o, "environment_version", s->environment_version);
    add_str(o, "environment_registry", s->environment_registry);
    add_str(o, "environment_reference", s->environment_reference);
    add_str(o, "environment_file", s->environment_file);
    if (s->environment_inline) {
        cJSON *e = spec_env_to_json(s->environment_inline);
        if (e)
            cJSON_AddItemToObject(o, "environment_inline", e);
    }
    add_str(o, "compute", s->compute ? s->compute : "local");
    add_str(o, "experiment_name", s->experiment_name);
    add_str(o, "display_name", s->display_name);
    add_str(o, "name", s->name);
    add_str(o, "description", s->description);
    add_kv(o, "environment_variables", &s->environment_variables);
    add_kv(o, "inputs", &s->inputs);
    add_kv(o, "tags", &s->tags);
    add_kv(o, "properties", &s->properties);
    cJSON_AddNumberToObject(o, "timeout_s", (double)s->timeout_s);
    cJSON_AddNumberToObject(o, "instance_count", s->instance_count);
    return o;
}

cJSON *spec_compute_to_json(const compute_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "name", s->name);
    add_str(o, "type", s->type);
    add_str(o, "description", s->description);
    add_str(o, "size", s->size);
    add_str(o, "tier", s->tier);
    cJSON_AddNumberToObject(o, "min_instances", s->min_instances);
    if (s->max_instances > 0)
        cJSON_AddNumberToObject(o, "max_instances", s->max_instances);
    cJSON_AddNumberToObject(o, "idle_time_before_scale_down", (double)s->idle_time_before_scale_down);
    add_kv(o, "extra", &s->extra);
    return o;
}
