/* build.c: setting up one image version: find or pull an image, or build a Dockerfile, then the conda
 * step; output straight into build.log, whose last words (podman's, conda's) are a failure's reason. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 24
#define REASON_SCAN_BYTES (64 * 1024)
#define REASON_MAX 400

typedef struct build_ctx {
    env_images *im;
    const env_build_job *job;
    env_identity id;
    env_image_meta meta;
    int log_fd;
    int64_t told;               /* the log size last announced */
    time_t deadline;            /* monotonic seconds */
    char *authfile;             /* NULL without credentials */
} build_ctx;

static void announce(void *arg)
{
    build_ctx *b = arg;
    struct stat st;
    if (b->log_fd < 0 || fstat(b->log_fd, &st) < 0 || st.st_size == b->told)
        return;
    b->told = st.st_size;
    if (b->im->hooks.log_grew)
        b->im->hooks.log_grew(b->im->hooks.ctx, b->job->name, st.st_size);
}

static void say(build_ctx *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(build_ctx *b, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    env_log_line(b->job->build_log, "%s", msg);
    announce(b);
}

static off_t log_size(build_ctx *b)
{
    struct stat st;
    return b->log_fd >= 0 && fstat(b->log_fd, &st) == 0 ? st.st_size : 0;
}

/* The line of the log (from `from` on) that says best why a step failed: our own "amlfs: " message,
 * conda's HTTP error, or podman's last "Error: " line. */
static void reason_from_log(build_ctx *b, off_t from, const char *what, int code, amlfs_err *reason)
{
    off_t end = log_size(b);
    if (end - from > REASON_SCAN_BYTES)
        from = end - REASON_SCAN_BYTES;
    size_t len = end > from ? (size_t)(end - from) : 0;
    char *text = util_xcalloc(1, len + 1);
    ssize_t n = len ? pread(b->log_fd, text, len, from) : 0;
    text[n > 0 ? n : 0] = '\0';
    char *ours = NULL, *conda = NULL, *error = NULL, *save = NULL;
    for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        if (strncmp(line, "amlfs: ", 7) == 0)
            ours = line + 7;
        else if (strstr(line, "CondaHTTPError") || strstr(line, "CondaConnectionError"))
            conda = line;
        else if (strncmp(line, "Error: ", 7) == 0)
            error = line + 7;
    }
    if (ours)
        amlfs_fail(reason, EINVAL, "%.*s", REASON_MAX, ours);
    else if (conda)
        amlfs_fail(reason, EINVAL, "conda could not fetch the packages: %.*s", REASON_MAX, conda);
    else if (error)
        amlfs_fail(reason, EINVAL, "%s: %.*s", what, REASON_MAX, error);
    else
        amlfs_fail(reason, EINVAL, "%s (podman exit code %d); see build.log", what, code);
    free(text);
}

/* One podman command within the build's deadline. 0 when it succeeded; otherwise the reason is set
 * and the result is negative (-ECANCELED when the server is stopping). */
static int step(build_ctx *b, const char *const *args, const char *what, amlfs_err *reason)
{
    off_t from = log_size(b);
    time_t left = b->deadline - (time_t)(util_mono_ms() / 1000);
    if (left <= 0)
        return amlfs_fail(reason, ETIMEDOUT, "the setup took longer than %ld s and was stopped",
                          b->im->build_timeout_s);
    amlfs_err why = {0};
    int rc = env_podman_exec(b->im, args, b->log_fd, (long)left, announce, b, &why);
    if (rc == 0)
        return 0;
    if (rc == -ETIMEDOUT)
        return amlfs_fail(reason, ETIMEDOUT, "%s took longer than the setup's limit of %ld s and was stopped",
                          what, b->im->build_timeout_s);
    if (rc < 0)
        return amlfs_fail(reason, -rc, "%s", why.msg);
    reason_from_log(b, from, what, rc, reason);
    return -EINVAL;
}

typedef struct argv_list {
    const char *v[MAX_ARGS + 1];
    size_t n;
} argv_list;

