/* test_client.c: the HTTP client against a fake amlfs-server (libmicrohttpd, unix socket): JSON, byte
 * ranges, uploads, error bodies, the cache and events, the feed (reset, restart), no server at all, and
 * one that stops answering (deadlines, last answers, interrupts, slow transfers). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include <microhttpd.h>

#include "../../src/client/client_internal.h"
#include "amlfs/util.h"

#include "check.h"

/* ---- the fake server ---- */

static atomic_int workspace_hits;
static atomic_int events_polls;
static atomic_bool release_hang; /* ends the fake's silence on /v1/hang */

/* 8 bytes, one every 300 ms: a transfer slower in all than the deadline, never still for long. */
static ssize_t slow_bytes(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= 8)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max < 1)
        return 0;
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    buf[0] = (char)('a' + pos);
    return 1;
}

typedef struct upload {
    size_t bytes;
} upload;

/* The last body POSTed to /v1/snapshots, as it arrived. */
static util_buf snapshot_body;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body,
                              const char *log_size)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (log_size)
        MHD_add_response_header(r, "X-Log-Size", log_size);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)cls, (void)version;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/snapshots") == 0) {
        if (!*con_cls) {
            *con_cls = util_xcalloc(1, sizeof(upload));
            snapshot_body.len = 0;
            return MHD_YES;
        }
        if (*data_size) {
            util_buf_append(&snapshot_body, data, *data_size, 0);
            *data_size = 0;
            return MHD_YES;
        }
        return answer(conn, 200, "{\"missing\": []}", NULL);
    }
    if (strcmp(method, "PUT") == 0) {
        if (!*con_cls) {
            *con_cls = util_xcalloc(1, sizeof(upload));
            return MHD_YES;
        }
        upload *u = *con_cls;
        if (*data_size) {
            u->bytes += *data_size;
            *data_size = 0;
            return MHD_YES;
        }
        char body[64];
        snprintf(body, sizeof body, "{\"size\": %zu}", u->bytes);
        return answer(conn, 200, body, NULL);
    }
    if (strcmp(url, "/v1/hang") == 0) { /* a stopped server: nothing, for up to 10 s */
        for (int i = 0; i < 200 && !atomic_load(&release_hang); i++) {
            struct timespec pause = {0, 50 * 1000000L};
            nanosleep(&pause, NULL);
        }
        return answer(conn, 200, "{}", NULL);
    }
    if (strcmp(url, "/v1/slow") == 0) {
        struct MHD_Response *r = MHD_create_response_from_callback(8, 1, slow_bytes, NULL, NULL);
        enum MHD_Result rc = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (strcmp(url, "/v1/workspace") == 0) {
        atomic_fetch_add(&workspace_hits, 1);
        return answer(conn, 200, "{\"name\": \"w\", \"event_seq\": 5}", NULL);
    }
    if (strcmp(url, "/v1/runs") == 0) { /* three runs, on two pages */
        const char *after = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
        if (after && strcmp(after, "2") == 0)
            return answer(conn, 200, "{\"runs\": [{\"id\": \"p3\", \"status\": \"Canceled\"}], \"next\": null}", NULL);
        return answer(conn, 200, "{\"runs\": [{\"id\": \"p1\", \"status\": \"Completed\"}, "
                                 "{\"id\": \"p2\", \"status\": \"Running\"}], \"next\": \"2\"}", NULL);
    }
    if (strcmp(url, "/v1/runs/x") == 0)
        return answer(conn, 404, "{\"error\": {\"code\": \"not_found\", \"errno\": \"ENOENT\", "
                                 "\"message\": \"run x not found\"}}", NULL);
    if (strcmp(url, "/v1/log") == 0) {
        static const char text[] = "hello world";
        const char *o = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "offset");
        const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "length");
        size_t off = o ? strtoul(o, NULL, 10) : 0, len = l ? strtoul(l, NULL, 10) : sizeof text;
        if (off > sizeof text - 1)
            off = sizeof text - 1;
        if (len > sizeof text - 1 - off)
            len = sizeof text - 1 - off;
        char slice[sizeof text];
        memcpy(slice, text + off, len);
        slice[len] = '\0';
        return answer(conn, 200, slice, "11");
    }
    if (strcmp(url, "/v1/events") == 0) {
        atomic_fetch_add(&events_polls, 1);
        const char *since = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
        if (since && strcmp(since, "5") == 0)
            return answer(conn, 200, "{\"seq\": 7, \"reset\": false, \"events\": ["
                                     "{\"seq\": 6, \"path\": \"runs/x\", \"what\": \"changed\"},"
                                     "{\"seq\": 7, \"path\": \"runs/x/log\", \"what\": \"grew\", \"size\": 10}]}",
                          NULL);
        if (since && strcmp(since, "7") == 0)
            return answer(conn, 200, "{\"seq\": 8, \"reset\": true, \"events\": []}", NULL);
        struct timespec pause = {0, 50 * 1000000L}; /* a short long-poll */
        nanosleep(&pause, NULL);
        char body[96];
        snprintf(body, sizeof body, "{\"seq\": %s, \"reset\": false, \"events\": []}", since ? since : "0");
        return answer(conn, 200, body, NULL);
    }
    return answer(conn, 404, "{\"error\": {\"errno\": \"ENOENT\", \"message\": \"no such thing\"}}", NULL);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *start_fake(const char *socket_path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    unlink(socket_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0) {
        perror("fake server socket");
        return NULL;
    }
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                            handle, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, NULL, MHD_OPTION_END);
}

