/* submit_data.c: a job's data at submission: each data input (uri_folder, uri_file, a model folder)
 * snapshotted like code and placed read-only in RUN_DIR/inputs/NAME, each output's folder made in
 * RUN_DIR/work/outputs/NAME, and the absolute paths ${{inputs.NAME}} and ${{outputs.NAME}} become. */
#include "amlfs/server.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/fetch.h"
#include "amlfs/util.h"

/* Data is larger than code: its own limits, per input (server_data_limits; code keeps its own). */

int submit_relpath(const char *dir, const char *path, char **out)
{
    char *joined = util_strdupf("%s/%s", dir, path);
    char *result = util_xcalloc(1, strlen(joined) + 1);
    char *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            char *slash = strrchr(result, '/');
            if (!result[0]) {
                rc = -EINVAL;
                break;
            }
            *(slash ? slash : result) = '\0';
            continue;
        }
        if (result[0])
            strcat(result, "/");
        strcat(result, part);
    }
    free(joined);
    if (rc < 0) {
        free(result);
        return rc;
    }
    *out = result;
    return 0;
}

static bool is_http(const char *path)
{
    return strncmp(path, "https://", 8) == 0 || strncmp(path, "http://", 7) == 0;
}

/* An https:// input is fetched when the run is prepared (run_lifecycle.c): here it only gets its path. */
static int place_url(const submit_data *d, const spec_kv *in, const char *type, const char *run_dir,
                     spec_kvlist *values, amlfs_err *err)
{
    if (strcmp(type, "uri_file") != 0)
        return spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': an https:// input is one file: write "
                            "`type: uri_file`", in->key);
    char *base = fetch_url_basename(in->value);
    char *dir = util_strdupf("%s/inputs/%s", run_dir, in->key);
    char *path = util_strdupf("%s/%s", dir, base);
    int rc = util_mkdir_p(dir, 0755, err);
    if (rc == 0)
        spec_kvlist_add(values, in->key, path, in->pos);
    free(path);
    free(dir);
    free(base);
    return rc;
}

/* What a data input's path cannot be here yet, with what to do instead; NULL when it is a path of the
 * experiment's folder. */
static const char *unsupported_source(const char *path)
{
    if (strstr(path, "://") && !is_http(path))
        return "URLs other than https:// (wasbs://, abfss://) are not fetched by this workspace yet";
    return NULL;
}

static int chmod_read_only(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (!S_ISLNK(st->st_mode))
        chmod(path, st->st_mode & ~(mode_t)0222);
    return 0;
}

int submit_make_read_only(const char *path, amlfs_err *err)
{
    if (nftw(path, chmod_read_only, 32, FTW_PHYS) < 0)
        return amlfs_fail(err, errno, "making %s read-only: %s", path, strerror(errno));
    return 0;
}

/* A folder input: snapshotted (its ignore rules, the data limits, every content stored once) and
 * materialized at dest, read-only. */
static int place_folder(server *srv, const char *src, const char *shown, const char *dest, amlfs_err *err)
{
    snapshot_limits limits = server_data_limits(srv);
    char subject[600];
    snprintf(subject, sizeof subject, "data folder %s", shown);
    limits.subject = subject;
    snapshot_manifest m;
    int rc = server_snapshot_folder(srv, src, &limits, &m, err);
    if (rc < 0)
        return rc;
    rc = snapshot_materialize(srv->snapshot_dir, &m, dest, err);
    snapshot_manifest_free(&m);
    if (rc == 0)
        rc = submit_make_read_only(dest, err);
    return rc;
}

/* A file input: copied into dest/ under its own name, read-only, within the data limit; *placed gets its
 * path. */
