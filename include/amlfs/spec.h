/* spec.h: the az ml CLI v2 YAML files users write (environment.yaml, job.yaml, compute.yaml),
 * parsed with libyaml into validated structs whose errors carry file, line and column. */
#ifndef AMLFS_SPEC_H
#define AMLFS_SPEC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "amlfs/err.h"

/* 1-based position of a value in the YAML text; 0/0 when unknown. */
typedef struct spec_pos {
    int line;
    int col;
} spec_pos;

typedef struct spec_kv {
    char *key;
    char *value;
    spec_pos pos;
} spec_kv;

typedef struct spec_kvlist {
    spec_kv *items;
    size_t count;
} spec_kvlist;

/* environment.yaml (also an inline `environment:` mapping of a job). Absent strings are NULL. */
typedef struct env_spec {
    char *name;
    char *version;              /* as written; NULL means "next" */
    char *description;
    char *image;                /* exclusive with build */
    int has_build;
    char *build_path;           /* default "." */
    char *build_dockerfile;     /* default "Dockerfile" */
    char *conda_file_path;      /* conda_file: a path ... */
    char *conda_file_inline;    /* ... or an inline mapping, kept as YAML text */
    char *os_type;              /* linux (default) | windows */
    int user_managed;           /* user_managed_dependencies; -1 when not written */
    char *registry_address;     /* image_registry: {address, username, password} */
    char *registry_username;
    char *registry_password;    /* a secret: never shown back, see spec_env_to_json */
    spec_kvlist tags;
    spec_pos name_pos, image_pos, build_pos, build_path_pos, conda_file_pos;
} env_spec;

/* The largest snapshot limits a job or a workspace may ask for (1 TiB, ten million files). */
#define SPEC_SNAPSHOT_MAX_MB 1048576L
#define SPEC_SNAPSHOT_MAX_FILES 10000000L

/* job.yaml: a command job. */
typedef struct job_spec {
    char *command;
    char *code;                 /* NULL: the folder of job.yaml */
    char *environment_name;     /* from azureml:NAME:VERSION, azureml:NAME@latest, NAME, or a registry's */
    char *environment_version;  /* NULL means latest */
    /* azureml://registries/REGISTRY/environments/NAME/labels/latest (or /versions/V): the registry, and the
     * reference as written; NAME is then looked up in this workspace. NULL otherwise. */
    char *environment_registry, *environment_reference;
    env_spec *environment_inline; /* environment: {image: ...}; then environment_name is NULL */
    /* environment: file:PATH (an environment YAML of the experiment, relative to job.yaml's folder): the
     * path as written after "file:". The server reads it into environment_inline. */
    char *environment_file;
    char *compute;              /* from azureml:NAME or NAME; NULL means "local" */
    char *experiment_name;
    char *display_name;
    char *name;
    char *description;
    spec_kvlist environment_variables;
    spec_kvlist inputs;         /* every input with a value, as strings (a data input's is its path) */
    /* Data inputs (uri_file, uri_folder, mlflow_model, custom_model): key = name, value = path as
     * written, pos = the path's position; their types and modes in the same order below. */
    spec_kvlist data_inputs;
    char **data_input_types, **data_input_modes;
    spec_kvlist outputs;        /* output names; value = its type ("uri_folder" when not written) */
    /* Outputs with `name:`: key = output, value = the data asset it becomes when the run completes;
     * the versions in the same order ("" = the next). */
    spec_kvlist output_assets, output_asset_versions;
    spec_kvlist output_paths;   /* outputs with `path:` (a datastore path): key = output, value = the path */
    spec_kvlist ignored;        /* keys written that mean nothing here (services, identity, resources.shm_size...) */
    spec_kvlist tags;
    long timeout_s;             /* limits.timeout; 0 = none */
    int instance_count;         /* resources.instance_count; default 1 */
    char *distribution;         /* distribution.type: pytorch | mpi | tensorflow | ray; NULL: none */
    int process_count_per_instance, worker_count, parameter_server_count; /* 0 = not written */
    spec_kvlist properties;     /* properties: free-form strings, as az ml keeps them */
    /* properties `amlfs.snapshot_max_mb` / `amlfs.snapshot_max_files`: this job's code snapshot
     * limits; 0 = the workspace's. Other `amlfs.` properties are refused (typos must not pass). */
    unsigned long long snapshot_max_mb, snapshot_max_files;
    /* property `amlfs.network`: 0 isolates a container run (--network=none); 1 or -1 (not written) gives it
     * the network, as Azure ML's jobs have. */
    int network;
    spec_pos command_pos, code_pos, environment_pos, compute_pos, distribution_pos;
} job_spec;

