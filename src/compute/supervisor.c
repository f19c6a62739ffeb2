/* supervisor.c: `amlfs-server supervise RUN_DIR`, the process that owns one local job: it starts the job (a
 * shell, or `podman run` of the job's image) in its own process group writing RUN_DIR/log directly, or a
 * distributed run's ranks in that group through pipes it prefixes into the log; enforces cancel, timeout
 * and a failed rank (stopping the container too), records exit.json. */
#include "amlfs/compute.h"
#include "amlfs/compute_local.h"
#include "amlfs/metrics.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long to wait for the job's killed process group to disappear before recording the end anyway
 * (a process stuck in uninterruptible sleep cannot be waited for forever). */
#define GROUP_GONE_WAIT_MS 5000
/* How long the supervisor waits for `podman rm` to make sure a container is gone. */
#define CONTAINER_RM_WAIT_MS 30000
/* Once the job's group is gone, how long ranks' output pipes still held open (by a process that left the
 * group) are read before the end is recorded anyway. */
#define OUTPUT_DRAIN_WAIT_MS 1000
/* How much of one rank's output is read per wake-up, so a chatty rank starves neither the others nor
 * the signals. */
#define OUTPUT_CHUNK (64 * 1024)
#define OUTPUT_CHUNKS_PER_WAKE 4

/* One process of the job: the job itself, or one rank of a distributed run on this node. */
typedef struct job_proc {
    pid_t pid;
    int rank;                   /* global rank (distributed runs) */
    bool ended;
    int exit_code, signal;      /* once ended: as in compute_exit */
    /* Distributed runs only: the read end of its stdout+stderr pipe (-1 once at EOF), its raw log
     * work/logs/std_log_process_N.txt, its partial line. */
    int out_fd, raw_fd;
    compute_line_buf lines;
    bool write_failed;          /* its output could not be written once: said in supervisor.log */
} job_proc;

typedef struct supervisor {
    const char *run_dir;
    compute_launch launch;
    int signal_fd;
    pid_t job;                  /* also the job's process group id: procs[0]'s pid */
    job_proc *procs;            /* the job, or this node's ranks (procs[0] leads the group) */
    int nprocs;
    bool term_sent, kill_sent;
    int64_t kill_at_ms;         /* monotonic; when TERM's grace runs out */
    compute_exit exit;
    /* Distributed runs only (compute_launch_distributed, on the host). */
    bool distributed;
    compute_rank_plan plan;
    int log_fd;                 /* RUN_DIR/log, written here with each rank's lines prefixed */
    bool rank_failed;           /* a rank's failure is the run's exit */
    /* Container runs only (launch.image set). */
    compute_relay relay;        /* MLflow's API inside the container's namespace (relay.c); pid 0: none */
    char **container_argv;      /* podman run ... */
    char *container_name;
    char *env_file;
    compute_disk_watch disk;    /* while the job runs */
} supervisor;

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

/* A child of the supervisor (the job, a rank, or a podman helper): process group `group` (0: its own), and
 * signals as a fresh program expects them, whatever the supervisor ignores or blocks to watch its job. */