static int place_file(server *srv, const char *src, const char *shown, const char *dest, char **placed,
                      amlfs_err *err)
{
    *placed = NULL;
    uint64_t max = server_data_limits(srv).max_bytes;
    struct stat st;
    if (stat(src, &st) < 0)
        return amlfs_fail(err, errno, "%s: %s", shown, strerror(errno));
    const char *slash = strrchr(src, '/');
    *placed = util_strdupf("%s/%s", dest, slash ? slash + 1 : src);
    if ((uint64_t)st.st_size > max) {
        char have[32], limit[32];
        snapshot_format_size((uint64_t)st.st_size, have, sizeof have);
        snapshot_format_size(max, limit, sizeof limit);
        return amlfs_fail(err, EFBIG, "data file %s is %s, over the limit of %s", shown, have, limit);
    }
    int rc = util_mkdir_p(dest, 0755, err);
    if (rc == 0)
        rc = util_copy_file(src, *placed, 0444, err);
    return rc;
}

/* The file or folder a datastore input becomes in the run (dest), and its path for the command. */
static void datastore_dest(const char *run_dir, const char *input, const char *uri, bool is_file, char **dest,
                           char **placed)
{
    *dest = util_strdupf("%s/inputs/%s", run_dir, input);
    *placed = util_xstrdup(*dest);
    if (is_file) {
        const char *base = strrchr(uri, '/');
        free(*placed);
        *placed = util_strdupf("%s/%s", *dest, base ? base + 1 : "data");
    }
}

/* azureml://datastores/NAME/paths/PATH: the datastore must exist now; its files are fetched when the
 * run is prepared (submit_data_fetch). */
static int place_datastore_path(server *srv, const submit_data *d, const spec_kv *in, const char *type,
                                const char *run_dir, spec_kvlist *values, amlfs_err *err)
{
    char *name = NULL, *path = NULL, *yaml = NULL;
    int rc = datastore_parse_path(in->value, &name, &path);
    if (rc < 0)
        rc = spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': write azureml://datastores/NAME/paths/PATH",
                          in->key);
    else if (!datastore_is_builtin(name) && store_datastore_get(srv->store, name, &yaml, NULL) < 0)
        rc = spec_fail_at(err, ENOENT, d->filename, in->pos, "input '%s': datastore '%s' not found: mkdir "
                          "datastores/%s and write its datastore.yaml", in->key, name, name);
    else if (yaml && !yaml[0])
        rc = spec_fail_at(err, ENOENT, d->filename, in->pos, "input '%s': datastore '%s' has no datastore.yaml yet",
                          in->key, name);
    else if (!path[0] && strcmp(type, "uri_file") == 0)
        rc = spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': a uri_file needs a file's path", in->key);
    amlfs_err why = {0};
    /* Asked now, so a wrong path is refused while the writer is there; the files come when the run is
     * prepared. */
    if (rc == 0 && (rc = datastore_check_input(srv, in->value, strcmp(type, "uri_file") == 0, &why)) < 0)
        rc = spec_fail_at(err, -rc, d->filename, in->pos, "input '%s': %s", in->key, why.msg);
    if (rc == 0) {
        char *dest, *placed;
        datastore_dest(run_dir, in->key, in->value, strcmp(type, "uri_file") == 0, &dest, &placed);
        spec_kvlist_add(values, in->key, placed, in->pos);
        free(dest);
        free(placed);
    }
    if (yaml)
        explicit_bzero(yaml, strlen(yaml));
    free(yaml);
    free(name);
    free(path);
    return rc;
}

/* The end of placing an input: its path for the command, or why not, said at the input's line. */
static int input_placed(const submit_data *d, const spec_kv *in, int rc, const char *placed, const amlfs_err *why,
                        spec_kvlist *values, amlfs_err *err)
{
    if (rc < 0)
        return spec_fail_at(err, -rc, d->filename, in->pos, "input '%s': %s", in->key, why->msg);
    spec_kvlist_add(values, in->key, placed, in->pos);
    return 0;
}

