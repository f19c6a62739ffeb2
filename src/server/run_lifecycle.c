/* run_lifecycle.c: the one place a run changes status. Every move is checked against the state
 * machine (api/run_status.c), stored, and announced in the change feed, under one lock that is never
 * held across a blocking call: environment setup, a compute's submit, cancel and poll run outside it,
 * and their outcome is applied under it after checking the run is still where it was. */
#include "amlfs/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/env.h"
#include "amlfs/metrics.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

#define B(s) (1u << (s))
#define LIVE_MASK                                                                                  \
    (B(RUN_NOT_STARTED) | B(RUN_QUEUED) | B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) |  \
     B(RUN_CANCEL_REQUESTED))
/* Runs a compute may have been handed (with a handle): what a poll asks about. */
#define POLLED_MASK                                                                                \
    (B(RUN_QUEUED) | B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) | B(RUN_CANCEL_REQUESTED))
/* How long a canceled job gets between TERM and KILL. */
#define CANCEL_GRACE_S 10

/* Which of a compute's counts a status belongs to: 0 none, 1 queued, 2 running. */
static int count_bucket(run_status s)
{
    if (s == RUN_NOT_STARTED || s == RUN_QUEUED)
        return 1;
    if (s == RUN_PREPARING || s == RUN_RUNNING || s == RUN_FINALIZING || s == RUN_CANCEL_REQUESTED)
        return 2;
    return 0;
}

static void end_children_locked(server *srv, const store_run *parent, run_status to);

bool run_is_interactive(const store_run *r)
{
    return r->compute && !r->compute[0];
}

/* Lock held. On success r->status is the new status. */
static int move_locked(server *srv, store_run *r, run_status to, const run_change *chg, amlfs_err *err)
{
    if (!run_status_can_move(r->status, to))
        return amlfs_fail(err, EINVAL, "run %s cannot go from %s to %s", r->id,
                          run_status_name(r->status), run_status_name(to));
    store_run_change sc = {0};
    if (chg) {
        sc.started = chg->started;
        sc.ended = chg->ended;
        sc.set_exit_code = chg->set_exit_code;
        sc.exit_code = chg->exit_code;
        sc.error = chg->error;
        sc.handle = chg->handle;
    }
    if (run_status_terminal(to) && !sc.ended)
        sc.ended = util_now_ms();
    int rc = store_run_set_status(srv->store, r->id, to, &sc, err);
    if (rc < 0)
        return amlfs_wrap(err, "run %s -> %s: ", r->id, run_status_name(to));
    run_status from = r->status;
    r->status = to;
    events_emitf(srv->events, "changed", -1, "runs/%s", r->id);
    if (count_bucket(from) != count_bucket(to) && !run_is_interactive(r))
        events_emitf(srv->events, "changed", -1, "computes/%s", r->compute);
    if (chg && chg->handle && !r->handle)
        r->handle = util_xstrdup(chg->handle);
    if (run_status_terminal(to))
        end_children_locked(srv, r, to);
    return 0;
}

/* ---- runs being started: the lock is let go while a run is set up and submitted, so a second
 * starter and a cancel must see that a start is under way (lock held for all three). ---- */
static bool starting_has(server *srv, const char *id)
{
    for (size_t i = 0; i < srv->nstarting; i++)
        if (strcmp(srv->starting[i], id) == 0)
            return true;
    return false;
}

static void starting_add(server *srv, const char *id)
{
    srv->starting = util_xrealloc(srv->starting, (srv->nstarting + 1) * sizeof *srv->starting);
    srv->starting[srv->nstarting++] = util_xstrdup(id);
}

static void starting_remove(server *srv, const char *id)
{
    for (size_t i = 0; i < srv->nstarting; i++) {
        if (strcmp(srv->starting[i], id) == 0) {
            free(srv->starting[i]);
            srv->starting[i] = srv->starting[--srv->nstarting];
            return;
        }
    }
}

/* Failing is the way out of every live state; if even that fails, the store is broken: say so. */
static void fail_locked(server *srv, store_run *r, const char *why)
{
    amlfs_err err = {0};
    run_change chg = {.error = why};
    if (move_locked(srv, r, RUN_FAILED, &chg, &err) < 0)
        log_error("run %s: could not record its failure (%s): %s", r->id, why,
                  err.msg);
}

int run_move(server *srv, const char *id, run_status to, const run_change *chg, amlfs_err *err)
{
    store_run r;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc == 0)
        rc = move_locked(srv, &r, to, chg, err);
    pthread_mutex_unlock(&srv->lifecycle_lock);
    store_run_free(&r);
    return rc;
}

