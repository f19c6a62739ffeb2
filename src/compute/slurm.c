/* slurm.c: the Slurm compute target. A run is one batch job submitted to slurmrestd; the job runs the
 * same supervisor as the local compute (`amlfs-server supervise RUN_DIR`) in a run folder under the
 * compute's shared folder, so the log, exit record, container and ranks work alike everywhere. */
#include "amlfs/compute_local.h"
#include "amlfs/compute_slurm.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the batch script's own output is kept in (the job's is in RUN_DIR/log): why a node could not
 * start the supervisor, for instance. */
#define SLURM_OUT_FILE "slurm.out"
/* The supervisor enforces limits.timeout itself (exact seconds, TERM then KILL after the grace);
 * Slurm's limit, in whole minutes, is the backstop just behind it. */
#define TIME_LIMIT_SLACK_S 60
/* ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE: more nodes or CPUs than the partition has. */
#define SLURM_PART_CONFIG_UNAVAILABLE 2015

typedef struct slurm_compute {
    slurm_config cfg;
    slurm_rest *rest;
    pthread_mutex_t lock;       /* guards cap */
    compute_capacity cap;       /* from the last check or describe; nodes 0: not known yet */
} slurm_compute;

/* 'text' quoted for the POSIX shell. */
static void shell_quote(util_buf *b, const char *text)
{
    util_buf_append(b, "'", 1, 0);
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            util_buf_append(b, "'\\''", 4, 0);
        else
            util_buf_append(b, p, 1, 0);
    }
    util_buf_append(b, "'", 1, 0);
}

static void append_str(util_buf *b, const char *text)
{
    util_buf_append(b, text, strlen(text), 0);
}

/* The batch script: find the nodes' names for the ranks, then the supervisor (one per node). */
static char *batch_script(const slurm_compute *sc, const compute_job *job, const char *run_dir)
{
    util_buf b = {0};
    append_str(&b, "#!/bin/sh\n# amlfs run ");
    append_str(&b, job->run_id);
    append_str(&b, "\n");
    if (job->ranks.nodes > 1 || job->ranks.per_node > 1 || job->ranks.distribution) {
        append_str(&b, "AMLFS_NODE_HOSTS=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null | paste -sd, -)\n"
                       "AMLFS_MASTER_ADDR=${AMLFS_NODE_HOSTS%%,*}\n"
                       "[ -n \"$AMLFS_MASTER_ADDR\" ] || AMLFS_MASTER_ADDR=$(hostname)\n"
                       "export AMLFS_NODE_HOSTS AMLFS_MASTER_ADDR\n");
    }
    append_str(&b, "exec ");
    if (job->ranks.nodes > 1) {
        char srun[160];
        snprintf(srun, sizeof srun, "srun --nodes=%d --ntasks-per-node=1 --kill-on-bad-exit=1 ", job->ranks.nodes);
        append_str(&b, srun);
    }
    shell_quote(&b, sc->cfg.amlfs_server);
    append_str(&b, " supervise ");
    shell_quote(&b, run_dir);
    append_str(&b, "\n");
    return b.data;
}

static cJSON *job_description(const slurm_compute *sc, const compute_job *job, const char *run_dir)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", job->run_id);
    cJSON_AddStringToObject(j, "partition", sc->cfg.partition);
    if (sc->cfg.account)
        cJSON_AddStringToObject(j, "account", sc->cfg.account);
    if (sc->cfg.qos)
        cJSON_AddStringToObject(j, "qos", sc->cfg.qos);
    cJSON_AddStringToObject(j, "current_working_directory", run_dir);
    char *out = util_strdupf("%s/" SLURM_OUT_FILE, run_dir);
    cJSON_AddStringToObject(j, "standard_output", out);
    cJSON_AddStringToObject(j, "standard_error", out);
    free(out);
    char *comment = util_strdupf("amlfs run %s", job->run_id);
    cJSON_AddStringToObject(j, "comment", comment);
    free(comment);
    /* The job's own variables travel in launch.json (mode 0600), not through the cluster's records. */
    cJSON *env = cJSON_AddObjectToObject(j, "environment");
    cJSON_AddStringToObject(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    cJSON_AddStringToObject(env, "LANG", "C.UTF-8");
    cJSON_AddStringToObject(env, "AMLFS_RUN_ID", job->run_id);
    int nodes = job->ranks.nodes > 0 ? job->ranks.nodes : 1;
    cJSON_AddNumberToObject(j, "nodes", nodes);
    cJSON_AddNumberToObject(j, "tasks", nodes);
    if (sc->cfg.cpus)
        cJSON_AddNumberToObject(j, "cpus_per_task", sc->cfg.cpus);
    if (sc->cfg.memory_mb)
        cJSON_AddNumberToObject(j, "memory_per_node", (double)sc->cfg.memory_mb);
    long minutes = sc->cfg.time_limit_min;
    if (job->timeout_s > 0)
        minutes = (job->timeout_s + job->cancel_grace_s + TIME_LIMIT_SLACK_S + 59) / 60;
    if (minutes > 0)
        cJSON_AddNumberToObject(j, "time_limit", (double)minutes);
    return j;
}