/* A data asset version of this workspace. */
static int place_asset(server *srv, const submit_data *d, const spec_kv *in, const char *type, const char *run_dir,
                       spec_kvlist *values, amlfs_err *err)
{
    char *dest = util_strdupf("%s/inputs/%s", run_dir, in->key);
    char *placed = NULL;
    amlfs_err why = {0};
    int rc = data_place_input(srv, in->value, type, dest, &placed, &why);
    rc = input_placed(d, in, rc, placed, &why, values, err);
    free(placed);
    free(dest);
    return rc;
}

/* An absolute folder of the mount's machine, snapshotted and uploaded by the mount (input_snapshots),
 * or the reason it could not be (input_errors). */
static int place_uploaded(server *srv, const submit_data *d, const spec_kv *in, const char *type,
                          const char *run_dir, spec_kvlist *values, amlfs_err *err)
{
    bool want_file = strcmp(type, "uri_file") == 0;
    const char *what = want_file ? "file" : "folder";
    const cJSON *failed = d->upload_errors ? cJSON_GetObjectItemCaseSensitive(d->upload_errors, in->key) : NULL;
    if (failed)
        return spec_fail_at(err, api_errno_from_name(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(failed, "errno"))),
                            d->filename, in->pos, "input '%s': %s %s: %s", in->key, what, in->value,
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(failed, "message")));
    const char *hash = d->uploads ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d->uploads, in->key)) : NULL;
    if (!hash)
        return spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': absolute %ss are uploaded by the "
                            "amlfs mount; through the API, upload a snapshot and send \"input_snapshots\": "
                            "{\"%s\": HASH}", in->key, what, in->key);
    const snapshot_manifest *m;
    amlfs_err why = {0};
    int rc = server_snapshot_get(srv, hash, &m, &why);
    if (rc < 0)
        return spec_fail_at(err, -rc, d->filename, in->pos, "input '%s': %s", in->key, why.msg);
    snapshot_limits limits = server_data_limits(srv);
    char *dest = util_strdupf("%s/inputs/%s", run_dir, in->key);
    /* A uri_file's snapshot is that file alone: the command gets the file's path in dest. */
    bool one_file = m->count == 1 && m->entries[0].type == SNAPSHOT_FILE;
    char *placed = want_file && one_file ? util_strdupf("%s/%s", dest, m->entries[0].path) : util_xstrdup(dest);
    if (want_file && !one_file)
        rc = amlfs_fail(&why, EINVAL, "%s is a folder: write `type: uri_folder`", in->value);
    char subject[600];
    snprintf(subject, sizeof subject, "data %s %s", want_file ? "file" : "folder", in->value);
    if (rc == 0)
        rc = snapshot_limits_check(m, &limits, subject, server_snapshot_ignore_file(m), &why);
    if (rc == 0)
        rc = snapshot_materialize(srv->snapshot_dir, m, dest, &why);
    server_snapshot_release(srv, m);
    if (rc == 0)
        rc = submit_make_read_only(dest, &why);
    rc = input_placed(d, in, rc, placed, &why, values, err);
    free(placed);
    free(dest);
    return rc;
}

