/* monitor.c: one thread that follows active runs' folders with inotify: log growth becomes
 * "runs/ID/log grew" events (at once after a quiet spell, at most one per run per 4 ms in a burst, the
 * final size always: throttle.c), lines appended to the run's AMLFS_METRICS files are read into the store
 * (metrics_ingest, the same way per 20 ms), an exit record finishes the run at once (one written before
 * the watch began too); a sweep every second catches a missed event (and a cluster's shared folder,
 * where inotify sees no other machine's writes). Asking computes about their runs is the poller's. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amlfs/metrics.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

#include "throttle.h"

#define SWEEP_MS 1000
#define LOG_NAME "log"
#define EXIT_NAME "exit.json"

typedef struct watched {
    char *id;
    char *log_path;
    int wd;
    int64_t sent_size;          /* last size announced */
    throttle log;               /* the log changed since that announcement */
    int metrics_wd;             /* RUN_DIR/metrics, -1 when it has none */
    throttle metrics;           /* a metrics file changed since it was last read */
    bool exited;                /* its exit record was there when the watch began: to be checked */
} watched;

struct monitor {
    server *srv;
    pthread_t thread;
    bool started;
    int inotify_fd;
    int wake[2];                /* pipe: wakes the thread for shutdown */
    pthread_mutex_t lock;       /* guards the table below; never held while calling the lifecycle */
    watched *runs;
    size_t nruns, cap;
    bool stopping;
    monitor_end_fn check_end;   /* run_check_end, or a test's */
};

static watched *find_by_id(monitor *m, const char *id)
{
    for (size_t i = 0; i < m->nruns; i++)
        if (strcmp(m->runs[i].id, id) == 0)
            return &m->runs[i];
    return NULL;
}

static watched *find_by_wd(monitor *m, int wd, bool *metrics)
{
    for (size_t i = 0; i < m->nruns; i++) {
        if (m->runs[i].wd == wd || m->runs[i].metrics_wd == wd) {
            *metrics = m->runs[i].metrics_wd == wd;
            return &m->runs[i];
        }
    }
    return NULL;
}

/* Announces the log's size if it changed (lock held). */
static void send_size(monitor *m, watched *w)
{
    struct stat st;
    if (stat(w->log_path, &st) < 0 || st.st_size == w->sent_size)
        return;
    w->sent_size = st.st_size;
    events_emitf(m->srv->events, "grew", st.st_size, "runs/%s/log", w->id);
}

int monitor_watch(monitor *m, const char *run_id, amlfs_err *err)
{
    char *dir = server_path(m->srv, "runs/%s", run_id);
    pthread_mutex_lock(&m->lock);
    int r = 0;
    if (find_by_id(m, run_id))
        goto out;
    int wd = inotify_add_watch(m->inotify_fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
    if (wd < 0) {
        r = amlfs_fail(err, errno, "following run %s (%s): inotify: %s", run_id, dir, strerror(errno));
        goto out;
    }
    if (m->nruns == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        watched *grown = realloc(m->runs, m->cap * sizeof *grown);
        if (!grown) {
            log_error("out of memory");
            abort();
        }
        m->runs = grown;
    }
    watched *w = &m->runs[m->nruns++];
    w->id = util_xstrdup(run_id);
    w->log_path = util_strdupf("%s/" LOG_NAME, dir);
    w->wd = wd;
    char *metrics = util_strdupf("%s/" METRICS_DIR, dir);
    w->metrics_wd = inotify_add_watch(m->inotify_fd, metrics, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
    free(metrics);
    throttle_init(&w->metrics, true); /* lines may have come while nobody watched */
    w->sent_size = 0; /* a new log is empty: only growth is news */
    throttle_init(&w->log, true); /* a re-attached run may have grown while nobody watched */
    /* Looked for after the watch was added: a job that ended before it (a `true` started just now) made
     * no event, and would be found by the poller's next round only, up to a second later. */
    char *exit_record = util_strdupf("%s/" EXIT_NAME, dir);
    w->exited = access(exit_record, F_OK) == 0;
    free(exit_record);
out:
    pthread_mutex_unlock(&m->lock);
    free(dir);
    if (r == 0) /* let the thread announce the new run's log size soon */
        (void)!write(m->wake[1], "w", 1);
    return r;
}

void monitor_finish(monitor *m, const char *run_id)
{
    pthread_mutex_lock(&m->lock);
    watched *w = find_by_id(m, run_id);
    if (w) {
        send_size(m, w);
        inotify_rm_watch(m->inotify_fd, w->wd);
        if (w->metrics_wd >= 0)
            inotify_rm_watch(m->inotify_fd, w->metrics_wd);
        free(w->id);
        free(w->log_path);
        *w = m->runs[--m->nruns];
    } else {
        /* Never followed (e.g. it ended before a restart): the log's size still has to be told. */
        char *log = server_path(m->srv, "runs/%s/" LOG_NAME, run_id);
        struct stat st;
        if (stat(log, &st) == 0)
            events_emitf(m->srv->events, "grew", st.st_size, "runs/%s/log", run_id);
        free(log);
    }
    pthread_mutex_unlock(&m->lock);
}

static void add_ended(char ***ended, size_t *nended, const char *id)
{
    *ended = util_xrealloc(*ended, (*nended + 1) * sizeof **ended);
    (*ended)[(*nended)++] = util_xstrdup(id);
}

/* Reads pending inotify events; collects ids whose exit record appeared (lock held). */
static void read_inotify(monitor *m, char ***ended, size_t *nended)
{
    char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t len = read(m->inotify_fd, buf, sizeof buf);
        if (len <= 0)
            return;
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            bool metrics = false;
            watched *w = find_by_wd(m, ev->wd, &metrics);
            if (!w || ev->len == 0)
                continue;
            if (metrics) {
                throttle_note(&w->metrics);
            } else if (strcmp(ev->name, LOG_NAME) == 0) {
                throttle_note(&w->log);
            } else if (strcmp(ev->name, EXIT_NAME) == 0 && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))) {
                add_ended(ended, nended, w->id);
            }
        }
    }
}

