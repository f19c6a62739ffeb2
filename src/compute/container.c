/* container.c: a local run inside a container image: the `podman run` command line, and the job's
 * environment as a 0600 --env-file (values never on a command line). The supervisor runs both. */
#include "amlfs/compute_local.h"
#include "amlfs/metrics.h"
#include "amlfs/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The run's code folder inside the container: its working directory. */
#define CONTAINER_WORK "/work"
#define ENV_FILE "container.env"

char *compute_container_name(const char *run_id)
{
    return util_strdupf("amlfs-%s", run_id && *run_id ? run_id : "run");
}

int compute_container_env_file(const char *run_dir, const compute_launch *launch, char **path, amlfs_err *err)
{
    *path = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return amlfs_fail(err, ENOMEM, "out of memory writing the job's environment");
    int rc = 0;
    for (size_t i = 0; launch->env && launch->env[i] && rc == 0; i++) {
        const char *entry = launch->env[i];
        /* One entry per line: podman's format has no quoting, so a newline cannot be carried. */
        if (strchr(entry, '\n') || strchr(entry, '\r'))
            rc = amlfs_fail(err, EINVAL, "environment variable %.*s holds a line break, which a container's "
                            "environment file cannot carry", (int)strcspn(entry, "="), entry);
        else
            fprintf(mem, "%s\n", entry);
    }
    fclose(mem);
    if (rc == 0) {
        *path = compute_run_file(run_dir, ENV_FILE);
        rc = util_write_file_atomic(*path, text, len, 0600, err);
        if (rc < 0) {
            free(*path);
            *path = NULL;
        }
    }
    free(text);
    return rc;
}

char **compute_container_argv(const compute_launch *launch, const char *env_file)
{
    size_t nprefix = 0;
    while (launch->podman && launch->podman[nprefix])
        nprefix++;
    char **argv = util_xcalloc(nprefix + 32, sizeof *argv);
    size_t n = 0;
    for (size_t i = 0; i < nprefix; i++)
        argv[n++] = util_xstrdup(launch->podman[i]);
    if (nprefix == 0)
        argv[n++] = util_xstrdup("podman");
    const char *fixed[] = {
        "run", "--rm",
        /* An init as PID 1 passes TERM on to the shell and reaps orphans (a shell as PID 1 would
         * ignore TERM, and cancel would have to wait for KILL). */
        "--init",
        /* The image was set up before the run: never pull in the middle of a run. */
        "--pull=never",
        /* The output goes to the run's log through the attached podman; no second copy. */
        "--log-driver=none",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = util_xstrdup(fixed[i]);
    argv[n++] = util_xstrdup("--name");
    argv[n++] = compute_container_name(launch->run_id);
    if (launch->netns)
        argv[n++] = util_strdupf("--network=ns:%s", launch->netns); /* MLflow's relay (relay.c) */
    else if (!launch->network)
        argv[n++] = util_xstrdup("--network=none");
    argv[n++] = util_xstrdup("--volume");
    argv[n++] = util_strdupf("%s:" CONTAINER_WORK, launch->work_dir);
    /* ${{inputs.NAME}} and ${{outputs.NAME}} are absolute paths of the run folder: the same paths
     * inside, so a job file reads the same on the host, in a container and on a cluster node. */
    argv[n++] = util_xstrdup("--volume");
    argv[n++] = util_strdupf("%s:%s", launch->work_dir, launch->work_dir);
    const char *slash = strrchr(launch->work_dir, '/');
    struct stat st;
    if (slash) {
        char *inputs = util_strdupf("%.*s/inputs", (int)(slash - launch->work_dir), launch->work_dir);
        if (stat(inputs, &st) == 0 && S_ISDIR(st.st_mode)) {
            argv[n++] = util_xstrdup("--volume");
            argv[n++] = util_strdupf("%s:%s:ro", inputs, inputs);
        }
        free(inputs);
        /* The job's AMLFS_METRICS file, appended to from inside (its folder: a file bind-mounted alone
         * would not follow a new file). */
        char *metrics = util_strdupf("%.*s/" METRICS_DIR, (int)(slash - launch->work_dir), launch->work_dir);
        if (stat(metrics, &st) == 0 && S_ISDIR(st.st_mode)) {
            argv[n++] = util_xstrdup("--volume");
            argv[n++] = util_strdupf("%s:%s", metrics, metrics);
        }
        free(metrics);
    }
    argv[n++] = util_xstrdup("--workdir");
    argv[n++] = util_xstrdup(CONTAINER_WORK);
    argv[n++] = util_xstrdup("--env-file");
    argv[n++] = util_xstrdup(env_file);
    if (launch->memory) {
        argv[n++] = util_xstrdup("--memory");
        argv[n++] = util_xstrdup(launch->memory);
    }
    if (launch->cpus) {
        argv[n++] = util_xstrdup("--cpus");
        argv[n++] = util_xstrdup(launch->cpus);
    }
    argv[n++] = util_xstrdup(launch->image);
    argv[n++] = util_xstrdup("/bin/sh");
    argv[n++] = util_xstrdup("-c");
    argv[n++] = util_xstrdup(launch->command);
    argv[n] = NULL;
    return argv;
}

void compute_strings_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
