/* events.c: the change feed: every state change and log growth gets a sequence number, is kept in a
 * ring of recent events, and wakes the long-polls of GET /v1/events. */
#include "amlfs/server.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

#define SEQ_KEY "event_seq_reserved"

typedef struct event {
    uint64_t seq;
    char *path;
    const char *what;           /* one of the docs/api.md words (static strings) */
    int64_t size;               /* < 0: none */
} event;

struct events {
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* broadcast on every event and at shutdown */
    store *store;
    uint64_t next_seq;
    uint64_t first_seq;         /* the first number this process gave (events before it are gone) */
    uint64_t reserved;          /* numbers below this are reserved in the store */
    event ring[EVENTS_RING];    /* ring[seq % EVENTS_RING] */
    bool shutting_down;
};

static const char *const whats[] = {"created", "deleted", "changed", "files", "grew"};

int events_open(store *st, events **out, amlfs_err *err)
{
    char *stored = NULL;
    uint64_t start = 1;
    int r = store_meta_get(st, SEQ_KEY, &stored, err);
    if (r == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(stored, &end, 10);
        if (errno || *end || v == 0) {
            r = amlfs_fail(err, EIO, "workspace database: meta %s is '%s', not a number", SEQ_KEY, stored);
            free(stored);
            return r;
        }
        start = v;
        free(stored);
    } else if (r != -ENOENT) {
        return r;
    }
    events *ev = util_xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->changed, &attr);
    pthread_condattr_destroy(&attr);
    ev->store = st;
    ev->next_seq = ev->first_seq = ev->reserved = start;
    *out = ev;
    return 0;
}

void events_close(events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < EVENTS_RING; i++)
        free(ev->ring[i].path);
    pthread_cond_destroy(&ev->changed);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

static const char *canonical_what(const char *what)
{
    for (size_t i = 0; i < sizeof whats / sizeof whats[0]; i++)
        if (strcmp(whats[i], what) == 0)
            return whats[i];
    return "changed";
}

uint64_t events_emit(events *ev, const char *path, const char *what, int64_t size)
{
    pthread_mutex_lock(&ev->lock);
    uint64_t seq = ev->next_seq++;
    if (seq >= ev->reserved) {
        char buf[32];
        amlfs_err err = {0};
        snprintf(buf, sizeof buf, "%" PRIu64, seq + EVENTS_RESERVE);
        /* On failure the feed goes on; only the guarantee across a restart is weakened. */
        if (store_meta_set(ev->store, SEQ_KEY, buf, &err) < 0)
            log_warning("reserving event numbers: %s", err.msg);
        else
            ev->reserved = seq + EVENTS_RESERVE;
    }
    event *slot = &ev->ring[seq % EVENTS_RING];
    free(slot->path);
    slot->seq = seq;
    slot->path = util_xstrdup(path);
    slot->what = canonical_what(what);
    slot->size = size;
    pthread_cond_broadcast(&ev->changed);
    pthread_mutex_unlock(&ev->lock);
    return seq;
}

uint64_t events_emitf(events *ev, const char *what, int64_t size, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return events_emit(ev, path, what, size);
}

uint64_t events_last_seq(events *ev)
{
    pthread_mutex_lock(&ev->lock);
    uint64_t last = ev->next_seq - 1;
    pthread_mutex_unlock(&ev->lock);
    return last;
}

void events_shutdown(events *ev)
{
    pthread_mutex_lock(&ev->lock);
    ev->shutting_down = true;
    pthread_cond_broadcast(&ev->changed);
    pthread_mutex_unlock(&ev->lock);
}

/* The oldest sequence number still answerable (lock held). */
static uint64_t oldest_kept(const events *ev)
{
    uint64_t kept_from = ev->next_seq > EVENTS_RING ? ev->next_seq - EVENTS_RING : 0;
    return kept_from > ev->first_seq ? kept_from : ev->first_seq;
}

static cJSON *answer(uint64_t seq, bool reset, cJSON *list)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "seq", (double)seq);
    cJSON_AddBoolToObject(root, "reset", reset);
    cJSON_AddItemToObject(root, "events", list ? list : cJSON_CreateArray());
    return root;
}

cJSON *events_wait_json(events *ev, uint64_t since, int timeout_ms)
{
    struct timespec deadline = util_deadline_after_ms(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&ev->lock);
    uint64_t last = ev->next_seq - 1;
    /* Events after `since` are gone (older than the ring, or sent by an earlier process), or the
     * client knows numbers this workspace never gave (another data dir): its caches are stale. */
    if (since > last || since + 1 < oldest_kept(ev)) {
        pthread_mutex_unlock(&ev->lock);
        return answer(last, true, NULL);
    }
    while (ev->next_seq - 1 <= since && !ev->shutting_down) {
        if (pthread_cond_timedwait(&ev->changed, &ev->lock, &deadline) == ETIMEDOUT)
            break;
    }
    last = ev->next_seq - 1;
    if (since + 1 < oldest_kept(ev)) { /* the ring overran while we waited */
        pthread_mutex_unlock(&ev->lock);
        return answer(last, true, NULL);
    }
    cJSON *list = cJSON_CreateArray();
    uint64_t sent = since;
    for (uint64_t seq = since + 1; seq <= last && seq - since <= EVENTS_MAX_PER_ANSWER; seq++) {
        const event *e = &ev->ring[seq % EVENTS_RING];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seq", (double)e->seq);
        cJSON_AddStringToObject(o, "path", e->path);
        cJSON_AddStringToObject(o, "what", e->what);
        if (e->size >= 0)
            cJSON_AddNumberToObject(o, "size", (double)e->size);
        cJSON_AddItemToArray(list, o);
        sent = seq;
    }
    pthread_mutex_unlock(&ev->lock);
    return answer(sent, false, list);
}
