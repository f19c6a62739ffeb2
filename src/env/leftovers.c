/* leftovers.c: what a server that crashed left of its podman work: each podman it ran is recorded in
 * images/.podman-PID (pid and start time) while it runs; the next server ends those still alive and
 * removes the records and the registry auth folders (.auth-*) they used. */
#include "amlfs/compute_local.h"
#include "amlfs/env_podman.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_PREFIX ".podman-"
#define AUTH_PREFIX ".auth-"
#define LEFTOVER_GRACE_MS 5000

static char *record_path(const env_images *im, pid_t pid)
{
    return util_strdupf("%s/" RECORD_PREFIX "%d", im->images_dir, (int)pid);
}

void env_podman_record(const env_images *im, pid_t pid)
{
    compute_proc_id id = {.pid = pid};
    if (compute_proc_stat(pid, &id.starttime, NULL) < 0)
        return; /* already gone: nothing would be left */
    char text[64];
    int n = snprintf(text, sizeof text, "%d %llu\n", (int)pid, id.starttime);
    char *path = record_path(im, pid);
    amlfs_err err = {0};
    if (util_write_file_atomic(path, text, (size_t)n, 0600, &err) < 0)
        log_warning("%s", err.msg);
    free(path);
}

void env_podman_forget(const env_images *im, pid_t pid)
{
    char *path = record_path(im, pid);
    unlink(path);
    free(path);
}

/* TERM to the group of a recorded podman that still runs (the same process: its start time matches),
 * KILL after the grace period. */
static void end_leftover(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    compute_proc_id id = {0};
    int pid = 0;
    if (util_read_file(path, &text, &len, NULL) == 0 && sscanf(text, "%d %llu", &pid, &id.starttime) == 2 &&
        pid > 1) {
        id.pid = pid;
        if (compute_proc_alive(&id)) {
            log_warning("ending podman (pid %d) left running by a server that stopped without ending it", pid);
            killpg(pid, SIGTERM);
            int64_t deadline = util_mono_ms() + LEFTOVER_GRACE_MS;
            while (compute_proc_alive(&id) && util_mono_ms() < deadline) {
                struct timespec pause = {0, 20 * 1000 * 1000};
                nanosleep(&pause, NULL);
            }
            if (compute_proc_alive(&id))
                killpg(pid, SIGKILL);
        }
    }
    free(text);
    unlink(path);
}

void env_podman_clean_leftovers(const env_images *im)
{
    DIR *d = opendir(im->images_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char *path = util_strdupf("%s/%s", im->images_dir, e->d_name);
        amlfs_err err = {0};
        if (strncmp(e->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) == 0)
            end_leftover(path);
        else if (strncmp(e->d_name, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0 && util_rm_rf(path, &err) == 0)
            log_info("removed registry credentials left by a server that stopped during a pull (%s)", path);
        free(path);
    }
    if (d)
        closedir(d);
}