int submit_job_output_dir(server *srv, const char *uri, char **abs, amlfs_err *err)
{
    *abs = NULL;
    const char *p = uri + strlen("azureml://jobs/");
    const char *mid = strstr(p, "/outputs/");
    if (strncmp(uri, "azureml://jobs/", 15) != 0 || !mid || mid == p)
        return amlfs_fail(err, EINVAL, "'%s' is not azureml://jobs/RUN_ID/outputs/OUTPUT", uri);
    char *id = util_strdupf("%.*s", (int)(mid - p), p);
    char *output = util_xstrdup(mid + strlen("/outputs/"));
    size_t n = strlen(output);
    while (n && output[n - 1] == '/')
        output[--n] = '\0';
    store_run r;
    amlfs_err why = {0};
    int rc = 0;
    if (util_check_name("output", output, NULL) < 0 || util_check_name("run", id, NULL) < 0)
        rc = amlfs_fail(err, EINVAL, "'%s' is not azureml://jobs/RUN_ID/outputs/OUTPUT", uri);
    else if ((rc = store_run_get(srv->store, id, &r, &why)) < 0)
        rc = amlfs_fail(err, ENOENT, "run '%s' not found (from %s)", id, uri);
    else {
        if (r.status != RUN_COMPLETED)
            rc = amlfs_fail(err, EINVAL, "run '%s' is %s: its outputs are inputs once it has Completed", id,
                            run_status_name(r.status));
        store_run_free(&r);
    }
    struct stat st;
    char *dir = rc == 0 ? server_path(srv, "runs/%s/work/outputs/%s", id, output) : NULL;
    if (rc == 0 && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
        rc = amlfs_fail(err, ENOENT, "run '%s' has no output '%s'", id, output);
    if (rc == 0)
        *abs = dir;
    else
        free(dir);
    free(id);
    free(output);
    return rc;
}

int submit_job_output_file(server *srv, const char *uri, char **abs, amlfs_err *err)
{
    *abs = NULL;
    char *dir = NULL;
    int rc = submit_job_output_dir(srv, uri, &dir, err);
    folder_entry *list = NULL;
    size_t n = 0;
    /* A uri_file output is the one file in its folder (submit_data_place). */
    if (rc == 0 && (rc = folder_list(dir, "", &list, &n, err)) == 0 && (n != 1 || list[0].type != 'f'))
        rc = amlfs_fail(err, EINVAL, "%s holds %zu entries, not one file: write `type: uri_folder`", uri, n);
    if (rc == 0)
        *abs = util_strdupf("%s/%s", dir, list[0].name);
    folder_list_free(list, n);
    free(dir);
    return rc;
}

/* azureml://jobs/ID/outputs/NAME: a completed run's output folder, snapshotted like a folder of the
 * experiment. */
static int place_job_output(server *srv, const submit_data *d, const spec_kv *in, const char *type,
                            const char *run_dir, spec_kvlist *values, amlfs_err *err)
{
    char *src = NULL, *placed = NULL, *file = NULL;
    amlfs_err why = {0};
    int rc = strcmp(type, "uri_file") == 0 ? submit_job_output_file(srv, in->value, &file, &why)
                                           : submit_job_output_dir(srv, in->value, &src, &why);
    char *dest = util_strdupf("%s/inputs/%s", run_dir, in->key);
    if (rc == 0)
        rc = file ? place_file(srv, file, in->value, dest, &placed, &why) : place_folder(srv, src, in->value, dest, &why);
    rc = input_placed(d, in, rc, placed ? placed : dest, &why, values, err);
    free(placed);
    free(file);
    free(dest);
    free(src);
    return rc;
}

int submit_find_stored(const char *root, const char *rel, char **abs, bool *is_dir, amlfs_err *err)
{
    int rc = folder_resolve_dir(root, rel, abs, err);
    if (rc == 0) {
        *is_dir = true;
    } else if (rc == -ENOTDIR) {
        /* A file: its folder is resolved inside the experiment, the file itself must be a regular file. */
        char *parent_rel = util_xstrdup(rel);
        char *slash = strrchr(parent_rel, '/');
        const char *base = slash ? slash + 1 : rel;
        if (slash)
            *slash = '\0';
        else
            parent_rel[0] = '\0';
        char *parent = NULL;
        amlfs_err_clear(err);
        rc = folder_resolve_dir(root, parent_rel, &parent, err);
        struct stat st;
        if (rc == 0) {
            *abs = util_strdupf("%s/%s", parent, base);
            if (lstat(*abs, &st) < 0 || !S_ISREG(st.st_mode))
                rc = amlfs_fail(err, EINVAL, "not a file or folder");
        }
        *is_dir = false;
        free(parent);
        free(parent_rel);
    }
    return rc;
}

static int place_input(server *srv, const submit_data *d, size_t i, const char *run_dir, spec_kvlist *values,
                       amlfs_err *err)
{
    const spec_kv *in = &d->job->data_inputs.items[i];
    const char *type = d->job->data_input_types[i];
    if (is_http(in->value))
        return place_url(d, in, type, run_dir, values, err);
    if (in->value[0] == '/')
        return place_uploaded(srv, d, in, type, run_dir, values, err);
    if (strncmp(in->value, "azureml:", 8) == 0 && strncmp(in->value, "azureml://", 10) != 0)
        return place_asset(srv, d, in, type, run_dir, values, err);
    if (strncmp(in->value, "azureml://datastores/", 21) == 0)
        return place_datastore_path(srv, d, in, type, run_dir, values, err);
    if (strncmp(in->value, "azureml://jobs/", 15) == 0)
        return place_job_output(srv, d, in, type, run_dir, values, err);
    const char *why = unsupported_source(in->value);
    if (why)
        return spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': %s: give a file or folder of the "
                            "experiment (a path relative to %s, e.g. ./data)", in->key, why, d->filename);
    char *rel = NULL, *abs = NULL;
    if (submit_relpath(d->dir, in->value, &rel) < 0)
        return spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': '%s' leads outside the experiment folder",
                            in->key, in->value);
    bool is_dir = false;
    amlfs_err found = {0};
    char *root = server_path(srv, "experiments/%s/files", d->experiment);
    int rc = submit_find_stored(root, rel, &abs, &is_dir, &found);
    free(root);
    if (rc == -ENOENT)
        rc = spec_fail_at(err, ENOENT, d->filename, in->pos, "input '%s': '%s' not found in experiment '%s'",
                          in->key, in->value, d->experiment);
    else if (rc < 0)
        rc = spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s': '%s' is %s", in->key, in->value,
                          rc == -EXDEV ? "outside the experiment folder" : "not a file or folder");
    else if (strcmp(type, "uri_file") == 0 && is_dir)
        rc = spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s' is a uri_file but '%s' is a folder: write "
                          "`type: uri_folder`", in->key, in->value);
    else if (strcmp(type, "uri_file") != 0 && !is_dir)
        rc = spec_fail_at(err, EINVAL, d->filename, in->pos, "input '%s' is a %s but '%s' is a file: write "
                          "`type: uri_file`", in->key, type, in->value);
    char *dest = util_strdupf("%s/inputs/%s", run_dir, in->key);
    char *placed = NULL;
    amlfs_err how = {0};
    if (rc == 0)
        rc = is_dir ? place_folder(srv, abs, in->value, dest, &how) : place_file(srv, abs, in->value, dest, &placed, &how);
    if (rc < 0 && how.msg[0])
        rc = spec_fail_at(err, -rc, d->filename, in->pos, "input '%s': %s", in->key, how.msg);
    if (rc == 0)
        spec_kvlist_add(values, in->key, placed ? placed : dest, in->pos);
    free(placed);
    free(dest);
    free(abs);
    free(rel);
    return rc;
}

