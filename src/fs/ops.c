/* ops.c: the fuse_lowlevel_ops handlers: a thin adapter that turns each kernel request into a node
 * (nodes.c), asks views.c or actions.c, keeps the inode table and file handles, and replies. */
#include "fs_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "amlfs/util.h"

typedef enum handle_kind {
    H_TEXT,                     /* generated text, made at open */
    H_BYTES,                    /* a log or stored file read from the server by offset */
    H_WRITE,                    /* a file open for writing: the inode's write buffer */
    H_CTL,                      /* a run's ctl file */
    H_DIR,                      /* a listing, made at opendir */
} handle_kind;

typedef struct fs_handle {
    handle_kind kind;
    char *text;
    size_t len;
    int text_fd;                /* H_TEXT of a large text: its temp file (text is NULL), else -1 */
    wbuf *buf;
    bool wrote;                 /* this handle changed the content since a spec was last acted on */
    pid_t opener;               /* the process (thread group) that opened it */
    dir_list dir;
    read_block *ra;              /* H_BYTES of a file that no longer changes, else NULL */
} fs_handle;

static fs_state *state(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static fs_handle *handle_of(const struct fuse_file_info *fi)
{
    return fi ? (fs_handle *)(uintptr_t)fi->fh : NULL;
}

/* The process a request comes from (its thread group). */
static pid_t req_tgid(fuse_req_t req)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    return fs_tgid_of(ctx ? ctx->pid : 0);
}

/* A name longer than any directory entry can be: ENAMETOOLONG, as a disk says (the kernel lets FUSE
 * names up to 1024 bytes through). */
static bool name_fits_or_reply(fuse_req_t req, const char *name)
{
    if (strlen(name) <= NAME_MAX)
        return true;
    fuse_reply_err(req, ENAMETOOLONG);
    return false;
}

/* A negative errno from a lower layer as the positive one FUSE wants. */
static int errno_of(int rc)
{
    return rc < 0 && rc > -4096 ? -rc : EIO;
}

static void reply_failure(fuse_req_t req, int rc, const amlfs_err *err, const char *what, const char *path)
{
    if (rc == -EIO)
        fs_log("%s %s: %s", what, path ? path : "?", err->msg);
    fuse_reply_err(req, errno_of(rc));
}

/* The path of ino (malloc'd; NULL once unlinked) with its classification in np, which points into it.
 * np must always be valid, so an inode no longer in the tree is classified as the root ("/"). */
static char *inode_node(fs_state *fs, fuse_ino_t ino, node_path *np)
{
    char *path = inode_path(fs->inodes, ino);
    node_classify(path ? path : "/", np);
    return path;
}

/* The path of parent/name (malloc'd) with its classification in np, which points into it. NULL when
 * the parent is unknown (forgotten or removed): the request is then already answered with ENOENT. */
static char *child_node_or_reply(fuse_req_t req, fuse_ino_t parent, const char *name, node_path *np)
{
    char *path = inode_child_path(state(req)->inodes, parent, name);
    if (!path) {
        fuse_reply_err(req, ENOENT);
        return NULL;
    }
    node_classify(path, np);
    return path;
}

static fs_handle *handle_new(handle_kind kind)
{
    fs_handle *h = util_xcalloc(1, sizeof *h);
    h->kind = kind;
    h->text_fd = -1;
    return h;
}

static void handle_free(fs_handle *h)
{
    if (!h)
        return;
    free(h->text);
    if (h->text_fd >= 0)
        close(h->text_fd);
    dir_list_free(&h->dir);
    if (h->ra) {
        readahead_free(h->ra);
        free(h->ra);
    }
    free(h);
}

/* A handle the kernel never received (its open reply failed): nothing will release it, so its write
 * buffer reference and its count on the inode go back here. */
static void handle_discard(fs_state *fs, fuse_ino_t ino, fs_handle *h)
{
    if (h->buf)
        inode_wbuf_put(fs->inodes, ino, h->buf);
    inode_close(fs->inodes, ino);
    handle_free(h);
}

/* Attributes of a file being written (or kept after its unlink) come from its buffer: the kernel must
 * see what was written. */
static void stat_from_wbuf(fs_state *fs, wbuf *b, bool linked, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | b->mode; /* 0 is a mode (chmod 0), not "unset" */
    st->st_nlink = linked ? 1 : 0;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_size = wbuf_size(b);
    st->st_blksize = 4096;
    st->st_blocks = (st->st_size + 511) / 512;
    int64_t mtime_ms = b->mtime_ms;
    st->st_mtim.tv_sec = (time_t)(mtime_ms / 1000);
    st->st_mtim.tv_nsec = (long)(mtime_ms % 1000) * 1000000L;
    st->st_atim = st->st_ctim = st->st_mtim;
}

/* Attributes of inode ino at path (NULL: no longer in the tree). */
static int stat_inode(fs_state *fs, fuse_ino_t ino, const char *path, struct stat *st, amlfs_err *err)
{
    wbuf *b = ino ? inode_wbuf_get(fs->inodes, ino) : NULL;
    if (b) {
        stat_from_wbuf(fs, b, path != NULL, st); /* no lock: an upload may hold it for long */
        inode_wbuf_put(fs->inodes, ino, b);
    } else if (!path) {
        return amlfs_fail(err, ENOENT, "the file was removed");
    } else {
        node_path np;
        node_classify(path, &np);
        int rc = view_stat(fs, &np, st, err);
        if (rc < 0)
            return rc;
    }
    st->st_ino = ino;
    return 0;
}

