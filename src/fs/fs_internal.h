/* fs_internal.h: what the fs layer's files share: mount state, inode table, write buffers, and the
 * adapter's two halves: views (what a path shows, by GETs) and actions (every call that changes). */
#ifndef AMLFS_FS_INTERNAL_H
#define AMLFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "amlfs/fs.h"

/* Kernel caching: short timeouts, made prompt by invalidations from the change feed. */
#define FS_ENTRY_TIMEOUT 1.0
#define FS_ATTR_TIMEOUT 1.0
/* What never changes while it exists (a run's folder, a run that ended): the change feed's
 * invalidations still reach it (a tag set on an ended run, events lost), so this only spares asking. */
#define FS_LASTING_TIMEOUT 3600.0
/* A run's outputs change while its job writes them and no event says so: names and attributes are
 * asked again after this, so a growing file is seen growing and new files appear. */
#define FS_LIVE_TIMEOUT 0.1

/* The largest stored file: the server takes bodies up to 256 MiB (docs/api.md). Writes and truncates
 * past it fail with EFBIG here, before anything is buffered. */
#define FS_FILE_MAX ((off_t)256 * 1024 * 1024)

/* A file being written: its content lives in an unlinked temp file until close() (or fsync) stores it.
 * Shared by every handle open for writing on the same inode. Also the content of a file that was
 * unlinked or renamed over while open: kept here so its handles go on reading it, as on a disk. */
typedef struct wbuf {
    pthread_mutex_t mu;         /* guards the fields below; never held across the upload itself */
    pthread_cond_t stored;      /* an upload ended */
    bool storing;               /* an upload is under way: the next waits for it (they land in order) */
    uint64_t changes;           /* bumped by every change of content, mode or time */
    int fd;
    int refs;                   /* handles using it; guarded by the inode table's lock */
    mode_t mode;                /* permission bits to store with the content */
    bool mode_changed;          /* chmod or a set time since the last upload */
    bool dirty;                 /* content changed since the last upload */
    _Atomic int64_t mtime_ms;   /* last modification: a write, or a time set (touch -d, cp -p, tar); read
                                   by stat without the lock (an upload may hold it) */
    char *before;               /* a spec file's text before this writer (NULL: none, or not a spec) */
    size_t before_len;
} wbuf;

/* An unlinked temp file in $TMPDIR, read-write; purpose ends "cannot make a temp file in DIR to ...". */
int fs_temp_fd(const char *purpose, amlfs_err *err);
int wbuf_new(const char *initial, size_t len, mode_t mode, wbuf **out, amlfs_err *err);
void wbuf_free(wbuf *b);
off_t wbuf_size(wbuf *b);
/* The whole content, NUL-terminated (spec files are small). */
int wbuf_read_all(wbuf *b, char **text, size_t *len, amlfs_err *err);

/* Inode numbers for mount paths, with the kernel's lookup counts (see passthrough_ll's forget). */
typedef struct inode_table inode_table;

inode_table *inode_table_new(void);
void inode_table_free(inode_table *t);
/* The inode of path, made if needed; its lookup count goes up by one. */
fuse_ino_t inode_ref(inode_table *t, const char *path, off_t size);
void inode_forget(inode_table *t, fuse_ino_t ino, uint64_t nlookup);
/* malloc'd copy of the inode's path; NULL when unknown or no longer in the tree (unlinked). */
char *inode_path(inode_table *t, fuse_ino_t ino);
/* parent's path + "/" + name; NULL when the parent is unknown. */
char *inode_child_path(inode_table *t, fuse_ino_t parent, const char *name);
/* 0 when path has no inode. */
fuse_ino_t inode_find(inode_table *t, const char *path);
/* The size last reported to the kernel (growing logs invalidate from there). */
void inode_set_size(inode_table *t, fuse_ino_t ino, off_t size);
/* Open handles of an inode (open/create up, release down); inode_opens: how many now. */
void inode_open(inode_table *t, fuse_ino_t ino);
void inode_close(inode_table *t, fuse_ino_t ino);
int inode_opens(inode_table *t, fuse_ino_t ino);
/* After unlink/rmdir: the path is gone; the inode lives on until forgotten. */
void inode_detach(inode_table *t, const char *path);
/* After rename: from (and everything below it) now lives at to; what was at to is detached. */
void inode_rename(inode_table *t, const char *from, const char *to);

