/* writes.c: the content side of file actions: a finished write stored (then a spec acted on), fsync,
 * truncate by path, chmod and times, stored files loaded into a write buffer, and the content of a
 * file unlinked or renamed over while open, kept for its handles. */
#include "fs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/util.h"

#define LOAD_CHUNK ((size_t)4 * 1024 * 1024) /* stored files come in ranges of this size */

/* The stored file at np (size bytes) into a new write buffer, by ranges: never the whole file in memory. */
static int load_stored(fs_state *fs, const node_path *np, off_t size, mode_t mode, wbuf **out, amlfs_err *err)
{
    int rc = wbuf_new("", 0, mode, out, err);
    if (rc < 0)
        return rc;
    char *url = view_files_url(np);
    off_t done = 0;
    while (rc == 0 && done < size) {
        char *data = NULL;
        size_t len = 0, want = (size_t)(size - done) < LOAD_CHUNK ? (size_t)(size - done) : LOAD_CHUNK;
        rc = client_get_bytes(fs->client, url, done, want, &data, &len, NULL, err);
        if (rc == 0 && len == 0)
            break; /* shorter than it was a moment ago: keep what there is */
        if (rc == 0 && lseek((*out)->fd, done, SEEK_SET) < 0)
            rc = amlfs_fail(err, errno, "cannot fill the write buffer: %s", strerror(errno));
        if (rc == 0 && (rc = util_write_all((*out)->fd, data, len)) < 0)
            rc = amlfs_fail(err, -rc, "cannot fill the write buffer: %s", strerror(-rc));
        done += (off_t)len;
        free(data);
    }
    free(url);
    if (rc < 0) {
        wbuf_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A stored entry's size, mode and modification time (-ENOENT when there is none; EISDIR for a folder). */
static int stored_size(fs_state *fs, const node_path *np, off_t *size, mode_t *mode, int64_t *mtime_ms,
                       amlfs_err *err)
{
    cJSON *entry = NULL;
    int rc = view_stored_entry(fs, np, true, &entry, err);
    if (rc == 0) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(entry, "type");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(entry, "mode");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(entry, "size");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "dir") == 0)
            rc = amlfs_fail(err, EISDIR, "a folder");
        *mode = cJSON_IsNumber(m) ? (mode_t)m->valuedouble & 07777 : 0644;
        *size = cJSON_IsNumber(s) ? (off_t)s->valuedouble : 0;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(entry, "mtime_ms");
        *mtime_ms = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
    }
    cJSON_Delete(entry);
    return rc;
}

int action_load_stored(fs_state *fs, const node_path *np, bool empty, wbuf **out, bool *was_nonempty,
                       amlfs_err *err)
{
    off_t size = 0;
    mode_t mode = 0644;
    int64_t mtime_ms = 0;
    *out = NULL;
    *was_nonempty = false;
    int rc = stored_size(fs, np, &size, &mode, &mtime_ms, err);
    if (rc < 0)
        return rc;
    *was_nonempty = size > 0;
    rc = load_stored(fs, np, empty ? 0 : size, mode, out, err);
    /* Until a write, the file keeps its time (an open for writing is not a change). */
    if (rc == 0 && mtime_ms > 0 && !(empty && size > 0))
        (*out)->mtime_ms = mtime_ms;
    /* A spec keeps what it held before this writer: an editor may put it back after a refused save. */
    if (rc == 0 && node_spec_kind(np, NULL) != SPEC_NONE && (size_t)size <= GUARD_TEXT_MAX)
        action_spec_text(fs, np, &(*out)->before, &(*out)->before_len, NULL);
    return rc;
}

/* What an upload sends: the buffer as it was when the upload began. */
typedef struct wbuf_moment {
    off_t size;
    mode_t mode;
    int64_t mtime_ms;
    uint64_t changes;
} wbuf_moment;

static int put_stored(fs_state *fs, const node_path *np, int fd, const wbuf_moment *m, amlfs_err *err)
{
    char *url = view_files_url(np);
    /* The time the writer saw (its last write, or a time it set) is the one stored: an editor compares
     * it with the file's later ("changed since reading it"). */
    char *put_url = client_attr_url(url, (long)m->mode, (long long)m->mtime_ms);
    int rc = client_put_fd(fs->client, put_url, fd, m->size, NULL, err);
    free(put_url);
    free(url);
    return rc;
}

