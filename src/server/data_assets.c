/* data_assets.c: data assets (data/NAME in the mount): mkdir and rmdir, registering a version from
 * data.yaml (its path snapshotted: a folder or file beside it, an absolute path uploaded by the mount,
 * an https:// file or a datastore path fetched by the server), and a job input `azureml:NAME@latest` / `azureml:NAME:VERSION` placed from a version. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/fetch.h"
#include "amlfs/log.h"
#include "amlfs/util.h"


static char *status_key(const char *name)
{
    return util_strdupf("data/%s", name);
}

int data_create(server *srv, const char *name, amlfs_err *err)
{
    int r = util_check_name("data asset", name, err);
    char *files = r == 0 ? server_path(srv, "data/%s/files", name) : NULL;
    if (r == 0)
        r = util_mkdir_p(files, 0700, err);
    if (r == 0)
        r = store_data_create(srv->store, name, util_now_ms(), err);
    free(files);
    server_folder_status(srv, "data", r < 0 ? err : NULL);
    if (r == 0)
        events_emitf(srv->events, "created", -1, "data/%s", name);
    return r;
}

int data_delete(server *srv, const char *name, amlfs_err *err)
{
    int r = store_data_exists(srv->store, name, err);
    char *files = server_path(srv, "data/%s/files", name);
    folder_entry *list = NULL;
    size_t n = 0;
    if (r == 0 && (r = folder_list(files, "", &list, &n, err)) == 0 && n > 0)
        r = amlfs_fail(err, ENOTEMPTY, "data asset '%s' still holds files (%s...); remove them first (its versions "
                       "are kept apart and go with it)", name, list[0].name);
    folder_list_free(list, n);
    if (r == 0)
        r = store_data_delete(srv->store, name, err);
    server_folder_status(srv, "data", r < 0 ? err : NULL);
    if (r == 0) {
        char *dir = server_path(srv, "data/%s", name);
        amlfs_err why = {0};
        if (util_rm_rf(dir, &why) < 0)
            log_warning("%s", why.msg);
        free(dir);
        char *key = status_key(name);
        store_folder_status_set(srv->store, key, "", &why);
        free(key);
        events_emitf(srv->events, "deleted", -1, "data/%s", name);
    }
    free(files);
    return r;
}

/* An https:// file or a datastore path, fetched into a scratch folder of the server and snapshotted
 * there: a version is what its source held when it was registered, as for a local path. */
static int snapshot_remote(server *srv, const data_spec *spec, const char *filename, snapshot_manifest *m,
                           char **file, amlfs_err *err)
{
    snapshot_limits limits = server_data_limits(srv);
    bool want_file = strcmp(spec->type, "uri_file") == 0;
    bool is_url = strncmp(spec->path, "https://", 8) == 0 || strncmp(spec->path, "http://", 7) == 0;
    bool is_job = strncmp(spec->path, "azureml://jobs/", 15) == 0;
    if (!is_url && !is_job && strncmp(spec->path, "azureml://datastores/", 21) != 0)
        return spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s': a data asset is registered from a "
                            "file or folder beside data.yaml (path: ./images), an absolute path of this machine, "
                            "https://HOST/FILE, azureml://datastores/NAME/paths/PATH or "
                            "azureml://jobs/RUN_ID/outputs/OUTPUT", spec->path);
    if (is_job) {
        char *src = NULL;
        amlfs_err why = {0};
        int rc = want_file ? submit_job_output_file(srv, spec->path, &src, &why)
                           : submit_job_output_dir(srv, spec->path, &src, &why);
        if (rc == 0)
            rc = want_file ? server_snapshot_file(srv, src, &limits, m, &why)
                           : server_snapshot_folder(srv, src, &limits, m, &why);
        if (rc == 0 && want_file)
            *file = util_xstrdup(m->entries[0].path);
        free(src);
        return rc < 0 ? spec_fail_at(err, -rc, filename, spec->path_pos, "path '%s': %s", spec->path, why.msg) : 0;
    }
    if (is_url && !want_file)
        return spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s': an https:// path is one file: write "
                            "`type: uri_file`", spec->path);
    char *scratch = server_path(srv, "cache/data-XXXXXX");
    char *base = is_url ? fetch_url_basename(spec->path) : NULL;
    if (!base) {
        const char *slash = strrchr(spec->path, '/');
        base = util_xstrdup(slash && slash[1] ? slash + 1 : "data");
    }
    amlfs_err why = {0};
    char *cache_dir = server_path(srv, "cache");
    int rc = util_mkdir_p(cache_dir, 0755, &why);
    free(cache_dir);
    if (rc == 0 && !mkdtemp(scratch))
        rc = amlfs_fail(&why, errno, "cannot make a scratch folder %s: %s", scratch, strerror(errno));
    char *dest = util_strdupf("%s/%s", scratch, want_file ? base : "content"); /* named by mkdtemp first */
    if (rc == 0 && is_url) {
        char *cache = server_path(srv, "cache/http");
        fetch_result got;
        rc = fetch_url(cache, spec->path, dest, limits.max_bytes, &got, &why);
        free(cache);
    } else if (rc == 0) {
        rc = datastore_fetch_input(srv, spec->path, want_file, dest, &why);
    }
    if (rc == 0)
        rc = want_file ? server_snapshot_file(srv, dest, &limits, m, &why) : server_snapshot_folder(srv, dest, &limits, m, &why);
    if (rc == 0 && want_file)
        *file = util_xstrdup(m->entries[0].path);
    if (rc < 0)
        rc = spec_fail_at(err, -rc, filename, spec->path_pos, "path '%s': %s", spec->path, why.msg);
    amlfs_err ignored = {0};
    if (access(scratch, F_OK) == 0)
        util_rm_rf(scratch, &ignored);
    free(dest);
    free(base);
    free(scratch);
    return rc;
}

