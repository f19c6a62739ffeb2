/* store.h: what amlfs-server keeps: SQLite metadata (DATA_DIR/workspace.db) for the workspace,
 * environments, computes, experiments and runs, and the plain-file folders of stored files. */
#ifndef AMLFS_STORE_H
#define AMLFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "amlfs/api.h"
#include "amlfs/err.h"

/* One SQLite connection guarded by a mutex; every function below is safe from any thread and is
 * atomic on its own (multi-statement changes run in one transaction). */
typedef struct store store;

int store_open(const char *db_path, store **out, amlfs_err *err);
/* The workspace's key (kept in its own file, never in the database): from now on the columns that can
 * hold secrets (environment versions' YAML and spec, datastores' YAML) are sealed with AES-256-GCM; rows
 * older servers stored in the clear are sealed now, and the database files rewritten so no clear copy
 * stays. Call once, right after store_open. */
#define STORE_SECRET_KEY_LEN 32
int store_set_secret_key(store *s, const unsigned char key[STORE_SECRET_KEY_LEN], amlfs_err *err);
void store_close(store *s);

/* meta: small key/value facts (workspace name, event sequence reservation). -ENOENT when absent. */
int store_meta_get(store *s, const char *key, char **value, amlfs_err *err);
int store_meta_set(store *s, const char *key, const char *value, amlfs_err *err);
/* Adds delta to the whole number kept under key (absent: 0), atomically; *total (may be NULL) gets
 * the sum. For counters. */
int store_meta_add(store *s, const char *key, int64_t delta, int64_t *total, amlfs_err *err);

/* The status line of a top-level folder ("experiments", "environments", "computes"): why the last
 * mkdir there was refused, or "" (also when never set). */
int store_folder_status_get(store *s, const char *folder, char **line, amlfs_err *err);
int store_folder_status_set(store *s, const char *folder, const char *line, amlfs_err *err);

/* How many of each object the workspace holds. */
typedef struct store_counts {
    long environments, computes, experiments, runs;
} store_counts;
int store_count_all(store *s, store_counts *out, amlfs_err *err);

/* ---- environments ---- */
typedef struct store_env {
    char *name;
    int64_t created, updated;     /* ms */
    char *rejected;               /* why the last environment.yaml was refused, or NULL */
    int *versions;                /* registration order (the version's number, kept by runs) */
    char **labels;                /* the versions as users name them ("3", "22.02-py3"), same order */
    size_t nversions;
    char *latest_status;          /* status word of the latest version, NULL without versions */
    char *latest_reason;
} store_env;

typedef struct store_env_version {
    int version;                  /* registration order */
    char *label;                  /* the version's name: `version:` as written, else the next whole number */
    char *yaml;                   /* as written, secrets included: never send it out unredacted */
    char *spec_json;              /* spec_env_to_json: secrets already *** */
    char *status;                 /* Building | Ready | Failed */
    char *reason;                 /* NULL unless Failed */
    int64_t created;
} store_env_version;

int store_env_create(store *s, const char *name, int64_t now_ms, amlfs_err *err);
int store_env_get(store *s, const char *name, store_env *out, amlfs_err *err);
int store_env_list(store *s, store_env **out, size_t *n, amlfs_err *err);
void store_env_free(store_env *e);
void store_env_list_free(store_env *list, size_t n);
/* -EBUSY (naming the run) when a run that has not ended uses it. */
int store_env_delete(store *s, const char *name, amlfs_err *err);
int store_env_set_rejected(store *s, const char *name, const char *why, int64_t now_ms, amlfs_err *err);
/* Adds a version named `label` (NULL: the next whole number, one above the highest whole-number label)
 * and clears the rejection; -EEXIST when the label is taken. *out_version: its registration number;
 * *out_label (may be NULL): its label, malloc'd. */
int store_env_version_add(store *s, const char *name, const char *label, const char *yaml,
                          const char *spec_json, const char *status, const char *reason,
                          int64_t now_ms, int *out_version, char **out_label, amlfs_err *err);
