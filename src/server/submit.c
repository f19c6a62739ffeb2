/* submit.c: POST /v1/experiments/NAME/runs: a job.yaml becomes a queued run. Validate, resolve the
 * environment and compute, render the command, snapshot the code (the experiment's own folder here,
 * an absolute folder as uploaded by the mount; the run's working copy is made when it is prepared,
 * run_code.c); any rejection leaves nothing behind and is written in the experiment's status line with
 * the file, line and column. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "amlfs/metrics.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

/* Environment variables every job gets; PYTHONUNBUFFERED makes python's output reach the log (and
 * `tail -f`) as it is printed instead of in 4 KiB blocks. Users may override it. */
#define DEFAULT_ENV "PYTHONUNBUFFERED=1"

typedef struct submission {
    server *srv;
    const char *experiment;
    const char *yaml;
    size_t len;
    const char *filename;
    const char *dir;
    job_spec job;
    char *environment;          /* NULL: inline */
    int environment_version;    /* its registration number */
    char *environment_label;    /* the version as users name it */
    env_inline inline_env;      /* an inline or file: environment, registered once the job is accepted */
    const char *compute;
    char *command;
    char *id;
    char *code_dir;             /* absolute, inside the experiment's files (relative code:) */
    const submit_code *code_in; /* what the client did for an absolute code: (may be NULL) */
    char snapshot[SNAPSHOT_SHA_HEX]; /* the code's snapshot, once taken or checked */
    char *run_dir;
} submission;

static void submission_free(submission *s)
{
    spec_job_free(&s->job);
    free(s->environment);
    free(s->environment_label);
    env_inline_free(&s->inline_env);
    free(s->command);
    free(s->id);
    free(s->code_dir);
    free(s->run_dir);
}

/* "a, b" of the environments, or a hint when there are none. */
static char *environment_names(server *srv)
{
    store_env *list = NULL;
    size_t n = 0;
    amlfs_err ignored = {0};
    if (store_env_list(srv->store, &list, &n, &ignored) < 0 || n == 0) {
        store_env_list_free(list, n);
        return util_xstrdup("none yet: mkdir environments/NAME and write its environment.yaml");
    }
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(list[i].name) + 2;
    char *names = util_xcalloc(1, cap);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(names, ", ");
        strcat(names, list[i].name);
    }
    store_env_list_free(list, n);
    return names;
}

/* The versions as users name them, in registration order. */
static char *version_list(const store_env *e)
{
    util_buf b = {0};
    for (size_t i = 0; i < e->nversions; i++) {
        if (i)
            util_buf_append(&b, ", ", 2, 0);
        util_buf_append(&b, e->labels[i], strlen(e->labels[i]), 0);
    }
    return b.data ? b.data : util_xstrdup("");
}

/* @latest: the newest registered version that did not fail (a Building one: the run waits for its
 * image); if all failed, the newest (its failure then shows on the run). An index into e's versions. */
static size_t latest_usable(server *srv, const store_env *e)
{
    for (size_t i = e->nversions; i-- > 0;) {
        store_env_version v;
        amlfs_err ignored = {0};
        if (store_env_version_get(srv->store, e->name, e->versions[i], &v, &ignored) == 0) {
            bool usable = strcmp(v.status, "Failed") != 0;
            store_env_version_free(&v);
            if (usable)
                return i;
        }
    }
    return e->nversions - 1;
}