int submit_data_place(server *srv, const submit_data *d, const char *run_dir, spec_kvlist *inputs,
                      spec_kvlist *outputs, amlfs_err *err)
{
    memset(inputs, 0, sizeof *inputs);
    memset(outputs, 0, sizeof *outputs);
    /* The real folder: on a cluster compute the run folder is a link into the shared folder, and the
     * nodes (and containers, which mount it at the same path) see it there. */
    char *real = realpath(run_dir, NULL);
    if (!real)
        return amlfs_fail(err, errno, "run folder %s: %s", run_dir, strerror(errno));
    int rc = 0;
    if (d->job->data_inputs.count) {
        char *dir = util_strdupf("%s/inputs", real);
        rc = util_mkdir_p(dir, 0755, err);
        free(dir);
    }
    for (size_t i = 0; rc == 0 && i < d->job->data_inputs.count; i++)
        rc = place_input(srv, d, i, real, inputs, err);
    /* An output's datastore must exist now: the copy happens when the job has ended. */
    for (size_t i = 0; rc == 0 && i < d->job->output_paths.count; i++) {
        const spec_kv *o = &d->job->output_paths.items[i];
        char *name = NULL, *path = NULL, *yaml = NULL;
        if (datastore_parse_path(o->value, &name, &path) == 0 && !datastore_is_builtin(name) &&
            (store_datastore_get(srv->store, name, &yaml, NULL) < 0 || !yaml[0]))
            rc = spec_fail_at(err, ENOENT, d->filename, o->pos, "output '%s': datastore '%s' not found (or without "
                              "datastore.yaml): mkdir datastores/%s and write its datastore.yaml", o->key, name, name);
        free(yaml);
        free(name);
        free(path);
    }
    /* A version the run would register must be free now, and not claimed by a run that has not ended
     * (checked here for the line to point at; run_create checks again under the lifecycle lock). */
    for (size_t i = 0; rc == 0 && i < d->job->output_assets.count; i++) {
        const spec_kv *a = &d->job->output_assets.items[i];
        const char *version = d->job->output_asset_versions.items[i].value;
        amlfs_err why = {0};
        if (version[0] && run_data_version_free(srv, a->value, atoi(version), &why) < 0)
            rc = spec_fail_at(err, EEXIST, d->filename, a->pos, "output '%s': %s: give another version, or none "
                              "(the next one)", a->key, why.msg);
    }
    /* Named only: the folders are made with the run's working folder, when it is prepared (run_code.c).
     * A uri_file output is the file the job writes in its folder, as in az ml. */
    for (size_t i = 0; rc == 0 && i < d->job->outputs.count; i++) {
        const spec_kv *o = &d->job->outputs.items[i];
        char *dir = util_strdupf("%s/work/outputs/%s", real, o->key);
        if (strcmp(o->value, "uri_file") == 0) {
            char *file = spec_output_file_name(spec_kvlist_get(&d->job->output_paths, o->key), d->run_id, o->key);
            char *path = util_strdupf("%s/%s", dir, file);
            free(dir);
            free(file);
            dir = path;
        }
        spec_kvlist_add(outputs, o->key, dir, o->pos);
        free(dir);
    }
    free(real);
    return rc;
}

