/* test_spec.c: the spec layer: good az ml YAML files parse into the right fields; each kind of bad
 * file fails at the right line and column with an actionable message; render, redaction, JSON. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/spec.h"
#include "amlfs/spec_yaml.h"
#include "amlfs/util.h"

#include "check.h"

static int streq(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

static const char *nz(const char *s)
{
    return s ? s : "(null)";
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

typedef enum { ENV, JOB, COMPUTE } spec_kind;

/* One file and what parsing it must give: success (line 0), or an error at line/column whose
 * message contains `fragment`. */
typedef struct parse_case {
    const char *what;
    spec_kind kind;
    const char *yaml;
    int line, col;
    const char *fragment;
} parse_case;

static const parse_case cases[] = {
    /* good files */
    {"env from image (az ml docs)", ENV,
     "$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
     "name: docker-image-example\nimage: pytorch/pytorch:latest\n"
     "description: Environment created from a Docker image.\n",
     0, 0, NULL},
    {"env without a name", ENV, "image: python:3.11\n", 0, 0, NULL},
    {"env with build", ENV, "name: docker-context-example\nbuild:\n  path: docker-contexts/python-and-pip\n", 0, 0,
     NULL},
    {"env user managed, nothing else", ENV, "user_managed_dependencies: true\n", 0, 0, NULL},
    {"env ignored keys", ENV, "image: x\ninference_config: {liveness_route: {port: 5001}}\nproperties: {a: 1}\n", 0,
     0, NULL},
    {"job minimal", JOB, "command: echo hi\nenvironment: azureml:py@latest\n", 0, 0, NULL},
    {"job output-only keys ignored", JOB,
     "command: echo hi\nenvironment: py\nstatus: Completed\nlog_files: null\nservices: {s: {type: jupyter_lab}}\n"
     "identity: {type: user_identity}\nqueue_settings: {job_tier: standard}\nproperties: {a: b}\n",
     0, 0, NULL},
    {"compute amlcompute (az ml docs)", COMPUTE,
     "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu-cluster\n"
     "type: amlcompute\nsize: STANDARD_DS3_v2\nmin_instances: 0\nmax_instances: 4\n"
     "idle_time_before_scale_down: 120\ntier: low_priority\nlocation: westus\n",
     0, 0, NULL},
    {"compute empty-ish", COMPUTE, "max_instances: 2\n", 0, 0, NULL},

    /* files that do not parse, or have the wrong shape */
    {"env YAML syntax error", ENV, "name: x\nimage: [python\n", 3, 1, "did not find expected ',' or ']'"},
    {"job tab indentation", JOB, "command: x\nenvironment:\n\timage: y\n", 3, 1, "found character that cannot start"},
    {"job tab hint", JOB, "command: x\nenvironment:\n\timage: y\n", 3, 1, "indented with a tab; YAML indents with spaces"},
    {"env empty file", ENV, "", 1, 1, "the file is empty"},
    {"env comments only", ENV, "# nothing yet\n", 1, 1, "the file is empty"},
    {"job top level is a list", JOB, "- command: x\n", 1, 1, "must be a mapping of keys"},
    {"job top level is a scalar", JOB, "python train.py\n", 1, 1, "not a single value"},
    {"job two documents", JOB, "command: x\nenvironment: e\n---\ncommand: y\n", 4, 1, "a second YAML document"},
    {"job duplicate key", JOB, "command: x\nenvironment: e\ncommand: y\n", 3, 1, "'command' is written twice"},

    /* unknown keys at every level */
    {"env did you mean image", ENV, "name: x\nimagee: python:3.11\n", 2, 1,
     "unknown key 'imagee' in environment (did you mean 'image'?)"},
    {"env unknown key lists known", ENV, "image: x\nfrobnicate: 1\n", 2, 1,
     "unknown key 'frobnicate' in environment (known: $schema, name, version,"},
    {"env build did you mean", ENV, "build:\n  pth: .\n", 2, 3, "unknown key 'pth' in build (did you mean 'path'?)"},
    {"env image_registry did you mean", ENV, "image: x\nimage_registry:\n  address: r.io\n  passwd: s\n", 4, 3,
     "unknown key 'passwd' in image_registry (did you mean 'password'?)"},
    {"job did you mean command", JOB, "comand: x\nenvironment: e\n", 1, 1,
     "unknown key 'comand' in job (did you mean 'command'?)"},
    {"job limits did you mean", JOB, "command: x\nenvironment: e\nlimits:\n  timout: 5\n", 4, 3,
     "unknown key 'timout' in limits (did you mean 'timeout'?)"},
    {"job resources did you mean", JOB, "command: x\nenvironment: e\nresources: {instance_cnt: 2}\n", 3, 13,
     "unknown key 'instance_cnt' in resources (did you mean 'instance_count'?)"},
    {"job distribution did you mean", JOB, "command: x\nenvironment: e\ndistribution:\n  tpye: pytorch\n", 4, 3,
     "unknown key 'tpye' in distribution (did you mean 'type'?)"},
    {"job input did you mean", JOB,
     "command: x\nenvironment: e\ninputs:\n  lr:\n    type: number\n    defualt: 0.1\n", 6, 5,
     "unknown key 'defualt' in input 'lr' (did you mean 'default'?)"},
    {"job output did you mean", JOB, "command: x\nenvironment: e\noutputs:\n  model: {type: uri_folder, mdoe: rw}\n",
     4, 29, "unknown key 'mdoe' in output 'model' (did you mean 'mode'?)"},
    {"docker_args changes what runs", JOB,
     "command: x\nenvironment: e\nresources:\n  shm_size: 8g\n  docker_args: --ipc=host\n", 5, 16,
     "resources.docker_args is not taken here: it changes how the job's container runs"},
    {"output mode of an input", JOB, "command: x\nenvironment: e\noutputs:\n  m: {type: uri_folder, mode: download}\n",
     4, 31, "output 'm' has mode 'download'; an output's mode is rw_mount or upload"},
    {"job inline env did you mean", JOB, "command: x\nenvironment:\n  imag: python:3.11\n", 3, 3,
     "unknown key 'imag' in environment (did you mean 'image'?)"},
    {"compute near-miss is refused", COMPUTE, "name: c\nmax_instance: 4\n", 2, 1,
     "unknown key 'max_instance' in compute (did you mean 'max_instances'?)"},

    /* wrong types and values */
    {"job command is a list", JOB, "command: [a, b]\nenvironment: e\n", 1, 10, "'command' must be a string"},
    {"job timeout not a number", JOB, "command: x\nenvironment: e\nlimits: {timeout: abc}\n", 3, 19,
     "'timeout' must be a whole number of seconds"},
    {"job limits is a list", JOB, "command: x\nenvironment: e\nlimits: [1]\n", 3, 9, "'limits' must be a mapping"},
    {"job instance_count 0", JOB, "command: x\nenvironment: e\nresources:\n  instance_count: 0\n", 4, 19,
     "'instance_count' must be a whole number from 1 to 256"},
    {"job integer input not integer", JOB,
     "command: x\nenvironment: e\ninputs:\n  epochs: {type: integer, default: ten}\n", 4, 36,
     "input 'epochs' is an integer but its value 'ten' is not a whole number"},
    {"job input unknown type", JOB, "command: x\nenvironment: e\ninputs:\n  f: {type: uri_flie, path: a}\n", 4, 13,
     "input 'f' has an unknown type 'uri_flie' (did you mean 'uri_file'?)"},
    {"job input without value", JOB, "command: x\nenvironment: e\ninputs:\n  f:\n", 4, 3, "input 'f' has no value"},
    {"job env var bad name", JOB, "command: x\nenvironment: e\nenvironment_variables:\n  MY-VAR: 1\n", 4, 11,
     "environment variable name 'MY-VAR' is not valid"},
    {"job env var nested", JOB, "command: x\nenvironment: e\nenvironment_variables:\n  A: {b: c}\n", 4, 6,
     "'environment_variables' values must be single values"},
    {"job type sweep first", JOB, "type: sweep\ntrial: {command: x}\nsampling_algorithm: random\n", 1, 7,
     "this is a sweep job: only command jobs run here"},
    {"job input mltable", JOB, "command: x\nenvironment: e\ninputs:\n  t: {type: mltable, path: ./t}\n", 4, 6,
     "input 't' is of type mltable, which amlfs cannot read"},
    {"job optional input", JOB, "command: x $[[--s ${{inputs.s}}]]\nenvironment: e\ninputs:\n  s: {type: integer, optional: maybe}\n",
     4, 32, "optional must be true or false"},
    {"job output type", JOB, "command: x\nenvironment: e\noutputs:\n  m: {type: mltable}\n", 4, 13,
     "output 'm' has type 'mltable'"},
    {"job type pipeline", JOB, "type: pipeline\ncommand: x\nenvironment: e\n", 1, 7, "this is a pipeline job: only command jobs run here"},
    {"job distribution bad type", JOB, "command: x\nenvironment: e\ndistribution: {type: pytorh}\n", 3, 22,
     "distribution type must be pytorch, mpi, tensorflow or ray (did you mean 'pytorch'?)"},
    {"env image and build", ENV, "image: python:3.11\nbuild:\n  path: .\n", 3, 3,
     "'image' and 'build' cannot both be written"},
    {"env conda file as environment", ENV, "name: x\nchannels: [conda-forge]\ndependencies: [python=3.10]\n", 2, 1,
     "looks like a conda file, not an environment: put it in conda.yml and write `conda_file: conda.yml`"},
    {"env bad name", ENV, "name: my env\nimage: x\n", 1, 7, "'my env' is not a valid environment name"},
    {"env os_type", ENV, "image: x\nos_type: macos\n", 2, 10, "'os_type' must be linux or windows"},
    {"env user_managed not bool", ENV, "user_managed_dependencies: maybe\n", 1, 28, "must be true or false"},
    {"env conda_file list", ENV, "image: x\nconda_file: [a]\n", 2, 13, "'conda_file' must be a path"},
    {"env registry without address", ENV, "image: x\nimage_registry: {username: u}\n", 2, 17, "needs an 'address'"},
    {"compute max_instances 0", COMPUTE, "max_instances: 0\n", 1, 16, "'max_instances' must be a whole number, at least 1"},
    {"compute bad tier", COMPUTE, "tier: gold\n", 1, 7, "'tier' must be dedicated or low_priority"},
    {"compute min above max", COMPUTE, "min_instances: 5\nmax_instances: 2\n", 1, 16, "larger than max_instances"},
    {"compute bad name", COMPUTE, "name: -c\n", 1, 7, "not a valid compute name"},

    /* missing or wrong references */
    {"job missing command", JOB, "environment: azureml:py@latest\n", 1, 1,
     "missing 'command': the shell command the job runs"},
    {"job command without value", JOB, "command:\nenvironment: e\n", 1, 9, "no value for 'command'"},
    {"job empty command", JOB, "command: '  '\nenvironment: e\n", 1, 10, "'command' is empty"},
    {"job missing environment", JOB, "command: x\n", 1, 1,
     "missing 'environment': write e.g. `environment: azureml:NAME@latest`"},
    {"job environment label", JOB, "command: x\nenvironment: azureml:py@stable\n", 2, 14,
     "the only label here is '@latest'"},
    {"job environment list", JOB, "command: x\nenvironment: [a]\n", 2, 14, "'environment' must be a reference"},
    {"job environment registry ref", JOB, "command: x\nenvironment: azureml://registries/r/environments/e/versions/1\n",
     0, 0, NULL},
    {"job environment registry label", JOB,
     "command: x\nenvironment: azureml://registries/azureml/environments/sklearn-1.5/labels/stable\n", 2, 14,
     "environment 'azureml://registries/azureml/environments/sklearn-1.5/labels/stable': the only label here is "
     "'latest'"},
    {"job environment registry without version", JOB,
     "command: x\nenvironment: azureml://registries/azureml/environments/sklearn-1.5\n", 2, 14,
     "is not a registry environment: write azureml://registries/REGISTRY/environments/NAME/labels/latest"},
    {"job environment registry bad name", JOB,
     "command: x\nenvironment: azureml://registries/azureml/environments/sk learn/labels/latest\n", 2, 14,
     "'sk learn' is not a valid environment name"},
    {"job environment datastore", JOB, "command: x\nenvironment: azureml://datastores/d/paths/env.yml\n", 2, 14,
     "is not an environment reference"},
    {"job environment file without a path", JOB, "command: x\nenvironment: 'file:'\n", 2, 14,
     "environment 'file:' names no file: write e.g. `environment: file:./environment.yml`"},
    {"job bad experiment name", JOB, "command: x\nenvironment: e\nexperiment_name: my exp\n", 3, 18,
     "'my exp' is not a valid experiment name"},
    {"job bad compute name", JOB, "command: x\nenvironment: e\ncompute: azureml:gpu cluster\n", 3, 10,
     "'gpu cluster' is not a valid compute name"},
};

