/* compute.h: the one interface every compute target implements: `local` (this machine, a supervisor
 * process per run) and `slurm` (a cluster through slurmrestd). The run lifecycle calls these without
 * holding any lock; a compute never touches the store: it reports, the lifecycle decides. */
#ifndef AMLFS_COMPUTE_H
#define AMLFS_COMPUTE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "amlfs/err.h"

/* A run inside a container image: how podman is run and the container's limits. Filled by the
 * environment's container step (env layer), passed through untouched by computes. */
typedef struct compute_container {
    const char *image;
    const char *const *podman;  /* podman program and its global options, NULL-terminated */
    const char *const *podman_env; /* KEY=VALUE entries podman itself needs (CONTAINERS_CONF) */
    bool network;               /* false: --network=none */
    const char *memory;         /* podman --memory ("2g"); NULL: no limit */
    const char *cpus;           /* podman --cpus ("1.5"); NULL: no limit */
} compute_container;

/* How many processes a run is: `resources.instance_count` nodes, each starting `per_node` ranks with
 * the variables `distribution` (pytorch, mpi, tensorflow) reads. One process when distribution is
 * NULL and nodes == per_node == 1. */
typedef struct compute_ranks {
    const char *distribution;   /* NULL | "pytorch" | "mpi" | "tensorflow" */
    int nodes;                  /* >= 1 */
    int per_node;               /* >= 1 */
} compute_ranks;

/* Everything a compute needs to start one run. RUN_DIR exists (on a cluster compute, in the folder
 * its nodes share) and holds `work/`, the code copy and the job's working directory with `outputs/`.
 * Whatever runs the job writes its output to RUN_DIR/log and its end to RUN_DIR/exit.json (the
 * supervisor, compute_supervise_main, does both wherever it runs). */
typedef struct compute_job {
    const char *run_id;
    const char *run_dir;
    const char *work_dir;       /* RUN_DIR/work */
    const char *command;        /* shell command, inputs already substituted */
    const char *const *env;     /* NULL-terminated "KEY=VALUE" added to the job's environment */
    long timeout_s;             /* 0 = none */
    long cancel_grace_s;        /* TERM -> KILL delay */
    const compute_container *container; /* NULL: on the host as it is */
    compute_ranks ranks;
} compute_job;

/* How a job ended. */
typedef struct compute_exit {
    int exit_code;              /* exit status, or -1 when killed by a signal or lost */
    int signal;                 /* signal number that ended it, 0 if none */
    bool canceled;              /* ended by a cancel request */
    bool timed_out;             /* ended by limits.timeout */
    char error[512];            /* one line when the compute failed it (lost, out of memory, node failure) */
} compute_exit;

/* Where a run is, as its compute sees it. The lifecycle maps these onto run statuses. */
typedef enum compute_state {
    COMPUTE_QUEUED = 0,         /* accepted, waiting in the engine's queue (Slurm PENDING) */
    COMPUTE_PREPARING,          /* being set up by the engine (Slurm CONFIGURING) */
    COMPUTE_RUNNING,
    COMPUTE_FINALIZING,         /* ending; the engine is cleaning up (Slurm COMPLETING) */
    COMPUTE_ENDED,              /* ended: compute_report.exit is filled */
    COMPUTE_UNKNOWN,            /* cannot be told now (engine unreachable): keep the run as it is */
} compute_state;

typedef struct compute_report {
    compute_state state;
    compute_exit exit;          /* COMPUTE_ENDED only */
    char detail[256];           /* why it waits (Slurm's reason), or why it is unknown; may be empty */
} compute_report;

/* One run a compute was given, as the server knows it. */
typedef struct compute_run {
    const char *run_id;
    const char *run_dir;
    const char *handle;         /* what submit returned (a Slurm job id); NULL when never submitted */
} compute_run;

/* What a request may ask of a compute, for refusals at submission. */
typedef struct compute_capacity {
    int nodes;                  /* how many nodes a run may span */
    int cpus_per_node;          /* 0 = unknown */
} compute_capacity;

struct compute;

typedef struct compute_ops {
    const char *type;           /* "local", "slurm" */
    /* Starts (or hands to the engine) one run and returns its handle (malloc'd), kept with the run so
     * that a restarted server finds it again, and where it is now (RUNNING, or QUEUED in an engine's
     * queue). May block (fork, HTTP); called with no lock held. */
    int (*submit)(struct compute *c, const compute_job *job, char **handle, compute_state *state,
                  amlfs_err *err);
    /* Does the compute already have a job for this run (submitted before the server stopped, whatever
     * became of it)? 1 with *handle (malloc'd), 0 when it has none, or a negative errno when it cannot
     * tell now. The lifecycle asks before every submit, so a run is never started twice. */
    int (*adopt)(struct compute *c, const compute_run *run, char **handle, amlfs_err *err);
    /* Asks the run to stop. Returns at once; the end shows later through poll_all. */
    int (*cancel)(struct compute *c, const compute_run *run, amlfs_err *err);
    /* Where each of n runs is, into out[i], in one go (Slurm: one listing request). Returns 0, or a
     * negative errno with the reason when the engine cannot be asked at all (every out[i] is then
     * COMPUTE_UNKNOWN with that reason). A run the engine has forgotten without a record is ENDED
     * with an error, never left hanging. */
    int (*poll_all)(struct compute *c, const compute_run *runs, size_t n, compute_report *out,
                    amlfs_err *err);
    /* Optional: the work a run's end needs before it is recorded (collect outputs, keep the end in
     * RUN_DIR/exit.json before the engine forgets it). Called once per run, between Finalizing and
     * its final status. */
    int (*finalize)(struct compute *c, const compute_run *run, const compute_report *report,
                    amlfs_err *err);
    /* Is the compute usable: ping, partition, token. Called when it is created or changed. */
    int (*check)(struct compute *c, amlfs_err *err);
    /* Live facts for computes/NAME/status: adds "backed_by", "nodes" {idle, allocated, ...} etc. to
     * obj; a negative errno (and nothing added) when the engine cannot be asked. May block. */
    int (*describe)(struct compute *c, cJSON *obj, amlfs_err *err);
    /* What one run may ask for. */
    void (*capacity)(struct compute *c, compute_capacity *out);
    void (*destroy)(struct compute *c);
} compute_ops;

typedef struct compute {
    const compute_ops *ops;
    char *name;
    int max_instances;          /* how many runs at once; the server queues the rest */
    /* Where run folders are made: NULL for the server's own DATA_DIR/runs; a cluster compute names a
     * folder its nodes share. */
    char *run_root;
    void *impl;
} compute;

/* The local compute target: jobs run on this machine under a small supervisor process
 * (`amlfs-server supervise RUN_DIR`) that owns the job's output and records its exit in
 * RUN_DIR/exit.json. `server_exe` is the path of amlfs-server used to start supervisors. */
compute *compute_local_new(const char *name, int max_instances, const char *server_exe, amlfs_err *err);

/* The supervisor's entry point (called by amlfs-server's main for `supervise RUN_DIR`). Returns the
 * job's exit status (128 + signal when killed), so an engine that runs the supervisor as its job (a
 * Slurm batch step) sees how the job ended. */
int compute_supervise_main(const char *run_dir);

static inline void compute_destroy(compute *c)
{
    if (c && c->ops->destroy)
        c->ops->destroy(c);
}

#endif