/* ---- the feed's callback ---- */

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen[1024];
static int resets;

static void on_event(void *ctx, const client_event *ev, bool reset)
{
    (void)ctx;
    pthread_mutex_lock(&seen_mu);
    if (reset) {
        resets++;
    } else {
        char line[160];
        snprintf(line, sizeof line, "%lld %s %s %lld;", ev->seq, ev->path, ev->what, ev->size);
        strncat(seen, line, sizeof seen - strlen(seen) - 1);
    }
    pthread_mutex_unlock(&seen_mu);
}

static int resets_seen(void)
{
    pthread_mutex_lock(&seen_mu);
    int n = resets;
    pthread_mutex_unlock(&seen_mu);
    return n;
}

/* Wait up to ms for resets_seen() >= want. */
static bool wait_resets(int want, int ms)
{
    for (int waited = 0; waited < ms; waited += 10) {
        if (resets_seen() >= want)
            return true;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return resets_seen() >= want;
}

/* ---- cases ---- */

static void test_addresses(void)
{
    amlfs_client *c = NULL;
    amlfs_err err = {0};
    CHECK(client_new("unix:/tmp/x.sock", NULL, &c, &err) == 0 && c, "unix address");
    client_free(c);
    CHECK(client_new("https://example.org:8443/", NULL, &c, &err) == 0 && c, "https address");
    client_free(c);
    CHECK(client_new("example.org:80", NULL, &c, &err) == -EINVAL && !c && strstr(err.msg, "unix:PATH"),
          "a bad address is refused with a hint: %s", err.msg);
    CHECK(client_new("http://h:1", "/nonexistent/token", &c, &err) < 0 && !c, "a missing token file");
}

static void test_escaping(void)
{
    char *a = client_escape("a b/c");
    CHECK(strcmp(a, "a%20b%2Fc") == 0, "escape: %s", a);
    free(a);
    char *p = client_escape_path("src/a b.py");
    CHECK(strcmp(p, "src/a%20b.py") == 0, "escape path: %s", p);
    free(p);
    /* The stored files API's queries (docs/api.md). */
    const char *f = "/v1/experiments/e/files/a.py";
    struct {
        char *got;
        const char *want;
    } urls[] = {
        {client_stat_url(f), "/v1/experiments/e/files/a.py?stat=1"},
        {client_mkdir_url(f, 040755), "/v1/experiments/e/files/a.py?type=dir&mode=0755"},
        {client_attr_url(f, 0, -1), "/v1/experiments/e/files/a.py?mode=00"},
        {client_attr_url(f, 0644, 1700000000123LL), "/v1/experiments/e/files/a.py?mode=0644&mtime_ms=1700000000123"},
        {client_attr_url(f, -1, 5), "/v1/experiments/e/files/a.py?mtime_ms=5"},
        {client_symlink_url(f, "../b c"), "/v1/experiments/e/files/a.py?type=symlink&target=..%2Fb%20c"},
        {client_rename_url(f, "src/x y.py"), "/v1/experiments/e/files/a.py?rename_to=src%2Fx%20y.py"},
        {client_listing_url("/v1/experiments/e/files/src"), "/v1/experiments/e/files/src/"},
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        CHECK(strcmp(urls[i].got, urls[i].want) == 0, "url %zu: %s", i, urls[i].got);
        free(urls[i].got);
    }
}

static void test_unreachable(void)
{
    amlfs_client *c = NULL;
    amlfs_err err = {0};
    client_new("unix:/nonexistent/amlfs.sock", NULL, &c, &err);
    cJSON *obj = NULL;
    int rc = client_get_json(c, "/v1/workspace", true, &obj, &err);
    CHECK(rc == -EIO && !obj, "unreachable is EIO (%d)", rc);
    CHECK(strstr(err.msg, "cannot reach amlfs-server at unix:/nonexistent/amlfs.sock") != NULL, "message: %s",
          err.msg);
    client_free(c);
}

static void test_requests(amlfs_client *c)
{
    amlfs_err err = {0};
    cJSON *obj = NULL;
    int before = atomic_load(&workspace_hits);
    CHECK(client_get_json(c, "/v1/workspace", true, &obj, &err) == 0 && obj, "GET JSON: %s", err.msg);
    cJSON_Delete(obj);
    CHECK(client_get_json(c, "/v1/workspace", true, &obj, &err) == 0 && obj, "cached GET");
    cJSON_Delete(obj);
    CHECK(atomic_load(&workspace_hits) == before + 1, "the second GET came from the cache");
    CHECK(client_get_json(c, "/v1/workspace", false, &obj, &err) == 0, "uncached GET");
    cJSON_Delete(obj);
    CHECK(atomic_load(&workspace_hits) == before + 2, "use_cache=false asks the server");
    client_cache_invalidate(c, "/v1/workspace", false);
    CHECK(client_get_json(c, "/v1/workspace", true, &obj, &err) == 0, "GET after invalidation");
    cJSON_Delete(obj);
    CHECK(atomic_load(&workspace_hits) == before + 3, "invalidation drops the answer");

    obj = NULL;
    int rc = client_get_json(c, "/v1/runs/x", true, &obj, &err);
    CHECK(rc == -ENOENT && !obj && strcmp(err.msg, "run x not found") == 0, "error body: %d %s", rc, err.msg);

    char *data = NULL;
    size_t len = 0;
    long long total = 0;
    rc = client_get_bytes(c, "/v1/log", 6, 5, &data, &len, &total, &err);
    CHECK(rc == 0 && len == 5 && memcmp(data, "world", 5) == 0 && total == 11, "bytes by range: %d %zu %lld",
          rc, len, total);
    free(data);

    /* An answer to a file: the whole body there (what the file held before is gone), and an error's
     * message still read from the answer. */
    char sink_tmpl[] = "/tmp/test_client_sink.XXXXXX";
    int sink = mkstemp(sink_tmpl);
    unlink(sink_tmpl);
    CHECK(write(sink, "stale bytes from before, longer than the answer", 47) == 47, "fill the sink");
    rc = client_get_to_fd(c, "/v1/log", sink, &len, &err);
    char got[64] = "";
    ssize_t n = pread(sink, got, sizeof got - 1, 0);
    CHECK(rc == 0 && len == 11 && n == 11 && strcmp(got, "hello world") == 0, "GET to a file: %d %zu '%s'", rc, len, got);
    rc = client_get_to_fd(c, "/v1/runs/x", sink, &len, &err);
    CHECK(rc == -ENOENT && strcmp(err.msg, "run x not found") == 0, "an error to a file: %d %s", rc, err.msg);
    close(sink);

    char tmpl[] = "/tmp/test_client.XXXXXX";
    int fd = mkstemp(tmpl);
    unlink(tmpl);
    char block[4096];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 25; i++)
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block, "fill temp file");
    rc = client_put_fd(c, "/v1/files/a", fd, 100000, &obj, &err);
    cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
    CHECK(rc == 0 && cJSON_IsNumber(size) && size->valuedouble == 100000, "PUT from fd: %d %s", rc, err.msg);
    cJSON_Delete(obj);
    close(fd);
    rc = client_put_bytes(c, "/v1/files/b", "abc", 3, &obj, &err);
    size = cJSON_GetObjectItemCaseSensitive(obj, "size");
    CHECK(rc == 0 && cJSON_IsNumber(size) && size->valuedouble == 3, "PUT bytes");
    cJSON_Delete(obj);
}