/* The write buffer of an inode, with a reference taken, or NULL when none is attached. */
wbuf *inode_wbuf_get(inode_table *t, fuse_ino_t ino);
/* Attach fresh (made by the caller) unless another is attached already: then fresh is freed and the
 * attached one returned. Takes a reference either way. */
wbuf *inode_wbuf_attach(inode_table *t, fuse_ino_t ino, wbuf *fresh);
/* Attach fresh unless another is attached already: then fresh stays its caller's alone (the release's
 * inode_wbuf_put frees it). Takes a reference on fresh either way. */
void inode_wbuf_attach_own(inode_table *t, fuse_ino_t ino, wbuf *fresh);
/* Drop a reference; the last one detaches and frees the buffer. */
void inode_wbuf_put(inode_table *t, fuse_ino_t ino, wbuf *b);

/* What the change feed needs: inodes at a path or below it. */
typedef struct inode_hit {
    fuse_ino_t ino;
    char *path;
    off_t size;
} inode_hit;
/* Inodes whose path is prefix or under prefix/ (all inodes with prefix ""); caller frees with
 * inode_hits_free. */
size_t inode_collect(inode_table *t, const char *prefix, inode_hit **out);
void inode_hits_free(inode_hit *hits, size_t n);

/* guard.c: refused saves and what an editor does right after one. Keys name a spec file of the mount
 * (spec_key). The text a program puts back at a spec path (its backup: written, or renamed onto it)
 * within GUARD_WINDOW_MS of that program's own refused save there, and equal to what the path held
 * before that save, is the editor undoing its attempt, not a new save: stored, never acted on. */
#define GUARD_WINDOW_MS 5000
#define GUARD_TEXT_MAX ((size_t)1024 * 1024) /* a spec's text kept for the comparison, at most */
typedef struct guard_list guard_list;
guard_list *guard_new(void);
void guard_free(guard_list *g);
/* key's text moved away (renamed) by tgid: what the path held, should that program's save be refused. */
void guard_moved_away(guard_list *g, const char *key, pid_t tgid, const char *text, size_t len);
/* tgid's save at key was refused; before (may be NULL) is what key held before that save. */
void guard_refused(guard_list *g, const char *key, pid_t tgid, const char *before, size_t len);
/* Whether text written at key by tgid now is that program putting back what key held before its
 * refused save. Any action at key ends the guard. */
bool guard_take_restore(guard_list *g, const char *key, pid_t tgid, const char *text, size_t len);
/* The spec files held by a `.amlfs-hold` (holds.c): their folders' keys, acted on when the hold goes. */
void guard_hold_mark(guard_list *g, const char *folder_key);
bool guard_hold_take(guard_list *g, const char *folder_key);

/* holders.c: who closes a file, from /proc: a request's thread as its process (thread group), and
 * whether that process still has the file open on another descriptor (a shell's dup2). */
pid_t fs_tgid_of(pid_t tid);
bool fs_holds_other_fd(pid_t tgid, fuse_ino_t ino, const char *mount_path);

/* The mount. */
struct fs_state {
    amlfs_client *client;
    struct fuse_session *se;
    inode_table *inodes;
    guard_list *guards;
    uid_t uid;
    gid_t gid;
    int64_t mount_ms;
};

void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* readahead.c: a read handle's last block of a file that no longer changes. A sequential reader's
 * request asks for READAHEAD_BLOCK bytes; the reads after it are served from them. The lock is never
 * held across the request. */
