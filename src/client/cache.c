/* cache.c: answers to GETs of JSON objects, keyed by url_path: fresh for a short TTL (an ended run's
 * answers until an event says otherwise), then kept as the last answers (and how long each stays true
 * without the server) until an event makes them stale. A hash table in LRU order, bounded in entries
 * and bytes. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/api.h"
#include "amlfs/util.h"

/* Enough for every run of a 10,000-run workspace as listed plus the answers a walk of it asks for. */
#define CACHE_MAX_ENTRIES 65536
#define CACHE_MAX_BYTES ((size_t)16 << 20)
#define CACHE_BUCKETS 16384 /* a power of two */

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
    uint32_t hash;
    int64_t fresh_until_ms;
    lasting lasting;
    bool run_itself;            /* the run's own answer ("/v1/runs/ID" or a query of it) */
    uint32_t owner_hash;        /* of owner_of(key) */
    struct cache_entry *chain;  /* next in its bucket */
    struct cache_entry *owner_chain; /* next in its owner's bucket */
    struct cache_entry *newer, *older;
} cache_entry;

struct client_cache {
    pthread_mutex_t mu;
    cache_entry *buckets[CACHE_BUCKETS];
    cache_entry *owners[CACHE_BUCKETS]; /* the same entries by owner: what one event invalidates */
    cache_entry *newest, *oldest;
    size_t count, bytes;
    uint64_t generation;     /* bumped by every invalidation */
    int64_t ttl_ms;
    bool events_followed;    /* every change is announced: an ended run's answers stay fresh */
};

/* "/v1/runs/ID" of a key at or below a run (its length), or 0. */
static size_t run_key_len(const char *key)
{
    static const char runs[] = "/v1/runs/";
    if (strncmp(key, runs, sizeof runs - 1) != 0 || !key[sizeof runs - 1])
        return 0;
    return sizeof runs - 1 + strcspn(key + sizeof runs - 1, "/?");
}