/* What the version holds: the snapshot of its path, checked against its type. */
static int snapshot_source(server *srv, const char *name, const data_spec *spec, const char *filename,
                           const submit_code *upload, snapshot_manifest *m, char **file, amlfs_err *err)
{
    *file = NULL;
    snapshot_limits limits = server_data_limits(srv);
    char subject[600];
    snprintf(subject, sizeof subject, "data folder %s", spec->path);
    limits.subject = subject;
    bool want_file = strcmp(spec->type, "uri_file") == 0;
    const char *path = spec->path;
    amlfs_err why = {0};
    int rc;
    if (strstr(path, "://") || strncmp(path, "azureml:", 8) == 0)
        return snapshot_remote(srv, spec, filename, m, file, err);
    if (path[0] == '/') {
        if (upload && upload->error_errno > 0)
            return spec_fail_at(err, upload->error_errno, filename, spec->path_pos, "folder %s: %s", path,
                                upload->error_message ? upload->error_message : "cannot be snapshotted");
        if (!upload || !upload->snapshot)
            return spec_fail_at(err, EINVAL, filename, spec->path_pos, "absolute paths are uploaded by the amlfs "
                                "mount; through the API, upload a snapshot and send \"snapshot\": HASH");
        const snapshot_manifest *got;
        if ((rc = server_snapshot_get(srv, upload->snapshot, &got, &why)) == 0) {
            bool one_file = got->count == 1 && got->entries[0].type == SNAPSHOT_FILE;
            if (want_file && !one_file)
                rc = amlfs_fail(&why, EINVAL, "%s is a folder: write `type: uri_folder`", path);
            if (rc == 0)
                rc = snapshot_limits_check(got, &limits, want_file ? "data file" : subject,
                                           server_snapshot_ignore_file(got), &why);
            if (rc == 0) {
                snprintf(m->hash, sizeof m->hash, "%s", got->hash); /* only its name is kept */
                if (want_file)
                    *file = util_xstrdup(got->entries[0].path);
            }
            server_snapshot_release(srv, got);
        }
        return rc < 0 ? spec_fail_at(err, -rc, filename, spec->path_pos, "%s", why.msg) : 0;
    }
    char *rel = NULL, *abs = NULL, *root = server_path(srv, "data/%s/files", name);
    bool is_dir = false;
    if (submit_relpath("", path, &rel) < 0)
        rc = spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s' leads outside data/%s", path, name);
    else if ((rc = submit_find_stored(root, rel, &abs, &is_dir, &why)) == -ENOENT)
        rc = spec_fail_at(err, ENOENT, filename, spec->path_pos, "path '%s' not found in data/%s: copy the data "
                          "there first", path, name);
    else if (rc < 0)
        rc = spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s' is not a file or folder of data/%s",
                          path, name);
    else if (want_file == is_dir)
        rc = spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s' is a %s but the type is %s", path,
                          is_dir ? "folder" : "file", spec->type);
    else if (!rel[0] || strcmp(rel, ".") == 0)
        rc = spec_fail_at(err, EINVAL, filename, spec->path_pos, "path '%s' is data/%s itself, with data.yaml in "
                          "it: put the data in a folder beside data.yaml (path: ./files)", path, name);
    if (rc == 0) {
        rc = is_dir ? server_snapshot_folder(srv, abs, &limits, m, &why) : server_snapshot_file(srv, abs, &limits, m, &why);
        if (rc < 0)
            rc = spec_fail_at(err, -rc, filename, spec->path_pos, "%s", why.msg);
        else if (!is_dir)
            *file = util_xstrdup(m->entries[0].path);
    }
    free(root);
    free(rel);
    free(abs);
    return rc;
}