static int resolve_environment(submission *s, amlfs_err *err)
{
    const job_spec *job = &s->job;
    if (!job->environment_name) {
        /* Inline or file:PATH: read from the experiment now, registered as an anonymous environment once
         * the job is accepted (so a refused job leaves none). */
        env_inline_source src = {
            .experiment = s->experiment, .dir = s->dir, .job = job, .yaml = s->yaml, .len = s->len,
            .filename = s->filename, .limits = server_snapshot_limits(s->srv, job),
        };
        int rc = env_inline_prepare(s->srv, &src, &s->inline_env, err);
        if (rc == 0 && job->environment_file) {
            /* The job's environment is the file's, as if written inline (what the run is checked with). */
            s->job.environment_inline = util_xcalloc(1, sizeof *s->job.environment_inline);
            rc = spec_parse_env(s->inline_env.yaml, strlen(s->inline_env.yaml), s->inline_env.filename,
                                s->job.environment_inline, err);
        }
        return rc;
    }
    store_env e;
    int rc = store_env_get(s->srv->store, job->environment_name, &e, err);
    /* A registry's environment (azureml://registries/R/...) is this workspace's environment of that name. */
    char *from = job->environment_registry ? util_strdupf(" (from registry '%s')", job->environment_registry)
                                           : util_xstrdup("");
    if (rc == -ENOENT && job->environment_registry)
        rc = spec_fail_at(err, ENOENT, s->filename, job->environment_pos,
                          "environment '%s'%s is not in this workspace: mkdir environments/%s and write its "
                          "environment.yaml", job->environment_name, from, job->environment_name);
    else if (rc == -ENOENT) {
        char *known = environment_names(s->srv);
        rc = spec_fail_at(err, ENOENT, s->filename, job->environment_pos,
                          "environment '%s' not found (known: %s)", job->environment_name, known);
        free(known);
    }
    if (rc < 0) {
        free(from);
        return rc;
    }
    if (e.nversions == 0) {
        rc = spec_fail_at(err, ENOENT, s->filename, job->environment_pos,
                          "environment '%s'%s has no version yet: write environments/%s/environment.yaml",
                          e.name, from, e.name);
        store_env_free(&e);
        free(from);
        return rc;
    }
    size_t found = e.nversions;
    if (job->environment_version) {
        for (size_t i = 0; i < e.nversions; i++)
            if (strcmp(e.labels[i], job->environment_version) == 0)
                found = i;
        if (found == e.nversions) {
            char *versions = version_list(&e);
            rc = spec_fail_at(err, ENOENT, s->filename, job->environment_pos,
                              "environment '%s'%s has no version '%s'%s (known: %s)", e.name, from,
                              job->environment_version, job->environment_registry ? " here" : "", versions);
            free(versions);
            store_env_free(&e);
            free(from);
            return rc;
        }
    } else {
        found = latest_usable(s->srv, &e);
    }
    s->environment = util_xstrdup(e.name);
    s->environment_version = e.versions[found];
    s->environment_label = util_xstrdup(e.labels[found]);
    store_env_free(&e);
    free(from);
    return 0;
}

/* Whether the run's environment is a container image (resolve_environment has run). */
static bool environment_is_image(submission *s)
{
    if (s->job.environment_inline)
        return s->job.environment_inline->image || s->job.environment_inline->has_build;
    store_env_version v;
    amlfs_err ignored = {0};
    if (!s->environment || store_env_version_get(s->srv->store, s->environment, s->environment_version, &v,
                                                 &ignored) < 0)
        return false;
    env_spec spec;
    bool image = false;
    if (spec_parse_env(v.yaml, strlen(v.yaml), "environment.yaml", &spec, &ignored) == 0) {
        image = spec.image || spec.has_build;
        spec_env_free(&spec);
    }
    store_env_version_free(&v);
    return image;
}

static int resolve_compute(submission *s, amlfs_err *err)
{
    s->compute = s->job.compute ? s->job.compute : "local";
    int nodes, per_node;
    int rc = spec_job_ranks(&s->job, s->filename, &nodes, &per_node, err);
    if (rc < 0)
        return rc;
    if (nodes * per_node > 1 && environment_is_image(s))
        return spec_fail_at(err, EINVAL, s->filename, s->job.distribution_pos.line ? s->job.distribution_pos
                                                                                   : s->job.environment_pos,
                            "distributed runs (%d processes) in a container image are not supported yet: use an "
                            "environment without image or build", nodes * per_node);
    store_compute stored;
    rc = store_compute_get(s->srv->store, s->compute, &stored, err);
    if (rc == -ENOENT) {
        char *known = server_compute_names(s->srv);
        rc = spec_fail_at(err, ENOENT, s->filename, s->job.compute_pos, "compute '%s' not found (known: %s)",
                          s->compute, known);
        free(known);
        return rc;
    }
    if (rc < 0)
        return rc;
    store_compute_free(&stored);
    amlfs_err why = {0};
    if ((rc = server_compute_usable(s->srv, s->compute, nodes, &why)) < 0)
        return spec_fail_at(err, -rc, s->filename, s->job.compute_pos, "%s", why.msg);
    return 0;
}

