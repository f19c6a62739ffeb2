/* supervisor.c: `amlfs-server supervise RUN_DIR`, the process that owns one local job: it starts the job (a
 * shell, or `podman run` of the job's image) in its own process group writing RUN_DIR/log directly,
 * enforces cancel and timeout (stopping the container too), records exit.json. */
#include "amlfs/compute.h"
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long to wait for the job's killed process group to disappear before recording the end anyway
 * (a process stuck in uninterruptible sleep cannot be waited for forever). */
#define GROUP_GONE_WAIT_MS 5000
/* How long the supervisor waits for `podman rm` to make sure a container is gone. */
#define CONTAINER_RM_WAIT_MS 30000

typedef struct supervisor {
    const char *run_dir;
    compute_launch launch;
    int signal_fd;
    pid_t job;                  /* also the job's process group id */
    bool term_sent, kill_sent;
    int64_t kill_at_ms;         /* monotonic; when TERM's grace runs out */
    compute_exit exit;
    /* Container runs only (launch.image set). */
    char **container_argv;      /* podman run ... */
    char *container_name;
    char *env_file;
} supervisor;

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One timestamped line on stderr, which is RUN_DIR/supervisor.log. */
static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    char when[32];
    util_iso8601(util_now_ms(), when, sizeof when);
    char line[1200];
    int len = snprintf(line, sizeof line, "%s supervisor %d: ", when, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    if (len >= 0 && (size_t)len < sizeof line)
        len += vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line - 1)
        len = (int)sizeof line - 2;
    line[len++] = '\n';
    ssize_t n = write(STDERR_FILENO, line, (size_t)len);
    (void)n; /* nowhere left to report a failed diagnostic */
}

/* Signals arrive only through the signalfd. Dispositions are reset because ignored ones survive exec
 * and the server may ignore some (an ignored SIGTERM would make cancel impossible). SIGHUP stays
 * ignored: the server or its terminal going away must not end the run. */
static int setup_signals(sigset_t *watched)
{
    sigemptyset(watched);
    sigaddset(watched, SIGCHLD);
    sigaddset(watched, SIGTERM);
    sigaddset(watched, SIGINT);
    sigaddset(watched, SIGHUP);
    if (sigprocmask(SIG_SETMASK, watched, NULL) < 0)
        return -errno;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* fails harmlessly for numbers that are not signals */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    return 0;
}

/* fds 0-2 must be taken before anything else is opened, so later dup2s cannot clobber real files. */
static void own_stdio(const char *run_dir)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close(fd);
    char *path = compute_run_file(run_dir, COMPUTE_SUPERVISOR_LOG_FILE);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
        fcntl(STDERR_FILENO, F_SETFD, FD_CLOEXEC);
    }
}

/* Start failures reach the server through exit.json (start() returns its error). */
static int record_start_failure(supervisor *s, int errnum, const char *msg)
{
    diag("%s", msg);
    memset(&s->exit, 0, sizeof s->exit);
    s->exit.exit_code = 127;
    snprintf(s->exit.error, sizeof s->exit.error, "%s", msg);
    amlfs_err err = {0};
    if (compute_exit_write(s->run_dir, &s->exit, errnum > 0 ? errnum : EIO, &err) < 0) {
        diag("%s", err.msg);
        return 1;
    }
    return 0;
}

/* What the forked job child reports when it cannot become the job. */
enum job_step { STEP_CHDIR = 1, STEP_STDIO, STEP_EXEC };

typedef struct job_failure {
    int32_t step;               /* enum job_step */
    int32_t errnum;
} job_failure;

static void child_fail(int report_fd, int32_t step)
{
    job_failure f = {step, errno};
    ssize_t n = write(report_fd, &f, sizeof f);
    (void)n;
    _exit(127);
}

/* glibc keeps the first real-time signals (32, 33) for itself and refuses to change them, so one
 * ignored by whoever started the server (make does) would reach the job. The kernel call resets them;
 * a job built on another libc may use them. */
static void reset_libc_reserved_signals(void)
{
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 32; sig < SIGRTMIN; sig++)
        syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

/* A child of the supervisor (the job, or a podman helper): its own process group, and signals as a
 * fresh program expects them, whatever the supervisor ignores or blocks to watch its job. */
