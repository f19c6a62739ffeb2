/* snapshots.c: the server's code snapshots: the blob store in DATA_DIR/snapshots, the workspace's
 * limits, snapshots of folders the server holds itself, a cache of manifests, and upload counters. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

#define MB (1024ull * 1024)
/* Manifests read recently: a run's snapshot folder is browsed file by file (stat, open, read), and
 * parsing and checking a 2000-entry manifest for each request would cost milliseconds each time. */
#define CACHE_SLOTS 8

typedef struct cache_slot {
    snapshot_manifest *m;
    int refs;
    uint64_t used;
    bool complete; /* every content was found in the store once: the store never removes one */
} cache_slot;

struct snapshot_cache {
    pthread_mutex_t lock;
    cache_slot slots[CACHE_SLOTS];
    uint64_t tick;
};

static const char *const counter_keys[] = {"uploads_bytes", "uploads_blobs", "uploads_requests"};

/* A limit: the flag when given (and kept), else the kept value, else the default. */
static int settle_limit(server *srv, const char *key, uint64_t flag, uint64_t dflt, uint64_t max, uint64_t *out,
                        amlfs_err *err)
{
    if (flag > 0) {
        char text[32];
        snprintf(text, sizeof text, "%" PRIu64, flag);
        *out = flag;
        return store_meta_set(srv->store, key, text, err);
    }
    char *kept = NULL;
    int rc = store_meta_get(srv->store, key, &kept, err);
    if (rc == -ENOENT) {
        *out = dflt;
        return 0;
    }
    if (rc < 0)
        return rc;
    char *end;
    unsigned long long v = strtoull(kept, &end, 10);
    *out = *kept && !*end && v > 0 && v <= max ? v : dflt;
    free(kept);
    return 0;
}

int server_snapshots_open(server *srv, const server_config *cfg, amlfs_err *err)
{
    srv->snapshot_dir = server_path(srv, "snapshots");
    /* Temp files of uploads cut short by a crash: nothing refers to them. */
    char *tmp = server_path(srv, "snapshots/tmp");
    int rc = util_rm_rf(tmp, err);
    if (rc == 0)
        rc = util_mkdir_p(tmp, 0700, err);
    free(tmp);
    if (rc == 0)
        rc = settle_limit(srv, "snapshot_max_mb", cfg->snapshot_max_mb, SNAPSHOT_DEFAULT_MAX_BYTES / MB,
                          SPEC_SNAPSHOT_MAX_MB, &srv->snapshot_max_mb, err);
    if (rc == 0)
        rc = settle_limit(srv, "snapshot_max_files", cfg->snapshot_max_files, SNAPSHOT_DEFAULT_MAX_FILES,
                          SPEC_SNAPSHOT_MAX_FILES, &srv->snapshot_max_files, err);
    if (rc == 0)
        rc = settle_limit(srv, "data_max_mb", cfg->data_max_mb, SPEC_DATA_MAX_MB, SPEC_SNAPSHOT_MAX_MB,
                          &srv->data_max_mb, err);
    if (rc == 0)
        rc = settle_limit(srv, "data_max_files", cfg->data_max_files, SPEC_DATA_MAX_FILES, SPEC_SNAPSHOT_MAX_FILES,
                          &srv->data_max_files, err);
    if (rc < 0)
        return amlfs_wrap(err, "snapshots: ");
    srv->snapshots = util_xcalloc(1, sizeof *srv->snapshots);
    pthread_mutex_init(&srv->snapshots->lock, NULL);
    return 0;
}

void server_snapshots_close(server *srv)
{
    snapshot_cache *c = srv->snapshots;
    if (c) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            if (c->slots[i].m) {
                snapshot_manifest_free(c->slots[i].m);
                free(c->slots[i].m);
            }
        }
        pthread_mutex_destroy(&c->lock);
        free(c);
        srv->snapshots = NULL;
    }
    free(srv->snapshot_dir);
    srv->snapshot_dir = NULL;
}

snapshot_limits server_snapshot_limits(server *srv, const job_spec *job)
{
    uint64_t mb = job && job->snapshot_max_mb ? job->snapshot_max_mb : srv->snapshot_max_mb;
    uint64_t files = job && job->snapshot_max_files ? job->snapshot_max_files : srv->snapshot_max_files;
    return (snapshot_limits){.max_bytes = mb * MB, .max_files = files};
}

snapshot_limits server_data_limits(const server *srv)
{
    return (snapshot_limits){.max_bytes = srv->data_max_mb * MB, .max_files = srv->data_max_files};
}

