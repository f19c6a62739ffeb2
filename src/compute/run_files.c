/* run_files.c: launch.json (server -> supervisor) and exit.json (supervisor -> server) as cJSON.
 * Both are written atomically, so a reader sees either nothing or the whole record. */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_json(const char *run_dir, const char *name, cJSON *root, mode_t mode, amlfs_err *err)
{
    char *path = compute_run_file(run_dir, name);
    char *text = cJSON_Print(root);
    int rc;
    if (!text) {
        rc = amlfs_fail(err, ENOMEM, "out of memory encoding %s", path);
    } else {
        rc = util_write_file_atomic(path, text, strlen(text), mode, err);
        free(text);
    }
    free(path);
    return rc;
}

/* launch.json holds the command (its expansion is at most 2 MiB) and the environment; a file over this
 * was not written by amlfs (a job can write in its run's folder). */
#define RUN_FILE_MAX (16 * 1024 * 1024)

/* Reads NAME as a JSON object; -ENOENT (message filled) when the file does not exist. */
static int read_json(const char *run_dir, const char *name, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    char *path = compute_run_file(run_dir, name);
    char *text = NULL;
    int rc = util_read_file_max(path, RUN_FILE_MAX, &text, NULL, err);
    if (rc == 0) {
        *out = cJSON_Parse(text);
        if (!cJSON_IsObject(*out)) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = amlfs_fail(err, EINVAL, "%s is not a JSON object; it was damaged or written by "
                            "something else", path);
        }
    }
    free(text);
    free(path);
    return rc;
}

static int check_env_entry(const char *entry, amlfs_err *err)
{
    const char *eq = entry ? strchr(entry, '=') : NULL;
    if (!eq || eq == entry)
        return amlfs_fail(err, EINVAL, "environment entry \"%s\" is not KEY=VALUE", entry ? entry : "(null)");
    return 0;
}

static cJSON *string_array(const char *const *v)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; v && v[i]; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
    return arr;
}

static cJSON *container_json(const compute_container *ctr)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "image", ctr->image);
    cJSON_AddItemToObject(c, "podman", string_array(ctr->podman));
    cJSON_AddItemToObject(c, "podman_env", string_array(ctr->podman_env));
    cJSON_AddBoolToObject(c, "network", ctr->network);
    if (ctr->memory)
        cJSON_AddStringToObject(c, "memory", ctr->memory);
    if (ctr->cpus)
        cJSON_AddStringToObject(c, "cpus", ctr->cpus);
    return c;
}

static cJSON *ranks_json(const compute_ranks *ranks)
{
    cJSON *r = cJSON_CreateObject();
    if (ranks->distribution)
        cJSON_AddStringToObject(r, "distribution", ranks->distribution);
    cJSON_AddNumberToObject(r, "nodes", ranks->nodes > 0 ? ranks->nodes : 1);
    cJSON_AddNumberToObject(r, "per_node", ranks->per_node > 0 ? ranks->per_node : 1);
    return r;
}

int compute_launch_write(const compute_job *job, amlfs_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *env = cJSON_CreateArray();
    int rc = 0;
    for (size_t i = 0; job->env && job->env[i] && rc == 0; i++) {
        rc = check_env_entry(job->env[i], err);
        if (rc == 0)
            cJSON_AddItemToArray(env, cJSON_CreateString(job->env[i]));
    }
    cJSON_AddItemToObject(root, "env", env);
    if (rc == 0) {
        cJSON_AddStringToObject(root, "run_id", job->run_id ? job->run_id : "");
        cJSON_AddStringToObject(root, "command", job->command);
        cJSON_AddStringToObject(root, "work_dir", job->work_dir);
        cJSON_AddNumberToObject(root, "timeout_s", (double)job->timeout_s);
        cJSON_AddNumberToObject(root, "cancel_grace_s", (double)job->cancel_grace_s);
        if (job->container)
            cJSON_AddItemToObject(root, "container", container_json(job->container));
        cJSON_AddItemToObject(root, "ranks", ranks_json(&job->ranks));
        rc = write_json(job->run_dir, COMPUTE_LAUNCH_FILE, root, 0600, err);
    }
    cJSON_Delete(root);
    return rc;
}

static char *take_string(const cJSON *root, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(item) ? util_xstrdup(item->valuestring) : NULL;
}

static long take_long(const cJSON *root, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsNumber(item) && item->valuedouble > 0 ? (long)item->valuedouble : 0;
}

static char **take_strings(const cJSON *obj, const char *key)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    char **v = util_xcalloc((size_t)count + 1, sizeof *v);
    int k = 0;
    for (int i = 0; i < count; i++) {
        const cJSON *item = cJSON_GetArrayItem(arr, i);
        if (cJSON_IsString(item))
            v[k++] = util_xstrdup(item->valuestring);
    }
    return v;
}

