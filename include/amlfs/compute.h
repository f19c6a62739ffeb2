/* compute.h: the one interface every compute target implements (local now; containers, Slurm next).
 * The server's run lifecycle calls these; a compute never touches the store. */
#ifndef AMLFS_COMPUTE_H
#define AMLFS_COMPUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "amlfs/err.h"

/* Everything a compute needs to start one run. The run folder exists and holds `work/` (the code
 * copy, the job's working directory, with `outputs/` in it); the job's stdout+stderr must end up,
 * appended, in `RUN_DIR/log`. */
typedef struct compute_job {
    const char *run_id;
    const char *run_dir;        /* DATA_DIR/runs/ID */
    const char *work_dir;       /* RUN_DIR/work */
    const char *command;        /* shell command, inputs already substituted */
    const char *const *env;     /* NULL-terminated "KEY=VALUE" added to the job's environment */
    long timeout_s;             /* 0 = none */
    long cancel_grace_s;        /* TERM -> KILL delay */
    const char *image;          /* container image for image environments; NULL = on the host */
    /* Container runs only (image set): how podman is run, and the container's limits. */
    const char *const *podman;  /* podman program and its global options, NULL-terminated */
    const char *const *podman_env; /* KEY=VALUE entries podman itself needs (CONTAINERS_CONF) */
    bool network;               /* false: --network=none */
    const char *memory;         /* podman --memory ("2g"); NULL: no limit */
    const char *cpus;           /* podman --cpus ("1.5"); NULL: no limit */
} compute_job;

/* How a job ended, read back from its compute. */
typedef struct compute_exit {
    int exit_code;              /* exit status, or -1 when killed by a signal */
    int signal;                 /* signal number that ended it, 0 if none */
    bool canceled;              /* ended by a cancel request */
    bool timed_out;             /* ended by limits.timeout */
    char error[512];            /* one line when the compute failed it (lost, could not start) */
} compute_exit;

typedef enum compute_poll_result {
    COMPUTE_RUNNING = 0,        /* still going */
    COMPUTE_ENDED = 1,          /* ended; compute_exit filled */
} compute_poll_result;

struct compute;

typedef struct compute_ops {
    const char *type;           /* "local" */
    /* Start the job; returns once it is running (or failed to start). Must survive a server crash:
     * whatever watches the job lives outside the server process. */
    int (*start)(struct compute *c, const compute_job *job, amlfs_err *err);
    /* Ask the job to stop: TERM to its whole process group, KILL after job->cancel_grace_s. Returns at
     * once; the end shows later through poll(). */
    int (*cancel)(struct compute *c, const char *run_id, const char *run_dir, amlfs_err *err);
    /* Non-blocking: has the job ended? Also used after a server restart to re-attach. A job whose
     * watcher is gone without a record ends with exit_code -1 and an error. */
    int (*poll)(struct compute *c, const char *run_id, const char *run_dir, compute_exit *out,
                amlfs_err *err);
    void (*destroy)(struct compute *c);
} compute_ops;

typedef struct compute {
    const compute_ops *ops;
    char *name;
    int max_instances;          /* how many runs at once; the server queues the rest */
    void *impl;
} compute;

/* The local compute target: jobs run on this machine under a small supervisor process
 * (`amlfs-server supervise RUN_DIR`) that owns the job's output and records its exit in
 * RUN_DIR/exit.json. `server_exe` is the path of amlfs-server used to start supervisors. */
compute *compute_local_new(const char *name, int max_instances, const char *server_exe, amlfs_err *err);

/* The supervisor's entry point (called by amlfs-server's main for `supervise RUN_DIR`). */
int compute_supervise_main(const char *run_dir);

static inline void compute_destroy(compute *c)
{
    if (c && c->ops->destroy)
        c->ops->destroy(c);
}

#endif