/* Uploads the buffer's content; the caller holds b->mu and is the one storing (b->storing), and holds
 * it again on return. The lock is let go while the bytes travel, so writers are never held up by the
 * server; a change made meanwhile is sent again (a few times at most; after that it stays dirty for
 * the next close). */
static int store_buffer(fs_state *fs, const node_path *np, wbuf *b, amlfs_err *err)
{
    int rc = 0;
    for (int tries = 0; tries < 3; tries++) {
        wbuf_moment m = {wbuf_size(b), b->mode, b->mtime_ms, b->changes};
        pthread_mutex_unlock(&b->mu);
        rc = put_stored(fs, np, b->fd, &m, err);
        pthread_mutex_lock(&b->mu);
        if (b->changes == m.changes) {
            if (rc == 0)
                b->dirty = b->mode_changed = false;
            return rc;
        }
        /* Changed while it was sent (a short read of a file cut meanwhile fails the upload too). */
    }
    return rc;
}

/* Files of the object (experiments/NAME) still open for writing with content not stored yet (a
 * training script being saved while job.yaml is written): stored first, so a submission sees it. */
static void store_open_writes(fs_state *fs, const node_path *spec)
{
    const char *top = spec->kind == NODE_ENV_FILE ? "environments" : spec->kind == NODE_DATA_FILE ? "data" : "experiments";
    char *prefix = util_strdupf("%s/%s", top, spec->name);
    inode_hit *hits = NULL;
    size_t n = inode_collect(fs->inodes, prefix, &hits);
    for (size_t i = 0; i < n; i++) {
        wbuf *b = inode_wbuf_get(fs->inodes, hits[i].ino);
        if (!b)
            continue;
        node_path np;
        amlfs_err why = {0};
        if (node_classify(hits[i].path, &np) != NODE_NONE && node_spec_kind(&np, NULL) == SPEC_NONE &&
            action_finish_write(fs, &np, b, false, 0, &why) < 0)
            fs_log("%s: open file not stored before the submission: %s", hits[i].path, why.msg);
        inode_wbuf_put(fs->inodes, hits[i].ino, b);
    }
    inode_hits_free(hits, n);
    free(prefix);
}

int action_finish_write(fs_state *fs, const node_path *np, wbuf *b, bool act, pid_t tgid, amlfs_err *err)
{
    int rc = 0;
    char *text = NULL, *before = NULL;
    size_t len = 0, before_len = 0;
    bool spec = act && node_spec_kind(np, NULL) != SPEC_NONE;
    if (!node_is_stored(np->kind) && !node_object_spec_collection(np->kind))
        return amlfs_fail(err, EACCES, "this file cannot be written");
    pthread_mutex_lock(&b->mu);
    /* One upload at a time, in the order of the closes: the last close's content lands last. */
    while (b->storing)
        pthread_cond_wait(&b->stored, &b->mu);
    b->storing = true;
    /* Always store first: a refused spec keeps the text the user wrote. */
    if (node_is_stored(np->kind) && (b->dirty || b->mode_changed || spec))
        rc = store_buffer(fs, np, b, err);
    if (rc == 0 && spec)
        rc = wbuf_read_all(b, &text, &len, err);
    if (rc == 0 && spec && b->before) {
        before = util_xcalloc(1, b->before_len + 1);
        memcpy(before, b->before, b->before_len);
        before_len = b->before_len;
    }
    b->storing = false;
    pthread_cond_broadcast(&b->stored);
    pthread_mutex_unlock(&b->mu);
    if (rc == 0 && text) {
        if (np->kind == NODE_EXP_FILE || np->kind == NODE_ENV_FILE || np->kind == NODE_DATA_FILE)
            store_open_writes(fs, np);
        rc = action_act_on_spec(fs, np, text, len, before, before_len, tgid, err);
    }
    free(before);
    free(text);
    return rc;
}

/* The whole current content of a stored file or an object's spec (compute.yaml, datastore.yaml). */
static int current_content(fs_state *fs, const node_path *np, char **data, size_t *len, amlfs_err *err)
{
    const char *collection = node_object_spec_collection(np->kind);
    if (collection)
        return view_text(fs, np, data, len, err);
    char *url = view_files_url(np);
    int rc = client_get_bytes(fs->client, url, 0, 0, data, len, NULL, err);
    free(url);
    return rc;
}