/* A number Slurm sends as a JSON number (or, in some versions, a string). */
static long long json_number(const cJSON *obj, const char *key, long long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v))
        return (long long)v->valuedouble;
    if (cJSON_IsString(v) && v->valuestring[0])
        return strtoll(v->valuestring, NULL, 10);
    return dflt;
}

static const char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jobs_array(const cJSON *answer)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(answer, "jobs");
    return cJSON_IsArray(jobs) ? jobs : NULL;
}

/* The job of this run in a listing: by its handle, else (to adopt one submitted just before a crash)
 * by name and folder. */
static const cJSON *find_job(const cJSON *jobs, const char *handle, const char *run_id, const char *run_dir)
{
    const cJSON *job;
    cJSON_ArrayForEach(job, jobs) {
        if (handle) {
            if (json_number(job, "job_id", -1) == strtoll(handle, NULL, 10))
                return job;
            continue;
        }
        const char *name = json_string(job, "name"), *cwd = json_string(job, "current_working_directory");
        if (name && strcmp(name, run_id) == 0 && (!cwd || strcmp(cwd, run_dir) == 0))
            return job;
    }
    return NULL;
}

static void state_of_job(const cJSON *job, compute_report *out)
{
    bool canceled, timed_out;
    const char *failed;
    const char *word = json_string(job, "job_state");
    out->state = slurm_job_state(word, &canceled, &timed_out, &failed);
    const char *reason = json_string(job, "state_reason");
    if (out->state == COMPUTE_QUEUED && reason && strcmp(reason, "None") != 0)
        snprintf(out->detail, sizeof out->detail, "Slurm: %s (%.200s)", word, reason);
    else if (word)
        snprintf(out->detail, sizeof out->detail, "Slurm: %.200s", word);
}

static void slurm_run_dir(const slurm_compute *sc, const char *run_id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/runs/%s", sc->cfg.shared_folder, run_id);
}

/* A job submitted just before the server stopped is found by its name (the run id) and folder. */
static int slurm_adopt(compute *c, const compute_run *run, char **handle, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    *handle = NULL;
    char run_dir[PATH_MAX];
    slurm_run_dir(sc, run->run_id, run_dir, sizeof run_dir);
    cJSON *listing = NULL;
    int rc = slurm_rest_call(sc->rest, "GET", "jobs", NULL, &listing, err);
    if (rc < 0)
        return amlfs_wrap(err, "compute %s: ", c->name);
    const cJSON *known = find_job(jobs_array(listing), NULL, run->run_id, run_dir);
    if (known)
        *handle = util_strdupf("%lld", json_number(known, "job_id", 0));
    cJSON_Delete(listing);
    return known ? 1 : 0;
}

