/* local.c: the local compute target. Each job runs under its own detached supervisor process
 * (`amlfs-server supervise RUN_DIR`); start/cancel/poll only talk to it through files in the run folder. */
#include "amlfs/compute.h"
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long start() waits for a supervisor to report the job running. Generous: it only runs out when a
 * supervisor hangs; one that dies is noticed at once. */
#define START_WAIT_MS 10000
#define START_CHECK_EVERY_NS (2 * 1000 * 1000)

/* What local_poll answers about one run. */
enum { COMPUTE_LOCAL_RUNNING = 0, COMPUTE_LOCAL_ENDED = 1 };

#define LOST_ERROR "the run's supervisor exited without recording how the job ended"

typedef struct local_compute {
    char *server_exe;           /* absolute path of amlfs-server, run as `SERVER_EXE supervise RUN_DIR` */
} local_compute;

static const char *run_name(const compute_job *job)
{
    return job->run_id ? job->run_id : "(unnamed)";
}

/* launch.json is written to a temp name and renamed: a crash in between leaves launch.json.tmp.XXXXXX. */
static void remove_stale_launch_temps(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, COMPUTE_LAUNCH_FILE ".tmp", strlen(COMPUTE_LAUNCH_FILE ".tmp")) == 0) {
            char *path = compute_run_file(run_dir, e->d_name);
            unlink(path);
            free(path);
        }
    }
    if (d)
        closedir(d);
}

static void unlink_run_file(const char *run_dir, const char *name)
{
    char *path = compute_run_file(run_dir, name);
    unlink(path);
    free(path);
}

/* A start retried on the same run folder must not be confused by the previous attempt's records,
 * nor disturb an attempt that is still running. */
static int refuse_if_running(const compute_job *job, amlfs_err *err)
{
    compute_proc_id id;
    compute_exit ended;
    /* A supervisor that has written exit.json is done with the run, even if it has not exited yet. */
    if (compute_exit_read(job->run_dir, &ended, NULL, NULL) == 0 &&
        compute_pidfile_read(job->run_dir, &id, NULL) == 0 && compute_proc_alive(&id))
        return amlfs_fail(err, EBUSY, "run %s is already running (supervisor pid %d); cancel it first",
                          run_name(job), (int)id.pid);
    return 0;
}

static void forget_previous_attempt(const compute_job *job)
{
    unlink_run_file(job->run_dir, COMPUTE_PID_FILE);
    unlink_run_file(job->run_dir, COMPUTE_EXIT_FILE);
}

/* Takes RUN_DIR/supervisor.lock for the supervisor about to be spawned (it inherits the descriptor and
 * the lock with it). A supervisor of an earlier attempt may hold it for a moment while it exits. */
