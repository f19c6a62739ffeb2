/* header_deadline.c: a network client gets a few seconds to send each request's headers. Every byte resets
 * libmicrohttpd's idle timeout, so a client dripping a byte a second would otherwise hold a thread for ever. */
#include "amlfs/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

typedef struct watched {
    struct watched *prev, *next;
    header_watch *watch;
    /* Our own duplicate of the connection's socket: shutdown() through it can never reach a descriptor
     * number libmicrohttpd closed and the process reused meanwhile. */
    int fd;
    int64_t due_ms;             /* monotonic; 0: the headers are in, a handler has the request */
    bool cut;
} watched;

struct header_watch {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stopping;
    int64_t first_ms, next_ms;  /* the time for a connection's first request's headers, for a later one's */
    watched *head;
};

static void *watchdog(void *arg)
{
    header_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t now = util_mono_ms();
        for (watched *c = w->head; c; c = c->next) {
            if (c->due_ms == 0 || c->cut || now < c->due_ms)
                continue;
            /* The connection's thread sees end of file and closes it the usual way. */
            shutdown(c->fd, SHUT_RDWR);
            c->cut = true;
        }
        struct timespec t = util_deadline_after_ms(CLOCK_MONOTONIC, 250);
        pthread_cond_timedwait(&w->wake, &w->lock, &t);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int header_watch_start(unsigned first_s, unsigned next_s, header_watch **out, amlfs_err *err)
{
    header_watch *w = util_xcalloc(1, sizeof *w);
    w->first_ms = (int64_t)first_s * 1000;
    w->next_ms = (int64_t)next_s * 1000;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    int r = pthread_create(&w->thread, NULL, watchdog, w);
    if (r != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return amlfs_fail(err, r, "cannot start the thread that bounds the time for a request's headers: %s",
                          strerror(r));
    }
    *out = w;
    return 0;
}

/* After the daemons have stopped: no connection is left to notify. */
void header_watch_free(header_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->head) {
        watched *c = w->head;
        w->head = c->next;
        close(c->fd);
        free(c);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void header_watch_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    header_watch *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = info ? fcntl(info->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        if (fd < 0) {
            /* Out of descriptors: the idle timeout and the connection limits still hold it. */
            log_warning("a connection goes without a deadline for its headers: %s", strerror(errno));
            *socket_context = NULL;
            return;
        }
        watched *c = util_xcalloc(1, sizeof *c);
        c->watch = w;
        c->fd = fd;
        c->due_ms = util_mono_ms() + w->first_ms;
        pthread_mutex_lock(&w->lock);
        c->next = w->head;
        if (w->head)
            w->head->prev = c;
        w->head = c;
        pthread_mutex_unlock(&w->lock);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        watched *c = *socket_context;
        pthread_mutex_lock(&w->lock);
        if (c->prev)
            c->prev->next = c->next;
        else
            w->head = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&w->lock);
        close(c->fd);
        free(c);
        *socket_context = NULL;
    }
}

static watched *watched_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

void header_watch_headers_in(struct MHD_Connection *conn)
{
    watched *c = watched_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&c->watch->lock);
    c->due_ms = 0;
    pthread_mutex_unlock(&c->watch->lock);
}

void header_watch_request_done(struct MHD_Connection *conn)
{
    watched *c = watched_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&c->watch->lock);
    c->due_ms = util_mono_ms() + c->watch->next_ms;
    pthread_mutex_unlock(&c->watch->lock);
}
