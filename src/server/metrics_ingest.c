/* metrics_ingest.c: reading what a job appended to its AMLFS_METRICS file(s) (RUN_DIR/metrics/metrics*.jsonl)
 * into the store, from the offset kept there: complete lines only (a last line without its newline waits,
 * until the run's end), malformed ones counted with their reasons, each pass one transaction with the new
 * offset, so a restart neither repeats nor loses a point. Called by the monitor while the run runs and once
 * more when it ends; two readers at once are safe (the store refuses the second one's stale offset). */
#include "amlfs/server.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/metrics.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

/* Read at most this much of a file per pass, and parse at most so many lines: bounds memory whatever a
 * job writes; the next pass goes on from there at once. */
#define CHUNK (1024 * 1024)
#define LINES_PER_PASS 10000
/* metrics.jsonl and one metrics-nodeN.jsonl per further node of a run: no more are read. */
#define FILES_MAX 260

typedef struct pass {
    const char *file;
    metric_point *points;
    store_metric_in *in;
    size_t npoints;
    store_metric_problem problems[METRICS_PROBLEMS_KEPT];
    char reasons[METRICS_PROBLEMS_KEPT][300];
    size_t nproblems;
    int64_t malformed, line;
} pass;

/* A problem kept with its reason (the first few); a malformed line also counts (`line`), one about the file
 * itself does not. */