static int take_supervisor_lock(const char *run_dir, amlfs_err *err)
{
    char *path = compute_run_file(run_dir, COMPUTE_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = fd < 0 ? amlfs_fail(err, errno, "cannot open %s: %s", path, strerror(errno)) : 0;
    int64_t deadline = util_mono_ms() + 2000;
    while (rc == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || util_mono_ms() > deadline) {
            rc = amlfs_fail(err, errno == EWOULDBLOCK ? EBUSY : errno, "%s is held by a supervisor that is still "
                            "running", path);
            break;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (rc < 0 && fd >= 0)
        close(fd);
    free(path);
    return rc < 0 ? rc : fd;
}

/* Whether a supervisor holds RUN_DIR/supervisor.lock (a run folder from before the lock: no file, not held). */
static bool supervisor_lock_held(const char *run_dir)
{
    char *path = compute_run_file(run_dir, COMPUTE_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd); /* releases the lock if this took it */
    return held;
}

/* Returns 1 when the supervisor has reported (0 = the job runs, or a negative errno with its reason),
 * 0 when it has not yet. */
static int start_outcome(const compute_job *job, int *rc, amlfs_err *err)
{
    compute_proc_id id;
    if (compute_pidfile_read(job->run_dir, &id, NULL) == 0) {
        *rc = 0;
        return 1;
    }
    compute_exit ex;
    int start_errno = 0;
    if (compute_exit_read(job->run_dir, &ex, &start_errno, NULL) == 1) {
        *rc = amlfs_fail(err, start_errno > 0 ? start_errno : EIO, "run %s could not start: %s",
                         run_name(job), ex.error[0] ? ex.error : "the job ended before it was recorded as started");
        return 1;
    }
    return 0;
}

static int wait_until_started(const compute_job *job, pid_t supervisor, amlfs_err *err)
{
    int64_t deadline = util_mono_ms() + START_WAIT_MS;
    int rc;
    for (;;) {
        if (start_outcome(job, &rc, err))
            return rc;
        char state = '?';
        if (compute_proc_stat(supervisor, NULL, &state) < 0 || state == 'Z' || state == 'X') {
            if (start_outcome(job, &rc, err)) /* it may have reported just before exiting */
                return rc;
            return amlfs_fail(err, ECHILD, "run %s: its supervisor exited before starting the job; see "
                              "%s/%s", run_name(job), job->run_dir, COMPUTE_SUPERVISOR_LOG_FILE);
        }
        if (util_mono_ms() > deadline) {
            /* Killed, not canceled: it has not recorded a job, so there is no group to stop yet. */
            kill(supervisor, SIGKILL);
            if (start_outcome(job, &rc, err) && rc == 0)
                return amlfs_fail(err, ETIMEDOUT, "run %s: its supervisor started the job only after %d s "
                                  "and was stopped; see %s/%s", run_name(job), START_WAIT_MS / 1000,
                                  job->run_dir, COMPUTE_SUPERVISOR_LOG_FILE);
            return amlfs_fail(err, ETIMEDOUT, "run %s: its supervisor did not start the job within %d s; "
                              "see %s/%s", run_name(job), START_WAIT_MS / 1000, job->run_dir,
                              COMPUTE_SUPERVISOR_LOG_FILE);
        }
        struct timespec pause = {0, START_CHECK_EVERY_NS};
        nanosleep(&pause, NULL);
    }
}

static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return util_xstrdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return util_xstrdup(path); /* the supervisor then reports the folder it cannot find */
    return util_strdupf("%s/%s", cwd, path);
}

static int local_start(compute *c, const compute_job *job, amlfs_err *err)
{
    local_compute *lc = c->impl;
    if (!job || !job->run_dir || !job->work_dir || !job->command)
        return amlfs_fail(err, EINVAL, "a job needs a run folder, a working folder and a command");
    if (job->container && (!job->container->podman || !job->container->podman[0]))
        return amlfs_fail(err, EINVAL, "run %s asks for image %s but no podman command was given",
                          run_name(job), job->container->image);
    /* The supervisor leaves the server's working folder (it must not pin it), so it gets full paths. */
    compute_job resolved = *job;
    char *run_dir = absolute_path(job->run_dir);
    char *work_dir = absolute_path(job->work_dir);
    resolved.run_dir = run_dir;
    resolved.work_dir = work_dir;
    int rc = refuse_if_running(&resolved, err);
    if (rc == 0)
        rc = compute_launch_write(&resolved, err);
    int lock_fd = rc == 0 ? take_supervisor_lock(run_dir, err) : -1;
    if (rc == 0 && lock_fd < 0)
        rc = lock_fd;
    if (rc == 0) {
        forget_previous_attempt(&resolved);
        util_fault_point("local-before-spawn"); /* the run acknowledged, its supervisor not started */
        /* argv is built before the fork: the forked children may not allocate. */
        char *verb = util_xstrdup("supervise");
        char *const argv[] = {lc->server_exe, verb, run_dir, NULL};
        pid_t supervisor;
        rc = compute_spawn_detached(argv, lock_fd, &supervisor, err);
        free(verb);
        /* The supervisor's copy holds the lock now; without a supervisor, closing releases it. */
        close(lock_fd);
        if (rc == 0)
            rc = wait_until_started(&resolved, supervisor, err);
    }
    free(run_dir);
    free(work_dir);
    if (rc < 0)
        return amlfs_wrap(err, "starting run %s on compute %s: ", run_name(job), c->name);
    return 0;
}

/* A run whose folder has a launch record was handed to a supervisor: the handle is the run id, and its
 * files tell the rest (running, ended, or lost). */
static int local_adopt(compute *c, const compute_run *run, char **handle, amlfs_err *err)
{
    (void)c;
    (void)err;
    *handle = NULL;
    char *launch = compute_run_file(run->run_dir, COMPUTE_LAUNCH_FILE);
    char *pid = compute_run_file(run->run_dir, COMPUTE_PID_FILE);
    char *ended = compute_run_file(run->run_dir, COMPUTE_EXIT_FILE);
    struct stat st;
    int found = stat(launch, &st) == 0;
    /* Written but never taken up: the server stopped before its supervisor started (nothing holds the lock
     * and nothing was recorded). No job ran: the run is started again, not reported lost. */
    if (found && stat(pid, &st) < 0 && stat(ended, &st) < 0 && !supervisor_lock_held(run->run_dir)) {
        unlink(launch);
        found = 0;
    }
    remove_stale_launch_temps(run->run_dir);
    free(launch);
    free(pid);
    free(ended);
    if (found)
        *handle = util_xstrdup(run->run_id);
    return found;
}

/* The handle is the run id: the supervisor is found again through the run folder's files. */
static int local_submit(compute *c, const compute_job *job, char **handle, compute_state *state, amlfs_err *err)
{
    *handle = NULL;
    int rc = local_start(c, job, err);
    if (rc < 0)
        return rc;
    *handle = util_xstrdup(run_name(job));
    *state = COMPUTE_RUNNING;
    return 0;
}

static int local_cancel(compute *c, const compute_run *run, amlfs_err *err)
{
    (void)c;
    const char *run_id = run->run_id, *run_dir = run->run_dir;
    compute_exit ex;
    int rc = compute_exit_read(run_dir, &ex, NULL, err);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* already ended: nothing to stop */
    compute_proc_id id;
    rc = compute_pidfile_read(run_dir, &id, err);
    if (rc == -ENOENT)
        return 0; /* no supervisor recorded: poll reports the run lost */
    if (rc < 0)
        return amlfs_wrap(err, "canceling run %s: ", run_id);
    /* SIGTERM asks the supervisor to TERM the job's group and KILL it after the grace period. */
    rc = compute_proc_signal(&id, SIGTERM);
    if (rc < 0 && rc != -ESRCH)
        return amlfs_fail(err, -rc, "canceling run %s: cannot signal its supervisor (pid %d): %s", run_id,
                          (int)id.pid, strerror(-rc));
    return 0;
}

/* start() writes launch.json before the supervisor exists; until start's deadline has passed, a
 * missing pid file means "starting" (this also covers a server that died in the middle of start()). */
static bool start_may_be_in_progress(const char *run_dir)
{
    char *path = compute_run_file(run_dir, COMPUTE_LAUNCH_FILE);
    struct stat st;
    int rc = stat(path, &st);
    free(path);
    if (rc < 0)
        return false;
    int64_t written_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return util_now_ms() - written_ms < START_WAIT_MS + 1000;
}

/* 1 when exit.json was read into out (a damaged one becomes an ended run with its error), 0 when there
 * is none, or a negative errno when it cannot be read now. */
static int read_end(const char *run_dir, compute_exit *out, amlfs_err *err)
{
    amlfs_err why = {0};
    int rc = compute_exit_read(run_dir, out, NULL, &why);
    if (rc == -EINVAL) {
        memset(out, 0, sizeof *out);
        out->exit_code = -1;
        snprintf(out->error, sizeof out->error, "%.500s", why.msg);
        return 1;
    }
    if (rc < 0)
        return amlfs_fail(err, why.code, "%s", why.msg);
    return rc;
}

static int local_poll(const char *run_id, const char *run_dir, compute_exit *out, amlfs_err *err)
{
    int rc = read_end(run_dir, out, err);
    if (rc != 0)
        return rc < 0 ? amlfs_wrap(err, "checking run %s: ", run_id) : COMPUTE_LOCAL_ENDED;
    compute_proc_id id;
    rc = compute_pidfile_read(run_dir, &id, err);
    if (rc == 0 && compute_proc_alive(&id))
        return COMPUTE_LOCAL_RUNNING;
    if (rc == -ENOENT && start_may_be_in_progress(run_dir))
        return COMPUTE_LOCAL_RUNNING;
    /* The supervisor writes exit.json just before it exits: look once more before calling it lost. */
    rc = read_end(run_dir, out, err);
    if (rc != 0)
        return rc < 0 ? amlfs_wrap(err, "checking run %s: ", run_id) : COMPUTE_LOCAL_ENDED;
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    snprintf(out->error, sizeof out->error, "%s", LOST_ERROR);
    return COMPUTE_LOCAL_ENDED;
}

/* Each run's files are read on their own: a local run costs a few stats, no engine to ask. */
static int local_poll_all(compute *c, const compute_run *runs, size_t n, compute_report *out, amlfs_err *err)
{
    (void)c;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        amlfs_err why = {0};
        int rc = local_poll(runs[i].run_id, runs[i].run_dir, &out[i].exit, &why);
        if (rc < 0) {
            out[i].state = COMPUTE_UNKNOWN;
            snprintf(out[i].detail, sizeof out[i].detail, "%.250s", why.msg);
        } else {
            out[i].state = rc == COMPUTE_LOCAL_ENDED ? COMPUTE_ENDED : COMPUTE_RUNNING;
        }
    }
    return 0;
}

