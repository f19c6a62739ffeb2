/* status_lines.c: an experiment's status line the store could not take (its disk full): kept here and
 * shown until a later write lands it, so a refused save never leaves the previous "submitted" line. */
#include "amlfs/server.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

/* Bounded: one line per experiment, and at most this many experiments waiting. */
#define PENDING_MAX 256

static void drop_locked(server *srv, size_t i)
{
    free(srv->pending_lines[i].experiment);
    free(srv->pending_lines[i].line);
    srv->pending_lines[i] = srv->pending_lines[--srv->npending_lines];
}

void server_status_line_set(server *srv, const char *experiment, const char *line)
{
    amlfs_err why = {0};
    int rc = store_experiment_set_status_line(srv->store, experiment, line, &why);
    pthread_mutex_lock(&srv->status_lock);
    size_t i = 0;
    while (i < srv->npending_lines && strcmp(srv->pending_lines[i].experiment, experiment) != 0)
        i++;
    if (rc == 0 && i < srv->npending_lines) {
        drop_locked(srv, i); /* the store has the newest line */
    } else if (rc < 0 && i < srv->npending_lines) {
        free(srv->pending_lines[i].line);
        srv->pending_lines[i].line = util_xstrdup(line);
    } else if (rc < 0 && srv->npending_lines < PENDING_MAX) {
        srv->pending_lines = util_xrealloc(srv->pending_lines, (srv->npending_lines + 1) * sizeof *srv->pending_lines);
        srv->pending_lines[srv->npending_lines++] =
            (pending_line){.experiment = util_xstrdup(experiment), .line = util_xstrdup(line)};
    }
    pthread_mutex_unlock(&srv->status_lock);
    if (rc < 0)
        log_warning("experiment %s: its status line is shown but not stored yet: %s", experiment, why.msg);
}

char *server_status_line_pending(server *srv, const char *experiment)
{
    char *line = NULL;
    pthread_mutex_lock(&srv->status_lock);
    for (size_t i = 0; i < srv->npending_lines && !line; i++)
        if (strcmp(srv->pending_lines[i].experiment, experiment) == 0)
            line = util_xstrdup(srv->pending_lines[i].line);
    pthread_mutex_unlock(&srv->status_lock);
    return line;
}

void server_status_lines_flush(server *srv)
{
    for (;;) {
        pthread_mutex_lock(&srv->status_lock);
        pending_line p = {0};
        if (srv->npending_lines) {
            p.experiment = util_xstrdup(srv->pending_lines[0].experiment);
            p.line = util_xstrdup(srv->pending_lines[0].line);
        }
        pthread_mutex_unlock(&srv->status_lock);
        if (!p.experiment)
            return;
        /* Written unlocked; dropped only if no newer line came meanwhile. */
        amlfs_err why = {0};
        int rc = store_experiment_set_status_line(srv->store, p.experiment, p.line, &why);
        pthread_mutex_lock(&srv->status_lock);
        for (size_t i = 0; rc == 0 && i < srv->npending_lines; i++)
            if (strcmp(srv->pending_lines[i].experiment, p.experiment) == 0 &&
                strcmp(srv->pending_lines[i].line, p.line) == 0) {
                drop_locked(srv, i);
                break;
            }
        pthread_mutex_unlock(&srv->status_lock);
        free(p.experiment);
        free(p.line);
        if (rc < 0)
            return; /* still full: the next tick tries again */
    }
}

void server_status_lines_free(server *srv)
{
    for (size_t i = 0; i < srv->npending_lines; i++) {
        free(srv->pending_lines[i].experiment);
        free(srv->pending_lines[i].line);
    }
    free(srv->pending_lines);
    srv->pending_lines = NULL;
    srv->npending_lines = 0;
}