static int collect_id(void *ctx, const cJSON *run)
{
    char *ids = ctx;
    strcat(ids, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "id")));
    strcat(ids, " ");
    return 0;
}

/* A listing by pages; its runs are then known without a request per run (the fake has no /v1/runs/pN). */
static void test_run_listing(amlfs_client *c)
{
    amlfs_err err = {0};
    char ids[64] = "";
    CHECK(client_list_runs(c, NULL, collect_id, ids, &err) == 0 && strcmp(ids, "p1 p2 p3 ") == 0,
          "every run of both pages, in order: '%s' %s", ids, err.msg);
    cJSON *run = NULL;
    CHECK(client_get_run(c, "p1", true, &run, &err) == 0 &&
              strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "status")), "Completed") == 0,
          "a listed run, as listed: %s", err.msg);
    cJSON_Delete(run);
    run = NULL;
    CHECK(client_get_run(c, "p3", false, &run, &err) == -ENOENT && !run, "the run's own answer is asked for");
}

/* An ended run's answers stay fresh while the feed is followed (an event drops them); a run that goes
 * on, and anything when the feed is not followed, only for the TTL. */
static void test_ended_runs_stay_fresh(void)
{
    client_cache *cache = cache_new(0); /* no TTL: only the ended-run rule keeps anything fresh */
    cache_follow_events(cache, true);
    const char *bodies[][2] = {
        {"/v1/runs/e1", "{\"status\": \"Completed\"}"},
        {"/v1/runs/e1/outputs/?stat=1", "{}"},
        {"/v1/runs/g1", "{\"status\": \"Running\"}"},
        {"/v1/runs/g1/outputs/?stat=1", "{}"},
        {"/v1/runs/l1?listed", "{\"status\": \"Failed\"}"},
        {"/v1/runs/l1/outputs/", "{}"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        cache_put(cache, bodies[i][0], bodies[i][1], cache_generation(cache));
    char *v;
    CHECK((v = cache_get(cache, "/v1/runs/e1")) != NULL, "an ended run stays fresh");
    free(v);
    CHECK((v = cache_get(cache, "/v1/runs/e1/outputs/?stat=1")) != NULL, "so does what is below it");
    free(v);
    CHECK((v = cache_get(cache, "/v1/runs/l1/outputs/")) != NULL, "below a run listed as ended too");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/runs/g1")), "a running run does not");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/runs/g1/outputs/?stat=1")), "nor what is below it");
    free(v);
    cache_invalidate_event(cache, "runs/e1", "changed");
    CHECK(!(v = cache_get(cache, "/v1/runs/e1")) && !(v = cache_get(cache, "/v1/runs/e1/outputs/?stat=1")),
          "an event about it drops them");
    free(v);
    cache_invalidate_event(cache, "runs/l1/log", "grew");
    CHECK(!(v = cache_get(cache, "/v1/runs/l1?listed")), "a log that grew: no longer fresh");
    free(v);
    cache_follow_events(cache, false);
    cache_put(cache, "/v1/runs/e2", "{\"status\": \"Completed\"}", cache_generation(cache));
    CHECK(!(v = cache_get(cache, "/v1/runs/e2")), "without the feed, the TTL only");
    free(v);
    cache_free(cache);

    /* Bounded: the least recently used answers go first. */
    cache = cache_new(60000);
    char key[64];
    for (int i = 0; i < 70000; i++) {
        snprintf(key, sizeof key, "/v1/experiments/k%d", i);
        cache_put(cache, key, "{}", cache_generation(cache));
        if (i >= 2)
            free(cache_get(cache, "/v1/experiments/k0")); /* used all along: kept */
    }
    CHECK((v = cache_get(cache, "/v1/experiments/k69999")) != NULL, "the newest is kept");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/experiments/k1")), "the oldest unused went");
    free(v);
    CHECK((v = cache_get(cache, "/v1/experiments/k0")) != NULL, "the oldest, used all along, is kept");
    free(v);
    cache_free(cache);
}

