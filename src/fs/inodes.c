/* inodes.c: the mount's inode table: mount path <-> inode number, with the kernel's lookup counts, open
 * handles, the write buffer of a file being written, and the last size the kernel was told. One mutex. */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

typedef struct fs_inode {
    fuse_ino_t ino;
    char *path;                 /* NULL once detached (unlinked, renamed over) */
    uint64_t nlookup;
    int opens;                  /* open handles (files and folders alike) */
    off_t size;
    wbuf *buf;
    struct fs_inode *ino_next, *path_next;
} fs_inode;

struct inode_table {
    pthread_mutex_t mu;
    fs_inode **by_ino, **by_path;
    size_t buckets;             /* same size for both maps */
    size_t count;
    fuse_ino_t next_ino;
};

static size_t hash_path(const char *s)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t hash_ino(fuse_ino_t ino)
{
    return (size_t)(ino * 11400714819323198485ULL);
}

static void link_ino(inode_table *t, fs_inode *n)
{
    size_t b = hash_ino(n->ino) % t->buckets;
    n->ino_next = t->by_ino[b];
    t->by_ino[b] = n;
}

static void link_path(inode_table *t, fs_inode *n)
{
    size_t b = hash_path(n->path) % t->buckets;
    n->path_next = t->by_path[b];
    t->by_path[b] = n;
}

static void unlink_path(inode_table *t, fs_inode *n)
{
    fs_inode **link = &t->by_path[hash_path(n->path) % t->buckets];
    while (*link && *link != n)
        link = &(*link)->path_next;
    if (*link)
        *link = n->path_next;
    n->path_next = NULL;
}

static void unlink_ino(inode_table *t, fs_inode *n)
{
    fs_inode **link = &t->by_ino[hash_ino(n->ino) % t->buckets];
    while (*link && *link != n)
        link = &(*link)->ino_next;
    if (*link)
        *link = n->ino_next;
}

static fs_inode *find_ino(inode_table *t, fuse_ino_t ino)
{
    for (fs_inode *n = t->by_ino[hash_ino(ino) % t->buckets]; n; n = n->ino_next)
        if (n->ino == ino)
            return n;
    return NULL;
}

static fs_inode *find_path(inode_table *t, const char *path)
{
    for (fs_inode *n = t->by_path[hash_path(path) % t->buckets]; n; n = n->path_next)
        if (strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

static void grow(inode_table *t)
{
    size_t old = t->buckets;
    fs_inode **old_ino = t->by_ino;
    t->buckets = old * 2;
    t->by_ino = util_xcalloc(t->buckets, sizeof *t->by_ino);
    fs_inode **old_path = t->by_path;
    t->by_path = util_xcalloc(t->buckets, sizeof *t->by_path);
    for (size_t i = 0; i < old; i++) {
        for (fs_inode *n = old_ino[i], *next; n; n = next) {
            next = n->ino_next;
            link_ino(t, n);
            if (n->path)
                link_path(t, n);
        }
    }
    free(old_ino);
    free(old_path);
}

inode_table *inode_table_new(void)
{
    inode_table *t = util_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->buckets = 256;
    t->by_ino = util_xcalloc(t->buckets, sizeof *t->by_ino);
    t->by_path = util_xcalloc(t->buckets, sizeof *t->by_path);
    /* The root is FUSE_ROOT_ID and is never forgotten. */
    fs_inode *root = util_xcalloc(1, sizeof *root);
    root->ino = FUSE_ROOT_ID;
    root->path = util_xstrdup("");
    root->nlookup = 1;
    link_ino(t, root);
    link_path(t, root);
    t->count = 1;
    t->next_ino = FUSE_ROOT_ID + 1;
    return t;
}

static void node_free(fs_inode *n)
{
    if (n->buf)
        wbuf_free(n->buf);
    free(n->path);
    free(n);
}

void inode_table_free(inode_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->buckets; i++) {
        for (fs_inode *n = t->by_ino[i], *next; n; n = next) {
            next = n->ino_next;
            node_free(n);
        }
    }
    free(t->by_ino);
    free(t->by_path);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

fuse_ino_t inode_ref(inode_table *t, const char *path, off_t size)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_path(t, path);
    if (!n) {
        if (t->count >= t->buckets)
            grow(t);
        n = util_xcalloc(1, sizeof *n);
        n->ino = t->next_ino++;
        n->path = util_xstrdup(path);
        link_ino(t, n);
        link_path(t, n);
        t->count++;
    }
    n->nlookup++;
    n->size = size;
    fuse_ino_t ino = n->ino;
    pthread_mutex_unlock(&t->mu);
    return ino;
}

void inode_forget(inode_table *t, fuse_ino_t ino, uint64_t nlookup)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    if (n && ino != FUSE_ROOT_ID) {
        n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
        /* An open file keeps its inode looked up, so no handle can still use a buffer here. */
        if (n->nlookup == 0) {
            unlink_ino(t, n);
            if (n->path)
                unlink_path(t, n);
            t->count--;
            node_free(n);
        }
    }
    pthread_mutex_unlock(&t->mu);
}

void inode_open(inode_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    if (n)
        n->opens++;
    pthread_mutex_unlock(&t->mu);
}

void inode_close(inode_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    if (n && n->opens > 0)
        n->opens--;
    pthread_mutex_unlock(&t->mu);
}

