/* env.h: environment setup: what makes a registered environment version usable for runs.
 * One interface, one implementation per kind: the host as it is, and container images (podman). */
#ifndef AMLFS_ENV_H
#define AMLFS_ENV_H

#include <stdint.h>

#include "amlfs/err.h"
#include "amlfs/spec.h"

typedef enum env_status {
    ENV_DRAFT = 0,              /* no version registered yet */
    ENV_BUILDING,
    ENV_READY,
    ENV_FAILED,
} env_status;

const char *env_status_name(env_status s);
/* -1 when the word is not an environment status. */
int env_status_parse(const char *word);

/* The image side: podman settings and the builder thread (images.c). */
typedef struct env_images env_images;

/* One environment version as the setup sees it. */
typedef struct env_version_ref {
    const char *name;           /* environment name; "inline" for an old run's inline environment */
    int version;                /* registration number; 0 for an inline environment */
    const char *label;          /* the version as users name it ("3", "22.02-py3"); NULL: its number */
    const env_spec *spec;       /* secrets resolved (a *** password is the stored one) */
    const char *context_dir;    /* the environment's stored files (NULL for an inline environment) */
    const char *build_log;      /* where setup output goes (NULL for an inline environment) */
    const char *setup_dir;      /* where a version's setup record is kept (DATA_DIR/environments/NAME/setup) */
    env_images *images;         /* NULL: image environments cannot be set up */
} env_version_ref;

/* What a run gets from its environment. */
typedef struct env_runtime {
    char *image;                /* container image to run in; NULL: on the host */
} env_runtime;

void env_runtime_free(env_runtime *rt);

typedef struct env_setup_ops {
    const char *kind;           /* "host", "container" */
    /* A version was just registered: start making it usable. Sets *status (Ready, Building or
     * Failed; reason filled when Failed). Building means the image builder reports the end through
     * its hooks. Returns < 0 only when the server itself failed. */
    int (*register_version)(const env_version_ref *v, env_status *status, amlfs_err *reason);
    /* What one run needs to use the version (a Ready one). Idempotent: repeated after a restart. */
    int (*prepare_run)(const env_version_ref *v, env_runtime *rt, amlfs_err *err);
    /* `rebuild`: set the version up again from scratch (no cache). *status as for register_version.
     * -EINVAL when there is nothing to build, -EBUSY while the version is being built. */
    int (*rebuild)(const env_version_ref *v, env_status *status, amlfs_err *reason);
    /* After a server restart, for a version left Building: take its setup up again. */
    int (*resume)(const env_version_ref *v, env_status *status, amlfs_err *reason);
} env_setup_ops;

/* The host as it is: user-managed dependencies, no image, no build. */
extern const env_setup_ops env_setup_host;
/* Image and build environments (podman). */
extern const env_setup_ops env_setup_container;

/* The implementation for an environment spec (image or build: container; otherwise the host). */
const env_setup_ops *env_setup_for(const env_spec *spec);

/* The version as messages name it: its label, else its number written into buf. */
#define ENV_LABEL_BUF 24
const char *env_ref_label(const env_version_ref *v, char buf[ENV_LABEL_BUF]);

/* ---- the image builder ---- */

/* A build that runs longer is stopped and the version Failed; conda steps have their own network
 * timeouts inside this. */
#define ENV_BUILD_TIMEOUT_S 3600

typedef struct env_images_config {
    const char *data_dir;       /* DATA_DIR: containers.conf and images/HASH/ (build contexts) */
    const char *podman;         /* the podman program; NULL: "podman" found on PATH */
    const char *root;           /* podman --root (image storage); NULL: podman's own */
    const char *runroot;        /* podman --runroot; NULL: podman's own */
    long build_timeout_s;       /* 0: ENV_BUILD_TIMEOUT_S */
} env_images_config;

/* How the builder reports, from its own thread. Both may be NULL. `finished` is called with the
 * builder's lock held: it must not call back into env_images. */
typedef struct env_images_hooks {
    void *ctx;
    /* NAME's build.log is now `size` bytes (at most every 100 ms while a build writes). */
    void (*log_grew)(void *ctx, const char *env_name, int64_t size);
    /* The setup of a version ended: Ready, or Failed with a one-line reason. */
    void (*finished)(void *ctx, const char *env_name, int version, env_status status, const char *reason);
} env_images_hooks;

/* Writes DATA_DIR/containers.conf (runtime runc where crun cannot work, ulimits the kernel allows)
 * and starts the builder thread. Podman need not be installed: image environments then fail with
 * that reason. */
int env_images_open(const env_images_config *cfg, const env_images_hooks *hooks, env_images **out,
                    amlfs_err *err);
/* Stops the builder; a build in progress is stopped (its version stays Building, for resume). */
void env_images_close(env_images *im);
/* How runs invoke podman: the program and its global options (NULL-terminated), and the
 * KEY=VALUE entries podman itself needs in its environment (CONTAINERS_CONF). Owned by im. */
const char *const *env_images_podman_argv(const env_images *im);
const char *const *env_images_podman_env(const env_images *im);

#endif
