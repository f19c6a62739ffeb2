/* guard.c: what the mount remembers about recent spec saves: a refused save and the text its path held
 * before (so an editor putting its backup back is not a new save), and the folders held by .amlfs-hold. */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

typedef enum guard_kind {
    G_MOVED,                    /* a spec's text renamed away by a program (emacs, vim's backupcopy=no) */
    G_REFUSED,                  /* a program's refused save; text: what the path held before it */
    G_HELD,                     /* a spec saved while its folder had .amlfs-hold: acted on when it goes */
} guard_kind;

typedef struct guard_entry {
    guard_kind kind;
    char *key;
    pid_t tgid;
    int64_t until_ms;           /* util_mono_ms deadline; G_HELD: none */
    char *text;                 /* NULL: the path had no file */
    size_t len;
    struct guard_entry *next;
} guard_entry;

struct guard_list {
    pthread_mutex_t mu;
    guard_entry *head;
};

guard_list *guard_new(void)
{
    guard_list *g = util_xcalloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

static void entry_free(guard_entry *e)
{
    free(e->key);
    free(e->text);
    free(e);
}

void guard_free(guard_list *g)
{
    if (!g)
        return;
    for (guard_entry *e = g->head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Unlink and return the entry of kind at key (the caller holds the lock); expired ones are dropped on
 * the way. */
static guard_entry *take_locked(guard_list *g, guard_kind kind, const char *key)
{
    int64_t now = util_mono_ms();
    guard_entry *found = NULL;
    for (guard_entry **link = &g->head; *link;) {
        guard_entry *e = *link;
        bool expired = e->kind != G_HELD && now > e->until_ms;
        if (!found && !expired && e->kind == kind && strcmp(e->key, key) == 0) {
            *link = e->next;
            found = e;
        } else if (expired) {
            *link = e->next;
            entry_free(e);
        } else {
            link = &e->next;
        }
    }
    return found;
}

static void put_locked(guard_list *g, guard_kind kind, const char *key, pid_t tgid, const char *text, size_t len)
{
    guard_entry *e = util_xcalloc(1, sizeof *e);
    e->kind = kind;
    e->key = util_xstrdup(key);
    e->tgid = tgid;
    e->until_ms = util_mono_ms() + GUARD_WINDOW_MS;
    if (text) {
        e->text = util_xcalloc(1, len + 1);
        memcpy(e->text, text, len);
        e->len = len;
    }
    e->next = g->head;
    g->head = e;
}

void guard_moved_away(guard_list *g, const char *key, pid_t tgid, const char *text, size_t len)
{
    pthread_mutex_lock(&g->mu);
    guard_entry *old = take_locked(g, G_MOVED, key);
    if (old)
        entry_free(old);
    put_locked(g, G_MOVED, key, tgid, text, len);
    pthread_mutex_unlock(&g->mu);
}

void guard_refused(guard_list *g, const char *key, pid_t tgid, const char *before, size_t len)
{
    pthread_mutex_lock(&g->mu);
    guard_entry *old = take_locked(g, G_REFUSED, key);
    if (old)
        entry_free(old);
    /* No file there before this save: the same program may have renamed it away just before (emacs,
     * vim with backupcopy=no rename the file to NAME~, then write NAME anew). */
    guard_entry *moved = before ? NULL : take_locked(g, G_MOVED, key);
    if (moved && moved->tgid == tgid)
        put_locked(g, G_REFUSED, key, tgid, moved->text, moved->len);
    else
        put_locked(g, G_REFUSED, key, tgid, before, len);
    if (moved)
        entry_free(moved);
    pthread_mutex_unlock(&g->mu);
}

bool guard_take_restore(guard_list *g, const char *key, pid_t tgid, const char *text, size_t len)
{
    pthread_mutex_lock(&g->mu);
    guard_entry *e = take_locked(g, G_REFUSED, key);
    pthread_mutex_unlock(&g->mu);
    bool restore = e && e->tgid == tgid && e->text && e->len == len && memcmp(e->text, text, len) == 0;
    if (e)
        entry_free(e);
    return restore;
}

void guard_hold_mark(guard_list *g, const char *folder_key)
{
    pthread_mutex_lock(&g->mu);
    guard_entry *old = take_locked(g, G_HELD, folder_key);
    if (old)
        entry_free(old);
    put_locked(g, G_HELD, folder_key, 0, NULL, 0);
    pthread_mutex_unlock(&g->mu);
}

bool guard_hold_take(guard_list *g, const char *folder_key)
{
    pthread_mutex_lock(&g->mu);
    guard_entry *e = take_locked(g, G_HELD, folder_key);
    pthread_mutex_unlock(&g->mu);
    if (e)
        entry_free(e);
    return e != NULL;
}