static void become_own_group_with_default_signals(void)
{
    setpgid(0, 0);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    reset_libc_reserved_signals();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the job child: own process group, default signals, work_dir, stdin /dev/null, stdout+stderr
 * appended straight to RUN_DIR/log, then the shell, or for a container run `podman run`. */
static void become_job(const compute_launch *launch, char **container_argv, int log_fd, int report_fd)
{
    become_own_group_with_default_signals();
    if (chdir(launch->work_dir) < 0)
        child_fail(report_fd, STEP_CHDIR);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
        child_fail(report_fd, STEP_STDIO);
    if (null_fd != STDIN_FILENO)
        close(null_fd);
    if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
        child_fail(report_fd, STEP_STDIO);
    /* Whatever else this process was handed must not leak into the job (the report pipe closes too,
     * on a successful exec). Kernels before 5.11 lack the flag; everything opened here is O_CLOEXEC. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (container_argv)
        execvp(container_argv[0], container_argv);
    else
        execl("/bin/sh", "sh", "-c", launch->command, (char *)NULL);
    child_fail(report_fd, STEP_EXEC);
}

/* A podman command about the run's container (stop, kill, rm), in its own process group so that
 * stopping the job's group never hits it; output to supervisor.log. With wait_ms > 0 it is waited
 * for (and killed after wait_ms); otherwise the child is reaped with the job's orphans. */
static void podman_helper(supervisor *s, const char *const *verb_args, int64_t wait_ms)
{
    size_t nprefix = 0, nargs = 0;
    while (s->launch.podman[nprefix])
        nprefix++;
    while (verb_args[nargs])
        nargs++;
    char **argv = util_xcalloc(nprefix + nargs + 1, sizeof *argv);
    for (size_t i = 0; i < nprefix; i++)
        argv[i] = s->launch.podman[i];
    for (size_t i = 0; i < nargs; i++)
        argv[nprefix + i] = (char *)verb_args[i];
    pid_t pid = fork();
    if (pid == 0) {
        become_own_group_with_default_signals();
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0 && null_fd != STDIN_FILENO) {
            dup2(null_fd, STDIN_FILENO);
            close(null_fd);
        }
        dup2(STDERR_FILENO, STDOUT_FILENO);
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    free(argv);
    if (pid < 0) {
        diag("cannot fork for podman %s: %s", verb_args[0], strerror(errno));
        return;
    }
    if (wait_ms <= 0)
        return;
    int64_t give_up = monotonic_ms() + wait_ms;
    for (;;) {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            return;
        if (monotonic_ms() > give_up) {
            diag("podman %s did not end within %lld ms; killed", verb_args[0], (long long)wait_ms);
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            return;
        }
        struct timespec pause = {0, 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* For a container run: the --env-file, the podman command line, and podman's own environment
 * (CONTAINERS_CONF). The job's variables go only into the file. Returns 0, or what start_job
 * returns for a start failure (0 recorded, 1 not even that). */
static int prepare_container(supervisor *s, bool *failed)
{
    amlfs_err err = {0};
    *failed = false;
    if (compute_container_env_file(s->run_dir, &s->launch, &s->env_file, &err) < 0) {
        *failed = true;
        return record_start_failure(s, err.code, err.msg);
    }
    for (size_t i = 0; s->launch.podman_env && s->launch.podman_env[i]; i++) {
        char *entry = s->launch.podman_env[i];
        char *eq = strchr(entry, '=');
        if (!eq)
            continue;
        *eq = '\0';
        setenv(entry, eq + 1, 1);
        *eq = '=';
    }
    s->container_name = compute_container_name(s->launch.run_id);
    s->container_argv = compute_container_argv(&s->launch, s->env_file);
    return 0;
}

/* Sets s->job once the job runs. Otherwise the reason is in exit.json: returns 0, or 1 when even
 * exit.json could not be written. */
static int start_job(supervisor *s)
{
    if (s->launch.image) {
        bool failed;
        int rc = prepare_container(s, &failed);
        if (failed)
            return rc;
    }
    /* This process is single-threaded, so changing its own environment before fork is safe; the job
     * inherits the supervisor's environment with the run's entries on top (later entries win). */
    for (size_t i = 0; !s->launch.image && s->launch.env[i]; i++) {
        char *entry = s->launch.env[i];
        char *eq = strchr(entry, '=');
        *eq = '\0';
        int rc = setenv(entry, eq + 1, 1);
        *eq = '=';
        if (rc < 0) {
            int e = errno;
            char msg[512];
            snprintf(msg, sizeof msg, "cannot set the job's environment entry %.200s: %s", entry,
                     strerror(e));
            return record_start_failure(s, e, msg);
        }
    }
    char *log_path = compute_run_file(s->run_dir, COMPUTE_LOG_FILE);
    int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        int e = errno;
        char msg[512];
        snprintf(msg, sizeof msg, "cannot open the run's log %.300s: %s", log_path, strerror(e));
        free(log_path);
        return record_start_failure(s, e, msg);
    }
    free(log_path);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        close(log_fd);
        return record_start_failure(s, e, "cannot create a pipe to start the job");
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        become_job(&s->launch, s->container_argv, log_fd, pipefd[1]);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    close(log_fd);
    if (pid < 0) {
        close(pipefd[0]);
        char msg[256];
        snprintf(msg, sizeof msg, "cannot fork the job: %s", strerror(fork_errno));
        return record_start_failure(s, fork_errno, msg);
    }
    /* Also set here: whichever of parent and child runs first, the group exists before any killpg. */
    setpgid(pid, pid);
    job_failure f;
    ssize_t n;
    do
        n = read(pipefd[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof f) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        char msg[700];
        if (f.step == STEP_CHDIR)
            snprintf(msg, sizeof msg, "cannot enter the job's working folder %.400s: %s",
                     s->launch.work_dir, strerror(f.errnum));
        else if (f.step == STEP_EXEC)
            snprintf(msg, sizeof msg, "cannot run %s for the job: %s",
                     s->container_argv ? s->container_argv[0] : "/bin/sh", strerror(f.errnum));
        else
            snprintf(msg, sizeof msg, "cannot connect the job's stdin/stdout/stderr: %s",
                     strerror(f.errnum));
        return record_start_failure(s, f.errnum, msg);
    }
    s->job = pid;
    amlfs_err err = {0};
    if (compute_pidfile_write(s->run_dir, &err) < 0) {
        /* Without a pid file nobody could cancel or watch the job: stop it rather than orphan it. */
        killpg(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        s->job = 0;
        return record_start_failure(s, err.code, err.msg);
    }
    diag("run %s: job started, pid %d, in %s%s%s", s->launch.run_id ? s->launch.run_id : "?", (int)pid,
         s->launch.work_dir, s->launch.image ? ", container image " : "", s->launch.image ? s->launch.image : "");
    return 0;
}

static void stop_group(supervisor *s, const char *why)
{
    if (s->term_sent)
        return;
    s->term_sent = true;
    diag("%s: TERM to process group %d, KILL in %ld s", why, (int)s->job, s->launch.cancel_grace_s);
    killpg(s->job, SIGTERM);
    killpg(s->job, SIGCONT); /* a stopped job would otherwise never act on TERM */
    if (s->container_name) {
        /* podman run passes TERM on, but the container outlives a killed podman client: podman stop
         * (TERM, then KILL after the grace period) ends the container itself. */
        char grace[32];
        snprintf(grace, sizeof grace, "%ld", s->launch.cancel_grace_s > 0 ? s->launch.cancel_grace_s : 0);
        const char *args[] = {"stop", "--time", grace, s->container_name, NULL};
        podman_helper(s, args, 0);
    }
    if (s->launch.cancel_grace_s <= 0) {
        killpg(s->job, SIGKILL);
        s->kill_sent = true;
    }
    s->kill_at_ms = monotonic_ms() + s->launch.cancel_grace_s * 1000;
}

/* Reaps exited children other than the job (the job's orphans are re-parented here: subreaper).
 * Returns true once the job itself has exited; it stays a zombie so its pid keeps naming its group. */
static bool reap_children(pid_t job)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return false;
        if (si.si_pid == job)
            return true;
        while (waitpid(si.si_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

static void drain_signals(supervisor *s)
{
    struct signalfd_siginfo info;
    while (read(s->signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
            if (!s->term_sent) {
                s->exit.canceled = true;
                stop_group(s, "cancel requested");
            }
        } else if (info.ssi_signo == SIGHUP) {
            diag("SIGHUP ignored: the run goes on");
        }
    }
}

static void wait_for_job(supervisor *s)
{
    int64_t timeout_at = s->launch.timeout_s > 0 ? monotonic_ms() + s->launch.timeout_s * 1000 : -1;
    while (!reap_children(s->job)) {
        int64_t now = monotonic_ms(), wake = -1;
        if (!s->term_sent && timeout_at >= 0)
            wake = timeout_at;
        if (s->term_sent && !s->kill_sent)
            wake = s->kill_at_ms;
        int wait_ms = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
        struct pollfd pfd = {.fd = s->signal_fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
            diag("poll on the signalfd failed: %s; checking every 100 ms instead", strerror(errno));
            struct timespec pause = {0, 100 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        drain_signals(s);
        now = monotonic_ms();
        if (!s->term_sent && timeout_at >= 0 && now >= timeout_at) {
            s->exit.timed_out = true;
            stop_group(s, "timeout reached");
        }
        if (s->term_sent && !s->kill_sent && now >= s->kill_at_ms) {
            diag("grace period over: KILL to process group %d", (int)s->job);
            if (s->container_name) {
                const char *args[] = {"kill", s->container_name, NULL};
                podman_helper(s, args, 0);
            }
            killpg(s->job, SIGKILL);
            s->kill_sent = true;
        }
    }
}

/* The job's main process has exited (still a zombie): kill what is left of its group, reap it, and wait
 * briefly until the group is empty so "ended" means no process of the job remains. */
static void finish_job(supervisor *s)
{
    killpg(s->job, SIGKILL);
    int status = 0;
    while (waitpid(s->job, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status)) {
        s->exit.exit_code = WEXITSTATUS(status);
        s->exit.signal = 0;
    } else {
        s->exit.exit_code = -1;
        s->exit.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    if (s->container_name) {
        /* Whatever became of the podman client, no container of this run may stay. */
        const char *args[] = {"rm", "--force", "--time", "0", "--ignore", s->container_name, NULL};
        podman_helper(s, args, CONTAINER_RM_WAIT_MS);
        unlink(s->env_file);
        if (s->exit.exit_code == 125 && !s->exit.canceled && !s->exit.timed_out)
            snprintf(s->exit.error, sizeof s->exit.error,
                     "podman could not run the container of image %.300s (exit code 125); the run's log "
                     "says why", s->launch.image);
    }
    int64_t give_up = monotonic_ms() + GROUP_GONE_WAIT_MS;
    for (;;) {
        reap_children(0);
        if (killpg(s->job, 0) < 0 && errno == ESRCH)
            break;
        int64_t left = give_up - monotonic_ms();
        if (left <= 0) {
            diag("process group %d still has members after KILL; recording the end anyway", (int)s->job);
            break;
        }
        struct pollfd pfd = {.fd = s->signal_fd, .events = POLLIN};
        poll(&pfd, 1, left < 20 ? (int)left : 20);
        drain_signals(s);
    }
    diag("job ended: exit_code %d, signal %d%s%s", s->exit.exit_code, s->exit.signal,
         s->exit.canceled ? ", canceled" : "", s->exit.timed_out ? ", timed out" : "");
}

int compute_supervise_main(const char *run_dir)
{
    sigset_t watched;
    int sig_rc = setup_signals(&watched);
    own_stdio(run_dir);
    supervisor s = {.run_dir = run_dir, .signal_fd = -1};
    /* Do not keep the server's working folder busy (it may be a mount someone wants to unmount);
     * start() passes absolute paths. */
    if (run_dir[0] == '/' && chdir("/") < 0)
        diag("cannot leave the working folder: %s", strerror(errno));
    if (sig_rc < 0)
        return record_start_failure(&s, -sig_rc, "cannot block signals in the supervisor");
    /* Orphans of the job come to this process, so they can be reaped here and the group seen empty. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        diag("cannot become a child subreaper: %s; the job's orphans go to init", strerror(errno));
    s.signal_fd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s.signal_fd < 0)
        return record_start_failure(&s, errno, "cannot create a signalfd in the supervisor");
    amlfs_err err = {0};
    int rc;
    if (compute_launch_read(run_dir, &s.launch, &err) < 0) {
        rc = record_start_failure(&s, err.code, err.msg);
    } else {
        rc = start_job(&s);
        if (s.job > 0) {
            wait_for_job(&s);
            finish_job(&s);
            if (compute_exit_write(run_dir, &s.exit, 0, &err) < 0) {
                diag("%s", err.msg);
                rc = 1;
            }
        }
    }
    /* An engine running this as its job (a Slurm batch step) reads the job's end from our status. */
    if (rc == 0)
        rc = s.exit.exit_code >= 0 ? s.exit.exit_code & 0xff : 128 + s.exit.signal;
    compute_launch_free(&s.launch);
    compute_strings_free(s.container_argv);
    free(s.container_name);
    free(s.env_file);
    close(s.signal_fd);
    return rc;
}
