/* test_compute_local.c: the local compute with real processes: this binary is its own supervisor
 * (`test_compute_local supervise RUN_DIR`). Exit codes, env, cwd, cancel, KILL after grace, timeouts,
 * process groups, re-attaching after a "server crash", a lost supervisor, a log written once, ranks. */
#include "amlfs/compute.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LOST_ERROR "the run's supervisor exited without recording how the job ended"

static char self_exe[PATH_MAX];

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls cond every 20 ms until it holds or max_ms pass. */
static bool wait_until(bool (*cond)(const void *), const void *arg, int max_ms)
{
    int64_t deadline = monotonic_ms() + max_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (monotonic_ms() > deadline)
            return false;
        pause_ms(20);
    }
}

/* One run folder: DIR/work is the job's working folder. The job's first action writes its process
 * group id to DIR/job.pgid so cleanup can stop a job whose supervisor is gone. */
typedef struct fixture {
    char dir[64];
    char work[96];
    char log[96];
    char id[32];
    compute_job job;
    char *command;
} fixture;

static bool fixture_new(fixture *f, const char *id)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/amlfs-compute-test-XXXXXX");
    if (!mkdtemp(f->dir)) {
        CHECK(false, "mkdtemp: %s", strerror(errno));
        return false;
    }
    snprintf(f->work, sizeof f->work, "%s/work", f->dir);
    snprintf(f->log, sizeof f->log, "%s/log", f->dir);
    snprintf(f->id, sizeof f->id, "%s", id);
    if (mkdir(f->work, 0755) < 0) {
        CHECK(false, "mkdir %s: %s", f->work, strerror(errno));
        return false;
    }
    f->job.run_id = f->id;
    f->job.run_dir = f->dir;
    f->job.work_dir = f->work;
    f->job.cancel_grace_s = 2;
    return true;
}

/* The compute interface, one run at a time, as these cases use it. */
static int submit_one(compute *c, const compute_job *job, amlfs_err *err)
{
    char *handle = NULL;
    compute_state state;
    int rc = c->ops->submit(c, job, &handle, &state, err);
    CHECK(rc < 0 || (handle && state == COMPUTE_RUNNING), "a local run is running once submitted");
    free(handle);
    return rc;
}

static int poll_one(compute *c, const char *id, const char *dir, compute_exit *out, amlfs_err *err)
{
    compute_run run = {.run_id = id, .run_dir = dir, .handle = id};
    compute_report report;
    int rc = c->ops->poll_all(c, &run, 1, &report, err);
    if (rc < 0)
        return rc;
    if (report.state == COMPUTE_UNKNOWN)
        return amlfs_fail(err, EIO, "%s", report.detail);
    *out = report.exit;
    return (int)report.state;
}

static int cancel_one(compute *c, const char *id, const char *dir, amlfs_err *err)
{
    compute_run run = {.run_id = id, .run_dir = dir, .handle = id};
    return c->ops->cancel(c, &run, err);
}