static int slurm_submit(compute *c, const compute_job *job, char **handle, compute_state *state, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    *handle = NULL;
    char run_dir[PATH_MAX];
    slurm_run_dir(sc, job->run_id, run_dir, sizeof run_dir);
    pthread_mutex_lock(&sc->lock);
    compute_capacity cap = sc->cap;
    pthread_mutex_unlock(&sc->lock);
    if (cap.nodes > 0 && job->ranks.nodes > cap.nodes)
        return amlfs_fail(err, EINVAL, "run %s asks for %d nodes; partition %s of compute %s has %d", job->run_id,
                          job->ranks.nodes, sc->cfg.partition, c->name, cap.nodes);
    compute_job on_node = *job;
    int rc;
    char work_dir[PATH_MAX + 8];
    snprintf(work_dir, sizeof work_dir, "%s/work", run_dir);
    on_node.run_dir = run_dir;
    on_node.work_dir = work_dir;
    if ((rc = compute_launch_write(&on_node, err)) < 0)
        return amlfs_wrap(err, "submitting run %s to compute %s: ", job->run_id, c->name);
    char *script = batch_script(sc, job, run_dir);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "script", script);
    cJSON_AddItemToObject(body, "job", job_description(sc, &on_node, run_dir));
    free(script);
    cJSON *answer = NULL;
    rc = slurm_rest_call(sc->rest, "POST", "job/submit", body, &answer, err);
    cJSON_Delete(body);
    if (rc < 0)
        return amlfs_wrap(err, "submitting run %s to compute %s (partition %s): ", job->run_id, c->name,
                          sc->cfg.partition);
    long long id = json_number(answer, "job_id", -1);
    /* An answer can carry a job id and an error at once. "Requested partition configuration not
     * available" (2015) is a request the partition can never meet: that job would wait for ever, so it
     * is canceled and the run refused with Slurm's words. Anything else (its nodes are drained now) is
     * a reason to wait, which the job does in Slurm's queue. */
    char says[300];
    slurm_rest_error_text(answer, says, sizeof says);
    long long code = slurm_rest_error_code(answer);
    cJSON_Delete(answer);
    if (says[0] && id > 0 && code != SLURM_PART_CONFIG_UNAVAILABLE)
        says[0] = '\0';
    if (says[0]) {
        if (id > 0) {
            char *path = util_strdupf("job/%lld", id);
            cJSON *ignored = NULL;
            amlfs_err why = {0};
            slurm_rest_call(sc->rest, "DELETE", path, NULL, &ignored, &why);
            cJSON_Delete(ignored);
            free(path);
        }
        return amlfs_fail(err, EINVAL, "Slurm refused run %s on partition %s: %s", job->run_id, sc->cfg.partition,
                          says);
    }
    if (id <= 0)
        return amlfs_fail(err, EIO, "slurmrestd accepted run %s but gave no job id", job->run_id);
    *handle = util_strdupf("%lld", id);
    *state = COMPUTE_QUEUED;
    return 0;
}

static int slurm_cancel(compute *c, const compute_run *run, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    if (!run->handle)
        return 0;
    /* A plain DELETE is scancel: TERM reaches the supervisor, which stops the job's group (and its
     * container) and records the cancel; Slurm kills whatever is left after its KillWait, and a job still
     * pending never starts. (?signal=TERM would only signal: a pending job refuses it.) */
    char *path = util_strdupf("job/%s", run->handle);
    cJSON *answer = NULL;
    int rc = slurm_rest_call(sc->rest, "DELETE", path, NULL, &answer, err);
    free(path);
    cJSON_Delete(answer);
    if (rc == -ENOENT)
        return 0; /* already gone: the poll records how it ended */
    return rc < 0 ? amlfs_wrap(err, "canceling run %s (Slurm job %s): ", run->run_id, run->handle) : 0;
}

/* The last line of slurm.out, for a job that ended without the supervisor's word. */
static void last_line_of(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char tail[512];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof tail - 1 ? size - (off_t)sizeof tail + 1 : 0;
    ssize_t n = pread(fd, tail, sizeof tail - 1, from);
    close(fd);
    if (n <= 0)
        return;
    tail[n] = '\0';
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        tail[--n] = '\0';
    const char *line = strrchr(tail, '\n');
    line = line ? line + 1 : tail;
    size_t k = strlen(line) < len ? strlen(line) : len - 1;
    memcpy(buf, line, k);
    buf[k] = '\0';
}

/* How a job Slurm reports ended reads: the supervisor's record where there is one (exact exit code,
 * cancel, timeout), Slurm's word where the engine itself ended it or the record is missing. */
