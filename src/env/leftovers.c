/* leftovers.c: what a server that crashed left of its podman work: each podman it ran is recorded in
 * images/.podman-PID while it runs, with the processes under it that left its process group; the next
 * server ends those, removes the build containers left in podman's storage and the auth folders (.auth-*). */
#include "amlfs/compute_local.h"
#include "amlfs/env_podman.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_PREFIX ".podman-"
#define AUTH_PREFIX ".auth-"
#define LEFTOVER_GRACE_MS 5000
#define ESCAPED_GONE_WAIT_MS 3000
#define LOOK_EVERY_MS 500
/* A few hundred containers at most are listed; more than this is not ours to sort out. */
#define PS_ANSWER_MAX (4 * 1024 * 1024)
#define RM_BATCH 32

static char *record_path(const env_images *im, pid_t pid)
{
    return util_strdupf("%s/" RECORD_PREFIX "%d", im->images_dir, (int)pid);
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* "podman PID START STARTED_MS", then "group PID START" (a process group led by PID) or "proc PID START". */
static void write_record(const env_images *im, const env_podman_run *run)
{
    util_buf text = {0};
    char line[96];
    int n = snprintf(line, sizeof line, "podman %d %llu %lld\n", (int)run->podman.pid, run->podman.starttime,
                     (long long)run->started_ms);
    util_buf_append(&text, line, (size_t)n, 0);
    for (size_t i = 0; i < run->nescaped; i++) {
        n = snprintf(line, sizeof line, "%s %d %llu\n", run->leads[i] ? "group" : "proc", (int)run->escaped[i].pid,
                     run->escaped[i].starttime);
        util_buf_append(&text, line, (size_t)n, 0);
    }
    char *path = record_path(im, run->podman.pid);
    amlfs_err err = {0};
    if (util_write_file_atomic(path, text.data, text.len, 0600, &err) < 0)
        log_warning("%s", err.msg);
    free(path);
    util_buf_free(&text);
}

void env_podman_record(const env_images *im, env_podman_run *run, pid_t pid)
{
    memset(run, 0, sizeof *run);
    run->podman.pid = pid;
    run->started_ms = util_now_ms();
    run->next_look_ms = util_mono_ms() + LOOK_EVERY_MS;
    if (compute_proc_stat(pid, &run->podman.starttime, NULL) < 0) {
        run->podman.pid = 0; /* already gone: nothing would be left */
        return;
    }
    write_record(im, run);
}

void env_podman_forget(const env_images *im, pid_t pid)
{
    char *path = record_path(im, pid);
    unlink(path);
    free(path);
}

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const compute_proc_info *)a)->pid, y = ((const compute_proc_info *)b)->pid;
    return (x > y) - (x < y);
}

static ssize_t find_pid(const compute_proc_info *all, size_t n, pid_t pid)
{
    compute_proc_info key = {.pid = pid};
    const compute_proc_info *hit = bsearch(&key, all, n, sizeof *all, by_pid);
    return hit ? hit - all : -1;
}

/* Every process on the machine, as /proc shows it now. malloc'd, *n entries. */
static compute_proc_info *all_processes(size_t *n)
{
    *n = 0;
    size_t cap = 0;
    compute_proc_info *all = NULL;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        compute_proc_info info;
        if (compute_proc_read((pid_t)strtol(e->d_name, NULL, 10), &info) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 512;
            all = util_xrealloc(all, cap * sizeof *all);
        }
        all[(*n)++] = info;
    }
    if (d)
        closedir(d);
    if (all)
        qsort(all, *n, sizeof *all, by_pid);
    return all;
}

static bool known(const env_podman_run *run, const compute_proc_info *p)
{
    for (size_t i = 0; i < run->nescaped; i++)
        if (run->escaped[i].pid == p->pid && run->escaped[i].starttime == p->starttime)
            return true;
    return false;
}

/* Adds the processes under podman outside its process group: of each such group, its leader when the
 * leader is under podman too (killing the group then reaches the rest), else the process itself. Entries
 * no longer alive make room first. Returns whether anything was added. */
