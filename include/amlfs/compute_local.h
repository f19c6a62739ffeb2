/* compute_local.h: what the local compute's server side (local.c) and its supervisor share: the files of
 * a run folder, how a process is recognised again despite pid reuse, and the detached spawn. Internal. */
#ifndef AMLFS_COMPUTE_LOCAL_H
#define AMLFS_COMPUTE_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "amlfs/compute.h"
#include "amlfs/err.h"

/* Files in RUN_DIR. launch.json: server -> supervisor (mode 0600: env may hold secrets).
 * supervisor.pid: "PID STARTTIME\n", written once the job runs. exit.json: how the job ended.
 * log: the job's stdout+stderr. supervisor.log: the supervisor's own diagnostics. */
#define COMPUTE_LAUNCH_FILE "launch.json"
#define COMPUTE_PID_FILE "supervisor.pid"
#define COMPUTE_EXIT_FILE "exit.json"
#define COMPUTE_LOG_FILE "log"
#define COMPUTE_SUPERVISOR_LOG_FILE "supervisor.log"

/* The job as the supervisor reads it back from launch.json. */
typedef struct compute_launch {
    char *run_id;
    char *command;
    char **env;                 /* NULL-terminated "KEY=VALUE" */
    char *work_dir;
    long timeout_s;             /* 0 = none */
    long cancel_grace_s;
    /* A container run (image not NULL): the job runs as `podman run` of the image (container.c). */
    char *image;
    char **podman;              /* NULL-terminated */
    char **podman_env;          /* NULL-terminated */
    bool network;
    char *memory, *cpus;        /* NULL: no limit */
    /* compute_ranks: one process unless distribution is set or per_node > 1. */
    char *distribution;
    int nodes, per_node;
} compute_launch;

/* The most ranks per node, and nodes, a launch may ask for: bounds what a run file can make us fork. */
#define COMPUTE_MAX_RANKS 256

int compute_launch_write(const compute_job *job, amlfs_err *err);
int compute_launch_read(const char *run_dir, compute_launch *out, amlfs_err *err);
void compute_launch_free(compute_launch *launch);

/* container.c: a container run's pieces. The container's name ("amlfs-RUN_ID"), malloc'd. */
char *compute_container_name(const char *run_id);
/* Writes the job's environment as RUN_DIR/container.env (mode 0600; podman --env-file), so values
 * never show on a command line. -EINVAL for a value podman's format cannot hold (a newline). */
int compute_container_env_file(const char *run_dir, const compute_launch *launch, char **path, amlfs_err *err);
/* `podman ... run ...` for the launch, NULL-terminated, malloc'd strings (compute_strings_free). */
char **compute_container_argv(const compute_launch *launch, const char *env_file);
void compute_strings_free(char **v);

/* exit.json. `start_errno` is non-zero when the job could not be started at all.
 * compute_exit_read returns 1 when read, 0 when there is no exit.json yet, or a negative errno. */
int compute_exit_write(const char *run_dir, const compute_exit *ex, int start_errno, amlfs_err *err);
int compute_exit_read(const char *run_dir, compute_exit *out, int *start_errno, amlfs_err *err);

/* A process named by pid plus its start time (field 22 of /proc/PID/stat, clock ticks since boot). */
typedef struct compute_proc_id {
    pid_t pid;
    unsigned long long starttime;
} compute_proc_id;

/* Reads /proc/PID/stat: start time and state letter ('Z' = zombie). Negative errno if there is none. */
int compute_proc_stat(pid_t pid, unsigned long long *starttime, char *state);
/* True when that very process still exists and has not exited (a zombie counts as gone). */
bool compute_proc_alive(const compute_proc_id *id);
/* Signal that very process; -ESRCH when it is gone (even if its pid now names another process). */
int compute_proc_signal(const compute_proc_id *id, int sig);

/* supervisor.pid: write the calling process's identity; read it back (-ENOENT when absent). */
int compute_pidfile_write(const char *run_dir, amlfs_err *err);
int compute_pidfile_read(const char *run_dir, compute_proc_id *out, amlfs_err *err);

/* Run argv[0] fully detached from the caller (double fork, new session, stdio on /dev/null, no other
 * fds, default signal mask) and return once it has exec'ed, with its pid. Safe in a multithreaded
 * process: the forked children only make async-signal-safe calls. */
int compute_spawn_detached(char *const argv[], pid_t *pid_out, amlfs_err *err);

/* "RUN_DIR/NAME", malloc'd. */
char *compute_run_file(const char *run_dir, const char *name);

#endif