/* version 0: the latest registered. */
int store_env_version_get(store *s, const char *name, int version, store_env_version *out,
                          amlfs_err *err);
/* The registration number of the version labelled `label`; -ENOENT when there is none. */
int store_env_version_find(store *s, const char *name, const char *label, int *version, amlfs_err *err);
int store_env_version_set_status(store *s, const char *name, int version, const char *status,
                                 const char *reason, amlfs_err *err);
void store_env_version_free(store_env_version *v);

/* ---- computes ---- */
typedef struct store_compute {
    char *name;
    char *type;                   /* "" while Draft (made by mkdir, no compute.yaml yet) */
    char *yaml;                   /* "" while Draft */
    int max_instances;
    char *state;                  /* provisioning state: Draft | Succeeded | Failed */
    char *reason;                 /* why Failed; NULL otherwise */
} store_compute;

/* Insert or replace (state NULL: Succeeded). */
int store_compute_put(store *s, const store_compute *c, amlfs_err *err);
/* Insert a Draft; -EEXIST when the name is taken. */
int store_compute_create(store *s, const char *name, amlfs_err *err);
/* -ENOENT when absent. */
int store_compute_delete(store *s, const char *name, amlfs_err *err);
int store_compute_get(store *s, const char *name, store_compute *out, amlfs_err *err);
int store_compute_list(store *s, store_compute **out, size_t *n, amlfs_err *err);
void store_compute_free(store_compute *c);
void store_compute_list_free(store_compute *list, size_t n);

/* ---- experiments ---- */
typedef struct store_experiment {
    char *name;
    int64_t created;
    char *status_line;            /* "" when nothing was submitted yet */
    long run_count;
    char *latest_run;             /* NULL without runs */
} store_experiment;

int store_experiment_create(store *s, const char *name, int64_t now_ms, amlfs_err *err);
int store_experiment_get(store *s, const char *name, store_experiment *out, amlfs_err *err);
int store_experiment_list(store *s, store_experiment **out, size_t *n, amlfs_err *err);
/* -ENOTEMPTY when it has runs. */
int store_experiment_delete(store *s, const char *name, amlfs_err *err);
int store_experiment_set_status_line(store *s, const char *name, const char *line, amlfs_err *err);
void store_experiment_free(store_experiment *e);
void store_experiment_list_free(store_experiment *list, size_t n);

/* ---- data assets ---- */
typedef struct store_data_version {
    int version;                  /* 0 when adding: the next one */
    char *yaml;                   /* data.yaml as registered */
    char *type;                   /* uri_folder | uri_file | mlflow_model | custom_model */
    char *snapshot;               /* the hash of the snapshot of its content */
    char *file;                   /* uri_file: the file's name inside the snapshot; NULL otherwise */
    int64_t created;              /* ms */
} store_data_version;

/* -EEXIST when the name is taken. */
int store_data_create(store *s, const char *name, int64_t created, amlfs_err *err);
/* 0 when it exists, -ENOENT (message) when not. */
int store_data_exists(store *s, const char *name, amlfs_err *err);
/* The asset and all its versions (their contents stay in the blob store). */
int store_data_delete(store *s, const char *name, amlfs_err *err);
/* The names, sorted (malloc'd strings in a malloc'd array). */
int store_data_names(store *s, char ***names, size_t *n, amlfs_err *err);
/* -EEXIST for a version taken; *version gets the one stored. */
int store_data_version_add(store *s, const char *name, const store_data_version *v, int *version, amlfs_err *err);
/* version 0: the latest. -ENOENT (message) when there is none. */
int store_data_version_get(store *s, const char *name, int version, store_data_version *out, amlfs_err *err);
/* Every version, oldest first. */
int store_data_versions(store *s, const char *name, store_data_version **out, size_t *n, amlfs_err *err);
void store_data_version_free(store_data_version *v);
void store_data_version_list_free(store_data_version *list, size_t n);

