/* host.c: the user-managed environment: jobs use the host's own tools as they are.
 * Nothing to build, so a version is Ready at once and a run needs no image. A conda file would
 * need a conda step this version does not have: said plainly rather than ignored. */
#include "amlfs/env.h"

static int refuse_conda(const env_version_ref *v, amlfs_err *err)
{
    const env_spec *s = v->spec;
    /* user_managed_dependencies: true means "do not install anything": the conda file is unused. */
    if ((s->conda_file_path || s->conda_file_inline) && s->user_managed != 1)
        return amlfs_fail(err, ENOTSUP, "environment '%s' has a conda_file; conda environments come in a "
                          "later version of amlfs (set user_managed_dependencies: true to use the host's "
                          "tools as they are)", v->name);
    return 0;
}

static int host_register_version(const env_version_ref *v, env_status *status, amlfs_err *reason)
{
    *status = refuse_conda(v, reason) < 0 ? ENV_FAILED : ENV_READY;
    return 0;
}

static int host_prepare_run(const env_version_ref *v, env_runtime *rt, amlfs_err *err)
{
    rt->image = NULL;
    return refuse_conda(v, err);
}

static int host_rebuild(const env_version_ref *v, env_status *status, amlfs_err *reason)
{
    (void)status;
    return amlfs_fail(reason, EINVAL, "environment '%s' uses this machine's tools as they are: there is no "
                      "image to rebuild", v->name);
}

const env_setup_ops env_setup_host = {
    .kind = "host",
    .register_version = host_register_version,
    .prepare_run = host_prepare_run,
    .rebuild = host_rebuild,
    .resume = host_register_version, /* nothing was in progress: decide again */
};