static void run_parse_case(const parse_case *c)
{
    amlfs_err err = {0};
    int rc;
    size_t len = strlen(c->yaml);
    const char *file = c->kind == ENV ? "environment.yaml" : c->kind == JOB ? "job.yaml" : "compute.yaml";
    env_spec env;
    job_spec job;
    compute_spec comp;
    memset(&env, 0xAB, sizeof env);
    memset(&job, 0xAB, sizeof job);
    memset(&comp, 0xAB, sizeof comp);
    const void *spec = NULL;
    size_t spec_size = 0;
    switch (c->kind) {
    case ENV:
        rc = spec_parse_env(c->yaml, len, file, &env, &err);
        spec = &env, spec_size = sizeof env;
        break;
    case JOB:
        rc = spec_parse_job(c->yaml, len, file, &job, &err);
        spec = &job, spec_size = sizeof job;
        break;
    default:
        rc = spec_parse_compute(c->yaml, len, file, &comp, &err);
        spec = &comp, spec_size = sizeof comp;
        break;
    }
    if (!c->line) {
        CHECK(rc == 0, "%s: expected success, got %d: %s", c->what, rc, err.msg);
    } else {
        char where[128];
        snprintf(where, sizeof where, "%s line %d column %d: ", file, c->line, c->col);
        CHECK(rc == -EINVAL && err.code == EINVAL, "%s: expected -EINVAL, got %d", c->what, rc);
        CHECK(!strncmp(err.msg, where, strlen(where)), "%s: expected position '%s', got '%s'", c->what, where,
              err.msg);
        CHECK(strstr(err.msg, c->fragment) != NULL, "%s: expected '%s' in '%s'", c->what, c->fragment, err.msg);
        CHECK(!strchr(err.msg, '\n'), "%s: message is not one line: '%s'", c->what, err.msg);
        CHECK(all_zero(spec, spec_size), "%s: the output struct is not zeroed after an error", c->what);
    }
    if (c->kind == ENV)
        spec_env_free(&env);
    else if (c->kind == JOB)
        spec_job_free(&job);
    else
        spec_compute_free(&comp);
}