/* A data asset version a run registers when it completes (`outputs: X: {name, version}`). */
typedef struct store_data_claim {
    const char *name;
    int version;
} store_data_claim;
/* The run that claimed NAME:VERSION and has not ended: 0 with *run (malloc'd) and *status, -ENOENT when
 * none. */
int store_data_claim_holder(store *s, const char *name, int version, char **run, run_status *status,
                            amlfs_err *err);
/* Records run's claims; the caller checked them free under its own lock (run_lifecycle.c). */
int store_data_claims_add(store *s, const char *run, const store_data_claim *claims, size_t n, amlfs_err *err);

/* ---- datastores (besides the built-in workspaceblobstore): their datastore.yaml, secrets included ---- */
int store_datastore_put(store *s, const char *name, const char *yaml, int64_t created, amlfs_err *err);
int store_datastore_get(store *s, const char *name, char **yaml, amlfs_err *err);
int store_datastore_delete(store *s, const char *name, amlfs_err *err);
int store_datastore_names(store *s, char ***names, size_t *n, amlfs_err *err);

/* ---- runs ---- */
typedef struct store_run {
    int64_t seq;                  /* submission order */
    char *id;
    char *experiment;
    char *display_name;
    run_status status;
    char *compute;
    char *environment;            /* NULL for an inline environment */
    int environment_version;      /* 0 when none; the version's registration number */
    char *environment_label;      /* that version's label; NULL for runs from before labels */
    char *job_yaml;               /* resolved, secrets included (NULL in light listings) */
    char *spec_json;              /* (NULL in light listings) */
    char *command;                /* rendered (NULL in light listings) */
    char *job_env;                /* JSON array of "KEY=VALUE" (NULL in light listings) */
    int64_t created, started, ended; /* ms, 0 = not yet */
    bool has_exit_code;
    int exit_code;
    char *error;                  /* NULL when none */
    long timeout_s;               /* 0 = none */
    char *snapshot;               /* the hash of the code snapshot it started with; NULL for none */
    char *handle;                 /* its compute's handle (a Slurm job id); NULL until submitted */
} store_run;

/* What a status change also records; a field left 0/NULL/false is kept as it is. */
typedef struct store_run_change {
    int64_t started, ended;
    bool set_exit_code;
    int exit_code;
    const char *error;
    const char *handle;
} store_run_change;

/* -EEXIST for a taken id, -ENOENT when the experiment is gone. Fills r->seq. */
int store_run_insert(store *s, store_run *r, amlfs_err *err);
int store_run_get(store *s, const char *id, store_run *out, amlfs_err *err);
bool store_run_exists(store *s, const char *id);
/* Runs in submission order; experiment NULL = all. Light: without the big text columns. */
int store_run_list(store *s, const char *experiment, store_run **out, size_t *n, amlfs_err *err);
/* One page of that: the runs after sequence number after_seq (0: from the first), at most limit
 * (0 = all). A run's seq is its place in submission order. */
int store_run_list_page(store *s, const char *experiment, int64_t after_seq, size_t limit, store_run **out,
                        size_t *n, amlfs_err *err);
/* Which runs a status listing takes: all, those not yet handed to their compute, those handed. */
#define STORE_ANY (-1)
#define STORE_UNSUBMITTED 0
#define STORE_SUBMITTED 1
/* Runs in one of the given statuses (mask of 1u << status), in submission order, optionally only
 * those of one compute, submitted or not (STORE_*), at most limit (0 = all). Light. */
int store_run_list_by_status(store *s, unsigned status_mask, const char *compute, int submitted, size_t limit,
                             store_run **out, size_t *n, amlfs_err *err);
long store_run_count_by_status(store *s, unsigned status_mask, const char *compute, int submitted);
int store_run_set_status(store *s, const char *id, run_status to, const store_run_change *chg,
                         amlfs_err *err);
void store_run_free(store_run *r);
void store_run_list_free(store_run *list, size_t n);

/* ---- metrics, parameters and tags of runs (include/amlfs/metrics.h) ----
 * A series (run, name) is its points in the order they were logged; each point's text line
 * ("STEP VALUE TIMESTAMP\n", metrics_format_line) has its byte offset in the series' text, so the text
 * (runs/ID/metrics/NAME) only ever grows and is read by ranges like a log. */
