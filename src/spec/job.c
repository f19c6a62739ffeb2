/* job.c: job.yaml (az ml CLI v2 command job): top-level keys, limits, resources, distribution.
 * References (environment, compute) are parsed here and resolved by the server. */
#include "amlfs/spec_yaml.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* status and log_files are output-only (`az ml job show` prints them): accepted and ignored, as are
 * services, identity and queue_settings, which have no meaning here. properties are kept (az ml keeps
 * them as free-form strings); the `amlfs.` ones set this job's snapshot limits. */
static const char *const job_keys[] = {
    "$schema", "type", "command", "code", "environment", "compute", "experiment_name",
    "display_name", "name", "description", "tags", "environment_variables", "inputs", "outputs",
    "limits", "resources", "distribution", "services", "status", "log_files", "properties",
    "identity", "queue_settings", NULL,
};
static const char *const limits_keys[] = {"timeout", NULL};
static const char *const resources_keys[] = {"instance_count", "instance_type", "shm_size", "locations",
                                             "properties", NULL};
static const char *const distribution_keys[] = {
    "type", "process_count_per_instance", "worker_count", "parameter_server_count", "port", "address",
    "include_dashboard", "dashboard_port", "head_node_additional_args", "worker_node_additional_args", NULL,
};
static const char *const distribution_types[] = {"pytorch", "mpi", "tensorflow", "ray", NULL};

static int parse_type(spec_doc *d, yaml_node_t *root, amlfs_err *err)
{
    char *type = NULL;
    spec_pos pos = {0, 0};
    int rc = spec_get_str(d, root, "type", &type, &pos, err);
    if (rc == 0 && type && strcmp(type, "command"))
        rc = spec_fail_at(err, EINVAL, d->filename, pos,
                          "this is a %s job: only command jobs run here (`type: command`, or no type)", type);
    free(type);
    return rc;
}

static int parse_command(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    int rc = spec_get_str(d, root, "command", &out->command, &out->command_pos, err);
    if (rc < 0)
        return rc;
    /* `command:` with nothing after it points at itself; no key at all points at the file's start. */
    yaml_node_t *written = spec_map_get(d, root, "command");
    if (!out->command)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(written ? written : root),
                            "%s 'command': the shell command the job runs, e.g. `command: python train.py`",
                            written ? "no value for" : "missing");
    if (!out->command[strspn(out->command, " \t\r\n")])
        return spec_fail_at(err, EINVAL, d->filename, out->command_pos,
                            "'command' is empty: write the shell command the job runs, e.g. `command: "
                            "python train.py`");
    return 0;
}

static int parse_names(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    spec_pos exp_pos = {0, 0}, name_pos = {0, 0};
    int rc;
    if ((rc = spec_get_str(d, root, "code", &out->code, &out->code_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "experiment_name", &out->experiment_name, &exp_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "display_name", &out->display_name, NULL, err)) < 0 ||
        (rc = spec_get_str(d, root, "name", &out->name, &name_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "description", &out->description, NULL, err)) < 0)
        return rc;
    if (out->code && !*out->code)
        return spec_fail_at(err, EINVAL, d->filename, out->code_pos,
                            "'code' is empty: write a folder (`code: .` or `code: src`) or leave it out");
    if (out->experiment_name && (rc = spec_check_name_at(d, "experiment", out->experiment_name, exp_pos, err)) < 0)
        return rc;
    if (out->name && (rc = spec_check_name_at(d, "job", out->name, name_pos, err)) < 0)
        return rc;
    return 0;
}

static int parse_variables(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    int rc = spec_get_kvlist(d, root, "environment_variables", &out->environment_variables, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < out->environment_variables.count; i++) {
        const spec_kv *kv = &out->environment_variables.items[i];
        if (!spec_is_identifier(kv->key))
            return spec_fail_at(err, EINVAL, d->filename, kv->pos,
                                "environment variable name '%s' is not valid: use letters, digits and '_', "
                                "not starting with a digit",
                                kv->key);
    }
    return 0;
}