const char *server_snapshot_ignore_file(const snapshot_manifest *m)
{
    /* What the walker suggests (walk.c): the kind in effect is the root's .amlignore if there is one,
     * else its .gitignore; with neither, .amlignore (a new .gitignore would change git's view too). */
    const snapshot_entry *aml = snapshot_manifest_find(m, SNAPSHOT_AMLIGNORE);
    const snapshot_entry *git = snapshot_manifest_find(m, SNAPSHOT_GITIGNORE);
    return !aml && git && git->type == SNAPSHOT_FILE ? SNAPSHOT_GITIGNORE : SNAPSHOT_AMLIGNORE;
}

/* One file of a walked folder into the store, checked against the hash the walk found. */
static int store_file(server *srv, const char *dir, const snapshot_entry *e, amlfs_err *err)
{
    if (snapshot_blob_has(srv->snapshot_dir, e->sha256))
        return 0;
    char *full = util_strdupf("%s/%s", dir, e->path);
    /* O_NOFOLLOW | O_NONBLOCK: a file replaced by a symlink or a fifo since the walk is refused, not
     * followed or waited on. */
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = amlfs_fail(err, EAGAIN, "'%s' changed while the snapshot was taken; submit again", e->path);
    else if ((rc = snapshot_blob_put_fd(srv->snapshot_dir, fd, e->sha256, NULL, err)) == -EINVAL)
        rc = amlfs_fail(err, EAGAIN, "'%s' changed while the snapshot was taken; submit again", e->path);
    if (fd >= 0)
        close(fd);
    free(full);
    return rc < 0 ? rc : 0;
}

static int snapshot_folder_once(server *srv, const char *dir, const snapshot_limits *limits, snapshot_manifest *m,
                                amlfs_err *err)
{
    int rc = snapshot_manifest_build(dir, limits, m, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < m->count; i++)
        if (m->entries[i].type == SNAPSHOT_FILE)
            rc = store_file(srv, dir, &m->entries[i], err);
    if (rc == 0)
        rc = server_snapshot_keep(srv, m, err);
    if (rc < 0)
        snapshot_manifest_free(m);
    return rc;
}

/* A folder of the workspace is live: another program's save can replace a file (its job.yaml, say) while
 * the walk reads it. Walked again then, a few times, before a submission is refused for it (4 shells
 * saving one job.yaml lost 1 to 2 acknowledged saves in 20 that way). */
#define SNAPSHOT_TRIES 5

int server_snapshot_folder(server *srv, const char *dir, const snapshot_limits *limits, snapshot_manifest *m,
                           amlfs_err *err)
{
    int rc = -EAGAIN;
    for (int i = 0; i < SNAPSHOT_TRIES && rc == -EAGAIN; i++) {
        memset(err, 0, sizeof *err);
        rc = snapshot_folder_once(srv, dir, limits, m, err);
    }
    return rc;
}

int server_snapshot_file(server *srv, const char *path, const snapshot_limits *limits, snapshot_manifest *m,
                         amlfs_err *err)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? util_strdupf("%.*s", (int)(slash - path), path) : util_xstrdup(".");
    int rc = snapshot_manifest_build_file(path, limits, m, err);
    if (rc == 0)
        rc = store_file(srv, dir, &m->entries[0], err);
    if (rc == 0)
        rc = server_snapshot_keep(srv, m, err);
    if (rc < 0)
        snapshot_manifest_free(m);
    free(dir);
    return rc;
}

int server_snapshot_keep(server *srv, const snapshot_manifest *m, amlfs_err *err)
{
    char *path = util_strdupf("%s/manifests/%s.json", srv->snapshot_dir, m->hash);
    struct stat st;
    /* Written atomically under its own hash: one that exists is whole and right (a resubmission skips
     * the write and its fsync). */
    int rc = snapshot_sha_valid(m->hash) && stat(path, &st) == 0 && S_ISREG(st.st_mode)
                 ? 0
                 : snapshot_store_put_manifest(srv->snapshot_dir, m, err);
    free(path);
    return rc;
}

/* ---- the manifest cache ---- */

static cache_slot *find_slot(snapshot_cache *c, const char *hash)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (c->slots[i].m && strcmp(c->slots[i].m->hash, hash) == 0)
            return &c->slots[i];
    return NULL;
}

/* Lock held. An empty slot, else the least recently used one nobody holds, now holding m; NULL when every
 * slot is in use. */