int run_data_version_free(server *srv, const char *name, int version, amlfs_err *err)
{
    store_data_version v;
    amlfs_err ignored = {0};
    if (store_data_version_get(srv->store, name, version, &v, &ignored) == 0) {
        store_data_version_free(&v);
        return amlfs_fail(err, EEXIST, "data asset '%s' has a version %d already", name, version);
    }
    char *holder = NULL;
    run_status status;
    if (store_data_claim_holder(srv->store, name, version, &holder, &status, &ignored) == 0) {
        amlfs_fail(err, EEXIST, "data asset '%s' version %d is to be registered by run %s (%s) when it completes",
                   name, version, holder, run_status_name(status));
        free(holder);
        return -EEXIST;
    }
    return 0;
}

int run_create(server *srv, store_run *r, const store_data_claim *claims, size_t nclaims, amlfs_err *err)
{
    pthread_mutex_lock(&srv->lifecycle_lock);
    r->status = RUN_NOT_STARTED;
    int rc = 0;
    /* Checked and claimed under the lock: of two runs asking for one version, the second is refused. */
    for (size_t i = 0; rc == 0 && i < nclaims; i++)
        if ((rc = run_data_version_free(srv, claims[i].name, claims[i].version, err)) < 0)
            amlfs_wrap(err, "an output of run %s: ", r->id);
    /* Claims first: a claim holds only while its run exists and goes on, so one left by a run that
     * could not be stored holds nothing. */
    if (rc == 0 && nclaims)
        rc = store_data_claims_add(srv->store, r->id, claims, nclaims, err);
    if (rc == 0)
        rc = store_run_insert(srv->store, r, err);
    if (rc == 0) {
        events_emitf(srv->events, "created", -1, "runs/%s", r->id);
        events_emitf(srv->events, "changed", -1, "experiments/%s", r->experiment);
        rc = move_locked(srv, r, RUN_QUEUED, NULL, err);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    if (rc == 0)
        scheduler_kick(srv->scheduler);
    return rc;
}

/* Lock held. An interactive run's way to its end, each step a move of the state machine: Completed
 * through Finalizing, Canceled through CancelRequested. */
static int end_interactive_locked(server *srv, store_run *r, run_status to, const char *error, amlfs_err *err)
{
    int rc = 0;
    if (to == RUN_COMPLETED && r->status != RUN_FINALIZING && r->status != RUN_CANCEL_REQUESTED)
        rc = move_locked(srv, r, RUN_FINALIZING, NULL, err);
    else if (to == RUN_CANCELED && r->status != RUN_CANCEL_REQUESTED)
        rc = move_locked(srv, r, RUN_CANCEL_REQUESTED, NULL, err);
    run_change chg = {.error = to == RUN_FAILED ? error : NULL};
    if (rc == 0)
        rc = move_locked(srv, r, to, &chg, err);
    return rc;
}

/* Lock held. The parent's end reaches its live children (and theirs: depth is bounded by
 * STORE_RUN_DEPTH_MAX). */
static void end_children_locked(server *srv, const store_run *parent, run_status to)
{
    char **ids = NULL;
    size_t n = 0;
    amlfs_err err = {0};
    if (store_run_children(srv->store, parent->id, &ids, &n, &err) < 0) {
        log_warning("run %s ended: its children could not be listed: %s", parent->id, err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        store_run child;
        if (store_run_get(srv->store, ids[i], &child, &err) < 0) {
            log_warning("run %s ended: its child %s: %s", parent->id, ids[i], err.msg);
            continue;
        }
        if (run_is_interactive(&child) && !run_status_terminal(child.status)) {
            char why[400];
            snprintf(why, sizeof why, "its parent run %.300s ended %s", parent->id, run_status_name(to));
            if (end_interactive_locked(srv, &child, to, why, &err) < 0)
                log_warning("ending run %s with its parent %s: %s", child.id, parent->id, err.msg);
        }
        store_run_free(&child);
    }
    store_strings_free(ids, n);
}

int run_create_interactive(server *srv, store_run *r, const char *parent, int depth, amlfs_err *err)
{
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = 0;
    if (parent) {
        /* Checked and linked under the lock: a parent ending now cannot miss this child. */
        store_run p;
        rc = store_run_get(srv->store, parent, &p, err);
        if (rc == 0 && run_status_terminal(p.status))
            rc = amlfs_fail(err, EINVAL, "the parent run %s has ended (%s): a nested run needs a live parent",
                            parent, run_status_name(p.status));
        store_run_free(&p);
        if (rc == 0)
            rc = store_run_parent_set(srv->store, r->id, parent, depth, err);
    }
    r->status = RUN_NOT_STARTED;
    if (rc == 0)
        rc = store_run_insert(srv->store, r, err);
    if (rc == 0) {
        events_emitf(srv->events, "created", -1, "runs/%s", r->id);
        events_emitf(srv->events, "changed", -1, "experiments/%s", r->experiment);
        run_change chg = {.started = r->started ? r->started : util_now_ms()};
        rc = move_locked(srv, r, RUN_QUEUED, NULL, err);
        if (rc == 0)
            rc = move_locked(srv, r, RUN_RUNNING, &chg, err);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    return rc;
}

int run_end_interactive(server *srv, const char *id, run_status to, const char *error, amlfs_err *err)
{
    store_run r;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc == 0 && !run_is_interactive(&r))
        rc = amlfs_fail(err, EINVAL, "run %s follows its job on compute %s: its job's end ends it", id, r.compute);
    else if (rc == 0 && run_status_terminal(r.status))
        rc = 1;
    else if (rc == 0)
        rc = end_interactive_locked(srv, &r, to, error, err);
    pthread_mutex_unlock(&srv->lifecycle_lock);
    store_run_free(&r);
    return rc;
}

/* The environment version a run uses, parsed, with what its setup needs. */
typedef struct run_env {
    env_spec spec;
    job_spec job;               /* for an inline environment, whose spec lives in the job */
    env_version_ref ref;
    char *context_dir, *build_log, *setup_dir;
    char *label;                /* the version as users name it */
} run_env;

static void run_env_free(run_env *e)
{
    spec_env_free(&e->spec);
    spec_job_free(&e->job);
    free(e->context_dir);
    free(e->label);
    free(e->build_log);
    free(e->setup_dir);
}

/* *building: the version is still being set up (the run waits in Preparing). */
static int load_env(server *srv, const store_run *r, run_env *out, bool *building, amlfs_err *err)
{
    *building = false;
    memset(out, 0, sizeof *out);
    if (!r->environment) {
        int rc = spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &out->job, err);
        if (rc < 0)
            return amlfs_wrap(err, "reading the job of run %s again: ", r->id);
        out->ref.name = "inline";
        out->ref.spec = out->job.environment_inline ? out->job.environment_inline : &out->spec;
        return 0;
    }
    store_env_version v;
    int rc = store_env_version_get(srv->store, r->environment, r->environment_version, &v, err);
    if (rc < 0)
        return rc;
    if (strcmp(v.status, "Failed") == 0) {
        rc = amlfs_fail(err, EINVAL, "environment '%s' version %s is Failed: %s", r->environment,
                        v.label, v.reason ? v.reason : "no reason recorded");
        store_env_version_free(&v);
        return rc;
    }
    if (strcmp(v.status, "Building") == 0) {
        *building = true;
        store_env_version_free(&v);
        return 0;
    }
    rc = spec_parse_env(v.yaml, strlen(v.yaml), "environment.yaml", &out->spec, err);
    if (rc < 0) {
        amlfs_wrap(err, "environment '%s' version %s: ", r->environment, v.label);
        store_env_version_free(&v);
        return rc;
    }
    out->label = v.label;
    v.label = NULL;
    store_env_version_free(&v);
    out->context_dir = server_path(srv, "environments/%s/files", r->environment);
    out->build_log = server_path(srv, "environments/%s/build.log", r->environment);
    out->setup_dir = env_setup_dir(srv, r->environment);
    out->ref = (env_version_ref){
        .name = r->environment,
        .version = r->environment_version,
        .label = out->label,
        .spec = &out->spec,
        .context_dir = out->context_dir,
        .build_log = out->build_log,
        .setup_dir = out->setup_dir,
        .images = srv->images,
    };
    return 0;
}

/* "KEY=VALUE" strings of the run's job_env JSON array, NULL-terminated. */
static char **job_env_strings(const char *json)
{
    cJSON *arr = cJSON_Parse(json ? json : "[]");
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    char **env = util_xcalloc((size_t)n + 1, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++) {
        cJSON *item = cJSON_GetArrayItem(arr, i);
        if (cJSON_IsString(item))
            env[k++] = util_xstrdup(item->valuestring);
    }
    cJSON_Delete(arr);
    return env;
}

/* Adds KEY=VALUE to the NULL-terminated env unless the job sets KEY itself (its own word wins). */
static char **env_add_default(char **env, const char *key, const char *value)
{
    size_t n = 0, klen = strlen(key);
    for (; env[n]; n++)
        if (strncmp(env[n], key, klen) == 0 && env[n][klen] == '=')
            return env;
    env = util_xrealloc(env, (n + 2) * sizeof *env);
    env[n] = util_strdupf("%s=%s", key, value);
    env[n + 1] = NULL;
    return env;
}

/* MLflow's variables, so that an unmodified mlflow.start_run() logs into this run: the tracking API's
 * address, the run's own token, its id and experiment. Not for runs whose id MLflow would refuse (made
 * before ids were MLflow-valid) or a server without the API. AMLFS_METRICS is the supervisor's to set:
 * its path is the node's. */
static char **mlflow_env(server *srv, const store_run *r, char **env)
{
    if (!srv->tracking_uri || !srv->token || !metrics_run_id_ok(r->id))
        return env;
    char *token = run_token_make(srv->token, r->id);
    char exp_id[17];
    mlflow_experiment_id(r->experiment, exp_id, sizeof exp_id);
    env = env_add_default(env, "MLFLOW_TRACKING_URI", srv->tracking_uri);
    if (token)
        env = env_add_default(env, "MLFLOW_TRACKING_TOKEN", token);
    env = env_add_default(env, "MLFLOW_RUN_ID", r->id);
    env = env_add_default(env, "MLFLOW_EXPERIMENT_NAME", r->experiment);
    env = env_add_default(env, "MLFLOW_EXPERIMENT_ID", exp_id);
    free(token);
    return env;
}

static void free_strings(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* What the job file asks of the compute beyond the command: the network for a container, and how many
 * processes on how many nodes (job may be NULL: a run whose file no longer parses is one process). */
static compute_ranks job_ranks(const job_spec *job, bool *network)
{
    compute_ranks ranks = {.nodes = 1, .per_node = 1};
    amlfs_err ignored = {0};
    *network = !job || job->network != 0; /* Azure ML's jobs have the network; `amlfs.network: false` isolates */
    if (job && spec_job_ranks(job, "job.yaml", &ranks.nodes, &ranks.per_node, &ignored) == 0)
        ranks.distribution = job->distribution;
    return ranks;
}

/* 1 with *handle when compute c has a job for run r already, 0 when not, or a negative errno. */
static int adopt(server *srv, compute *c, const store_run *r, char **handle, amlfs_err *err)
{
    *handle = NULL;
    if (!c->ops->adopt)
        return 0;
    char *run_dir = server_path(srv, "runs/%s", r->id);
    compute_run run = {.run_id = r->id, .run_dir = run_dir};
    int rc = c->ops->adopt(c, &run, handle, err);
    free(run_dir);
    return rc;
}

/* Sets up the environment and hands the job to its compute; no lock held. Returns 0 with *handle and
 * *state when submitted, 1 when the environment is still being built (the run waits in Preparing), or
 * a negative errno with the reason the run fails. */
static int set_up_and_submit(server *srv, const store_run *r, char **handle, compute_state *state, amlfs_err *err)
{
    compute *c = server_compute_get(srv, r->compute);
    if (!c)
        return amlfs_fail(err, ENOENT, "compute '%s' no longer exists", r->compute);
    /* Handed over before the server stopped: taken back as it is, never started twice. */
    int rc = adopt(srv, c, r, handle, err);
    if (rc != 0) {
        server_compute_release(srv, c);
        if (rc > 0)
            *state = COMPUTE_RUNNING; /* the next poll says where it really is */
        return rc < 0 ? rc : 0;
    }
    /* The job file, read once: its data inputs to fetch and its shape. */
    job_spec spec;
    amlfs_err parse = {0};
    bool parsed = r->job_yaml && spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &spec, &parse) == 0;
    char *run_dir = server_path(srv, "runs/%s", r->id);
    /* The code is copied into the run's working folder now, not at submission: a Queued run costs no disk.
     * https:// and datastore inputs: fetched before the environment is set up, so a bad URL fails the run
     * at once. */
    rc = run_code_prepare(srv, r, parsed ? &spec : NULL, err);
    if (rc == 0 && parsed)
        rc = submit_data_fetch(srv, &spec, run_dir, err);
    run_env env;
    memset(&env, 0, sizeof env);
    env_runtime rt = {0};
    bool building = false;
    if (rc == 0)
        rc = load_env(srv, r, &env, &building, err);
    if (rc == 0 && building)
        rc = 1;
    else if (rc == 0)
        rc = env_setup_for(env.ref.spec)->prepare_run(&env.ref, &rt, err);
    run_env_free(&env);
    if (rc == 0) {
        bool network;
        compute_ranks ranks = job_ranks(parsed ? &spec : NULL, &network);
        char *work_dir = server_path(srv, "runs/%s/work", r->id);
        char **job_env = mlflow_env(srv, r, job_env_strings(r->job_env));
        char *memory = NULL, *cpus = NULL;
        compute_container container = {0};
        if (rt.image) {
            server_compute_container_limits(srv, r->compute, &memory, &cpus);
            container = (compute_container){
                .image = rt.image,
                .podman = srv->images ? env_images_podman_argv(srv->images) : NULL,
                .podman_env = srv->images ? env_images_podman_env(srv->images) : NULL,
                .network = network,
                .memory = memory,
                .cpus = cpus,
            };
        }
        compute_job job = {
            .run_id = r->id,
            .run_dir = run_dir,
            .work_dir = work_dir,
            .command = r->command,
            .env = (const char *const *)job_env,
            .timeout_s = r->timeout_s,
            .cancel_grace_s = CANCEL_GRACE_S,
            .container = rt.image ? &container : NULL,
            .ranks = ranks,
        };
        rc = c->ops->submit(c, &job, handle, state, err);
        free_strings(job_env);
        free(memory);
        free(cpus);
        free(work_dir);
    }
    server_compute_release(srv, c);
    if (parsed)
        spec_job_free(&spec);
    free(run_dir);
    env_runtime_free(&rt);
    return rc;
}

/* The run status a compute's word means; -1 for none (unknown, or ended: handled apart). */
static int status_of(compute_state state)
{
    switch (state) {
    case COMPUTE_QUEUED:
        return RUN_QUEUED;
    case COMPUTE_PREPARING:
        return RUN_PREPARING;
    case COMPUTE_RUNNING:
        return RUN_RUNNING;
    case COMPUTE_FINALIZING:
        return RUN_FINALIZING;
    default:
        return -1;
    }
}

static int send_cancel(server *srv, const char *id, const char *compute_name, const char *handle,
                       amlfs_err *err)
{
    compute *c = server_compute_get(srv, compute_name);
    if (!c)
        return 0; /* the next poll fails the run: its compute is gone */
    char *run_dir = server_path(srv, "runs/%s", id);
    compute_run run = {.run_id = id, .run_dir = run_dir, .handle = handle};
    int rc = c->ops->cancel(c, &run, err);
    free(run_dir);
    server_compute_release(srv, c);
    return rc;
}

int run_claim_start(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    bool got = rc == 0;
    bool ours = got && !r.handle && !starting_has(srv, id) && (r.status == RUN_QUEUED || r.status == RUN_PREPARING);
    if (ours && r.status == RUN_QUEUED)
        rc = move_locked(srv, &r, RUN_PREPARING, NULL, err);
    ours = ours && rc == 0;
    if (ours)
        starting_add(srv, id);
    pthread_mutex_unlock(&srv->lifecycle_lock);
    if (got)
        store_run_free(&r);
    return rc < 0 ? rc : ours ? 1 : 0;
}

int run_prepare_and_start(server *srv, const char *id, amlfs_err *err)
{
    int rc = run_claim_start(srv, id, err);
    return rc <= 0 ? rc : run_start_claimed(srv, id, err);
}

int run_start_claimed(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    amlfs_err lost = {0};
    if (store_run_get(srv->store, id, &r, &lost) < 0) {
        /* Deleted meanwhile (or the store failed): nothing to start; its place is given back. */
        pthread_mutex_lock(&srv->lifecycle_lock);
        starting_remove(srv, id);
        pthread_mutex_unlock(&srv->lifecycle_lock);
        return amlfs_fail(err, lost.code, "%s", lost.msg);
    }

    char *handle = NULL;
    compute_state state = COMPUTE_RUNNING;
    amlfs_err why = {0};
    int outcome = set_up_and_submit(srv, &r, &handle, &state, &why);

    bool cancel_now = false;
    pthread_mutex_lock(&srv->lifecycle_lock);
    starting_remove(srv, id);
    store_run now;
    amlfs_err ignored = {0};
    if (store_run_get(srv->store, id, &now, &ignored) == 0) {
        if (outcome < 0) {
            if (now.status == RUN_CANCEL_REQUESTED)
                move_locked(srv, &now, RUN_CANCELED, NULL, &ignored);
            else if (why.code == ECANCELED && scheduler_stopping(srv->scheduler))
                log_info("run %s: its preparation stopped with the server; it is prepared again when the server "
                         "starts", id); /* left Preparing, without a handle: retry_preparing takes it */
            else if (!run_status_terminal(now.status))
                fail_locked(srv, &now, why.msg);
        } else if (outcome == 1) {
            if (now.status == RUN_CANCEL_REQUESTED) /* nothing was started: nothing to stop */
                move_locked(srv, &now, RUN_CANCELED, NULL, &ignored);
        } else {
            run_change chg = {.handle = handle};
            int to = status_of(state);
            if (now.status == RUN_PREPARING) {
                if (to == RUN_RUNNING || to == RUN_FINALIZING)
                    chg.started = util_now_ms();
                if (to < 0 || to == RUN_PREPARING)
                    to = RUN_PREPARING;
                if (move_locked(srv, &now, (run_status)to, &chg, &ignored) < 0)
                    log_warning("run %s: %s", id, ignored.msg);
                else if (monitor_watch(srv->monitor, id, &ignored) < 0)
                    log_warning("%s (the 1 s sweep still follows the run)", ignored.msg);
                if (to != RUN_RUNNING)
                    poller_hurry(srv); /* waiting in its compute's queue: it starts soon */
            } else {
                /* Canceled while it was being submitted: keep the handle so the end is followed. */
                store_run_change keep = {.handle = handle};
                if (store_run_set_status(srv->store, id, now.status, &keep, &ignored) < 0)
                    log_warning("run %s: %s", id, ignored.msg);
                cancel_now = true;
            }
        }
        if (!cancel_now)
            store_run_free(&now);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    if (cancel_now) {
        amlfs_err cwhy = {0};
        if (send_cancel(srv, id, now.compute, handle, &cwhy) < 0)
            log_warning("%s", cwhy.msg);
        if (monitor_watch(srv->monitor, id, &cwhy) < 0)
            log_warning("%s", cwhy.msg);
        store_run_free(&now);
    }
    free(handle);
    store_run_free(&r);
    return 0;
}

int run_cancel(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    bool deliver = false;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc < 0)
        goto out;
    switch (r.status) {
    case RUN_NOT_STARTED:
    case RUN_QUEUED:
    case RUN_PREPARING:
        if (r.handle) { /* in its compute's queue, or being set up there */
            rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
            deliver = rc == 0;
        } else if (starting_has(srv, id)) {
            /* Being submitted right now: its starter sees the request and stops what it started. */
            rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
        } else {
            if (r.status == RUN_PREPARING)
                rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
            if (rc == 0)
                rc = move_locked(srv, &r, RUN_CANCELED, NULL, err);
        }
        break;
    case RUN_RUNNING:
        if (run_is_interactive(&r)) { /* no job to stop: its client's next update_run finds it ended */
            rc = end_interactive_locked(srv, &r, RUN_CANCELED, NULL, err);
            break;
        }
        rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
        deliver = rc == 0;
        break;
    case RUN_FINALIZING:
    case RUN_CANCEL_REQUESTED:
        break; /* already on its way out */
    default:
        rc = amlfs_fail(err, EINVAL, "run %s already %s", id, run_status_name(r.status));
    }
out:
    pthread_mutex_unlock(&srv->lifecycle_lock);
    if (deliver) {
        /* The request is recorded; if the compute cannot be told now, the restart or poll settles it. */
        amlfs_err why = {0};
        if (send_cancel(srv, id, r.compute, r.handle, &why) < 0)
            log_warning("%s", why.msg);
    }
    store_run_free(&r);
    return rc;
}

/* How a job's end reads in the run: terminal status and error text (written into why). */
static run_status judge(const store_run *r, const compute_exit *ex, char *why, size_t len)
{
    why[0] = '\0';
    if (ex->canceled)
        return RUN_CANCELED;
    if (ex->timed_out) {
        snprintf(why, len, "timed out after %ld s (limits.timeout)%s%.400s", r->timeout_s,
                 ex->error[0] ? ": " : "", ex->error);
        return RUN_FAILED;
    }
    if (ex->error[0]) {
        snprintf(why, len, "%s", ex->error);
        return RUN_FAILED;
    }
    if (ex->signal) {
        if (r->status == RUN_CANCEL_REQUESTED)
            return RUN_CANCELED;
        snprintf(why, len, "the job was killed by signal %d (%s)", ex->signal, strsignal(ex->signal));
        return RUN_FAILED;
    }
    if (ex->exit_code != 0) {
        snprintf(why, len, "the job exited with code %d", ex->exit_code);
        return RUN_FAILED;
    }
    return RUN_COMPLETED;
}

/* A run's end, as its compute reported it: Finalizing, the compute's finalize step (no lock), then the
 * final status. */
static void finish_run(server *srv, compute *c, const compute_run *run, const compute_report *report)
{
    store_run r;
    amlfs_err err = {0};
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, run->run_id, &r, &err);
    bool live = rc == 0 && !run_status_terminal(r.status) && r.status != RUN_NOT_STARTED;
    if (live && r.status != RUN_FINALIZING && r.status != RUN_CANCEL_REQUESTED)
        live = move_locked(srv, &r, RUN_FINALIZING, NULL, &err) == 0;
    pthread_mutex_unlock(&srv->lifecycle_lock);
    if (!live) {
        if (rc == 0 && err.msg[0])
            log_warning("finishing run %s: %s", run->run_id, err.msg);
        store_run_free(&r);
        return;
    }
    /* The job's last points, before its end is recorded: a last line without its newline counts now. What
     * could not be read is said at the end of the log, before its final size is sent. */
    amlfs_err why_metrics = {0};
    if (metrics_ingest(srv, run->run_id, true, &why_metrics) < 0) /* final: all of it */
        log_warning("run %s: %s", run->run_id, why_metrics.msg);
    metrics_note_in_log(srv, run->run_id);
    monitor_finish(srv->monitor, run->run_id);
    compute_report final = *report;
    compute_exit *ex = &final.exit;
    bool ended_well = ex->exit_code == 0 && !ex->signal && !ex->error[0] && !ex->canceled && !ex->timed_out;
    amlfs_err kept = {0};
    if (submit_data_store_outputs(srv, &r, ended_well, &kept) < 0) {
        if (ended_well)
            snprintf(ex->error, sizeof ex->error, "%.500s", kept.msg);
        else
            log_warning("run %s: %s", run->run_id, kept.msg);
    }
    if (c && c->ops->finalize) {
        amlfs_err why = {0};
        if (c->ops->finalize(c, run, report, &why) < 0 && !final.exit.error[0])
            snprintf(final.exit.error, sizeof final.exit.error, "finalizing on compute %s: %.450s", c->name,
                     why.msg);
    }
    pthread_mutex_lock(&srv->lifecycle_lock);
    store_run_free(&r);
    if (store_run_get(srv->store, run->run_id, &r, &err) == 0 && !run_status_terminal(r.status)) {
        char why[600];
        run_status to = judge(&r, &final.exit, why, sizeof why);
        run_change chg = {
            .set_exit_code = final.exit.exit_code >= 0,
            .exit_code = final.exit.exit_code,
            .error = why[0] ? why : NULL,
        };
        if (move_locked(srv, &r, to, &chg, &err) < 0)
            log_warning("%s", err.msg);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    /* Outputs named as data assets are registered once the run has completed (no lock held). */
    if (r.status == RUN_COMPLETED && r.job_yaml && data_register_outputs(srv, &r, &err) < 0)
        log_warning("run %s: %s", r.id, err.msg);
    store_run_free(&r);
    scheduler_kick(srv->scheduler);
}

/* Applies one report: the run follows its compute's word (never backwards out of CancelRequested). */
static void apply_report(server *srv, compute *c, const compute_run *run, const compute_report *report)
{
    if (report->state == COMPUTE_ENDED) {
        finish_run(srv, c, run, report);
        return;
    }
    int to = status_of(report->state);
    if (to < 0)
        return; /* unknown now: the run stays as it is; the compute's status says why */
    store_run r;
    amlfs_err err = {0};
    pthread_mutex_lock(&srv->lifecycle_lock);
    if (store_run_get(srv->store, run->run_id, &r, &err) == 0 && r.status != (run_status)to &&
        r.status != RUN_CANCEL_REQUESTED && !run_status_terminal(r.status) && r.handle) {
        run_change chg = {0};
        if (to == RUN_RUNNING && !r.started)
            chg.started = util_now_ms();
        if (move_locked(srv, &r, (run_status)to, &chg, &err) < 0)
            log_warning("%s", err.msg);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    store_run_free(&r);
}

/* Polls runs of one compute (all its submitted live runs when ids is NULL). */
static int poll_compute(server *srv, compute *c, const store_run *runs, size_t n)
{
    if (n == 0)
        return 0;
    compute_run *asked = util_xcalloc(n, sizeof *asked);
    char **dirs = util_xcalloc(n, sizeof *dirs);
    for (size_t i = 0; i < n; i++) {
        dirs[i] = server_path(srv, "runs/%s", runs[i].id);
        asked[i] = (compute_run){.run_id = runs[i].id, .run_dir = dirs[i], .handle = runs[i].handle};
    }
    compute_report *reports = util_xcalloc(n, sizeof *reports);
    amlfs_err err = {0};
    int rc = c->ops->poll_all(c, asked, n, reports, &err);
    if (rc < 0)
        server_compute_note(srv, c->name, err.msg);
    else
        server_compute_note(srv, c->name, NULL);
    for (size_t i = 0; rc == 0 && i < n; i++)
        apply_report(srv, c, &asked[i], &reports[i]);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
    free(asked);
    free(reports);
    return rc;
}

/* A run whose compute is gone can never be asked again: it fails with that reason. */
static void fail_orphan(server *srv, const store_run *r)
{
    compute_report gone = {.state = COMPUTE_ENDED};
    gone.exit.exit_code = -1;
    snprintf(gone.exit.error, sizeof gone.exit.error, "compute '%.200s' no longer exists", r->compute);
    char *run_dir = server_path(srv, "runs/%s", r->id);
    compute_run run = {.run_id = r->id, .run_dir = run_dir, .handle = r->handle};
    finish_run(srv, NULL, &run, &gone);
    free(run_dir);
}

int run_check_end(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc < 0)
        return rc;
    if (r.handle && (POLLED_MASK & B(r.status))) {
        compute *c = server_compute_get(srv, r.compute);
        if (c) {
            poll_compute(srv, c, &r, 1);
            server_compute_release(srv, c);
        } else {
            fail_orphan(srv, &r);
        }
    }
    store_run_free(&r);
    return 0;
}

void run_poll_all(server *srv)
{
    store_run *runs;
    size_t n;
    amlfs_err err = {0};
    if (store_run_list_by_status(srv->store, POLLED_MASK, NULL, STORE_SUBMITTED, 0, &runs, &n, &err) < 0) {
        log_warning("poll: %s", err.msg);
        return;
    }
    /* Runs are grouped by compute, so each compute is asked once (one Slurm listing per tick). */
    bool *done = util_xcalloc(n ? n : 1, sizeof *done);
    store_run *group = util_xcalloc(n ? n : 1, sizeof *group);
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(runs[j].compute, runs[i].compute) == 0) {
                group[k++] = runs[j];
                done[j] = true;
            }
        }
        compute *c = server_compute_get(srv, runs[i].compute);
        if (c) {
            poll_compute(srv, c, group, k);
            server_compute_release(srv, c);
        } else {
            for (size_t j = 0; j < k; j++)
                fail_orphan(srv, &group[j]);
        }
    }
    free(group);
    free(done);
    store_run_list_free(runs, n);
}