static void end_of_job(const slurm_compute *sc, const compute_run *run, const cJSON *job, compute_report *out)
{
    bool canceled = false, timed_out = false;
    const char *failed = NULL;
    const char *word = job ? json_string(job, "job_state") : NULL;
    if (job)
        slurm_job_state(word, &canceled, &timed_out, &failed);
    compute_exit *ex = &out->exit;
    amlfs_err why = {0};
    bool recorded = compute_exit_read(run->run_dir, ex, NULL, &why) == 1;
    out->state = COMPUTE_ENDED;
    if (!recorded) {
        memset(ex, 0, sizeof *ex);
        long long raw = job ? json_number(job, "exit_code", -1) : -1;
        ex->exit_code = raw < 0 ? -1 : (int)((raw >> 8) & 0xff);
        ex->signal = raw < 0 ? 0 : (int)(raw & 0x7f);
        if (ex->signal)
            ex->exit_code = -1;
    }
    ex->canceled = ex->canceled || canceled;
    ex->timed_out = ex->timed_out || timed_out;
    if (ex->error[0] || ex->canceled)
        return;
    /* A supervisor recorded success, yet Slurm says the job failed: ranks of another node failed (each node's
     * supervisor writes the shared exit.json; Slurm's word is the whole job's). */
    bool recorded_success = recorded && ex->exit_code == 0 && !ex->signal && !ex->timed_out;
    char *out_file = util_strdupf("%s/" SLURM_OUT_FILE, run->run_dir);
    char last[300];
    last_line_of(out_file, last, sizeof last);
    free(out_file);
    if (!job) {
        if (!recorded)
            snprintf(ex->error, sizeof ex->error, "Slurm no longer knows job %s and its run recorded no end (the "
                     "job was lost, or it ended before the last MinJobAge)%s%.250s", run->handle,
                     last[0] ? ": " : "", last);
        return;
    }
    const char *reason = json_string(job, "state_reason");
    bool has_reason = reason && strcmp(reason, "None") != 0;
    if (timed_out) {
        if (!recorded)
            snprintf(ex->error, sizeof ex->error, "Slurm's time limit for job %s ran out (%s)", run->handle,
                     sc->cfg.time_limit_min ? "time_limit in compute.yaml" : "the partition's limit");
    } else if ((failed && strcmp(failed, "OUT_OF_MEMORY") == 0) || (failed && strstr(last, "memory limit"))) {
        /* cgroup enforcement ends the job OUT_OF_MEMORY; polling enforcement kills the step, and only
         * slurmstepd's line in slurm.out says why. */
        snprintf(ex->error, sizeof ex->error, "out of memory: Slurm ended job %s when it went over its memory "
                 "(%ld MB per node; `memory` in compute.yaml)%s%.200s", run->handle, sc->cfg.memory_mb,
                 last[0] ? ": " : "", last);
    } else if (failed && strcmp(failed, "FAILED") != 0) {
        snprintf(ex->error, sizeof ex->error, "Slurm ended job %s as %s%s%.100s%s", run->handle, failed,
                 has_reason ? " (" : "", has_reason ? reason : "", has_reason ? ")" : "");
    } else if (failed && recorded_success) {
        ex->exit_code = (int)((json_number(job, "exit_code", 0) >> 8) & 0xff);
        snprintf(ex->error, sizeof ex->error, "Slurm job %s %s although a node's ranks ended well: a rank on another "
                 "node failed (see logs/std_log_process_N.txt)", run->handle, failed);
    } else if (failed && !recorded) {
        snprintf(ex->error, sizeof ex->error, "Slurm job %s FAILED (exit code %d%s%.100s) before the run's "
                 "supervisor recorded an end%s%.250s", run->handle, ex->exit_code, has_reason ? ", " : "",
                 has_reason ? reason : "", last[0] ? ": " : "", last);
    }
}

static int slurm_poll_all(compute *c, const compute_run *runs, size_t n, compute_report *out, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    cJSON *listing = NULL;
    int rc = slurm_rest_call(sc->rest, "GET", "jobs", NULL, &listing, err);
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        if (rc < 0) {
            out[i].state = COMPUTE_UNKNOWN;
            snprintf(out[i].detail, sizeof out[i].detail, "%.250s", err->msg);
            continue;
        }
        const cJSON *job = runs[i].handle ? find_job(jobs_array(listing), runs[i].handle, NULL, NULL) : NULL;
        if (job)
            state_of_job(job, &out[i]);
        if (!job || out[i].state == COMPUTE_ENDED)
            end_of_job(sc, &runs[i], job, &out[i]);
    }
    cJSON_Delete(listing);
    return rc < 0 ? amlfs_wrap(err, "compute %s: ", c->name) : 0;
}