/* dir + code, with "." and ".." worked out; ".." may not climb above the experiment's folder. */
static int code_relpath(submission *s, char **out, amlfs_err *err)
{
    const char *code = s->job.code ? s->job.code : "."; /* relative: resolve_code took absolute ones */
    if (submit_relpath(s->dir, code, out) == 0)
        return 0;
    return spec_fail_at(err, EINVAL, s->filename, s->job.code_pos, "code '%s' leads outside the experiment folder",
                        code);
}

/* A refusal of the code folder `shown` at the code: position. The limit messages say "code folder is
 * 400 MB ..."; with the folder's name in them the status line stands on its own. */
static int code_fail(submission *s, int errnum, const char *shown, const char *msg, amlfs_err *err)
{
    bool limit = strncmp(msg, "code folder is ", 15) == 0 || strncmp(msg, "code folder has ", 16) == 0;
    if (limit && strcmp(shown, ".") != 0)
        return spec_fail_at(err, errnum, s->filename, s->job.code_pos, "code folder %s%s%s %s",
                            shown[0] == '/' ? "" : "'", shown, shown[0] == '/' ? "" : "'", msg + 12);
    return spec_fail_at(err, errnum, s->filename, s->job.code_pos, "%s", msg);
}

/* An absolute code: folder was snapshotted by the client: refuse with its reason, or check the
 * snapshot it uploaded (this job's limits, every content present). */
static int resolve_uploaded_code(submission *s, amlfs_err *err)
{
    const submit_code *in = s->code_in;
    spec_pos pos = s->job.code_pos;
    if (in && in->error_errno > 0)
        return code_fail(s, in->error_errno, s->job.code,
                         in->error_message && *in->error_message ? in->error_message : "cannot be snapshotted", err);
    if (!in || !in->snapshot)
        return spec_fail_at(err, EINVAL, s->filename, pos,
                            "code: absolute local folders are uploaded by the amlfs mount; through the API, POST "
                            "/v1/snapshots, upload what is missing to /v1/blobs and send \"snapshot\": HASH");
    const snapshot_manifest *m;
    amlfs_err why = {0};
    int rc = server_snapshot_get(s->srv, in->snapshot, &m, &why);
    if (rc < 0)
        return spec_fail_at(err, -rc, s->filename, pos, "code: %s", why.msg);
    snapshot_limits limits = server_snapshot_limits(s->srv, &s->job);
    char **missing = NULL;
    size_t n = 0;
    rc = snapshot_limits_check(m, &limits, "code folder", server_snapshot_ignore_file(m), &why);
    if (rc == 0 && (rc = server_snapshot_missing(s->srv, m, &missing, &n, &why)) == 0 && n > 0)
        rc = amlfs_fail(&why, ENOENT, "%zu content%s of snapshot %.12s... %s not uploaded yet (POST /v1/blobs)", n,
                        n == 1 ? "" : "s", m->hash, n == 1 ? "was" : "were");
    snapshot_strings_free(missing, n);
    if (rc == 0)
        snprintf(s->snapshot, sizeof s->snapshot, "%s", m->hash);
    server_snapshot_release(s->srv, m);
    return rc < 0 ? code_fail(s, -rc, s->job.code, why.msg, err) : 0;
}

/* The experiment's own folder, snapshotted here: no upload. */
static int snapshot_own_code(submission *s, const char *shown, amlfs_err *err)
{
    snapshot_limits limits = server_snapshot_limits(s->srv, &s->job);
    snapshot_manifest m;
    amlfs_err why = {0};
    int rc = server_snapshot_folder(s->srv, s->code_dir, &limits, &m, &why);
    if (rc < 0)
        return code_fail(s, -rc, shown, why.msg, err);
    snprintf(s->snapshot, sizeof s->snapshot, "%s", m.hash);
    server_snapshot_put(s->srv, &m); /* its preparation reads it from the cache, not back from disk */
    return 0;
}