/* A run past Preparing without a handle: canceled while it was being submitted (or from a server that
 * kept no handles). Its compute says whether it has the job: then it is followed (and the cancel sent
 * again), else it never started. */
static int restore_unhanded(server *srv, const store_run *r, amlfs_err *err)
{
    compute *c = server_compute_get(srv, r->compute);
    char *handle = NULL;
    int rc = c ? adopt(srv, c, r, &handle, err) : 0;
    server_compute_release(srv, c);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (r->status == RUN_CANCEL_REQUESTED)
            return run_move(srv, r->id, RUN_CANCELED, NULL, err);
        run_change lost = {.error = "the server stopped while handing this run to its compute, which has no "
                                    "job for it"};
        return run_move(srv, r->id, RUN_FAILED, &lost, err);
    }
    store_run_change keep = {.handle = handle};
    rc = store_run_set_status(srv->store, r->id, r->status, &keep, err);
    amlfs_err why = {0};
    if (rc == 0 && r->status == RUN_CANCEL_REQUESTED && send_cancel(srv, r->id, r->compute, handle, &why) < 0)
        log_warning("%s", why.msg);
    amlfs_err_clear(&why);
    if (rc == 0 && monitor_watch(srv->monitor, r->id, &why) < 0)
        log_warning("%s", why.msg);
    free(handle);
    return rc;
}