/* Each data input's limits (data is larger than code). */
#define SPEC_DATA_MAX_MB 20480ULL
#define SPEC_DATA_MAX_FILES 200000ULL

/* The most processes per node, or nodes, a job may ask for. */
#define SPEC_MAX_RANKS 256
#define SPEC_MAX_RANKS_TEXT "256"

/* compute.yaml. */
typedef struct compute_spec {
    char *name;
    char *type;                 /* local | amlcompute | slurm ... (validated by the server) */
    char *description;
    char *size;
    char *tier;
    int min_instances;          /* default 0 */
    int max_instances;          /* 0 = not written */
    long idle_time_before_scale_down;
    spec_kvlist extra;          /* type-specific keys (e.g. slurm's), validated by the compute */
    spec_kvlist ignored;        /* provisioning keys written (size, tier, ...): they mean nothing here */
    spec_pos name_pos, type_pos, max_instances_pos;
} compute_spec;

/* data.yaml: a data asset version. */
typedef struct data_spec {
    char *name;
    int version;                /* 0: the next one */
    char *description;
    char *type;                 /* uri_folder (default) | uri_file | mlflow_model | custom_model */
    char *path;                 /* as written: relative to data.yaml's folder, or absolute */
    spec_kvlist tags;
    spec_pos name_pos, type_pos, path_pos;
} data_spec;
int spec_parse_data(const char *text, size_t len, const char *filename, data_spec *out, amlfs_err *err);
void spec_data_free(data_spec *s);

/* datastore.yaml (`type: azure_blob`). Secrets: account_key, sas_token. */
/* What a secret reads back as in every file of the mount. */
#define SPEC_SECRET_MASK "***"
typedef struct datastore_spec {
    char *name, *type, *description;
    char *account_name, *container_name;
    char *endpoint;             /* "core.windows.net" (default), or a whole URL (Azurite: http://127.0.0.1:PORT/ACCOUNT) */
    char *protocol;             /* https (default) | http */
    char *account_key, *sas_token;
    spec_pos name_pos, type_pos, account_pos, endpoint_pos, credentials_pos;
    /* Where the credential's value is in the text (bytes [secret_start, secret_end)): a "***" written
     * back is replaced there by the secret stored before. */
    size_t secret_start, secret_end;
} datastore_spec;
int spec_parse_datastore(const char *text, size_t len, const char *filename, datastore_spec *out, amlfs_err *err);
void spec_datastore_free(datastore_spec *s);

/* Parse + validate. `filename` names the file in messages ("job.yaml line 4 column 10: ...").
 * Errors: -EINVAL with a one-line message for YAML that does not parse, unknown keys (with
 * "did you mean 'x'?"), wrong types, missing required keys, exclusive keys written together, and a
 * conda file given as the environment. Output-only keys (status, log_files) are ignored. */
int spec_parse_env(const char *text, size_t len, const char *filename, env_spec *out, amlfs_err *err);
int spec_parse_job(const char *text, size_t len, const char *filename, job_spec *out, amlfs_err *err);
int spec_parse_compute(const char *text, size_t len, const char *filename, compute_spec *out,
                       amlfs_err *err);