/* dest's name while it is being fetched: .NAME.part beside it. */
static char *part_of(const char *dest)
{
    const char *slash = strrchr(dest, '/');
    return util_strdupf("%.*s/.%s.part", (int)(slash - dest), dest, slash + 1);
}

/* A fetched input is written as .NAME.part and renamed to NAME only when whole: a fetch that fails, or
 * a server that dies meanwhile, never leaves a half input that a retry would take as fetched. */
static int fetch_whole(server *srv, const char *cache, const spec_kv *in, bool datastore, bool is_file,
                       const char *dest, amlfs_err *err)
{
    char *part = part_of(dest);
    fetch_result got;
    int rc = util_rm_rf(part, err); /* left by a fetch cut short */
    if (rc == 0)
        rc = datastore ? datastore_fetch_input(srv, in->value, is_file, part, err)
                       : fetch_url(cache, in->value, part, server_data_limits(srv).max_bytes, &got, err);
    util_fault_point("input-fetched-before-rename");
    if (rc == 0 && rename(part, dest) < 0)
        rc = amlfs_fail(err, errno, "cannot rename %s to %s: %s", part, dest, strerror(errno));
    amlfs_err ignored = {0};
    if (rc < 0)
        util_rm_rf(part, &ignored);
    free(part);
    return rc;
}