static int parse_limits_resources(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    yaml_node_t *limits = NULL, *resources = NULL;
    long count = 1;
    int rc;
    if ((rc = spec_get_map(d, root, "limits", &limits, err)) < 0 ||
        (rc = spec_get_map(d, root, "resources", &resources, err)) < 0)
        return rc;
    if (limits && ((rc = spec_check_keys(d, limits, limits_keys, "limits", err)) < 0 ||
                   (rc = spec_get_long(d, limits, "timeout", 0, LONG_MAX, "a whole number of seconds",
                                       &out->timeout_s, NULL, NULL, err)) < 0))
        return rc;
    if (resources) {
        char *instance_type = NULL, *shm_size = NULL;
        /* Options for `docker run` change what runs: dropping them would run another job than written. */
        yaml_node_t *docker_args = spec_map_get(d, resources, "docker_args");
        if (docker_args)
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(docker_args), "resources.docker_args is not "
                                "taken here: it changes how the job's container runs, and ignoring it would run "
                                "another job; remove it (shm_size is accepted; build what else it sets into the "
                                "environment's image)");
        if ((rc = spec_check_keys(d, resources, resources_keys, "resources", err)) < 0 ||
            (rc = spec_get_long(d, resources, "instance_count", 1, SPEC_MAX_RANKS,
                                "a whole number from 1 to " SPEC_MAX_RANKS_TEXT,
                                &count, NULL, NULL, err)) < 0 ||
            (rc = spec_get_str(d, resources, "instance_type", &instance_type, NULL, err)) < 0 ||
            (rc = spec_get_str(d, resources, "shm_size", &shm_size, NULL, err)) < 0) {
            free(instance_type);
            free(shm_size);
            return rc;
        }
        /* Azure's VM size and shared memory mean nothing for a compute that exists already: said, not
         * silently dropped. */
        if (instance_type)
            spec_kvlist_add(&out->ignored, "resources.instance_type", instance_type, spec_node_pos(spec_map_get(d, resources, "instance_type")));
        if (shm_size)
            spec_kvlist_add(&out->ignored, "resources.shm_size", shm_size, spec_node_pos(spec_map_get(d, resources, "shm_size")));
        /* Azure regions and the compute's own properties: nothing here to choose. */
        static const char *const azure_only[] = {"locations", "properties", NULL};
        for (size_t i = 0; azure_only[i]; i++) {
            yaml_node_t *v = spec_map_get(d, resources, azure_only[i]);
            if (v && !spec_node_is_null(v)) {
                char *key = util_strdupf("resources.%s", azure_only[i]);
                spec_kvlist_add(&out->ignored, key, "", spec_node_pos(v));
                free(key);
            }
        }
        free(instance_type);
        free(shm_size);
    }
    out->instance_count = (int)count;
    return 0;
}

static const char *const amlfs_properties[] = {"amlfs.snapshot_max_mb", "amlfs.snapshot_max_files", "amlfs.network",
                                               NULL};

/* Free-form strings, except the `amlfs.` ones: those are ours, and a typo there must not pass. */
static int parse_properties(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    int rc = spec_get_kvlist(d, root, "properties", &out->properties, err);
    out->network = -1;
    for (size_t i = 0; rc == 0 && i < out->properties.count; i++) {
        const spec_kv *kv = &out->properties.items[i];
        if (strncmp(kv->key, "amlfs.", 6) != 0)
            continue;
        if (strcmp(kv->key, "amlfs.network") == 0) {
            if (spec_parse_bool_text(kv->value, &out->network) < 0)
                return spec_fail_at(err, EINVAL, d->filename, kv->pos,
                                    "property 'amlfs.network' must be true or false, not '%s'", kv->value);
            continue;
        }
        unsigned long long *into = strcmp(kv->key, amlfs_properties[0]) == 0   ? &out->snapshot_max_mb
                                   : strcmp(kv->key, amlfs_properties[1]) == 0 ? &out->snapshot_max_files
                                                                              : NULL;
        if (!into) {
            char hint[200];
            spec_suggest(kv->key, amlfs_properties, hint, sizeof hint);
            return spec_fail_at(err, EINVAL, d->filename, kv->pos, "unknown amlfs property '%s'%s", kv->key,
                                hint);
        }
        bool mb = into == &out->snapshot_max_mb;
        long n = 0, max = mb ? SPEC_SNAPSHOT_MAX_MB : SPEC_SNAPSHOT_MAX_FILES;
        if (spec_parse_long_text(kv->value, &n) < 0 || n < 1 || n > max)
            return spec_fail_at(err, EINVAL, d->filename, kv->pos,
                                "property '%s' must be a whole number of %s from 1 to %ld, not '%s'", kv->key,
                                mb ? "megabytes" : "files", max, kv->value);
        *into = (unsigned long long)n;
    }
    return rc;
}

static int parse_distribution(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    yaml_node_t *dist = NULL;
    int rc = spec_get_map(d, root, "distribution", &dist, err);
    if (rc < 0 || !dist)
        return rc;
    if ((rc = spec_check_keys(d, dist, distribution_keys, "distribution", err)) < 0)
        return rc;
    out->distribution_pos = spec_node_pos(dist);
    yaml_node_t *type = spec_map_get(d, dist, "type");
    const char *t = spec_node_text(type);
    if (!type || spec_node_is_null(type))
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(dist),
                            "'distribution' needs a 'type': pytorch, mpi, tensorflow or ray");
    size_t i = 0;
    while (t && distribution_types[i] && strcmp(t, distribution_types[i]))
        i++;
    if (!t || !distribution_types[i]) {
        char hint[200];
        spec_suggest(t ? t : "", distribution_types, hint, sizeof hint);
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(type),
                            "distribution type must be pytorch, mpi, tensorflow or ray%s", hint);
    }
    out->distribution = util_xstrdup(t);
    static const char *const counts[] = {"process_count_per_instance", "worker_count", "parameter_server_count"};
    int *into[] = {&out->process_count_per_instance, &out->worker_count, &out->parameter_server_count};
    for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        long n = 0;
        if ((rc = spec_get_long(d, dist, counts[i], i == 2 ? 0 : 1, SPEC_MAX_RANKS,
                                i == 2 ? "a whole number from 0 to " SPEC_MAX_RANKS_TEXT
                                       : "a whole number from 1 to " SPEC_MAX_RANKS_TEXT,
                                &n, NULL, NULL, err)) < 0)
            return rc;
        *into[i] = (int)n;
    }
    return 0;
}