static int start(compute *c, fixture *f, const char *command, amlfs_err *err)
{
    free(f->command);
    f->command = util_strdupf("echo $$ > '%s/job.pgid'; %s", f->dir, command);
    f->job.command = f->command;
    return submit_one(c, &f->job, err);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    if (util_read_file(path, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

static long read_number(const char *path)
{
    char *text = read_text(path);
    long n = text ? strtol(text, NULL, 10) : 0;
    free(text);
    return n;
}

static bool file_exists(const void *path)
{
    return access(path, F_OK) == 0;
}

/* The shell creates a file before it writes into it: a pid file counts once the number is there. */
static bool has_number(const void *path)
{
    return read_number(path) > 0;
}

static bool process_gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

static pid_t supervisor_pid(const fixture *f)
{
    char *path = util_strdupf("%s/supervisor.pid", f->dir);
    long pid = read_number(path);
    free(path);
    return (pid_t)pid;
}

/* Reads ppid from /proc/PID/stat (field 4, after the command name in parentheses). */
static pid_t parent_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = read_text(path);
    char *close_paren = text ? strrchr(text, ')') : NULL;
    int ppid = -1;
    if (close_paren)
        sscanf(close_paren + 1, " %*c %d", &ppid);
    free(text);
    return (pid_t)ppid;
}

/* Exists and has not exited: a zombie (not yet reaped by init) counts as gone. */
static bool process_running(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = read_text(path);
    char *close_paren = text ? strrchr(text, ')') : NULL;
    char state = 'X';
    if (close_paren)
        sscanf(close_paren + 1, " %c", &state);
    free(text);
    return state != 'Z' && state != 'X';
}

/* Stops whatever the case left running: cancel through the supervisor, else kill it and the job's
 * group directly; then removes the folder. */
static void fixture_cleanup(fixture *f)
{
    if (!f->dir[0])
        return;
    char *exit_path = util_strdupf("%s/exit.json", f->dir);
    pid_t sup = supervisor_pid(f);
    if (!file_exists(exit_path) && sup > 0 && process_running(sup) && kill(sup, SIGTERM) == 0)
        wait_until(file_exists, exit_path, 8000);
    if (!file_exists(exit_path)) {
        if (sup > 0)
            kill(sup, SIGKILL);
        char *pgid_path = util_strdupf("%s/job.pgid", f->dir);
        long pgid = read_number(pgid_path);
        if (pgid > 1)
            killpg((pid_t)pgid, SIGKILL);
        free(pgid_path);
    }
    free(exit_path);
    util_rm_rf(f->dir, NULL);
    free(f->command);
    f->command = NULL;
    f->dir[0] = '\0';
}

typedef struct poll_wait {
    compute *c;
    const fixture *f;
    compute_exit *out;
} poll_wait;

static bool has_ended(const void *arg)
{
    const poll_wait *w = arg;
    amlfs_err err = {0};
    int rc = poll_one(w->c, w->f->id, w->f->dir, w->out, &err);
    if (rc < 0)
        printf("poll error: %s\n", err.msg);
    return rc == COMPUTE_ENDED;
}

static bool wait_end(compute *c, const fixture *f, compute_exit *out, int max_ms)
{
    poll_wait w = {c, f, out};
    return wait_until(has_ended, &w, max_ms);
}

static int poll_once(compute *c, const fixture *f, compute_exit *out)
{
    amlfs_err err = {0};
    return poll_one(c, f->id, f->dir, out, &err);
}

typedef struct log_wait {
    const char *path;
    const char *needle;
} log_wait;

static bool log_contains(const void *arg)
{
    const log_wait *w = arg;
    char *text = read_text(w->path);
    bool found = text && strstr(text, w->needle);
    free(text);
    return found;
}

static bool wait_log(const fixture *f, const char *needle, int max_ms)
{
    log_wait w = {f->log, needle};
    return wait_until(log_contains, &w, max_ms);
}

static bool log_equals(const fixture *f, const char *expected)
{
    char *text = read_text(f->log);
    bool same = text && strcmp(text, expected) == 0;
    if (!same)
        printf("log of %s is [%s], expected [%s]\n", f->id, text ? text : "(none)", expected);
    free(text);
    return same;
}

static compute *new_compute(void)
{
    amlfs_err err = {0};
    compute *c = compute_local_new("local", 2, self_exe, &err);
    CHECK(c != NULL, "compute_local_new: %s", err.msg);
    return c;
}

static void test_lines_exit_zero(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "lines"))
        return;
    amlfs_err err = {0};
    int rc = start(c, &f, "echo one; echo two >&2; printf 'three\\n'", &err);
    CHECK(rc == 0, "start: %s", err.msg);
    pid_t sup = supervisor_pid(&f);
    CHECK(sup > 0, "start returned before supervisor.pid was written");
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "start() must leave no child behind");
    if (sup > 0) {
        CHECK(getsid(sup) != getsid(0), "the supervisor must be in its own session");
        CHECK(getpgid(sup) != getpgrp(), "the supervisor must not be in the server's process group");
        pid_t ppid = parent_of(sup);
        CHECK(ppid != getpid() || process_gone(sup), "the supervisor must not be the server's child");
    }
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000), "job did not end");
    CHECK(ex.exit_code == 0 && ex.signal == 0 && !ex.canceled && !ex.timed_out && !ex.error[0],
          "exit %d signal %d canceled %d timed_out %d error [%s]", ex.exit_code, ex.signal, ex.canceled,
          ex.timed_out, ex.error);
    CHECK(log_equals(&f, "one\ntwo\nthree\n"), "stdout and stderr both reach the log, in order");
    amlfs_err cerr = {0};
    CHECK(cancel_one(c, f.id, f.dir, &cerr) == 0, "cancel after the end is a no-op: %s", cerr.msg);
    CHECK(poll_once(c, &f, &ex) == COMPUTE_ENDED && ex.exit_code == 0, "still ended with 0");
    fixture_cleanup(&f);
}

static void test_exit_code(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "exit3"))
        return;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo failing; exit 3", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000), "job did not end");
    CHECK(ex.exit_code == 3 && ex.signal == 0 && !ex.error[0], "exit %d signal %d error [%s]",
          ex.exit_code, ex.signal, ex.error);
    fixture_cleanup(&f);
}

static void test_env(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "env"))
        return;
    setenv("AMLFS_TEST_OUTER", "outer", 1);
    setenv("AMLFS_TEST_OVERRIDE", "outer", 1);
    const char *env[] = {"AMLFS_TEST_A=hello world", "AMLFS_TEST_OVERRIDE=inner", "AMLFS_TEST_TWICE=first",
                         "AMLFS_TEST_TWICE=second", "AMLFS_TEST_EQ=a=b", NULL};
    f.job.env = env;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo \"$AMLFS_TEST_A|$AMLFS_TEST_OVERRIDE|$AMLFS_TEST_TWICE|$AMLFS_TEST_EQ|"
                       "$AMLFS_TEST_OUTER\"", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0, "job did not end with 0: %d", ex.exit_code);
    CHECK(log_equals(&f, "hello world|inner|second|a=b|outer\n"), "run env on top of the server's");
    char *launch = util_strdupf("%s/launch.json", f.dir);
    struct stat st;
    CHECK(stat(launch, &st) == 0 && (st.st_mode & 0777) == 0600, "launch.json holds env: mode 0600, not %o",
          st.st_mode & 0777);
    free(launch);
    unsetenv("AMLFS_TEST_OUTER");
    unsetenv("AMLFS_TEST_OVERRIDE");

    const char *bad_env[] = {"NOEQUALS", NULL};
    f.job.env = bad_env;
    CHECK(start(c, &f, "true", &err) == -EINVAL && strstr(err.msg, "NOEQUALS"), "bad env entry: %s",
          err.msg);
    fixture_cleanup(&f);
}