static void test_env_fields(void)
{
    amlfs_err err = {0};
    env_spec e;
    const char *y = "name: reg-env\nversion: 2\ndescription: d\nimage: private.io/img:1\nos_type: Linux\n"
                    "user_managed_dependencies: false\n"
                    "image_registry:\n  address: private.io\n  username: me\n  password: s3cret\n"
                    "tags: {team: ml, n: 3}\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0, "env fields: %s", err.msg);
    CHECK(streq(e.name, "reg-env") && streq(e.version, "2") && streq(e.image, "private.io/img:1"), "env strings");
    CHECK(e.name_pos.line == 1 && e.name_pos.col == 7 && e.image_pos.line == 4, "env positions");
    CHECK(streq(e.os_type, "linux") && e.user_managed == 0 && !e.has_build, "env os/user_managed");
    CHECK(streq(e.registry_address, "private.io") && streq(e.registry_username, "me") &&
              streq(e.registry_password, "s3cret"),
          "env registry");
    CHECK(e.tags.count == 2 && streq(spec_kvlist_get(&e.tags, "n"), "3"), "env tags");
    cJSON *j = spec_env_to_json(&e);
    char *text = cJSON_PrintUnformatted(j);
    CHECK(text && !strstr(text, "s3cret") && strstr(text, "\"password\":\"***\""), "env JSON hides the password: %s",
          nz(text));
    CHECK(text && strstr(text, "\"version\":\"2\"") && strstr(text, "\"user_managed_dependencies\":false"),
          "env JSON fields: %s", nz(text));
    free(text);
    cJSON_Delete(j);
    spec_env_free(&e);
    CHECK(all_zero(&e, sizeof e), "env free zeroes");
    spec_env_free(&e); /* twice is safe */

    y = "version: 1.5\nuser_managed_dependencies: yes\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0, "env float version: %s", err.msg);
    CHECK(streq(e.version, "1.5") && e.user_managed == 1 && !e.name && streq(e.os_type, "linux"), "version as written");
    spec_env_free(&e);

    y = "build:\n  path: ctx\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0, "env build: %s", err.msg);
    CHECK(e.has_build && streq(e.build_path, "ctx") && streq(e.build_dockerfile, "Dockerfile") &&
              e.build_pos.line == 2 && e.user_managed == -1,
          "env build defaults");
    spec_env_free(&e);

    y = "image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04\n"
        "conda_file:\n  name: model-env\n  channels:\n    - conda-forge\n  dependencies:\n    - python=3.10\n"
        "    - pip:\n      - numpy==1.26\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0, "env inline conda: %s", err.msg);
    CHECK(e.conda_file_inline && strstr(e.conda_file_inline, "channels:") &&
              strstr(e.conda_file_inline, "- conda-forge") && strstr(e.conda_file_inline, "numpy==1.26") &&
              !e.conda_file_path,
          "inline conda kept as YAML: %s", nz(e.conda_file_inline));
    /* the kept text is itself a valid environment-independent YAML mapping */
    env_spec again;
    amlfs_err err2 = {0};
    int rc = spec_parse_env(e.conda_file_inline, strlen(e.conda_file_inline), "conda", &again, &err2);
    CHECK(rc == -EINVAL && strstr(err2.msg, "looks like a conda file"), "inline conda re-parses: %s", err2.msg);
    spec_env_free(&e);

    y = "image: x\nconda_file: conda.yml\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0 && streq(e.conda_file_path, "conda.yml"),
          "conda_file path");
    spec_env_free(&e);

    /* not NUL-terminated input: only len bytes are read */
    char buf[32];
    memcpy(buf, "image: abcdef", 13);
    memset(buf + 13, 'X', sizeof buf - 13);
    CHECK(spec_parse_env(buf, 13, "environment.yaml", &e, &err) == 0 && streq(e.image, "abcdef"), "len respected");
    spec_env_free(&e);
}