static bool find_escaped(env_podman_run *run)
{
    size_t kept = 0;
    for (size_t i = 0; i < run->nescaped; i++) {
        if (compute_proc_alive(&run->escaped[i])) {
            run->escaped[kept] = run->escaped[i];
            run->leads[kept++] = run->leads[i];
        }
    }
    bool changed = kept != run->nescaped;
    run->nescaped = kept;
    size_t n = 0;
    compute_proc_info *all = all_processes(&n);
    bool *under = util_xcalloc(n ? n : 1, sizeof *under);
    /* Marks descendants by passes over the table (sorted by pid) until nothing changes: the tree is shallow. */
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (under[i] || all[i].pid == run->podman.pid)
                continue;
            ssize_t parent = find_pid(all, n, all[i].ppid);
            if (all[i].ppid == run->podman.pid || (parent >= 0 && under[parent]))
                under[i] = grew = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!under[i] || all[i].pgid == run->podman.pid || all[i].state == 'Z')
            continue;
        const compute_proc_info *pick = &all[i];
        ssize_t leader = find_pid(all, n, all[i].pgid);
        if (leader >= 0 && under[leader])
            pick = &all[leader];
        if (known(run, pick) || run->nescaped == ENV_PODMAN_ESCAPED_MAX)
            continue;
        run->escaped[run->nescaped] = (compute_proc_id){.pid = pick->pid, .starttime = pick->starttime};
        run->leads[run->nescaped++] = pick->pid == pick->pgid;
        changed = true;
    }
    free(under);
    free(all);
    return changed;
}

void env_podman_watch(const env_images *im, env_podman_run *run)
{
    int64_t now = util_mono_ms();
    if (!run->podman.pid || now < run->next_look_ms)
        return;
    run->next_look_ms = now + LOOK_EVERY_MS;
    if (find_escaped(run))
        write_record(im, run);
}

static bool read_record(const char *path, env_podman_run *run)
{
    memset(run, 0, sizeof *run);
    char *text = NULL;
    if (util_read_file(path, &text, NULL, NULL) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char kind[8];
        int pid = 0;
        unsigned long long start = 0;
        long long started = 0;
        int fields = isdigit((unsigned char)line[0]) /* "PID START", as servers before wrote */
                         ? 1 + sscanf(line, "%d %llu", &pid, &start)
                         : sscanf(line, "%7s %d %llu %lld", kind, &pid, &start, &started);
        if (isdigit((unsigned char)line[0]))
            snprintf(kind, sizeof kind, "podman");
        if (fields < 3 || pid <= 1)
            continue;
        if (strcmp(kind, "podman") == 0) {
            run->podman = (compute_proc_id){.pid = pid, .starttime = start};
            run->started_ms = fields == 4 ? started : 0;
        } else if (run->nescaped < ENV_PODMAN_ESCAPED_MAX && (!strcmp(kind, "group") || !strcmp(kind, "proc"))) {
            run->escaped[run->nescaped] = (compute_proc_id){.pid = pid, .starttime = start};
            run->leads[run->nescaped++] = strcmp(kind, "group") == 0;
        }
    }
    free(text);
    return run->podman.pid > 1;
}

static bool any_escaped_alive(const env_podman_run *run)
{
    for (size_t i = 0; i < run->nescaped; i++)
        if (compute_proc_alive(&run->escaped[i]))
            return true;
    return false;
}

/* TERM to the group of a recorded podman that still runs (the same process: its start time matches),
 * KILL after the grace period; then KILL to what it started outside its group (a container's first
 * process ignores TERM), whether podman was alive or not. */