int submit_data_fetch(server *srv, const job_spec *job, const char *run_dir, amlfs_err *err)
{
    char *real = realpath(run_dir, NULL);
    if (!real)
        return amlfs_fail(err, errno, "run folder %s: %s", run_dir, strerror(errno));
    char *cache = server_path(srv, "cache/http");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < job->data_inputs.count; i++) {
        const spec_kv *in = &job->data_inputs.items[i];
        if (strncmp(in->value, "azureml://datastores/", 21) == 0) {
            bool is_file = strcmp(job->data_input_types[i], "uri_file") == 0;
            char *dest, *placed;
            datastore_dest(real, in->key, in->value, is_file, &dest, &placed);
            struct stat st;
            amlfs_err why = {0};
            /* Fetched by an attempt before a restart: the run keeps what it had. */
            if (lstat(placed, &st) < 0 &&
                fetch_whole(srv, cache, in, true, is_file, is_file ? placed : dest, &why) < 0)
                rc = amlfs_fail(err, why.code, "input '%s': %s: %s", in->key, in->value, why.msg);
            free(dest);
            free(placed);
            continue;
        }
        if (!is_http(in->value))
            continue;
        char *base = fetch_url_basename(in->value);
        char *dest = util_strdupf("%s/inputs/%s/%s", real, in->key, base);
        struct stat st;
        amlfs_err why = {0};
        /* Fetched by an attempt before a restart: the run keeps what it had. */
        if (lstat(dest, &st) < 0 && fetch_whole(srv, cache, in, false, true, dest, &why) < 0)
            rc = amlfs_fail(err, why.code, "input '%s': %s", in->key, why.msg);
        free(dest);
        free(base);
    }
    free(cache);
    free(real);
    return rc;
}

int submit_data_store_outputs(server *srv, const store_run *r, bool ended_well, amlfs_err *err)
{
    job_spec job;
    int rc = r->job_yaml ? spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &job, err) : 0;
    if (rc < 0 || !r->job_yaml)
        return rc;
    for (size_t i = 0; rc == 0 && i < job.outputs.count; i++) {
        const char *output = job.outputs.items[i].key;
        const char *written = spec_kvlist_get(&job.output_paths, output);
        /* A datastore path gets only what a job that ended well made; the run's own storage keeps what
         * any job wrote, as a mounted output would. */
        if (written && !ended_well)
            continue;
        char *uri = NULL;
        if (!written)
            uri = util_strdupf("azureml://datastores/workspaceblobstore/paths/azureml/%s/%s", r->id, output);
        else if (spec_output_path_expand(written, r->id, output, &uri) < 0)
            uri = util_xstrdup(written); /* checked at submission */
        char *dir = server_path(srv, "runs/%s/work/outputs/%s", r->id, output);
        /* A uri_file output is one file: a path names the file itself, so it goes into that path's folder. */
        char *file = strcmp(job.outputs.items[i].value, "uri_file") == 0 ? spec_output_file_name(written, r->id, output)
                                                                       : NULL;
        char *file_path = file ? util_strdupf("%s/%s", dir, file) : NULL;
        if (file && written) {
            size_t n = strlen(uri);
            while (n && uri[n - 1] == '/')
                uri[--n] = '\0';
            char *slash = strrchr(uri, '/');
            if (slash)
                slash[1] = '\0'; /* .../paths/ stays a path: the datastore's top */
        }
        amlfs_err why = {0};
        struct stat st;
        if (stat(file ? file_path : dir, &st) < 0 && errno == ENOENT) {
            if (file && written)
                rc = amlfs_fail(err, ENOENT, "output '%s': the job wrote no file at %s", output, file_path);
            /* otherwise the job removed its output folder, or wrote no file: nothing to keep */
        } else if (datastore_store_output(srv, uri, dir, file, &why) < 0) {
            rc = amlfs_fail(err, why.code, "output '%s': copying it to %s failed: %s", output, uri, why.msg);
        }
        free(file_path);
        free(file);
        free(dir);
        free(uri);
    }
    spec_job_free(&job);
    return rc;
}
