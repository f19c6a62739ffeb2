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

/* Answers of GETs of JSON objects, keyed by url_path: fresh for a short TTL, then kept as the last
 * answers, served while the server does not answer when still true (README "When the server does not
 * answer"), until an event or a change makes them stale. */
typedef struct client_cache client_cache;

client_cache *cache_new(int64_t ttl_ms);
void cache_free(client_cache *cache);
/* A malloc'd copy of a fresh answer, or NULL. */
char *cache_get(client_cache *cache, const char *key);
/* Whether key has a fresh answer (without copying it). */
bool cache_has_fresh(client_cache *cache, const char *key);
/* A malloc'd copy of the last answer for key, fresh or not, when it is still true while the server does
 * not answer: always for what only the server changes, and with live_ok also for what changes on its
 * own (a run not ended, a compute's live state, a datastore's blobs, the workspace's disk). NULL else. */
char *cache_get_last(client_cache *cache, const char *key, bool live_ok);
/* Taken before a GET starts: cache_put stores the answer only if nothing was invalidated meanwhile,
 * so an answer that raced with an event never outlives it. */
uint64_t cache_generation(client_cache *cache);
void cache_put(client_cache *cache, const char *key, const char *body, uint64_t generation);
void cache_invalidate(client_cache *cache, const char *key, bool subtree);
void cache_clear(client_cache *cache);
/* While the change feed is followed, every change is announced: an ended run's answers (which change
 * only by what the server announces) stay fresh until an event drops them. */
void cache_follow_events(client_cache *cache, bool followed);
/* A run as a listing showed it is kept under its own key plus this query ("/v1/runs/ID?listed"), so an
 * event about the run drops it with the rest of the run's answers. */
#define CLIENT_LISTED_QUERY "?listed"
/* A GET of a JSON object that is not kept in the cache (its parts are, under their own keys). */
int client_get_json_unkept(amlfs_client *c, const char *url_path, cJSON **out, amlfs_err *err);

/* Whether the server answers, as the last exchanges found it. */
typedef enum client_away {
    AWAY_NO = 0,
    AWAY_GONE,                  /* nothing listens, or the connection broke (a crash, a restart) */
    AWAY_SILENT,                /* it took a request and said nothing for a whole deadline (stopped, stuck) */
} client_away;

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
    client_limits limits;

    /* Whether the server answers (away.c); guarded by away_mu. */
    pthread_mutex_t away_mu;
    client_away away;
    int64_t away_since_ms;      /* util_mono_ms when it stopped answering */
    bool answered_once;

    /* The change feed. */
    pthread_t ev_thread;
    atomic_bool ev_running;
    atomic_bool ev_stop;
    atomic_bool ev_wake;        /* ends the feed's wait (backoff, long poll): stopping, or the server went away */
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

/* Why an exchange has no answer. */
typedef enum http_miss {
    HTTP_ANSWERED = 0,          /* the server answered (any HTTP status) */
    HTTP_NOT_SENT,              /* nothing listens (refused, no socket): the request never left */
    HTTP_CUT,                   /* the connection broke, or failed otherwise (the server died mid-request) */
    HTTP_SILENT,                /* sent, and nothing came back within the limits (a stopped or stuck server) */
    HTTP_LOCAL,                 /* stopped on our side: interrupted, aborted, the body's file, an answer too large */
} http_miss;

/* An answer: status, body (NUL-terminated, malloc'd), X-Log-Size (-1 when absent), or why there is none. */
typedef struct http_answer {
    long status;
    char *body;
    size_t len;
    size_t cap;
    long long log_size;
    http_miss miss;
    /* An answer to a file (http_exchange's sink_fd): the body goes there, only its first bytes (an
     * error's message) to body; sunk counts what went to the file, sink_errno why writing it failed. */
    bool to_sink;
    int sink_fd;
    size_t sunk;
    int sink_errno;
} http_answer;

void http_answer_free(http_answer *a);

/* How long one exchange may take: total_ms in all (0: no bound), stall_s while nothing moves (below 1
 * byte/s; 0: no bound). abort_flag (may be NULL) stops it with -ECANCELED (the feed's long poll); the
 * calling thread's interrupt (client_thread_interruptible) with -EINTR. */
typedef struct http_limits {
    int64_t total_ms;
    long stall_s;
    atomic_bool *abort_flag;
} http_limits;

/* One request on a pooled handle. Returns 0 for a 2xx answer; else the negative errno of the server's
 * error body, or -EIO when it cannot be reached (answer->miss says how). Tells away.c what it found.
 * sink_fd >= 0: the answer's body is written to that file (emptied first), not kept in memory. */
int http_exchange(amlfs_client *c, CURL *handle, const char *method, const char *url_path,
                  const http_body *body, const http_limits *limits, int sink_fd, http_answer *answer, amlfs_err *err);
CURL *http_handle_take(amlfs_client *c);
void http_handle_give(amlfs_client *c, CURL *handle);

/* What an event at a mount path makes stale in the cache. */
void cache_invalidate_event(client_cache *cache, const char *path, const char *what);

/* away.c: what exchanges found (an answer; a miss, from an exchange started at started_ms), the state
 * (*since_ms, may be NULL: when it stopped answering), and the last answer for key that may be served
 * now (NULL while the server answers, or when none is still true). */
void away_answered(amlfs_client *c);
void away_missed(amlfs_client *c, http_miss miss, int64_t started_ms);
client_away away_state(amlfs_client *c, int64_t *since_ms);
bool away_answered_once(amlfs_client *c);
char *away_last_answer(amlfs_client *c, const char *key);
/* Whether the calling thread's request was interrupted; a pause of ms that ends early (false) if so. */
bool client_interrupted(void);
bool client_pause(int ms);

#endif
