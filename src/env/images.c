/* images.c: the image side of environments: podman's settings (the containers.conf the server writes,
 * its storage folders) and the builder thread, which sets up one queued version at a time. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CGROUP2_MAGIC 0x63677270
/* Podman's own default (1048576 open files) is above what this kind of machine lets a process
 * have; containers get the server's hard limits instead, capped where podman's are lower. */
#define NOFILE_CAP 1048576
#define NPROC_CAP 32768

/* A program on PATH, or in the sbin folders a non-login root shell may lack. malloc'd or NULL. */
static char *find_program(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? util_xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    char *dirs = util_strdupf("%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                              path && *path ? path : "");
    char *save = NULL, *found = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *candidate = util_strdupf("%s/%s", d, name);
        if (access(candidate, X_OK) == 0)
            found = candidate;
        else
            free(candidate);
    }
    free(dirs);
    return found;
}

/* crun, podman's default runtime, cannot run containers on a cgroup v1 ("hybrid") host; runc can. */
static const char *runtime_for_this_host(void)
{
    struct statfs fs;
    bool unified = statfs("/sys/fs/cgroup", &fs) == 0 && (unsigned long)fs.f_type == CGROUP2_MAGIC;
    char *crun = find_program("crun"), *runc = find_program("runc");
    const char *choice = NULL;
    if ((!unified || !crun) && runc)
        choice = "runc";
    free(crun);
    free(runc);
    return choice;
}

static unsigned long long hard_limit(int resource, unsigned long long cap)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) < 0 || rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cap)
        return cap;
    return (unsigned long long)rl.rlim_max;
}

static int write_conf(env_images *im, char **conf_path, amlfs_err *err)
{
    unsigned long long nofile = hard_limit(RLIMIT_NOFILE, NOFILE_CAP);
    unsigned long long nproc = hard_limit(RLIMIT_NPROC, NPROC_CAP);
    const char *runtime = runtime_for_this_host();
    char *runtime_line = runtime ? util_strdupf("runtime = \"%s\"\n", runtime) : util_xstrdup("");
    char *text = util_strdupf("# containers.conf written by amlfs-server at every start for the podman it runs\n"
                              "# (CONTAINERS_CONF). Edits here are lost; see README \"Environments as "
                              "container images\".\n"
                              "[containers]\n"
                              "default_ulimits = [\"nofile=%llu:%llu\", \"nproc=%llu:%llu\"]\n"
                              "\n[engine]\n%s",
                              nofile, nofile, nproc, nproc, runtime_line);
    *conf_path = util_strdupf("%s/containers.conf", im->data_dir);
    int rc = util_write_file_atomic(*conf_path, text, strlen(text), 0644, err);
    free(text);
    free(runtime_line);
    return rc;
}

/* podman and its storage options. The storage folders are made here (podman would make them with
 * modes of its own choosing) and named by absolute paths: supervisors run from "/". */
static int build_argv(env_images *im, const char *program, const env_images_config *cfg, amlfs_err *err)
{
    im->argv = util_xcalloc(6, sizeof *im->argv);
    size_t n = 0;
    im->argv[n++] = util_xstrdup(program);
    const char *flags[] = {"--root", "--runroot"}, *dirs[] = {cfg->root, cfg->runroot};
    for (size_t i = 0; i < 2; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        int rc = util_mkdir_p(dirs[i], 0700, err);
        char *abs = rc == 0 ? realpath(dirs[i], NULL) : NULL;
        if (rc == 0 && !abs)
            rc = amlfs_fail(err, errno, "%s: %s", dirs[i], strerror(errno));
        if (rc < 0)
            return amlfs_wrap(err, "podman storage (%s): ", flags[i]);
        im->argv[n++] = util_xstrdup(flags[i]);
        im->argv[n++] = abs;
    }
    return 0;
}

static void job_free(env_build_job *job)
{
    if (!job)
        return;
    if (job->reg_password) {
        /* explicit_bzero: the compiler may not drop it as a dead store. */
        explicit_bzero(job->reg_password, strlen(job->reg_password));
        free(job->reg_password);
    }
    free(job->reg_address);
    free(job->reg_username);
    free(job->name);
    free(job->label);
    free(job->build_log);
    free(job);
}

static void *builder_main(void *arg)
{
    env_images *im = arg;
    for (;;) {
        pthread_mutex_lock(&im->lock);
        while (!im->queue && !im->stopping)
            pthread_cond_wait(&im->wake, &im->lock);
        if (im->stopping) {
            pthread_mutex_unlock(&im->lock);
            break;
        }
        env_build_job *job = im->queue;
        im->queue = job->next;
        if (!im->queue)
            im->queue_tail = NULL;
        im->current = job;
        pthread_mutex_unlock(&im->lock);

        env_status status = ENV_FAILED;
        amlfs_err reason = {0};
        bool ended = env_build_run(im, job, &status, &reason);
        /* Reported and no longer current in one step: a rebuild asked meanwhile either finds this
         * build still going (EBUSY, and this report comes after its request) or queues a new one. */
        pthread_mutex_lock(&im->lock);
        if (ended && im->hooks.finished)
            im->hooks.finished(im->hooks.ctx, job->name, job->version, status,
                               status == ENV_FAILED ? reason.msg : NULL);
        im->current = NULL;
        pthread_mutex_unlock(&im->lock);
        job_free(job);
    }
    return NULL;
}

