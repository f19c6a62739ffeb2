/* compute_local.h: what the local compute's server side (local.c) and its supervisor share: the files of
 * a run folder, process identity despite pid reuse, the detached spawn, distributed ranks. Internal. */
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
/* supervisor.lock: locked (flock) by the server before it spawns the supervisor, and held by the
 * supervisor through an inherited descriptor (COMPUTE_LOCK_FD) for its whole life: a server that restarts
 * knows from it whether a supervisor it handed a run to is alive, even before that wrote its pid. */
#define COMPUTE_LOCK_FILE "supervisor.lock"
#define COMPUTE_LOCK_FD 4

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
    /* Set by the supervisor, not read from launch.json: the network namespace a container joins (the
     * MLflow relay's, relay.c), NULL for podman's own network. */
    char *netns;
} compute_launch;

/* The most ranks per node, and nodes, a launch may ask for: bounds what a run file can make us fork. */
#define COMPUTE_MAX_RANKS 256

int compute_launch_write(const compute_job *job, amlfs_err *err);
int compute_launch_read(const char *run_dir, compute_launch *out, amlfs_err *err);
void compute_launch_free(compute_launch *launch);

/* ro_inputs.c: a host job's RUN_DIR/inputs (beside work_dir) read-only: the calling process (the
 * supervisor, before it forks the job) enters a mount namespace of its own, with a user namespace when
 * it lacks the right, and binds inputs/ read-only there. 0 (also without inputs/), or the reason. */
int compute_protect_inputs(const char *work_dir, amlfs_err *err);

/* container.c: a container run's pieces. The container's name ("amlfs-RUN_ID"), malloc'd. */
char *compute_container_name(const char *run_id);
/* Writes the job's environment as RUN_DIR/container.env (mode 0600; podman --env-file), so values
 * never show on a command line. -EINVAL for a value podman's format cannot hold (a newline). */
int compute_container_env_file(const char *run_dir, const compute_launch *launch, char **path, amlfs_err *err);
/* `podman ... run ...` for the launch, NULL-terminated, malloc'd strings (compute_strings_free). */
char **compute_container_argv(const compute_launch *launch, const char *env_file);
void compute_strings_free(char **v);

/* A process named by pid plus its start time (field 22 of /proc/PID/stat, clock ticks since boot). */
typedef struct compute_proc_id {
    pid_t pid;
    unsigned long long starttime;
} compute_proc_id;

/* relay.c: MLflow's tracking API inside a container's own network namespace (see relay.c). */
typedef struct compute_relay {
    compute_proc_id relay;      /* the relay, holding the namespace */
    compute_proc_id slirp;      /* slirp4netns on it, for a container with the network; pid 0: none */
    char *netns;                /* /proc/PID/ns/net, for podman --network ns:... */
} compute_relay;
/* The port of a loopback MLflow URI ("http://127.0.0.1:PORT"), 0 for any other. */
int compute_relay_port(const char *uri);
/* A namespace with 127.0.0.1:port relayed to the host's 127.0.0.1:port, and outbound traffic through
 * slirp4netns when network. Both processes end with the supervisor (and with compute_relay_stop). */
int compute_relay_start(int port, bool network, compute_relay *r, amlfs_err *err);
void compute_relay_stop(compute_relay *r);

/* ranks.c: a distributed run's ranks on this node. A launch is distributed when it has a
 * distribution type or more than one process (nodes * per_node > 1). */
bool compute_launch_distributed(const compute_launch *launch);

/* Where this node's ranks stand in the run, and how they find each other (as Azure ML sets it). */
typedef struct compute_rank_plan {
    const char *distribution;   /* the launch's; NULL = none */
    int nodes, per_node;
    int node_rank;              /* $SLURM_NODEID when it is a number, else 0 */
    char *master_addr;          /* $AMLFS_MASTER_ADDR, else 127.0.0.1 */
    int master_port;            /* $AMLFS_MASTER_PORT, else from $SLURM_JOB_ID, else a free loopback port */
    char **hosts;               /* `nodes` entries for TF_CONFIG: $AMLFS_NODE_HOSTS, else master_addr */
} compute_rank_plan;

/* Fills the plan from the launch and the supervisor's environment; -EINVAL (message) for a
 * distribution type we cannot start, a node rank outside the run, or a bad port. */
