/* env_versions.c: environment versions and their setup (env.h): register, rebuild, resume after a restart,
 * jobs' anonymous environments (env_inline.c), secrets kept server-side; builder reports become events. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/env.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

/* How a secret reads back; written back in a new version it means "the password I gave before". */
#define SECRET_MASK "***"

char *env_setup_dir(server *srv, const char *name)
{
    return server_path(srv, "environments/%s/setup", name);
}

static void announce_build_log(server *srv, const char *name)
{
    char *log = server_path(srv, "environments/%s/build.log", name);
    struct stat st;
    if (stat(log, &st) == 0)
        events_emitf(srv->events, "grew", st.st_size, "environments/%s/build.log", name);
    free(log);
}

static void set_status(server *srv, const char *name, int version, env_status status, const char *reason)
{
    amlfs_err err = {0};
    if (store_env_version_set_status(srv->store, name, version, env_status_name(status),
                                     status == ENV_FAILED ? reason : NULL, &err) < 0)
        log_warning("environment %s version %d: %s", name, version, err.msg);
    events_emitf(srv->events, "changed", -1, "environments/%s", name);
}

/* ---- the builder's reports (from its thread) ---- */

static void hook_log_grew(void *ctx, const char *name, int64_t size)
{
    server *srv = ctx;
    events_emitf(srv->events, "grew", size, "environments/%s/build.log", name);
}

static void hook_finished(void *ctx, const char *name, int version, env_status status, const char *reason)
{
    server *srv = ctx;
    set_status(srv, name, version, status, reason);
    /* Runs waiting in Preparing for this version may go on (or fail with its reason). */
    scheduler_kick(srv->scheduler);
}

int server_envs_open(server *srv, const server_config *cfg, amlfs_err *err)
{
    env_images_config ic = {
        .data_dir = srv->data_dir, .root = cfg->podman_root, .runroot = cfg->podman_runroot,
    };
    env_images_hooks hooks = {.ctx = srv, .log_grew = hook_log_grew, .finished = hook_finished};
    return env_images_open(&ic, &hooks, &srv->images, err);
}

void server_envs_close(server *srv)
{
    env_images_close(srv->images);
    srv->images = NULL;
}

/* ---- secrets ---- */

/* The password an earlier version (below `version`; 0: any) has for the same registry. */
static char *earlier_password(server *srv, const char *name, int version, const char *address)
{
    store_env e;
    amlfs_err ignored = {0};
    if (store_env_get(srv->store, name, &e, &ignored) < 0)
        return NULL;
    char *found = NULL;
    for (size_t i = e.nversions; i-- > 0 && !found;) {
        if (version && e.versions[i] >= version)
            continue;
        store_env_version v;
        env_spec spec;
        if (store_env_version_get(srv->store, name, e.versions[i], &v, &ignored) < 0)
            continue;
        if (spec_parse_env(v.yaml, strlen(v.yaml), "environment.yaml", &spec, &ignored) == 0) {
            if (spec.registry_password && strcmp(spec.registry_password, SECRET_MASK) != 0 &&
                spec.registry_address && address && strcmp(spec.registry_address, address) == 0)
                found = util_xstrdup(spec.registry_password);
            spec_env_free(&spec);
        }
        store_env_version_free(&v);
    }
    store_env_free(&e);
    return found;
}

int env_version_spec(server *srv, const char *name, int version, const char *yaml, env_spec *out,
                     amlfs_err *err)
{
    int rc = spec_parse_env(yaml, strlen(yaml), "environment.yaml", out, err);
    if (rc < 0 || !out->registry_password || strcmp(out->registry_password, SECRET_MASK) != 0)
        return rc;
    char *real = earlier_password(srv, name, version, out->registry_address);
    if (real) {
        free(out->registry_password);
        out->registry_password = real;
    }
    return 0;
}

/* ---- registering ---- */

typedef struct env_paths {
    char *context, *build_log, *setup;
} env_paths;

static env_version_ref make_ref(server *srv, const char *name, int version, const char *label, const env_spec *spec,
                                env_paths *p)
{
    p->context = server_path(srv, "environments/%s/files", name);
    p->build_log = server_path(srv, "environments/%s/build.log", name);
    p->setup = env_setup_dir(srv, name);
    return (env_version_ref){
        .name = name, .version = version, .label = label, .spec = spec, .context_dir = p->context,
        .build_log = p->build_log, .setup_dir = p->setup, .images = srv->images,
    };
}

static void env_paths_free(env_paths *p)
{
    free(p->context);
    free(p->build_log);
    free(p->setup);
}