/* How long the kernel may keep path's attributes and name: the node's cache policy (nodes.c's table;
 * short for what changes unannounced, long for what never changes). */
static double timeout_of(fs_state *fs, const char *path)
{
    node_path np;
    if (!path || node_classify(path, &np) == NODE_NONE)
        return FS_ATTR_TIMEOUT;
    return view_timeout(fs, &np);
}

/* Take a kernel reference on path's inode (e->attr filled) and set the entry's inode and timeouts; the
 * caller drops the reference with inode_forget if the reply fails. */
static void entry_ref(fs_state *fs, const char *path, struct fuse_entry_param *e)
{
    e->ino = inode_ref(fs->inodes, path, e->attr.st_size);
    e->attr.st_ino = e->ino;
    e->attr_timeout = e->entry_timeout = timeout_of(fs, path);
}

/* Look up path, take a kernel reference on its inode and answer with its entry. */
static void reply_entry_for(fuse_req_t req, const char *path)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    if (node_classify(path, &np) == NODE_NONE) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    int rc = stat_inode(fs, inode_find(fs->inodes, path), path, &e.attr, &err);
    if (rc < 0) {
        reply_failure(req, rc, &err, "lookup", path);
        return;
    }
    entry_ref(fs, path, &e);
    if (fuse_reply_entry(req, &e) != 0)
        inode_forget(fs->inodes, e.ino, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* Writes and their validation errors must reach the daemon synchronously. */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    /* Every listing comes with its entries' attributes when the listing has them (readdirplus), not
     * only its first part: `ls -l` reads the whole folder before it stats anything. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (!name_fits_or_reply(req, name))
        return;
    char *path = inode_child_path(state(req)->inodes, parent, name);
    if (!path) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    reply_entry_for(req, path);
    free(path);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    inode_forget(state(req)->inodes, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        inode_forget(state(req)->inodes, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    fs_state *fs = state(req);
    amlfs_err err = {0};
    char *path = inode_path(fs->inodes, ino);
    struct stat st;
    int rc = stat_inode(fs, ino, path, &st, &err);
    if (rc < 0) {
        reply_failure(req, rc, &err, "stat", path);
    } else {
        inode_set_size(fs->inodes, ino, st.st_size);
        fuse_reply_attr(req, &st, timeout_of(fs, path));
    }
    free(path);
}

/* The buffer's content changed now (a write or a resize). The caller holds b->mu. */
static void wbuf_touched(wbuf *b)
{
    b->dirty = true;
    b->changes++;
    b->mtime_ms = util_now_ms();
}

static int truncate_inode(fs_state *fs, fuse_ino_t ino, const node_path *np, off_t size,
                          struct fuse_file_info *fi, pid_t tgid, amlfs_err *err)
{
    if (size > FS_FILE_MAX)
        return amlfs_fail(err, EFBIG, "a stored file is at most %lld MiB", (long long)(FS_FILE_MAX >> 20));
    wbuf *b = inode_wbuf_get(fs->inodes, ino);
    if (!b)
        return np->kind == NODE_NONE ? amlfs_fail(err, ENOENT, "the file was removed")
                                     : action_truncate(fs, np, size, tgid, err);
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    if (ftruncate(b->fd, size) != 0)
        rc = amlfs_fail(err, errno, "cannot resize the write buffer: %s", strerror(errno));
    else
        wbuf_touched(b);
    pthread_mutex_unlock(&b->mu);
    fs_handle *h = handle_of(fi);
    if (rc == 0 && h && h->kind == H_WRITE)
        h->wrote = true;
    else if (rc == 0 && np->kind != NODE_NONE)
        rc = action_finish_write(fs, np, b, false, tgid, err); /* truncate(path) by someone else: store it */
    inode_wbuf_put(fs->inodes, ino, b);
    return rc;
}

/* An object's own folder (experiments/NAME, ...): its mode and times are those of its stored files' root. */
static bool is_object_root(node_kind kind)
{
    return kind == NODE_EXP_DIR || kind == NODE_ENV_DIR || kind == NODE_DATA_DIR;
}

/* chmod and set times (mode, mtime_ms < 0: unchanged). */
static int set_attr_inode(fs_state *fs, fuse_ino_t ino, const node_path *np, int64_t mode, int64_t mtime_ms,
                          amlfs_err *err)
{
    wbuf *b = inode_wbuf_get(fs->inodes, ino);
    if (b) {
        /* Stored with the content when the writer closes (vim: write, fsync, fchmod, close; cp -p and
         * tar set times before or after close). */
        pthread_mutex_lock(&b->mu);
        if (mode >= 0)
            b->mode = (mode_t)mode & 07777;
        if (mtime_ms >= 0)
            b->mtime_ms = mtime_ms;
        b->mode_changed = true;
        b->changes++;
        pthread_mutex_unlock(&b->mu);
        inode_wbuf_put(fs->inodes, ino, b);
        /* Also stored now: the buffer may belong to a close whose release has already stored it (a
         * chmod right after close() raced the asynchronous release and was lost). A file not stored
         * yet takes them with its content. */
        amlfs_err ignored = {0};
        if (node_is_stored(np->kind))
            action_set_attr(fs, np, mode, mtime_ms, &ignored); /* the buffer still has them */
        return 0;
    }
    if (!is_object_root(np->kind) && (node_is_fixed_dir(np->kind) || node_object_spec_collection(np->kind) ||
                                      np->kind == NODE_RUN_CTL || np->kind == NODE_ENV_CTL))
        return mode >= 0 ? amlfs_fail(err, EPERM, "the mode of this file is fixed") : 0;
    return action_set_attr(fs, np, mode, mtime_ms, err);
}

/* The modification time a setattr asks for, or -1. */
static int64_t requested_mtime(const struct stat *attr, int to_set)
{
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
        return util_now_ms();
    if (to_set & FUSE_SET_ATTR_MTIME)
        return (int64_t)attr->st_mtim.tv_sec * 1000 + attr->st_mtim.tv_nsec / 1000000;
    return -1;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    char *path = inode_node(fs, ino, &np);
    int rc = 0;
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (node_is_fixed_dir(np.kind))
            rc = amlfs_fail(&err, EISDIR, "a folder");
        else if (node_is_read_only(np.kind))
            rc = amlfs_fail(&err, EACCES, "read-only file");
        else
            rc = truncate_inode(fs, ino, &np, attr->st_size, fi, req_tgid(req), &err);
    }
    int64_t mode = to_set & FUSE_SET_ATTR_MODE ? (int64_t)(attr->st_mode & 07777) : -1;
    int64_t mtime = requested_mtime(attr, to_set);
    if (rc == 0 && (mode >= 0 || mtime >= 0)) {
        if (node_is_read_only(np.kind) && mode >= 0)
            rc = amlfs_fail(&err, EPERM, "the mode of this file is fixed");
        else if (!node_is_read_only(np.kind))
            rc = set_attr_inode(fs, ino, &np, mode, mtime, &err);
    }
    /* Owners and access times are not kept: accepted (cp -p, tar, editors) and left as they are; times
     * of read-only files too (touch of a log). */
    struct stat st;
    if (rc == 0)
        rc = stat_inode(fs, ino, path, &st, &err);
    if (rc < 0)
        reply_failure(req, rc, &err, "setattr", path);
    else
        fuse_reply_attr(req, &st, timeout_of(fs, path));
    free(path);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    char *target = NULL;
    node_path np;
    char *path = inode_node(fs, ino, &np);
    int rc = view_readlink(fs, &np, &target, &err);
    if (rc < 0)
        reply_failure(req, rc, &err, "readlink", path);
    else
        fuse_reply_readlink(req, target);
    free(target);
    free(path);
}

