/* server.h: amlfs-server's parts: the server object, the change feed, run lifecycle, scheduler,
 * monitor, compute registry, and the HTTP layer (routing, replies, handlers) of docs/api.md. */
#ifndef AMLFS_SERVER_H
#define AMLFS_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "amlfs/api.h"
#include "amlfs/compute.h"
#include "amlfs/err.h"
#include "amlfs/snapshot.h"
#include "amlfs/spec.h"
#include "amlfs/store.h"
#include "amlfs/util.h"

/* The transport (sockets, token) is main_server.c's: see listen.c and http_server.c. */
typedef struct server_config {
    const char *data_dir;
    int max_instances;          /* local compute; 0: as stored (nproc the first time) */
    /* podman --root / --runroot for image environments and their runs; NULL: podman's own. */
    const char *podman_root, *podman_runroot;
    /* Code snapshot limits of the workspace; 0: as stored (300 MB and 2000 files the first time). */
    uint64_t snapshot_max_mb, snapshot_max_files;
    /* The same for each data input and data asset version (data is larger than code); 0: as stored
     * (20 GB and 200,000 files the first time). */
    uint64_t data_max_mb, data_max_files;
    /* The Slurm compute amlcompute computes run on; NULL: as stored ("" clears it). */
    const char *default_cluster;
    /* The key that seals secrets in workspace.db; NULL: DATA_DIR/secret.key. */
    const char *secret_key_file;
    /* The server's token (the key of the run tokens jobs get), and MLflow's tracking URI jobs get; NULL:
     * jobs get no MLflow variables (a server without transport, in tests). */
    const char *token, *tracking_uri;
} server_config;

typedef struct events events;
typedef struct monitor monitor;
typedef struct scheduler scheduler;
typedef struct http_server http_server;
typedef struct env_images env_images;
typedef struct snapshot_cache snapshot_cache;
typedef struct compute_slot compute_slot;
typedef struct poller poller;

typedef struct server {
    char *data_dir;
    char *socket_path;
    char *exe;                  /* this program: the local compute starts supervisors with it */
    char *workspace_name;
    store *store;
    events *events;
    monitor *monitor;
    scheduler *scheduler;
    poller *poller;
    http_server *http;
    /* Serialises every run status change (run_lifecycle.c): check + store + event are one step. Never
     * held across a blocking call; `starting` (the runs being set up and submitted with it let go) is
     * guarded by it. */
    pthread_mutex_t lifecycle_lock;
    char **starting;
    size_t nstarting;
    /* Guards the compute registry (computes.c) and each compute's max_instances. */
    pthread_mutex_t computes_lock;
    compute_slot **slots;
    size_t nslots;
    /* Image environments: podman's settings and the builder thread (env_versions.c). */
    env_images *images;
    /* Code snapshots (snapshots.c): the blob store DATA_DIR/snapshots, the workspace's limits (set
     * at open, read-only after), and the manifests recently read. */
    char *snapshot_dir;
    uint64_t snapshot_max_mb, snapshot_max_files;
    uint64_t data_max_mb, data_max_files;
    snapshot_cache *snapshots;
    /* From server_config (read-only after open): what each job gets for MLflow's tracking API. */
    char *token, *tracking_uri;
    /* Experiments' status lines the store could not take (status_lines.c), guarded by status_lock. */
    pthread_mutex_t status_lock;
    struct pending_line *pending_lines;
    size_t npending_lines;
    /* Tests only (NULL otherwise): called by metrics_ingest between reading lines and storing them, so a
     * test can put a second reader in that window deterministically (tests/unit/test_metrics.c). */
    void (*metrics_before_commit)(struct server *srv, const char *run_id);
} server;

typedef struct pending_line {
    char *experiment, *line;
} pending_line;

/* ---- status_lines.c: an experiment's status line, shown even when its disk is full ---- */
/* Stores the line; when the store cannot take it, keeps it (bounded) to be shown and stored later. */
void server_status_line_set(server *srv, const char *experiment, const char *line);
/* The line kept for experiment, malloc'd, or NULL when the store has the latest. */
char *server_status_line_pending(server *srv, const char *experiment);
/* Stores the lines kept (the poller calls it each second). */
void server_status_lines_flush(server *srv);
void server_status_lines_free(server *srv);

/* ---- server.c: the whole service without its transport ---- */
/* Opens DATA_DIR (created 0700), the store, the change feed, the computes; re-attaches to the runs
 * that had not ended and starts the monitor and scheduler threads. */
int server_open(const server_config *cfg, server **out, amlfs_err *err);
/* Stops the threads and closes the store; runs keep going under their supervisors. */
void server_close(server *srv);
/* The status line of a folder ("experiments", "environments", "computes") or of an object kept in
 * folder_status ("computes/NAME"): "Rejected: why", or "" when why is NULL. Emits KEY changed when
 * it changes. */