static void enter_group_with_default_signals(pid_t group)
{
    setpgid(0, group);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    reset_libc_reserved_signals();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the job child: process group `group` (0: its own), default signals, work_dir, stdin /dev/null,
 * stdout+stderr to out_fd (RUN_DIR/log itself, or a rank's pipe), then the shell, or for a container run
 * `podman run`. */
static void become_job(const compute_launch *launch, char **container_argv, int out_fd, pid_t group,
                       int report_fd)
{
    enter_group_with_default_signals(group);
    if (chdir(launch->work_dir) < 0)
        child_fail(report_fd, STEP_CHDIR);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
        child_fail(report_fd, STEP_STDIO);
    if (null_fd != STDIN_FILENO)
        close(null_fd);
    if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0)
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
        enter_group_with_default_signals(0);
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
    int64_t give_up = util_mono_ms() + wait_ms;
    for (;;) {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            return;
        if (util_mono_ms() > give_up) {
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

/* One line of the supervisor's own in the run's log, before the job writes there. */
static void log_line(supervisor *s, const char *text)
{
    char *log = compute_run_file(s->run_dir, COMPUTE_LOG_FILE);
    char *line = util_strdupf("%s\n", text);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || util_write_all(fd, line, strlen(line)) < 0)
        diag("cannot write to %s: %s", log, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(line);
    free(log);
}

static const char *launch_env(const compute_launch *launch, const char *key)
{
    size_t n = strlen(key);
    const char *found = NULL;
    for (size_t i = 0; launch->env && launch->env[i]; i++)
        if (strncmp(launch->env[i], key, n) == 0 && launch->env[i][n] == '=')
            found = launch->env[i] + n + 1; /* the last one wins, as in the job's environment */
    return found;
}

/* A container's own network namespace with MLflow's tracking API at the URI the job has (a loopback one;
 * a URI the job set itself to another address is left alone). Without it the job still runs, on podman's
 * network, and its log says MLflow cannot be reached. */
static void start_relay(supervisor *s)
{
    int port = compute_relay_port(launch_env(&s->launch, "MLFLOW_TRACKING_URI"));
    if (port <= 0)
        return;
    amlfs_err why = {0};
    if (compute_relay_start(port, s->launch.network, &s->relay, &why) == 0) {
        s->launch.netns = util_xstrdup(s->relay.netns);
        diag("MLflow's API relayed into the container's namespace %s at 127.0.0.1:%d", s->relay.netns, port);
        return;
    }
    diag("%s", why.msg);
    char *line = util_strdupf("[amlfs] MLflow's tracking API cannot be reached from this container: %s", why.msg);
    log_line(s, line);
    free(line);
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
    start_relay(s);
    s->container_name = compute_container_name(s->launch.run_id);
    s->container_argv = compute_container_argv(&s->launch, s->env_file);
    if (!s->launch.network) /* a download that fails must not fail mysteriously: the log says why first */
        log_line(s, "[amlfs] this job runs without network (properties: amlfs.network: \"false\")");
    return 0;
}

/* setenv for each "KEY=VALUE": this process is single-threaded, so changing its own environment before
 * a fork is safe, and the children inherit it (later entries win). 0, or a positive errno with msg. */
static int put_env(char *const *entries, char *msg, size_t len)
{
    for (size_t i = 0; entries && entries[i]; i++) {
        char *entry = entries[i];
        char *eq = strchr(entry, '=');
        if (!eq)
            continue;
        *eq = '\0';
        int rc = setenv(entry, eq + 1, 1);
        int e = errno;
        if (rc < 0) /* the name only: values may be secrets */
            snprintf(msg, len, "cannot set the job's environment variable %.200s: %s", entry, strerror(e));
        *eq = '=';
        if (rc < 0)
            return e;
    }
    return 0;
}

/* RUN_DIR/log, appended to. 0, or a positive errno with msg. */
static int open_log(supervisor *s, int *fd, char *msg, size_t len)
{
    char *log_path = compute_run_file(s->run_dir, COMPUTE_LOG_FILE);
    *fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int e = errno;
    if (*fd < 0)
        snprintf(msg, len, "cannot open the run's log %.300s: %s", log_path, strerror(e));
    free(log_path);
    return *fd < 0 ? e : 0;
}

/* After forking `pid` with the write end of report_fd's pipe: waits until it has exec'ed (its copy of the
 * pipe closes) or reported why it could not. 0, or a positive errno with msg (the child is reaped then). */
static int await_exec(supervisor *s, pid_t pid, int report_fd, char *msg, size_t len)
{
    job_failure f;
    ssize_t n;
    do
        n = read(report_fd, &f, sizeof f);
    while (n < 0 && errno == EINTR);
    close(report_fd);
    if (n != (ssize_t)sizeof f)
        return 0;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (f.step == STEP_CHDIR)
        snprintf(msg, len, "cannot enter the job's working folder %.400s: %s", s->launch.work_dir,
                 strerror(f.errnum));
    else if (f.step == STEP_EXEC)
        snprintf(msg, len, "cannot run %s for the job: %s",
                 s->container_argv ? s->container_argv[0] : "/bin/sh", strerror(f.errnum));
    else
        snprintf(msg, len, "cannot connect the job's stdin/stdout/stderr: %s", strerror(f.errnum));
    return f.errnum > 0 ? f.errnum : EIO;
}

/* The processes the supervisor waits for: n of them, none started yet. */
static void track_procs(supervisor *s, int n)
{
    s->procs = util_xcalloc((size_t)n, sizeof *s->procs);
    s->nprocs = n;
    for (int i = 0; i < n; i++) {
        s->procs[i].out_fd = -1;
        s->procs[i].raw_fd = -1;
    }
}

static void close_procs(supervisor *s)
{
    for (int i = 0; i < s->nprocs; i++) {
        job_proc *p = &s->procs[i];
        if (p->out_fd >= 0)
            close(p->out_fd);
        if (p->raw_fd >= 0)
            close(p->raw_fd);
        compute_line_buf_free(&p->lines);
    }
    free(s->procs);
    s->procs = NULL;
    s->nprocs = 0;
}

/* A start that fails after some processes run: KILL to the group, then reap them. */
static void kill_started(supervisor *s)
{
    if (s->nprocs > 0 && s->procs[0].pid > 0)
        killpg(s->procs[0].pid, SIGKILL);
    for (int i = s->nprocs - 1; i >= 0; i--)
        while (s->procs[i].pid > 0 && waitpid(s->procs[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* The job runs: supervisor.pid says so. Without it nobody could cancel or watch the job: it is stopped
 * rather than orphaned. Returns what start_job returns. */
static int announce_started(supervisor *s)
{
    s->job = s->procs[0].pid;
    amlfs_err err = {0};
    if (compute_pidfile_write(s->run_dir, &err) < 0) {
        kill_started(s);
        s->job = 0;
        return record_start_failure(s, err.code, err.msg);
    }
    const char *run = s->launch.run_id ? s->launch.run_id : "?";
    if (!s->distributed)
        diag("run %s: job started, pid %d, in %s%s%s", run, (int)s->job, s->launch.work_dir,
             s->launch.image ? ", container image " : "", s->launch.image ? s->launch.image : "");
    else
        diag("run %s: ranks %d to %d of %d started (distribution %s, node %d of %d), process group %d, "
             "in %s; MASTER_ADDR %s, MASTER_PORT %d", run, s->procs[0].rank, s->procs[s->nprocs - 1].rank,
             compute_rank_world(&s->plan), s->plan.distribution ? s->plan.distribution : "none",
             s->plan.node_rank, s->plan.nodes, (int)s->job, s->launch.work_dir, s->plan.master_addr,
             s->plan.master_port);
    return 0;
}

/* One process, writing RUN_DIR/log directly. */
static int start_single(supervisor *s)
{
    char msg[700];
    int log_fd;
    int e = s->launch.image ? 0 : put_env(s->launch.env, msg, sizeof msg);
    if (e == 0)
        e = open_log(s, &log_fd, msg, sizeof msg);
    if (e)
        return record_start_failure(s, e, msg);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        e = errno;
        close(log_fd);
        return record_start_failure(s, e, "cannot create a pipe to start the job");
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        become_job(&s->launch, s->container_argv, log_fd, 0, pipefd[1]);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    close(log_fd);
    if (pid < 0) {
        close(pipefd[0]);
        snprintf(msg, sizeof msg, "cannot fork the job: %s", strerror(fork_errno));
        return record_start_failure(s, fork_errno, msg);
    }
    /* Also set here: whichever of parent and child runs first, the group exists before any killpg. */
    setpgid(pid, pid);
    if ((e = await_exec(s, pid, pipefd[0], msg, sizeof msg)))
        return record_start_failure(s, e, msg);
    track_procs(s, 1);
    s->procs[0].pid = pid;
    return announce_started(s);
}

/* RUN_DIR/log (written here) and the folder of the ranks' raw logs. 0, or a positive errno with msg. */
static int open_rank_logs(supervisor *s, char *msg, size_t len)
{
    int e = open_log(s, &s->log_fd, msg, len);
    if (e)
        return e;
    char *dir = util_strdupf("%s/work/logs", s->run_dir);
    amlfs_err err = {0};
    if (util_mkdir_p(dir, 0755, &err) < 0) {
        snprintf(msg, len, "%.600s", err.msg);
        e = err.code > 0 ? err.code : EIO;
    }
    free(dir);
    return e;
}

/* A rank's work/logs/std_log_process_N.txt, and the pipe its stdout+stderr go to (the read end, kept in
 * p, does not block). 0 with *write_fd for the child, or a positive errno with msg. */
static int open_rank_output(supervisor *s, job_proc *p, int *write_fd, char *msg, size_t len)
{
    char *path = util_strdupf("%s/work/logs/std_log_process_%d.txt", s->run_dir, p->rank);
    p->raw_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int e = errno;
    if (p->raw_fd < 0)
        snprintf(msg, len, "cannot open %.400s: %s", path, strerror(e));
    free(path);
    if (p->raw_fd < 0)
        return e;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        e = errno;
        snprintf(msg, len, "cannot create the output pipe of rank %d: %s", p->rank, strerror(e));
        return e;
    }
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        e = errno;
        close(fds[0]);
        close(fds[1]);
        snprintf(msg, len, "cannot make the output pipe of rank %d non-blocking: %s", p->rank, strerror(e));
        return e;
    }
    p->out_fd = fds[0];
    *write_fd = fds[1];
    compute_line_buf_init(&p->lines, p->rank);
    return 0;
}

/* Forks local rank i with its variables and output pipe, in the job's process group (rank 0 founds it,
 * the others join it). 0, or a positive errno with msg. */
static int start_rank(supervisor *s, int i, char *msg, size_t len)
{
    job_proc *p = &s->procs[i];
    p->rank = compute_rank_global(&s->plan, i);
    amlfs_err err = {0};
    char **env = NULL;
    if (compute_rank_env(&s->plan, i, &env, &err) < 0) {
        snprintf(msg, len, "%.600s", err.msg);
        return err.code > 0 ? err.code : EIO;
    }
    int e = put_env(env, msg, len);
    compute_strings_free(env);
    int out_w = -1, report[2];
    if (e == 0)
        e = open_rank_output(s, p, &out_w, msg, len);
    if (e == 0 && pipe2(report, O_CLOEXEC) < 0) {
        e = errno;
        close(out_w);
        snprintf(msg, len, "cannot create a pipe to start rank %d: %s", p->rank, strerror(e));
    }
    if (e)
        return e;
    pid_t group = i == 0 ? 0 : s->procs[0].pid;
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        become_job(&s->launch, NULL, out_w, group, report[1]);
    }
    int fork_errno = errno;
    close(report[1]);
    close(out_w);
    if (pid < 0) {
        close(report[0]);
        snprintf(msg, len, "cannot fork rank %d: %s", p->rank, strerror(fork_errno));
        return fork_errno;
    }
    /* Also set here: whichever of parent and child runs first, it is in the group before any killpg. */
    setpgid(pid, group ? group : pid);
    if ((e = await_exec(s, pid, report[0], msg, len)))
        return e;
    p->pid = pid;
    return 0;
}

/* This node's per_node ranks, each with the distribution's variables; their output comes through pipes. */
static int start_ranks(supervisor *s)
{
    amlfs_err err = {0};
    if (compute_rank_plan_init(&s->plan, &s->launch, &err) < 0)
        return record_start_failure(s, err.code, err.msg);
    char msg[700];
    int e = put_env(s->launch.env, msg, sizeof msg);
    if (e == 0)
        e = open_rank_logs(s, msg, sizeof msg);
    if (e)
        return record_start_failure(s, e, msg);
    track_procs(s, s->plan.per_node);
    for (int i = 0; i < s->nprocs; i++) {
        if ((e = start_rank(s, i, msg, sizeof msg))) {
            kill_started(s);
            return record_start_failure(s, e, msg);
        }
    }
    return announce_started(s);
}

/* Sets s->job once the job runs. Otherwise the reason is in exit.json: returns 0, or 1 when even
 * exit.json could not be written. */
static int start_job(supervisor *s)
{
    int world = s->launch.nodes * s->launch.per_node;
    if (s->launch.image && world > 1) {
        char msg[300];
        snprintf(msg, sizeof msg, "distributed runs (%d ranks) in a container image are not supported yet; "
                 "use a host environment", world);
        return record_start_failure(s, ENOTSUP, msg);
    }
    amlfs_err why = {0};
    if (!s->launch.image && compute_protect_inputs(s->launch.work_dir, &why) < 0)
        diag("%s", why.msg); /* the job still runs: its inputs' modes are read-only */
    if (s->launch.image) {
        bool failed;
        int rc = prepare_container(s, &failed);
        if (failed)
            return rc;
    }
    return s->distributed ? start_ranks(s) : start_single(s);
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
    s->kill_at_ms = util_mono_ms() + s->launch.cancel_grace_s * 1000;
}

static void record_end(job_proc *p, int exit_code, int signal)
{
    p->ended = true;
    p->exit_code = exit_code;
    p->signal = signal;
}

static void record_end_status(job_proc *p, int status)
{
    if (WIFEXITED(status))
        record_end(p, WEXITSTATUS(status), 0);
    else
        record_end(p, -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* In a distributed run the first rank to fail is the run's exit. Unless the group is being stopped
 * already (cancel, timeout, an earlier failure), its failure stops the other ranks as a cancel does. */
static void judge_rank(supervisor *s, const job_proc *p)
{
    if (!s->distributed)
        return;
    diag("rank %d (pid %d) ended: exit code %d, signal %d", p->rank, (int)p->pid, p->exit_code, p->signal);
    if ((p->exit_code == 0 && p->signal == 0) || s->rank_failed)
        return;
    s->rank_failed = true;
    s->exit.exit_code = p->exit_code;
    s->exit.signal = p->signal;
    if (s->term_sent)
        return;
    int world = compute_rank_world(&s->plan);
    if (p->signal)
        snprintf(s->exit.error, sizeof s->exit.error, "rank %d of %d was killed by signal %d (%s)", p->rank,
                 world, p->signal, strsignal(p->signal));
    else
        snprintf(s->exit.error, sizeof s->exit.error, "rank %d of %d exited with code %d", p->rank, world,
                 p->exit_code);
    stop_group(s, s->exit.error);
}

static job_proc *find_proc(supervisor *s, pid_t pid)
{
    for (int i = 0; i < s->nprocs; i++)
        if (s->procs[i].pid == pid)
            return &s->procs[i];
    return NULL;
}

/* Reaps exited children other than the group's leader (procs[0]), recording how each of the job's
 * processes ended; the job's orphans are re-parented here (subreaper) and just reaped. Returns true
 * once every process of the job has exited; the leader stays a zombie so its pid keeps naming the group.
 * The other ranks are waited for by pid first: once the leader is a zombie, a wait for any child finds
 * it again and nothing behind it (orphans ending then are reaped by finish_job). */
static bool reap_children(supervisor *s)
{
    for (int i = 1; i < s->nprocs; i++) {
        job_proc *p = &s->procs[i];
        int status;
        if (!p->ended && waitpid(p->pid, &status, WNOHANG) == p->pid) {
            record_end_status(p, status);
            judge_rank(s, p);
        }
    }
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            break;
        job_proc *p = find_proc(s, si.si_pid);
        if (p == &s->procs[0]) {
            if (!p->ended) {
                bool exited = si.si_code == CLD_EXITED;
                record_end(p, exited ? si.si_status : -1, exited ? 0 : si.si_status);
                judge_rank(s, p);
            }
            break;
        }
        int status = 0;
        while (waitpid(si.si_pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (p && !p->ended) {
            record_end_status(p, status);
            judge_rank(s, p);
        }
    }
    for (int i = 0; i < s->nprocs; i++)
        if (!s->procs[i].ended)
            return false;
    return true;
}

/* Reaps every exited child (the leader too, once finish_job has taken its status). */
static void reap_all(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void note_output_error(job_proc *p, int rc, const char *what)
{
    if (rc >= 0 || p->write_failed)
        return;
    p->write_failed = true;
    diag("cannot write rank %d's output to %s: %s; some of it may be missing there", p->rank, what,
         strerror(-rc));
}

/* Rank p's output has ended: its partial line goes to the log, its pipe is closed. */
static void close_rank_output(supervisor *s, job_proc *p)
{
    note_output_error(p, compute_line_buf_flush(&p->lines, s->log_fd), "the run's log");
    close(p->out_fd);
    p->out_fd = -1;
}

/* Reads what rank p has written so far (a bounded amount) into its raw log and, line by line, the run's. */
static void pump_rank_output(supervisor *s, job_proc *p)
{
    static char chunk[OUTPUT_CHUNK]; /* one thread; too big for a comfortable stack frame */
    for (int round = 0; round < OUTPUT_CHUNKS_PER_WAKE; round++) {
        ssize_t n = read(p->out_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0)
            diag("cannot read rank %d's output: %s; it ends here", p->rank, strerror(errno));
        if (n <= 0) {
            close_rank_output(s, p);
            return;
        }
        note_output_error(p, util_write_all(p->raw_fd, chunk, (size_t)n), "its std_log_process file");
        note_output_error(p, compute_line_buf_feed(&p->lines, chunk, (size_t)n, s->log_fd), "the run's log");
    }
}

/* Sleeps until a signal arrives (when `signals`), a rank writes output, or wait_ms pass (-1: no limit);
 * reads the output that came. */
static void wait_events(supervisor *s, bool signals, int wait_ms)
{
    /* nprocs <= per_node <= COMPUTE_MAX_RANKS (compute_launch_read). */
    struct pollfd pfds[COMPUTE_MAX_RANKS + 1];
    job_proc *owner[COMPUTE_MAX_RANKS + 1];
    nfds_t n = 0;
    if (signals) {
        pfds[n] = (struct pollfd){.fd = s->signal_fd, .events = POLLIN};
        owner[n++] = NULL;
    }
    for (int i = 0; i < s->nprocs; i++) {
        if (s->procs[i].out_fd >= 0) {
            pfds[n] = (struct pollfd){.fd = s->procs[i].out_fd, .events = POLLIN};
            owner[n++] = &s->procs[i];
        }
    }
    int ready = poll(pfds, n, wait_ms);
    if (ready < 0 && errno != EINTR) {
        diag("poll failed: %s; checking every 100 ms instead", strerror(errno));
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    for (nfds_t i = 0; i < n; i++)
        if (owner[i] && owner[i]->out_fd >= 0 && (ready < 0 || pfds[i].revents))
            pump_rank_output(s, owner[i]);
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
    int64_t timeout_at = s->launch.timeout_s > 0 ? util_mono_ms() + s->launch.timeout_s * 1000 : -1;
    while (!reap_children(s)) {
        int64_t now = util_mono_ms(), wake = -1;
        if (!s->term_sent && timeout_at >= 0)
            wake = timeout_at;
        if (s->term_sent && !s->kill_sent)
            wake = s->kill_at_ms;
        int wait_ms = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
        char note[200];
        int look_ms = compute_disk_watch_tick(&s->disk, note, sizeof note);
        if (note[0])
            diag("%s", note);
        if (wait_ms < 0 || look_ms < wait_ms)
            wait_ms = look_ms;
        wait_events(s, true, wait_ms);
        drain_signals(s);
        now = util_mono_ms();
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

/* The job's group is gone: what is still in the ranks' pipes goes to the logs. A pipe a process outside
 * the group still holds open is read for OUTPUT_DRAIN_WAIT_MS at most. Signals wait: the job has ended. */
static void drain_output(supervisor *s)
{
    int64_t give_up = util_mono_ms() + OUTPUT_DRAIN_WAIT_MS;
    for (;;) {
        bool open = false;
        for (int i = 0; i < s->nprocs; i++)
            open = open || s->procs[i].out_fd >= 0;
        int64_t left = give_up - util_mono_ms();
        if (!open || left <= 0)
            break;
        wait_events(s, false, (int)left);
    }
    for (int i = 0; i < s->nprocs; i++) {
        if (s->procs[i].out_fd >= 0) {
            diag("rank %d's output is still held open by a process outside the job's group; not read further",
                 s->procs[i].rank);
            close_rank_output(s, &s->procs[i]);
        }
    }
}

/* Every process of the job has exited (the leader still a zombie): kill what is left of its group, reap
 * it, and wait briefly until the group is empty so "ended" means no process of the job remains. */
static void finish_job(supervisor *s)
{
    killpg(s->job, SIGKILL);
    int status = 0;
    while (waitpid(s->job, &status, 0) < 0 && errno == EINTR)
        ;
    /* A distributed run's exit is its first failed rank's, recorded by judge_rank. */
    if (!s->distributed && WIFEXITED(status)) {
        s->exit.exit_code = WEXITSTATUS(status);
        s->exit.signal = 0;
    } else if (!s->distributed) {
        s->exit.exit_code = -1;
        s->exit.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    if (s->container_name) {
        /* Whatever became of the podman client, no container of this run may stay. */
        const char *args[] = {"rm", "--force", "--time", "0", "--ignore", s->container_name, NULL};
        podman_helper(s, args, CONTAINER_RM_WAIT_MS);
        unlink(s->env_file);
        compute_relay_stop(&s->relay);
        if (s->exit.exit_code == 125 && !s->exit.canceled && !s->exit.timed_out)
            snprintf(s->exit.error, sizeof s->exit.error,
                     "podman could not run the container of image %.300s (exit code 125); the run's log "
                     "says why", s->launch.image);
    }
    int64_t give_up = util_mono_ms() + GROUP_GONE_WAIT_MS;
    for (;;) {
        reap_all();
        if (killpg(s->job, 0) < 0 && errno == ESRCH)
            break;
        int64_t left = give_up - util_mono_ms();
        if (left <= 0) {
            diag("process group %d still has members after KILL; recording the end anyway", (int)s->job);
            break;
        }
        wait_events(s, true, left < 20 ? (int)left : 20);
        drain_signals(s);
    }
    drain_output(s);
    diag("job ended: exit_code %d, signal %d%s%s", s->exit.exit_code, s->exit.signal,
         s->exit.canceled ? ", canceled" : "", s->exit.timed_out ? ", timed out" : "");
}

/* The lock the server took for this supervisor (COMPUTE_LOCK_FD, local runs): held for this process's
 * whole life, and kept from the job's programs, since a job that outlived it would make the run look
 * supervised. */
static void keep_supervisor_lock(const char *run_dir)
{
    char *path = compute_run_file(run_dir, COMPUTE_LOCK_FILE);
    struct stat held, file;
    if (fstat(COMPUTE_LOCK_FD, &held) == 0 && stat(path, &file) == 0 && held.st_dev == file.st_dev &&
        held.st_ino == file.st_ino)
        fcntl(COMPUTE_LOCK_FD, F_SETFD, FD_CLOEXEC);
    free(path);
}

/* A line the supervisor adds at the end of the job's log (the job has ended: nothing interleaves). */
static void append_to_log(const char *run_dir, const char *line)
{
    char *path = compute_run_file(run_dir, COMPUTE_LOG_FILE);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (util_write_all(fd, line, strlen(line)) < 0)
            diag("cannot add to the log: %s", strerror(errno));
        close(fd);
    }
    free(path);
}

/* How the job ended is recorded whatever it takes: a write that fails (a full disk) is retried with the
 * result kept here, so the run ends with the truth once space returns instead of looking lost; the log
 * then says where output may be missing, and why. */
static void write_exit_record(supervisor *s)
{
    amlfs_err err = {0};
    bool full_at_end = compute_disk_full(s->run_dir);
    int64_t first_failure = 0;
    long delay_ms = 100;
    while (compute_exit_write(s->run_dir, &s->exit, 0, &err) < 0) {
        if (!first_failure) {
            first_failure = util_now_ms();
            diag("cannot record how the job ended (%s): trying again until it can be written", err.msg);
        }
        struct timespec pause = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
    /* Full since a moment the watch saw while the job ran: the marker covers that stretch too. */
    int64_t watched = compute_disk_watch_full_since(&s->disk);
    if (first_failure || full_at_end) {
        char since[32], now[32], line[400];
        util_iso8601(watched ? watched : first_failure ? first_failure : util_now_ms(), since, sizeof since);
        util_iso8601(util_now_ms(), now, sizeof now);
        snprintf(line, sizeof line, "[amlfs] the disk holding this run was full when the job ended (%s; recorded at "
                 "%s): output the job wrote while it was full is missing above this line\n", since, now);
        append_to_log(s->run_dir, line);
        diag("recorded how the job ended after the disk was full");
    } else if (watched && compute_disk_watch_say(&s->disk) < 0) {
        diag("cannot add to the log that the disk was full while the job ran: %s", strerror(errno));
    }
}

/* AMLFS_METRICS: the file in RUN_DIR/metrics this node's job appends metric lines to, made here (so it
 * exists to be mounted into a container), named in the job's environment at the path it has everywhere:
 * the run folder is at the same path on the host, in a container and on a cluster's nodes. */
static void add_metrics_file(supervisor *s)
{
    char *dir = compute_run_file(s->run_dir, METRICS_DIR);
    const char *node = getenv("SLURM_NODEID");
    long n = node ? strtol(node, NULL, 10) : 0;
    char *path = n > 0 ? util_strdupf("%s/metrics-node%ld.jsonl", dir, n) : util_strdupf("%s/" METRICS_FILE, dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        diag("cannot make %s: %s; the job's AMLFS_METRICS cannot be written", dir, strerror(errno));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        diag("cannot make %s: %s; the job's AMLFS_METRICS cannot be written", path, strerror(errno));
    else
        close(fd);
    size_t count = 0;
    while (s->launch.env && s->launch.env[count])
        count++;
    s->launch.env = util_xrealloc(s->launch.env, (count + 2) * sizeof *s->launch.env);
    s->launch.env[count] = util_strdupf("AMLFS_METRICS=%s", path); /* last: it wins over the job's own */
    s->launch.env[count + 1] = NULL;
    free(path);
    free(dir);
}

int compute_supervise_main(const char *run_dir)
{
    keep_supervisor_lock(run_dir);
    sigset_t watched;
    int sig_rc = setup_signals(&watched);
    own_stdio(run_dir);
    supervisor s = {.run_dir = run_dir, .signal_fd = -1, .log_fd = -1};
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
        s.distributed = !s.launch.image && compute_launch_distributed(&s.launch);
        add_metrics_file(&s);
        rc = start_job(&s);
        compute_disk_watch_init(&s.disk, run_dir);
        if (s.job > 0) {
            wait_for_job(&s);
            finish_job(&s);
            write_exit_record(&s);
        }
    }
    /* An engine running this as its job (a Slurm batch step) reads the job's end from our status. */
    if (rc == 0)
        rc = s.exit.exit_code >= 0 ? s.exit.exit_code & 0xff : 128 + s.exit.signal;
    close_procs(&s);
    compute_relay_stop(&s.relay); /* a start that failed after the relay began */
    compute_rank_plan_free(&s.plan);
    if (s.log_fd >= 0)
        close(s.log_fd);
    compute_launch_free(&s.launch);
    compute_strings_free(s.container_argv);
    free(s.container_name);
    free(s.env_file);
    close(s.signal_fd);
    return rc;
}
