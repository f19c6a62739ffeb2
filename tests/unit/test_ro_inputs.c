/* test_ro_inputs.c: compute_protect_inputs: in a forked child (its namespace ends with it), a write into
 * RUN_DIR/inputs fails with EROFS while work/ stays writable, as root and as an unprivileged user. */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { CHILD_OK = 0, CHILD_PROTECT_FAILED = 10, CHILD_INPUT_WRITABLE, CHILD_WORK_READ_ONLY, CHILD_SETUID };

/* In the child: become uid (unless 0), protect, then try both folders. */
static int child(const char *run, uid_t uid)
{
    /* Dumpable again, as after the exec of a server run by that user: /proc/self is then its own. */
    if (uid && (setgid(uid) < 0 || setuid(uid) < 0 || prctl(PR_SET_DUMPABLE, 1) < 0))
        return CHILD_SETUID;
    char *work = util_strdupf("%s/work", run), *in = util_strdupf("%s/inputs/x.txt", run),
         *out = util_strdupf("%s/work/y.txt", run);
    amlfs_err err = {0};
    if (compute_protect_inputs(work, &err) < 0) {
        printf("    protect: %s\n", err.msg);
        fflush(stdout);
        return CHILD_PROTECT_FAILED;
    }
    int fd = open(in, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0 || errno != EROFS)
        return CHILD_INPUT_WRITABLE;
    fd = open(out, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        return CHILD_WORK_READ_ONLY;
    close(fd);
    return CHILD_OK;
}

static void check_as(uid_t uid, const char *who)
{
    char run[] = "/tmp/amlfs-ro-XXXXXX";
    if (!mkdtemp(run)) {
        CHECK(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *work = util_strdupf("%s/work", run), *inputs = util_strdupf("%s/inputs", run);
    bool made = chmod(run, 0755) == 0 && mkdir(work, 0755) == 0 && mkdir(inputs, 0755) == 0 &&
                (!uid || (chown(work, uid, uid) == 0 && chown(inputs, uid, uid) == 0));
    CHECK(made, "setting up %s: %s", run, strerror(errno));
    fflush(stdout);
    pid_t pid = made ? fork() : -1;
    if (pid == 0)
        _exit(child(run, uid));
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(code == CHILD_OK, "%s: child ended with %d (10 protect failed, 11 input writable, 12 work read-only, "
          "13 setuid)", who, code);
    /* Outside the child's namespace nothing changed: inputs/ is writable here. */
    char *probe = util_strdupf("%s/probe", inputs);
    int fd = open(probe, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0, "%s: inputs/ became read-only outside the job: %s", who, strerror(errno));
    if (fd >= 0)
        close(fd);
    amlfs_err ignored = {0};
    util_rm_rf(run, &ignored);
    free(probe);
    free(work);
    free(inputs);
}

int main(void)
{
    if (geteuid() != 0) {
        check_as(0, "this user"); /* uid 0 means "stay as is" in check_as */
    } else {
        check_as(0, "root");
        check_as(65534, "an unprivileged user (a user namespace)");
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