void server_folder_status(server *srv, const char *key, const amlfs_err *why);
/* DATA_DIR/KIND/NAME..., malloc'd: server_path(srv, "runs/%s/log", id). */
char *server_path(const server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- events.c: the change feed (docs/api.md "Change feed") ----
 * Sequence numbers are reserved in blocks of EVENTS_RESERVE in the store (meta
 * "event_seq_reserved"): a new process starts above anything the previous one could have sent, so
 * numbers only grow across restarts, at the cost of a gap of at most one block. */
#define EVENTS_RESERVE 1000
#define EVENTS_RING 8192
#define EVENTS_MAX_TIMEOUT_S 60
#define EVENTS_MAX_PER_ANSWER 1000

int events_open(store *st, events **out, amlfs_err *err);
void events_close(events *ev);
/* Appends one event; size < 0 means none. Returns its sequence number. */
uint64_t events_emit(events *ev, const char *path, const char *what, int64_t size);
uint64_t events_emitf(events *ev, const char *what, int64_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
uint64_t events_last_seq(events *ev);
/* The answer to GET /v1/events: waits up to timeout_ms for an event above since. */
cJSON *events_wait_json(events *ev, uint64_t since, int timeout_ms);
/* Wakes every waiter for good (server stop). */
void events_shutdown(events *ev);

/* ---- computes.c: the registry of compute targets ---- */
int server_computes_open(server *srv, int max_instances_flag, amlfs_err *err);
void server_computes_close(server *srv);
/* The compute NAME, counted as in use until server_compute_release; NULL when there is none (or it has
 * no usable compute.yaml). */
compute *server_compute_get(server *srv, const char *name);
void server_compute_release(server *srv, compute *c);
/* Lists c under name (NULL: a Draft), replacing what was there (destroyed once no longer in use). */
void server_compute_install(server *srv, const char *name, compute *c);
void server_compute_uninstall(server *srv, const char *name);
int server_compute_max(server *srv, compute *c);
/* Why the last poll of NAME's runs failed (NULL: it went through); shown in its status. */
void server_compute_note(server *srv, const char *name, const char *note);
char *server_compute_note_get(server *srv, const char *name);
/* "local, slurm" for messages (malloc'd), and the same as an array of n malloc'd names. */
char *server_compute_names(server *srv);
char **server_compute_list_names(server *srv, size_t *n);

/* ---- compute_specs.c: compute.yaml, mkdir/rmdir of computes/NAME, submission checks ---- */
/* The compute a stored compute.yaml makes (not checked against its cluster). */
int server_compute_build(server *srv, const char *name, const char *yaml, compute **out, amlfs_err *err);
/* PUT /v1/computes/NAME: validate the compute.yaml, check its cluster, and apply it (create or attach:
 * writing the same file again changes nothing, a changed setting is applied). A cluster that does not
 * answer leaves the compute Failed with the reason; the text is kept either way. */
int server_compute_put(server *srv, const char *name, const char *yaml, size_t len,
                       const char *filename, amlfs_err *err);
/* POST /v1/computes (mkdir): a Draft compute; DELETE (rmdir): one no live run uses. Both explain a
 * refusal in computes/status. */
int server_compute_create(server *srv, const char *name, amlfs_err *err);
int server_compute_delete(server *srv, const char *name, amlfs_err *err);
/* Can a job spanning `nodes` nodes be submitted to NAME now? -ENOENT (missing, Draft), -EHOSTUNREACH
 * (Failed), -EINVAL (more nodes than it has), with the reason. */
int server_compute_usable(server *srv, const char *name, int nodes, amlfs_err *err);
/* The limits each container run on compute NAME gets (its compute.yaml's container_memory and
 * container_cpus), malloc'd, NULL where none is set. */
int server_compute_container_limits(server *srv, const char *name, char **memory, char **cpus);

/* ---- run_lifecycle.c: the one place a run changes status ---- */
typedef struct run_change {
    int64_t started, ended;     /* ms; 0 = unchanged */
    bool set_exit_code;
    int exit_code;
    const char *error;          /* NULL = unchanged */
    const char *handle;         /* the compute's handle, once submitted; NULL = unchanged */
} run_change;

/* Stores a new run (NotStarted, emitting runs/ID created and experiments/NAME changed), then moves
 * it to Queued and wakes the scheduler. claims: the data asset versions it registers when it completes,
 * each refused (-EEXIST) when the asset has it or another run not ended claimed it. */
int run_create(server *srv, store_run *r, const store_data_claim *claims, size_t nclaims, amlfs_err *err);
/* Whether NAME:VERSION is free to be registered (by a run, or a data.yaml): -EEXIST with a message naming
 * the version or the run that will register it. Lock held, or a check ahead of run_create. */
int run_data_version_free(server *srv, const char *name, int version, amlfs_err *err);
/* Moves a run to `to` if the state machine allows it; stores the change and emits runs/ID changed
 * (and computes/NAME changed when its counts change). -EINVAL for a move that is not allowed. */
int run_move(server *srv, const char *id, run_status to, const run_change *chg, amlfs_err *err);
/* Queued (or Preparing after a restart) -> Preparing -> environment set up -> Running. */
int run_prepare_and_start(server *srv, const char *id, amlfs_err *err);
/* The same in two steps, so the slow one (copying code, fetching inputs, submitting to a cluster) can
 * run on a thread of its own: run_claim_start moves the run to Preparing and marks it as being started
 * (1: this caller now starts it; 0: canceled meanwhile, started already or being started by another);
 * run_start_claimed does the rest for a claimed run. */
int run_claim_start(server *srv, const char *id, amlfs_err *err);
int run_start_claimed(server *srv, const char *id, amlfs_err *err);
/* run_code.c: the run's working folder RUN_DIR/work, made at its preparation (a Queued run has none): a
 * copy of its snapshot, then outputs/ and its outputs' folders (job may be NULL: outputs/ alone). Done once:
 * a work/ that exists is complete. A failure (a content missing from the store, a full disk) names the file. */
int run_code_prepare(server *srv, const store_run *r, const job_spec *job, amlfs_err *err);
/* POST /v1/runs/ID/cancel. A run that has ended: -EINVAL "run X already Completed". */
int run_cancel(server *srv, const char *id, amlfs_err *err);
/* Asks the run's compute where it is and follows its word (queued, running, ended) now. */
int run_check_end(server *srv, const char *id, amlfs_err *err);
/* The same for every run handed to a compute: one poll_all per compute (the monitor's sweep). */
void run_poll_all(server *srv);
/* At start: re-attach to every run that had not ended. */
int run_restore_all(server *srv, amlfs_err *err);
/* Interactive runs: made by MLflow's runs/create (a notebook's mlflow.start_run(), or a nested run of a
 * job), on no compute (their compute is ""): Running from their creation until MLflow's update_run or a
 * cancel ends them; a restart leaves them Running. Every run whose parent ends ends with it (its status;
 * a failure names the parent). */
bool run_is_interactive(const store_run *r);
/* Stores r (its id and folder claimed) Running, as parent's child when parent is given (depth: its
 * nesting depth, 1 for a child of a run without parent). -EINVAL when the parent has ended. */
int run_create_interactive(server *srv, store_run *r, const char *parent, int depth, amlfs_err *err);
/* Ends an interactive run as Completed, Failed or Canceled (error: the reason of a failure, or NULL).
 * 1 when it had ended already (it stays as it ended); -EINVAL for a run that is not interactive. */
int run_end_interactive(server *srv, const char *id, run_status to, const char *error, amlfs_err *err);

/* ---- h_experiments.c ---- */
/* POST /v1/experiments (mkdir) and MLflow's experiments/create: the experiment and its files folder; a
 * refusal is explained in experiments/status. */
int experiment_create(server *srv, const char *name, amlfs_err *err);

/* ---- metrics_ingest.c: a job's AMLFS_METRICS files read into the store ---- */
/* Reads the complete lines appended since the last read of each file: one bounded pass per file, 1 when
 * more is waiting (call again), 0 when caught up. final (the run ended): everything, and a last line
 * without its newline too. Safe to call from several threads. */
int metrics_ingest(server *srv, const char *run_id, bool final, amlfs_err *err);
/* At a run's end, when lines were malformed or points dropped: one "[amlfs] AMLFS_METRICS: ..." line at the
 * end of its log, with the first reason (info.json has the first five), so the log says it too. */
void metrics_note_in_log(server *srv, const char *run_id);
/* Change-feed events for series that grew (runs/ID/metrics/NAME created, grew) and, when counts_changed,
 * runs/ID changed (info.json's counts). */
void metrics_announce(server *srv, const char *run_id, const store_series_change *changes, size_t n,
                      bool counts_changed);
/* {"points", "series", "malformed_lines", "dropped_points", "problems", "mlflow_status"} of a run (h_metrics.c). */
cJSON *metrics_state_json(server *srv, const char *run_id);
/* GET /v1/runs/ID/metrics/'s answer: the state above plus "metrics" (each series) and "json_size". */
int run_series_json(server *srv, const char *run_id, cJSON **out, amlfs_err *err);

/* ---- run_token.c: per-run tokens for MLflow's tracking API (a job's MLFLOW_TRACKING_TOKEN) ---- */
/* "RUN_ID.HEX": HMAC-SHA256 of the run id keyed by the server's token; malloc'd (NULL on failure). */
char *run_token_make(const char *key, const char *run_id);
/* 1 with *run_id (malloc'd) when token is a run token made with key, else 0. Constant-time. */
int run_token_check(const char *key, const char *token, char **run_id);

/* ---- mlflow_*.c: MLflow's tracking REST API under /api/2.0/mlflow/ (docs/api.md "MLflow") ---- */
typedef struct http_request http_request;
typedef struct http_reply http_reply;
/* Who sends a request: the owner (the unix socket, or the server's own token), or a job with its run's
 * token, good for that run only. */
typedef struct http_caller {
    bool known;                 /* false: no token, or one that is neither: 401 */
    const char *run_id;         /* a job's token: its run; NULL for the owner */
} http_caller;
/* /api/2.0/mlflow/... or /ajax-api/2.0/mlflow/... */
bool mlflow_path(const char *url);
/* Answers one MLflow request from req->caller (NULL or unknown: 401); errors in MLflow's shape
 * {"error_code", "message"}. */
void mlflow_dispatch(server *srv, const http_request *req, http_reply *out);
/* MLflow's experiment id of an amlfs experiment: 16 hex digits of SHA-256 of its name (stable, and
 * valid for MLflow whatever the name holds). buf >= 17 bytes. */
void mlflow_experiment_id(const char *name, char *buf, size_t len);
/* info.json's "datasets": what mlflow.log_input recorded, each the dataset's members with its "tags" as an
 * object (mlflow_inputs.c). */
cJSON *mlflow_datasets_json(server *srv, const char *run_id);

/* ---- submit.c: POST /v1/experiments/NAME/runs ---- */
/* A new run id of an experiment: EXPERIMENT_UNIXTIME_8HEX, each '.' made '-' (MLflow's run ids allow only
 * letters, digits, '_' and '-'), at most 255 bytes. */
char *run_id_make(const char *experiment, uint32_t rnd);
/* Validates and resolves the job, snapshots its code and queues it; sets the experiment's status
 * line either way. *out_id: the new run's id. */
int run_submit(server *srv, const char *experiment, const char *yaml, size_t len,
               const char *filename, const char *dir, char **out_id, amlfs_err *err);

/* What the submitter says about an absolute `code:` folder (the mount snapshots it where it is). */
typedef struct submit_code {
    const char *snapshot;       /* the hash of the snapshot it uploaded (POST /v1/snapshots), or NULL */
    int error_errno;            /* > 0: the folder could not be snapshotted, and why */
    const char *error_message;
    const cJSON *input_snapshots, *input_errors; /* the same for absolute input folders (submit_data) */
} submit_code;
/* run_submit with what the client did for an absolute `code:` (code may be NULL). */
int run_submit_code(server *srv, const char *experiment, const char *yaml, size_t len, const char *filename,
                    const char *dir, const submit_code *code, char **out_id, amlfs_err *err);

/* ---- submit_data.c: a job's data inputs and outputs placed in its run folder ---- */
/* dir + path ("." and ".." worked out) relative to the experiment's folder; -EINVAL when it climbs out. */
int submit_relpath(const char *dir, const char *path, char **out);
/* The file or folder REL inside the stored folder ROOT (never outside it): *abs (real path), *is_dir.
 * -ENOENT, -EXDEV (outside), -EINVAL (neither a regular file nor a folder). */
int submit_find_stored(const char *root, const char *rel, char **abs, bool *is_dir, amlfs_err *err);
/* Takes the write bits off everything under path (a placed input: the job reads, never changes it). */
int submit_make_read_only(const char *path, amlfs_err *err);
typedef struct submit_data {
    const job_spec *job;
    const char *experiment;
    const char *dir;            /* job.yaml's folder inside the experiment */
    const char *filename;
    const char *run_id;
    /* What the mount uploaded for absolute input folders: {NAME: HASH}, and {NAME: {errno, message}}
     * for those it could not snapshot; NULL when none. */
    const cJSON *uploads, *upload_errors;
} submit_data;
/* Places the job's data inputs (read-only, RUN_DIR/inputs/NAME) and names its outputs' folders
 * (RUN_DIR/work/outputs/NAME, made when the run is prepared); inputs and outputs get the absolute paths
 * the command uses. A refusal names the input with its position in the job file. */
int submit_data_place(server *srv, const submit_data *d, const char *run_dir, spec_kvlist *inputs,
                      spec_kvlist *outputs, amlfs_err *err);
/* Fetches the job's https:// inputs into RUN_DIR/inputs/NAME/ (through DATA_DIR/cache/http), before
 * the run is handed to its compute; a fetch that fails names the input, the URL and the HTTP status. */
int submit_data_fetch(server *srv, const job_spec *job, const char *run_dir, amlfs_err *err);
/* azureml://jobs/RUN_ID/outputs/OUTPUT: the output folder of that run, which must have Completed. */
int submit_job_output_dir(server *srv, const char *uri, char **abs, amlfs_err *err);
/* The same for a uri_file output: the one file in that folder (-EINVAL when it holds anything else). */
int submit_job_output_file(server *srv, const char *uri, char **abs, amlfs_err *err);
/* Copies each output to its datastore `path:` (${{name}} and ${{output_name}} expanded) after a job that
 * ended well, and each output without one to the run's own storage, workspaceblobstore
 * azureml/RUN_ID/OUTPUT (az ml's layout), however the job ended. A failure names the output and the
 * path (after a job that ended well the run then fails: its outputs did not arrive). */
int submit_data_store_outputs(server *srv, const store_run *r, bool ended_well, amlfs_err *err);

/* ---- data_assets.c: data assets (data/NAME) ---- */
/* POST /v1/data (mkdir) and DELETE /v1/data/NAME (rmdir: its stored files removed first); a refusal is
 * explained in data/status. */
int data_create(server *srv, const char *name, amlfs_err *err);
int data_delete(server *srv, const char *name, amlfs_err *err);
/* POST /v1/data/NAME/versions: data.yaml registers a version; `upload` carries what the mount uploaded
 * for an absolute path. The refusal or "" goes to data/NAME/status. */
int data_register(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                  const submit_code *upload, int *version, amlfs_err *err);
/* A job input `azureml:NAME@latest` / `azureml:NAME:VERSION` of type `type`: the version's content
 * materialized read-only at dest; *placed gets the path the command uses (a uri_file's file). */
int data_place_input(server *srv, const char *reference, const char *type, const char *dest, char **placed,
                     amlfs_err *err);
/* A completed run's outputs with `name:` become versions of those data assets (made when missing). */
int data_register_outputs(server *srv, const store_run *r, amlfs_err *err);

/* ---- datastores.c: workspaceblobstore and azure_blob datastores ---- */
bool datastore_is_builtin(const char *name);
/* PUT /v1/datastores/NAME: checks datastore.yaml and that its container answers to its credentials. */
int datastore_put(server *srv, const char *name, const char *yaml, size_t len, const char *filename, amlfs_err *err);
/* "azureml://datastores/NAME/paths/PATH" -> NAME and PATH (malloc'd); -EINVAL otherwise. */
int datastore_parse_path(const char *uri, char **name, char **path);
/* Whether a datastore path is there, a file (is_file) or a folder with something under it: asked at
 * submission, so a wrong path is refused then. 0, or -ENOENT/-EINVAL/the service's error with why. */
int datastore_check_input(server *srv, const char *uri, bool is_file, amlfs_err *err);
/* Brings a datastore file (is_file) or folder to dest, read-only. */
int datastore_fetch_input(server *srv, const char *uri, bool is_file, const char *dest, amlfs_err *err);
/* Copies the files under dir (only the file `only` of it, when not NULL) to the datastore path uri (a
 * later run's files replace the same names). */
int datastore_store_output(server *srv, const char *uri, const char *dir, const char *only, amlfs_err *err);

/* ---- snapshots.c: code snapshots kept in DATA_DIR/snapshots (include/amlfs/snapshot.h) ---- */
/* Opens the blob store and settles the workspace's limits (flags given win and are kept in meta). */
int server_snapshots_open(server *srv, const server_config *cfg, amlfs_err *err);
void server_snapshots_close(server *srv);
/* The limits a job's snapshot must keep: its `amlfs.snapshot_*` properties, else the workspace's. */
snapshot_limits server_snapshot_limits(server *srv, const job_spec *job);
/* The workspace's limits of one data input or data asset version. */
snapshot_limits server_data_limits(const server *srv);
/* The ignore file a limit message should name for m: the one at its root, else .amlignore. */
const char *server_snapshot_ignore_file(const snapshot_manifest *m);
/* A folder of the server's own (an experiment's code) to a stored snapshot: walked with its ignore
 * rules and the limits, every content stored once, the manifest kept. Fills m (finished). */
int server_snapshot_folder(server *srv, const char *dir, const snapshot_limits *limits, snapshot_manifest *m,
                           amlfs_err *err);
/* One file as a snapshot of its own (one entry, its name), its content stored once. Fills m. */
int server_snapshot_file(server *srv, const char *path, const snapshot_limits *limits, snapshot_manifest *m,
                         amlfs_err *err);
/* Keeps a finished manifest in the store (once: a manifest is named by its content). */
int server_snapshot_keep(server *srv, const snapshot_manifest *m, amlfs_err *err);
/* A stored manifest, shared and read-only, from a small cache (manifests never change). Release it. */
int server_snapshot_get(server *srv, const char *hash, const snapshot_manifest **m, amlfs_err *err);
void server_snapshot_release(server *srv, const snapshot_manifest *m);
/* Takes a finished manifest (m is left empty) into that cache: the submission that follows a POST
 * /v1/snapshots finds it there instead of reading it back from the store. */
void server_snapshot_put(server *srv, snapshot_manifest *m);
/* snapshot_blobs_missing, remembered for a cached manifest once nothing was missing (the store never
 * removes a content): each blob is looked up once, not at every request about the snapshot. */
int server_snapshot_missing(server *srv, const snapshot_manifest *m, char ***missing, size_t *n, amlfs_err *err);
/* The workspace's upload counters (POST /v1/blobs): bytes received, blobs stored, requests. */
void server_uploads_count(server *srv, int64_t bytes, int64_t blobs);
int server_uploads_get(server *srv, int64_t *bytes, int64_t *blobs, int64_t *requests, amlfs_err *err);

/* ---- env_inline.c: a job's anonymous environment, an inline `environment:` mapping or file:PATH ---- */
typedef struct env_inline {
    char *name;                 /* anon-HASH12, HASH of its content: the spec without name, version and
                                   secrets, with the build context's snapshot and the conda file's text
                                   in place of their paths */
    char *yaml;                 /* what its version keeps, secrets included; build.path and conda_file
                                   name the copies in its own folder (context/, conda.yml) */
    char *filename;             /* its text's file in messages: the job's, or the environment file's */
    env_spec spec;              /* parsed, secrets kept */
    char context[SNAPSHOT_SHA_HEX]; /* the build context's snapshot ("" without build) */
    char *conda;                /* the conda file's text when conda_file is a path, else NULL */
} env_inline;
typedef struct env_inline_source {
    const char *experiment;
    const char *dir;            /* the job file's folder in the experiment: relative paths start there */
    const job_spec *job;
    const char *yaml;           /* the job file */
    size_t len;
    const char *filename;
    snapshot_limits limits;     /* for the build context */
} env_inline_source;
/* Reads what the job's environment is made of from the experiment's files (file:PATH, build.path,
 * conda_file) and names it. A missing file or folder, a path leading out of the experiment, a file that
 * is not an environment: -ENOENT/-EINVAL with the position (in the job file; for file:PATH, the job's
 * `environment:` with the environment file's own position in the message). Nothing is created. */
int env_inline_prepare(server *srv, const env_inline_source *src, env_inline *out, amlfs_err *err);
/* The build context and conda file as e has them, into an anonymous environment's files folder (once:
 * files already there are the same content). */
int env_inline_place_files(server *srv, const env_inline *e, const char *files_dir, amlfs_err *err);
void env_inline_free(env_inline *e);

/* ---- env_versions.c: environment versions and their setup (include/amlfs/env.h) ---- */
/* Opens the image builder (podman with DATA_DIR/containers.conf and cfg's storage folders). */
int server_envs_open(server *srv, const server_config *cfg, amlfs_err *err);
/* After a restart (the scheduler runs): versions left Building are set up again. */
void server_envs_resume(server *srv);
/* Stops the builder; a build in progress is taken up again at the next start. */
void server_envs_close(server *srv);
/* POST /v1/environments/NAME/versions: validate and store a version, then start its setup. */
int env_version_register(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                         int *version, char **label, amlfs_err *err);
/* POST /v1/environments/NAME/rebuild: the latest version set up again, without cache. */
int env_version_rebuild(server *srv, const char *name, int *version, char **label, amlfs_err *err);
/* A job's anonymous environment (env_inline.c) as a version of the environment anon-HASH12: the existing
 * version when one with that content is usable, else a new one. Its files go in its folder first; a
 * refusal leaves no environment made for it behind. */
int env_inline_register(server *srv, const env_inline *e, char **name, int *version, char **label, amlfs_err *err);
/* An environment version's spec from its stored YAML; a password written as *** is the one an
 * earlier version of the environment has for the same registry. */
int env_version_spec(server *srv, const char *name, int version, const char *yaml, env_spec *out,
                     amlfs_err *err);
/* DATA_DIR/environments/NAME/setup: where image versions' records are. malloc'd. */
char *env_setup_dir(server *srv, const char *name);

/* ---- scheduler.c: per compute, at most max_instances active runs; the rest wait Queued ---- */
int scheduler_start(server *srv, amlfs_err *err);
void scheduler_kick(scheduler *s);
void scheduler_stop(server *srv);
/* Whether scheduler_stop has begun (runs being prepared then stop their downloads). */
bool scheduler_stopping(scheduler *s);

/* ---- poller.c: one thread asking every compute about its runs each second (run_poll_all) ---- */
int poller_start(server *srv, amlfs_err *err);
void poller_stop(server *srv);
/* A run was just handed to a compute: ask now, then every 100 ms for 3 s (a cluster starts a job within
 * a second or so: Running shows then, not at the next whole second). */
void poller_hurry(server *srv);

/* ---- monitor.c: one thread following active runs' folders with inotify ---- */
/* Open first (restore adds runs to follow), start the thread after the restore. */
int monitor_open(server *srv, amlfs_err *err);
int monitor_start(monitor *m, amlfs_err *err);
void monitor_stop(server *srv);
/* Follow the run's log growth and exit record. */
int monitor_watch(monitor *m, const char *run_id, amlfs_err *err);
/* The run ended: send its final log size (if not sent yet) and stop following it. */
void monitor_finish(monitor *m, const char *run_id);
/* What the monitor calls when a run's exit record appears: run_check_end, unless a test says otherwise
 * (before monitor_start). */
typedef int (*monitor_end_fn)(server *srv, const char *run_id, amlfs_err *err);
void monitor_set_end_check(monitor *m, monitor_end_fn fn);

/* ---- token.c: TCP bearer tokens ---- */
/* Reads the token file, creating it (32 random bytes as hex, mode 0600) when absent. */
int token_load_or_create(const char *path, char **token, amlfs_err *err);
/* Constant-time: the time does not depend on where the strings differ. */
bool token_equal(const char *given, const char *expected);
/* The 32-byte key that seals secrets in the store (store_set_secret_key), from a 0600 file of 64 hex
 * digits, made when absent; a file others can read is refused. */
int secret_key_load_or_create(const char *path, unsigned char key[STORE_SECRET_KEY_LEN], amlfs_err *err);

/* ---- listen.c: the listening sockets (created here, handed to libmicrohttpd) ---- */
/* Refuses when another server answers on path; removes a stale socket; binds, chmod 0600, listens. */
int listen_unix(const char *path, int *fd, amlfs_err *err);
int listen_tcp(const char *host_port, int *fd, amlfs_err *err);
/* 127.0.0.1 on the port kept in DATA_DIR/mlflow.port when it is free, else a new one (kept there). */
int listen_mlflow(const char *data_dir, int *fd, int *port, amlfs_err *err);

/* ---- http_server.c: libmicrohttpd daemons ---- */
/* Serves the API on a listening unix socket (no token), when tcp_fd >= 0 on TCP (the token, or a run's token
 * for MLflow's API), and when mlflow_fd >= 0 MLflow's API alone (loopback, for jobs). token: the server's
 * token, also the key of run tokens. */
typedef struct http_tls {
    const char *cert_pem, *key_pem;     /* the TCP listener's certificate chain and key; NULL: plain HTTP */
} http_tls;
int http_start(server *srv, int unix_fd, int tcp_fd, int mlflow_fd, const char *token, const http_tls *tls,
               amlfs_err *err);
void http_stop(server *srv);
/* Requests taken since the server started (workspace.json's "requests": what clients ask of it). */
int64_t http_requests_taken(server *srv);

/* ---- header_deadline.c: the time a network client has to send a request's headers ---- */
/* first_s from the connection's start (TLS handshake included), next_s from the end of the request before;
 * past it the connection is shut down. header_watch_notify is the daemon's MHD_OPTION_NOTIFY_CONNECTION. */
typedef struct header_watch header_watch;
int header_watch_start(unsigned first_s, unsigned next_s, header_watch **out, amlfs_err *err);
void header_watch_free(header_watch *w); /* once the daemons it watched have stopped */
void header_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);
void header_watch_headers_in(struct MHD_Connection *conn);     /* the request goes to a handler */
void header_watch_request_done(struct MHD_Connection *conn);   /* the next request's clock starts */

/* ---- the request and reply every handler sees ---- */
typedef struct http_request {
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const char *params[2];      /* the :NAME parts of the route */
    const char *tail;           /* the rest after the route's "*" (a file path), "" when none */
    bool trailing_slash;        /* the URL ended with '/' */
    const char *body;
    size_t body_len;
    /* Uploads (POST /v1/blobs) go to an unlinked temp file instead of memory: then body is NULL,
     * body_fd reads the body_len bytes from offset 0. */
    bool body_spooled;
    int body_fd;
    const http_caller *caller;  /* who sent it (the owner on the unix socket) */
} http_request;

typedef struct http_reply {
    unsigned status;
    struct MHD_Response *response;
} http_reply;

typedef int (*http_handler)(server *srv, const http_request *req, http_reply *out, amlfs_err *err);

/* h_snapshots.c: whether a request's body is spooled to a file (see http_request), and how large it
 * may be: 0 for an ordinary request (in memory). Asked when the request starts. */
uint64_t http_spool_limit(server *srv, struct MHD_Connection *conn, const char *method, const char *url);

/* router.c: finds the handler for a request and fills params/tail; NULL with *status 404 or 405.
 * scratch[0..1] receive buffers the request then points into: free both after answering. */
http_handler router_find(http_request *req, char **scratch, unsigned *status);

/* reply.c */
void reply_json(http_reply *out, unsigned status, cJSON *json);   /* takes json */
void reply_bytes(http_reply *out, unsigned status, const void *data, size_t len,
                 const char *content_type);
/* len bytes of fd from offset, read as they are sent: the server holds one block, whatever the size.
 * Takes fd (closed once the answer is done, or here on failure). */
int reply_fd(http_reply *out, unsigned status, int fd, uint64_t offset, uint64_t len, const char *content_type,
             amlfs_err *err);
/* A body made as it is sent, its size unknown (chunked): more(state, buf) appends the next part to buf
 * and returns 0, or 1 when nothing is left, or a negative errno (the connection is then cut: a client
 * never takes a cut answer for a whole one). free_state(state) when the answer is done. Takes state
 * (freed here on failure). */
typedef int (*reply_more_fn)(void *state, util_buf *buf);
int reply_stream(http_reply *out, unsigned status, const char *content_type, reply_more_fn more, void *state,
                 void (*free_state)(void *), amlfs_err *err);
void reply_empty(http_reply *out, unsigned status);
/* The docs/api.md error body; status 0: from the errno. */
void reply_error(http_reply *out, unsigned status, const amlfs_err *err);
/* Query argument, or NULL. */
const char *http_query(const http_request *req, const char *key);
/* Parses a non-negative integer argument; absent: *out = dflt. */
int http_query_i64(const http_request *req, const char *key, int64_t dflt, int64_t *out,
                   amlfs_err *err);
/* The body as a JSON object. */
int http_body_json(const http_request *req, cJSON **out, amlfs_err *err);
/* Where a JSON text holds a NUL (a raw byte, or \u0000 in a string), or SIZE_MAX. */
size_t http_json_nul_at(const char *body, size_t len);
/* The length of a spec body's "yaml" string. JSON strings cannot carry a NUL byte through cJSON, so a
 * client that read one in the file sends the text up to it and "nul_at": its offset; the length then
 * takes in the string's terminator, and the spec check refuses the file naming the NUL's line and column. */
size_t http_spec_len(const cJSON *body, const cJSON *yaml);
/* {"COLLECTION": [{"name"}...], "status_line"}: first (may be NULL) then names (freed here, with the
 * array), and the collection's status line; rc < 0 (a failed listing) is passed on. */
int reply_name_list(server *srv, const char *collection, const char *first, char **names, size_t n, int rc,
                    http_reply *out, amlfs_err *err);
/* A string member of a JSON object, or dflt. */
const char *json_str(const cJSON *obj, const char *key, const char *dflt);
/* ISO-8601 string, or null for 0. */
void json_add_time(cJSON *obj, const char *key, int64_t ms);
/* Bytes of a growing file (a log) from offset, with X-Log-Size. */
int reply_log(http_reply *out, const char *path, const http_request *req, amlfs_err *err);

/* *_json.c: one encoder per object kind, field names as docs/api.md has them. */
cJSON *run_json(server *srv, const store_run *r, bool with_job_yaml);
cJSON *environment_json(server *srv, const store_env *e);
/* An environment version as the API writes it: a number when its label is a whole number ("3" -> 3, as
 * versions always were), else the label as a string ("22.02-py3"). */
cJSON *env_version_label_json(const char *label);
cJSON *experiment_json(server *srv, const store_experiment *e);
/* live: also what the cluster says now (what backs it, its nodes): the status file's request only, since
 * asking a cluster may take seconds. */
cJSON *compute_json(server *srv, const store_compute *c, bool live);

/* Handlers (h_*.c). */
int h_workspace(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_events(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiments_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiments_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiment_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiment_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiment_submit(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environments_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environments_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_add_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_build_log(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_rebuild(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_computes_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_compute_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_compute_put(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_computes_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_compute_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_runs_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_log(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_cancel(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* Metrics, parameters and tags (h_metrics.c): GET /v1/runs/ID/metrics/[NAME], .../metrics.json,
 * .../params.json, .../tags.json, /v1/experiments/NAME/runs-summary. */
int h_run_metrics(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_metrics_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_params_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_tags_json(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiment_runs_summary(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* An experiment's runs side by side, as runs-summary and metrics.tsv show them: its runs, the last point of
 * each of their series and their parameters, all in the runs' submission order. -ENOENT without it. */
typedef struct experiment_comparison {
    store_run *runs;
    store_run_last *last;
    store_pair *params;
    size_t nruns, nlast, nparams;
} experiment_comparison;
int experiment_comparison_load(server *srv, const char *experiment, experiment_comparison *out, amlfs_err *err);
void experiment_comparison_free(experiment_comparison *c);
/* h_charts.c: GET /v1/runs/ID/charts/METRIC.svg (one series), /v1/experiments/NAME/charts/ (the metric names of
 * its runs) and .../charts/METRIC.svg (that metric across its runs), /v1/experiments/NAME/metrics.tsv. */
int h_run_chart(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* h_ctl.c: POST /v1/runs/ID/ctl and /v1/environments/NAME/ctl {"command"}: a ctl file's command, its
 * outcome kept as the object's "ctl_status" ("" after one that worked, "Rejected: COMMAND: why" after not). */
int h_run_ctl(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_ctl(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
cJSON *ctl_status_json(server *srv, const char *kind, const char *name);
int h_experiment_charts(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_experiment_metrics_tsv(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* Snapshots: POST /v1/snapshots (a manifest), POST /v1/blobs (their contents), and a run's snapshot
 * as a read-only folder (GET /v1/runs/ID/snapshot/PATH). */
int h_snapshots_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_blobs_upload(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_run_snapshot(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* GET of req->tail inside snapshot m (a run's, a data asset version's) as a read-only folder: ?stat=1 an
 * entry, a listing for the root or a trailing '/', else a file's bytes; `what` names it in messages. */
int server_snapshot_reply(server *srv, const http_request *req, const snapshot_manifest *m, int64_t mtime_ms,
                          const char *what, http_reply *out, amlfs_err *err);
/* The entry of a snapshot's root, and the entries of folder dir in it ({"entries": [...]}), as a run's
 * snapshot folder shows them (mtime_ms: every entry's time). */
cJSON *server_snapshot_root_json(int64_t mtime_ms);
cJSON *server_snapshot_children_json(const snapshot_manifest *m, const char *dir, int64_t mtime_ms);
/* GET /v1/runs/ID/tree (h_run_tree.c): outputs, logs, inputs and snapshot (root and entries) and the
 * metrics listing of a run, in one answer. */
int h_run_tree(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* {"root": ENTRY, "entries": [ENTRY...] or null when over max_entries} of a run's outputs, logs or
 * inputs folder (h_outputs.c). */
int run_folder_tree_json(server *srv, const store_run *r, const char *folder, size_t max_entries, cJSON **out,
                         amlfs_err *err);
/* Datastores (h_datastores.c). */
int h_datastores_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_datastores_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_datastore_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_datastore_put(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_datastore_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_datastore_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* datastores.c: GET /v1/datastores/NAME/files/PATH: its files as a read-only folder (?stat=1, a listing,
 * bytes by range). */
int datastore_files_reply(server *srv, const char *name, const http_request *req, http_reply *out, amlfs_err *err);
/* Data assets (h_data.c) and their stored files (h_files.c). */
int h_data_list(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_create(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_get(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_delete(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_add_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_version(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_version_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_data_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* What a run's job wrote under ./outputs, read-only and live (GET /v1/runs/ID/outputs/PATH). */
int h_run_outputs(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* The same for ./logs (GET /v1/runs/ID/logs/PATH): the job's own logs and the per-rank logs. */
int h_run_logs(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* GET /v1/runs/ID/inputs/PATH: the run's data inputs as placed (RUN_DIR/inputs), read-only. */
int h_run_inputs(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
/* GET of REL inside a stored folder ROOT (files API, run outputs): with ?stat=1 its entry, a listing
 * when `list`, else its bytes by ?offset and ?length. */
int folder_get_reply(const char *root, const char *rel, bool list, const http_request *req, http_reply *out,
                     amlfs_err *err);
/* Files of experiments (params[0] = NAME) and environments, GET/PUT/DELETE/POST. */
int h_experiment_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err);
int h_environment_files(server *srv, const http_request *req, http_reply *out, amlfs_err *err);

#endif
