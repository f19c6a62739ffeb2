/* computes.c: the registry of compute targets the server runs jobs on: `local` (this machine) always,
 * and the computes made with mkdir + compute.yaml. A compute in use is counted, so a changed or removed
 * one is destroyed only when its last user lets it go. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

struct compute_slot {
    char *name;
    compute *c;                 /* NULL while the compute has no usable compute.yaml */
    int users;                  /* holders from server_compute_get */
    bool listed;                /* false once replaced or removed: freed with its last user */
    char *note;                 /* why the last poll of its runs failed; NULL when it went through */
};

#define LOCAL "local"

static compute_slot *find_listed(server *srv, const char *name)
{
    for (size_t i = 0; name && i < srv->nslots; i++)
        if (srv->slots[i]->listed && strcmp(srv->slots[i]->name, name) == 0)
            return srv->slots[i];
    return NULL;
}

static void slot_free(compute_slot *slot)
{
    compute_destroy(slot->c);
    free(slot->name);
    free(slot->note);
    free(slot);
}

/* Lock held. Drops slot i from the array when nobody uses it any more. */
static void reap_slot(server *srv, size_t i)
{
    compute_slot *slot = srv->slots[i];
    if (slot->listed || slot->users > 0)
        return;
    srv->slots[i] = srv->slots[--srv->nslots];
    slot_free(slot);
}

void server_compute_install(server *srv, const char *name, compute *c)
{
    compute_slot *slot = util_xcalloc(1, sizeof *slot);
    slot->name = util_xstrdup(name);
    slot->c = c;
    slot->listed = true;
    pthread_mutex_lock(&srv->computes_lock);
    for (size_t i = 0; i < srv->nslots; i++) {
        if (srv->slots[i]->listed && strcmp(srv->slots[i]->name, name) == 0) {
            srv->slots[i]->listed = false;
            if (!slot->note && srv->slots[i]->note)
                slot->note = util_xstrdup(srv->slots[i]->note);
            reap_slot(srv, i);
            break;
        }
    }
    srv->slots = util_xrealloc(srv->slots, (srv->nslots + 1) * sizeof *srv->slots);
    srv->slots[srv->nslots++] = slot;
    pthread_mutex_unlock(&srv->computes_lock);
}

void server_compute_uninstall(server *srv, const char *name)
{
    pthread_mutex_lock(&srv->computes_lock);
    for (size_t i = 0; i < srv->nslots; i++) {
        if (srv->slots[i]->listed && strcmp(srv->slots[i]->name, name) == 0) {
            srv->slots[i]->listed = false;
            reap_slot(srv, i);
            break;
        }
    }
    pthread_mutex_unlock(&srv->computes_lock);
}

compute *server_compute_get(server *srv, const char *name)
{
    pthread_mutex_lock(&srv->computes_lock);
    compute_slot *slot = find_listed(srv, name);
    compute *c = slot && slot->c ? slot->c : NULL;
    if (c)
        slot->users++;
    pthread_mutex_unlock(&srv->computes_lock);
    return c;
}

void server_compute_release(server *srv, compute *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&srv->computes_lock);
    for (size_t i = 0; i < srv->nslots; i++) {
        if (srv->slots[i]->c == c) {
            srv->slots[i]->users--;
            reap_slot(srv, i);
            break;
        }
    }
    pthread_mutex_unlock(&srv->computes_lock);
}

void server_compute_note(server *srv, const char *name, const char *note)
{
    bool changed = false;
    pthread_mutex_lock(&srv->computes_lock);
    compute_slot *slot = find_listed(srv, name);
    if (slot && !(note && slot->note && strcmp(note, slot->note) == 0) && (note || slot->note)) {
        free(slot->note);
        slot->note = note ? util_xstrdup(note) : NULL;
        changed = true;
    }
    pthread_mutex_unlock(&srv->computes_lock);
    if (changed) {
        if (note)
            log_warning("compute %s: %s", name, note);
        events_emitf(srv->events, "changed", -1, "computes/%s", name);
    }
}

