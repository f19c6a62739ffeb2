/* events.c: the mount's answer to the change feed: each event is mapped to the inodes the kernel knows
 * at that place, which are invalidated (attributes, cached bytes, names) so readers see it at once. */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>

/* Notifications are collected first and sent with no lock held: the kernel may need to call back
 * into a handler (a lookup in the same folder) before a notification returns. */
typedef struct notice {
    bool entry;                 /* inval_entry(parent, name) rather than inval_inode(ino) */
    fuse_ino_t ino;
    off_t off;                  /* inval_inode: -1 attributes only, else from here to the end */
    char *name;
} notice;

typedef struct notices {
    notice *items;
    size_t count, cap;
} notices;

static void add(notices *n, bool entry, fuse_ino_t ino, off_t off, const char *name)
{
    if (!ino)
        return;
    if (n->count == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 16;
        notice *grown = realloc(n->items, n->cap * sizeof *grown);
        if (!grown)
            abort();
        n->items = grown;
    }
    n->items[n->count++] = (notice){entry, ino, off, name ? strdup(name) : NULL};
}

static void send_all(fs_state *fs, notices *n)
{
    for (size_t i = 0; i < n->count; i++) {
        notice *x = &n->items[i];
        /* -ENOENT: the kernel forgot it meanwhile; nothing to invalidate. */
        if (x->entry && x->name)
            fuse_lowlevel_notify_inval_entry(fs->se, x->ino, x->name, strlen(x->name));
        else if (!x->entry)
            fuse_lowlevel_notify_inval_inode(fs->se, x->ino, x->off, 0);
        free(x->name);
    }
    free(n->items);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Everything at or under prefix whose kind passes `want`. Logs are invalidated from the size the
 * kernel was last told, so bytes it already holds stay cached. */
static void subtree(fs_state *fs, notices *n, const char *prefix, bool (*want)(node_kind))
{
    inode_hit *hits;
    size_t count = inode_collect(fs->inodes, prefix, &hits);
    for (size_t i = 0; i < count; i++) {
        node_path np;
        node_classify(hits[i].path, &np);
        if (want && !want(np.kind))
            continue;
        bool log = np.kind == NODE_RUN_LOG || np.kind == NODE_ENV_BUILD_LOG || np.kind == NODE_RUN_METRIC;
        add(n, false, hits[i].ino, log ? hits[i].size : 0, NULL);
    }
    inode_hits_free(hits, count);
}

/* What a state change may touch: not stored files, and not a run's snapshot (it never changes, and
 * its pages stay cached). A run's outputs are touched: nothing announces each write of its job, so
 * the run's `changed` events (Running, Completed, ...) are when the mount drops their attributes and
 * bytes; their names go with their short entry timeout (see everything_changed on names). */
static bool not_stored(node_kind kind)
{
    return !node_is_stored(kind) && !node_is_snapshot(kind);
}

static bool stored_or_folder(node_kind kind)
{
    return node_is_stored(kind) || kind == NODE_ENV_DIR || kind == NODE_EXP_DIR || kind == NODE_DATA_DIR;
}

/* A name appeared or went in its parent folder. */
static void name_changed(fs_state *fs, notices *n, const char *path)
{
    const char *name = base_name(path);
    if (name == path) {
        add(n, true, FUSE_ROOT_ID, 0, name);
        return;
    }
    char *parent = strndup(path, (size_t)(name - path - 1));
    if (!parent)
        abort();
    fuse_ino_t pino = inode_find(fs->inodes, parent);
    add(n, true, pino, 0, name);
    add(n, false, pino, 0, NULL);
    free(parent);
}

/* A run appeared or went: every experiment's runs/ folder the kernel knows may list it, and `latest`
 * may now point elsewhere. */
static void runs_links_changed(fs_state *fs, notices *n, const char *run_id)
{
    inode_hit *hits;
    size_t count = inode_collect(fs->inodes, "experiments", &hits);
    for (size_t i = 0; i < count; i++) {
        node_path np;
        node_classify(hits[i].path, &np);
        if (np.kind == NODE_EXP_RUNS_DIR) {
            add(n, false, hits[i].ino, 0, NULL);
            add(n, true, hits[i].ino, 0, run_id);
            add(n, true, hits[i].ino, 0, "latest");
        }
    }
    inode_hits_free(hits, count);
}

/* Events were lost: every inode's attributes and bytes may be stale. Names are left to their 1 s
 * entry timeout: invalidating a folder's name would unhash it under a shell whose cwd it is
 * (getcwd then fails), and names that really went are gone from lookups within the second. */
static void everything_changed(fs_state *fs, notices *n)
{
    inode_hit *hits;
    size_t count = inode_collect(fs->inodes, "", &hits);
    for (size_t i = 0; i < count; i++)
        add(n, false, hits[i].ino, 0, NULL);
    inode_hits_free(hits, count);
}

void fs_on_event(void *ctx, const client_event *ev, bool reset)
{
    fs_state *fs = ctx;
    if (!fs->se)
        return;
    notices n = {0};
    if (reset || !ev) {
        everything_changed(fs, &n);
        send_all(fs, &n);
        return;
    }
    node_path np;
    node_classify(ev->path, &np);
    if (strcmp(ev->what, "grew") == 0) {
        subtree(fs, &n, ev->path, NULL);
    } else if (strcmp(ev->what, "created") == 0 || strcmp(ev->what, "deleted") == 0) {
        name_changed(fs, &n, ev->path);
        subtree(fs, &n, ev->path, NULL);
        if (np.kind == NODE_RUN_DIR)
            runs_links_changed(fs, &n, np.name);
    } else if (strcmp(ev->what, "files") == 0) {
        subtree(fs, &n, ev->path, stored_or_folder);
    } else {
        /* changed: status, info, versions, status_line, a run's outputs; stored files did not change. */
        subtree(fs, &n, ev->path, not_stored);
    }
    /* workspace.json shows counts and the event sequence number. */
    add(&n, false, inode_find(fs->inodes, "workspace.json"), -1, NULL);
    send_all(fs, &n);
}