static void test_job_fields(void)
{
    amlfs_err err = {0};
    job_spec j;
    const char *y =
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        "code: src\n"
        "command: >-\n"
        "  python main.py --iris-csv ${{inputs.iris_csv}} --epochs ${{ inputs.epochs }}\n"
        "  --lr ${{inputs.lr}} --out ${{outputs.model}}\n"
        "inputs:\n"
        "  iris_csv:\n    type: uri_file\n    path: data/iris.csv\n"
        "  epochs: 10\n"
        "  lr: {type: number, default: 0.01}\n"
        "  flag: {type: boolean, value: true}\n"
        "outputs:\n  model:\n    type: uri_folder\n  other:\n"
        "environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n"
        "compute: azureml:cpu-cluster\n"
        "display_name: sklearn iris example\n"
        "experiment_name: sklearn-iris-example\n"
        "name: run-001\n"
        "description: Train a scikit-learn SVM on the Iris dataset.\n"
        "environment_variables: {FOO: bar, N: 3, EMPTY: }\n"
        "tags: {a: b}\n"
        "limits: {timeout: 3600}\n"
        "resources: {instance_count: 2, instance_type: Standard_D2, shm_size: 2g}\n"
        "distribution: {type: pytorch, process_count_per_instance: 2}\n";
    CHECK(spec_parse_job(y, strlen(y), "job.yaml", &j, &err) == 0, "job fields: %s", err.msg);
    CHECK(streq(j.code, "src") && j.code_pos.line == 2 && j.code_pos.col == 7, "job code");
    CHECK(streq(j.environment_name, "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu") && !j.environment_version &&
              !j.environment_inline && j.environment_pos.line == 17,
          "job environment @latest");
    CHECK(streq(j.compute, "cpu-cluster") && j.compute_pos.line == 18, "job compute");
    CHECK(streq(j.experiment_name, "sklearn-iris-example") && streq(j.display_name, "sklearn iris example") &&
              streq(j.name, "run-001"),
          "job names");
    CHECK(j.inputs.count == 4 && streq(spec_kvlist_get(&j.inputs, "iris_csv"), "data/iris.csv") &&
              streq(spec_kvlist_get(&j.inputs, "epochs"), "10") && streq(spec_kvlist_get(&j.inputs, "lr"), "0.01") &&
              streq(spec_kvlist_get(&j.inputs, "flag"), "true"),
          "job inputs");
    CHECK(j.environment_variables.count == 3 && streq(spec_kvlist_get(&j.environment_variables, "N"), "3") &&
              streq(spec_kvlist_get(&j.environment_variables, "EMPTY"), ""),
          "job environment_variables");
    CHECK(j.timeout_s == 3600 && j.instance_count == 2 && j.tags.count == 1, "job limits/resources");
    CHECK(j.command_pos.line == 3 && j.command_pos.col == 10, "command position %d:%d", j.command_pos.line,
          j.command_pos.col);

    char *cmd = NULL;
    CHECK(spec_job_render_command(&j, NULL, "job.yaml", &cmd, &err) == 0, "render: %s", err.msg);
    CHECK(streq(cmd, "python main.py --iris-csv data/iris.csv --epochs 10 --lr 0.01 --out ./outputs/model"),
          "rendered: %s", nz(cmd));
    free(cmd);

    cJSON *o = spec_job_to_json(&j);
    char *text = cJSON_PrintUnformatted(o);
    CHECK(text && strstr(text, "\"compute\":\"cpu-cluster\"") && strstr(text, "\"epochs\":\"10\"") &&
              strstr(text, "\"timeout_s\":3600"),
          "job JSON: %s", nz(text));
    free(text);
    cJSON_Delete(o);
    spec_job_free(&j);
    CHECK(all_zero(&j, sizeof j), "job free zeroes");

    /* reference forms */
    static const struct {
        const char *ref, *name, *version;
    } refs[] = {
        {"azureml:py:3", "py", "3"},
        {"py", "py", NULL},
        {"py:7", "py", "7"},
        {"azureml:py@latest", "py", NULL},
        {"azureml:/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/"
         "environments/py/versions/4",
         "py", "4"},
        /* versions with names, as az ml allows */
        {"azureml:pytorch-ngc:22.02-py3", "pytorch-ngc", "22.02-py3"},
        /* a registry's environment is this workspace's environment of that name */
        {"azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "sklearn-1.5", NULL},
        {"azureml://registries/azureml/environments/sklearn-1.5/versions/22", "sklearn-1.5", "22"},
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        char *doc = NULL;
        if (asprintf(&doc, "command: x\nenvironment: %s\ncompute: local\n", refs[i].ref) < 0)
            abort();
        int rc = spec_parse_job(doc, strlen(doc), "job.yaml", &j, &err);
        CHECK(rc == 0 && streq(j.environment_name, refs[i].name) && streq(j.environment_version, refs[i].version) &&
                  streq(j.compute, "local"),
              "environment reference '%s': rc %d %s", refs[i].ref, rc, err.msg);
        spec_job_free(&j);
        free(doc);
    }

    /* the registry and the reference are kept, for the run to say what it resolved */
    y = "command: x\nenvironment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n";
    CHECK(spec_parse_job(y, strlen(y), "job.yaml", &j, &err) == 0 && streq(j.environment_registry, "azureml") &&
              streq(j.environment_reference, "azureml://registries/azureml/environments/sklearn-1.5/labels/latest") &&
              !j.environment_file,
          "registry reference: %s", err.msg);
    o = spec_job_to_json(&j);
    text = cJSON_PrintUnformatted(o);
    CHECK(text && strstr(text, "\"environment_reference\":\"azureml://registries/azureml/environments/sklearn-1.5/"
                               "labels/latest\""),
          "registry reference JSON: %s", nz(text));
    free(text);
    cJSON_Delete(o);
    spec_job_free(&j);
    y = "command: x\nenvironment: azureml:py:1\n";
    CHECK(spec_parse_job(y, strlen(y), "job.yaml", &j, &err) == 0 && !j.environment_registry &&
              !j.environment_reference,
          "a workspace reference has no registry");
    spec_job_free(&j);

    /* file:PATH: an environment file of the experiment, read by the server */
    y = "command: x\nenvironment: file:./envs/env.yml\n";
    CHECK(spec_parse_job(y, strlen(y), "job.yaml", &j, &err) == 0 && streq(j.environment_file, "./envs/env.yml") &&
              streq(j.environment_reference, "file:./envs/env.yml") && !j.environment_name &&
              !j.environment_inline && j.environment_pos.line == 2 && j.environment_pos.col == 14,
          "environment file: %s", err.msg);
    spec_job_free(&j);

    /* inline environment, no compute (local) */
    y = "command: python -c 'print(1)'\nenvironment:\n  image: python:3.11\n  conda_file: conda.yml\n";
    CHECK(spec_parse_job(y, strlen(y), "job.yaml", &j, &err) == 0, "inline env: %s", err.msg);
    CHECK(j.environment_inline && streq(j.environment_inline->image, "python:3.11") &&
              streq(j.environment_inline->conda_file_path, "conda.yml") && !j.environment_name && !j.compute &&
              j.instance_count == 1 && j.timeout_s == 0,
          "inline env fields");
    o = spec_job_to_json(&j);
    text = cJSON_PrintUnformatted(o);
    CHECK(text && strstr(text, "\"environment_inline\":{\"image\":\"python:3.11\"") &&
              strstr(text, "\"compute\":\"local\""),
          "inline env JSON: %s", nz(text));
    free(text);
    cJSON_Delete(o);
    spec_job_free(&j);
}

/* A job's anonymous environment keeps its context and conda file in its own folder: the text's paths move
 * there, and nothing else changes (secrets included: the server keeps them). */
static void test_env_relocate(void)
{
    amlfs_err err = {0};
    env_spec e;
    char *out = NULL;
    const char *y = "build:\n  path: docker-context\n  dockerfile_path: Dockerfile.gpu\nconda_file: envs/conda.yml\n"
                    "description: x\ntags: {path: keep, conda_file: keep}\n";
    CHECK(spec_env_yaml_relocate(y, strlen(y), "context", "conda.yml", &out, &err) == 0, "relocate: %s", err.msg);
    CHECK(out && spec_parse_env(out, strlen(out), "environment.yaml", &e, &err) == 0 &&
              streq(e.build_path, "context") && streq(e.build_dockerfile, "Dockerfile.gpu") &&
              streq(e.conda_file_path, "conda.yml") && streq(e.description, "x") && e.tags.count == 2 &&
              streq(spec_kvlist_get(&e.tags, "path"), "keep") && streq(spec_kvlist_get(&e.tags, "conda_file"), "keep"),
          "relocated: %s", nz(out));
    spec_env_free(&e);
    free(out);
    y = "build: {dockerfile_path: D}\n";
    CHECK(spec_env_yaml_relocate(y, strlen(y), "context", NULL, &out, &err) == 0 && out &&
              spec_parse_env(out, strlen(out), "environment.yaml", &e, &err) == 0 && streq(e.build_path, "context") &&
              streq(e.build_dockerfile, "D") && !e.conda_file_path,
          "a build without a path gets one: %s", nz(out));
    spec_env_free(&e);
    free(out);
    y = "image: x\nimage_registry: {address: r, password: s3cret}\nconda_file: c.yml\n";
    CHECK(spec_env_yaml_relocate(y, strlen(y), NULL, "conda.yml", &out, &err) == 0 && out &&
              spec_parse_env(out, strlen(out), "environment.yaml", &e, &err) == 0 && streq(e.conda_file_path, "conda.yml") &&
              streq(e.registry_password, "s3cret") && !e.has_build,
          "conda only, the password kept: %s", nz(out));
    spec_env_free(&e);
    free(out);
    /* Where build.path and conda_file were written, for messages about them. */
    y = "build:\n  path: ctx\nconda_file: c.yml\n";
    CHECK(spec_parse_env(y, strlen(y), "environment.yaml", &e, &err) == 0 && e.build_path_pos.line == 2 &&
              e.build_path_pos.col == 9 && e.conda_file_pos.line == 3 && e.conda_file_pos.col == 13,
          "positions: %d:%d %d:%d", e.build_path_pos.line, e.build_path_pos.col, e.conda_file_pos.line,
          e.conda_file_pos.col);
    spec_env_free(&e);
}

static void test_render(void)
{
    static const struct {
        const char *what, *yaml, *expect, *fragment;
    } rc_cases[] = {
        {"whitespace and outputs", "command: run ${{  inputs.a }} ${{inputs.b}} > ${{outputs.log}}/x\n"
                                   "environment: e\ninputs: {a: 1, b: two words}\n",
         "run 1 two words > ./outputs/log/x", NULL},
        {"optional section kept", "command: run $[[--a ${{inputs.a}}]] end\nenvironment: e\ninputs: {a: 1}\n",
         "run --a 1 end", NULL},
        {"optional section dropped", "command: run $[[--z ${{inputs.z}}]] end\nenvironment: e\ninputs: {a: 1}\n",
         "run  end", NULL},
        {"no placeholders", "command: echo $HOME ${PATH}\nenvironment: e\n", "echo $HOME ${PATH}", NULL},
        {"unknown input lists known", "command: run ${{inputs.x}}\nenvironment: e\ninputs: {a: 1, b: 2}\n", NULL,
         "job.yaml line 1 column 10: command uses ${{inputs.x}} but inputs has no 'x' (known: a, b)"},
        {"unknown input did you mean", "command: run ${{inputs.epoch}}\nenvironment: e\ninputs: {epochs: 1}\n", NULL,
         "but inputs has no 'epoch' (did you mean 'epochs'?)"},
        {"no inputs at all", "command: run ${{inputs.x}}\nenvironment: e\n", NULL,
         "command uses ${{inputs.x}} but the job has no inputs"},
        {"unclosed", "command: run ${{inputs.x\nenvironment: e\ninputs: {x: 1}\n", NULL, "without a closing '}}'"},
        {"unknown expression", "command: run ${{jobs.x}}\nenvironment: e\n", NULL, "only ${{inputs.NAME}}"},
    };
    for (size_t i = 0; i < sizeof rc_cases / sizeof rc_cases[0]; i++) {
        amlfs_err err = {0};
        job_spec j;
        int rc = spec_parse_job(rc_cases[i].yaml, strlen(rc_cases[i].yaml), "job.yaml", &j, &err);
        CHECK(rc == 0, "render %s: parse: %s", rc_cases[i].what, err.msg);
        char *cmd = (char *)"unset";
        rc = spec_job_render_command(&j, NULL, "job.yaml", &cmd, &err);
        if (rc_cases[i].expect) {
            CHECK(rc == 0 && streq(cmd, rc_cases[i].expect), "render %s: got rc %d '%s'", rc_cases[i].what, rc,
                  rc == 0 ? nz(cmd) : err.msg);
            if (rc == 0)
                free(cmd);
        } else {
            CHECK(rc == -EINVAL && !cmd && strstr(err.msg, rc_cases[i].fragment), "render %s: got rc %d '%s'",
                  rc_cases[i].what, rc, err.msg);
        }
        spec_job_free(&j);
    }
}

static void test_compute_fields(void)
{
    amlfs_err err = {0};
    compute_spec c;
    const char *y = "name: cpu-slurm\ntype: slurm\ndescription: one node\nmax_instances: 3\n"
                    "partition: debug\ntime: 10\nslurm:\n  url: http://localhost:6820\n  account: ml\nempty:\n";
    CHECK(spec_parse_compute(y, strlen(y), "compute.yaml", &c, &err) == 0, "compute: %s", err.msg);
    CHECK(streq(c.name, "cpu-slurm") && streq(c.type, "slurm") && c.max_instances == 3 && c.min_instances == 0 &&
              c.max_instances_pos.line == 4 && c.type_pos.line == 2 && c.name_pos.col == 7,
          "compute fields");
    CHECK(c.extra.count == 4 && streq(spec_kvlist_get(&c.extra, "partition"), "debug") &&
              streq(spec_kvlist_get(&c.extra, "time"), "10") &&
              strstr(spec_kvlist_get(&c.extra, "slurm"), "url: http://localhost:6820") &&
              streq(spec_kvlist_get(&c.extra, "empty"), ""),
          "compute extra");
    cJSON *o = spec_compute_to_json(&c);
    char *text = cJSON_PrintUnformatted(o);
    CHECK(text && strstr(text, "\"max_instances\":3") && strstr(text, "\"extra\":{\"partition\":\"debug\""),
          "compute JSON: %s", nz(text));
    free(text);
    cJSON_Delete(o);
    spec_compute_free(&c);

    y = "type: local\n";
    CHECK(spec_parse_compute(y, strlen(y), "compute.yaml", &c, &err) == 0 && c.max_instances == 0 && !c.name,
          "compute max_instances unset");
    spec_compute_free(&c);
}

static void test_redact(void)
{
    static const struct {
        const char *what, *in, *out;
    } r[] = {
        {"plain", "image: x\nimage_registry:\n  address: r.io\n  password: s3cret # keep\n  username: u\n",
         "image: x\nimage_registry:\n  address: r.io\n  password: \"***\" # keep\n  username: u\n"},
        {"quoted after UTF-8", "description: café ☕\nimage_registry: {address: r, password: \"p@ss word\"}\n",
         "description: café ☕\nimage_registry: {address: r, password: \"***\"}\n"},
        {"block scalar keeps lines", "image_registry:\n  password: |\n    line1\n    line2\n  address: r\n",
         "image_registry:\n  password: \"***\"\n\n\n  address: r\n"},
        {"inline env in a job", "command: x\nenvironment:\n  image: x\n  image_registry:\n    password: hunter2\n",
         "command: x\nenvironment:\n  image: x\n  image_registry:\n    password: \"***\"\n"},
        {"BOM", "\xEF\xBB\xBFimage_registry: {password: p}\n", "\xEF\xBB\xBFimage_registry: {password: \"***\"}\n"},
        {"no secret", "image: x\npassword: not-a-registry-one\n", "image: x\npassword: not-a-registry-one\n"},
        {"broken YAML still hidden", "image_registry:\n  password: s3cret\n  [oops\n",
         "image_registry:\n  password: \"***\"\n  [oops\n"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        char *out = spec_redact_yaml(r[i].in, strlen(r[i].in));
        CHECK(streq(out, r[i].out), "redact %s: got '%s'", r[i].what, nz(out));
        free(out);
    }
}

/* Output paths expand only az ml's ${{name}} and ${{output_name}}. */
static void test_output_path_expand(void)
{
    char *out = NULL;
    CHECK(spec_output_path_expand("azureml://datastores/d/paths/m/${{name}}/${{output_name}}/x", "run_1", "model",
                                  &out) == 0 && strcmp(out, "azureml://datastores/d/paths/m/run_1/model/x") == 0,
          "expanded: %s", out ? out : "(null)");
    free(out);
    out = NULL;
    CHECK(spec_output_path_expand("plain", "r", "o", &out) == 0 && strcmp(out, "plain") == 0, "plain");
    free(out);
    out = NULL;
    CHECK(spec_output_path_expand("", "r", "o", &out) == 0 && out && !out[0], "empty");
    free(out);
    out = NULL;
    CHECK(spec_output_path_expand("a/${{inputs.x}}", "r", "o", &out) == -EINVAL && !out, "other expression");
    CHECK(spec_output_path_expand("a/${{name", "r", "o", &out) == -EINVAL && !out, "unclosed");
    CHECK(spec_output_path_expand("a/${{}}", "r", "o", &out) == -EINVAL && !out, "empty expression");
    /* A uri_file output's file: the last part of its path, or the output's name. */
    const struct { const char *path, *want; } f[] = {
        {"azureml://datastores/d/paths/evals/${{name}}/summary.json", "summary.json"},
        {"azureml://datastores/d/paths/${{name}}-${{output_name}}.csv", "run_1-model.csv"},
        {"azureml://datastores/d/paths/", "model"},
        {"azureml://datastores/d/paths/top.json", "top.json"},
        {"azureml://datastores/d/paths/x/${{inputs.y}}", "model"},
        {NULL, "model"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char *name = spec_output_file_name(f[i].path, "run_1", "model");
        CHECK(streq(name, f[i].want), "file name of %s: %s", f[i].path ? f[i].path : "(none)", name);
        free(name);
    }
}

/* Hostile files are refused before libyaml builds a tree, in linear time, saying which bound. */
static char *repeat_text(const char *head, const char *unit, int times, const char *tail)
{
    util_buf b = {0};
    util_buf_append(&b, head, strlen(head), 0);
    for (int i = 0; i < times; i++)
        util_buf_append(&b, unit, strlen(unit), 0);
    util_buf_append(&b, tail, strlen(tail), 0);
    return b.data;
}

static void expect_refused(const char *what, const char *text, size_t len, int errnum, const char *says)
{
    job_spec job;
    amlfs_err err = {0};
    int64_t start = util_mono_ms();
    int rc = spec_parse_job(text, len, "job.yaml", &job, &err);
    int64_t took = util_mono_ms() - start;
    CHECK(rc == -errnum && strstr(err.msg, says), "%s: %d %s", what, rc, err.msg);
    CHECK(took < 2000, "%s took %lld ms", what, (long long)took);
    if (rc == 0)
        spec_job_free(&job);
}

static void test_limits(void)
{
    util_buf keys = {0};
    const char *head = "command: echo\nenvironment: host\ninputs:\n";
    util_buf_append(&keys, head, strlen(head), 0);
    for (int i = 0; i < 40000; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "  k%d: %d\n", i, i);
        util_buf_append(&keys, line, (size_t)n, 0);
    }
    expect_refused("40,000 inputs", keys.data, keys.len, EFBIG, "more than 5000 keys");
    util_buf_free(&keys);
    char *nested = repeat_text("command: echo\nenvironment: host\ntags: ", "[", 20000, "\n");
    expect_refused("20,000 levels", nested, strlen(nested), EINVAL, "nested more than 64 deep");
    free(nested);
    char *big = repeat_text("command: echo\ndescription: ", "x", SPEC_TEXT_MAX, "\n");
    expect_refused("a file over 1 MiB", big, strlen(big), EFBIG, "bytes a spec may have");
    free(big);
    const char nul[] = "description: x\0\nenvironment:\n  image: busybox\ncommand: echo\n";
    expect_refused("a NUL byte", nul, sizeof nul - 1, EINVAL, "line 1 column 15: a NUL byte");
    const char alias[] = "command: echo\nenvironment: host\ntags: &t {a: b}\nproperties: *t\n";
    expect_refused("an alias of a mapping", alias, sizeof alias - 1, EINVAL, "*t repeats a list or mapping");
    /* A 500 KB value repeated by 4,000 aliases (a 547 KB file) took 23 s and 2 GB to load. */
    util_buf laughs = {0};
    char *value = repeat_text("command: echo\nenvironment: host\ndisplay_name: &v ", "x", 500000, "\ntags:\n");
    util_buf_append(&laughs, value, strlen(value), 0);
    free(value);
    for (int i = 0; i < 4000; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "  k%d: *v\n", i);
        util_buf_append(&laughs, line, (size_t)n, 0);
    }
    expect_refused("4,000 aliases of a 500 KB value", laughs.data, laughs.len, EFBIG,
                   "line 8 column 7: with its aliases repeated, the file's values come to more than 2097152 bytes");
    util_buf_free(&laughs);
    const char scalar_alias[] = "command: echo\nenvironment: host\ntags: {a: &v x, b: *v}\n";
    job_spec job;
    amlfs_err err = {0};
    CHECK(spec_parse_job(scalar_alias, sizeof scalar_alias - 1, "job.yaml", &job, &err) == 0,
          "an alias of a value: %s", err.msg);
    spec_job_free(&job);
    /* 10,000 uses of a 10 KB input made a 100 MB command; it must fit one argument of sh -c. */
    char *subst = repeat_text("command: ", "${{inputs.a}}", 10000, "\nenvironment: host\ninputs:\n  a: ");
    char *full = repeat_text(subst, "x", 10000, "\n");
    CHECK(spec_parse_job(full, strlen(full), "job.yaml", &job, &err) == 0, "substitution job: %s", err.msg);
    char *cmd = NULL;
    int rc = spec_job_render_command(&job, NULL, "job.yaml", &cmd, &err);
    CHECK(rc == -E2BIG && !cmd && strstr(err.msg, "would be over 131071 bytes"), "expansion cap: %d %s", rc, err.msg);
    free(cmd);
    spec_job_free(&job);
    free(full);
    free(subst);
}

int main(void)
{
    test_output_path_expand();
    test_limits();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_parse_case(&cases[i]);
    test_env_fields();
    test_job_fields();
    test_env_relocate();
    test_render();
    test_compute_fields();
    test_redact();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