/* The run folder keeps the end even when Slurm has forgotten the job, and a log cut off by the engine
 * (out of memory, a node lost) says so at its end. */
static int slurm_finalize(compute *c, const compute_run *run, const compute_report *report, amlfs_err *err)
{
    (void)c;
    compute_exit recorded;
    if (compute_exit_read(run->run_dir, &recorded, NULL, NULL) == 1)
        return 0;
    int rc = compute_exit_write(run->run_dir, &report->exit, 0, err);
    if (report->exit.error[0]) {
        char *log = util_strdupf("%s/" COMPUTE_LOG_FILE, run->run_dir);
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            char *line = util_strdupf("\n[amlfs] %s\n", report->exit.error);
            if (util_write_all(fd, line, strlen(line)) < 0 && rc == 0)
                rc = amlfs_fail(err, errno, "writing the end of %s: %s", log, strerror(errno));
            free(line);
            close(fd);
        }
        free(log);
    }
    return rc;
}

static void remember_capacity(slurm_compute *sc, const cJSON *partition)
{
    long long nodes = json_number(partition, "total_nodes", 0), cpus = json_number(partition, "total_cpus", 0);
    pthread_mutex_lock(&sc->lock);
    sc->cap.nodes = nodes > 0 ? (int)nodes : 0;
    sc->cap.cpus_per_node = nodes > 0 && cpus > 0 ? (int)(cpus / nodes) : 0;
    pthread_mutex_unlock(&sc->lock);
}

static int get_partition(slurm_compute *sc, cJSON **answer, const cJSON **partition, amlfs_err *err)
{
    char *path = util_strdupf("partition/%s", sc->cfg.partition);
    int rc = slurm_rest_call(sc->rest, "GET", path, NULL, answer, err);
    free(path);
    const cJSON *list = rc == 0 ? cJSON_GetObjectItemCaseSensitive(*answer, "partitions") : NULL;
    *partition = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
    if (rc == -ENOENT || (rc == 0 && !*partition))
        return amlfs_fail(err, ENOENT, "partition '%s' does not exist in the Slurm cluster at %s",
                          sc->cfg.partition, sc->cfg.url);
    return rc;
}

static void slurm_capacity(compute *c, compute_capacity *out);

static int slurm_check(compute *c, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    cJSON *answer = NULL;
    int rc = slurm_rest_call(sc->rest, "GET", "ping", NULL, &answer, err);
    cJSON_Delete(answer);
    answer = NULL;
    const cJSON *partition = NULL;
    if (rc == 0)
        rc = get_partition(sc, &answer, &partition, err);
    if (rc == 0)
        remember_capacity(sc, partition);
    cJSON_Delete(answer);
    /* Slurm would take such a run and keep it pending for ever: say so when the compute is made. */
    compute_capacity cap;
    slurm_capacity(c, &cap);
    if (rc == 0 && sc->cfg.cpus && cap.cpus_per_node > 0 && sc->cfg.cpus > cap.cpus_per_node)
        rc = amlfs_fail(err, EINVAL, "cpus %d is more than a node of partition %s has (%d)", sc->cfg.cpus,
                        sc->cfg.partition, cap.cpus_per_node);
    char runs[PATH_MAX];
    snprintf(runs, sizeof runs, "%s/runs", sc->cfg.shared_folder);
    if (rc == 0 && (rc = util_mkdir_p(runs, 0755, err)) < 0)
        amlfs_wrap(err, "shared_folder: ");
    return rc;
}

