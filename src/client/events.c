/* events.c: the change-feed thread: one long-poll GET /v1/events at a time, each event first dropped
 * from the answer cache and then handed to the mount; survives server restarts by retrying, and while
 * the server is away asks it every couple of seconds whether it is back (away.c). */
#include "client_internal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "amlfs/util.h"

#define POLL_TIMEOUT_S 25
/* While the server is away, one check of it (a poll that answers at once) may take this long. */
#define PROBE_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

/* Sleep up to ms, waking early when the feed is being stopped or the server was found away. */
static void backoff_wait(amlfs_client *c, int ms)
{
    struct timespec until = util_deadline_after_ms(CLOCK_REALTIME, ms);
    pthread_mutex_lock(&c->ev_mu);
    while (!atomic_load(&c->ev_stop) && !atomic_load(&c->ev_wake)) {
        if (pthread_cond_timedwait(&c->ev_cond, &c->ev_mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&c->ev_mu);
}

static void announce_reset(amlfs_client *c)
{
    cache_clear(c->cache);
    c->ev_fn(c->ev_ctx, NULL, true);
}

/* Hand one answer's events over; returns the sequence number to continue from. */
static long long deliver(amlfs_client *c, cJSON *answer, long long since)
{
    cJSON *seq = cJSON_GetObjectItemCaseSensitive(answer, "seq");
    cJSON *reset = cJSON_GetObjectItemCaseSensitive(answer, "reset");
    cJSON *events = cJSON_GetObjectItemCaseSensitive(answer, "events");
    long long next = cJSON_IsNumber(seq) ? (long long)seq->valuedouble : since;
    if (cJSON_IsTrue(reset)) {
        announce_reset(c);
        return next;
    }
    cJSON *item;
    cJSON_ArrayForEach(item, events) {
        cJSON *path = cJSON_GetObjectItemCaseSensitive(item, "path");
        cJSON *what = cJSON_GetObjectItemCaseSensitive(item, "what");
        cJSON *eseq = cJSON_GetObjectItemCaseSensitive(item, "seq");
        cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
        if (!cJSON_IsString(path) || !cJSON_IsString(what))
            continue;
        client_event ev = {
            .seq = cJSON_IsNumber(eseq) ? (long long)eseq->valuedouble : next,
            .path = path->valuestring,
            .what = what->valuestring,
            .size = cJSON_IsNumber(size) ? (long long)size->valuedouble : -1,
        };
        cache_invalidate_event(c->cache, ev.path, ev.what);
        c->ev_fn(c->ev_ctx, &ev, false);
    }
    return next;
}

static void *feed_main(void *arg)
{
    amlfs_client *c = arg;
    CURL *h = curl_easy_init();
    long long since = c->ev_since;
    int backoff = BACKOFF_MIN_MS;
    bool lost = false;
    while (h && !atomic_load(&c->ev_stop)) {
        /* Woken (ev_wake) when a request finds the server away: a long poll then stops, and while the
         * server is away each poll is a quick check of it, which ends the away state when it answers. */
        atomic_store(&c->ev_wake, false);
        bool probe = away_state(c, NULL) != AWAY_NO;
        char path[128];
        snprintf(path, sizeof path, "/v1/events?since=%lld&timeout=%d", since, probe ? 0 : POLL_TIMEOUT_S);
        http_answer a;
        amlfs_err err = {0};
        http_limits limits = {.total_ms = probe ? PROBE_MS : (POLL_TIMEOUT_S + 20) * 1000L, .abort_flag = &c->ev_wake};
        int rc = http_exchange(c, h, "GET", path, NULL, &limits, -1, &a, &err);
        if (atomic_load(&c->ev_stop)) {
            if (rc == 0)
                http_answer_free(&a);
            break;
        }
        if (rc == -ECANCELED)
            continue; /* woken: check the server now; no event was lost */
        cJSON *answer = rc == 0 ? cJSON_Parse(a.body ? a.body : "") : NULL;
        if (rc == 0)
            http_answer_free(&a);
        if (!answer) {
            /* Unreachable (a restart?) or a bad answer: what happened meanwhile is unknown. */
            lost = true;
            backoff_wait(c, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (lost) {
            announce_reset(c);
            lost = false;
        }
        backoff = BACKOFF_MIN_MS;
        since = deliver(c, answer, since);
        cJSON_Delete(answer);
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

int client_events_start(amlfs_client *c, long long since, client_event_fn fn, void *ctx, amlfs_err *err)
{
    if (c->ev_running)
        return amlfs_fail(err, EBUSY, "the change feed is already being followed");
    c->ev_fn = fn;
    c->ev_ctx = ctx;
    c->ev_since = since;
    atomic_store(&c->ev_stop, false);
    atomic_store(&c->ev_wake, false);
    /* The feed thread takes no signals: a Ctrl-C must reach a thread that acts on it (FUSE's loop),
     * not wake a poll() inside curl that ignores it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&c->ev_thread, NULL, feed_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return amlfs_fail(err, rc, "cannot start the change-feed thread: %s", strerror(rc));
    c->ev_running = true;
    cache_follow_events(c->cache, true);
    return 0;
}

void client_events_stop(amlfs_client *c)
{
    if (!c->ev_running)
        return;
    pthread_mutex_lock(&c->ev_mu);
    atomic_store(&c->ev_stop, true);
    atomic_store(&c->ev_wake, true);
    pthread_cond_broadcast(&c->ev_cond);
    pthread_mutex_unlock(&c->ev_mu);
    pthread_join(c->ev_thread, NULL);
    c->ev_running = false;
    cache_follow_events(c->cache, false);
}
