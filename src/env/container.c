/* container.c: image and build environments. This version of amlfs has no container runtime
 * yet, so it says so plainly; a podman builder replaces these two functions. */
#include "amlfs/env.h"

static int container_register_version(const env_version_ref *v, env_status *status,
                                      amlfs_err *reason)
{
    (void)v;
    *status = ENV_FAILED;
    amlfs_fail(reason, ENOTSUP, "container images come in a later version of amlfs");
    return 0;
}

static int container_prepare_run(const env_version_ref *v, env_runtime *rt, amlfs_err *err)
{
    (void)rt;
    return amlfs_fail(err, ENOTSUP,
                      "environment '%s' uses a container image; container environments are not "
                      "supported yet", v->name);
}

const env_setup_ops env_setup_container = {
    .kind = "container",
    .register_version = container_register_version,
    .prepare_run = container_prepare_run,
};