static void test_cwd(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "cwd"))
        return;
    amlfs_err err = {0};
    CHECK(start(c, &f, "pwd -P", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0, "job did not end with 0");
    char real[PATH_MAX];
    if (realpath(f.work, real)) {
        char *expected = util_strdupf("%s\n", real);
        CHECK(log_equals(&f, expected), "cwd is the work folder");
        free(expected);

        /* Relative run and work folders are taken relative to the caller's working folder. */
        char old_cwd[PATH_MAX];
        const char *base = strrchr(f.dir, '/') + 1;
        char *rel_work = util_strdupf("%s/work", base);
        if (getcwd(old_cwd, sizeof old_cwd) && chdir("/tmp") == 0) {
            compute_job relative = f.job;
            relative.run_dir = base;
            relative.work_dir = rel_work;
            relative.command = "pwd -P";
            CHECK(submit_one(c, &relative, &err) == 0, "start with relative folders: %s", err.msg);
            CHECK(chdir(old_cwd) == 0, "back to %s", old_cwd);
            expected = util_strdupf("%s\n%s\n", real, real);
            CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0 && log_equals(&f, expected),
                  "relative folders: exit %d [%s]", ex.exit_code, ex.error);
            free(expected);
        }
        free(rel_work);
    }
    fixture_cleanup(&f);
}

/* A server typically ignores SIGPIPE and may block signals in its threads; none of that, and none of
 * its open files, may reach the job. The masks are read by the job's own process after exec:
 * dash blocks every signal around each fork, so reading the shell's status from a child races. */
static void test_job_process_state(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "procstate"))
        return;
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_pipe, old_term;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_pipe);
    sigaction(SIGTERM, &ignore, &old_term);
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old_mask);
    amlfs_err err = {0};
    CHECK(start(c, &f, "ls /proc/$$/fd; exec grep -E '^Sig(Blk|Ign)' /proc/self/status", &err) == 0, "start: %s",
          err.msg);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0, "job did not end with 0");
    CHECK(log_equals(&f, "0\n1\n2\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"),
          "the job gets stdio only, no blocked or ignored signals");
    fixture_cleanup(&f);
}

static void test_cancel(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "cancel"))
        return;
    f.job.cancel_grace_s = 5;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo ready; sleep 100", &err) == 0, "start: %s", err.msg);
    CHECK(wait_log(&f, "ready", 10000), "job never printed ready");
    compute_exit ex;
    pid_t sup = supervisor_pid(&f);
    /* The server dying hangs up nothing, but a SIGHUP must not end the run either. */
    CHECK(sup > 0 && kill(sup, SIGHUP) == 0, "SIGHUP to supervisor %d", (int)sup);
    pause_ms(100); /* give a wrongly-handled SIGHUP time to do damage before checking it did none */
    CHECK(poll_once(c, &f, &ex) == COMPUTE_RUNNING, "SIGHUP ended the run");
    int64_t t0 = monotonic_ms();
    CHECK(cancel_one(c, f.id, f.dir, &err) == 0, "cancel: %s", err.msg);
    CHECK(wait_end(c, &f, &ex, 10000), "canceled job did not end");
    int64_t took = monotonic_ms() - t0;
    CHECK(ex.canceled && !ex.timed_out && ex.exit_code == -1 && ex.signal == SIGTERM,
          "canceled %d timed_out %d exit %d signal %d", ex.canceled, ex.timed_out, ex.exit_code, ex.signal);
    CHECK(took < 5000, "TERM should end sleep well within the 5 s grace, took %lld ms", (long long)took);
    fixture_cleanup(&f);
}

static void test_cancel_kill_after_grace(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "trapterm"))
        return;
    f.job.cancel_grace_s = 1;
    amlfs_err err = {0};
    CHECK(start(c, &f, "trap '' TERM; echo ready; sleep 100", &err) == 0, "start: %s", err.msg);
    CHECK(wait_log(&f, "ready", 10000), "job never printed ready");
    int64_t t0 = monotonic_ms();
    CHECK(cancel_one(c, f.id, f.dir, &err) == 0, "cancel: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000), "job ignoring TERM was not killed");
    int64_t took = monotonic_ms() - t0;
    CHECK(ex.canceled && ex.exit_code == -1 && ex.signal == SIGKILL, "canceled %d exit %d signal %d",
          ex.canceled, ex.exit_code, ex.signal);
    CHECK(took >= 900 && took < 4000, "KILL should come after the 1 s grace, came after %lld ms",
          (long long)took);
    fixture_cleanup(&f);
}

static void check_background_gone(const fixture *f, const char *when)
{
    char *path = util_strdupf("%s/bg.pid", f->work);
    pid_t bg = (pid_t)read_number(path);
    free(path);
    CHECK(bg > 0, "%s: no bg.pid", when);
    if (bg > 0) {
        CHECK(process_gone(bg), "%s: background process %d of the job survived", when, (int)bg);
        kill(bg, SIGKILL);
    }
}

static void test_group_killed(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "group-leftover"))
        return;
    amlfs_err err = {0};
    /* The main process exits at once; its background child must not outlive the run. */
    CHECK(start(c, &f, "sleep 100 & echo $! > bg.pid; echo started", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0, "job did not end with 0: %d", ex.exit_code);
    check_background_gone(&f, "after the main process exited");
    fixture_cleanup(&f);

    if (!fixture_new(&f, "group-cancel"))
        return;
    CHECK(start(c, &f, "sleep 100 & echo $! > bg.pid; wait", &err) == 0, "start: %s", err.msg);
    char *bg_path = util_strdupf("%s/bg.pid", f.work);
    CHECK(wait_until(has_number, bg_path, 10000), "bg.pid never written");
    free(bg_path);
    CHECK(cancel_one(c, f.id, f.dir, &err) == 0, "cancel: %s", err.msg);
    CHECK(wait_end(c, &f, &ex, 10000) && ex.canceled, "canceled job did not end");
    check_background_gone(&f, "after cancel");
    fixture_cleanup(&f);
}

