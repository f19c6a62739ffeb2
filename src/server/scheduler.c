/* scheduler.c: the dispatcher thread. Per compute, at most max_instances runs are handed to it or being
 * prepared for it; the others wait Queued (without a compute handle) and go in submission order. A run
 * waiting in a cluster's own queue counts as handed. It sleeps until kicked (a submission, an end, a
 * new max_instances or compute). A run taken is prepared and submitted on a starter thread of its own
 * (copying its code, fetching its inputs can take minutes): one run's preparation holds up no other. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

#define ACTIVE_MASK                                                                                \
    ((1u << RUN_PREPARING) | (1u << RUN_RUNNING) | (1u << RUN_FINALIZING) |                        \
     (1u << RUN_CANCEL_REQUESTED))

/* Runs prepared at once; more wait Queued (each starter that ends kicks the dispatcher). */
#define STARTERS_MAX 8

struct scheduler {
    server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t starter_ended;
    bool kicked;
    bool stopping;
    int starters;               /* starter threads running (guarded by lock) */
};

void scheduler_kick(scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static bool stopping(scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

bool scheduler_stopping(scheduler *s)
{
    return s && stopping(s);
}

/* A run being prepared and submitted on a thread of its own. */
typedef struct starter {
    scheduler *s;
    char *id;
} starter;

/* A cancel while the run is prepared ends its downloads (util_thread_should_stop), not only what
 * comes after them; so does the server's stop (the run is prepared again at the next start). */
static bool cancel_requested(void *ctx)
{
    starter *st = ctx;
    if (stopping(st->s))
        return true;
    store_run r;
    amlfs_err ignored = {0};
    if (store_run_get(st->s->srv->store, st->id, &r, &ignored) < 0)
        return false;
    bool canceled = r.status == RUN_CANCEL_REQUESTED || run_status_terminal(r.status);
    store_run_free(&r);
    return canceled;
}

static void *starter_main(void *arg)
{
    starter *st = arg;
    amlfs_err why = {0};
    util_thread_set_stop(cancel_requested, st);
    if (run_start_claimed(st->s->srv, st->id, &why) < 0)
        log_warning("starting run %s: %s", st->id, why.msg);
    util_thread_set_stop(NULL, NULL);
    scheduler *s = st->s;
    free(st->id);
    free(st);
    pthread_mutex_lock(&s->lock);
    s->starters--;
    s->kicked = true; /* its place may be free, or another run's */
    pthread_cond_signal(&s->wake);
    pthread_cond_broadcast(&s->starter_ended);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static bool starter_free(scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    bool free_place = s->starters < STARTERS_MAX;
    pthread_mutex_unlock(&s->lock);
    return free_place;
}

/* Claims the run for starting and hands it to a starter thread (or starts it here when no thread can
 * be made): 1 when it was taken, 0 when it was not ours to start, or a negative errno. */
static int start(scheduler *s, const char *id, amlfs_err *err)
{
    int rc = run_claim_start(s->srv, id, err);
    if (rc <= 0)
        return rc;
    starter *st = util_xcalloc(1, sizeof *st);
    *st = (starter){.s = s, .id = util_xstrdup(id)};
    pthread_mutex_lock(&s->lock);
    s->starters++;
    pthread_mutex_unlock(&s->lock);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int made = pthread_create(&t, &attr, starter_main, st);
    pthread_attr_destroy(&attr);
    if (made != 0) {
        log_warning("starting run %s on the dispatcher (no starter thread: %s)", id, strerror(made));
        starter_main(st);
    }
    return 1;
}

/* Runs left Preparing wait for their environment's image to be built: each goes on now (starts, or
 * fails with the build's reason) or keeps waiting. */
static void retry_preparing(scheduler *s, const char *name)
{
    store_run *runs;
    size_t n;
    amlfs_err err = {0};
    if (store_run_list_by_status(s->srv->store, 1u << RUN_PREPARING, name, STORE_UNSUBMITTED, 0, &runs, &n,
                                 &err) < 0) {
        log_warning("scheduler: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n && !stopping(s) && starter_free(s); i++) {
        amlfs_err why = {0};
        if (start(s, runs[i].id, &why) < 0)
            log_warning("starting run %s: %s", runs[i].id, why.msg);
    }
    store_run_list_free(runs, n);
}

/* Starts what fits on one compute; returns how many runs it took out of the queue (started or
 * failed: either way their place is settled). */
static size_t dispatch(scheduler *s, const char *name)
{
    server *srv = s->srv;
    compute *c = server_compute_get(srv, name);
    if (!c)
        return 0;
    int max = server_compute_max(srv, c);
    server_compute_release(srv, c);
    retry_preparing(s, name);
    long active = store_run_count_by_status(srv->store, ACTIVE_MASK, name, STORE_ANY);
    long in_queue = store_run_count_by_status(srv->store, 1u << RUN_QUEUED, name, STORE_SUBMITTED);
    if (active < 0 || in_queue < 0 || active + in_queue >= max)
        return 0;
    active += in_queue;
    store_run *queued;
    size_t n;
    amlfs_err err = {0};
    if (store_run_list_by_status(srv->store, 1u << RUN_QUEUED, name, STORE_UNSUBMITTED, (size_t)(max - active),
                                 &queued, &n, &err) < 0) {
        log_warning("scheduler: %s", err.msg);
        return 0;
    }
    size_t took = 0;
    for (size_t i = 0; i < n && !stopping(s) && starter_free(s); i++) {
        amlfs_err why = {0};
        int rc = start(s, queued[i].id, &why);
        if (rc < 0)
            log_warning("starting run %s: %s", queued[i].id, why.msg);
        else if (rc > 0)
            took++;
    }
    store_run_list_free(queued, n);
    return took;
}

static void *scheduler_main(void *arg)
{
    scheduler *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->kicked && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        s->kicked = false;
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        /* Runs that fail at once free their place: go round until nothing more starts. */
        size_t took;
        do {
            took = 0;
            size_t n;
            char **names = server_compute_list_names(s->srv, &n);
            for (size_t i = 0; i < n; i++) {
                if (!stopping(s))
                    took += dispatch(s, names[i]);
                free(names[i]);
            }
            free(names);
        } while (took > 0 && !stopping(s));
    }
    return NULL;
}

int scheduler_start(server *srv, amlfs_err *err)
{
    scheduler *s = util_xcalloc(1, sizeof *s);
    s->srv = srv;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->starter_ended, NULL);
    s->kicked = true; /* runs queued before a restart */
    srv->scheduler = s;
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    if (rc != 0) {
        srv->scheduler = NULL;
        pthread_cond_destroy(&s->starter_ended);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return amlfs_fail(err, rc, "starting the scheduler thread: %s", strerror(rc));
    }
    return 0;
}

void scheduler_stop(server *srv)
{
    scheduler *s = srv->scheduler;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    /* Starters still setting runs up finish first (what they record needs the store). */
    pthread_mutex_lock(&s->lock);
    while (s->starters > 0)
        pthread_cond_wait(&s->starter_ended, &s->lock);
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&s->starter_ended);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
    srv->scheduler = NULL;
}