/* The answer to mkdir/symlink/mknod at path: the new entry, or why it could not be made. */
static void reply_made(fuse_req_t req, int rc, const amlfs_err *err, const char *what, const char *path)
{
    if (rc < 0)
        reply_failure(req, rc, err, what, path);
    else
        reply_entry_for(req, path);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    if (!name_fits_or_reply(req, name))
        return;
    char *path = child_node_or_reply(req, parent, name, &np);
    if (!path)
        return;
    int rc = action_mkdir(fs, path, &np, mode, &err);
    reply_made(req, rc, &err, "mkdir", path);
    free(path);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)rdev;
    fs_state *fs = state(req);
    amlfs_err err = {0};
    if (!name_fits_or_reply(req, name))
        return;
    if (!S_ISREG(mode)) { /* fifos, sockets, devices: a stored folder keeps files, folders, symlinks */
        fuse_reply_err(req, EPERM);
        return;
    }
    node_path np;
    char *path = child_node_or_reply(req, parent, name, &np);
    if (!path)
        return;
    cJSON *entry = NULL;
    int rc = action_create(fs, &np, mode, &entry, &err);
    cJSON_Delete(entry);
    reply_made(req, rc, &err, "mknod", path);
    free(path);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    if (!name_fits_or_reply(req, name))
        return;
    char *path = child_node_or_reply(req, parent, name, &np);
    if (!path)
        return;
    int rc = action_symlink(fs, &np, target, &err);
    reply_made(req, rc, &err, "symlink", path);
    free(path);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    char *path = child_node_or_reply(req, parent, name, &np);
    if (!path)
        return;
    /* An open file goes on reading what it had, as on a disk (tail -f f; rm f). */
    wbuf *kept = NULL;
    int rc = dir ? 0 : action_keep_open_content(fs, path, &np, &kept, &err);
    if (rc == 0)
        rc = dir ? action_rmdir(fs, &np, &err) : action_unlink(fs, &np, &err);
    if (rc < 0 && kept)
        inode_wbuf_put(fs->inodes, inode_find(fs->inodes, path), kept);
    if (rc < 0) {
        reply_failure(req, rc, &err, dir ? "rmdir" : "unlink", path);
    } else {
        inode_detach(fs->inodes, path);
        fuse_reply_err(req, 0);
    }
    free(path);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_entry(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    remove_entry(req, parent, name, true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    if (!name_fits_or_reply(req, newname))
        return;
    char *from = inode_child_path(fs->inodes, parent, name);
    char *to = inode_child_path(fs->inodes, newparent, newname);
    if (!from || !to) {
        fuse_reply_err(req, ENOENT);
    } else {
        node_path np_from, np_to;
        node_classify(from, &np_from);
        node_classify(to, &np_to);
        bool renamed = false;
        /* A file open at the name being replaced goes on reading what it had. */
        wbuf *kept = NULL;
        int rc = strcmp(from, to) == 0 ? 0 : action_keep_open_content(fs, to, &np_to, &kept, &err);
        if (rc == 0)
            rc = action_rename(fs, &np_from, &np_to, flags, req_tgid(req), &renamed, &err);
        if (kept && !renamed)
            inode_wbuf_put(fs->inodes, inode_find(fs->inodes, to), kept);
        if (renamed)
            inode_rename(fs->inodes, from, to);
        if (rc < 0)
            reply_failure(req, rc, &err, "rename", from);
        else
            fuse_reply_err(req, 0);
    }
    free(from);
    free(to);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent;
    if (name_fits_or_reply(req, newname))
        fuse_reply_err(req, EPERM); /* a stored folder has no hard links */
}

/* ---- files ---- */

/* The write buffer of ino, made from the current content unless the open truncates. *was_nonempty
 * tells whether a truncating open threw content away (that is a write). A spec opened with O_TRUNC while
 * another writer has it open gets a buffer of its own: two saves at once (`cat a > job.yaml` and `cat b >
 * job.yaml`) are two whole texts, each acted on at its close (the last close's text stays), never one
 * text mixed of both. */
static int open_wbuf(fs_state *fs, fuse_ino_t ino, const node_path *np, bool trunc, wbuf **out,
                     bool *was_nonempty, amlfs_err *err)
{
    *was_nonempty = false;
    bool own = trunc && node_spec_kind(np, NULL) != SPEC_NONE;
    wbuf *b = inode_wbuf_get(fs->inodes, ino);
    if (b && own) {
        inode_wbuf_put(fs->inodes, ino, b);
        b = NULL;
    } else if (b) {
        if (trunc) {
            pthread_mutex_lock(&b->mu);
            *was_nonempty = wbuf_size(b) > 0;
            int rc = ftruncate(b->fd, 0) == 0 ? 0 : -errno;
            if (rc == 0 && *was_nonempty)
                wbuf_touched(b);
            pthread_mutex_unlock(&b->mu);
            if (rc < 0) {
                inode_wbuf_put(fs->inodes, ino, b);
                return amlfs_fail(err, -rc, "cannot truncate the write buffer: %s", strerror(-rc));
            }
        }
        *out = b;
        return 0;
    }
    int rc = 0;
    if (node_object_spec_collection(np->kind)) {
        char *data = NULL;
        size_t len = 0;
        rc = view_text(fs, np, &data, &len, err);
        if (rc == 0)
            rc = wbuf_new(trunc ? "" : data, trunc ? 0 : len, 0644, &b, err);
        if (rc == 0) {
            b->before = data; /* what the spec held, should this save be refused */
            b->before_len = len;
            data = NULL;
            *was_nonempty = trunc; /* an object's spec is never a new empty file */
        }
        free(data);
    } else {
        rc = action_load_stored(fs, np, trunc, &b, was_nonempty, err);
        *was_nonempty = *was_nonempty && trunc;
    }
    if (rc < 0)
        return rc;
    b->dirty = *was_nonempty;
    if (own) {
        inode_wbuf_attach_own(fs->inodes, ino, b);
        *out = b;
        return 0;
    }
    *out = inode_wbuf_attach(fs->inodes, ino, b);
    if (*out != b && trunc) {
        /* Another writer attached first: truncate the shared buffer instead. */
        inode_wbuf_put(fs->inodes, ino, *out);
        return open_wbuf(fs, ino, np, trunc, out, was_nonempty, err);
    }
    return 0;
}

static int open_handle(fs_state *fs, fuse_ino_t ino, const node_path *np, struct fuse_file_info *fi,
                       pid_t opener, fs_handle **out, amlfs_err *err)
{
    bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    bool trunc = (fi->flags & O_TRUNC) != 0;
    fs_handle *h = handle_new(H_BYTES);
    h->opener = opener;
    int rc = 0;
    fi->direct_io = 0;
    fi->keep_cache = 0;
    if (np->kind == NODE_NONE) {
        rc = amlfs_fail(err, ENOENT, "no such file");
    } else if (node_is_fixed_dir(np->kind)) {
        rc = amlfs_fail(err, EISDIR, "a folder");
    } else if (writing && node_is_read_only(np->kind)) {
        rc = amlfs_fail(err, EACCES, "read-only file");
    } else if (node_is_large_text(np->kind)) {
        /* A run's million points are 60 MB of JSON: held on disk while open, so readers at once do not
         * each cost the mount that much memory. */
        h->kind = H_TEXT;
        int fd = fs_temp_fd("hold a large file while it is open", err);
        if (fd < 0) {
            rc = fd;
        } else {
            h->text_fd = fd;
            rc = view_text_to_fd(fs, np, fd, &h->len, err);
        }
        fi->direct_io = node_is_live_text(np->kind);
        fi->keep_cache = !fi->direct_io;
    } else if (node_is_generated_text(np->kind) || (node_object_spec_collection(np->kind) && !writing)) {
        h->kind = H_TEXT;
        rc = view_text(fs, np, &h->text, &h->len, err);
        /* Rewritten in place as state changes: every read must come from the daemon. */
        fi->direct_io = node_object_spec_collection(np->kind) || node_is_live_text(np->kind);
        fi->keep_cache = !fi->direct_io;
    } else if (np->kind == NODE_RUN_LOG || np->kind == NODE_ENV_BUILD_LOG || np->kind == NODE_RUN_METRIC) {
        h->kind = H_BYTES;
        struct stat st;
        rc = view_stat(fs, np, &st, err);
    } else if ((np->kind == NODE_RUN_CTL || np->kind == NODE_ENV_CTL) && !writing) {
        h->kind = H_TEXT; /* what became of the last command */
        rc = view_text(fs, np, &h->text, &h->len, err);
        fi->direct_io = 1;
    } else if (np->kind == NODE_RUN_CTL || np->kind == NODE_ENV_CTL) {
        h->kind = H_CTL;
        struct stat st;
        rc = view_stat(fs, np, &st, err);
        fi->direct_io = 1;
    } else if (writing) {
        bool was_nonempty = false;
        h->kind = H_WRITE;
        rc = open_wbuf(fs, ino, np, trunc, &h->buf, &was_nonempty, err);
        h->wrote = was_nonempty; /* `: > job.yaml` empties a spec: that is a finished write too */
    } else {
        h->kind = H_BYTES;
        /* A snapshot or a data version never changes, nor do a run's outputs once it ended (the run's
         * end, announced, dropped what was read of them before). */
        fi->keep_cache = np->kind == NODE_RUN_SNAPSHOT_FILE || np->kind == NODE_DATA_VERSION_FILE ||
                         (np->kind == NODE_RUN_OUTPUTS_FILE && view_run_ended(fs, np->name));
        if (fi->keep_cache) {
            h->ra = util_xcalloc(1, sizeof *h->ra);
            readahead_init(h->ra);
        }
    }
    if (rc < 0) {
        handle_free(h);
        return rc;
    }
    inode_open(fs->inodes, ino);
    *out = h;
    return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    char *path = inode_node(fs, ino, &np);
    fs_handle *h = NULL;
    int rc = open_handle(fs, ino, &np, fi, req_tgid(req), &h, &err);
    if (rc < 0) {
        reply_failure(req, rc, &err, "open", path);
    } else {
        fi->fh = (uint64_t)(uintptr_t)h;
        if (fuse_reply_open(req, fi) != 0)
            handle_discard(fs, ino, h);
    }
    free(path);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    if (!name_fits_or_reply(req, name))
        return;
    char *path = child_node_or_reply(req, parent, name, &np);
    if (!path)
        return;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    fs_handle *h = NULL;
    int rc = 0;
    bool made = false;
    if (!node_is_stored(np.kind)) {
        rc = amlfs_fail(&err, np.kind == NODE_NONE || node_is_read_only(np.kind) ? EACCES : EEXIST,
                        "files cannot be made here");
    } else {
        cJSON *entry = NULL;
        rc = view_stored_entry(fs, &np, true, &entry, &err);
        cJSON_Delete(entry);
        entry = NULL;
        if (rc == 0 && (fi->flags & O_EXCL)) {
            rc = amlfs_fail(&err, EEXIST, "%s exists", path);
        } else if (rc == -ENOENT) {
            rc = action_create(fs, &np, mode, &entry, &err);
            if (rc == 0)
                view_stat_from_entry(fs, entry, &e.attr);
            made = rc == 0;
        } else if (rc == 0) {
            rc = view_stat(fs, &np, &e.attr, &err);
        }
        cJSON_Delete(entry);
    }
    if (rc == 0) {
        entry_ref(fs, path, &e);
        if (made) {
            /* A new file: its buffer starts empty and nothing is written yet (touch submits nothing). */
            wbuf *b = NULL;
            rc = wbuf_new("", 0, mode, &b, &err);
            if (rc == 0) {
                h = handle_new(H_WRITE);
                h->opener = req_tgid(req);
                h->buf = inode_wbuf_attach(fs->inodes, e.ino, b);
                inode_open(fs->inodes, e.ino);
            }
        } else {
            rc = open_handle(fs, e.ino, &np, fi, req_tgid(req), &h, &err);
        }
        if (rc < 0)
            inode_forget(fs->inodes, e.ino, 1);
    }
    if (rc < 0) {
        reply_failure(req, rc, &err, "create", path);
    } else {
        fi->fh = (uint64_t)(uintptr_t)h;
        if (fuse_reply_create(req, &e, fi) != 0) {
            handle_discard(fs, e.ino, h);
            inode_forget(fs->inodes, e.ino, 1);
        }
    }
    free(path);
}

/* size bytes at off of a local file (a write buffer, a large text held while open), read into *buf
 * (malloc'd): their count, or a negative errno. Read apart from the reply, which comes last: once it is
 * sent the kernel may release the handle and forget the inode. */
static ssize_t read_local(int fd, size_t size, off_t off, char **buf)
{
    *buf = util_xcalloc(1, size ? size : 1);
    ssize_t n = size ? pread(fd, *buf, size, off) : 0;
    return n < 0 ? -errno : n;
}

static void reply_local(fuse_req_t req, char *buf, ssize_t n)
{
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    amlfs_err err = {0};
    if (h->kind == H_TEXT || h->kind == H_CTL) {
        size_t start = h->kind == H_TEXT && (size_t)off < h->len ? (size_t)off : h->len;
        size_t n = h->kind == H_TEXT ? h->len - start : 0;
        if (n > size)
            n = size;
        if (h->text_fd >= 0) {
            char *buf;
            ssize_t got = read_local(h->text_fd, n, (off_t)start, &buf);
            reply_local(req, buf, got);
            return;
        }
        /* Reply from a copy: once the reply is written the kernel may release (and we free) the
         * handle while writev's caller still looks at the buffer (ASan's interceptor does). */
        char *copy = util_xcalloc(1, n + 1);
        if (n)
            memcpy(copy, h->text + start, n);
        fuse_reply_buf(req, copy, n);
        free(copy);
        return;
    }
    /* A reader sees what a writer on the same inode wrote so far, as on a local disk. */
    wbuf *b = h->kind == H_WRITE ? h->buf : inode_wbuf_get(fs->inodes, ino);
    if (b) {
        char *buf;
        ssize_t got = read_local(b->fd, size, off, &buf);
        if (h->kind != H_WRITE)
            inode_wbuf_put(fs->inodes, ino, b);
        reply_local(req, buf, got);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    if (h->ra && readahead_take(h->ra, off, size, &data, &len)) {
        fuse_reply_buf(req, data, len);
        free(data);
        return;
    }
    node_path np;
    char *path = inode_node(fs, ino, &np);
    size_t want = h->ra ? readahead_want(h->ra, off, size) : size;
    int rc = view_read(fs, &np, off, want, &data, &len, &err);
    if (rc < 0) {
        if (want > size)
            readahead_failed(h->ra);
        reply_failure(req, rc, &err, "read", path);
    } else if (want > size) {
        /* Kept before the reply, and the reply from a copy: once it is sent the reader may close, and
         * the handle (with its block) be released on another thread. */
        size_t replied = len < size ? len : size;
        char *slice = util_xcalloc(1, replied + 1);
        memcpy(slice, data, replied);
        readahead_keep(h->ra, off, want, replied, data, len); /* it goes on serving the reads after */
        data = NULL;
        fuse_reply_buf(req, slice, replied);
        free(slice);
    } else {
        if (h->ra)
            readahead_went_on(h->ra, off + (off_t)len);
        fuse_reply_buf(req, data, len);
    }
    free(data);
    free(path);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    amlfs_err err = {0};
    if (h->kind == H_CTL) {
        node_path np;
        char *path = inode_node(fs, ino, &np);
        int rc = action_ctl(fs, &np, buf, size, &err);
        if (rc < 0)
            reply_failure(req, rc, &err, "ctl", path);
        else
            fuse_reply_write(req, size);
        free(path);
        return;
    }
    if (h->kind != H_WRITE) {
        fuse_reply_err(req, EBADF);
        return;
    }
    wbuf *b = h->buf;
    pthread_mutex_lock(&b->mu);
    if (fi->flags & O_APPEND)
        off = wbuf_size(b);
    if (off < 0 || off > FS_FILE_MAX || (off_t)size > FS_FILE_MAX - off) {
        pthread_mutex_unlock(&b->mu);
        fuse_reply_err(req, EFBIG); /* past what the workspace stores: never buffered */
        return;
    }
    size_t done = 0;
    int saved = 0;
    while (done < size) {
        ssize_t n = pwrite(b->fd, buf + done, size - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            break;
        }
        done += (size_t)n;
    }
    if (done > 0)
        wbuf_touched(b);
    pthread_mutex_unlock(&b->mu);
    h->wrote = h->wrote || done > 0;
    if (saved && done == 0)
        fuse_reply_err(req, saved);
    else
        fuse_reply_write(req, done);
}

/* Whether this close ends the writer's use of an open spec file: the close of the process that opened
 * it, holding it on no other descriptor. A descriptor shared with children (`{ cat a; echo b; } > f`),
 * or dup'ed by a shell's redirection, is closed several times; only the complete text is acted on. */
static bool last_close(fuse_req_t req, fuse_ino_t ino, const fs_handle *h, const char *path)
{
    pid_t tgid = req_tgid(req);
    return tgid == h->opener && !fs_holds_other_fd(tgid, ino, path);
}

/* close(): what was written is stored; at the writer's last close a spec is acted on, and the action's
 * refusal is close()'s error. An earlier close (a child's) only stores: the release acts if no last
 * close came (the opener closed first). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    amlfs_err err = {0};
    if (h->kind != H_WRITE) {
        fuse_reply_err(req, 0);
        return;
    }
    char *path = inode_path(fs->inodes, ino);
    if (!path) { /* removed while open: nothing to store */
        h->wrote = false;
        fuse_reply_err(req, 0);
        return;
    }
    node_path np;
    node_classify(path, &np);
    bool spec = node_spec_kind(&np, NULL) != SPEC_NONE;
    bool act = spec && h->wrote && last_close(req, ino, h, path);
    int rc = action_finish_write(fs, &np, h->buf, act, req_tgid(req), &err);
    /* One finished write is one action, refused or not; only an unreachable server leaves it pending. */
    if (act && rc != -EIO)
        h->wrote = false;
    if (!spec)
        h->wrote = false;
    if (rc < 0)
        reply_failure(req, rc, &err, "close", path);
    else
        fuse_reply_err(req, 0);
    free(path);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    if (h->kind == H_WRITE) {
        char *path = inode_path(fs->inodes, ino);
        if (path) {
            /* A spec not acted on yet (its opener closed before a child, or the server was away at
             * close), or content not stored: once more, now; a refusal shows in the folder's status. */
            amlfs_err err = {0};
            node_path np;
            node_classify(path, &np);
            bool act = h->wrote && node_spec_kind(&np, NULL) != SPEC_NONE;
            if ((act || h->buf->dirty || h->buf->mode_changed) &&
                action_finish_write(fs, &np, h->buf, act, h->opener, &err) < 0)
                fs_log("%s: %s", path, err.msg);
            free(path);
        }
        inode_wbuf_put(fs->inodes, ino, h->buf);
    }
    if (h->kind != H_DIR)
        inode_close(fs->inodes, ino);
    handle_free(h);
    fuse_reply_err(req, 0);
}

