/* fs.h: the FUSE side of amlfs: what each path of the mount is (the tree of the mount contract), and
 * the low-level FUSE file system that shows a workspace through an amlfs_client. */
#ifndef AMLFS_FS_H
#define AMLFS_FS_H

/* 3.12's API: below it, fuse_session_loop_mt is the 3.2 ABI, which reads our loop config as its old
 * struct and started a thread (and a /dev/fuse clone) for every request. */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif

#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "amlfs/client.h"
#include "amlfs/err.h"

/* Every kind of node in the mount. *_FILE are entries of a stored folder (files API): a file, a
 * folder or a symlink, as the server says. */
typedef enum node_kind {
    NODE_NONE = 0,              /* no such place in the tree */
    NODE_ROOT,
    NODE_WORKSPACE_JSON,
    NODE_ENVS_DIR,              /* environments/ */
    NODE_ENVS_STATUS,           /* environments/status */
    NODE_ENV_DIR,               /* environments/NAME */
    NODE_ENV_STATUS,
    NODE_ENV_BUILD_LOG,
    NODE_ENV_CTL,               /* environments/NAME/ctl: `rebuild` */
    NODE_ENV_VERSIONS_DIR,      /* environments/NAME/versions */
    NODE_ENV_VERSION_DIR,       /* environments/NAME/versions/V (3, 22.02-py3) */
    NODE_ENV_VERSION_YAML,      /* environments/NAME/versions/V/environment.yaml */
    NODE_ENV_FILE,              /* environments/NAME/REL (environment.yaml, Dockerfile, ...) */
    NODE_DATAS_DIR,             /* data */
    NODE_DATAS_STATUS,          /* data/status */
    NODE_DATA_DIR,              /* data/NAME */
    NODE_DATA_STATUS,           /* data/NAME/status */
    NODE_DATA_VERSIONS_DIR,     /* data/NAME/versions */
    NODE_DATA_VERSION_DIR,      /* data/NAME/versions/N: its data.yaml and what it holds, read-only */
    NODE_DATA_VERSION_YAML,     /* data/NAME/versions/N/data.yaml */
    NODE_DATA_VERSION_FILE,     /* data/NAME/versions/N/REL: a file, folder or symlink of the version */
    NODE_DATA_FILE,             /* data/NAME/REL: stored files (data.yaml is the spec) */
    NODE_DATASTORES_DIR,        /* datastores */
    NODE_DATASTORES_STATUS,     /* datastores/status */
    NODE_DATASTORE_DIR,         /* datastores/NAME: datastore.yaml, status and its files (read-only) */
    NODE_DATASTORE_YAML,        /* datastores/NAME/datastore.yaml (credentials read as "***") */
    NODE_DATASTORE_STATUS,      /* datastores/NAME/status */
    NODE_DATASTORE_FILE,        /* datastores/NAME/REL: a file or folder of the datastore, read-only */
    NODE_COMPUTES_DIR,
    NODE_COMPUTES_STATUS,       /* computes/status */
    NODE_COMPUTE_DIR,           /* computes/NAME */
    NODE_COMPUTE_YAML,
    NODE_COMPUTE_STATUS,
    NODE_EXPS_DIR,              /* experiments/ */
    NODE_EXPS_STATUS,
    NODE_EXP_DIR,               /* experiments/NAME */
    NODE_EXP_STATUS,
    NODE_EXP_RUNS_DIR,          /* experiments/NAME/runs */
    NODE_EXP_RUN_LINK,          /* experiments/NAME/runs/ID or .../runs/latest */
    NODE_EXP_FILE,              /* experiments/NAME/REL (job.yaml, train.py, src/...) */
    NODE_EXP_METRICS_TSV,       /* experiments/NAME/metrics.tsv: its runs side by side (params, last values) */
    NODE_EXP_CHARTS_DIR,        /* experiments/NAME/metrics, and metrics/REL for names with '/' */
    NODE_EXP_CHART,             /* experiments/NAME/metrics/REL.svg: metric REL across the runs, drawn on read */
    NODE_RUNS_DIR,
    NODE_RUN_DIR,               /* runs/ID */
    NODE_RUN_STATUS,
    NODE_RUN_LOG,
    NODE_RUN_JOB_YAML,
    NODE_RUN_INFO,
    NODE_RUN_CTL,
    NODE_RUN_SNAPSHOT_DIR,      /* runs/ID/snapshot: the code the run started with, read-only */
    NODE_RUN_SNAPSHOT_FILE,     /* runs/ID/snapshot/REL: a file, folder or symlink of it */
    /* runs/ID/outputs and runs/ID/logs (node_path.folder says which): what the job wrote under ./outputs
     * and ./logs (az ml's artifact and log folders; the per-rank logs of a distributed run are there),
     * read-only, live. */
    NODE_RUN_OUTPUTS_DIR,
    NODE_RUN_OUTPUTS_FILE,      /* runs/ID/outputs/REL, runs/ID/logs/REL: a file, folder or symlink */
    NODE_RUN_METRICS_DIR,       /* runs/ID/metrics: one file per metric series */
    /* runs/ID/metrics/REL: the series REL ("STEP VALUE TIMESTAMP" lines, growing live), or a folder when
     * series are named REL/... ("train/loss" is metrics/train/loss) */
    NODE_RUN_METRIC,
    NODE_RUN_METRIC_SVG,        /* runs/ID/metrics/REL.svg: a line chart of the series REL, drawn on read */
    NODE_RUN_METRICS_JSON,      /* runs/ID/metrics.json: every series */
    NODE_RUN_PARAMS_JSON,       /* runs/ID/params.json */
    NODE_RUN_TAGS_JSON,         /* runs/ID/tags.json */
} node_kind;