static int resolve_code(submission *s, amlfs_err *err)
{
    if (s->job.code && s->job.code[0] == '/')
        return resolve_uploaded_code(s, err);
    if (s->code_in && (s->code_in->snapshot || s->code_in->error_errno > 0))
        return spec_fail_at(err, EINVAL, s->filename, s->job.code_pos,
                            "\"snapshot\" and \"code_error\" are for an absolute code: folder; this code is the "
                            "experiment's own, snapshotted by the server");
    char *rel = NULL;
    int rc = code_relpath(s, &rel, err);
    if (rc < 0)
        return rc;
    char *root = server_path(s->srv, "experiments/%s/files", s->experiment);
    amlfs_err why = {0};
    rc = folder_resolve_dir(root, rel, &s->code_dir, &why);
    if (rc < 0) {
        const char *shown = rel[0] ? rel : ".";
        if (rc == -ENOENT)
            rc = spec_fail_at(err, ENOENT, s->filename, s->job.code_pos,
                              "code folder '%s' not found in experiment '%s'", shown, s->experiment);
        else if (rc == -ENOTDIR)
            rc = spec_fail_at(err, EINVAL, s->filename, s->job.code_pos, "code '%s' is not a folder", shown);
        else
            rc = spec_fail_at(err, rc == -EACCES ? EINVAL : -rc, s->filename, s->job.code_pos, "code: %s",
                              why.msg);
    }
    if (rc == 0)
        rc = snapshot_own_code(s, rel[0] ? rel : ".", err);
    free(root);
    free(rel);
    return rc;
}

/* Makes the run's folder: DATA_DIR/runs/ID, or on a compute whose nodes share a folder, RUN_ROOT/ID
 * there with DATA_DIR/runs/ID a link to it (so the server reads every run's files the same way).
 * -EEXIST when the id is taken. */
static int make_run_dir(submission *s, const char *run_root)
{
    if (!run_root)
        return mkdir(s->run_dir, 0700) == 0 ? 0 : -errno;
    char *shared = util_strdupf("%s/%s", run_root, s->id);
    int rc = 0;
    /* The nodes run the job as the cluster's user: the folder is theirs to read (its secrets are in
     * launch.json, 0600). */
    if (mkdir(shared, 0755) < 0)
        rc = -errno;
    else if (symlink(shared, s->run_dir) < 0) {
        rc = -errno;
        rmdir(shared);
    }
    free(shared);
    return rc;
}

char *run_id_make(const char *experiment, uint32_t rnd)
{
    /* Within the 255-byte name limit: 1 + 10 + 1 + 8 bytes follow the experiment. */
    char *id = util_strdupf("%.235s_%lld_%08x", experiment, (long long)time(NULL), rnd);
    for (char *c = id; *c; c++)
        if (*c == '.')
            *c = '-';
    return id;
}

static int claim_id_under(submission *s, const char *run_root, amlfs_err *err);

/* `name:` when given (a new run id), else EXPERIMENT_UNIXTIME_8HEX. Claims the id by creating the
 * run's folder: two submissions can never get the same one. */
static int claim_id(submission *s, amlfs_err *err)
{
    compute *c = server_compute_get(s->srv, s->compute);
    char *run_root = c && c->run_root ? util_xstrdup(c->run_root) : NULL;
    server_compute_release(s->srv, c);
    int rc = claim_id_under(s, run_root, err);
    free(run_root);
    return rc;
}

static int claim_id_under(submission *s, const char *run_root, amlfs_err *err)
{
    amlfs_err why = {0};
    char *runs = server_path(s->srv, "runs");
    int rc = util_mkdir_p(runs, 0700, err);
    free(runs);
    if (rc < 0)
        return rc;
    if (s->job.name) {
        spec_pos pos = spec_key_pos(s->yaml, s->len, "name");
        if (util_check_name("run", s->job.name, &why) < 0)
            return spec_fail_at(err, EINVAL, s->filename, pos, "%s", why.msg);
        if (!metrics_run_id_ok(s->job.name))
            return spec_fail_at(err, EINVAL, s->filename, pos,
                                "run name '%s' holds '.': a run id may hold only letters, digits, '_' and '-', so "
                                "that MLflow's clients can log into the run", s->job.name);
        s->id = util_xstrdup(s->job.name);
        s->run_dir = server_path(s->srv, "runs/%s", s->id);
        if (store_run_exists(s->srv->store, s->id) || make_run_dir(s, run_root) < 0)
            return spec_fail_at(err, EEXIST, s->filename, pos,
                                "run '%s' exists already: remove `name:` to get a new run id, or choose "
                                "another name", s->id);
        return 0;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t rnd;
        if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            return amlfs_fail(err, EIO, "getrandom: %s", strerror(errno));
        s->id = run_id_make(s->experiment, rnd);
        s->run_dir = server_path(s->srv, "runs/%s", s->id);
        if (!store_run_exists(s->srv->store, s->id) && make_run_dir(s, run_root) == 0)
            return 0;
        free(s->id);
        free(s->run_dir);
        s->id = s->run_dir = NULL;
    }
    return amlfs_fail(err, EIO, "could not find a free run id under %s", s->srv->data_dir);
}

