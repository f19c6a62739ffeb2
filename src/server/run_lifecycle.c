/* run_lifecycle.c: the one place a run changes status. Every move is checked against the state
 * machine (api/run_status.c), stored, and announced in the change feed, under one lock. */
#include "amlfs/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/env.h"
#include "amlfs/util.h"

#define B(s) (1u << (s))
#define LIVE_MASK                                                                                  \
    (B(RUN_NOT_STARTED) | B(RUN_QUEUED) | B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) |  \
     B(RUN_CANCEL_REQUESTED))
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
    }
    if (run_status_terminal(to) && !sc.ended)
        sc.ended = util_now_ms();
    int rc = store_run_set_status(srv->store, r->id, to, &sc, err);
    if (rc < 0)
        return amlfs_wrap(err, "run %s -> %s: ", r->id, run_status_name(to));
    run_status from = r->status;
    r->status = to;
    events_emitf(srv->events, "changed", -1, "runs/%s", r->id);
    if (count_bucket(from) != count_bucket(to))
        events_emitf(srv->events, "changed", -1, "computes/%s", r->compute);
    return 0;
}

/* Failing is the way out of every live state; if even that fails, the store is broken: say so. */
static void fail_locked(server *srv, store_run *r, const char *why)
{
    amlfs_err err = {0};
    run_change chg = {.error = why};
    if (move_locked(srv, r, RUN_FAILED, &chg, &err) < 0)
        fprintf(stderr, "amlfs-server: run %s: could not record its failure (%s): %s\n", r->id, why,
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

int run_create(server *srv, store_run *r, amlfs_err *err)
{
    pthread_mutex_lock(&srv->lifecycle_lock);
    r->status = RUN_NOT_STARTED;
    int rc = store_run_insert(srv->store, r, err);
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

/* The environment version a run uses, parsed, with what its setup needs. */
typedef struct run_env {
    env_spec spec;
    job_spec job;               /* for an inline environment, whose spec lives in the job */
    env_version_ref ref;
    char *context_dir, *build_log, *setup_dir;
} run_env;

static void run_env_free(run_env *e)
{
    spec_env_free(&e->spec);
    spec_job_free(&e->job);
    free(e->context_dir);
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
        rc = amlfs_fail(err, EINVAL, "environment '%s' version %d is Failed: %s", r->environment,
                        v.version, v.reason ? v.reason : "no reason recorded");
        store_env_version_free(&v);
        return rc;
    }
    if (strcmp(v.status, "Building") == 0) {
        *building = true;
        store_env_version_free(&v);
        return 0;
    }
    rc = spec_parse_env(v.yaml, strlen(v.yaml), "environment.yaml", &out->spec, err);
    store_env_version_free(&v);
    if (rc < 0)
        return amlfs_wrap(err, "environment '%s' version %d: ", r->environment, r->environment_version);
    out->context_dir = server_path(srv, "environments/%s/files", r->environment);
    out->build_log = server_path(srv, "environments/%s/build.log", r->environment);
    out->setup_dir = env_setup_dir(srv, r->environment);
    out->ref = (env_version_ref){
        .name = r->environment,
        .version = r->environment_version,
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

static void free_strings(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A job's `amlfs.network: true` property: its container gets the network. */
static bool job_wants_network(const store_run *r)
{
    job_spec job;
    amlfs_err ignored = {0};
    if (!r->job_yaml || spec_parse_job(r->job_yaml, strlen(r->job_yaml), "job.yaml", &job, &ignored) < 0)
        return false;
    bool network = job.network == 1;
    spec_job_free(&job);
    return network;
}

/* Lock held; r is Preparing. Sets up the environment and starts the job, or fails the run. A run whose
 * environment version is still being built stays Preparing: the build's end wakes the scheduler,
 * which comes back here. */
static void prepare_locked(server *srv, store_run *r)
{
    amlfs_err err = {0};
    run_env env;
    env_runtime rt = {0};
    bool building = false;
    if (load_env(srv, r, &env, &building, &err) < 0) {
        run_env_free(&env);
        fail_locked(srv, r, err.msg);
        return;
    }
    if (building) {
        run_env_free(&env);
        return;
    }
    const env_setup_ops *setup = env_setup_for(env.ref.spec);
    int rc = setup->prepare_run(&env.ref, &rt, &err);
    run_env_free(&env);
    if (rc < 0) {
        fail_locked(srv, r, err.msg);
        return;
    }
    compute *c = server_compute(srv, r->compute);
    if (!c) {
        env_runtime_free(&rt);
        char *why = util_strdupf("compute '%s' no longer exists", r->compute);
        fail_locked(srv, r, why);
        free(why);
        return;
    }
    /* Running before start: a crash in between leaves a Running run whose compute reports it lost,
     * never a job started twice. */
    run_change started = {.started = util_now_ms()};
    if (move_locked(srv, r, RUN_RUNNING, &started, &err) < 0) {
        env_runtime_free(&rt);
        fprintf(stderr, "amlfs-server: %s\n", err.msg);
        return;
    }
    if (monitor_watch(srv->monitor, r->id, &err) < 0)
        fprintf(stderr, "amlfs-server: %s (the 1 s sweep still follows the run)\n", err.msg);
    char *run_dir = server_path(srv, "runs/%s", r->id);
    char *work_dir = server_path(srv, "runs/%s/work", r->id);
    char **job_env = job_env_strings(r->job_env);
    char *memory = NULL, *cpus = NULL;
    if (rt.image)
        server_compute_container_limits(srv, r->compute, &memory, &cpus);
    compute_job job = {
        .run_id = r->id,
        .run_dir = run_dir,
        .work_dir = work_dir,
        .command = r->command,
        .env = (const char *const *)job_env,
        .timeout_s = r->timeout_s,
        .cancel_grace_s = CANCEL_GRACE_S,
        .image = rt.image,
        .podman = rt.image && srv->images ? env_images_podman_argv(srv->images) : NULL,
        .podman_env = rt.image && srv->images ? env_images_podman_env(srv->images) : NULL,
        .network = rt.image && job_wants_network(r),
        .memory = memory,
        .cpus = cpus,
    };
    rc = c->ops->start(c, &job, &err);
    if (rc < 0) {
        monitor_finish(srv->monitor, r->id);
        fail_locked(srv, r, err.msg);
    }
    free_strings(job_env);
    free(memory);
    free(cpus);
    free(run_dir);
    free(work_dir);
    env_runtime_free(&rt);
}

int run_prepare_and_start(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc == 0 && r.status == RUN_QUEUED)
        rc = move_locked(srv, &r, RUN_PREPARING, NULL, err);
    /* Anything else (canceled meanwhile) is no longer ours to start. */
    if (rc == 0 && r.status == RUN_PREPARING)
        prepare_locked(srv, &r);
    pthread_mutex_unlock(&srv->lifecycle_lock);
    store_run_free(&r);
    return rc;
}

static int send_cancel(server *srv, const store_run *r, amlfs_err *err)
{
    compute *c = server_compute(srv, r->compute);
    if (!c)
        return 0; /* the sweep fails the run: its compute is gone */
    char *run_dir = server_path(srv, "runs/%s", r->id);
    int rc = c->ops->cancel(c, r->id, run_dir, err);
    free(run_dir);
    return rc;
}

int run_cancel(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc < 0)
        goto out;
    switch (r.status) {
    case RUN_NOT_STARTED:
    case RUN_QUEUED:
        rc = move_locked(srv, &r, RUN_CANCELED, NULL, err);
        break;
    case RUN_PREPARING:
        /* Preparing runs have not started a job (start happens under this lock): nothing to stop. */
        rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
        if (rc == 0)
            rc = move_locked(srv, &r, RUN_CANCELED, NULL, err);
        break;
    case RUN_RUNNING:
        rc = move_locked(srv, &r, RUN_CANCEL_REQUESTED, NULL, err);
        if (rc == 0) {
            amlfs_err why = {0};
            /* The request is recorded; if the compute cannot be told now, its poll settles it. */
            if (send_cancel(srv, &r, &why) < 0)
                fprintf(stderr, "amlfs-server: %s\n", why.msg);
        }
        break;
    case RUN_FINALIZING:
    case RUN_CANCEL_REQUESTED:
        break; /* already on its way out */
    default:
        rc = amlfs_fail(err, EINVAL, "run %s already %s", id, run_status_name(r.status));
    }
out:
    pthread_mutex_unlock(&srv->lifecycle_lock);
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
        snprintf(why, len, "timed out after %ld s (limits.timeout)", r->timeout_s);
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

int run_check_end(server *srv, const char *id, amlfs_err *err)
{
    store_run r;
    bool ended = false;
    pthread_mutex_lock(&srv->lifecycle_lock);
    int rc = store_run_get(srv->store, id, &r, err);
    if (rc < 0 || !(r.status == RUN_RUNNING || r.status == RUN_CANCEL_REQUESTED ||
                    r.status == RUN_FINALIZING))
        goto out;
    compute *c = server_compute(srv, r.compute);
    compute_exit ex;
    memset(&ex, 0, sizeof ex);
    if (c) {
        char *run_dir = server_path(srv, "runs/%s", id);
        rc = c->ops->poll(c, id, run_dir, &ex, err);
        free(run_dir);
        if (rc < 0 || rc == COMPUTE_RUNNING)
            goto out;
    } else {
        ex.exit_code = -1;
        snprintf(ex.error, sizeof ex.error, "compute '%s' no longer exists", r.compute);
    }
    ended = true;
    monitor_finish(srv->monitor, id);
    if (r.status != RUN_FINALIZING && (rc = move_locked(srv, &r, RUN_FINALIZING, NULL, err)) < 0)
        goto out;
    char why[600];
    run_status to = judge(&r, &ex, why, sizeof why);
    run_change chg = {
        .set_exit_code = ex.exit_code >= 0,
        .exit_code = ex.exit_code,
        .error = why[0] ? why : NULL,
    };
    rc = move_locked(srv, &r, to, &chg, err);
out:
    pthread_mutex_unlock(&srv->lifecycle_lock);
    store_run_free(&r);
    if (ended)
        scheduler_kick(srv->scheduler);
    return rc < 0 ? rc : 0;
}

int run_restore_all(server *srv, amlfs_err *err)
{
    store_run *runs;
    size_t n;
    int rc = store_run_list_by_status(srv->store, LIVE_MASK, NULL, 0, &runs, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const store_run *r = &runs[i];
        amlfs_err why = {0};
        int step = 0;
        switch (r->status) {
        case RUN_NOT_STARTED:
            step = run_move(srv, r->id, RUN_QUEUED, NULL, &why);
            break;
        case RUN_PREPARING:
            step = run_prepare_and_start(srv, r->id, &why);
            break;
        case RUN_CANCEL_REQUESTED:
            /* The request may have been recorded just before a crash, never delivered. */
            if (send_cancel(srv, r, &why) < 0)
                fprintf(stderr, "amlfs-server: %s\n", why.msg);
            amlfs_err_clear(&why);
            /* fall through */
        case RUN_RUNNING:
            if (monitor_watch(srv->monitor, r->id, &why) < 0)
                fprintf(stderr, "amlfs-server: %s\n", why.msg);
            amlfs_err_clear(&why);
            /* fall through */
        case RUN_FINALIZING:
            step = run_check_end(srv, r->id, &why);
            break;
        default:
            break; /* Queued: the scheduler takes it in its turn */
        }
        if (step < 0)
            fprintf(stderr, "amlfs-server: re-attaching run %s: %s\n", r->id, why.msg);
    }
    store_run_list_free(runs, n);
    return 0;
}
