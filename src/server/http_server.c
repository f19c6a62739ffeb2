/* http_server.c: the libmicrohttpd daemons (the owner's unix socket without a token, TCP with one, and
 * the loopback address of MLflow's tracking API for jobs), one thread per connection so a long-poll may
 * block, who calls told from the bearer token, request bodies collected, then routed to a handler. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

/* Largest request body (a file of an experiment's code, a YAML): beyond it, 413 EFBIG. */
#define BODY_MAX (256u * 1024 * 1024)
/* Idle connections are closed after this (each holds a thread): the owner's socket waits long, a network
 * listener closes a connection that sends nothing (half a request, then silence) soon. */
#define IDLE_TIMEOUT_S 120
#define NET_IDLE_TIMEOUT_S 10
/* Every byte resets that idle timeout: a network client has this long from its connection (TLS handshake
 * included) to send a request's headers, and after a request, the idle time plus this for the next one. */
#define HEADER_DEADLINE_S 5
/* Connections at once, per listener and, on a network listener, per client address: past them a new
 * connection is closed at once, so idle ones cannot pile up threads without bound. */
#define CONNECTIONS_MAX 256
#define CONNECTIONS_PER_ADDRESS 32
#define MLFLOW_CONNECTIONS_PER_ADDRESS 128 /* every job on this machine comes from 127.0.0.1 */
/* At stop, requests in flight (long-polls woken by the stop) get this long to be answered. */
#define DRAIN_MS 2000

/* LISTEN_LOCAL: the owner's unix socket, no token. LISTEN_TCP (--listen): the server's token for the whole
 * API, or a job's run token for MLflow's. LISTEN_MLFLOW (loopback, always): MLflow's API only. */
typedef enum listen_kind { LISTEN_LOCAL, LISTEN_TCP, LISTEN_MLFLOW } listen_kind;

typedef struct listener {
    server *srv;
    http_server *owner;
    listen_kind kind;
    const char *token;          /* the server's token (also the key of run tokens) */
    struct MHD_Daemon *daemon;
} listener;

struct http_server {
    listener local, tcp, mlflow;
    char *token;
    pthread_mutex_t lock;
    pthread_cond_t idle;        /* signalled when in_flight drops to 0 */
    int in_flight;              /* requests between their first call and their completion */
    int64_t taken;              /* requests since the start */
    header_watch *headers;      /* the network listeners' deadline for headers */
};

typedef struct request_ctx {
    char *body;
    size_t len, cap;
    bool too_large;
    bool authorized;            /* the request may go on to a handler: its body is kept */
    http_caller caller;
    char *caller_run;           /* caller.run_id's storage */
    /* An upload spooled to an unlinked temp file (see http_spool_limit) instead of body: fd >= 0. */
    int spool_fd;
    uint64_t spool_max;
    int spool_errno;            /* writing the temp file failed */
} request_ctx;

/* Who sends the request: the owner (the unix socket, or the server's token), a job (its run's token), or
 * nobody known. */