/* Where the job's AMLFS_METRICS files go (the supervisor makes them): there before it starts, so the
 * monitor follows it from the start and a container can have it mounted. The working folder, with the
 * code, is made when the run is prepared (run_code.c): a Queued run costs no disk. */
static int make_metrics_dir(submission *s, amlfs_err *err)
{
    char *metrics = util_strdupf("%s/" METRICS_DIR, s->run_dir);
    int rc = util_mkdir_p(metrics, 0755, err);
    free(metrics);
    if (rc < 0)
        amlfs_wrap(err, "preparing the folder of run %s: ", s->id);
    return rc;
}

/* ["PYTHONUNBUFFERED=1", user variables..., the run's ids] as JSON text. */
static int job_env_json(submission *s, char **out, amlfs_err *err)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateString(DEFAULT_ENV));
    for (size_t i = 0; i < s->job.environment_variables.count; i++) {
        const spec_kv *kv = &s->job.environment_variables.items[i];
        if (!kv->key[0] || strchr(kv->key, '=')) {
            cJSON_Delete(arr);
            return spec_fail_at(err, EINVAL, s->filename, kv->pos,
                                "environment variable name '%s' cannot be empty or hold '='", kv->key);
        }
        char *entry = util_strdupf("%s=%s", kv->key, kv->value ? kv->value : "");
        cJSON_AddItemToArray(arr, cJSON_CreateString(entry));
        free(entry);
    }
    const char *ids[][2] = {{"AZUREML_RUN_ID", s->id}, {"AZUREML_EXPERIMENT_NAME", s->experiment},
                            {"AMLFS_RUN_ID", s->id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *entry = util_strdupf("%s=%s", ids[i][0], ids[i][1]);
        cJSON_AddItemToArray(arr, cJSON_CreateString(entry));
        free(entry);
    }
    *out = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return 0;
}

/* The job's data in its run folder, and the command again with the paths its inputs and outputs got. */
static int place_data(submission *s, amlfs_err *err)
{
    if (!s->job.data_inputs.count && !s->job.outputs.count)
        return 0;
    submit_data d = {.job = &s->job, .experiment = s->experiment, .dir = s->dir, .filename = s->filename,
                     .run_id = s->id, .uploads = s->code_in ? s->code_in->input_snapshots : NULL,
                     .upload_errors = s->code_in ? s->code_in->input_errors : NULL};
    spec_kvlist inputs, outputs;
    int rc = submit_data_place(s->srv, &d, s->run_dir, &inputs, &outputs, err);
    if (rc == 0) {
        spec_render_values values = {.inputs = &inputs, .outputs = &outputs};
        free(s->command);
        s->command = NULL;
        rc = spec_job_render_command(&s->job, &values, s->filename, &s->command, err);
    }
    spec_kvlist_free(&inputs);
    spec_kvlist_free(&outputs);
    return rc;
}

static int store_and_queue(submission *s, amlfs_err *err)
{
    char *resolved = NULL, *env_json = NULL, *spec_json = NULL;
    int rc = 0;
    /* Last of the checks, so a refused job leaves no environment behind. */
    if (!s->environment && (rc = env_inline_register(s->srv, &s->inline_env, &s->environment,
                                                     &s->environment_version, &s->environment_label, err)) < 0)
        return rc;
    rc = spec_job_pin_references(s->yaml, s->len, s->environment, s->environment_label, s->compute,
                              &resolved, err);
    if (rc == 0)
        rc = job_env_json(s, &env_json, err);
    if (rc == 0) {
        cJSON *spec = spec_job_to_json(&s->job);
        spec_json = cJSON_PrintUnformatted(spec);
        cJSON_Delete(spec);
        store_run r = {
            .id = s->id,
            .experiment = (char *)s->experiment,
            .display_name = s->job.display_name ? s->job.display_name : s->id,
            .compute = (char *)s->compute,
            .environment = s->environment,
            .environment_version = s->environment_version,
            .environment_label = s->environment_label,
            .job_yaml = resolved,
            .spec_json = spec_json,
            .command = s->command,
            .job_env = env_json,
            .created = util_now_ms(),
            .timeout_s = s->job.timeout_s,
            .snapshot = s->snapshot,
        };
        /* The versions its outputs register when it completes (one without a version takes the next). */
        size_t n = 0;
        store_data_claim *claims = util_xcalloc(s->job.output_assets.count + 1, sizeof *claims);
        for (size_t i = 0; i < s->job.output_assets.count; i++) {
            const char *version = s->job.output_asset_versions.items[i].value;
            if (version[0])
                claims[n++] = (store_data_claim){s->job.output_assets.items[i].value, atoi(version)};
        }
        rc = run_create(s->srv, &r, claims, n, err);
        free(claims);
    }
    free(resolved);
    free(env_json);
    free(spec_json);
    return rc;
}