static uint32_t hash_of(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* The length of a key's owner: "/v1/KIND" or "/v1/KIND/NAME", the object an event names. Every answer
 * an event about an object drops has that object as its owner, so an event costs the answers about
 * it, not a walk of the whole cache. */
static size_t owner_len(const char *key)
{
    if (strncmp(key, "/v1/", 4) != 0)
        return strcspn(key, "?");
    size_t n = 4 + strcspn(key + 4, "/?");
    if (key[n] == '/' && key[n + 1] && key[n + 1] != '?')
        n += 1 + strcspn(key + n + 1, "/?");
    return n;
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
    if (run && key[run] == '/')
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

void cache_follow_events(client_cache *cache, bool followed)
{
    pthread_mutex_lock(&cache->mu);
    cache->events_followed = followed;
    pthread_mutex_unlock(&cache->mu);
}

/* The entry for key[0..keylen); caller holds the lock. */
static cache_entry *find(client_cache *cache, const char *key, size_t keylen)
{
    uint32_t h = hash_of(key, keylen);
    for (cache_entry *e = cache->buckets[h & (CACHE_BUCKETS - 1)]; e; e = e->chain) {
        if (e->hash == h && strncmp(e->key, key, keylen) == 0 && !e->key[keylen])
            return e;
    }
    return NULL;
}

static void lru_unlink(client_cache *cache, cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        cache->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        cache->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(client_cache *cache, cache_entry *e)
{
    e->older = cache->newest;
    e->newer = NULL;
    if (cache->newest)
        cache->newest->newer = e;
    cache->newest = e;
    if (!cache->oldest)
        cache->oldest = e;
}

static void remove_entry(client_cache *cache, cache_entry *e)
{
    cache_entry **link = &cache->buckets[e->hash & (CACHE_BUCKETS - 1)];
    while (*link != e)
        link = &(*link)->chain;
    *link = e->chain;
    link = &cache->owners[e->owner_hash & (CACHE_BUCKETS - 1)];
    while (*link != e)
        link = &(*link)->owner_chain;
    *link = e->owner_chain;
    lru_unlink(cache, e);
    cache->count--;
    cache->bytes -= e->size;
    entry_free(e);
}

/* Whether the run that key is at or below has ended, as its own answer (full or as listed) says. */
static bool run_ended(client_cache *cache, const char *key)
{
    size_t run = run_key_len(key);
    if (!run)
        return false;
    cache_entry *r = find(cache, key, run);
    if (!r) {
        char listed[600];
        if (run + sizeof CLIENT_LISTED_QUERY > sizeof listed)
            return false;
        memcpy(listed, key, run);
        memcpy(listed + run, CLIENT_LISTED_QUERY, sizeof CLIENT_LISTED_QUERY);
        r = find(cache, listed, strlen(listed));
    }
    return r && r->lasting == LASTS;
}

/* Fresh: within its TTL, or about an ended run while every change is announced (an event drops it). */
static bool fresh(client_cache *cache, cache_entry *e)
{
    if (e->fresh_until_ms > util_mono_ms())
        return true;
    if (!cache->events_followed || e->fresh_until_ms == 0)
        return false;
    if (e->run_itself)
        return e->lasting == LASTS;
    return e->lasting == LASTS_IF_RUN_ENDED && run_ended(cache, e->key);
}

char *cache_get(client_cache *cache, const char *key)
{
    char *copy = NULL;
    pthread_mutex_lock(&cache->mu);
    cache_entry *e = find(cache, key, strlen(key));
    if (e && fresh(cache, e)) {
        copy = util_xstrdup(e->body);
        lru_unlink(cache, e);
        lru_push_newest(cache, e);
    }
    pthread_mutex_unlock(&cache->mu);
    return copy;
}

bool cache_has_fresh(client_cache *cache, const char *key)
{
    pthread_mutex_lock(&cache->mu);
    cache_entry *e = find(cache, key, strlen(key));
    bool has = e && fresh(cache, e);
    pthread_mutex_unlock(&cache->mu);
    return has;
}

char *cache_get_last(client_cache *cache, const char *key, bool live_ok)
{
    char *copy = NULL;
    pthread_mutex_lock(&cache->mu);
    cache_entry *e = find(cache, key, strlen(key));
    bool lasts = e && e->lasting == LASTS;
    if (e && e->lasting == LASTS_IF_RUN_ENDED)
        lasts = run_ended(cache, key);
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
    cache_entry *old = find(cache, key, strlen(key));
    if (old)
        remove_entry(cache, old);
    /* Full: drop the least recently used answers. */
    while (cache->oldest && (cache->count >= CACHE_MAX_ENTRIES || cache->bytes + size > CACHE_MAX_BYTES))
        remove_entry(cache, cache->oldest);
    cache_entry *e = util_xcalloc(1, sizeof *e);
    e->key = util_xstrdup(key);
    e->body = util_xstrdup(body);
    e->size = size;
    e->hash = hash_of(key, strlen(key));
    e->fresh_until_ms = util_mono_ms() + cache->ttl_ms;
    e->lasting = lasts;
    size_t run = run_key_len(key);
    e->run_itself = run && key[run] != '/';
    cache_entry **bucket = &cache->buckets[e->hash & (CACHE_BUCKETS - 1)];
    e->chain = *bucket;
    *bucket = e;
    e->owner_hash = hash_of(key, owner_len(key));
    bucket = &cache->owners[e->owner_hash & (CACHE_BUCKETS - 1)];
    e->owner_chain = *bucket;
    *bucket = e;
    lru_push_newest(cache, e);
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

/* Matching answers are dropped, or with keep_last only no longer fresh: still the last answer. When
 * key is an owner (and not a whole kind's subtree), only its owner's bucket holds them. */
static void invalidate(client_cache *cache, const char *key, bool subtree, bool keep_last)
{
    size_t keylen = strlen(key);
    size_t owner = owner_len(key);
    bool by_owner = owner == keylen && !(subtree && !strchr(key + (strncmp(key, "/v1/", 4) == 0 ? 4 : 0), '/'));
    uint32_t owner_hash = hash_of(key, keylen);
    pthread_mutex_lock(&cache->mu);
    cache->generation++;
    cache_entry *e = by_owner ? cache->owners[owner_hash & (CACHE_BUCKETS - 1)] : cache->newest;
    while (e) {
        cache_entry *next = by_owner ? e->owner_chain : e->older;
        if (key_matches(e->key, key, keylen, subtree)) {
            if (keep_last)
                e->fresh_until_ms = 0;
            else
                remove_entry(cache, e);
        }
        e = next;
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
    while (cache->oldest)
        remove_entry(cache, cache->oldest);
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
