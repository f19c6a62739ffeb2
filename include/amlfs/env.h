/* env.h: environment setup: what makes a registered environment version usable for runs.
 * One interface, one implementation per kind (the host as it is; container images come next). */
#ifndef AMLFS_ENV_H
#define AMLFS_ENV_H

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

/* One environment version as the setup sees it. */
typedef struct env_version_ref {
    const char *name;           /* environment name; "inline" for a job's inline environment */
    int version;                /* 0 for an inline environment */
    const env_spec *spec;
    const char *context_dir;    /* the build context folder (NULL for an inline environment) */
    const char *build_log;      /* where setup output goes (NULL for an inline environment) */
} env_version_ref;

/* What a run gets from its environment. */
typedef struct env_runtime {
    char *image;                /* container image to run in; NULL: on the host */
} env_runtime;

void env_runtime_free(env_runtime *rt);

typedef struct env_setup_ops {
    const char *kind;           /* "host", "container" */
    /* A version was just registered: start making it usable. Sets *status (Ready, Building or
     * Failed; reason filled when Failed). Returns < 0 only when the server itself failed. */
    int (*register_version)(const env_version_ref *v, env_status *status, amlfs_err *reason);
    /* What one run needs to use the version. Idempotent: it is repeated after a server restart. */
    int (*prepare_run)(const env_version_ref *v, env_runtime *rt, amlfs_err *err);
} env_setup_ops;

/* The host as it is: user-managed dependencies, no image, no build. */
extern const env_setup_ops env_setup_host;
/* Image and build environments. */
extern const env_setup_ops env_setup_container;

/* The implementation for an environment spec (image or build: container; otherwise the host). */
const env_setup_ops *env_setup_for(const env_spec *spec);

#endif