/* fsync stores what was written (a code file saved while a job is submitted is seen); a spec is acted
 * on only at its close: fsync alone must not act on half a spec. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    amlfs_err err = {0};
    char *path = h && h->kind == H_WRITE ? inode_path(fs->inodes, ino) : NULL;
    int rc = 0;
    if (path) {
        node_path np;
        node_classify(path, &np);
        if (node_is_stored(np.kind))
            rc = action_finish_write(fs, &np, h->buf, false, req_tgid(req), &err);
    }
    if (rc < 0)
        reply_failure(req, rc, &err, "fsync", path);
    else
        fuse_reply_err(req, 0);
    free(path);
}

/* ---- folders ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    amlfs_err err = {0};
    node_path np;
    char *path = inode_node(fs, ino, &np);
    fs_handle *h = handle_new(H_DIR);
    int rc = view_list(fs, &np, &h->dir, &err);
    if (rc < 0) {
        handle_free(h);
        reply_failure(req, rc, &err, "opendir", path);
    } else {
        fi->fh = (uint64_t)(uintptr_t)h;
        /* A listing that no longer changes (a run's folder, an ended run's outputs, logs, snapshot,
         * metrics) is kept by the kernel: a second `find` asks nothing. An event about the run drops it
         * (its inodes are invalidated); nothing of the mount's own can change it (read-only). */
        fi->cache_readdir = fi->keep_cache = view_timeout(fs, &np) == FS_LASTING_TIMEOUT;
        if (fuse_reply_open(req, fi) != 0)
            handle_free(h);
    }
    free(path);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    fs_handle *h = handle_of(fi);
    char *buf = util_xcalloc(1, size);
    size_t used = 0;
    size_t total = h->dir.count + 2;
    for (size_t i = (size_t)off; i < total; i++) {
        const char *name = i == 0 ? "." : i == 1 ? ".." : h->dir.items[i - 2].name;
        struct stat st;
        memset(&st, 0, sizeof st);
        /* Real inode numbers come with lookup; this one only has to be non-zero. */
        st.st_ino = i < 2 ? ino : 0xffffffffu;
        st.st_mode = (mode_t)(i < 2 ? DT_DIR : h->dir.items[i - 2].type) << 12;
        size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(i + 1));
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