char *server_compute_note_get(server *srv, const char *name)
{
    pthread_mutex_lock(&srv->computes_lock);
    compute_slot *slot = find_listed(srv, name);
    char *note = slot && slot->note ? util_xstrdup(slot->note) : NULL;
    pthread_mutex_unlock(&srv->computes_lock);
    return note;
}

int server_compute_max(server *srv, compute *c)
{
    pthread_mutex_lock(&srv->computes_lock);
    int max = c->max_instances;
    pthread_mutex_unlock(&srv->computes_lock);
    return max;
}

char **server_compute_list_names(server *srv, size_t *n)
{
    pthread_mutex_lock(&srv->computes_lock);
    char **names = util_xcalloc(srv->nslots + 1, sizeof *names);
    size_t k = 0;
    for (size_t i = 0; i < srv->nslots; i++)
        if (srv->slots[i]->listed && srv->slots[i]->c)
            names[k++] = util_xstrdup(srv->slots[i]->name);
    pthread_mutex_unlock(&srv->computes_lock);
    *n = k;
    return names;
}

char *server_compute_names(server *srv)
{
    size_t n;
    char **names = server_compute_list_names(srv, &n);
    util_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_append(&b, ", ", 2, 0);
        util_buf_append(&b, names[i], strlen(names[i]), 0);
        free(names[i]);
    }
    free(names);
    return b.data ? b.data : util_xstrdup("");
}

static int open_local(server *srv, int max_instances_flag, amlfs_err *err)
{
    store_compute stored;
    int max = 0;
    int r = store_compute_get(srv->store, LOCAL, &stored, err);
    if (r < 0 && r != -ENOENT)
        return r;
    bool exists = r == 0;
    if (exists)
        max = stored.max_instances;
    if (max_instances_flag > 0)
        max = max_instances_flag;
    if (max < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        max = n > 0 ? (int)n : 1;
    }
    if (!exists || stored.max_instances != max) {
        char *yaml = util_strdupf("name: local\ntype: local\nmax_instances: %d\n", max);
        store_compute c = {.name = LOCAL, .type = LOCAL, .yaml = yaml, .max_instances = max};
        r = store_compute_put(srv->store, &c, err);
        free(yaml);
    }
    if (exists)
        store_compute_free(&stored);
    if (r < 0)
        return r;
    compute *local = compute_local_new(LOCAL, max, srv->exe, err);
    if (!local)
        return err && err->code ? -err->code : -EIO;
    server_compute_install(srv, LOCAL, local);
    return 0;
}

int server_computes_open(server *srv, int max_instances_flag, amlfs_err *err)
{
    int r = open_local(srv, max_instances_flag, err);
    if (r < 0)
        return r;
    store_compute *list;
    size_t n;
    if ((r = store_compute_list(srv->store, &list, &n, err)) < 0)
        return r;
    /* Clusters first: an amlcompute is built on the default cluster's settings. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            bool cluster_pass = strcmp(list[i].type, "amlcompute") != 0;
            if (strcmp(list[i].name, LOCAL) == 0 || (pass == 0) != cluster_pass)
                continue;
            amlfs_err why = {0};
            compute *c = NULL;
            if (list[i].yaml[0] && server_compute_build(srv, list[i].name, list[i].yaml, &c, &why) < 0)
                log_warning("compute %s cannot be set up again: %s", list[i].name, why.msg);
            server_compute_install(srv, list[i].name, c);
        }
    }
    store_compute_list_free(list, n);
    return 0;
}

void server_computes_close(server *srv)
{
    for (size_t i = 0; i < srv->nslots; i++)
        slot_free(srv->slots[i]);
    free(srv->slots);
    srv->slots = NULL;
    srv->nslots = 0;
}