typedef struct store_metric_in {
    const char *name;
    double value;
    bool has_step;              /* false: the series' next step (one above its highest, 0 first) */
    int64_t step;
    int64_t timestamp;          /* ms */
} store_metric_in;

typedef struct store_kv {
    const char *key, *value;
} store_kv;

/* A malformed line of an AMLFS_METRICS file (line 0: about the file itself). */
typedef struct store_metric_problem {
    const char *file;
    int64_t line;
    const char *reason;
} store_metric_problem;

/* Where points come from when they are read from a job's AMLFS_METRICS file. */
typedef struct store_metric_source {
    const char *file;           /* its name in RUN_DIR/metrics */
    int64_t from_offset;        /* where this read started: must be the stored offset (else -EAGAIN) */
    int64_t to_offset;          /* the offset after what was read */
    int64_t lines;              /* lines read up to to_offset */
    bool skipping;              /* to_offset is inside a line over METRICS_LINE_MAX, skipped to its end */
    int64_t malformed;          /* malformed lines among them, counted */
    const store_metric_problem *problems;
    size_t nproblems;
} store_metric_source;

/* A series that changed: its text's new size; created when it is new. */
typedef struct store_series_change {
    char *name;
    int64_t bytes;
    bool created;
} store_series_change;
void store_series_changes_free(store_series_change *list, size_t n);

/* Adds metrics, parameters and tags of a run in one transaction. From the API (src NULL) it is all or
 * nothing: -EINVAL for a parameter logged before with another value (MLflow's parameters never change),
 * -EFBIG beyond the run's METRICS_POINTS_MAX points or METRICS_SERIES_MAX series. From a file (src), points
 * beyond those limits are counted as dropped, and the file's offset, lines and problems are kept with
 * them (-EAGAIN when src->from_offset is no longer the stored one: another reader took those lines).
 * *changes (may be NULL) gets the series that grew. Keys and values must have been checked. */
int store_run_data_add(store *s, const char *run, const store_metric_in *metrics, size_t nmetrics,
                       const store_kv *params, size_t nparams, const store_kv *tags, size_t ntags,
                       const store_metric_source *src, store_series_change **changes, size_t *nchanges,
                       amlfs_err *err);

typedef struct store_series {
    char *name;
    int64_t count, bytes;
    int64_t json_extra;                 /* what its non-finite values add to metrics.json (metrics.h) */
    int64_t last_step, last_timestamp;  /* the point at the highest step (the latest logged among them) */
    double last_value;
} store_series;
/* The run's series, by name. */
int store_series_list(store *s, const char *run, store_series **out, size_t *n, amlfs_err *err);
void store_series_list_free(store_series *list, size_t n);
/* Up to length bytes of one series' text from offset; *total: the text's whole size. -ENOENT when the
 * run has no such series. */
int store_series_text(store *s, const char *run, const char *name, int64_t offset, int64_t length, char **text,
                      size_t *len, int64_t *total, amlfs_err *err);

typedef struct store_point {
    int64_t step, timestamp;
    double value;
    int64_t off;                /* where its line starts in the series' text: the order points were logged in */
} store_point;
/* Points of one series in the order logged: from the skip-th, at most max (0: all). */
int store_series_points(store *s, const char *run, const char *name, int64_t skip, int64_t max, store_point **out,
                        size_t *n, amlfs_err *err);
/* The same from the point whose line starts at text offset `from` or after (0: the first), at most max:
 * a long series read in batches (the next batch from the last point's off + 1), never rescanned. */
int store_series_points_from(store *s, const char *run, const char *name, int64_t from, int64_t max,
                             store_point **out, size_t *n, amlfs_err *err);

typedef struct store_pair {
    char *run;                  /* set by the experiment-wide listings only */
    char *key, *value;
} store_pair;
void store_pairs_free(store_pair *list, size_t n);
/* The run's parameters or tags, by key. */
int store_run_params(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err);
int store_run_tags(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err);
/* -ENOENT when the run has no such tag. */
int store_run_tag_delete(store *s, const char *run, const char *key, amlfs_err *err);