/* readdir with attributes: an entry whose attributes came with the listing (a run's folder, a run's
 * link, a file of a run's outputs or snapshot) is handed to the kernel with them and a reference on its
 * inode, so `ls -l` and `find` ask no lookup per entry. The others go as plain names. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    fs_state *fs = state(req);
    fs_handle *h = handle_of(fi);
    char *dir = inode_path(fs->inodes, ino);
    char *buf = util_xcalloc(1, size);
    size_t used = 0, total = h->dir.count + 2, nrefs = 0;
    fuse_ino_t *refs = util_xcalloc(total - (size_t)(off < (off_t)total ? off : (off_t)total) + 1, sizeof *refs);
    for (size_t i = (size_t)off; i < total; i++) {
        const dir_entry *d = i < 2 ? NULL : &h->dir.items[i - 2];
        const char *name = i == 0 ? "." : i == 1 ? ".." : d->name;
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        /* Without attributes: a name only (no inode, so no reference); ino just has to be non-zero. */
        e.attr.st_ino = i < 2 ? ino : 0xffffffffu;
        e.attr.st_mode = (mode_t)(i < 2 ? DT_DIR : d->type) << 12;
        size_t need = fuse_add_direntry_plus(req, NULL, 0, name, &e, (off_t)(i + 1));
        if (need > size - used)
            break;
        if (d && d->has_attr && dir) {
            char *path = *dir ? util_strdupf("%s/%s", dir, name) : util_xstrdup(name);
            view_entry_stat(fs, d, &e.attr);
            e.ino = inode_ref(fs->inodes, path, e.attr.st_size);
            e.attr.st_ino = e.ino;
            e.attr_timeout = e.entry_timeout = d->timeout;
            refs[nrefs++] = e.ino;
            free(path);
        }
        used += fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)(i + 1));
    }
    /* The kernel did not get them: it will never forget them. */
    if (fuse_reply_buf(req, buf, used) != 0)
        for (size_t i = 0; i < nrefs; i++)
            inode_forget(fs->inodes, refs[i], 1);
    free(refs);
    free(buf);
    free(dir);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    handle_free(handle_of(fi));
    fuse_reply_err(req, 0);
}