int data_register(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                  const submit_code *upload, int *version, amlfs_err *err)
{
    data_spec spec;
    int rc = store_data_exists(srv->store, name, err);
    if (rc < 0)
        return rc;
    rc = spec_parse_data(yaml, len, filename, &spec, err);
    if (rc == 0 && spec.name && strcmp(spec.name, name) != 0)
        rc = spec_fail_at(err, EINVAL, filename, spec.name_pos, "name '%s' differs from the folder '%s'", spec.name,
                          name);
    /* A version a run not ended will register is refused now, not at that run's end. */
    char *holder = NULL;
    run_status holder_status;
    amlfs_err ignored = {0};
    if (rc == 0 && spec.version > 0 &&
        store_data_claim_holder(srv->store, name, spec.version, &holder, &holder_status, &ignored) == 0) {
        rc = amlfs_fail(err, EEXIST, "%s: version %d of data asset '%s' is to be registered by run %s (%s) when it "
                        "completes: give another version, or none (the next one)", filename, spec.version, name,
                        holder, run_status_name(holder_status));
        free(holder);
    }
    snapshot_manifest m;
    snapshot_manifest_init(&m);
    char *file = NULL;
    if (rc == 0)
        rc = snapshot_source(srv, name, &spec, filename, upload, &m, &file, err);
    if (rc == 0) {
        char *text = util_strdupf("%.*s", (int)len, yaml);
        store_data_version v = {.version = spec.version, .yaml = text, .type = spec.type, .snapshot = m.hash,
                                .file = file, .created = util_now_ms()};
        rc = store_data_version_add(srv->store, name, &v, version, err);
        free(text);
    }
    snapshot_manifest_free(&m);
    free(file);
    spec_data_free(&spec);
    char *key = status_key(name);
    server_folder_status(srv, key, rc < 0 ? err : NULL);
    free(key);
    if (rc == 0)
        events_emitf(srv->events, "changed", -1, "data/%s", name);
    return rc;
}

/* "azureml:NAME@latest", "azureml:NAME:3", "azureml:NAME": the asset and version (0 = latest). */
static int parse_reference(const char *ref, char **name, int *version)
{
    const char *p = ref + strlen("azureml:");
    size_t n = strcspn(p, "@:");
    *name = strndup(p, n);
    if (!*name)
        abort();
    *version = 0;
    if (p[n] == '@')
        return strcmp(p + n + 1, "latest") == 0 ? 0 : -EINVAL;
    if (p[n] == ':') {
        long v;
        if (spec_parse_long_text(p + n + 1, &v) < 0 || v < 1 || v > 1000000000)
            return -EINVAL;
        *version = (int)v;
    }
    return 0;
}

