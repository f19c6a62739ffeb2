/* test_leftovers.c: what a crashed server's podman left is ended by the next server (src/env/leftovers.c):
 * a stand-in for podman (sleep, in its own process group) whose child left that group (setsid) is
 * recorded by one env_images; the next one opened on the same folder ends both and removes the record. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "amlfs/compute_local.h"
#include "amlfs/env.h"
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include "check.h"

static char tmp[] = "/tmp/amlfs-test-leftovers.XXXXXX";

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The stand-in: leads its own group (as podman run by the server does) and starts a child that leaves
 * it, as a container's conmon does. Both only sleep. */
static pid_t start_fake_podman(void)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    pid_t escaped = fork();
    if (escaped == 0) {
        setsid();
        execl("/bin/sleep", "sleep", "300", (char *)NULL);
        _exit(127);
    }
    execl("/bin/sleep", "sleep", "300", (char *)NULL);
    _exit(127);
}

static bool alive(const compute_proc_id *id)
{
    return compute_proc_alive(id);
}

static void test_a_crashed_servers_podman_and_what_escaped_it_are_ended(void)
{
    char *data = util_strdupf("%s/ws", tmp);
    env_images_config cfg = {.data_dir = data, .podman = "/nonexistent/podman"};
    env_images *first = NULL, *next = NULL;
    amlfs_err err = {0};
    CHECK(env_images_open(&cfg, NULL, &first, &err) == 0, "open: %s", err.msg);
    if (!first) {
        free(data);
        return;
    }
    pid_t podman = start_fake_podman();
    CHECK(podman > 0, "fork");
    if (podman <= 0) {
        env_images_close(first);
        free(data);
        return;
    }
    env_podman_run run;
    env_podman_record(first, &run, podman);
    CHECK(run.podman.pid == podman, "recorded");
    /* Watched until its escaped child is seen (the watch looks every half second). */
    for (int i = 0; i < 100 && run.nescaped == 0; i++) {
        run.next_look_ms = 0;
        env_podman_watch(first, &run);
        if (run.nescaped == 0)
            pause_ms(50);
    }
    CHECK(run.nescaped == 1 && run.leads[0], "the child that left podman's group is recorded (%zu)", run.nescaped);
    compute_proc_id escaped = run.escaped[0];
    char *record = util_strdupf("%s/images/.podman-%d", data, (int)podman);
    CHECK(access(record, F_OK) == 0, "the record is on disk: %s", record);
    /* The server stops without ending them (a crash): the next one opened on the folder ends both. */
    env_images_close(first);
    CHECK(alive(&run.podman) && alive(&escaped), "both still run after the first server is gone");
    CHECK(env_images_open(&cfg, NULL, &next, &err) == 0, "open again: %s", err.msg);
    int status = 0;
    CHECK(waitpid(podman, &status, 0) == podman && WIFSIGNALED(status), "podman was ended by a signal");
    for (int i = 0; i < 100 && alive(&escaped); i++)
        pause_ms(50);
    CHECK(!alive(&escaped), "the escaped child was ended (pid %d)", (int)escaped.pid);
    CHECK(access(record, F_OK) < 0, "the record is removed");
    if (alive(&escaped))
        kill(escaped.pid, SIGKILL);
    env_images_close(next);
    free(record);
    free(data);
}

/* A record whose processes are gone (or whose pids now name other processes) ends nothing. */
static void test_a_record_of_processes_gone_ends_nothing(void)
{
    char *data = util_strdupf("%s/ws2", tmp);
    char *images = util_strdupf("%s/images", data);
    amlfs_err err = {0};
    CHECK(util_mkdir_p(images, 0700, &err) == 0, "mkdir: %s", err.msg);
    pid_t bystander = fork();
    if (bystander == 0) {
        execl("/bin/sleep", "sleep", "300", (char *)NULL);
        _exit(127);
    }
    /* Its pid with another start time: a process that reused the pid of one recorded. */
    char *record = util_strdupf("%s/.podman-%d", images, (int)bystander);
    char *text = util_strdupf("podman %d 1 1\ngroup %d 1\n", (int)bystander, (int)bystander);
    CHECK(util_write_file_atomic(record, text, strlen(text), 0600, &err) == 0, "record: %s", err.msg);
    env_images_config cfg = {.data_dir = data, .podman = "/nonexistent/podman"};
    env_images *im = NULL;
    CHECK(env_images_open(&cfg, NULL, &im, &err) == 0, "open: %s", err.msg);
    compute_proc_id id = {.pid = bystander};
    CHECK(compute_proc_stat(bystander, &id.starttime, NULL) == 0 && alive(&id), "a process that is not ours lives on");
    CHECK(access(record, F_OK) < 0, "the stale record is removed");
    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);
    env_images_close(im);
    free(text);
    free(record);
    free(images);
    free(data);
}

int main(void)
{
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_a_crashed_servers_podman_and_what_escaped_it_are_ended();
    test_a_record_of_processes_gone_ends_nothing();
    amlfs_err err = {0};
    util_rm_rf(tmp, &err);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