int env_images_open(const env_images_config *cfg, const env_images_hooks *hooks, env_images **out,
                    amlfs_err *err)
{
    *out = NULL;
    env_images *im = util_xcalloc(1, sizeof *im);
    im->data_dir = util_xstrdup(cfg->data_dir);
    im->images_dir = util_strdupf("%s/images", cfg->data_dir);
    im->build_timeout_s = cfg->build_timeout_s > 0 ? cfg->build_timeout_s : ENV_BUILD_TIMEOUT_S;
    if (hooks)
        im->hooks = *hooks;
    pthread_mutex_init(&im->lock, NULL);
    pthread_cond_init(&im->wake, NULL);
    char *program = find_program(cfg->podman && *cfg->podman ? cfg->podman : "podman");
    if (!program)
        im->unusable = util_strdupf("podman is not installed on the server's machine (%s not found); install "
                                    "it (apt-get install podman runc) and restart amlfs-server",
                                    cfg->podman && *cfg->podman ? cfg->podman : "podman");
    char *conf = NULL;
    int rc = build_argv(im, program ? program : "podman", cfg, err);
    free(program);
    if (rc < 0) {
        env_images_close(im);
        return rc;
    }
    rc = util_mkdir_p(im->images_dir, 0700, err);
    if (rc == 0)
        rc = write_conf(im, &conf, err);
    if (rc < 0) {
        free(conf);
        env_images_close(im);
        return amlfs_wrap(err, "setting up podman: ");
    }
    im->env = util_xcalloc(2, sizeof *im->env);
    im->env[0] = util_strdupf("CONTAINERS_CONF=%s", conf);
    free(conf);
    env_podman_clean_leftovers(im); /* with podman's settings, before this server's own builds start */
    rc = pthread_create(&im->thread, NULL, builder_main, im);
    if (rc != 0) {
        env_images_close(im);
        return amlfs_fail(err, rc, "starting the image builder thread: %s", strerror(rc));
    }
    im->started = true;
    *out = im;
    return 0;
}

void env_images_close(env_images *im)
{
    if (!im)
        return;
    if (im->started) {
        pthread_mutex_lock(&im->lock);
        im->stopping = true;
        pthread_cond_broadcast(&im->wake);
        pthread_mutex_unlock(&im->lock);
        pthread_join(im->thread, NULL);
    }
    while (im->queue) {
        env_build_job *next = im->queue->next;
        job_free(im->queue);
        im->queue = next;
    }
    for (size_t i = 0; im->argv && im->argv[i]; i++)
        free(im->argv[i]);
    free(im->argv);
    for (size_t i = 0; im->env && im->env[i]; i++)
        free(im->env[i]);
    free(im->env);
    free(im->unusable);
    free(im->data_dir);
    free(im->images_dir);
    pthread_cond_destroy(&im->wake);
    pthread_mutex_destroy(&im->lock);
    free(im);
}

const char *const *env_images_podman_argv(const env_images *im)
{
    return (const char *const *)im->argv;
}

const char *const *env_images_podman_env(const env_images *im)
{
    return (const char *const *)im->env;
}

int env_images_enqueue(env_images *im, const env_version_ref *v, const char *hash, bool force)
{
    env_build_job *job = util_xcalloc(1, sizeof *job);
    job->name = util_xstrdup(v->name);
    job->version = v->version;
    char buf[ENV_LABEL_BUF];
    job->label = util_xstrdup(env_ref_label(v, buf));
    snprintf(job->hash, sizeof job->hash, "%s", hash);
    job->force = force;
    job->build_log = util_xstrdup(v->build_log);
    const env_spec *s = v->spec;
    if (s->registry_address && (s->registry_username || s->registry_password)) {
        job->reg_address = util_xstrdup(s->registry_address);
        job->reg_username = util_xstrdup(s->registry_username);
        job->reg_password = util_xstrdup(s->registry_password);
    }
    pthread_mutex_lock(&im->lock);
    if (im->queue_tail)
        im->queue_tail->next = job;
    else
        im->queue = job;
    im->queue_tail = job;
    pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->lock);
    return 0;
}

bool env_images_building(env_images *im, const char *name, int version)
{
    bool found = false;
    pthread_mutex_lock(&im->lock);
    for (env_build_job *j = im->current; j && !found; j = NULL)
        found = strcmp(j->name, name) == 0 && j->version == version;
    for (env_build_job *j = im->queue; j && !found; j = j->next)
        found = strcmp(j->name, name) == 0 && j->version == version;
    pthread_mutex_unlock(&im->lock);
    return found;
}

void env_log_line(const char *path, const char *fmt, ...)
{
    char when[32], msg[1200];
    util_iso8601(util_now_ms(), when, sizeof when);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    FILE *f = fopen(path, "ae");
    if (!f)
        return;
    fprintf(f, "==> %s %s\n", when, msg);
    fclose(f);
}