static int submit_checked(submission *s, amlfs_err *err)
{
    int rc;
    if (s->dir[0] && (rc = util_check_relpath(s->dir, err)) < 0)
        return amlfs_wrap(err, "dir: ");
    if ((rc = spec_parse_job(s->yaml, s->len, s->filename, &s->job, err)) < 0)
        return rc;
    if ((rc = resolve_environment(s, err)) < 0 || (rc = resolve_compute(s, err)) < 0 ||
        (rc = spec_job_render_command(&s->job, NULL, s->filename, &s->command, err)) < 0 ||
        (rc = resolve_code(s, err)) < 0 || (rc = claim_id(s, err)) < 0)
        return rc;
    if ((rc = make_metrics_dir(s, err)) < 0 || (rc = place_data(s, err)) < 0 || (rc = store_and_queue(s, err)) < 0) {
        amlfs_err ignored = {0};
        util_rm_rf_through_link(s->run_dir, &ignored);
        return rc;
    }
    return 0;
}

/* "submitted ID", and what the file said that is not used, so it is never dropped silently. */
static char *submitted_line(const submission *s, bool other_name)
{
    util_buf b = {0};
    char *head = util_strdupf("submitted %s", s->id);
    util_buf_append(&b, head, strlen(head), 0);
    free(head);
    if (s->job.environment_registry) {
        char *note = util_strdupf(" (environment %s is this workspace's %s, version %s)",
                                  s->job.environment_reference, s->environment, s->environment_label);
        util_buf_append(&b, note, strlen(note), 0);
        free(note);
    }
    if (other_name) {
        char *note = util_strdupf(" (experiment_name '%.200s' in %s is not used: the folder '%s' is the experiment)",
                                  s->job.experiment_name, s->filename, s->experiment);
        util_buf_append(&b, note, strlen(note), 0);
        free(note);
    }
    for (size_t i = 0; i < s->job.ignored.count; i++) {
        const char *lead = i == 0 ? " (ignored here: " : ", ";
        util_buf_append(&b, lead, strlen(lead), 0);
        util_buf_append(&b, s->job.ignored.items[i].key, strlen(s->job.ignored.items[i].key), 0);
        if (i + 1 == s->job.ignored.count)
            util_buf_append(&b, ")", 1, 0);
    }
    return b.data;
}

int run_submit(server *srv, const char *experiment, const char *yaml, size_t len,
               const char *filename, const char *dir, char **out_id, amlfs_err *err)
{
    return run_submit_code(srv, experiment, yaml, len, filename, dir, NULL, out_id, err);
}

int run_submit_code(server *srv, const char *experiment, const char *yaml, size_t len, const char *filename,
                    const char *dir, const submit_code *code, char **out_id, amlfs_err *err)
{
    store_experiment e;
    int rc = store_experiment_get(srv->store, experiment, &e, err);
    if (rc < 0)
        return rc;
    store_experiment_free(&e);
    submission s = {
        .srv = srv,
        .experiment = experiment,
        .yaml = yaml,
        .len = len,
        .filename = filename && filename[0] ? filename : "job.yaml",
        .dir = dir ? dir : "",
        .code_in = code,
    };
    rc = submit_checked(&s, err);
    /* The folder is the experiment; a job file copied from elsewhere often names another one. */
    bool other_name = rc == 0 && s.job.experiment_name && strcmp(s.job.experiment_name, experiment) != 0;
    char *line = rc < 0 ? util_strdupf("Rejected: %s", err->msg) : submitted_line(&s, other_name);
    server_status_line_set(srv, experiment, line);
    events_emitf(srv->events, "changed", -1, "experiments/%s", experiment);
    free(line);
    if (rc == 0)
        *out_id = util_xstrdup(s.id);
    submission_free(&s);
    return rc;
}