static cache_slot *take_slot_locked(snapshot_cache *c, snapshot_manifest *m)
{
    cache_slot *s = NULL;
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *cand = &c->slots[i];
        if (cand->refs > 0)
            continue;
        if (!cand->m) {
            s = cand;
            break;
        }
        if (!s || cand->used < s->used)
            s = cand;
    }
    if (!s)
        return NULL;
    if (s->m) {
        snapshot_manifest_free(s->m);
        free(s->m);
    }
    *s = (cache_slot){.m = m, .used = ++c->tick};
    return s;
}

void server_snapshot_put(server *srv, snapshot_manifest *m)
{
    snapshot_manifest *own = util_xcalloc(1, sizeof *own);
    *own = *m;
    snapshot_manifest_init(m);
    snapshot_cache *c = srv->snapshots;
    pthread_mutex_lock(&c->lock);
    if (snapshot_sha_valid(own->hash) && !find_slot(c, own->hash) && take_slot_locked(c, own))
        own = NULL;
    pthread_mutex_unlock(&c->lock);
    if (own) {
        snapshot_manifest_free(own);
        free(own);
    }
}

int server_snapshot_missing(server *srv, const snapshot_manifest *m, char ***missing, size_t *n, amlfs_err *err)
{
    snapshot_cache *c = srv->snapshots;
    pthread_mutex_lock(&c->lock);
    cache_slot *s = find_slot(c, m->hash);
    bool complete = s && s->complete;
    pthread_mutex_unlock(&c->lock);
    if (complete) {
        *missing = util_xcalloc(1, sizeof **missing);
        *n = 0;
        return 0;
    }
    int rc = snapshot_blobs_missing(srv->snapshot_dir, m, missing, n, err);
    if (rc == 0 && *n == 0) {
        pthread_mutex_lock(&c->lock);
        if ((s = find_slot(c, m->hash)) != NULL)
            s->complete = true;
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

int server_snapshot_get(server *srv, const char *hash, const snapshot_manifest **out, amlfs_err *err)
{
    *out = NULL;
    if (!snapshot_sha_valid(hash))
        return amlfs_fail(err, EINVAL, "'%s' is not a snapshot hash (64 lowercase hex digits)", hash);
    snapshot_cache *c = srv->snapshots;
    pthread_mutex_lock(&c->lock);
    cache_slot *s = find_slot(c, hash);
    if (s) {
        s->refs++;
        s->used = ++c->tick;
        *out = s->m;
    }
    pthread_mutex_unlock(&c->lock);
    if (*out)
        return 0;
    /* Read and checked outside the lock: a slow disk must not hold up the other requests. */
    snapshot_manifest *m = util_xcalloc(1, sizeof *m);
    int rc = snapshot_store_get_manifest(srv->snapshot_dir, hash, m, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    /* Another request may have read it meanwhile: then theirs is shared. */
    if ((s = find_slot(c, hash)) == NULL && (s = take_slot_locked(c, m)) != NULL)
        m = NULL;
    if (s) {
        s->refs++;
        s->used = ++c->tick;
        *out = s->m;
    } else {
        *out = m; /* every slot in use: this one is the caller's alone, freed at release */
        m = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (m) {
        snapshot_manifest_free(m);
        free(m);
    }
    return 0;
}

void server_snapshot_release(server *srv, const snapshot_manifest *m)
{
    if (!m)
        return;
    snapshot_cache *c = srv->snapshots;
    pthread_mutex_lock(&c->lock);
    bool cached = false;
    for (size_t i = 0; i < CACHE_SLOTS && !cached; i++) {
        if (c->slots[i].m == m) {
            c->slots[i].refs--;
            cached = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (!cached) {
        snapshot_manifest *own = (snapshot_manifest *)m;
        snapshot_manifest_free(own);
        free(own);
    }
}

/* ---- upload counters ---- */

void server_uploads_count(server *srv, int64_t bytes, int64_t blobs)
{
    const int64_t deltas[] = {bytes, blobs, 1};
    for (size_t i = 0; i < 3; i++) {
        amlfs_err why = {0};
        if (store_meta_add(srv->store, counter_keys[i], deltas[i], NULL, &why) < 0)
            log_warning("counting uploads: %s", why.msg);
    }
}

int server_uploads_get(server *srv, int64_t *bytes, int64_t *blobs, int64_t *requests, amlfs_err *err)
{
    int64_t *outs[] = {bytes, blobs, requests};
    for (size_t i = 0; i < 3; i++) {
        /* Adding 0 reads the counter and makes it exist. */
        int rc = store_meta_add(srv->store, counter_keys[i], 0, outs[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