/* ---- the rest ---- */

static bool dir_accepts_new_entries(node_kind kind)
{
    return kind == NODE_ENVS_DIR || kind == NODE_EXPS_DIR || kind == NODE_ENV_DIR || kind == NODE_EXP_DIR ||
           kind == NODE_DATAS_DIR || kind == NODE_DATA_DIR || kind == NODE_DATASTORES_DIR || node_is_stored(kind);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    fs_state *fs = state(req);
    node_path np;
    char *path = inode_node(fs, ino, &np);
    int rc = 0;
    if ((mask & W_OK) && (node_is_read_only(np.kind) ||
                          (node_is_fixed_dir(np.kind) && !dir_accepts_new_entries(np.kind))))
        rc = EACCES;
    fuse_reply_err(req, rc);
    free(path);
}

/* df: the server's data disk (where the workspace keeps its files). */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    fs_state *fs = state(req);
    struct statvfs st;
    memset(&st, 0, sizeof st);
    st.f_bsize = 4096;
    st.f_frsize = 4096;
    st.f_namemax = NAME_MAX;
    cJSON *ws = NULL;
    amlfs_err err = {0};
    if (client_get_json(fs->client, CLIENT_WORKSPACE_URL, true, &ws, &err) == 0) {
        const cJSON *disk = cJSON_GetObjectItemCaseSensitive(ws, "disk");
        const cJSON *v;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(disk, "bytes_total")))
            st.f_blocks = (fsblkcnt_t)(v->valuedouble / st.f_frsize);
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(disk, "bytes_free")))
            st.f_bfree = (fsblkcnt_t)(v->valuedouble / st.f_frsize);
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(disk, "bytes_avail")))
            st.f_bavail = (fsblkcnt_t)(v->valuedouble / st.f_frsize);
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(disk, "files_total")))
            st.f_files = (fsfilcnt_t)v->valuedouble;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(disk, "files_free")))
            st.f_ffree = st.f_favail = (fsfilcnt_t)v->valuedouble;
    }
    cJSON_Delete(ws);
    fuse_reply_statfs(req, &st);
}