static void arg(argv_list *a, const char *s)
{
    if (a->n < MAX_ARGS)
        a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void auth_args(build_ctx *b, argv_list *a)
{
    if (b->authfile) {
        arg(a, "--authfile");
        arg(a, b->authfile);
    }
}

/* Docker's reading of a reference without a registry host (python:3.11 is docker.io/library/python:3.11):
 * podman refuses to pull short names unless registries.conf lists search registries. Locally podman
 * finds such images by their short name itself. malloc'd. */
static char *pull_reference(const char *ref)
{
    const char *slash = strchr(ref, '/');
    if (!slash)
        return util_strdupf("docker.io/library/%s", ref);
    size_t first = (size_t)(slash - ref);
    if (memchr(ref, '.', first) || memchr(ref, ':', first) || (first == 9 && strncmp(ref, "localhost", 9) == 0))
        return util_xstrdup(ref);
    return util_strdupf("docker.io/%s", ref);
}

/* `image:`: the local image, else a pull. A rebuild pulls again; when that fails the local image
 * still serves, and the log says so. */
static int setup_image(build_ctx *b, amlfs_err *reason)
{
    const char *ref = b->meta.image;
    bool local = env_podman_image_exists(b->im, ref);
    if (local && !b->job->force) {
        say(b, "image %s is on this machine", ref);
        return 0;
    }
    char *source = pull_reference(ref);
    say(b, "%s %s", local ? "pulling a fresh copy of" : "not on this machine; pulling", source);
    argv_list a = {0};
    arg(&a, "pull");
    auth_args(b, &a);
    arg(&a, source);
    char *what = util_strdupf("image '%s' is not on this machine and could not be pulled", ref);
    int rc = step(b, a.v, what, reason);
    free(what);
    free(source);
    if (rc < 0 && rc != -ECANCELED && local) {
        say(b, "the pull failed (%s); the image already on this machine is used", reason->msg);
        amlfs_err_clear(reason);
        return 0;
    }
    return rc;
}

static int build_dockerfile(build_ctx *b, const char *target, amlfs_err *reason)
{
    char *context = util_strdupf("%s/context", b->id.dir);
    char *dockerfile = util_strdupf("%s/%s", context, b->meta.dockerfile ? b->meta.dockerfile : "Dockerfile");
    say(b, "podman build of %s (context: the environment's files as registered)%s",
        b->meta.dockerfile ? b->meta.dockerfile : "Dockerfile", b->job->force ? ", without cache" : "");
    argv_list a = {0};
    arg(&a, "build");
    arg(&a, "--file");
    arg(&a, dockerfile);
    arg(&a, "--tag");
    arg(&a, target);
    if (b->job->force) {
        /* For a base tag that moved: look for a newer base (a registry that cannot be reached is not
         * an error here), and build every step again. */
        arg(&a, "--no-cache");
        arg(&a, "--pull=newer");
    }
    auth_args(b, &a);
    arg(&a, context);
    int rc = step(b, a.v, "the build failed", reason);
    free(dockerfile);
    free(context);
    return rc;
}

static int conda_step(build_ctx *b, amlfs_err *reason)
{
    char *folder = util_strdupf("%s/conda", b->id.dir);
    char *dockerfile = util_strdupf("%s/Dockerfile", folder);
    say(b, "conda step: conda env update with the environment's conda_file");
    argv_list a = {0};
    arg(&a, "build");
    arg(&a, "--file");
    arg(&a, dockerfile);
    arg(&a, "--tag");
    arg(&a, b->id.tag);
    if (b->job->force)
        arg(&a, "--no-cache");
    auth_args(b, &a);
    arg(&a, folder);
    int rc = step(b, a.v, "the conda step failed", reason);
    free(dockerfile);
    free(folder);
    return rc;
}

static int tag_image(build_ctx *b, const char *from, amlfs_err *reason)
{
    const char *args[] = {"tag", from, b->id.tag, NULL};
    return step(b, args, "tagging the image failed", reason);
}

static int set_up(build_ctx *b, amlfs_err *reason)
{
    int rc;
    if (strcmp(b->meta.kind, "image") == 0) {
        if ((rc = setup_image(b, reason)) < 0)
            return rc;
        return b->meta.conda ? conda_step(b, reason) : tag_image(b, b->meta.image, reason);
    }
    if (!b->meta.conda)
        return build_dockerfile(b, b->id.tag, reason);
    char *base = env_base_tag(b->id.tag);
    rc = build_dockerfile(b, base, reason);
    free(base);
    return rc < 0 ? rc : conda_step(b, reason);
}

bool env_build_run(env_images *im, const env_build_job *job, env_status *status, amlfs_err *reason)
{
    build_ctx b = {.im = im, .job = job, .told = -1};
    b.deadline = (time_t)(util_mono_ms() / 1000) + im->build_timeout_s;
    /* Read too: a failure's reason is read back from what podman wrote. */
    b.log_fd = open(job->build_log, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    env_identity_of_hash(im, job->hash, &b.id);
    *status = ENV_FAILED;
    int rc = 0;
    say(&b, "version %s: setting up image %s (content %.12s)%s", job->label, b.id.tag, job->hash,
        job->force ? ", rebuild requested" : "");
    amlfs_err why = {0};
    if (env_image_meta_read(b.id.dir, &b.meta, &why) < 0) {
        rc = amlfs_fail(reason, ENOENT, "what this version builds from is gone (%s): write environment.yaml "
                        "again", why.msg);
    } else if (!job->force && env_podman_image_exists(im, b.id.tag)) {
        say(&b, "version %s: same content as an image set up before (%s): ready, no new build", job->label,
            b.id.tag);
    } else if ((rc = env_auth_create(im, job->reg_address, job->reg_username, job->reg_password, &b.authfile,
                                     reason)) == 0) {
        rc = set_up(&b, reason);
        env_auth_remove(b.authfile);
    }
    bool ended = rc != -ECANCELED;
    if (!ended)
        say(&b, "version %s: setup interrupted (the server is stopping); it starts again with the server",
            job->label);
    else if (rc < 0)
        say(&b, "version %s: Failed: %s", job->label, reason->msg);
    else
        say(&b, "version %s: Ready: %s", job->label, b.id.tag);
    if (ended && rc == 0)
        *status = ENV_READY;
    env_image_meta_free(&b.meta);
    env_identity_free(&b.id);
    if (b.log_fd >= 0)
        close(b.log_fd);
    return ended;
}