static void test_cache_rules(void)
{
    client_cache *cache = cache_new(60000);
    const char *keys[] = {"/v1/runs/x", "/v1/runs/xy", "/v1/runs", "/v1/runs?experiment=e",
                          "/v1/experiments/e/files/a?stat=1", "/v1/runs/x/log"};
    for (size_t i = 0; i < 6; i++)
        cache_put(cache, keys[i], "{}", cache_generation(cache));
    cache_invalidate_event(cache, "runs/x", "changed");
    char *v;
    CHECK(!(v = cache_get(cache, "/v1/runs/x")), "the run is dropped");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/runs/x/log")), "below the run is dropped");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/runs")), "the list is dropped");
    free(v);
    CHECK(!(v = cache_get(cache, "/v1/runs?experiment=e")), "the filtered list is dropped");
    free(v);
    CHECK((v = cache_get(cache, "/v1/runs/xy")) != NULL, "another run whose id starts alike is kept");
    free(v);
    CHECK((v = cache_get(cache, "/v1/experiments/e/files/a?stat=1")) != NULL, "other objects are kept");
    free(v);

    uint64_t g = cache_generation(cache);
    cache_invalidate(cache, "/v1/other", false);
    cache_put(cache, "/v1/late", "{}", g);
    CHECK(!(v = cache_get(cache, "/v1/late")), "an answer that raced with an invalidation is not kept");
    free(v);
    cache_free(cache);

    cache = cache_new(0);
    cache_put(cache, "/v1/a", "{}", cache_generation(cache));
    CHECK(!(v = cache_get(cache, "/v1/a")), "an expired answer is not served");
    free(v);
    cache_free(cache);
}