/* ---- interrupts ---- */

/* Whether the caller of a request gave up: the kernel sends FUSE_INTERRUPT when a process waiting for an
 * answer gets a signal (Ctrl-C, kill -9), and only then; libfuse marks the request. */
static bool req_interrupted(void *req)
{
    return fuse_req_interrupted(req) != 0;
}

/* A handler that may wait for the server runs with its request as the thread's interrupt source: the
 * wait ends within a second of an interrupt, answered EINTR (client_thread_interruptible). Without this
 * the caller of an unanswered request sleeps in the kernel, kill -9 or not, until the daemon answers. */
#define INTERRUPTIBLE(op, params, args)                                                                 \
    static void op##_interruptible params                                                               \
    {                                                                                                   \
        client_thread_interruptible(req_interrupted, req);                                              \
        op args;                                                                                        \
        client_thread_interruptible(NULL, NULL);                                                        \
    }

INTERRUPTIBLE(op_lookup, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))
INTERRUPTIBLE(op_getattr, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))
INTERRUPTIBLE(op_setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi),
              (req, ino, attr, to_set, fi))
INTERRUPTIBLE(op_readlink, (fuse_req_t req, fuse_ino_t ino), (req, ino))
INTERRUPTIBLE(op_mknod, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev),
              (req, parent, name, mode, rdev))