static void problem(pass *p, bool line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(pass *p, bool line, const char *fmt, ...)
{
    p->malformed += line;
    if (p->nproblems == METRICS_PROBLEMS_KEPT)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->reasons[p->nproblems], sizeof p->reasons[0], fmt, ap);
    va_end(ap);
    util_utf8_sanitize(p->reasons[p->nproblems]); /* a quote cut short stays valid in info.json */
    p->problems[p->nproblems] = (store_metric_problem){p->file, line ? p->line : 0, p->reasons[p->nproblems]};
    p->nproblems++;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static void take_line(pass *p, const char *s, size_t n, int64_t now)
{
    p->line++;
    if (blank(s, n))
        return; /* an empty line holds no point and is no mistake */
    amlfs_err why = {0};
    metric_point *pt = &p->points[p->npoints];
    if (metrics_parse_line(s, n, pt, &why) < 0) {
        problem(p, true, "%s", why.msg);
        return;
    }
    p->in[p->npoints] = (store_metric_in){
        .name = pt->name, .value = pt->value, .has_step = pt->has_step, .step = pt->step,
        .timestamp = pt->has_timestamp ? pt->timestamp : now,
    };
    p->npoints++;
}

void metrics_announce(server *srv, const char *run_id, const store_series_change *changes, size_t n,
                      bool counts_changed)
{
    for (size_t i = 0; i < n; i++) {
        if (changes[i].created)
            events_emitf(srv->events, "created", -1, "runs/%s/metrics/%s", run_id, changes[i].name);
        events_emitf(srv->events, "grew", changes[i].bytes, "runs/%s/metrics/%s", run_id, changes[i].name);
    }
    if (counts_changed) /* info.json shows the malformed and dropped counts */
        events_emitf(srv->events, "changed", -1, "runs/%s", run_id);
}

/* One pass over one file from its stored offset: 1 when there may be more to read now, 0 when caught up,
 * or a negative errno. */
static int read_pass(server *srv, const char *run_id, int dirfd, const char *file, bool final, char *buf, pass *p,
                     amlfs_err *err)
{
    int64_t offset, lines;
    bool skipping;
    int rc = store_metric_file_get(srv->store, run_id, file, &offset, &lines, &skipping, err);
    if (rc < 0)
        return rc;
    int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : amlfs_fail(err, errno, "metrics file %s of run %s: %s", file, run_id, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0; /* not a file: nothing of ours to read */
    }
    p->file = file;
    p->npoints = p->nproblems = 0;
    p->malformed = 0;
    p->line = lines;
    store_metric_source src = {.file = file, .from_offset = offset, .to_offset = offset, .lines = lines,
                               .skipping = skipping};
    if (st.st_size < offset) {
        /* The job truncated it: what it writes now starts at the new end. */
        problem(p, false, "the file shrank from %lld to %lld bytes: AMLFS_METRICS is appended to, never rewritten; "
                "reading on from its new end", (long long)offset, (long long)st.st_size);
        src.to_offset = st.st_size;
    } else if (st.st_size > offset) {
        size_t want = (size_t)(st.st_size - offset) < CHUNK ? (size_t)(st.st_size - offset) : CHUNK;
        ssize_t n = pread(fd, buf, want, offset);
        if (n < 0) {
            rc = amlfs_fail(err, errno, "reading metrics file %s of run %s: %s", file, run_id, strerror(errno));
            close(fd);
            return rc;
        }
        bool at_end = offset + n >= st.st_size;
        size_t pos = 0;
        int64_t now = util_now_ms();
        if (skipping) { /* the rest of a line too long to read: counted when it began */
            char *nl = memchr(buf, '\n', (size_t)n);
            pos = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
            src.skipping = !nl;
        }
        while (pos < (size_t)n && p->line - lines < LINES_PER_PASS) {
            char *nl = memchr(buf + pos, '\n', (size_t)n - pos);
            size_t len = nl ? (size_t)(nl - (buf + pos)) : (size_t)n - pos;
            if (!nl && len <= METRICS_LINE_MAX && !(final && at_end))
                break; /* a line still being written */
            if (len > METRICS_LINE_MAX) {
                p->line++;
                problem(p, true, "longer than %d bytes; skipped", METRICS_LINE_MAX);
                src.skipping = !nl;
            } else {
                take_line(p, buf + pos, len, now);
            }
            pos = nl ? pos + len + 1 : (size_t)n;
        }
        src.to_offset = offset + (int64_t)pos;
    }
    close(fd);
    if (src.to_offset == offset && p->nproblems == 0)
        return 0;
    src.lines = p->line;
    src.malformed = p->malformed;
    src.problems = p->problems;
    src.nproblems = p->nproblems;
    store_series_change *changes = NULL;
    size_t nchanges = 0;
    int64_t dropped_before = -1;
    store_metric_state before;
    amlfs_err ignored = {0};
    if (store_metric_state_get(srv->store, run_id, &before, &ignored) == 0)
        dropped_before = before.dropped;
    store_metric_state_free(&before);
    if (srv->metrics_before_commit)
        srv->metrics_before_commit(srv, run_id);
    rc = store_run_data_add(srv->store, run_id, p->in, p->npoints, NULL, 0, NULL, 0, &src, &changes, &nchanges, err);
    if (rc == -EAGAIN)
        return 1; /* another reader took these lines: read on from where it stopped (the final pass must
                   * not end here, or the run would end before its last points are in) */
    if (rc < 0)
        return rc;
    store_metric_state after;
    bool dropped_more = store_metric_state_get(srv->store, run_id, &after, &ignored) == 0 && after.dropped != dropped_before;
    store_metric_state_free(&after);
    metrics_announce(srv, run_id, changes, nchanges, p->nproblems > 0 || p->malformed > 0 || dropped_more);
    store_series_changes_free(changes, nchanges);
    return src.to_offset < st.st_size ? 1 : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* metrics.jsonl, metrics-node1.jsonl, ...: the files in RUN_DIR/metrics a job may append to. */
static bool metrics_file_name(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "metrics", 7) == 0 && n >= 13 && strcmp(name + n - 6, ".jsonl") == 0 && !strchr(name, '/');
}

int metrics_ingest(server *srv, const char *run_id, bool final, amlfs_err *err)
{
    char *dir = server_path(srv, "runs/%s/" METRICS_DIR, run_id);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    free(dir);
    if (dirfd < 0)
        return errno == ENOENT ? 0 : amlfs_fail(err, errno, "metrics folder of run %s: %s", run_id, strerror(errno));
    int dupfd = dup(dirfd);
    DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
    if (!d) {
        if (dupfd >= 0)
            close(dupfd);
        close(dirfd);
        return amlfs_fail(err, EIO, "listing the metrics folder of run %s: %s", run_id, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < FILES_MAX) {
        if (!metrics_file_name(de->d_name))
            continue;
        names = util_xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = util_xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    char *buf = util_xcalloc(1, CHUNK);
    pass p = {0};
    p.points = util_xcalloc(LINES_PER_PASS, sizeof *p.points);
    p.in = util_xcalloc(LINES_PER_PASS, sizeof *p.in);
    /* While the run runs, one pass per file (10,000 lines at most) and the caller comes back: a job that
     * floods its file never holds up the monitor's other work. At the end, everything. */
    int rc = 0;
    bool more = false;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        do
            rc = read_pass(srv, run_id, dirfd, names[i], final, buf, &p, err);
        while (rc > 0 && final);
        more = more || rc > 0;
    }
    if (rc >= 0)
        rc = more ? 1 : 0;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(p.points);
    free(p.in);
    free(buf);
    close(dirfd);
    return rc;
}

void metrics_note_in_log(server *srv, const char *run_id)
{
    store_metric_state st;
    amlfs_err err = {0};
    if (store_metric_state_get(srv->store, run_id, &st, &err) < 0 || (st.malformed == 0 && st.dropped == 0) ||
        store_metric_state_note_once(srv->store, run_id, &err) != 1) { /* once, whoever finishes the run */
        store_metric_state_free(&st);
        return;
    }
    cJSON *problems = cJSON_Parse(st.problems);
    const cJSON *first = cJSON_GetArrayItem(problems, 0);
    const char *reason = first ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "reason")) : NULL;
    const cJSON *line = first ? cJSON_GetObjectItemCaseSensitive(first, "line") : NULL;
    const char *file = first ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "file")) : NULL;
    char *text = util_strdupf("\n[amlfs] AMLFS_METRICS: %lld malformed line%s not read, %lld point%s dropped over the "
                              "limits (the first: %s line %lld: %.300s); info.json's metrics has the first %d\n",
                              (long long)st.malformed, st.malformed == 1 ? "" : "s", (long long)st.dropped,
                              st.dropped == 1 ? "" : "s", file ? file : "?",
                              cJSON_IsNumber(line) ? (long long)line->valuedouble : 0LL, reason ? reason : "?",
                              METRICS_PROBLEMS_KEPT);
    char *log = server_path(srv, "runs/%s/log", run_id);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || util_write_all(fd, text, strlen(text)) < 0)
        log_warning("run %s: cannot note its metrics problems in %s: %s", run_id, log,
                    strerror(errno));
    if (fd >= 0)
        close(fd);
    free(log);
    free(text);
    cJSON_Delete(problems);
    store_metric_state_free(&st);
}