static void test_timeout(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "timeout"))
        return;
    f.job.timeout_s = 1;
    f.job.cancel_grace_s = 1;
    amlfs_err err = {0};
    int64_t t0 = monotonic_ms();
    CHECK(start(c, &f, "sleep 100", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000), "job past its timeout did not end");
    int64_t took = monotonic_ms() - t0;
    CHECK(ex.timed_out && !ex.canceled && ex.signal == SIGTERM, "timed_out %d canceled %d signal %d",
          ex.timed_out, ex.canceled, ex.signal);
    CHECK(took >= 900 && took < 4000, "1 s timeout took %lld ms", (long long)took);
    fixture_cleanup(&f);
}

static void test_reattach_after_server_crash(void)
{
    fixture f;
    if (!fixture_new(&f, "reattach"))
        return;
    compute *first = new_compute();
    if (!first) {
        fixture_cleanup(&f);
        return;
    }
    amlfs_err err = {0};
    CHECK(start(first, &f, "echo waiting; while [ ! -e go ]; do sleep 0.02; done; echo finished", &err) == 0,
          "start: %s", err.msg);
    compute_destroy(first); /* the server's memory of the run is gone */
    compute *second = new_compute();
    if (!second) {
        fixture_cleanup(&f);
        return;
    }
    compute_exit ex;
    CHECK(poll_once(second, &f, &ex) == COMPUTE_RUNNING, "a new compute must see the run still running");
    char *go = util_strdupf("%s/go", f.work);
    CHECK(util_write_file_atomic(go, "", 0, 0644, &err) == 0, "write go: %s", err.msg);
    free(go);
    CHECK(wait_end(second, &f, &ex, 10000), "re-attached run did not end");
    CHECK(ex.exit_code == 0 && !ex.error[0], "exit %d error [%s]", ex.exit_code, ex.error);
    CHECK(log_equals(&f, "waiting\nfinished\n"), "log across the re-attach");
    compute_destroy(second);
    fixture_cleanup(&f);
}

static void test_supervisor_lost(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "lost"))
        return;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo ready; sleep 100", &err) == 0, "start: %s", err.msg);
    CHECK(wait_log(&f, "ready", 10000), "job never printed ready");
    compute_exit ex;
    CHECK(poll_once(c, &f, &ex) == COMPUTE_RUNNING, "running before the supervisor is killed");
    pid_t sup = supervisor_pid(&f);
    CHECK(sup > 0 && kill(sup, SIGKILL) == 0, "kill -9 supervisor %d", (int)sup);
    CHECK(wait_end(c, &f, &ex, 10000), "a run whose supervisor died must end");
    CHECK(ex.exit_code == -1 && strcmp(ex.error, LOST_ERROR) == 0, "exit %d error [%s]", ex.exit_code,
          ex.error);
    CHECK(cancel_one(c, f.id, f.dir, &err) == 0, "cancel of a lost run: %s", err.msg);
    fixture_cleanup(&f); /* kills the orphaned job through job.pgid */
}

static bool log_has_lines(const void *arg)
{
    const fixture *f = arg;
    char *text = read_text(f->log);
    int lines = 0;
    for (const char *p = text; p && *p; p++)
        lines += *p == '\n';
    free(text);
    return lines >= 50;
}

static bool server_ready_or_gone(const void *arg)
{
    const fixture *f = arg;
    return supervisor_pid(f) > 0 || file_exists(f->dir) == false;
}

/* The e2e scenario in small: a forked "server" (its own process group) starts a job printing 200 lines,
 * is killed with -9 together with its whole group mid-run, and a fresh compute in this process
 * re-attaches; the log must hold every line exactly once. */
static void test_log_exactly_once(void)
{
    fixture f;
    if (!fixture_new(&f, "once"))
        return;
    fflush(stdout);
    pid_t server = fork();
    if (server == 0) {
        setpgid(0, 0);
        amlfs_err err = {0};
        compute *c = compute_local_new("local", 1, self_exe, &err);
        if (!c || start(c, &f, "i=1; while [ $i -le 200 ]; do echo \"line $i\"; i=$((i+1)); sleep 0.01; done",
                        &err) < 0) {
            fprintf(stderr, "server child: %s\n", err.msg);
            _exit(1);
        }
        for (;;)
            pause();
    }
    CHECK(server > 0, "fork: %s", strerror(errno));
    if (server < 0) {
        fixture_cleanup(&f);
        return;
    }
    setpgid(server, server);
    CHECK(wait_until(server_ready_or_gone, &f, 10000) && supervisor_pid(&f) > 0, "the job never started");
    CHECK(wait_until(log_has_lines, &f, 10000), "no 50 lines yet");
    CHECK(killpg(server, SIGKILL) == 0, "kill -9 the server's process group: %s", strerror(errno));
    while (waitpid(server, NULL, 0) < 0 && errno == EINTR)
        ;
    compute *after = new_compute();
    compute_exit ex;
    CHECK(after && poll_once(after, &f, &ex) == COMPUTE_RUNNING, "the run must survive the server");
    CHECK(after && wait_end(after, &f, &ex, 30000) && ex.exit_code == 0 && !ex.error[0],
          "job did not end with 0: %d [%s]", ex.exit_code, ex.error);
    char *text = read_text(f.log);
    int line = 0;
    bool in_order = text != NULL;
    for (char *save = NULL, *tok = text ? strtok_r(text, "\n", &save) : NULL; tok;
         tok = strtok_r(NULL, "\n", &save)) {
        char expected[32];
        snprintf(expected, sizeof expected, "line %d", ++line);
        if (strcmp(tok, expected) != 0)
            in_order = false;
    }
    CHECK(in_order && line == 200, "log must hold lines 1..200 once each; %d lines, in order %d", line,
          in_order);
    free(text);
    compute_destroy(after);
    fixture_cleanup(&f);
}