int spec_job_ranks(const job_spec *s, const char *filename, int *nodes, int *per_node, amlfs_err *err)
{
    *nodes = s->instance_count > 0 ? s->instance_count : 1;
    *per_node = 1;
    if (!s->distribution)
        return 0;
    if (strcmp(s->distribution, "ray") == 0)
        return spec_fail_at(err, EINVAL, filename, s->distribution_pos,
                            "distribution type ray is not supported here (supported: pytorch, mpi, tensorflow)");
    if (strcmp(s->distribution, "tensorflow") == 0) {
        if (s->parameter_server_count > 0)
            return spec_fail_at(err, EINVAL, filename, s->distribution_pos,
                                "tensorflow parameter servers (parameter_server_count %d) are not supported "
                                "here: use workers only (MultiWorkerMirroredStrategy)", s->parameter_server_count);
        int workers = s->worker_count > 0 ? s->worker_count : *nodes;
        if (workers % *nodes != 0)
            return spec_fail_at(err, EINVAL, filename, s->distribution_pos,
                                "worker_count %d cannot be spread evenly over instance_count %d nodes", workers,
                                *nodes);
        *per_node = workers / *nodes;
        return 0;
    }
    *per_node = s->process_count_per_instance > 0 ? s->process_count_per_instance : 1;
    return 0;
}

/* Keys az ml uses for services (Jupyter, SSH), managed identities and queues: nothing here uses them. */
static void note_ignored(spec_doc *d, yaml_node_t *root, job_spec *out)
{
    static const char *const meaningless[] = {"services", "identity", "queue_settings", NULL};
    for (size_t i = 0; meaningless[i]; i++) {
        yaml_node_t *v = spec_map_get(d, root, meaningless[i]);
        if (v && !spec_node_is_null(v))
            spec_kvlist_add(&out->ignored, meaningless[i], "", spec_node_pos(v));
    }
}

static int parse_job(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    int rc;
    /* The type first: a sweep or pipeline file's own keys (trial, jobs) would otherwise be reported as
     * unknown keys of a command job, which hides what is really wrong. */
    if ((rc = parse_type(d, root, err)) < 0 || (rc = spec_check_keys(d, root, job_keys, "job", err)) < 0 ||
        (rc = parse_command(d, root, out, err)) < 0 || (rc = parse_names(d, root, out, err)) < 0 ||
        (rc = spec_job_parse_environment(d, root, out, err)) < 0 ||
        (rc = spec_job_parse_compute(d, root, out, err)) < 0 ||
        (rc = spec_get_kvlist(d, root, "tags", &out->tags, err)) < 0 ||
        (rc = parse_variables(d, root, out, err)) < 0 || (rc = spec_job_parse_inputs(d, root, out, err)) < 0 ||
        (rc = spec_job_parse_outputs(d, root, out, err)) < 0 ||
        (rc = parse_limits_resources(d, root, out, err)) < 0 || (rc = parse_distribution(d, root, out, err)) < 0 ||
        (rc = parse_properties(d, root, out, err)) < 0)
        return rc;
    note_ignored(d, root, out);
    return 0;
}

int spec_parse_job(const char *text, size_t len, const char *filename, job_spec *out, amlfs_err *err)
{
    spec_doc d;
    memset(out, 0, sizeof *out);
    int rc = spec_doc_load(&d, text, len, filename, "a job", "command: python train.py", err);
    if (rc < 0)
        return rc;
    rc = parse_job(&d, spec_doc_root(&d), out, err);
    spec_doc_free(&d);
    if (rc < 0)
        spec_job_free(out);
    return rc;
}

void spec_job_free(job_spec *s)
{
    if (!s)
        return;
    free(s->command);
    free(s->code);
    free(s->environment_name);
    free(s->environment_version);
    free(s->environment_registry);
    free(s->environment_reference);
    free(s->environment_file);
    if (s->environment_inline) {
        spec_env_free(s->environment_inline);
        free(s->environment_inline);
    }
    free(s->compute);
    free(s->experiment_name);
    free(s->display_name);
    free(s->name);
    free(s->description);
    free(s->distribution);
    spec_kvlist_free(&s->environment_variables);
    spec_kvlist_free(&s->inputs);
    for (size_t i = 0; i < s->data_inputs.count; i++) {
        free(s->data_input_types[i]);
        free(s->data_input_modes[i]);
    }
    free(s->data_input_types);
    free(s->data_input_modes);
    spec_kvlist_free(&s->data_inputs);
    spec_kvlist_free(&s->outputs);
    spec_kvlist_free(&s->output_assets);
    spec_kvlist_free(&s->output_paths);
    spec_kvlist_free(&s->output_asset_versions);
    spec_kvlist_free(&s->ignored);
    spec_kvlist_free(&s->tags);
    spec_kvlist_free(&s->properties);
    memset(s, 0, sizeof *s);
}