int inode_opens(inode_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    int opens = n ? n->opens : 0;
    pthread_mutex_unlock(&t->mu);
    return opens;
}

char *inode_path(inode_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    char *path = n && n->path ? util_xstrdup(n->path) : NULL;
    pthread_mutex_unlock(&t->mu);
    return path;
}

char *inode_child_path(inode_table *t, fuse_ino_t parent, const char *name)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, parent);
    char *path = NULL;
    if (n && n->path)
        path = n->path[0] ? util_strdupf("%s/%s", n->path, name) : util_xstrdup(name);
    pthread_mutex_unlock(&t->mu);
    return path;
}

fuse_ino_t inode_find(inode_table *t, const char *path)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_path(t, path);
    fuse_ino_t ino = n ? n->ino : 0;
    pthread_mutex_unlock(&t->mu);
    return ino;
}

void inode_set_size(inode_table *t, fuse_ino_t ino, off_t size)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    if (n)
        n->size = size;
    pthread_mutex_unlock(&t->mu);
}

static bool under(const char *path, const char *prefix, size_t plen)
{
    if (plen == 0)
        return true;
    return strncmp(path, prefix, plen) == 0 && (path[plen] == '\0' || path[plen] == '/');
}

/* Every inode at or under prefix (the caller holds the lock); *n entries, malloc'd array. */
static fs_inode **matching(inode_table *t, const char *prefix, size_t *n)
{
    size_t plen = strlen(prefix), cap = 16;
    fs_inode **list = util_xcalloc(cap, sizeof *list);
    *n = 0;
    for (size_t i = 0; i < t->buckets; i++) {
        for (fs_inode *node = t->by_ino[i]; node; node = node->ino_next) {
            if (!node->path || !under(node->path, prefix, plen))
                continue;
            if (*n == cap) {
                cap *= 2;
                fs_inode **grown = realloc(list, cap * sizeof *list);
                if (!grown)
                    abort();
                list = grown;
            }
            list[(*n)++] = node;
        }
    }
    return list;
}

static void detach_locked(inode_table *t, const char *path)
{
    size_t n;
    fs_inode **list = matching(t, path, &n);
    for (size_t i = 0; i < n; i++) {
        unlink_path(t, list[i]);
        free(list[i]->path);
        list[i]->path = NULL;
    }
    free(list);
}

void inode_detach(inode_table *t, const char *path)
{
    if (!*path)
        return;
    pthread_mutex_lock(&t->mu);
    detach_locked(t, path);
    pthread_mutex_unlock(&t->mu);
}

void inode_rename(inode_table *t, const char *from, const char *to)
{
    if (!*from || !*to || strcmp(from, to) == 0)
        return;
    pthread_mutex_lock(&t->mu);
    detach_locked(t, to);
    size_t n, flen = strlen(from);
    fs_inode **list = matching(t, from, &n);
    for (size_t i = 0; i < n; i++) {
        fs_inode *node = list[i];
        unlink_path(t, node);
        char *moved = util_strdupf("%s%s", to, node->path + flen);
        free(node->path);
        node->path = moved;
        link_path(t, node);
    }
    free(list);
    pthread_mutex_unlock(&t->mu);
}

wbuf *inode_wbuf_get(inode_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    wbuf *b = n ? n->buf : NULL;
    if (b)
        b->refs++;
    pthread_mutex_unlock(&t->mu);
    return b;
}

wbuf *inode_wbuf_attach(inode_table *t, fuse_ino_t ino, wbuf *fresh)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    wbuf *b = fresh;
    if (n && n->buf) {
        b = n->buf;
    } else if (n) {
        n->buf = fresh;
        fresh->refs = 0;
    }
    b->refs++;
    pthread_mutex_unlock(&t->mu);
    if (b != fresh)
        wbuf_free(fresh);
    return b;
}

void inode_wbuf_attach_own(inode_table *t, fuse_ino_t ino, wbuf *fresh)
{
    pthread_mutex_lock(&t->mu);
    fs_inode *n = find_ino(t, ino);
    if (n && !n->buf)
        n->buf = fresh;
    fresh->refs = 1;
    pthread_mutex_unlock(&t->mu);
}

void inode_wbuf_put(inode_table *t, fuse_ino_t ino, wbuf *b)
{
    bool last = false;
    pthread_mutex_lock(&t->mu);
    if (--b->refs == 0) {
        fs_inode *n = find_ino(t, ino);
        if (n && n->buf == b)
            n->buf = NULL;
        last = true;
    }
    pthread_mutex_unlock(&t->mu);
    if (last)
        wbuf_free(b);
}

size_t inode_collect(inode_table *t, const char *prefix, inode_hit **out)
{
    pthread_mutex_lock(&t->mu);
    size_t n;
    fs_inode **list = matching(t, prefix, &n);
    inode_hit *hits = util_xcalloc(n ? n : 1, sizeof *hits);
    for (size_t i = 0; i < n; i++) {
        hits[i].ino = list[i]->ino;
        hits[i].path = util_xstrdup(list[i]->path);
        hits[i].size = list[i]->size;
    }
    free(list);
    pthread_mutex_unlock(&t->mu);
    *out = hits;
    return n;
}

void inode_hits_free(inode_hit *hits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(hits[i].path);
    free(hits);
}