INTERRUPTIBLE(op_mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode), (req, parent, name, mode))
INTERRUPTIBLE(op_unlink, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))
INTERRUPTIBLE(op_rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name), (req, parent, name))
INTERRUPTIBLE(op_symlink, (fuse_req_t req, const char *target, fuse_ino_t parent, const char *name),
              (req, target, parent, name))
INTERRUPTIBLE(op_rename,
              (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
               unsigned int flags),
              (req, parent, name, newparent, newname, flags))
INTERRUPTIBLE(op_open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))
INTERRUPTIBLE(op_read, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi),
              (req, ino, size, off, fi))
INTERRUPTIBLE(op_write,
              (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi),
              (req, ino, buf, size, off, fi))
INTERRUPTIBLE(op_flush, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))
INTERRUPTIBLE(op_fsync, (fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi),
              (req, ino, datasync, fi))
INTERRUPTIBLE(op_opendir, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi), (req, ino, fi))
INTERRUPTIBLE(op_statfs, (fuse_req_t req, fuse_ino_t ino), (req, ino))
INTERRUPTIBLE(op_create, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi),
              (req, parent, name, mode, fi))

/* release, forget and readdir never wait for the server's answer to a caller (release runs after the
 * last close, which nothing waits on; a folder is listed at opendir). */
static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup_interruptible,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr_interruptible,
    .setattr = op_setattr_interruptible,
    .readlink = op_readlink_interruptible,
    .mknod = op_mknod_interruptible,
    .mkdir = op_mkdir_interruptible,
    .unlink = op_unlink_interruptible,
    .rmdir = op_rmdir_interruptible,
    .symlink = op_symlink_interruptible,
    .rename = op_rename_interruptible,
    .link = op_link,
    .open = op_open_interruptible,
    .read = op_read_interruptible,
    .write = op_write_interruptible,
    .flush = op_flush_interruptible,
    .release = op_release,
    .fsync = op_fsync_interruptible,
    .opendir = op_opendir_interruptible,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs_interruptible,
    .access = op_access,
    .create = op_create_interruptible,
    /* No xattr handlers: the kernel then answers EOPNOTSUPP (ENOTSUP) itself, without asking. */
};

const struct fuse_lowlevel_ops *fs_lowlevel_ops(void)
{
    return &ops;
}

fs_state *fs_new(amlfs_client *client)
{
    fs_state *fs = util_xcalloc(1, sizeof *fs);
    fs->client = client;
    fs->inodes = inode_table_new();
    fs->guards = guard_new();
    fs->uid = getuid();
    fs->gid = getgid();
    fs->mount_ms = util_now_ms();
    return fs;
}

void fs_free(fs_state *fs)
{
    if (!fs)
        return;
    inode_table_free(fs->inodes);
    guard_free(fs->guards);
    free(fs);
}

void fs_set_session(fs_state *fs, struct fuse_session *se)
{
    fs->se = se;
}
