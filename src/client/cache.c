/* cache.c: answers to GETs of JSON objects, keyed by url_path: fresh for a short TTL, then kept as the last
 * answers (and how long each stays true without the server) until an event makes them stale. Small by
 * design: a list, newest first, bounded in entries and bytes. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/api.h"
#include "amlfs/util.h"

#define CACHE_MAX_ENTRIES 1024
#define CACHE_MAX_BYTES ((size_t)16 << 20)

/* How long an answer stays true once the server stops answering (README "When the server does not
 * answer"). Nothing changes what only the server changes while it does not answer; the rest changes on
 * its own. */
typedef enum lasting {
    LASTS,                      /* as long as the server is away */
    LIVE,                       /* for the stale timeout only */
    LASTS_IF_RUN_ENDED,         /* below a run: LASTS once the run's own answer says it ended */
} lasting;

typedef struct cache_entry {
    char *key;
    char *body;
    size_t size;
    int64_t fresh_until_ms;
    lasting lasting;
    struct cache_entry *next;
} cache_entry;

struct client_cache {
    pthread_mutex_t mu;
    cache_entry *head;
    size_t count, bytes;
    uint64_t generation;     /* bumped by every invalidation */
    int64_t ttl_ms;
};

/* "/v1/runs/ID" of a key at or below a run (its length), or 0. */
static size_t run_key_len(const char *key)
{
    static const char runs[] = "/v1/runs/";
    if (strncmp(key, runs, sizeof runs - 1) != 0 || !key[sizeof runs - 1])
        return 0;
    return sizeof runs - 1 + strcspn(key + sizeof runs - 1, "/?");
}

/* The "status" word of a JSON object's text ("" when none); malloc'd. */
static char *status_of(const char *body)
{
    cJSON *obj = cJSON_Parse(body);
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "status"));
    char *copy = util_xstrdup(status ? status : "");
    cJSON_Delete(obj);
    return copy;
}

/* What only the server changes lasts. What changes on its own does not: a run that has not ended (its
 * status and log size, its outputs and logs, as its job writes them), an environment being built, a
 * compute's live state (asked of the cluster), a datastore's blobs, the workspace's disk. */
static lasting lasting_of(const char *key, const char *body)
{
    if (strcmp(key, "/v1/workspace") == 0 || strstr(key, "live=1") ||
        (strncmp(key, "/v1/datastores/", 15) == 0 && strstr(key, "/files")))
        return LIVE;
    size_t run = run_key_len(key);
    if (run && key[run])
        return LASTS_IF_RUN_ENDED;
    bool env = strncmp(key, "/v1/environments/", 17) == 0 && key[17] && !key[17 + strcspn(key + 17, "/?")];
    if (!run && !env)
        return LASTS;
    char *status = status_of(body);
    int word = run_status_parse(status);
    bool lasts = run ? word >= 0 && run_status_terminal((run_status)word) : strcmp(status, "Building") != 0;
    free(status);
    return lasts ? LASTS : LIVE;
}

static void entry_free(cache_entry *e)
{
    free(e->key);
    free(e->body);
    free(e);
}

client_cache *cache_new(int64_t ttl_ms)
{
    client_cache *cache = util_xcalloc(1, sizeof *cache);
    pthread_mutex_init(&cache->mu, NULL);
    cache->ttl_ms = ttl_ms;
    return cache;
}

void cache_free(client_cache *cache)
{
    if (!cache)
        return;
    cache_clear(cache);
    pthread_mutex_destroy(&cache->mu);
    free(cache);
}

/* The entry for key; caller holds the lock. */
static cache_entry *find(client_cache *cache, const char *key, size_t keylen)
{
    for (cache_entry *e = cache->head; e; e = e->next) {
        if (strncmp(e->key, key, keylen) == 0 && !e->key[keylen])
            return e;
    }
    return NULL;
}

char *cache_get(client_cache *cache, const char *key)
{
    char *copy = NULL;
    pthread_mutex_lock(&cache->mu);
    cache_entry *e = find(cache, key, strlen(key));
    if (e && e->fresh_until_ms > util_mono_ms())
        copy = util_xstrdup(e->body);
    pthread_mutex_unlock(&cache->mu);
    return copy;
}

char *cache_get_last(client_cache *cache, const char *key, bool live_ok)
{
    char *copy = NULL;
    pthread_mutex_lock(&cache->mu);
    cache_entry *e = find(cache, key, strlen(key));
    bool lasts = e && e->lasting == LASTS;
    if (e && e->lasting == LASTS_IF_RUN_ENDED) {
        cache_entry *run = find(cache, key, run_key_len(key));
        lasts = run && run->lasting == LASTS;
    }
    if (e && (lasts || live_ok))
        copy = util_xstrdup(e->body);
    pthread_mutex_unlock(&cache->mu);
    return copy;
}