/* A *** password stands for the one given before; with none before it would be sent as is. */
static int check_masked_password(server *srv, const char *name, env_spec *spec, const char *yaml, size_t len,
                                 const char *filename, amlfs_err *err)
{
    if (!spec->registry_password || strcmp(spec->registry_password, SECRET_MASK) != 0)
        return 0;
    char *real = earlier_password(srv, name, 0, spec->registry_address);
    if (!real)
        return spec_fail_at(err, EINVAL, filename, spec_key_pos(yaml, len, "image_registry"),
                            "image_registry password is %s, but no earlier version of '%s' has a password "
                            "for %s: write the password itself (it is kept by the server and reads back as "
                            "%s)", SECRET_MASK, name, spec->registry_address ? spec->registry_address : "it",
                            SECRET_MASK);
    free(spec->registry_password);
    spec->registry_password = real;
    return 0;
}

/* Validates, stores (Building) and starts the setup. `anonymous`: an inline environment, whose
 * `name` and `version` keys (if any) are not this environment's. */
static int register_checked(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                            bool anonymous, int *version, char **label, amlfs_err *err)
{
    env_spec spec;
    memset(&spec, 0, sizeof spec);
    *label = NULL;
    int rc = spec_parse_env(yaml, len, filename, &spec, err);
    if (rc == 0 && !anonymous && spec.name && strcmp(spec.name, name) != 0)
        rc = spec_fail_at(err, EINVAL, filename, spec.name_pos, "name '%s' differs from the folder '%s'",
                          spec.name, name);
    /* `version:` as written, a number or a name (22.02-py3); absent: the next whole number. */
    const char *want = anonymous ? NULL : spec.version;
    if (rc == 0)
        rc = check_masked_password(srv, name, &spec, yaml, len, filename, err);
    char *spec_text = NULL;
    if (rc == 0) {
        cJSON *json = spec_env_to_json(&spec);
        spec_text = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
        rc = store_env_version_add(srv->store, name, want, yaml, spec_text, env_status_name(ENV_BUILDING), NULL,
                                   util_now_ms(), version, label, err);
        if (rc == -EEXIST)
            amlfs_wrap(err, "%s: ", filename);
    }
    free(spec_text);
    if (rc < 0) {
        spec_env_free(&spec);
        return rc;
    }
    env_paths paths;
    env_version_ref ref = make_ref(srv, name, *version, *label, &spec, &paths);
    env_status status = ENV_FAILED;
    amlfs_err reason = {0};
    if (env_setup_for(&spec)->register_version(&ref, &status, &reason) < 0)
        status = ENV_FAILED; /* reason says how the server failed */
    /* Building: the builder reports the end itself (it may have already). */
    if (status != ENV_BUILDING)
        set_status(srv, name, *version, status, reason.msg);
    announce_build_log(srv, name);
    env_paths_free(&paths);
    spec_env_free(&spec);
    return 0;
}

int env_version_register(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                         int *version, char **label, amlfs_err *err)
{
    return register_checked(srv, name, yaml, len, filename, false, version, label, err);
}

int env_version_rebuild(server *srv, const char *name, int *version, char **label, amlfs_err *err)
{
    *label = NULL;
    store_env_version v;
    int rc = store_env_version_get(srv->store, name, 0, &v, err);
    if (rc == -ENOENT)
        return amlfs_fail(err, ENOENT, "environment '%s' has no version to rebuild yet: write its "
                          "environment.yaml first", name);
    if (rc < 0)
        return rc;
    env_spec spec;
    rc = env_version_spec(srv, name, v.version, v.yaml, &spec, err);
    if (rc < 0) {
        store_env_version_free(&v);
        return rc;
    }
    *version = v.version;
    env_paths paths;
    env_version_ref ref = make_ref(srv, name, v.version, v.label, &spec, &paths);
    env_status status = ENV_FAILED;
    amlfs_err reason = {0};
    const env_setup_ops *setup = env_setup_for(&spec);
    /* Building is stored before the build is queued: the builder's report must come after it. */
    bool builds = setup != &env_setup_host;
    if (builds)
        set_status(srv, name, v.version, ENV_BUILDING, NULL);
    rc = setup->rebuild(&ref, &status, &reason);
    if (rc < 0) {
        rc = amlfs_fail(err, reason.code, "%s", reason.msg);
        int before = env_status_parse(v.status);
        /* -EBUSY: it is being built; its status is the builder's to set. */
        if (builds && rc != -EBUSY)
            set_status(srv, name, v.version, before < 0 ? ENV_FAILED : (env_status)before, v.reason);
    } else if (status != ENV_BUILDING) {
        set_status(srv, name, v.version, status, reason.msg);
    }
    announce_build_log(srv, name);
    env_paths_free(&paths);
    spec_env_free(&spec);
    if (rc == 0)
        *label = util_xstrdup(v.label);
    store_env_version_free(&v);
    return rc;
}