void spec_env_free(env_spec *s);
void spec_kvlist_add(spec_kvlist *l, const char *key, const char *value, spec_pos pos);
void spec_kvlist_free(spec_kvlist *l);
/* The value of `key` in a list (first match), NULL when absent. */
const char *spec_kvlist_get(const spec_kvlist *l, const char *key);
void spec_job_free(job_spec *s);

/* An output's datastore path with ${{name}} (the run id) and ${{output_name}} replaced, as az ml does;
 * -EINVAL for any other expression. *out is malloc'd. */
int spec_output_path_expand(const char *path, const char *run_id, const char *output, char **out);
/* A uri_file output is one file in its folder RUN_DIR/work/outputs/NAME: named as the last part of its
 * `path:` (expanded for run_id), or the output's name without one. Malloc'd. */
char *spec_output_file_name(const char *path, const char *run_id, const char *output);

/* What ${{inputs.NAME}} and ${{outputs.NAME}} become when the server has placed them (absolute paths);
 * NULL lists keep the written values (outputs: ./outputs/NAME). */
typedef struct spec_render_values {
    const spec_kvlist *inputs, *outputs;
} spec_render_values;
void spec_compute_free(compute_spec *s);

/* How many nodes the job spans and how many processes each starts (distribution's
 * process_count_per_instance, or tensorflow's worker_count spread over the nodes). -EINVAL, with the
 * distribution's position, for what cannot run here (ray, parameter servers, uneven workers). */
int spec_job_ranks(const job_spec *s, const char *filename, int *nodes, int *per_node, amlfs_err *err);

/* The command with every ${{inputs.NAME}} replaced by its literal; an unknown input is -EINVAL with
 * the command's position. ${{outputs.NAME}} becomes ./outputs/NAME. */
int spec_job_render_command(const job_spec *s, const spec_render_values *values, const char *filename, char **out,
                            amlfs_err *err);

/* The job.yaml kept with a run: the submitted text with `environment:` pinned to azureml:NAME:VERSION
 * (unless environment is NULL: an inline one stays as written) and `compute:` to azureml:NAME. */
int spec_job_pin_references(const char *yaml, size_t len, const char *environment, const char *environment_version,
                            const char *compute, char **out, amlfs_err *err);
/* Where the value of a top-level key is ({0, 0} when absent or the text does not parse). */
spec_pos spec_key_pos(const char *yaml, size_t len, const char *key);

/* The closest of `known` (NULL-terminated) to `word` when it is a likely typo, else NULL. Also for a
 * compute type's own keys, which the compute checks. */
const char *spec_closest(const char *word, const char *const *known);

/* A whole number written as text ("42"), nothing else around it; -EINVAL otherwise. */
int spec_parse_long_text(const char *text, long *out);

/* A message for a spec problem at a position: "FILE line L column C: MESSAGE". */
int spec_fail_at(amlfs_err *err, int errnum, const char *filename, spec_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* JSON views for the API. Secrets come out as "***". */
cJSON *spec_env_to_json(const env_spec *s);
cJSON *spec_job_to_json(const job_spec *s);
cJSON *spec_compute_to_json(const compute_spec *s);

/* The inline `environment:` mapping of a job.yaml as a standalone environment.yaml text (secrets
 * kept). -EINVAL when the job names its environment instead. */
int spec_job_inline_env_yaml(const char *text, size_t len, const char *filename, char **out, amlfs_err *err);

/* An environment's YAML text with `build.path` (added when the build mapping has none) and `conda_file`
 * set to the given paths (NULL: kept as written); the rest of the mapping is kept, secrets included.
 * For a job's anonymous environment, whose context the server keeps in the environment's own folder. */
int spec_env_yaml_relocate(const char *yaml, size_t len, const char *build_path, const char *conda_file, char **out,
                           amlfs_err *err);

/* YAML text with the value of every secret key (image_registry.password) replaced by ***,
 * positions and everything else kept. */
char *spec_redact_yaml(const char *text, size_t len);

#endif