/* Runs whose exit record was there before their watch began (lock held). */
static void take_exited(monitor *m, char ***ended, size_t *nended)
{
    for (size_t i = 0; i < m->nruns; i++) {
        if (m->runs[i].exited) {
            m->runs[i].exited = false;
            add_ended(ended, nended, m->runs[i].id);
        }
    }
}

/* Runs whose metrics files are to be read, collected under the lock and read without it. */
typedef struct id_list {
    char **ids;
    size_t n;
} id_list;

static void id_list_add(id_list *l, const char *id)
{
    l->ids = util_xrealloc(l->ids, (l->n + 1) * sizeof *l->ids);
    l->ids[l->n++] = util_xstrdup(id);
}

/* Sends the sizes that are due and collects the metrics reads that are; returns ms until the next one is
 * (or -1 for none). */
static int64_t flush_sizes(monitor *m, int64_t now, id_list *ingest)
{
    int64_t next = -1, wait;
    for (size_t i = 0; i < m->nruns; i++) {
        watched *w = &m->runs[i];
        if (throttle_due(&w->log, now, LOG_WINDOW_MS, &wait))
            send_size(m, w);
        else if (wait >= 0 && (next < 0 || wait < next))
            next = wait;
        if (throttle_due(&w->metrics, now, METRICS_WINDOW_MS, &wait))
            id_list_add(ingest, w->id);
        else if (wait >= 0 && (next < 0 || wait < next))
            next = wait;
    }
    return next;
}

/* Reads the runs' new metric lines (no lock held: it writes the store); a run with more waiting is read
 * again at the next turn, after the other runs' work. */
static void ingest_all(monitor *m, id_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        amlfs_err err = {0};
        int rc = metrics_ingest(m->srv, l->ids[i], false, &err);
        if (rc < 0)
            log_warning("run %s: %s", l->ids[i], err.msg);
        if (rc > 0) {
            pthread_mutex_lock(&m->lock);
            watched *w = find_by_id(m, l->ids[i]);
            if (w)
                throttle_init(&w->metrics, true); /* due at once */
            pthread_mutex_unlock(&m->lock);
        }
        free(l->ids[i]);
    }
    free(l->ids);
    l->ids = NULL;
    l->n = 0;
}

static void check_ended(monitor *m, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        amlfs_err err = {0};
        if (m->check_end(m->srv, ids[i], &err) < 0)
            log_warning("checking run %s: %s", ids[i], err.msg);
        free(ids[i]);
    }
}