static void test_start_failures(compute *c)
{
    fixture f;
    if (!fixture_new(&f, "badwork"))
        return;
    amlfs_err err = {0};
    compute_container no_podman = {.image = "localhost/busybox:test"}; /* a container run needs podman's command */
    f.job.container = &no_podman;
    CHECK(start(c, &f, "true", &err) == -EINVAL && strstr(err.msg, "no podman command"), "image: %s", err.msg);
    f.job.container = NULL;

    char *missing = util_strdupf("%s/no-such-folder", f.dir);
    f.job.work_dir = missing;
    int rc = start(c, &f, "true", &err);
    CHECK(rc == -ENOENT && strstr(err.msg, "working folder") && strstr(err.msg, "no-such-folder"),
          "missing work dir: rc %d: %s", rc, err.msg);
    compute_exit ex;
    CHECK(poll_once(c, &f, &ex) == COMPUTE_ENDED && ex.exit_code == 127 && ex.error[0],
          "a failed start polls as ended: %d [%s]", ex.exit_code, ex.error);
    f.job.work_dir = f.work;
    free(missing);
    fixture_cleanup(&f);

    /* Nothing was ever started here: the run is lost, not running forever. */
    if (!fixture_new(&f, "never"))
        return;
    CHECK(poll_once(c, &f, &ex) == COMPUTE_ENDED && strcmp(ex.error, LOST_ERROR) == 0, "empty run dir: [%s]",
          ex.error);
    fixture_cleanup(&f);

    CHECK(compute_local_new("local", 1, "/nonexistent/amlfs-server", &err) == NULL && err.code == ENOENT,
          "missing server program: %s", err.msg);
    CHECK(compute_local_new("local", 0, self_exe, &err) == NULL && err.code == EINVAL, "max_instances 0");
}

/* Distributed runs: the variables distribution launchers read come from this process's environment
 * (the supervisor inherits it), so every case starts from none of them set. */
static const char *const rank_env_knobs[] = {"SLURM_NODEID", "SLURM_JOB_ID", "AMLFS_MASTER_ADDR",
                                             "AMLFS_MASTER_PORT", "AMLFS_NODE_HOSTS", NULL};

static void clear_rank_knobs(void)
{
    for (size_t i = 0; rank_env_knobs[i]; i++)
        unsetenv(rank_env_knobs[i]);
}

static bool ranks_fixture(fixture *f, const char *id, const char *distribution, int nodes, int per_node)
{
    clear_rank_knobs();
    if (!fixture_new(f, id))
        return false;
    f->job.ranks = (compute_ranks){.distribution = distribution, .nodes = nodes, .per_node = per_node};
    return true;
}

static char *raw_log(const fixture *f, int rank)
{
    char *path = util_strdupf("%s/logs/std_log_process_%d.txt", f->work, rank);
    char *text = read_text(path);
    free(path);
    return text;
}

/* The lines of the log that start "[rank N] ", without the prefix, each newline-ended, in order;
 * *unprefixed counts lines that start with no rank prefix at all. */
static char *rank_lines(const char *log, int rank, int *unprefixed)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "[rank %d] ", rank);
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    if (unprefixed)
        *unprefixed = 0;
    for (const char *line = log; mem && line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n >= (size_t)plen && memcmp(line, prefix, (size_t)plen) == 0)
            fprintf(mem, "%.*s\n", (int)(n - (size_t)plen), line + plen);
        else if (unprefixed && strncmp(line, "[rank ", 6) != 0)
            (*unprefixed)++;
        line = nl ? nl + 1 : NULL;
    }
    if (mem)
        fclose(mem);
    return out;
}

static bool ended_ok(compute *c, const fixture *f, compute_exit *ex)
{
    bool ended = wait_end(c, f, ex, 10000);
    CHECK(ended && ex->exit_code == 0 && ex->signal == 0 && !ex->error[0] && !ex->canceled,
          "%s: ended %d, exit %d signal %d error [%s]", f->id, ended, ex->exit_code, ex->signal, ex->error);
    return ended;
}

/* Two ranks on one node: one process group, each rank's lines prefixed in the log and unprefixed in
 * its std_log_process_N.txt, torch env:// variables set. */