/* An interactive run has no job to ask about: a Running one stays Running (its client may still be
 * logging); one caught between two steps of its creation or its end is taken on to where it was going. */
static int restore_interactive(server *srv, const store_run *r, amlfs_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&srv->lifecycle_lock);
    store_run now;
    if (store_run_get(srv->store, r->id, &now, err) == 0) {
        if (now.status == RUN_FINALIZING)
            rc = end_interactive_locked(srv, &now, RUN_COMPLETED, NULL, err);
        else if (now.status == RUN_CANCEL_REQUESTED)
            rc = end_interactive_locked(srv, &now, RUN_CANCELED, NULL, err);
        else if (now.status != RUN_RUNNING && !run_status_terminal(now.status))
            rc = end_interactive_locked(srv, &now, RUN_FAILED, "the server stopped while it was being created",
                                        err);
        store_run_free(&now);
    }
    pthread_mutex_unlock(&srv->lifecycle_lock);
    return rc;
}

int run_restore_all(server *srv, amlfs_err *err)
{
    store_run *runs;
    size_t n;
    int rc = store_run_list_by_status(srv->store, LIVE_MASK, NULL, STORE_ANY, 0, &runs, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const store_run *r = &runs[i];
        amlfs_err why = {0};
        int step = 0;
        if (run_is_interactive(r)) {
            step = restore_interactive(srv, r, &why);
        } else if (r->status == RUN_NOT_STARTED) {
            step = run_move(srv, r->id, RUN_QUEUED, NULL, &why);
        } else if (!r->handle && r->status == RUN_PREPARING) {
            step = run_prepare_and_start(srv, r->id, &why); /* the compute adopts a job it has already */
        } else if (!r->handle && r->status != RUN_QUEUED) {
            step = restore_unhanded(srv, r, &why);
        } else if (r->handle) {
            if (r->status == RUN_CANCEL_REQUESTED && send_cancel(srv, r->id, r->compute, r->handle, &why) < 0)
                log_warning("%s", why.msg); /* may never have been delivered */
            amlfs_err_clear(&why);
            if (monitor_watch(srv->monitor, r->id, &why) < 0)
                log_warning("%s", why.msg);
            amlfs_err_clear(&why);
        }
        if (step < 0)
            log_warning("re-attaching run %s: %s", r->id, why.msg);
    }
    store_run_list_free(runs, n);
    /* Every handed-over run is asked about once now, before anything new starts. */
    run_poll_all(srv);
    return 0;
}