/* Sizes and metric lines the monitor may have missed an inotify event for. */
static void sweep(monitor *m, int64_t now)
{
    id_list ingest = {0};
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nruns; i++) {
        watched *w = &m->runs[i];
        int64_t wait;
        throttle_note(&w->log); /* sent now, or by the flush when its window ends */
        if (throttle_due(&w->log, now, LOG_WINDOW_MS, &wait))
            send_size(m, w);
        throttle_told(&w->metrics, now);
        id_list_add(&ingest, w->id);
    }
    pthread_mutex_unlock(&m->lock);
    ingest_all(m, &ingest);
}

static void *monitor_main(void *arg)
{
    monitor *m = arg;
    int64_t next_sweep = util_mono_ms() + SWEEP_MS;
    for (;;) {
        int64_t now = util_mono_ms();
        id_list ingest = {0};
        pthread_mutex_lock(&m->lock);
        bool stopping = m->stopping;
        int64_t flush_in = flush_sizes(m, now, &ingest);
        pthread_mutex_unlock(&m->lock);
        if (!stopping)
            ingest_all(m, &ingest);
        for (size_t i = 0; i < ingest.n; i++)
            free(ingest.ids[i]);
        free(ingest.ids);
        if (stopping)
            break;
        if (now >= next_sweep) {
            sweep(m, now);
            next_sweep = util_mono_ms() + SWEEP_MS;
            continue;
        }
        int64_t timeout = next_sweep - now;
        if (flush_in >= 0 && flush_in < timeout)
            timeout = flush_in;
        struct pollfd fds[2] = {{.fd = m->inotify_fd, .events = POLLIN}, {.fd = m->wake[0], .events = POLLIN}};
        int ready = poll(fds, 2, (int)timeout);
        if (ready < 0 && errno != EINTR) {
            log_warning("monitor: poll: %s", strerror(errno));
            break;
        }
        if (fds[1].revents & POLLIN) {
            char drain[64];
            while (read(m->wake[0], drain, sizeof drain) > 0) {
            }
        }
        char **ended = NULL;
        size_t nended = 0;
        pthread_mutex_lock(&m->lock);
        if (fds[0].revents & POLLIN)
            read_inotify(m, &ended, &nended);
        take_exited(m, &ended, &nended);
        flush_sizes(m, util_mono_ms(), &ingest);
        pthread_mutex_unlock(&m->lock);
        ingest_all(m, &ingest);
        check_ended(m, ended, nended);
        free(ended);
    }
    return NULL;
}

int monitor_open(server *srv, amlfs_err *err)
{
    monitor *m = util_xcalloc(1, sizeof *m);
    m->srv = srv;
    m->check_end = run_check_end;
    m->wake[0] = m->wake[1] = -1;
    pthread_mutex_init(&m->lock, NULL);
    m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (m->inotify_fd < 0) {
        int r = amlfs_fail(err, errno, "inotify: %s (raise fs.inotify.max_user_instances?)",
                           strerror(errno));
        pthread_mutex_destroy(&m->lock);
        free(m);
        return r;
    }
    if (pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        int r = amlfs_fail(err, errno, "monitor: pipe: %s", strerror(errno));
        close(m->inotify_fd);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return r;
    }
    srv->monitor = m;
    return 0;
}

void monitor_set_end_check(monitor *m, monitor_end_fn fn)
{
    m->check_end = fn;
}

int monitor_start(monitor *m, amlfs_err *err)
{
    int rc = pthread_create(&m->thread, NULL, monitor_main, m);
    if (rc != 0)
        return amlfs_fail(err, rc, "starting the monitor thread: %s", strerror(rc));
    m->started = true;
    return 0;
}

void monitor_stop(server *srv)
{
    monitor *m = srv->monitor;
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        pthread_mutex_unlock(&m->lock);
        (void)!write(m->wake[1], "q", 1);
        pthread_join(m->thread, NULL);
    }
    for (size_t i = 0; i < m->nruns; i++) {
        free(m->runs[i].id);
        free(m->runs[i].log_path);
    }
    free(m->runs);
    close(m->inotify_fd);
    close(m->wake[0]);
    close(m->wake[1]);
    pthread_mutex_destroy(&m->lock);
    free(m);
    srv->monitor = NULL;
}
