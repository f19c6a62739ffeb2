/* cache.c: recent answers to GETs of JSON objects, keyed by url_path, each kept for a short TTL, and
 * what an event from the change feed makes stale. Small by design: a list, newest first, bounded. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/util.h"

#define CACHE_MAX_ENTRIES 512

typedef struct cache_entry {
    char *key;
    char *body;
    int64_t expires_ms;
    struct cache_entry *next;
} cache_entry;

struct client_cache {
    pthread_mutex_t mu;
    cache_entry *head;
    size_t count;
    uint64_t generation;     /* bumped by every invalidation */
    int64_t ttl_ms;
};

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

char *cache_get(client_cache *cache, const char *key)
{
    char *copy = NULL;
    int64_t now = util_mono_ms();
    pthread_mutex_lock(&cache->mu);
    for (cache_entry *e = cache->head; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if (e->expires_ms > now)
                copy = util_xstrdup(e->body);
            break;
        }
    }
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

/* Drop expired entries and the one for key; caller holds the lock. */
static void prune(client_cache *cache, const char *key, int64_t now)
{
    cache_entry **link = &cache->head;
    while (*link) {
        cache_entry *e = *link;
        if (e->expires_ms <= now || strcmp(e->key, key) == 0) {
            *link = e->next;
            entry_free(e);
            cache->count--;
        } else {
            link = &e->next;
        }
    }
}

void cache_put(client_cache *cache, const char *key, const char *body, uint64_t generation)
{
    int64_t now = util_mono_ms();
    pthread_mutex_lock(&cache->mu);
    if (generation != cache->generation) {
        pthread_mutex_unlock(&cache->mu);
        return;
    }
    prune(cache, key, now);
    if (cache->count >= CACHE_MAX_ENTRIES) {
        /* Full of live entries: drop the oldest (the tail). */
        cache_entry **link = &cache->head;
        while ((*link)->next)
            link = &(*link)->next;
        entry_free(*link);
        *link = NULL;
        cache->count--;
    }
    cache_entry *e = util_xcalloc(1, sizeof *e);
    e->key = util_xstrdup(key);
    e->body = util_xstrdup(body);
    e->expires_ms = now + cache->ttl_ms;
    e->next = cache->head;
    cache->head = e;
    cache->count++;
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

void cache_invalidate(client_cache *cache, const char *key, bool subtree)
{
    size_t keylen = strlen(key);
    pthread_mutex_lock(&cache->mu);
    cache->generation++;
    cache_entry **link = &cache->head;
    while (*link) {
        cache_entry *e = *link;
        if (key_matches(e->key, key, keylen, subtree)) {
            *link = e->next;
            entry_free(e);
            cache->count--;
        } else {
            link = &e->next;
        }
    }
    pthread_mutex_unlock(&cache->mu);
}

void cache_clear(client_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    cache->generation++;
    while (cache->head) {
        cache_entry *e = cache->head;
        cache->head = e->next;
        entry_free(e);
    }
    cache->count = 0;
    pthread_mutex_unlock(&cache->mu);
}

/* An event names a place in the mount: "KIND/NAME[/...]". Its object (and everything under it in the
 * API: files, versions, log) is stale, and so is the KIND listing unless only a log grew. Objects
 * that count runs (experiments) change when a run appears or goes. */
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
                cache_invalidate(cache, key, true);
            } else {
                cache_clear(cache);
            }
        }
    }
    if (strcmp(kind, "runs") == 0 && (strcmp(what, "created") == 0 || strcmp(what, "deleted") == 0))
        cache_invalidate(cache, "/v1/experiments", true);
    cache_invalidate(cache, "/v1/workspace", false);
}
