/* env_podman.h: internal to src/env: the builder object, running podman, the content identity of an
 * image environment, per-version records, registry auth files (the server uses env.h). */
#ifndef AMLFS_ENV_PODMAN_H
#define AMLFS_ENV_PODMAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "amlfs/compute_local.h"
#include "amlfs/env.h"
#include "amlfs/err.h"
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

/* Images are named by content: localhost/amlfs-env:HASH32 (the first 32 hex digits of the hash). */
#define ENV_IMAGE_REPO "localhost/amlfs-env"
#define ENV_TAG_HEX 32

/* One setup to do: a version of an environment whose content hash is known. */
typedef struct env_build_job {
    char *name;
    int version;
    char *label;                /* the version as users name it, for the build log */
    char hash[SNAPSHOT_SHA_HEX];
    bool force;                 /* rebuild: no cache, pull again */
    char *build_log;
    /* Registry credentials, held in memory only while the job waits (zeroed when freed). */
    char *reg_address, *reg_username, *reg_password;
    struct env_build_job *next;
} env_build_job;

struct env_images {
    char *data_dir;
    char *images_dir;           /* DATA_DIR/images: one folder per content hash */
    char **argv;                /* podman + global options, NULL-terminated */
    char **env;                 /* CONTAINERS_CONF=..., NULL-terminated */
    char *unusable;             /* why podman cannot be used here, NULL when it can */
    long build_timeout_s;
    env_images_hooks hooks;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;       /* guards the queue, current and stopping */
    pthread_cond_t wake;
    env_build_job *queue, *queue_tail;
    env_build_job *current;     /* being built now, NULL when idle */
    bool stopping;
};

/* ---- podman.c: running podman ---- */
typedef void (*env_tick_fn)(void *ctx);

/* Runs podman's prefix + args (NULL-terminated) in its own process group: stdin /dev/null, stdout and
 * stderr onto out_fd (-1: /dev/null). Calls tick (may be NULL) about every 100 ms while it runs.
 * Returns its exit status (128+N when killed by signal N); -ETIMEDOUT after timeout_s (0: none) or
 * -ECANCELED when the builder stops (the process group was stopped either way); another negative
 * errno when podman could not be started. */
int env_podman_exec(env_images *im, const char *const *args, int out_fd, long timeout_s, env_tick_fn tick,
                    void *tick_ctx, amlfs_err *err);
bool env_podman_image_exists(env_images *im, const char *ref);

/* ---- identity.c: what defines an image environment, and its build folder ---- */
typedef struct env_identity {
    char hash[SNAPSHOT_SHA_HEX];
    char *tag;                  /* localhost/amlfs-env:HASH32 */
    char *dir;                  /* DATA_DIR/images/HASH: meta.json, context/, conda/ */
} env_identity;

/* Hashes the version's content (image reference, registry address, build context minus the spec
 * and editors' scratch files, Dockerfile path, conda spec; never name, version or secrets) and makes
 * sure images/HASH holds what a build needs. Failures are the user's to fix: -errno with a reason. */
int env_identity_prepare(env_images *im, const env_version_ref *v, env_identity *out, amlfs_err *reason);
/* Fills tag and dir of an identity whose hash is known. */
void env_identity_of_hash(env_images *im, const char *hash, env_identity *out);
void env_identity_free(env_identity *id);

/* images/HASH/meta.json: how to build the image. */
typedef struct env_image_meta {
    char *kind;                 /* "image" or "build" */
    char *image;                /* image: the reference to find or pull */
    char *dockerfile;           /* build: the Dockerfile, relative to context/ */
    bool conda;                 /* conda/Dockerfile adds the conda step */
} env_image_meta;

int env_image_meta_read(const char *dir, env_image_meta *out, amlfs_err *err);
void env_image_meta_free(env_image_meta *m);
/* The tag the user's Dockerfile builds when a conda step follows it. malloc'd. */
char *env_base_tag(const char *tag);

/* ---- record.c: which content a version is (SETUP_DIR/N.json) ---- */
int env_record_write(const env_version_ref *v, const char *hash, amlfs_err *err);
/* -ENOENT when the version has no record. */
int env_record_read(const env_version_ref *v, char hash[SNAPSHOT_SHA_HEX], amlfs_err *err);

/* ---- images.c: the build queue ---- */
int env_images_enqueue(env_images *im, const env_version_ref *v, const char *hash, bool force);
/* Whether that version waits in the queue or is being built. */
bool env_images_building(env_images *im, const char *name, int version);
/* One line in a build log: "==> TIME MESSAGE\n" (best effort: a log that cannot be written does not
 * stop a build). */
void env_log_line(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- build.c: doing one job ---- */
/* Returns false when the builder stopped in the middle (the version stays Building). */
bool env_build_run(env_images *im, const env_build_job *job, env_status *status, amlfs_err *reason);

/* ---- auth.c: registry credentials for podman ---- */
/* A podman auth file (mode 0600) for address in a private folder (mode 0700) under DATA_DIR/images;
 * *path is NULL when there are no credentials. Never on a command line or in an environment. */
int env_auth_create(env_images *im, const char *address, const char *username, const char *password,
                    char **path, amlfs_err *err);
/* Removes the file and its folder; frees path. */
void env_auth_remove(char *path);

/* Runs podman's prefix + args with stdout into *out (at most limit bytes kept), stderr nowhere; returns
 * as env_podman_exec does. */
int env_podman_capture(env_images *im, const char *const *args, long timeout_s, util_buf *out, size_t limit,
                       amlfs_err *err);

/* ---- leftovers.c: what a crashed server's podman left ---- */
/* Each podman that runs is recorded (images/.podman-PID) until it ends, with the processes under it that
 * left its process group (a build step's container, conmon): those outlive a podman that is killed. */
#define ENV_PODMAN_ESCAPED_MAX 32
typedef struct env_podman_run {
    compute_proc_id podman;
    int64_t started_ms;         /* wall clock */
    compute_proc_id escaped[ENV_PODMAN_ESCAPED_MAX]; /* leaders of their own process group, or alone */
    bool leads[ENV_PODMAN_ESCAPED_MAX];
    size_t nescaped;
    int64_t next_look_ms;       /* monotonic */
} env_podman_run;

void env_podman_record(const env_images *im, env_podman_run *run, pid_t pid);
/* Looks for new escaped processes (at most every half second) and records them. */
void env_podman_watch(const env_images *im, env_podman_run *run);
void env_podman_forget(const env_images *im, pid_t pid);
/* At start, before any build: the podman a crashed predecessor left running is ended with what it started
 * outside its group, the build containers it left are removed, and so are the registry auth folders. */
void env_podman_clean_leftovers(env_images *im);

#endif