static void identify(listener *l, struct MHD_Connection *conn, request_ctx *ctx)
{
    ctx->caller = (http_caller){0};
    if (l->kind == LISTEN_LOCAL) {
        ctx->caller.known = true;
        return;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return;
    auth += 7;
    while (*auth == ' ')
        auth++;
    if (token_equal(auth, l->token)) {
        ctx->caller.known = true;
    } else if (run_token_check(l->token, auth, &ctx->caller_run)) {
        ctx->caller.known = true;
        ctx->caller.run_id = ctx->caller_run;
    }
}

/* Whether the request goes to a handler (its body is then kept): a known caller, on a path it may ask. */
static bool allowed(listener *l, const request_ctx *ctx, const char *url)
{
    if (mlflow_path(url))
        return ctx->caller.known;
    return l->kind != LISTEN_MLFLOW && ctx->caller.known && !ctx->caller.run_id;
}

/* An unlinked temp file in the blob store's tmp folder for an upload of at most max bytes. */
static void spool_start(listener *l, request_ctx *ctx, uint64_t max)
{
    char *path = util_strdupf("%s/tmp/upload-XXXXXX", l->srv->snapshot_dir);
    ctx->spool_fd = mkostemp(path, O_CLOEXEC);
    if (ctx->spool_fd < 0)
        ctx->spool_errno = errno;
    else
        unlink(path); /* gone with the descriptor, whatever happens to the request */
    ctx->spool_max = max;
    free(path);
}

static void spool(request_ctx *ctx, const char *data, size_t size)
{
    if (ctx->len + size > ctx->spool_max) {
        ctx->too_large = true;
        return;
    }
    for (size_t done = 0; done < size && !ctx->spool_errno;) {
        ssize_t w = write(ctx->spool_fd, data + done, size - done);
        if (w < 0 && errno != EINTR)
            ctx->spool_errno = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    ctx->len += size;
}

static void collect(request_ctx *ctx, const char *data, size_t size)
{
    if (ctx->too_large || !ctx->authorized || ctx->spool_errno)
        return; /* read and dropped: the answer is already decided */
    if (ctx->spool_fd >= 0) {
        spool(ctx, data, size);
        return;
    }
    if (ctx->len + size > BODY_MAX) {
        ctx->too_large = true;
        free(ctx->body);
        ctx->body = NULL;
        ctx->len = ctx->cap = 0;
        return;
    }
    if (ctx->len + size + 1 > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : 4096;
        while (cap < ctx->len + size + 1)
            cap *= 2;
        char *grown = realloc(ctx->body, cap);
        if (!grown) {
            log_error("out of memory reading a request");
            abort();
        }
        ctx->body = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, size);
    ctx->len += size;
    ctx->body[ctx->len] = '\0';
}

static void unauthorized(http_reply *out)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", "unauthorized");
    cJSON_AddStringToObject(e, "errno", "EACCES");
    cJSON_AddStringToObject(e, "message", "this address needs `Authorization: Bearer TOKEN`, TOKEN being "
                                          "the content of the server's token file");
    reply_json(out, 401, root);
    MHD_add_response_header(out->response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
}

/* Not MLflow's API, and not for this caller or address. */
static void refuse(listener *l, const request_ctx *ctx, const char *url, http_reply *out)
{
    amlfs_err err = {0};
    if (l->kind == LISTEN_MLFLOW) {
        amlfs_fail(&err, ENOENT, "this address serves MLflow's tracking API only (/api/2.0/mlflow/...), not %s", url);
        reply_error(out, 404, &err);
    } else if (ctx->caller.run_id) {
        amlfs_fail(&err, EACCES, "this token is run %s's: it is good for MLflow's tracking API of that run only",
                   ctx->caller.run_id);
        reply_error(out, 403, &err);
    } else {
        unauthorized(out);
    }
}

static void dispatch(listener *l, struct MHD_Connection *conn, const char *url, const char *method,
                     request_ctx *ctx, http_reply *out)
{
    amlfs_err err = {0};
    http_request req = {
        .conn = conn,
        .method = method,
        .url = url,
        .body = ctx->body,
        .body_len = ctx->len,
        .body_spooled = ctx->spool_fd >= 0,
        .body_fd = ctx->spool_fd,
        .caller = &ctx->caller,
    };
    if (mlflow_path(url)) {
        mlflow_dispatch(l->srv, &req, out);
        return;
    }
    char *scratch[2] = {NULL, NULL};
    unsigned status = 0;
    http_handler handler = router_find(&req, scratch, &status);
    if (!handler) {
        if (status == 405)
            amlfs_fail(&err, EINVAL, "%s is not a method of %s (see docs/api.md)", method, url);
        else
            amlfs_fail(&err, ENOENT, "no such API path: %s %s (see docs/api.md)", method, url);
        reply_error(out, status, &err);
    } else if (handler(l->srv, &req, out, &err) < 0) {
        reply_error(out, 0, &err);
    } else if (!out->response) {
        amlfs_fail(&err, EIO, "%s %s gave no answer", method, url);
        reply_error(out, 0, &err);
    }
    free(scratch[0]);
    free(scratch[1]);
}

static enum MHD_Result answer(listener *l, struct MHD_Connection *conn, const char *url, const char *method,
                              request_ctx *ctx);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    listener *l = cls;
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        pthread_mutex_lock(&l->owner->lock);
        l->owner->in_flight++;
        l->owner->taken++;
        pthread_mutex_unlock(&l->owner->lock);
        ctx = util_xcalloc(1, sizeof *ctx);
        header_watch_headers_in(conn);
        identify(l, conn, ctx);
        ctx->authorized = allowed(l, ctx, url);
        ctx->spool_fd = -1;
        *con_cls = ctx;
        /* Refused at once: no byte of the body is awaited, or read (the connection is closed after). */
        if (!ctx->authorized)
            return answer(l, conn, url, method, ctx);
        uint64_t spool_max = !mlflow_path(url) ? http_spool_limit(l->srv, conn, method, url) : 0;
        if (spool_max > 0)
            spool_start(l, ctx, spool_max);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        collect(ctx, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(l, conn, url, method, ctx);
}

static enum MHD_Result answer(listener *l, struct MHD_Connection *conn, const char *url, const char *method,
                              request_ctx *ctx)
{
    http_reply reply = {0};
    if (!ctx->authorized && !mlflow_path(url)) {
        refuse(l, ctx, url, &reply);
    } else if (!ctx->authorized) {
        dispatch(l, conn, url, method, ctx, &reply); /* MLflow's 401, in MLflow's shape */
    } else if (ctx->spool_errno) {
        amlfs_err err = {0};
        amlfs_fail(&err, ctx->spool_errno == ENOSPC ? ENOSPC : EIO, "cannot keep the upload in %s/tmp: %s",
                   l->srv->snapshot_dir, strerror(ctx->spool_errno));
        reply_error(&reply, 0, &err);
    } else if (ctx->too_large) {
        amlfs_err err = {0};
        if (ctx->spool_fd >= 0)
            amlfs_fail(&err, EFBIG, "the upload is larger than the %llu bytes the snapshot's contents can take",
                       (unsigned long long)ctx->spool_max);
        else
            amlfs_fail(&err, EFBIG, "the request body is larger than %u MiB", BODY_MAX >> 20);
        reply_error(&reply, 0, &err);
    } else {
        dispatch(l, conn, url, method, ctx, &reply);
    }
    enum MHD_Result ret = MHD_queue_response(conn, reply.status, reply.response);
    MHD_destroy_response(reply.response);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server *h = cls;
    request_ctx *ctx = *con_cls;
    header_watch_request_done(conn);
    if (ctx) {
        free(ctx->body);
        free(ctx->caller_run);
        if (ctx->spool_fd >= 0)
            close(ctx->spool_fd);
        free(ctx);
        *con_cls = NULL;
        pthread_mutex_lock(&h->lock);
        if (--h->in_flight == 0)
            pthread_cond_broadcast(&h->idle);
        pthread_mutex_unlock(&h->lock);
    }
}

/* Lets the requests in flight finish (the stop has already woken the long-polls). */
static void drain(http_server *h)
{
    struct timespec deadline = util_deadline_after_ms(CLOCK_MONOTONIC, DRAIN_MS);
    pthread_mutex_lock(&h->lock);
    while (h->in_flight > 0)
        if (pthread_cond_timedwait(&h->idle, &h->lock, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&h->lock);
}

/* libmicrohttpd's own unescaping, except that a URL holding %00 is left as it came: decoded, the NUL would
 * cut the path short ("/v1/experiments/ab%00x" naming "ab"); undecoded, the '%' fails every name check. */
static size_t unescape_without_nul(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    if (strstr(uri, "%00"))
        return strlen(uri);
    return MHD_http_unescape(uri);
}

static int start_daemon(listener *l, int fd, const http_tls *tls, amlfs_err *err)
{
    bool net = l->kind != LISTEN_LOCAL;
    bool use_tls = l->kind == LISTEN_TCP && tls && tls->cert_pem && tls->key_pem;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (use_tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return amlfs_fail(err, ENOTSUP, "this libmicrohttpd was built without TLS: --tls-cert cannot be served");
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_LISTEN_SOCKET, (intptr_t)fd, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, l->owner},
        {MHD_OPTION_CONNECTION_TIMEOUT, net ? NET_IDLE_TIMEOUT_S : IDLE_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, CONNECTIONS_MAX, NULL},
        {net ? MHD_OPTION_NOTIFY_CONNECTION : MHD_OPTION_END, (intptr_t)header_watch_notify, l->owner->headers},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_without_nul, NULL},
        {net ? MHD_OPTION_PER_IP_CONNECTION_LIMIT : MHD_OPTION_END,
         l->kind == LISTEN_MLFLOW ? MLFLOW_CONNECTIONS_PER_ADDRESS : CONNECTIONS_PER_ADDRESS, NULL},
        {use_tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, use_tls ? (void *)tls->cert_pem : NULL},
        {use_tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, use_tls ? (void *)tls->key_pem : NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* An MHD_OPTION_END entry ends the array: the optional ones left out are moved past the last. */
    size_t n = 0, count = sizeof options / sizeof options[0];
    for (size_t i = 0; i < count; i++)
        if (options[i].option != MHD_OPTION_END)
            options[n++] = options[i];
    options[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    l->daemon = MHD_start_daemon(flags | (use_tls ? MHD_USE_TLS : 0), 0, NULL, NULL, on_request, l,
                                 MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!l->daemon)
        return amlfs_fail(err, EIO, "libmicrohttpd could not start serving%s (see the log above)",
                          use_tls ? " TLS (is the key the certificate's, both PEM?)" : "");
    return 0;
}

int http_start(server *srv, int unix_fd, int tcp_fd, int mlflow_fd, const char *token, const http_tls *tls,
               amlfs_err *err)
{
    http_server *h = util_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->idle, &attr);
    pthread_condattr_destroy(&attr);
    h->local.srv = h->tcp.srv = h->mlflow.srv = srv;
    h->local.owner = h->tcp.owner = h->mlflow.owner = h;
    h->local.kind = LISTEN_LOCAL;
    h->tcp.kind = LISTEN_TCP;
    h->mlflow.kind = LISTEN_MLFLOW;
    h->token = util_xstrdup(token);
    h->local.token = h->tcp.token = h->mlflow.token = h->token;
    srv->http = h;
    int r = tcp_fd >= 0 || mlflow_fd >= 0 ? header_watch_start(HEADER_DEADLINE_S, NET_IDLE_TIMEOUT_S + HEADER_DEADLINE_S,
                                                                 &h->headers, err) : 0;
    if (r == 0)
        r = start_daemon(&h->local, unix_fd, NULL, err);
    if (r == 0 && tcp_fd >= 0)
        r = start_daemon(&h->tcp, tcp_fd, tls, err);
    if (r == 0 && mlflow_fd >= 0)
        r = start_daemon(&h->mlflow, mlflow_fd, NULL, err);
    if (r < 0)
        http_stop(srv);
    return r;
}

void http_stop(server *srv)
{
    http_server *h = srv->http;
    if (!h)
        return;
    /* Long-polls return at once and are answered, then the connection threads are joined. */
    events_shutdown(srv->events);
    drain(h);
    if (h->mlflow.daemon)
        MHD_stop_daemon(h->mlflow.daemon);
    if (h->tcp.daemon)
        MHD_stop_daemon(h->tcp.daemon);
    if (h->local.daemon)
        MHD_stop_daemon(h->local.daemon);
    header_watch_free(h->headers);
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->lock);
    free(h->token);
    free(h);
    srv->http = NULL;
}

int64_t http_requests_taken(server *srv)
{
    http_server *h = srv->http;
    if (!h)
        return 0;
    pthread_mutex_lock(&h->lock);
    int64_t n = h->taken;
    pthread_mutex_unlock(&h->lock);
    return n;
}
