/* container.c: image and build environments (podman): registration fixes the version's content hash at
 * once; an image with that content is Ready at once, anything else goes to the builder thread. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int need_podman(const env_version_ref *v, amlfs_err *reason)
{
    if (!v->images)
        return amlfs_fail(reason, ENOTSUP, "this server has no image builder: environment '%s' uses a "
                          "container image", v->name);
    if (v->images->unusable)
        return amlfs_fail(reason, ENOENT, "%s", v->images->unusable);
    return 0;
}

static int container_register_version(const env_version_ref *v, env_status *status, amlfs_err *reason)
{
    char buf[ENV_LABEL_BUF];
    *status = ENV_FAILED;
    env_identity id;
    if (need_podman(v, reason) < 0 || env_identity_prepare(v->images, v, &id, reason) < 0) {
        /* The version is Failed with that reason; build.log, where a user looks first, says it too. */
        env_log_line(v->build_log, "version %s: not set up: %s", env_ref_label(v, buf), reason->msg);
        return 0;
    }
    amlfs_err err = {0};
    if (env_record_write(v, id.hash, &err) < 0) {
        env_identity_free(&id);
        return amlfs_fail(reason, err.code, "%s", err.msg);
    }
    if (env_podman_image_exists(v->images, id.tag)) {
        env_log_line(v->build_log, "version %s: same content as an image set up before (%s): ready, no new build",
                     env_ref_label(v, buf), id.tag);
        *status = ENV_READY;
    } else {
        env_log_line(v->build_log, "version %s: queued for setup (content %.12s)", env_ref_label(v, buf), id.hash);
        env_images_enqueue(v->images, v, id.hash, false);
        *status = ENV_BUILDING;
    }
    env_identity_free(&id);
    return 0;
}

static int container_prepare_run(const env_version_ref *v, env_runtime *rt, amlfs_err *err)
{
    char buf[ENV_LABEL_BUF];
    rt->image = NULL;
    char hash[SNAPSHOT_SHA_HEX];
    int rc = need_podman(v, err);
    if (rc == 0 && (rc = env_record_read(v, hash, err)) < 0)
        rc = amlfs_fail(err, -rc, "environment '%s' version %s has no image record (%s): write its "
                        "environment.yaml again", v->name, env_ref_label(v, buf), err->msg);
    if (rc < 0)
        return rc;
    env_identity id = {0};
    env_identity_of_hash(v->images, hash, &id);
    if (env_podman_image_exists(v->images, id.tag)) {
        rt->image = id.tag;
        id.tag = NULL;
    } else {
        rc = amlfs_fail(err, ENOENT, "the image %s of environment '%s' version %s is no longer in podman's "
                        "storage: echo rebuild > environments/%s/ctl", id.tag, v->name, env_ref_label(v, buf), v->name);
    }
    env_identity_free(&id);
    return rc;
}

/* Queues a version whose record is known; Failed when what it builds from is gone. */
static int queue_again(const env_version_ref *v, bool force, env_status *status, amlfs_err *reason)
{
    *status = ENV_FAILED;
    char hash[SNAPSHOT_SHA_HEX];
    amlfs_err why = {0};
    if (need_podman(v, reason) < 0)
        return 0;
    if (env_record_read(v, hash, &why) < 0) {
        amlfs_fail(reason, ENOENT, "the server stopped before this version's setup began: write "
                   "environment.yaml again");
        return 0;
    }
    env_images_enqueue(v->images, v, hash, force);
    *status = ENV_BUILDING;
    return 0;
}

static int container_rebuild(const env_version_ref *v, env_status *status, amlfs_err *reason)
{
    char buf[ENV_LABEL_BUF];
    if (v->images && env_images_building(v->images, v->name, v->version))
        return amlfs_fail(reason, EBUSY, "environment '%s' version %s is being set up now; wait until its "
                          "status is Ready or Failed", v->name, env_ref_label(v, buf));
    env_log_line(v->build_log, "version %s: rebuild requested", env_ref_label(v, buf));
    return queue_again(v, true, status, reason);
}

static int container_resume(const env_version_ref *v, env_status *status, amlfs_err *reason)
{
    char buf[ENV_LABEL_BUF];
    env_log_line(v->build_log, "version %s: setup taken up again after a server restart", env_ref_label(v, buf));
    return queue_again(v, false, status, reason);
}

const env_setup_ops env_setup_container = {
    .kind = "container",
    .register_version = container_register_version,
    .prepare_run = container_prepare_run,
    .rebuild = container_rebuild,
    .resume = container_resume,
};