static int local_check(compute *c, amlfs_err *err)
{
    (void)c;
    (void)err;
    return 0;
}

static int local_describe(compute *c, cJSON *obj, amlfs_err *err)
{
    (void)c;
    (void)err;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* No node states: this machine is one node, and its runs are counted by the server. */
    cJSON_AddStringToObject(obj, "backed_by", "this machine");
    cJSON_AddNumberToObject(obj, "node_count", 1);
    cJSON_AddNumberToObject(obj, "cpus_per_node", cpus > 0 ? (double)cpus : 1);
    return 0;
}

static void local_capacity(compute *c, compute_capacity *out)
{
    (void)c;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->nodes = 1;
    out->cpus_per_node = cpus > 0 ? (int)cpus : 0;
}

static void local_destroy(compute *c)
{
    local_compute *lc = c->impl;
    if (lc)
        free(lc->server_exe);
    free(lc);
    free(c->name);
    free(c);
}

static const compute_ops local_ops = {
    .type = "local",
    .submit = local_submit,
    .adopt = local_adopt,
    .cancel = local_cancel,
    .poll_all = local_poll_all,
    .check = local_check,
    .describe = local_describe,
    .capacity = local_capacity,
    .destroy = local_destroy,
};

compute *compute_local_new(const char *name, int max_instances, const char *server_exe, amlfs_err *err)
{
    if (util_check_name("compute", name, err) < 0)
        return NULL;
    if (max_instances < 1) {
        amlfs_fail(err, EINVAL, "compute %s: max_instances must be at least 1, not %d", name, max_instances);
        return NULL;
    }
    char resolved[PATH_MAX];
    if (!server_exe || !realpath(server_exe, resolved)) {
        amlfs_fail(err, server_exe ? errno : EINVAL, "compute %s: cannot find the server program %s "
                   "that runs supervisors: %s", name, server_exe ? server_exe : "(none given)",
                   strerror(server_exe ? errno : EINVAL));
        return NULL;
    }
    if (access(resolved, X_OK) < 0) {
        amlfs_fail(err, errno, "compute %s: the server program %s cannot be run: %s", name, resolved,
                   strerror(errno));
        return NULL;
    }
    local_compute *lc = util_xcalloc(1, sizeof *lc);
    lc->server_exe = util_xstrdup(resolved);
    compute *c = util_xcalloc(1, sizeof *c);
    c->ops = &local_ops;
    c->name = util_xstrdup(name);
    c->max_instances = max_instances;
    c->impl = lc;
    return c;
}
