/* client.h: amlfs's side of the HTTP API (docs/api.md): libcurl requests to amlfs-server, a short-lived
 * cache of JSON answers, and the change-feed thread that keeps that cache (and the mount) honest. */
#ifndef AMLFS_CLIENT_H
#define AMLFS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "amlfs/err.h"
#include "amlfs/snapshot.h"

typedef struct amlfs_client amlfs_client;

/* `server` is "unix:PATH" or "http://HOST:PORT" / "https://HOST:PORT". `token_file` (TCP only, may
 * be NULL) holds the bearer token. No connection is made here. */
int client_new(const char *server, const char *token_file, amlfs_client **out, amlfs_err *err);
void client_free(amlfs_client *c);
/* An https server's certificate is checked against this CA file (PEM) instead of the system's CAs. */
void client_set_tls_ca(amlfs_client *c, const char *ca_file);
/* The address as given, for messages. */
const char *client_address(const amlfs_client *c);

/* How long requests wait for the server (README "When the server does not answer"). */
typedef struct client_limits {
    /* A JSON answer from the server's own records is waited for this long in all; bytes (reads) until
     * none came for this long. Also how long a request tries again while nothing listens (a restart). */
    int metadata_timeout_s;
    /* While the server does not answer, the last answers about what changes on its own (a run not
     * ended: its status, log size, outputs; a compute's live state) are served this long after it
     * stopped answering, then EIO. What only the server changes is served as long as it is away. */
    int stale_timeout_s;
} client_limits;

#define CLIENT_METADATA_TIMEOUT_S 10
#define CLIENT_STALE_TIMEOUT_S 60

/* Set before the client is used by other threads (client_new sets the defaults above). */
void client_set_limits(amlfs_client *c, const client_limits *limits);

/* The FUSE request the calling thread serves: interrupted(ctx) says whether its caller gave up waiting
 * (a signal: Ctrl-C, kill -9; FUSE_INTERRUPT). This thread's requests then stop within about a second
 * and fail with -EINTR. NULL: none (requests are not interruptible). */
typedef bool (*client_interrupted_fn)(void *ctx);
void client_thread_interruptible(client_interrupted_fn interrupted, void *ctx);

/* Every `url_path` below is an API path with its query ("/v1/runs/ID?x=1"), already escaped.
 * All return 0 or a negative errno: the server's errno and message for an HTTP error
 * (api_error_from_body), -EIO "cannot reach amlfs-server at ADDRESS: ..." when it does not answer in
 * time (client_limits), -EINTR when the calling thread's request was interrupted. Changes (PUT, POST,
 * DELETE) and uploads are not bounded by the metadata deadline: they wait while bytes move, or while the
 * server works on them, up to 5 minutes of silence. */

/* GET a JSON object. With use_cache, an answer younger than the cache's TTL may be returned. While the
 * server does not answer, its last answer for url_path when that is still true (client_limits). */
int client_get_json(amlfs_client *c, const char *url_path, bool use_cache, cJSON **out, amlfs_err *err);
/* GET raw bytes [offset, offset+length) (length 0: to the end); *data is malloc'd (NUL-terminated).
 * *total (may be NULL) gets the X-Log-Size header, or -1 without one. */
int client_get_bytes(amlfs_client *c, const char *url_path, off_t offset, size_t length, char **data,
                     size_t *len, long long *total, amlfs_err *err);
/* GET the whole answer into fd (from its start; the file is cut to the answer's size): an answer too
 * large to hold in memory (a run's metrics.json). *len gets its size. */
int client_get_to_fd(amlfs_client *c, const char *url_path, int fd, size_t *len, amlfs_err *err);
/* PUT raw bytes from memory or from the first `size` bytes of fd; *out (may be NULL) gets the JSON
 * answer. */
int client_put_bytes(amlfs_client *c, const char *url_path, const void *data, size_t len, cJSON **out,
                     amlfs_err *err);
int client_put_fd(amlfs_client *c, const char *url_path, int fd, off_t size, cJSON **out,
                  amlfs_err *err);
/* POST the first `size` bytes of fd with the given content type (an upload: a tar of snapshot
 * contents); *out (may be NULL) gets the JSON answer. */
int client_post_fd(amlfs_client *c, const char *url_path, int fd, off_t size, const char *content_type,
                   cJSON **out, amlfs_err *err);
/* POST or PUT a JSON body (body may be NULL: an empty body); *out (may be NULL) gets the answer. */
int client_send_json(amlfs_client *c, const char *method, const char *url_path, const cJSON *body,
                     cJSON **out, amlfs_err *err);
/* The same with the body's JSON text as it is (len bytes, not parsed or printed again here). */
int client_send_json_text(amlfs_client *c, const char *method, const char *url_path, const char *text, size_t len,
                          cJSON **out, amlfs_err *err);
int client_delete(amlfs_client *c, const char *url_path, amlfs_err *err);

/* Every run (of one experiment, or all with experiment NULL) in submission order, by pages of GET
 * /v1/runs; fn (may be NULL) is called for each, and a non-zero return stops the listing with it.
 * Each run is kept as listed, for client_get_run. */
