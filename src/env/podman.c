/* podman.c: running podman from the (multithreaded) server: posix_spawn into its own process group
 * with default signals, a deadline, a stop when the builder shuts down, and a tick for log growth. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* After TERM, how long podman gets to clean up its build containers before KILL. */
#define STOP_GRACE_MS 10000
#define TICK_MS 100

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The server's environment with podman's own entries on top (later entries win in getenv). */
static char **podman_environ(const env_images *im)
{
    size_t n = 0, extra = 0;
    while (environ && environ[n])
        n++;
    while (im->env[extra])
        extra++;
    char **envp = util_xcalloc(n + extra + 1, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (size_t j = 0; j < extra && !overridden; j++) {
            size_t key = strcspn(im->env[j], "=") + 1;
            overridden = strncmp(environ[i], im->env[j], key) == 0;
        }
        if (!overridden)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < extra; j++)
        envp[k++] = im->env[j];
    return envp;
}

static bool builder_stopping(env_images *im)
{
    pthread_mutex_lock(&im->lock);
    bool stop = im->stopping;
    pthread_mutex_unlock(&im->lock);
    return stop;
}

/* stdout onto out_fd, stderr onto err_fd (-1: /dev/null for either). */
static int spawn(env_images *im, const char *const *args, int out_fd, int err_fd, pid_t *pid, amlfs_err *err)
{
    size_t nprefix = 0, nargs = 0;
    while (im->argv[nprefix])
        nprefix++;
    while (args[nargs])
        nargs++;
    char **argv = util_xcalloc(nprefix + nargs + 1, sizeof *argv);
    memcpy(argv, im->argv, nprefix * sizeof *argv);
    memcpy(argv + nprefix, args, nargs * sizeof *argv);
    char **envp = podman_environ(im);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* A server started with stdin closed can hold its log at fd 0-2: the child's stdin/stdout set-up
     * below would overwrite it first, so podman gets a copy above them. */
    int high_out = out_fd >= 0 && out_fd <= STDERR_FILENO ? fcntl(out_fd, F_DUPFD_CLOEXEC, 3) : -1;
    int high_err = err_fd >= 0 && err_fd <= STDERR_FILENO ? fcntl(err_fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (high_out >= 0)
        out_fd = high_out;
    if (high_err >= 0)
        err_fd = high_err;
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    /* Nothing else of the server's (sockets, the database) may reach podman and its containers. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* The server blocks its stop signals in every thread and ignores SIGPIPE: podman must get
     * neither, or it could not be stopped. Its own process group lets a stop reach its children. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn(pid, argv[0], &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (high_out >= 0)
        close(high_out);
    if (high_err >= 0)
        close(high_err);
    free(envp);
    free(argv);
    if (rc != 0)
        return amlfs_fail(err, rc, "cannot run %s: %s", im->argv[0], strerror(rc));
    return 0;
}

static int run(env_images *im, const char *const *args, int out_fd, int err_fd, long timeout_s, env_tick_fn tick,
               void *tick_ctx, amlfs_err *err)
{
    if (im->unusable)
        return amlfs_fail(err, ENOENT, "%s", im->unusable);
    pid_t pid;
    int rc = spawn(im, args, out_fd, err_fd, &pid, err);
    if (rc < 0)
        return rc;
    env_podman_run recorded;
    env_podman_record(im, &recorded, pid);
    int64_t start = util_mono_ms(), next_tick = start + TICK_MS, kill_at = -1;
    int64_t deadline = timeout_s > 0 ? start + timeout_s * 1000 : -1;
    int64_t pause = 2; /* short commands (image exists) end in milliseconds: look often at first */
    int stopped = 0, status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            int e = errno;
            env_podman_forget(im, pid);
            return amlfs_fail(err, e, "waiting for podman: %s", strerror(e));
        }
        int64_t now = util_mono_ms();
        if (!stopped && ((deadline >= 0 && now >= deadline) || builder_stopping(im))) {
            stopped = deadline >= 0 && now >= deadline ? ETIMEDOUT : ECANCELED;
            killpg(pid, SIGTERM);
            kill_at = now + STOP_GRACE_MS;
        }
        if (kill_at >= 0 && now >= kill_at) {
            killpg(pid, SIGKILL);
            kill_at = -1;
        }
        env_podman_watch(im, &recorded);
        if (tick && now >= next_tick) {
            tick(tick_ctx);
            next_tick = now + TICK_MS;
        }
        sleep_ms(pause);
        if (pause < TICK_MS)
            pause *= 2;
    }
    env_podman_forget(im, pid);
    if (tick)
        tick(tick_ctx);
    if (stopped == ETIMEDOUT)
        return amlfs_fail(err, ETIMEDOUT, "podman took longer than %ld s and was stopped", timeout_s);
    if (stopped == ECANCELED)
        return amlfs_fail(err, ECANCELED, "podman was stopped: the server is shutting down");
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int env_podman_exec(env_images *im, const char *const *args, int out_fd, long timeout_s, env_tick_fn tick,
                    void *tick_ctx, amlfs_err *err)
{
    return run(im, args, out_fd, out_fd, timeout_s, tick, tick_ctx, err);
}

int env_podman_capture(env_images *im, const char *const *args, long timeout_s, util_buf *out, size_t limit,
                       amlfs_err *err)
{
    /* A file, not a pipe: nothing has to read while podman runs. */
    int fd = open(im->images_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return amlfs_fail(err, errno, "cannot make a temporary file in %s: %s", im->images_dir, strerror(errno));
    int rc = run(im, args, fd, -1, timeout_s, NULL, NULL, err);
    char chunk[8192];
    ssize_t n;
    off_t at = 0;
    while (rc >= 0 && (n = pread(fd, chunk, sizeof chunk, at)) > 0) {
        at += n;
        if (util_buf_append(out, chunk, (size_t)n, limit) < 0) {
            rc = amlfs_fail(err, EFBIG, "podman's answer is longer than %zu bytes", limit);
            break;
        }
    }
    close(fd);
    return rc;
}

bool env_podman_image_exists(env_images *im, const char *ref)
{
    const char *args[] = {"image", "exists", ref, NULL};
    return env_podman_exec(im, args, -1, 60, NULL, NULL, NULL) == 0;
}