int data_place_input(server *srv, const char *reference, const char *type, const char *dest, char **placed,
                     amlfs_err *err)
{
    *placed = NULL;
    char *name = NULL;
    int version = 0;
    if (parse_reference(reference, &name, &version) < 0) {
        free(name);
        return amlfs_fail(err, EINVAL, "'%s' is not a data asset reference: write azureml:NAME@latest or "
                          "azureml:NAME:VERSION", reference);
    }
    store_data_version v;
    int rc = store_data_version_get(srv->store, name, version, &v, err);
    if (rc == -ENOENT && store_data_exists(srv->store, name, NULL) == -ENOENT)
        rc = amlfs_fail(err, ENOENT, "data asset '%s' not found: mkdir data/%s and write its data.yaml", name, name);
    if (rc == 0 && (strcmp(type, "uri_file") == 0) != (strcmp(v.type, "uri_file") == 0))
        rc = amlfs_fail(err, EINVAL, "data asset '%s' version %d is a %s, but the input is a %s", name, v.version,
                        v.type, type);
    const snapshot_manifest *m = NULL;
    if (rc == 0)
        rc = server_snapshot_get(srv, v.snapshot, &m, err);
    if (rc == 0)
        rc = snapshot_materialize(srv->snapshot_dir, m, dest, err);
    server_snapshot_release(srv, m);
    if (rc == 0)
        rc = submit_make_read_only(dest, err);
    if (rc == 0)
        *placed = v.file ? util_strdupf("%s/%s", dest, v.file) : util_xstrdup(dest);
    store_data_version_free(&v);
    free(name);
    return rc;
}

int data_register_outputs(server *srv, const store_run *r, amlfs_err *err)
{
    job_spec job;
    int rc = r->job_yaml ? spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &job, err) : -EINVAL;
    if (rc < 0)
        return rc;
    snapshot_limits limits = server_data_limits(srv);
    for (size_t i = 0; rc == 0 && i < job.output_assets.count; i++) {
        const char *output = job.output_assets.items[i].key, *asset = job.output_assets.items[i].value;
        const char *version = job.output_asset_versions.items[i].value;
        char *dir = server_path(srv, "runs/%s/work/outputs/%s", r->id, output);
        const char *type = spec_kvlist_get(&job.outputs, output);
        amlfs_err why = {0};
        if (store_data_exists(srv->store, asset, NULL) == -ENOENT && data_create(srv, asset, &why) < 0 &&
            why.code != EEXIST) {
            rc = amlfs_fail(err, why.code, "output '%s': %s", output, why.msg);
        } else {
            snapshot_manifest m;
            /* A uri_file output is the one file the job wrote in its folder: a uri_file version of it. */
            bool is_file = type && strcmp(type, "uri_file") == 0;
            char *file = is_file ? spec_output_file_name(spec_kvlist_get(&job.output_paths, output), r->id, output)
                                 : NULL;
            char *file_path = file ? util_strdupf("%s/%s", dir, file) : NULL;
            rc = is_file ? server_snapshot_file(srv, file_path, &limits, &m, &why) : server_snapshot_folder(srv, dir, &limits, &m, &why);
            free(file_path);
            if (rc < 0) {
                rc = amlfs_fail(err, -rc, "output '%s': %s", output, why.msg);
            } else {
                char *yaml = util_strdupf("name: %s\n%s%s%stype: %s\npath: azureml://jobs/%s/outputs/%s\n"
                                          "description: output %s of run %s\n", asset, version[0] ? "version: " : "",
                                          version, version[0] ? "\n" : "", type ? type : "uri_folder", r->id, output,
                                          output, r->id);
                store_data_version v = {.version = version[0] ? atoi(version) : 0, .yaml = yaml,
                                        .type = (char *)(type ? type : "uri_folder"), .file = file,
                                        .snapshot = m.hash, .created = util_now_ms()};
                int got = 0;
                rc = store_data_version_add(srv->store, asset, &v, &got, &why);
                if (rc < 0)
                    rc = amlfs_fail(err, why.code, "output '%s' as data asset '%s': %s", output, asset, why.msg);
                else
                    events_emitf(srv->events, "changed", -1, "data/%s", asset);
                free(yaml);
                snapshot_manifest_free(&m);
            }
            free(file);
        }
        /* Said where a user of the asset looks, its status: why it failed, or (a refused data.yaml save
         * before it being older news) the version it made. */
        char *key = status_key(asset);
        server_folder_status(srv, key, rc < 0 ? err : NULL);
        free(key);
        free(dir);
    }
    spec_job_free(&job);
    return rc;
}