typedef int (*client_run_fn)(void *ctx, const cJSON *run);
int client_list_runs(amlfs_client *c, const char *experiment, client_run_fn fn, void *ctx, amlfs_err *err);
/* The run object of GET /v1/runs/ID. With listed_ok, what a recent listing showed of it will do when
 * it is fresh (a listing's item lacks the single run's extra fields: job_yaml, ctl_status, metrics,
 * ignored_keys, environment_reference). */
int client_get_run(amlfs_client *c, const char *id, bool listed_ok, cJSON **out, amlfs_err *err);
/* The first look into an ended run's folders, in one request (GET /v1/runs/ID/tree): the roots and
 * entries of outputs/, logs/, inputs/ and snapshot/ and the metrics listing are kept as the answers of
 * their own GETs would be. Nothing is asked when they are known already. */
int client_prime_run_tree(amlfs_client *c, const char *id, amlfs_err *err);

/* Snapshots a local code folder (ignore rules, limits; include/amlfs/snapshot.h), or one regular
 * file (a snapshot of it alone, under its own name), and uploads it:
 * the manifest to POST /v1/snapshots, then only the contents the server lacks to POST /v1/blobs.
 * hash gets the snapshot's name. Over the limits: -EFBIG with the message naming what to ignore,
 * before anything is read or sent. */
int client_snapshot_upload(amlfs_client *c, const char *path, const snapshot_limits *limits,
                           char hash[SNAPSHOT_SHA_HEX], amlfs_err *err);

/* Percent-encoding for building url_paths: one path segment or query value ('/' encoded), or a
 * relative path whose segments are encoded and whose '/' are kept. malloc'd. */
char *client_escape(const char *s);
char *client_escape_path(const char *relpath);
/* "/v1/runs/ID" + suffix (+ rel, its segments escaped, when not NULL): a run's API paths
 * ("/metrics/", "train/loss" -> /v1/runs/ID/metrics/train/loss). malloc'd. */
char *client_run_url(const char *run_id, const char *suffix, const char *rel);
/* "/v1/KIND/NAME" + suffix + rel (escaped as a path): the URL of an object's sub-resource; malloc'd. */
char *client_object_url(const char *kind, const char *name, const char *suffix, const char *rel);

/* The workspace object. */
#define CLIENT_WORKSPACE_URL "/v1/workspace"
/* "/v1/KIND": a collection (its listing, and where a new object is POSTed). malloc'd. */
char *client_collection_url(const char *kind);
/* "/v1/KIND/NAME/files/REL" (REL escaped as a path; "" or NULL: the files' root with its '/'). */
char *client_files_url(const char *kind, const char *name, const char *rel);
/* A read-only folder of an object: "/v1/KIND/NAME/FOLDER/REL" + suffix, or with version
 * "/v1/KIND/NAME/versions/VERSION/FOLDER/REL" + suffix (a run's outputs, logs, inputs, snapshot; a data
 * version's files; a datastore's files). malloc'd. */
char *client_folder_url(const char *kind, const char *name, const char *version, const char *folder,
                        const char *rel, const char *suffix);

/* The stored files API's queries on a file's or folder's URL (docs/api.md), malloc'd: its attributes;
 * making it a folder; setting its mode (its permission bits) and time, each only when >= 0; making it a
 * symlink; renaming it to another path of the same files. A folder's listing is its URL with a '/' at
 * the end. */
char *client_stat_url(const char *url);
char *client_mkdir_url(const char *url, unsigned mode);
char *client_attr_url(const char *url, long mode, long long mtime_ms);
char *client_symlink_url(const char *url, const char *target);
char *client_rename_url(const char *url, const char *to_rel);
char *client_listing_url(const char *url);
/* What a compute's status asks: its live state from the cluster, not only the stored one. */
#define CLIENT_LIVE_QUERY "?live=1"

/* Forget cached answers: the one for url_path and its queries ("?..."), and with subtree also
 * everything below it ("/..."). Every change this client makes clears the whole cache. */
void client_cache_invalidate(amlfs_client *c, const char *url_path, bool subtree);
void client_cache_clear(amlfs_client *c);

/* One change from GET /v1/events. `path` is where it shows in the mount ("runs/ID/log"), `what` one
 * of created, deleted, changed, files, grew; `size` is the new size for grew, else -1. */
typedef struct client_event {
    long long seq;
    const char *path;
    const char *what;
    long long size;
} client_event;

/* Called on the feed thread after the cache has dropped what the event touches. `ev` is NULL with
 * reset true when events were lost (the server said reset, or it was unreachable for a while):
 * everything must be considered changed. */
typedef void (*client_event_fn)(void *ctx, const client_event *ev, bool reset);

/* Follow the change feed from sequence number `since` on a thread of its own until
 * client_events_stop; connection failures are retried with backoff, forever. */
int client_events_start(amlfs_client *c, long long since, client_event_fn fn, void *ctx, amlfs_err *err);
void client_events_stop(amlfs_client *c);

#endif