/* Node states as people read them: drain flags turn idle into drained, busy into draining. */
static const char *node_state_word(const cJSON *node)
{
    const char *state = json_string(node, "state");
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(node, "state_flags");
    bool drain = false;
    const cJSON *f;
    cJSON_ArrayForEach(f, flags)
        if (cJSON_IsString(f) && strcmp(f->valuestring, "DRAIN") == 0)
            drain = true;
    if (!state)
        return "unknown";
    if (drain)
        return strcmp(state, "idle") == 0 || strcmp(state, "down") == 0 ? "drained" : "draining";
    return state;
}

static bool node_in_partition(const cJSON *node, const char *partition)
{
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(node, "partitions");
    const cJSON *p;
    cJSON_ArrayForEach(p, parts)
        if (cJSON_IsString(p) && strcmp(p->valuestring, partition) == 0)
            return true;
    return !cJSON_IsArray(parts); /* an answer without the field: count every node */
}

static int slurm_describe(compute *c, cJSON *obj, amlfs_err *err)
{
    slurm_compute *sc = c->impl;
    cJSON *answer = NULL, *nodes_answer = NULL;
    const cJSON *partition = NULL;
    int rc = get_partition(sc, &answer, &partition, err);
    if (rc == 0)
        remember_capacity(sc, partition);
    if (rc == 0)
        rc = slurm_rest_call(sc->rest, "GET", "nodes", NULL, &nodes_answer, err);
    if (rc == 0) {
        char *backed = util_strdupf("Slurm partition %s at %s", sc->cfg.partition, sc->cfg.url);
        cJSON_AddStringToObject(obj, "backed_by", backed);
        free(backed);
        cJSON *counts = cJSON_AddObjectToObject(obj, "nodes");
        const cJSON *node;
        int total = 0;
        cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(nodes_answer, "nodes")) {
            if (!node_in_partition(node, sc->cfg.partition))
                continue;
            const char *word = node_state_word(node);
            cJSON *count = cJSON_GetObjectItemCaseSensitive(counts, word);
            if (count)
                cJSON_SetNumberValue(count, count->valuedouble + 1);
            else
                cJSON_AddNumberToObject(counts, word, 1);
            total++;
        }
        cJSON_AddNumberToObject(obj, "node_count", total);
        pthread_mutex_lock(&sc->lock);
        cJSON_AddNumberToObject(obj, "cpus_per_node", sc->cap.cpus_per_node);
        pthread_mutex_unlock(&sc->lock);
    }
    cJSON_Delete(answer);
    cJSON_Delete(nodes_answer);
    return rc;
}

static void slurm_capacity(compute *c, compute_capacity *out)
{
    slurm_compute *sc = c->impl;
    pthread_mutex_lock(&sc->lock);
    *out = sc->cap;
    pthread_mutex_unlock(&sc->lock);
}

static void slurm_destroy(compute *c)
{
    slurm_compute *sc = c->impl;
    if (sc) {
        slurm_rest_free(sc->rest);
        slurm_config_free(&sc->cfg);
        pthread_mutex_destroy(&sc->lock);
        free(sc);
    }
    free(c->run_root);
    free(c->name);
    free(c);
}

static const compute_ops slurm_ops = {
    .type = "slurm",
    .submit = slurm_submit,
    .adopt = slurm_adopt,
    .cancel = slurm_cancel,
    .poll_all = slurm_poll_all,
    .finalize = slurm_finalize,
    .check = slurm_check,
    .describe = slurm_describe,
    .capacity = slurm_capacity,
    .destroy = slurm_destroy,
};

compute *compute_slurm_new(const char *name, const compute_spec *spec, const char *filename, int max_instances,
                           const char *server_exe, amlfs_err *err)
{
    if (util_check_name("compute", name, err) < 0)
        return NULL;
    slurm_compute *sc = util_xcalloc(1, sizeof *sc);
    if (slurm_config_parse(spec, filename, server_exe, &sc->cfg, err) < 0) {
        free(sc);
        return NULL;
    }
    sc->rest = slurm_rest_new(&sc->cfg);
    pthread_mutex_init(&sc->lock, NULL);
    compute *c = util_xcalloc(1, sizeof *c);
    c->ops = &slurm_ops;
    c->name = util_xstrdup(name);
    c->max_instances = max_instances > 0 ? max_instances : 1;
    c->run_root = util_strdupf("%s/runs", sc->cfg.shared_folder);
    c->impl = sc;
    return c;
}