/* The spec files whose finished write is an action. */
typedef enum spec_kind {
    SPEC_NONE = 0,
    SPEC_JOB,                   /* experiments/NAME/job.yaml: submit a run */
    SPEC_ENVIRONMENT,           /* environments/NAME/environment.yaml: register a version */
    SPEC_COMPUTE,               /* computes/NAME/compute.yaml: create or update the compute */
    SPEC_DATA,                  /* data/NAME/data.yaml: register a data asset version */
    SPEC_DATASTORE,             /* datastores/NAME/datastore.yaml: create or update the datastore */
} spec_kind;

#define NODE_NAME_MAX 256

/* A classified mount path. Pointers point into the path given to node_classify. */
typedef struct node_path {
    node_kind kind;
    char name[NODE_NAME_MAX];   /* the object: environment, compute, experiment or run id */
    const char *rel;            /* *_FILE: the path inside the stored folder, snapshot or outputs; EXP_RUN_LINK:
                                   the link; RUN_METRIC: the series' name (or a folder of names);
                                   RUN_METRIC_SVG, EXP_CHART: NAME.svg; EXP_CHARTS_DIR: NULL or a folder */
    char version[NODE_NAME_MAX]; /* ENV_VERSION_*: the version as named (3, 22.02-py3) */
    const char *folder;         /* RUN_OUTPUTS_*: "outputs" or "logs" */
} node_path;

/* What `path` (relative to the mount root, "" for the root, no leading or trailing '/') is, from its
 * shape alone: nothing here asks the server whether it exists. NODE_NONE for a path outside the tree
 * (including names the API reserves, and object names that are not valid names). */
node_kind node_classify(const char *path, node_path *out);

/* Read-only nodes: generated files and fixed folders. Writing them is EACCES. */
bool node_is_read_only(node_kind kind);
/* Files whose content is small text made from an API object at open (status, info.json, ...). */
bool node_is_generated_text(node_kind kind);
/* Generated text rewritten in place as state changes: opened with direct_io, never kept cached. */
bool node_is_live_text(node_kind kind);
/* Generated text that may be large (a run's metrics.json): an open file keeps it in a temp file. */
bool node_is_large_text(node_kind kind);
bool node_is_stored(node_kind kind);
/* A spec file kept by the server as an object's text (compute.yaml, datastore.yaml), not a stored file:
 * its collection in the API ("computes", "datastores"), NULL for any other node. */
const char *node_object_spec_collection(node_kind kind);
bool node_is_fixed_dir(node_kind kind);
/* A run's snapshot and everything in it: read-only, and never changes once the run exists. */
bool node_is_snapshot(node_kind kind);
/* A run's outputs and everything in them: read-only, and changing while the run goes (no event says
 * when: short timeouts, and the run's `changed` events drop them). */
bool node_is_run_output(node_kind kind);

/* How long the kernel may keep a node's name and attributes (src/fs/nodes.c's table says which). */
typedef enum node_cache {
    CACHE_USUAL,                /* a short timeout, made prompt by the change feed's invalidations */
    CACHE_LASTING,              /* never changes while it exists: a long one */
    CACHE_RUN,                  /* of a run: usual while it goes, lasting once it ended */
    CACHE_RUN_LIVE,             /* what a run's job writes, unannounced: very short while it goes, lasting
                                   once it ended */
} node_cache;
node_cache node_cache_policy(node_kind kind);

/* The spec a file is, SPEC_NONE for everything else (editors' scratch files, and a job.yaml in a
 * subfolder of an experiment, included). For SPEC_JOB, *dir (may be NULL) gets a malloc'd folder of the
 * job file inside the experiment: "", its root. */
spec_kind node_spec_kind(const node_path *np, char **dir);

/* Editors' scratch names: .NAME.swp .NAME.swx (and vim's other swap letters), NAME~, 4913, .#NAME,
 * #NAME#. They are ordinary files: never acted on. */
bool node_is_scratch_name(const char *basename);

/* The mount. */
typedef struct fs_state fs_state;

fs_state *fs_new(amlfs_client *client);
void fs_free(fs_state *fs);
/* The session the mount runs in: notifications to the kernel go through it. */
void fs_set_session(fs_state *fs, struct fuse_session *se);
const struct fuse_lowlevel_ops *fs_lowlevel_ops(void);
/* The change-feed callback (client_event_fn): invalidates exactly the inodes an event touches. */
void fs_on_event(void *ctx, const client_event *ev, bool reset);

#endif