static void take_container(const cJSON *root, compute_launch *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "container");
    if (!cJSON_IsObject(c))
        return;
    out->image = take_string(c, "image");
    out->podman = take_strings(c, "podman");
    out->podman_env = take_strings(c, "podman_env");
    out->network = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "network"));
    out->memory = take_string(c, "memory");
    out->cpus = take_string(c, "cpus");
}

/* A launch written before ranks existed is one process. */
static void take_ranks(const cJSON *root, compute_launch *out)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "ranks");
    out->distribution = cJSON_IsObject(r) ? take_string(r, "distribution") : NULL;
    long nodes = cJSON_IsObject(r) ? take_long(r, "nodes") : 0;
    long per_node = cJSON_IsObject(r) ? take_long(r, "per_node") : 0;
    out->nodes = nodes > 0 && nodes <= COMPUTE_MAX_RANKS ? (int)nodes : 1;
    out->per_node = per_node > 0 && per_node <= COMPUTE_MAX_RANKS ? (int)per_node : 1;
}

int compute_launch_read(const char *run_dir, compute_launch *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    cJSON *root;
    int rc = read_json(run_dir, COMPUTE_LAUNCH_FILE, &root, err);
    if (rc < 0)
        return rc;
    out->run_id = take_string(root, "run_id");
    out->command = take_string(root, "command");
    out->work_dir = take_string(root, "work_dir");
    out->timeout_s = take_long(root, "timeout_s");
    out->cancel_grace_s = take_long(root, "cancel_grace_s");
    take_container(root, out);
    take_ranks(root, out);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(root, "env");
    int count = cJSON_IsArray(env) ? cJSON_GetArraySize(env) : 0;
    out->env = util_xcalloc((size_t)count + 1, sizeof *out->env);
    for (int i = 0; i < count && rc == 0; i++) {
        const cJSON *entry = cJSON_GetArrayItem(env, i);
        rc = check_env_entry(cJSON_IsString(entry) ? entry->valuestring : NULL, err);
        if (rc == 0)
            out->env[i] = util_xstrdup(entry->valuestring);
    }
    if (rc == 0 && (!out->command || !out->work_dir))
        rc = amlfs_fail(err, EINVAL, "%s/%s lacks \"command\" or \"work_dir\"", run_dir,
                        COMPUTE_LAUNCH_FILE);
    if (rc == 0 && cJSON_GetObjectItemCaseSensitive(root, "container") && (!out->image || !out->podman[0]))
        rc = amlfs_fail(err, EINVAL, "%s/%s: \"container\" lacks its image or podman command", run_dir,
                        COMPUTE_LAUNCH_FILE);
    cJSON_Delete(root);
    if (rc < 0)
        compute_launch_free(out);
    return rc;
}

void compute_launch_free(compute_launch *launch)
{
    if (!launch)
        return;
    for (size_t i = 0; launch->env && launch->env[i]; i++)
        free(launch->env[i]);
    free(launch->env);
    free(launch->run_id);
    free(launch->command);
    free(launch->work_dir);
    free(launch->image);
    for (size_t i = 0; launch->podman && launch->podman[i]; i++)
        free(launch->podman[i]);
    free(launch->podman);
    for (size_t i = 0; launch->podman_env && launch->podman_env[i]; i++)
        free(launch->podman_env[i]);
    free(launch->podman_env);
    free(launch->memory);
    free(launch->cpus);
    free(launch->distribution);
    free(launch->netns);
    memset(launch, 0, sizeof *launch);
}

int compute_exit_write(const char *run_dir, const compute_exit *ex, int start_errno, amlfs_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "exit_code", ex->exit_code);
    cJSON_AddNumberToObject(root, "signal", ex->signal);
    cJSON_AddBoolToObject(root, "canceled", ex->canceled);
    cJSON_AddBoolToObject(root, "timed_out", ex->timed_out);
    cJSON_AddStringToObject(root, "error", ex->error);
    cJSON_AddNumberToObject(root, "errno", start_errno);
    cJSON_AddNumberToObject(root, "ended_ms", (double)util_now_ms());
    int rc = write_json(run_dir, COMPUTE_EXIT_FILE, root, 0644, err);
    cJSON_Delete(root);
    return rc;
}

int compute_exit_read(const char *run_dir, compute_exit *out, int *start_errno, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    if (start_errno)
        *start_errno = 0;
    cJSON *root;
    int rc = read_json(run_dir, COMPUTE_EXIT_FILE, &root, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "exit_code");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(root, "signal");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *eno = cJSON_GetObjectItemCaseSensitive(root, "errno");
    out->exit_code = cJSON_IsNumber(code) ? code->valueint : -1;
    out->signal = cJSON_IsNumber(sig) ? sig->valueint : 0;
    out->canceled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "canceled"));
    out->timed_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "timed_out"));
    if (cJSON_IsString(error))
        snprintf(out->error, sizeof out->error, "%s", error->valuestring);
    if (start_errno && cJSON_IsNumber(eno))
        *start_errno = eno->valueint;
    cJSON_Delete(root);
    return 1;
}
