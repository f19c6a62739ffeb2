/* client_internal.h: what the files of the client layer share: the client struct, one HTTP exchange,
 * and the answer cache. Not for other layers (they use amlfs/client.h). */
#ifndef AMLFS_CLIENT_INTERNAL_H
#define AMLFS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "amlfs/client.h"

/* Answers of GETs of JSON objects, keyed by url_path, each good for a short TTL. */
typedef struct client_cache client_cache;

client_cache *cache_new(int64_t ttl_ms);
void cache_free(client_cache *cache);
/* A malloc'd copy of a fresh answer, or NULL. */
char *cache_get(client_cache *cache, const char *key);
/* Taken before a GET starts: cache_put stores the answer only if nothing was invalidated meanwhile,
 * so an answer that raced with an event never outlives it. */
uint64_t cache_generation(client_cache *cache);
void cache_put(client_cache *cache, const char *key, const char *body, uint64_t generation);
void cache_invalidate(client_cache *cache, const char *key, bool subtree);
void cache_clear(client_cache *cache);

struct amlfs_client {
    char *address;              /* as given, for messages */
    char *socket_path;          /* unix socket, or NULL for TCP */
    char *base_url;             /* "http://localhost" or "https://host:port" */
    char *auth_header;          /* "Authorization: Bearer ...", or NULL */
    char *tls_ca;               /* PEM file of the CA that signed an https server's certificate, or NULL */

    /* curl easy handles are not thread-safe: each request borrows one from this pool. */
    pthread_mutex_t pool_mu;
    CURL **pool;
    size_t pool_len, pool_cap;

    client_cache *cache;

    /* The change feed. */
    pthread_t ev_thread;
    bool ev_running;
    atomic_bool ev_stop;
    pthread_mutex_t ev_mu;      /* guards the backoff wait */
    pthread_cond_t ev_cond;
    client_event_fn ev_fn;
    void *ev_ctx;
    long long ev_since;
};

/* Where a request body comes from: memory (data/len) or a file descriptor (fd >= 0, size bytes). */
typedef struct http_body {
    const void *data;
    size_t len;
    int fd;
    off_t size;
    const char *content_type;
} http_body;

/* An answer: status, body (NUL-terminated, malloc'd), X-Log-Size (-1 when absent). */
typedef struct http_answer {
    long status;
    char *body;
    size_t len;
    size_t cap;
    long long log_size;
} http_answer;

void http_answer_free(http_answer *a);

/* One request on a pooled handle. Returns 0 for a 2xx answer; else the negative errno of the server's
 * error body, or -EIO when it cannot be reached. `abort_flag` (may be NULL) stops a transfer early
 * (the feed thread's long poll), `timeout_s` bounds it. */
int http_exchange(amlfs_client *c, CURL *handle, const char *method, const char *url_path,
                  const http_body *body, long timeout_s, atomic_bool *abort_flag, http_answer *answer,
                  amlfs_err *err);
CURL *http_handle_take(amlfs_client *c);
void http_handle_give(amlfs_client *c, CURL *handle);

/* What an event at a mount path makes stale in the cache. */
void cache_invalidate_event(client_cache *cache, const char *path, const char *what);

#endif