#define READAHEAD_BLOCK ((size_t)4 * 1024 * 1024)
typedef struct read_block {
    pthread_mutex_t mu;
    pthread_cond_t fetched;     /* a block fetch ended */
    bool fetching;              /* a block [fetch_off, +fetch_len) is being asked for */
    off_t fetch_off;
    size_t fetch_len;
    char *data;                 /* the block, or NULL */
    off_t off;
    size_t len;
    bool eof;                   /* the block ends the file */
    off_t next;                 /* where a sequential reader reads next */
} read_block;
void readahead_init(read_block *ra);
void readahead_free(read_block *ra);
/* A copy of [off, off+size) (to the end of the file) when the block holds it. */
bool readahead_take(read_block *ra, off_t off, size_t size, char **out, size_t *len);
/* How much to ask for to read size bytes at off: a block when the reader goes on from its last read
 * (then readahead_keep or readahead_failed must follow). Reads that the block will hold wait for it. */
size_t readahead_want(read_block *ra, off_t off, size_t size);
void readahead_failed(read_block *ra);
/* A read that was not a block's ended at next (a reader that seeked, then goes on, gets blocks). */
void readahead_went_on(read_block *ra, off_t next);
/* Keep data (len bytes of the asked, malloc'd; owned from here) as the block at off, of which the
 * reader got `replied` bytes. */
void readahead_keep(read_block *ra, off_t off, size_t asked, size_t replied, char *data, size_t len);

/* ---- views.c: what a path shows (GETs only) ---- */

/* Attributes of the node at np (st_ino left 0). ENOENT when the object does not exist. */
int view_stat(fs_state *fs, const node_path *np, struct stat *st, amlfs_err *err);
/* Attributes of a stored entry from the files API's JSON entry. */
void view_stat_from_entry(fs_state *fs, const cJSON *entry, struct stat *st);
/* The content of a generated text node. */
int view_text(fs_state *fs, const node_path *np, char **text, size_t *len, amlfs_err *err);
/* The same for a large text (node_is_large_text), written to fd (from its start) instead of memory. */
int view_text_to_fd(fs_state *fs, const node_path *np, int fd, size_t *len, amlfs_err *err);
/* Bytes of a log or stored file. */
int view_read(fs_state *fs, const node_path *np, off_t offset, size_t size, char **data, size_t *len,
              amlfs_err *err);
int view_readlink(fs_state *fs, const node_path *np, char **target, amlfs_err *err);
/* The stored entry at np (files API ?stat=1), fresh or from the short cache. */
int view_stored_entry(fs_state *fs, const node_path *np, bool fresh, cJSON **entry, amlfs_err *err);

/* A folder's entry; with has_attr, its attributes came with the listing (readdirplus hands them to the
 * kernel, which then asks no lookup per entry). */
typedef struct dir_entry {
    char *name;
    unsigned char type;         /* DT_DIR, DT_REG, DT_LNK */
    bool has_attr;
    double timeout;             /* how long the kernel may keep its name and attributes */
    mode_t mode;
    off_t size;
    int64_t mtime_ms;
} dir_entry;
typedef struct dir_list {
    dir_entry *items;
    size_t count, cap;
} dir_list;
int view_list(fs_state *fs, const node_path *np, dir_list *out, amlfs_err *err);
void dir_list_add(dir_list *l, const char *name, unsigned char type);
/* The attributes an entry of a listing came with (has_attr). */
void view_entry_stat(fs_state *fs, const dir_entry *e, struct stat *st);
/* How long the kernel may keep the name and attributes of the node at np (node_cache_policy; a run's
 * nodes ask whether it ended, from the answers at hand). */
double view_timeout(fs_state *fs, const node_path *np);
/* Whether run id has ended, as the answers at hand (a listing's, or its own) say; false when unknown. */
bool view_run_ended(fs_state *fs, const char *id);
void dir_list_free(dir_list *l);

