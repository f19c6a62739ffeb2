/* away.c: whether amlfs-server answers, as the exchanges find it (answering, gone, silent), which last
 * answers may stand in for it meanwhile, and what cuts a request short: the calling thread's interrupt. */
#include "client_internal.h"

#include <time.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

/* The FUSE request this thread serves (ops.c sets it around each one). */
static _Thread_local client_interrupted_fn thread_interrupted;
static _Thread_local void *thread_interrupted_ctx;

void client_thread_interruptible(client_interrupted_fn interrupted, void *ctx)
{
    thread_interrupted = interrupted;
    thread_interrupted_ctx = interrupted ? ctx : NULL;
}

bool client_interrupted(void)
{
    return thread_interrupted && thread_interrupted(thread_interrupted_ctx);
}

bool client_pause(int ms)
{
    int64_t until = util_mono_ms() + ms;
    for (;;) {
        if (client_interrupted())
            return false;
        int64_t left = until - util_mono_ms();
        if (left <= 0)
            return true;
        struct timespec step = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&step, NULL);
    }
}

void client_set_limits(amlfs_client *c, const client_limits *limits)
{
    c->limits = *limits;
}

/* Ends the feed's wait, so it checks the server now (events.c). */
static void wake_feed(amlfs_client *c)
{
    pthread_mutex_lock(&c->ev_mu);
    atomic_store(&c->ev_wake, true);
    pthread_cond_broadcast(&c->ev_cond);
    pthread_mutex_unlock(&c->ev_mu);
}

void away_answered(amlfs_client *c)
{
    pthread_mutex_lock(&c->away_mu);
    client_away was = c->away;
    int64_t since = c->away_since_ms;
    bool once = c->answered_once;
    c->away = AWAY_NO;
    c->answered_once = true;
    pthread_mutex_unlock(&c->away_mu);
    if (was != AWAY_NO && once)
        log_info("amlfs-server at %s answers again (it was away for %lld s)", c->address,
                 (long long)((util_mono_ms() - since) / 1000));
}

void away_missed(amlfs_client *c, http_miss miss, int64_t started_ms)
{
    client_away now = miss == HTTP_SILENT ? AWAY_SILENT : AWAY_GONE;
    pthread_mutex_lock(&c->away_mu);
    client_away was = c->away;
    bool once = c->answered_once;
    if (was == AWAY_NO)
        c->away_since_ms = started_ms;
    c->away = now;
    pthread_mutex_unlock(&c->away_mu);
    if (was == now)
        return;
    if (was == AWAY_NO && once) /* not before the first answer: mounting starts a server when none runs */
        log_warning("amlfs-server at %s %s: the mount answers from what it last heard while that is still true "
                    "(README: When the server does not answer)",
                    c->address, now == AWAY_SILENT ? "does not answer (stopped or stuck?)" : "is gone (restarting?)");
    wake_feed(c);
}

client_away away_state(amlfs_client *c, int64_t *since_ms)
{
    pthread_mutex_lock(&c->away_mu);
    client_away state = c->away;
    if (since_ms)
        *since_ms = c->away_since_ms;
    pthread_mutex_unlock(&c->away_mu);
    return state;
}

bool away_answered_once(amlfs_client *c)
{
    pthread_mutex_lock(&c->away_mu);
    bool once = c->answered_once;
    pthread_mutex_unlock(&c->away_mu);
    return once;
}

char *away_last_answer(amlfs_client *c, const char *key)
{
    int64_t since = 0;
    if (away_state(c, &since) == AWAY_NO)
        return NULL;
    bool live_ok = util_mono_ms() - since < (int64_t)c->limits.stale_timeout_s * 1000;
    return cache_get_last(c->cache, key, live_ok);
}
