/* launch.c: finding the workspace server a mount talks to: connect to the one given, or to the user's
 * local socket, starting `amlfs-server --data-dir DIR` (it daemonizes) when none answers there yet. */
#include "fs_internal.h"
#include "launch.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "amlfs/util.h"

#define START_DEADLINE_MS 15000

/* GET /v1/workspace: the server answers, and the feed can start from its current event number. */
static int probe(amlfs_client *c, long long *event_seq, amlfs_err *err)
{
    cJSON *ws = NULL;
    int rc = client_get_json(c, CLIENT_WORKSPACE_URL, false, &ws, err);
    if (rc < 0)
        return rc;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(ws, "event_seq");
    *event_seq = cJSON_IsNumber(seq) ? (long long)seq->valuedouble : 0;
    cJSON_Delete(ws);
    return 0;
}

/* amlfs-server next to this program (an uninstalled build), else from PATH. */
static char *server_program(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *candidate = util_strdupf("%s/amlfs-server", dirname(exe));
        if (access(candidate, X_OK) == 0)
            return candidate;
        free(candidate);
    }
    return util_xstrdup("amlfs-server");
}

static int start_server(const char *data_dir, amlfs_err *err)
{
    char *program = server_program();
    pid_t pid = fork();
    if (pid < 0) {
        free(program);
        return amlfs_fail(err, errno, "cannot start amlfs-server: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        char *argv[] = {"amlfs-server", "--data-dir", (char *)data_dir, NULL};
        if (strchr(program, '/'))
            execv(program, argv);
        else
            execvp(program, argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            free(program);
            return amlfs_fail(err, errno, "waiting for amlfs-server: %s", strerror(errno));
        }
    }
    int rc = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        rc = amlfs_fail(err, ENOENT, "amlfs-server was found neither next to amlfs nor in PATH");
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = amlfs_fail(err, EIO, "%s --data-dir %s failed (exit status %d); its message is above", program,
                        data_dir, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    free(program);
    return rc;
}

int launch_connect(const char *server, const char *token_file, const char *tls_ca, const char *data_dir,
                   amlfs_client **out, long long *event_seq, amlfs_err *err)
{
    *out = NULL;
    char *dir = NULL, *address;
    if (server) {
        address = util_xstrdup(server);
    } else {
        dir = data_dir ? util_xstrdup(data_dir) : util_default_data_dir();
        char *socket = util_socket_path(dir);
        address = util_strdupf("unix:%s", socket);
        free(socket);
    }
    amlfs_client *c = NULL;
    int rc = client_new(address, token_file, &c, err);
    if (rc == 0) {
        client_set_tls_ca(c, tls_ca);
        rc = probe(c, event_seq, err);
    }
    if (rc == -EIO && !server) {
        /* The embedded setup: no server answers on the user's socket, so start one. It returns once
         * its socket accepts; poll a little anyway in case it is still settling. */
        rc = start_server(dir, err);
        struct timespec pause = {0, 100 * 1000000L};
        int64_t deadline = util_now_ms() + START_DEADLINE_MS;
        while (rc == 0 && (rc = probe(c, event_seq, err)) == -EIO && util_now_ms() < deadline)
            nanosleep(&pause, NULL);
        if (rc < 0)
            amlfs_wrap(err, "started amlfs-server for %s, but: ", dir);
    }
    free(dir);
    free(address);
    if (rc < 0) {
        client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