uint64_t cache_generation(client_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    uint64_t g = cache->generation;
    pthread_mutex_unlock(&cache->mu);
    return g;
}

static void unlink_entry(client_cache *cache, cache_entry **link)
{
    cache_entry *e = *link;
    *link = e->next;
    cache->count--;
    cache->bytes -= e->size;
    entry_free(e);
}

void cache_put(client_cache *cache, const char *key, const char *body, uint64_t generation)
{
    size_t size = strlen(key) + strlen(body) + sizeof(cache_entry);
    if (size > CACHE_MAX_BYTES / 4)
        return; /* a giant listing would push out everything else */
    lasting lasts = lasting_of(key, body);
    pthread_mutex_lock(&cache->mu);
    if (generation != cache->generation) {
        pthread_mutex_unlock(&cache->mu);
        return;
    }
    for (cache_entry **link = &cache->head; *link; link = &(*link)->next) {
        if (strcmp((*link)->key, key) == 0) {
            unlink_entry(cache, link);
            break;
        }
    }
    /* Full: drop the oldest answers (the tail). */
    while (cache->head && (cache->count >= CACHE_MAX_ENTRIES || cache->bytes + size > CACHE_MAX_BYTES)) {
        cache_entry **link = &cache->head;
        while ((*link)->next)
            link = &(*link)->next;
        unlink_entry(cache, link);
    }
    cache_entry *e = util_xcalloc(1, sizeof *e);
    e->key = util_xstrdup(key);
    e->body = util_xstrdup(body);
    e->size = size;
    e->fresh_until_ms = util_mono_ms() + cache->ttl_ms;
    e->lasting = lasts;
    e->next = cache->head;
    cache->head = e;
    cache->count++;
    cache->bytes += size;
    pthread_mutex_unlock(&cache->mu);
}

/* key itself, key?query, and with subtree key/anything. "/v1/runs/ab" must not match "/v1/runs/abc". */
static bool key_matches(const char *candidate, const char *key, size_t keylen, bool subtree)
{
    if (strncmp(candidate, key, keylen) != 0)
        return false;
    char next = candidate[keylen];
    return next == '\0' || next == '?' || (subtree && next == '/');
}

/* Matching answers are dropped, or with keep_last only no longer fresh: still the last answer. */
static void invalidate(client_cache *cache, const char *key, bool subtree, bool keep_last)
{
    size_t keylen = strlen(key);
    pthread_mutex_lock(&cache->mu);
    cache->generation++;
    cache_entry **link = &cache->head;
    while (*link) {
        bool match = key_matches((*link)->key, key, keylen, subtree);
        if (match && keep_last)
            (*link)->fresh_until_ms = 0;
        if (match && !keep_last)
            unlink_entry(cache, link);
        else
            link = &(*link)->next;
    }
    pthread_mutex_unlock(&cache->mu);
}

void cache_invalidate(client_cache *cache, const char *key, bool subtree)
{
    invalidate(cache, key, subtree, false);
}

void cache_clear(client_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    cache->generation++;
    while (cache->head)
        unlink_entry(cache, &cache->head);
    pthread_mutex_unlock(&cache->mu);
}

/* An event names a place in the mount: "KIND/NAME[/...]". Its object (and everything under it in the
 * API: files, versions, log) is stale, and so is the KIND listing unless only a log grew. Objects
 * that count runs (experiments) change when a run appears or goes. A log that grew leaves the rest of
 * its object's answers true: they stay as the last answers (a log's last known size, README "When the
 * server does not answer"), only no longer fresh. */
void cache_invalidate_event(client_cache *cache, const char *path, const char *what)
{
    char kind[64], name[512];
    const char *slash = strchr(path, '/');
    size_t klen = slash ? (size_t)(slash - path) : strlen(path);
    if (klen == 0 || klen >= sizeof kind) {
        cache_clear(cache);
        return;
    }
    memcpy(kind, path, klen);
    kind[klen] = '\0';
    char key[700];
    snprintf(key, sizeof key, "/v1/%s", kind);
    bool grew = strcmp(what, "grew") == 0;
    if (!grew)
        cache_invalidate(cache, key, false);
    if (slash) {
        const char *n = slash + 1;
        size_t nlen = strcspn(n, "/");
        if (nlen > 0 && nlen < sizeof name) {
            char *escaped;
            memcpy(name, n, nlen);
            name[nlen] = '\0';
            escaped = curl_easy_escape(NULL, name, 0);
            if (escaped) {
                snprintf(key, sizeof key, "/v1/%s/%s", kind, escaped);
                curl_free(escaped);
                invalidate(cache, key, true, grew);
            } else {
                cache_clear(cache);
            }
        }
    }
    if (strcmp(kind, "runs") == 0 && (strcmp(what, "created") == 0 || strcmp(what, "deleted") == 0))
        cache_invalidate(cache, "/v1/experiments", true);
    invalidate(cache, "/v1/workspace", false, grew);
}