/* The files API root of a stored node's object: "/v1/experiments/NAME/files/" (malloc'd), and the url
 * of the entry itself (root + escaped rel). */
char *view_files_root_url(const node_path *np);
char *view_files_url(const node_path *np);

/* ---- actions.c: every file action that changes the workspace ---- */

/* mkdir at path (np: its classification, NODE_NONE for a name the tree refuses, which a collection
 * still answers with a reason in its status). */
int action_mkdir(fs_state *fs, const char *path, const node_path *np, mode_t mode, amlfs_err *err);
int action_rmdir(fs_state *fs, const node_path *np, amlfs_err *err);
int action_unlink(fs_state *fs, const node_path *np, amlfs_err *err);
/* An empty stored file (create). */
int action_create(fs_state *fs, const node_path *np, mode_t mode, cJSON **entry, amlfs_err *err);
int action_symlink(fs_state *fs, const node_path *np, const char *target, amlfs_err *err);
/* rename(2) inside one stored folder; onto a spec name it then acts on the renamed content, and the
 * action's refusal is the result. *renamed tells whether the file moved (even when the action failed). */
int action_rename(fs_state *fs, const node_path *from, const node_path *to, unsigned flags, pid_t tgid,
                  bool *renamed, amlfs_err *err);
/* A finished write (the last close): store the buffer's content, then, with act, act if the file is a
 * spec. tgid is the program that wrote (refused saves, guard.c). Without act only the content is
 * stored when it changed (fsync, an earlier close of a shared descriptor). */
int action_finish_write(fs_state *fs, const node_path *np, wbuf *b, bool act, pid_t tgid, amlfs_err *err);
/* truncate(2) by path with no open writer: store the shortened content and act like a write. */
int action_truncate(fs_state *fs, const node_path *np, off_t size, pid_t tgid, amlfs_err *err);
/* chmod and set times (mode or mtime_ms < 0: unchanged) of a stored file or folder with no open writer,
 * or of an experiment's, environment's or data asset's own folder. */
int action_set_attr(fs_state *fs, const node_path *np, int64_t mode, int64_t mtime_ms, amlfs_err *err);
/* The whole current text of a spec file (a stored file, or an object's compute.yaml/datastore.yaml),
 * when it exists and is at most GUARD_TEXT_MAX bytes: for refused saves (guard.c). */
int action_spec_text(fs_state *fs, const node_path *np, char **text, size_t *len, amlfs_err *err);
/* Before an unlink or a rename over path (with np): if files are open on its inode, keep its content
 * for them (a wbuf on the inode), so they go on reading it after it is gone, as on a disk. */
int action_keep_open_content(fs_state *fs, const char *path, const node_path *np, wbuf **kept, amlfs_err *err);
/* *kept is the buffer attached (NULL: none was needed): when the unlink or rename then fails, the
 * caller drops it with inode_wbuf_put. */
/* A stored file into a new write buffer (empty: none of its bytes, a truncating open); *was_nonempty
 * tells whether it had any. A spec's buffer remembers the text it had (wbuf.before). */
int action_load_stored(fs_state *fs, const node_path *np, bool empty, wbuf **out, bool *was_nonempty,
                       amlfs_err *err);
/* Act on a spec's finished text (actions.c): unless it is an editor putting back what the
 * path held before its refused save (guard.c), or its folder is held by .amlfs-hold. before: what the
 * path held before this writer (NULL: nothing known). */
int action_act_on_spec(fs_state *fs, const node_path *np, const char *text, size_t len, const char *before,
                       size_t before_len, pid_t tgid, amlfs_err *err);
/* The key guard.c knows a spec file by (malloc'd). */
char *spec_key(const node_path *np);
/* A write to a ctl file: a run's (cancel) or an environment's (rebuild). */
int action_ctl(fs_state *fs, const node_path *np, const char *text, size_t len, amlfs_err *err);

#endif