int action_spec_text(fs_state *fs, const node_path *np, char **text, size_t *len, amlfs_err *err)
{
    *text = NULL;
    *len = 0;
    if (node_is_stored(np->kind)) {
        off_t size = 0;
        mode_t mode;
        int64_t mtime_ms;
        int rc = stored_size(fs, np, &size, &mode, &mtime_ms, err);
        if (rc < 0)
            return rc;
        if ((size_t)size > GUARD_TEXT_MAX)
            return amlfs_fail(err, EFBIG, "larger than a spec file");
    }
    int rc = current_content(fs, np, text, len, err);
    if (rc == 0 && *len > GUARD_TEXT_MAX) {
        free(*text);
        *text = NULL;
        *len = 0;
        return amlfs_fail(err, EFBIG, "larger than a spec file");
    }
    return rc;
}

int action_truncate(fs_state *fs, const node_path *np, off_t size, pid_t tgid, amlfs_err *err)
{
    if (np->kind == NODE_RUN_CTL || np->kind == NODE_ENV_CTL)
        return 0;
    if (!node_is_stored(np->kind) && !node_object_spec_collection(np->kind))
        return amlfs_fail(err, EACCES, "this file is read-only");
    if (size < 0 || size > FS_FILE_MAX)
        return amlfs_fail(err, EFBIG, "a stored file is at most %lld MiB", (long long)(FS_FILE_MAX >> 20));
    wbuf *b = NULL;
    bool nonempty = false;
    int rc;
    if (node_is_stored(np->kind)) {
        rc = action_load_stored(fs, np, false, &b, &nonempty, err);
    } else {
        char *data = NULL;
        size_t len = 0;
        rc = current_content(fs, np, &data, &len, err);
        if (rc == 0)
            rc = wbuf_new(data, len, 0644, &b, err);
        if (rc == 0 && len <= GUARD_TEXT_MAX) {
            b->before = data;
            b->before_len = len;
            data = NULL;
        }
        free(data);
    }
    if (rc < 0)
        return rc;
    if (ftruncate(b->fd, size) != 0)
        rc = amlfs_fail(err, errno, "cannot resize the write buffer: %s", strerror(errno));
    b->dirty = true;
    if (rc == 0)
        rc = action_finish_write(fs, np, b, true, tgid, err);
    wbuf_free(b);
    return rc;
}

/* The files API's path of np for an attribute change: an entry, or the object's own folder. */
static char *attr_url(const node_path *np)
{
    if (np->kind == NODE_EXP_DIR || np->kind == NODE_ENV_DIR || np->kind == NODE_DATA_DIR)
        return view_files_root_url(np);
    return view_files_url(np);
}

int action_set_attr(fs_state *fs, const node_path *np, int64_t mode, int64_t mtime_ms, amlfs_err *err)
{
    bool root = np->kind == NODE_EXP_DIR || np->kind == NODE_ENV_DIR || np->kind == NODE_DATA_DIR;
    if (!node_is_stored(np->kind) && !root)
        return amlfs_fail(err, EPERM, "the mode and times of this file are fixed");
    if (mode < 0 && mtime_ms < 0)
        return 0;
    char *url = attr_url(np);
    char *post = client_attr_url(url, (long)mode, (long long)mtime_ms);
    int rc = client_send_json(fs->client, "POST", post, NULL, NULL, err);
    free(post);
    free(url);
    return rc;
}

int action_keep_open_content(fs_state *fs, const char *path, const node_path *np, wbuf **kept, amlfs_err *err)
{
    *kept = NULL;
    fuse_ino_t ino = inode_find(fs->inodes, path);
    if (!ino || !node_is_stored(np->kind) || inode_opens(fs->inodes, ino) == 0)
        return 0;
    wbuf *b = inode_wbuf_get(fs->inodes, ino);
    if (b) {
        /* A writer's buffer holds it: the inode keeps a reference of its own, or the writer's release
         * (asynchronous, so possibly after this unlink) would free what the readers still read. */
        *kept = b;
        return 0;
    }
    bool nonempty;
    int rc = action_load_stored(fs, np, false, &b, &nonempty, err);
    if (rc == -EISDIR || rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    /* The inode keeps this reference until the kernel forgets it (inodes.c frees it then). A writer
     * that attached meanwhile holds the content already: then only our extra reference goes. */
    *kept = inode_wbuf_attach(fs->inodes, ino, b);
    if (*kept != b) {
        inode_wbuf_put(fs->inodes, ino, *kept);
        *kept = NULL;
    }
    return 0;
}