static void test_ranks_pytorch(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-pytorch", "pytorch", 1, 2))
        return;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT $LOCAL_WORLD_SIZE "
                       "$NODE_RANK\"; echo \"pgid $(cut -d' ' -f5 /proc/$$/stat)\"", &err) == 0,
          "start: %s", err.msg);
    compute_exit ex;
    ended_ok(c, &f, &ex);
    char *log = read_text(f.log);
    int unprefixed = 0;
    char *lines[2] = {rank_lines(log, 0, &unprefixed), rank_lines(log, 1, NULL)};
    int port = 0;
    CHECK(lines[0] && sscanf(lines[0], "0 2 0 127.0.0.1 %d 2 0\n", &port) == 1 && port > 0 && port < 65536,
          "rank 0's variables: [%s]", lines[0] ? lines[0] : "(none)");
    CHECK(unprefixed == 0, "%d log lines without a rank prefix: [%s]", unprefixed, log ? log : "");
    long pgid[2] = {0, 0};
    for (int r = 0; r < 2; r++) {
        char expected[128];
        snprintf(expected, sizeof expected, "%d 2 %d 127.0.0.1 %d 2 0\npgid ", r, r, port);
        CHECK(lines[r] && strncmp(lines[r], expected, strlen(expected)) == 0, "rank %d's log lines [%s]", r,
              lines[r] ? lines[r] : "(none)");
        const char *p = lines[r] ? strstr(lines[r], "pgid ") : NULL;
        pgid[r] = p ? strtol(p + 5, NULL, 10) : 0;
        char *raw = raw_log(&f, r);
        CHECK(raw && lines[r] && strcmp(raw, lines[r]) == 0, "std_log_process_%d.txt holds [%s], log [%s]", r,
              raw ? raw : "(none)", lines[r] ? lines[r] : "(none)");
        free(raw);
    }
    CHECK(pgid[0] > 1 && pgid[0] == pgid[1], "both ranks in one process group: %ld %ld", pgid[0], pgid[1]);
    free(lines[0]);
    free(lines[1]);
    free(log);
    fixture_cleanup(&f);
}

static void test_ranks_mpi(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-mpi", "mpi", 1, 2))
        return;
    setenv("AMLFS_MASTER_PORT", "29511", 1);
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo \"$OMPI_COMM_WORLD_RANK $OMPI_COMM_WORLD_SIZE $OMPI_COMM_WORLD_LOCAL_RANK "
                       "$OMPI_COMM_WORLD_LOCAL_SIZE $OMPI_COMM_WORLD_NODE_RANK $PMI_RANK $PMI_SIZE "
                       "$PMIX_RANK $MASTER_PORT\"", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    ended_ok(c, &f, &ex);
    CHECK(wait_log(&f, "[rank 0] 0 2 0 2 0 0 2 0 29511\n", 0) &&
          wait_log(&f, "[rank 1] 1 2 1 2 0 1 2 1 29511\n", 0),
          "Open MPI and PMI variables, AMLFS_MASTER_PORT");
    clear_rank_knobs();
    fixture_cleanup(&f);
}

/* TF_CONFIG of `rank`, read from its raw log: "MASTER_PORT\nTF_CONFIG\n". */
static void check_tf_config(const fixture *f, int rank, int world, const char *const *hosts, int per_node)
{
    char *raw = raw_log(f, rank);
    int port = raw ? atoi(raw) : 0;
    const char *nl = raw ? strchr(raw, '\n') : NULL;
    cJSON *config = nl ? cJSON_Parse(nl + 1) : NULL;
    const cJSON *cluster = cJSON_GetObjectItemCaseSensitive(config, "cluster");
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(cluster, "worker");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(config, "task");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(task, "type");
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(task, "index");
    CHECK(port > 0 && cJSON_IsArray(workers) && cJSON_GetArraySize(workers) == world &&
          cJSON_IsString(type) && strcmp(type->valuestring, "worker") == 0 && cJSON_IsNumber(index) &&
          index->valueint == rank,
          "rank %d's TF_CONFIG: [%s]", rank, raw ? raw : "(none)");
    for (int i = 0; cJSON_IsArray(workers) && i < cJSON_GetArraySize(workers); i++) {
        const cJSON *w = cJSON_GetArrayItem(workers, i);
        char expected[128];
        snprintf(expected, sizeof expected, "%s:%d", hosts[i / per_node], port + 1 + i % per_node);
        CHECK(cJSON_IsString(w) && strcmp(w->valuestring, expected) == 0, "rank %d's worker %d is %s, not %s",
              rank, i, cJSON_IsString(w) ? w->valuestring : "?", expected);
    }
    cJSON_Delete(config);
    free(raw);
}

