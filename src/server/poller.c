/* poller.c: the thread that asks every compute about its runs once a second (run_poll_all): a
 * cluster's queue, a job that ended while nobody watched, a supervisor that died without a word. Apart
 * from the monitor, so a cluster that is slow to answer never delays a log line of another run. Right
 * after a run is handed to a compute it asks more often for a while (poller_hurry). */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/util.h"

#define POLL_EVERY_MS 1000
#define HURRY_EVERY_MS 100
#define HURRY_FOR_MS 3000

struct poller {
    server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool hurried;               /* poller_hurry since the last poll: poll now */
    int64_t hurry_until_ms;     /* monotonic: poll every HURRY_EVERY_MS until then */
};

void poller_hurry(server *srv)
{
    poller *p = srv->poller;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->hurried = true;
    p->hurry_until_ms = util_mono_ms() + HURRY_FOR_MS;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

static void *poller_main(void *arg)
{
    poller *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int every = util_mono_ms() < p->hurry_until_ms ? HURRY_EVERY_MS : POLL_EVERY_MS;
        struct timespec until = util_deadline_after_ms(CLOCK_MONOTONIC, every);
        while (!p->stopping && !p->hurried && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0) {
        }
        p->hurried = false;
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        run_poll_all(p->srv);
        server_status_lines_flush(p->srv); /* lines a full disk could not take */
    }
    return NULL;
}

int poller_start(server *srv, amlfs_err *err)
{
    poller *p = util_xcalloc(1, sizeof *p);
    p->srv = srv;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&p->thread, NULL, poller_main, p);
    if (rc != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return amlfs_fail(err, rc, "starting the poller thread: %s", strerror(rc));
    }
    srv->poller = p;
    return 0;
}

void poller_stop(server *srv)
{
    poller *p = srv->poller;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
    srv->poller = NULL;
}