int compute_rank_plan_init(compute_rank_plan *plan, const compute_launch *launch, amlfs_err *err);
void compute_rank_plan_free(compute_rank_plan *plan);
/* RANK of this node's local rank `local_rank`, and WORLD_SIZE. */
int compute_rank_global(const compute_rank_plan *plan, int local_rank);
int compute_rank_world(const compute_rank_plan *plan);
/* The variables local rank `local_rank` gets on top of launch.env: RANK ... MASTER_PORT, plus the
 * distribution's own (OMPI_*, PMI_* for mpi; TF_CONFIG for tensorflow). NULL-terminated "KEY=VALUE",
 * malloc'd (compute_strings_free). */
int compute_rank_env(const compute_rank_plan *plan, int local_rank, char ***out, amlfs_err *err);

/* A rank's output as it goes into RUN_DIR/log: each line prefixed "[rank N] ". A partial line is held
 * until its newline, or written (newline-ended) once it reaches COMPUTE_LINE_MAX bytes or at EOF. */
#define COMPUTE_LINE_MAX (64 * 1024)
typedef struct compute_line_buf {
    char *buf;                  /* the prefix, then the partial line so far */
    size_t prefix_len, len;     /* len counts the prefix */
    bool broke;                 /* the last write cut a long line: a newline right after it is its end */
} compute_line_buf;

void compute_line_buf_init(compute_line_buf *b, int rank);
/* Appends output; every finished line is written to fd. 0, or the first write's negative errno (the
 * data is consumed either way). */
int compute_line_buf_feed(compute_line_buf *b, const char *data, size_t len, int fd);
/* Writes the partial line, if any, with a newline (at EOF). */
int compute_line_buf_flush(compute_line_buf *b, int fd);
void compute_line_buf_free(compute_line_buf *b);

/* exit.json. `start_errno` is non-zero when the job could not be started at all.
 * compute_exit_read returns 1 when read, 0 when there is no exit.json yet, or a negative errno. */
int compute_exit_write(const char *run_dir, const compute_exit *ex, int start_errno, amlfs_err *err);
int compute_exit_read(const char *run_dir, compute_exit *out, int *start_errno, amlfs_err *err);

/* Reads /proc/PID/stat: start time and state letter ('Z' = zombie). Negative errno if there is none. */
int compute_proc_stat(pid_t pid, unsigned long long *starttime, char *state);
/* The same with the parent and the process group. */
typedef struct compute_proc_info {
    pid_t pid, ppid, pgid;
    unsigned long long starttime;
    char state;
} compute_proc_info;
int compute_proc_read(pid_t pid, compute_proc_info *out);
/* True when that very process still exists and has not exited (a zombie counts as gone). */
bool compute_proc_alive(const compute_proc_id *id);
/* Signal that very process; -ESRCH when it is gone (even if its pid now names another process). */
int compute_proc_signal(const compute_proc_id *id, int sig);

/* supervisor.pid: write the calling process's identity; read it back (-ENOENT when absent). */
int compute_pidfile_write(const char *run_dir, amlfs_err *err);
int compute_pidfile_read(const char *run_dir, compute_proc_id *out, amlfs_err *err);

/* Run argv[0] fully detached from the caller (double fork, new session, stdio on /dev/null, no other
 * fds but inherit_fd as COMPUTE_LOCK_FD when it is >= 0, default signal mask) and return once it has
 * exec'ed, with its pid. Safe in a multithreaded process: the forked children only make
 * async-signal-safe calls. */
int compute_spawn_detached(char *const argv[], int inherit_fd, pid_t *pid_out, amlfs_err *err);

/* "RUN_DIR/NAME", malloc'd. */
char *compute_run_file(const char *run_dir, const char *name);

/* disk_watch.c: the run's disk looked at while the job runs (the job writes its log itself, so a line the
 * full disk refused leaves no trace): once space returns, a line in the log says where and why output
 * went missing. */
typedef struct compute_disk_watch {
    const char *run_dir;
    int64_t full_since_ms;      /* wall clock; 0 while the disk has room */
    int64_t next_look_ms;       /* monotonic */
} compute_disk_watch;

void compute_disk_watch_init(compute_disk_watch *w, const char *run_dir);
/* Looks at the disk when it is time; returns the ms until the next look (a bound for a wait). The marker
 * line goes into the log when the disk has room again; *note (may be NULL) gets what to tell
 * supervisor.log, or "" for nothing. */
int compute_disk_watch_tick(compute_disk_watch *w, char *note, size_t note_len);
/* The job has ended: since when the disk has been full without a marker (0: it has room, or said so). */
int64_t compute_disk_watch_full_since(const compute_disk_watch *w);
/* Writes the marker for the stretch seen full until now, if any. 0, or -1 with errno. */
int compute_disk_watch_say(compute_disk_watch *w);
/* Whether the run's disk has no free block for its user. */
bool compute_disk_full(const char *run_dir);

#endif