static void test_ranks_tensorflow(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-tf", "tensorflow", 1, 2))
        return;
    amlfs_err err = {0};
    const char *tf_command = "echo \"$MASTER_PORT\"; printf '%s\\n' \"$TF_CONFIG\"";
    CHECK(start(c, &f, tf_command, &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    ended_ok(c, &f, &ex);
    const char *local[] = {"127.0.0.1"};
    check_tf_config(&f, 0, 2, local, 2);
    check_tf_config(&f, 1, 2, local, 2);
    fixture_cleanup(&f);

    /* Node 1 of a 2-node Slurm job: ranks 2 and 3, the port every node derives from the job id, the
     * hosts given. */
    if (!ranks_fixture(&f, "ranks-slurm", "tensorflow", 2, 2))
        return;
    setenv("SLURM_NODEID", "1", 1);
    setenv("SLURM_JOB_ID", "123456", 1);
    setenv("AMLFS_MASTER_ADDR", "node-a", 1);
    setenv("AMLFS_NODE_HOSTS", "node-a,node-b", 1);
    CHECK(start(c, &f, tf_command, &err) == 0, "start: %s", err.msg);
    ended_ok(c, &f, &ex);
    CHECK(wait_log(&f, "[rank 2] 23456\n", 0) && wait_log(&f, "[rank 3] 23456\n", 0),
          "MASTER_PORT from SLURM_JOB_ID, ranks 2 and 3");
    const char *hosts[] = {"node-a", "node-b"};
    check_tf_config(&f, 2, 4, hosts, 2);
    check_tf_config(&f, 3, 4, hosts, 2);
    char *raw0 = raw_log(&f, 0);
    CHECK(raw0 == NULL, "node 1 starts no rank 0");
    free(raw0);
    clear_rank_knobs();
    fixture_cleanup(&f);
}

/* One rank failing stops the others at once; the run's exit is that rank's. */
static void test_ranks_one_fails(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-fail", "pytorch", 1, 2))
        return;
    amlfs_err err = {0};
    int64_t t0 = monotonic_ms();
    /* Rank 1 fails once rank 0 has said its pid: a rank stopped before it wrote it named no group. */
    CHECK(start(c, &f,
                "echo $$ > rank$RANK.pid; if [ \"$RANK\" = 1 ]; then while [ ! -s rank0.pid ]; do sleep 0.01; done; "
                "exit 3; fi; sleep 60",
                &err) == 0,
          "start: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 20000), "run with a failed rank did not end");
    int64_t took = monotonic_ms() - t0;
    CHECK(ex.exit_code == 3 && ex.signal == 0 && !ex.canceled && !ex.timed_out &&
          strcmp(ex.error, "rank 1 of 2 exited with code 3") == 0, "exit %d signal %d canceled %d error [%s]",
          ex.exit_code, ex.signal, ex.canceled, ex.error);
    CHECK(took < 10000, "the other rank should be stopped at once, the run took %lld ms", (long long)took);
    char *path = util_strdupf("%s/rank0.pid", f.work);
    pid_t leader = (pid_t)read_number(path);
    free(path);
    CHECK(leader > 1 && killpg(leader, 0) < 0 && errno == ESRCH, "rank 0's group %d is gone", (int)leader);
    fixture_cleanup(&f);

    /* The group's leader killed by a signal, the other rank still running. */
    if (!ranks_fixture(&f, "ranks-killed", NULL, 1, 3))
        return;
    CHECK(start(c, &f, "if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; sleep 60", &err) == 0, "start: %s",
          err.msg);
    CHECK(wait_end(c, &f, &ex, 20000), "run with a killed leader did not end");
    CHECK(ex.exit_code == -1 && ex.signal == SIGKILL &&
          strstr(ex.error, "rank 0 of 3 was killed by signal 9"), "exit %d signal %d error [%s]",
          ex.exit_code, ex.signal, ex.error);
    fixture_cleanup(&f);
}

static void test_ranks_cancel(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-cancel", "pytorch", 1, 2))
        return;
    f.job.cancel_grace_s = 5;
    amlfs_err err = {0};
    CHECK(start(c, &f, "echo ready; sleep 100", &err) == 0, "start: %s", err.msg);
    CHECK(wait_log(&f, "[rank 0] ready", 10000) && wait_log(&f, "[rank 1] ready", 10000),
          "ranks never ready");
    int64_t t0 = monotonic_ms();
    CHECK(cancel_one(c, f.id, f.dir, &err) == 0, "cancel: %s", err.msg);
    compute_exit ex;
    CHECK(wait_end(c, &f, &ex, 10000), "canceled ranks did not end");
    int64_t took = monotonic_ms() - t0;
    CHECK(ex.canceled && ex.exit_code == -1 && ex.signal == SIGTERM && !ex.error[0],
          "canceled %d exit %d signal %d error [%s]", ex.canceled, ex.exit_code, ex.signal, ex.error);
    CHECK(took < 5000, "TERM should end both ranks well within the grace, took %lld ms", (long long)took);
    fixture_cleanup(&f);
}

static void append_repeated(char **buf, size_t *len, char c, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    if (!*buf)
        abort();
    memset(*buf + *len, c, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void append_text(char **buf, size_t *len, const char *text)
{
    size_t n = strlen(text);
    *buf = realloc(*buf, *len + n + 1);
    if (!*buf)
        abort();
    memcpy(*buf + *len, text, n + 1);
    *len += n;
}

/* A line longer than the 64 KiB bound goes into the log in pieces (one exactly 64 KiB long gets no
 * empty line after it), a last line without newline at EOF; the raw logs keep every byte as it came. */
static void test_ranks_long_lines(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-long", NULL, 1, 2))
        return;
    amlfs_err err = {0};
    CHECK(start(c, &f, "if [ \"$RANK\" = 1 ]; then printf 'start\\n'; head -c 150000 /dev/zero | "
                       "tr '\\0' x; printf 'tail\\n'; else head -c 65536 /dev/zero | tr '\\0' y; echo; "
                       "printf partial; fi", &err) == 0, "start: %s", err.msg);
    compute_exit ex;
    ended_ok(c, &f, &ex);
    char *raw[2] = {NULL, NULL}, *pieces[2] = {NULL, NULL};
    size_t raw_len[2] = {0, 0}, pieces_len[2] = {0, 0};
    append_repeated(&raw[0], &raw_len[0], 'y', 65536);
    append_text(&raw[0], &raw_len[0], "\npartial");
    append_repeated(&pieces[0], &pieces_len[0], 'y', 65536);
    append_text(&pieces[0], &pieces_len[0], "\npartial\n");
    append_text(&raw[1], &raw_len[1], "start\n");
    append_repeated(&raw[1], &raw_len[1], 'x', 150000);
    append_text(&raw[1], &raw_len[1], "tail\n");
    append_text(&pieces[1], &pieces_len[1], "start\n");
    append_repeated(&pieces[1], &pieces_len[1], 'x', 65536);
    append_text(&pieces[1], &pieces_len[1], "\n");
    append_repeated(&pieces[1], &pieces_len[1], 'x', 65536);
    append_text(&pieces[1], &pieces_len[1], "\n");
    append_repeated(&pieces[1], &pieces_len[1], 'x', 150000 - 2 * 65536);
    append_text(&pieces[1], &pieces_len[1], "tail\n");
    char *log = read_text(f.log);
    for (int r = 0; r < 2; r++) {
        int unprefixed = 0;
        char *lines = rank_lines(log, r, &unprefixed);
        CHECK(lines && strcmp(lines, pieces[r]) == 0 && unprefixed == 0,
              "rank %d's log lines: %zu bytes, expected %zu; %d unprefixed", r, lines ? strlen(lines) : 0,
              pieces_len[r], unprefixed);
        char *got = raw_log(&f, r);
        CHECK(got && strcmp(got, raw[r]) == 0, "std_log_process_%d.txt: %zu bytes, expected %zu", r,
              got ? strlen(got) : 0, raw_len[r]);
        free(got);
        free(lines);
        free(raw[r]);
        free(pieces[r]);
    }
    free(log);
    fixture_cleanup(&f);
}

static void test_ranks_start_failures(compute *c)
{
    fixture f;
    if (!ranks_fixture(&f, "ranks-refused", "pytorch", 1, 2))
        return;
    amlfs_err err = {0};
    const char *podman[] = {"/bin/false", NULL};
    compute_container container = {.image = "localhost/busybox:test", .podman = podman};
    f.job.container = &container;
    int rc = start(c, &f, "true", &err);
    CHECK(rc < 0 && strstr(err.msg, "distributed runs (2 ranks) in a container image are not supported yet"),
          "ranks in a container: %d %s", rc, err.msg);
    f.job.container = NULL;

    f.job.ranks.distribution = "ray";
    rc = start(c, &f, "true", &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "'ray'"), "unknown distribution: %d %s", rc, err.msg);
    f.job.ranks.distribution = "pytorch";

    setenv("SLURM_NODEID", "2", 1);
    f.job.ranks.nodes = 2;
    rc = start(c, &f, "true", &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "SLURM_NODEID is 2"), "node rank outside the run: %d %s", rc,
          err.msg);
    unsetenv("SLURM_NODEID");

    setenv("AMLFS_MASTER_PORT", "70000", 1);
    rc = start(c, &f, "true", &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "AMLFS_MASTER_PORT"), "bad port: %d %s", rc, err.msg);
    clear_rank_knobs();
    fixture_cleanup(&f);
}

/* The job's first output is its own clock reading, so the delay from start() to the first log byte
 * is read off the log itself (same CLOCK_REALTIME; `date` adds about a millisecond). */
static void measure_first_byte(compute *c)
{
    const int rounds = 5;
    double worst_start = 0, worst_first = 0, sum_first = 0;
    for (int i = 0; i < rounds; i++) {
        fixture f;
        if (!fixture_new(&f, "first-byte"))
            return;
        amlfs_err err = {0};
        struct timespec called, returned;
        clock_gettime(CLOCK_REALTIME, &called);
        CHECK(start(c, &f, "date +%s%N", &err) == 0, "start: %s", err.msg);
        clock_gettime(CLOCK_REALTIME, &returned);
        compute_exit ex;
        CHECK(wait_end(c, &f, &ex, 10000) && ex.exit_code == 0, "job did not end with 0");
        char *text = read_text(f.log);
        long long job_ns = text ? strtoll(text, NULL, 10) : 0;
        free(text);
        CHECK(job_ns > 0, "no timestamp in the log");
        long long called_ns = (long long)called.tv_sec * 1000000000LL + called.tv_nsec;
        long long returned_ns = (long long)returned.tv_sec * 1000000000LL + returned.tv_nsec;
        double start_ms = (returned_ns - called_ns) / 1e6, first_ms = (job_ns - called_ns) / 1e6;
        worst_start = start_ms > worst_start ? start_ms : worst_start;
        worst_first = first_ms > worst_first ? first_ms : worst_first;
        sum_first += first_ms;
        fixture_cleanup(&f);
    }
    fprintf(stderr, "measured over %d runs: first log byte %.1f ms after start() was called (mean), "
            "%.1f ms worst; start() returned after %.1f ms at worst\n", rounds, sum_first / rounds,
            worst_first, worst_start);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "supervise") == 0)
        return compute_supervise_main(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0) {
        printf("cannot resolve /proc/self/exe: %s\n0 passed, 1 failed\n", strerror(errno));
        return 1;
    }
    self_exe[n] = '\0';
    setvbuf(stdout, NULL, _IOLBF, 0);

    compute *c = new_compute();
    if (c) {
        test_lines_exit_zero(c);
        test_exit_code(c);
        test_env(c);
        test_cwd(c);
        test_job_process_state(c);
        test_cancel(c);
        test_cancel_kill_after_grace(c);
        test_group_killed(c);
        test_timeout(c);
        test_supervisor_lost(c);
        test_start_failures(c);
        test_ranks_pytorch(c);
        test_ranks_mpi(c);
        test_ranks_tensorflow(c);
        test_ranks_one_fails(c);
        test_ranks_cancel(c);
        test_ranks_long_lines(c);
        test_ranks_start_failures(c);
        measure_first_byte(c);
        compute_destroy(c);
    }
    test_reattach_after_server_crash();
    test_log_exactly_once();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