static void resume_version(server *srv, const char *name, int version)
{
    store_env_version v;
    env_spec spec;
    amlfs_err err = {0};
    if (store_env_version_get(srv->store, name, version, &v, &err) < 0)
        goto log;
    if (strcmp(v.status, env_status_name(ENV_BUILDING)) != 0) {
        store_env_version_free(&v);
        return;
    }
    if (env_version_spec(srv, name, version, v.yaml, &spec, &err) < 0) {
        set_status(srv, name, version, ENV_FAILED, err.msg);
        store_env_version_free(&v);
        return;
    }
    env_paths paths;
    env_version_ref ref = make_ref(srv, name, version, v.label, &spec, &paths);
    env_status status = ENV_FAILED;
    amlfs_err reason = {0};
    if (env_setup_for(&spec)->resume(&ref, &status, &reason) < 0)
        status = ENV_FAILED;
    if (status != ENV_BUILDING)
        set_status(srv, name, version, status, reason.msg);
    env_paths_free(&paths);
    spec_env_free(&spec);
    store_env_version_free(&v);
    return;
log:
    log_warning("taking up environment %s version %d again: %s", name, version, err.msg);
}

void server_envs_resume(server *srv)
{
    store_env *list;
    size_t n;
    amlfs_err err = {0};
    if (store_env_list(srv->store, &list, &n, &err) < 0) {
        log_warning("environments left Building: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < list[i].nversions; j++)
            resume_version(srv, list[i].name, list[i].versions[j]);
    store_env_list_free(list, n);
}

/* ---- inline environments ---- */

/* Whether the latest version of an anonymous environment serves a job with this inline spec: not
 * when it failed (the job may be submitted again after its cause was fixed), nor when the job
 * brings a different password. */
static bool latest_serves(server *srv, const char *name, const env_spec *wanted, int *version, char **label)
{
    store_env_version v;
    env_spec have;
    amlfs_err ignored = {0};
    if (store_env_version_get(srv->store, name, 0, &v, &ignored) < 0)
        return false;
    bool ok = strcmp(v.status, env_status_name(ENV_FAILED)) != 0;
    if (ok && wanted->registry_password && strcmp(wanted->registry_password, SECRET_MASK) != 0) {
        ok = env_version_spec(srv, name, v.version, v.yaml, &have, &ignored) == 0 && have.registry_password &&
             strcmp(have.registry_password, wanted->registry_password) == 0;
        spec_env_free(&have);
    }
    *version = v.version;
    if (ok)
        *label = util_xstrdup(v.label);
    store_env_version_free(&v);
    return ok;
}

int env_inline_register(server *srv, const env_inline *in, char **name, int *version, char **label, amlfs_err *err)
{
    *name = NULL;
    *label = NULL;
    char *dir = server_path(srv, "environments/%s", in->name);
    char *files = server_path(srv, "environments/%s/files", in->name);
    struct stat st;
    bool had_dir = stat(dir, &st) == 0, created = false;
    int rc = util_mkdir_p(files, 0700, err);
    if (rc == 0)
        rc = env_inline_place_files(srv, in, files, err);
    if (rc == 0) {
        rc = store_env_create(srv->store, in->name, util_now_ms(), err);
        created = rc == 0;
        if (rc == -EEXIST)
            rc = 0;
    }
    if (rc == 0 && !latest_serves(srv, in->name, &in->spec, version, label))
        rc = register_checked(srv, in->name, in->yaml, strlen(in->yaml), in->filename, true, version, label, err);
    amlfs_err ignored = {0};
    if (rc < 0) {
        /* Refused (a *** password with none before): the environment made for this job goes again. */
        store_env e;
        if (created)
            store_env_delete(srv->store, in->name, &ignored);
        if (!had_dir && store_env_get(srv->store, in->name, &e, &ignored) == -ENOENT)
            util_rm_rf(dir, &ignored);
        else if (!had_dir)
            store_env_free(&e);
    } else {
        if (created)
            events_emitf(srv->events, "created", -1, "environments/%s", in->name);
        events_emitf(srv->events, "changed", -1, "environments/%s", in->name);
        *name = util_xstrdup(in->name);
    }
    free(dir);
    free(files);
    return rc;
}