/* ---- runs made by MLflow's runs/create (run_links.c) ----
 * A nested run's parent (MLflow's tag mlflow.parentRunId, kept apart so no tag change can move it) and
 * its depth (a child of a run without parent is 1); the datasets MLflow's log_input recorded. */
#define STORE_RUN_DEPTH_MAX 16
/* Recorded before the run itself is stored: a link whose run never came is never listed. */
int store_run_parent_set(store *s, const char *run, const char *parent, int depth, amlfs_err *err);
/* *parent NULL and *depth 0 for a run without one. */
int store_run_parent_get(store *s, const char *run, char **parent, int *depth, amlfs_err *err);
/* The ids of a run's children, oldest first (malloc'd; free each and the array). */
int store_run_children(store *s, const char *parent, char ***ids, size_t *n, amlfs_err *err);
void store_strings_free(char **list, size_t n);
/* One dataset input: its name and digest identify it in the run (logged again, its other fields and
 * context are replaced); json is MLflow's DatasetInput ({"tags": [...], "dataset": {...}}). */
typedef struct store_dataset_in {
    const char *name, *digest, *json;
} store_dataset_in;
/* All of them or none; -EFBIG when the run would then hold more than max. */
int store_run_datasets_add(store *s, const char *run, const store_dataset_in *list, size_t n, size_t max,
                           amlfs_err *err);
/* The DatasetInput JSON texts of a run, in the order first logged. */
int store_run_datasets(store *s, const char *run, char ***json, size_t *n, amlfs_err *err);

/* ---- MLflow 3's logged models (logged_models.c) ---- */
typedef struct store_logged_model {
    char *id, *experiment, *run, *name, *model_type, *status;  /* run, model_type: NULL when none */
    int64_t created, updated;                                    /* ms */
    store_pair *tags, *params;                                   /* by key (store_logged_model_get only) */
    size_t ntags, nparams;
} store_logged_model;
/* The model with its first tags and parameters, all or nothing (-EEXIST for a taken id). */
int store_logged_model_create(store *s, const store_logged_model *m, const store_kv *tags, size_t ntags,
                              const store_kv *params, size_t nparams, amlfs_err *err);
/* -ENOENT when none. With its tags and parameters. */
int store_logged_model_get(store *s, const char *id, store_logged_model *out, amlfs_err *err);
/* An experiment's models, oldest first, without tags and parameters. */
int store_logged_model_list(store *s, const char *experiment, store_logged_model **out, size_t *n, amlfs_err *err);
void store_logged_model_free(store_logged_model *m);
void store_logged_model_list_free(store_logged_model *list, size_t n);
int store_logged_model_set_status(store *s, const char *id, const char *status, int64_t now, amlfs_err *err);
/* Tags ('t': set or replaced) or parameters ('p': a key logged again with another value is -EINVAL),
 * all or nothing. */
int store_logged_model_kv_add(store *s, const char *id, char kind, const store_kv *kv, size_t n, int64_t now,
                              amlfs_err *err);
/* -ENOENT when the model has no such tag. */
int store_logged_model_tag_delete(store *s, const char *id, const char *key, amlfs_err *err);
/* A run's outputs: models it produced, at a step (logged again: the step replaced). */
int store_run_output_add(store *s, const char *run, const char *model, int64_t step, amlfs_err *err);
/* A run's outputs as pairs {key: the model id, value: the step as text}, by model id. */
int store_run_outputs(store *s, const char *run, store_pair **out, size_t *n, amlfs_err *err);