static void test_last_answers(void)
{
    client_cache *cache = cache_new(0); /* nothing is fresh: only last answers */
    const char *bodies[][2] = {
        {"/v1/experiments", "{}"},
        {"/v1/runs/r1", "{\"status\": \"Running\"}"},
        {"/v1/runs/r1/params.json", "{}"},
        {"/v1/runs/r2", "{\"status\": \"Completed\"}"},
        {"/v1/runs/r2/outputs/?stat=1", "{}"},
        {"/v1/runs/r3/params.json", "{}"},
        {"/v1/computes/c?live=1", "{}"},
        {"/v1/workspace", "{}"},
        {"/v1/environments/building", "{\"status\": \"Building\"}"},
        {"/v1/environments/ready", "{\"status\": \"Ready\"}"},
        {"/v1/datastores/d/files/a?stat=1", "{}"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        cache_put(cache, bodies[i][0], bodies[i][1], cache_generation(cache));
    char *v;
    CHECK(!(v = cache_get(cache, "/v1/experiments")), "not fresh");
    free(v);
    /* What only the server changes lasts; a finished run and all below it too. */
    const char *lasting[] = {"/v1/experiments", "/v1/runs/r2", "/v1/runs/r2/outputs/?stat=1", "/v1/environments/ready"};
    for (size_t i = 0; i < sizeof lasting / sizeof *lasting; i++) {
        CHECK((v = cache_get_last(cache, lasting[i], false)) != NULL, "%s lasts", lasting[i]);
        free(v);
    }
    /* What changes on its own only while live answers may stand in; below a run nobody saw end neither. */
    const char *live[] = {"/v1/runs/r1", "/v1/runs/r1/params.json", "/v1/runs/r3/params.json", "/v1/computes/c?live=1",
                          "/v1/workspace", "/v1/environments/building", "/v1/datastores/d/files/a?stat=1"};
    for (size_t i = 0; i < sizeof live / sizeof *live; i++) {
        CHECK(!(v = cache_get_last(cache, live[i], false)), "%s is live", live[i]);
        free(v);
        CHECK((v = cache_get_last(cache, live[i], true)) != NULL, "%s within the stale timeout", live[i]);
        free(v);
    }
    CHECK(!(v = cache_get_last(cache, "/v1/runs/r9", true)), "never asked: nothing");
    free(v);
    cache_free(cache);

    /* A log that grew leaves its run's answers as the last ones, not fresh; a change drops them. */
    cache = cache_new(60000);
    cache_put(cache, "/v1/runs/r1", "{\"status\": \"Running\", \"log_size\": 5}", cache_generation(cache));
    cache_invalidate_event(cache, "runs/r1/log", "grew");
    CHECK(!(v = cache_get(cache, "/v1/runs/r1")), "grew: no longer fresh");
    free(v);
    CHECK((v = cache_get_last(cache, "/v1/runs/r1", true)) != NULL, "grew: still the last answer");
    free(v);
    cache_invalidate_event(cache, "runs/r1", "changed");
    CHECK(!(v = cache_get_last(cache, "/v1/runs/r1", true)), "changed: gone");
    free(v);
    cache_free(cache);
}

/* Interrupts the calling thread's requests once 300 ms have passed since *ctx (util_mono_ms). */
static bool late_interrupt(void *ctx)
{
    return util_mono_ms() - *(int64_t *)ctx >= 300;
}

static void test_silent_server(amlfs_client *c)
{
    amlfs_err err = {0};
    cJSON *obj = NULL;
    client_set_limits(c, &(client_limits){.metadata_timeout_s = 1, .stale_timeout_s = 60});
    CHECK(client_get_json(c, "/v1/experiments/x", false, &obj, &err) == -ENOENT, "an error answer is an answer");
    CHECK(away_state(c, NULL) == AWAY_NO, "the server answers");
    CHECK(client_get_json(c, "/v1/workspace", false, &obj, &err) == 0, "an answer to fall back on later");
    cJSON_Delete(obj);

    /* Bytes that keep coming are not cut by the deadline, however long they take in all. */
    char *data = NULL;
    size_t len = 0;
    int64_t start = util_mono_ms();
    int rc = client_get_bytes(c, "/v1/slow", 0, 0, &data, &len, NULL, &err);
    CHECK(rc == 0 && len == 8 && memcmp(data, "abcdefgh", 8) == 0 && util_mono_ms() - start > 1500,
          "a slow transfer goes on past the deadline: %d %zu %s", rc, len, err.msg);
    free(data);

    /* A caller that gives up ends the wait within about a second (curl's progress calls). */
    client_set_limits(c, &(client_limits){.metadata_timeout_s = 5, .stale_timeout_s = 60});
    int64_t since = util_mono_ms();
    client_thread_interruptible(late_interrupt, &since);
    rc = client_get_json(c, "/v1/hang", false, &obj, &err);
    client_thread_interruptible(NULL, NULL);
    CHECK(rc == -EINTR && util_mono_ms() - since < 1500, "interrupted: %d after %lld ms", rc,
          (long long)(util_mono_ms() - since));
    CHECK(away_state(c, NULL) == AWAY_NO, "an interrupt says nothing about the server");
    client_set_limits(c, &(client_limits){.metadata_timeout_s = 1, .stale_timeout_s = 60});

    /* Silence for the whole deadline: the last answer when there is one, else EIO; known silent. */
    atomic_store(&release_hang, true);
    CHECK(client_get_json(c, "/v1/hang", false, &obj, &err) == 0, "an answer to fall back on: %s", err.msg);
    cJSON_Delete(obj);
    atomic_store(&release_hang, false);
    start = util_mono_ms();
    rc = client_get_json(c, "/v1/hang", false, &obj, &err);
    int64_t took = util_mono_ms() - start;
    CHECK(rc == 0 && obj && took >= 900 && took < 2500, "the last answer after the deadline: %d after %lld ms: %s", rc,
          (long long)took, err.msg);
    cJSON_Delete(obj);
    CHECK(away_state(c, NULL) == AWAY_SILENT, "known silent");
    start = util_mono_ms();
    rc = client_get_json(c, "/v1/hang?never=1", false, &obj, &err);
    took = util_mono_ms() - start;
    CHECK(rc == -EIO && !obj && took >= 900 && took < 2500 && strstr(err.msg, "did not answer"),
          "nothing to fall back on: %d after %lld ms: %s", rc, (long long)took, err.msg);
    /* The next answer ends it (without a feed to check the server, each request does). */
    atomic_store(&release_hang, true);
    CHECK(client_get_json(c, "/v1/workspace", false, &obj, &err) == 0, "asked again: %s", err.msg);
    cJSON_Delete(obj);
    CHECK(away_state(c, NULL) == AWAY_NO, "answering again");
    client_set_limits(c, &(client_limits){CLIENT_METADATA_TIMEOUT_S, CLIENT_STALE_TIMEOUT_S});
}

static void test_feed(amlfs_client *c)
{
    amlfs_err err = {0};
    CHECK(client_events_start(c, 5, on_event, NULL, &err) == 0, "feed starts");
    CHECK(wait_resets(1, 5000), "the server's reset arrives");
    pthread_mutex_lock(&seen_mu);
    CHECK(strcmp(seen, "6 runs/x changed -1;7 runs/x/log grew 10;") == 0, "events in order: %s", seen);
    pthread_mutex_unlock(&seen_mu);
    client_events_stop(c);
    CHECK(!c->ev_running, "feed stops");

    /* No server yet (as after a crash): the feed keeps trying, and says reset once one answers. */
    char late_socket[64], *address;
    snprintf(late_socket, sizeof late_socket, "/tmp/test_client.%d.late.sock", (int)getpid());
    address = util_strdupf("unix:%s", late_socket);
    amlfs_client *lost = NULL;
    CHECK(client_new(address, NULL, &lost, &err) == 0, "client of a socket nobody serves yet");
    free(address);
    int resets_before = resets_seen();
    CHECK(client_events_start(lost, 8, on_event, NULL, &err) == 0, "feed on a dead socket starts");
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL); /* lets it fail a few times; the check below waits with a deadline */
    struct MHD_Daemon *late = start_fake(late_socket);
    CHECK(late != NULL, "the server comes up");
    CHECK(wait_resets(resets_before + 1, 5000), "a reset once the server answers");
    client_free(lost);
    if (late)
        MHD_stop_daemon(late);
    unlink(late_socket);
}

/* The manifest goes to the server as it was built and printed, byte for byte: not parsed and printed again. */
static void test_snapshot_body(amlfs_client *c)
{
    char root[] = "/tmp/test_client_snap.XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *sub = util_strdupf("%s/sub", root);
    char *a = util_strdupf("%s/a.txt", root), *b = util_strdupf("%s/sub/b \"quoted\".txt", root);
    amlfs_err err = {0};
    CHECK(mkdir(sub, 0755) == 0 && util_write_file_atomic(a, "alpha\n", 6, 0644, &err) == 0 &&
              util_write_file_atomic(b, "beta\n", 5, 0755, &err) == 0,
          "a code folder: %s", err.msg);
    snapshot_limits limits = {.max_bytes = 300ull << 20, .max_files = 2000};
    char hash[SNAPSHOT_SHA_HEX] = "";
    int rc = client_snapshot_upload(c, root, &limits, hash, &err);
    CHECK(rc == 0, "upload of a folder the server has whole: %s", err.msg);
    snapshot_manifest m;
    if (snapshot_manifest_build(root, &limits, &m, &err) == 0) {
        char *text = snapshot_manifest_to_json(&m);
        char *want = util_strdupf("{\"manifest\":%s,\"limits\":{\"max_mb\":300,\"max_files\":2000}}", text);
        CHECK(snapshot_body.len == strlen(want) && memcmp(snapshot_body.data, want, snapshot_body.len) == 0,
              "the body is the manifest as built: %.*s", (int)snapshot_body.len, snapshot_body.data);
        CHECK(strcmp(hash, m.hash) == 0, "the snapshot's hash: %s, built %s", hash, m.hash);
        free(want);
        free(text);
        snapshot_manifest_free(&m);
    } else {
        CHECK(false, "building the manifest: %s", err.msg);
    }
    util_rm_rf(root, &err);
    free(sub);
    free(a);
    free(b);
}

int main(void)
{
    char socket_path[64];
    snprintf(socket_path, sizeof socket_path, "/tmp/test_client.%d.sock", (int)getpid());
    test_addresses();
    test_escaping();
    test_unreachable();
    test_cache_rules();
    test_ended_runs_stay_fresh();
    test_last_answers();

    struct MHD_Daemon *fake = start_fake(socket_path);
    CHECK(fake != NULL, "fake server starts");
    if (fake) {
        amlfs_client *c = NULL;
        amlfs_err err = {0};
        char *address = util_strdupf("unix:%s", socket_path);
        CHECK(client_new(address, NULL, &c, &err) == 0, "client");
        free(address);
        test_requests(c);
        test_run_listing(c);
        test_silent_server(c);
        test_feed(c);
        test_snapshot_body(c);
        client_free(c);
        MHD_stop_daemon(fake);
        util_buf_free(&snapshot_body);
    }
    unlink(socket_path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