static void end_leftover(const env_podman_run *recorded)
{
    env_podman_run run = *recorded;
    if (compute_proc_alive(&run.podman)) {
        find_escaped(&run); /* what it started since it was last looked at */
        log_warning("ending podman (pid %d) left running by a server that stopped without ending it",
                    (int)run.podman.pid);
        killpg(run.podman.pid, SIGTERM);
        int64_t deadline = util_mono_ms() + LEFTOVER_GRACE_MS;
        while (compute_proc_alive(&run.podman) && util_mono_ms() < deadline)
            sleep_ms(20);
        if (compute_proc_alive(&run.podman))
            killpg(run.podman.pid, SIGKILL);
    }
    for (size_t i = 0; i < run.nescaped; i++) {
        if (!compute_proc_alive(&run.escaped[i]))
            continue;
        log_warning("ending process %d, started by a podman (pid %d) of a server that stopped without ending "
                    "it", (int)run.escaped[i].pid, (int)run.podman.pid);
        /* The identity was just checked: the group is still the one that process leads. */
        if (run.leads[i])
            killpg(run.escaped[i].pid, SIGKILL);
        compute_proc_signal(&run.escaped[i], SIGKILL);
    }
    int64_t deadline = util_mono_ms() + ESCAPED_GONE_WAIT_MS;
    while (any_escaped_alive(&run) && util_mono_ms() < deadline)
        sleep_ms(20);
}

/* Build containers (buildah's, in podman's storage only: "-working-container" names) made since the
 * earliest crashed podman started: a killed `podman build` leaves them, holding their layers. Storage
 * shared with other builders is a risk here: one of theirs made in that stretch would go too. */
static void remove_build_containers(env_images *im, int64_t since_ms)
{
    const char *args[] = {"ps", "--all", "--external", "--format", "json", NULL};
    util_buf answer = {0};
    amlfs_err err = {0};
    int rc = env_podman_capture(im, args, 60, &answer, PS_ANSWER_MAX, &err);
    if (rc != 0) {
        log_warning("cannot list the build containers a crashed build may have left: %s",
                    rc < 0 ? err.msg : "podman ps failed");
        util_buf_free(&answer);
        return;
    }
    cJSON *list = cJSON_ParseWithLength(answer.data ? answer.data : "", answer.len);
    util_buf_free(&answer);
    const char *rm[RM_BATCH + 4] = {"rm", "--force", "--ignore"};
    size_t n = 3;
    cJSON *c;
    cJSON_ArrayForEach(c, list)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "Id");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(c, "State");
        const cJSON *created = cJSON_GetObjectItemCaseSensitive(c, "Created");
        const cJSON *name = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0);
        if (!cJSON_IsString(id) || !cJSON_IsString(state) || strcmp(state->valuestring, "storage") != 0 ||
            !cJSON_IsNumber(created) || !cJSON_IsString(name) || !strstr(name->valuestring, "-working-container") ||
            created->valuedouble * 1000 < (double)since_ms - 1000)
            continue;
        log_info("removing build container %s (%.12s) left by a build a crashed server ran", name->valuestring,
                 id->valuestring);
        rm[n++] = id->valuestring;
        if (n == RM_BATCH + 3) {
            rm[n] = NULL;
            if (env_podman_exec(im, rm, -1, 120, NULL, NULL, &err) != 0)
                log_warning("cannot remove the build containers a crashed build left (podman rm)%s%s",
                            err.msg[0] ? ": " : "", err.msg);
            n = 3;
        }
    }
    if (n > 3) {
        rm[n] = NULL;
        if (env_podman_exec(im, rm, -1, 120, NULL, NULL, &err) != 0)
            log_warning("cannot remove the build containers a crashed build left (podman rm)");
    }
    cJSON_Delete(list);
}

void env_podman_clean_leftovers(env_images *im)
{
    DIR *d = opendir(im->images_dir);
    struct dirent *e;
    int64_t since = -1;
    while (d && (e = readdir(d)) != NULL) {
        char *path = util_strdupf("%s/%s", im->images_dir, e->d_name);
        amlfs_err err = {0};
        if (strncmp(e->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) == 0) {
            env_podman_run run;
            if (read_record(path, &run)) {
                end_leftover(&run);
                /* (A record without its start time cannot say which containers are its own.) */
                if (run.started_ms > 0 && (since < 0 || run.started_ms < since))
                    since = run.started_ms;
            }
            unlink(path);
        } else if (strncmp(e->d_name, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0 && util_rm_rf(path, &err) == 0) {
            log_info("removed registry credentials left by a server that stopped during a pull (%s)", path);
        }
        free(path);
    }
    if (d)
        closedir(d);
    if (since >= 0 && !im->unusable)
        remove_build_containers(im, since);
}