/* What was read of a run's metrics files, and what MLflow's update_run said from inside the job. */
typedef struct store_metric_state {
    int64_t points, series, malformed, dropped;
    char *problems;             /* JSON array [{"file", "line", "reason"}], the first METRICS_PROBLEMS_KEPT */
    char *mlflow_status;        /* NULL until update_run */
    int64_t mlflow_end;         /* ms; 0 when none */
} store_metric_state;
int store_metric_state_get(store *s, const char *run, store_metric_state *out, amlfs_err *err);
void store_metric_state_free(store_metric_state *st);
int store_metric_state_mlflow(store *s, const char *run, const char *status, int64_t end_ms, amlfs_err *err);
/* 1 the first time it is asked for a run (its metrics problems are to be noted in its log), 0 after. */
int store_metric_state_note_once(store *s, const char *run, amlfs_err *err);
/* The stored read position in RUN_DIR/metrics/FILE (0 and 0 when never read). */
int store_metric_file_get(store *s, const char *run, const char *file, int64_t *offset, int64_t *lines,
                          bool *skipping, amlfs_err *err);

/* For comparing runs: the last value of every series, and every parameter, of the runs of an experiment
 * (in submission order of the runs, then by name). */
typedef struct store_run_last {
    char *run, *name;
    int64_t step, timestamp;
    double value;
} store_run_last;
int store_experiment_metric_last(store *s, const char *experiment, store_run_last **out, size_t *n, amlfs_err *err);
void store_run_last_free(store_run_last *list, size_t n);
int store_experiment_params(store *s, const char *experiment, store_pair **out, size_t *n, amlfs_err *err);

/* ---- folders of stored files (experiments' code, environments' build contexts) ----
 * Every path is relative to the folder's root, checked with util_check_relpath, and resolved with
 * openat2(RESOLVE_BENEATH): symlinks inside the folder work, none can lead out of it. */
typedef struct folder_entry {
    char *name;
    char type;                    /* 'f' file, 'd' dir, 'l' symlink */
    int64_t size;
    unsigned mode;                /* permission bits */
    int64_t mtime_ms;
    char *target;                 /* symlinks only */
} folder_entry;

void folder_entry_free(folder_entry *e);
/* {"name","type","size","mode","mtime_ms","target"} as docs/api.md says. */
cJSON *folder_entry_json(const folder_entry *e);

/* relpath "" is the root. */
int folder_list(const char *root, const char *relpath, folder_entry **out, size_t *n, amlfs_err *err);
void folder_list_free(folder_entry *list, size_t n);
int folder_stat(const char *root, const char *relpath, folder_entry *out, amlfs_err *err);
/* Up to length bytes from offset (length < 0: to the end). *out is malloc'd. */
int folder_read(const char *root, const char *relpath, int64_t offset, int64_t length, char **out,
                size_t *out_len, amlfs_err *err);
/* A regular file of the folder opened for reading, with folder_read's checks (confined to the folder,
 * no fifo or device): *fd (the caller closes it) and its size when opened. */
int folder_open_file(const char *root, const char *relpath, int *fd, int64_t *size, amlfs_err *err);
/* Create or replace atomically (temp file + rename). *created tells which. */
int folder_write(const char *root, const char *relpath, const void *data, size_t len, mode_t mode,
                 bool *created, amlfs_err *err);
int folder_mkdir(const char *root, const char *relpath, amlfs_err *err);
/* Set the permission bits (mode >= 0; symlinks have none) and the modification time (mtime_ms >= 0,
 * milliseconds since the epoch) of a file, folder or symlink; relpath "" is the root itself. */
int folder_set_attr(const char *root, const char *relpath, int64_t mode, int64_t mtime_ms, amlfs_err *err);
int folder_symlink(const char *root, const char *relpath, const char *target, amlfs_err *err);
/* A file, symlink or empty folder; -ENOTEMPTY otherwise. */
int folder_remove(const char *root, const char *relpath, amlfs_err *err);
int folder_rename(const char *root, const char *from, const char *to, amlfs_err *err);
/* Whether the folder holds anything (temp files of unfinished writes do not count). */
int folder_is_empty(const char *root, amlfs_err *err);
/* The absolute path of a folder inside root, checked to stay inside root (for snapshots). */
int folder_resolve_dir(const char *root, const char *relpath, char **abs_path, amlfs_err *err);

#endif
