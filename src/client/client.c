/* client.c: creating and freeing a client: where the server is (unix socket or TCP + bearer token),
 * and the pool of curl handles that requests borrow one at a time. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* curl_global_init is not thread-safe: clients are made before any thread starts (main). */
static int global_init_once(amlfs_err *err)
{
    static bool done;
    if (done)
        return 0;
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return amlfs_fail(err, EIO, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
    done = true;
    return 0;
}

static int read_token(const char *token_file, char **out, amlfs_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = util_read_file(token_file, &text, &len, err);
    if (rc < 0)
        return amlfs_wrap(err, "reading the token file: ");
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (len == 0) {
        free(text);
        return amlfs_fail(err, EINVAL, "token file %s is empty", token_file);
    }
    *out = text;
    return 0;
}

void client_set_tls_ca(amlfs_client *c, const char *ca_file)
{
    free(c->tls_ca);
    c->tls_ca = ca_file && *ca_file ? util_xstrdup(ca_file) : NULL;
}

int client_new(const char *server, const char *token_file, amlfs_client **out, amlfs_err *err)
{
    *out = NULL;
    if (!server || !*server)
        return amlfs_fail(err, EINVAL, "no server address given");
    int rc = global_init_once(err);
    if (rc < 0)
        return rc;

    amlfs_client *c = util_xcalloc(1, sizeof *c);
    c->address = util_xstrdup(server);
    if (strncmp(server, "unix:", 5) == 0) {
        if (server[5] == '\0') {
            client_free(c);
            return amlfs_fail(err, EINVAL, "server address '%s' names no socket (use unix:PATH)", server);
        }
        c->socket_path = util_xstrdup(server + 5);
        c->base_url = util_xstrdup("http://localhost");
    } else if (strncmp(server, "http://", 7) == 0 || strncmp(server, "https://", 8) == 0) {
        size_t n = strlen(server);
        while (n > 0 && server[n - 1] == '/')
            n--;
        c->base_url = util_strdupf("%.*s", (int)n, server);
    } else {
        client_free(c);
        return amlfs_fail(err, EINVAL, "server address '%s' is neither unix:PATH nor http(s)://HOST:PORT",
                          server);
    }
    if (token_file && *token_file) {
        char *token = NULL;
        rc = read_token(token_file, &token, err);
        if (rc < 0) {
            client_free(c);
            return rc;
        }
        c->auth_header = util_strdupf("Authorization: Bearer %s", token);
        explicit_bzero(token, strlen(token));
        free(token);
    }
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_mutex_init(&c->away_mu, NULL);
    pthread_mutex_init(&c->ev_mu, NULL);
    pthread_cond_init(&c->ev_cond, NULL);
    atomic_init(&c->ev_running, false);
    atomic_init(&c->ev_stop, false);
    atomic_init(&c->ev_wake, false);
    c->limits = (client_limits){.metadata_timeout_s = CLIENT_METADATA_TIMEOUT_S,
                                .stale_timeout_s = CLIENT_STALE_TIMEOUT_S};
    c->cache = cache_new(1000);
    *out = c;
    return 0;
}

void client_free(amlfs_client *c)
{
    if (!c)
        return;
    client_events_stop(c);
    for (size_t i = 0; i < c->pool_len; i++)
        curl_easy_cleanup(c->pool[i]);
    free(c->pool);
    if (c->cache) {
        cache_free(c->cache);
        pthread_mutex_destroy(&c->pool_mu);
        pthread_mutex_destroy(&c->away_mu);
        pthread_mutex_destroy(&c->ev_mu);
        pthread_cond_destroy(&c->ev_cond);
    }
    if (c->auth_header) {
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
        free(c->tls_ca);
    }
    free(c->address);
    free(c->socket_path);
    free(c->base_url);
    free(c);
}

const char *client_address(const amlfs_client *c)
{
    return c->address;
}

CURL *http_handle_take(amlfs_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_len > 0)
        h = c->pool[--c->pool_len];
    pthread_mutex_unlock(&c->pool_mu);
    if (!h) {
        h = curl_easy_init();
        if (!h)
            abort(); /* only fails on out-of-memory */
    }
    return h;
}

void http_handle_give(amlfs_client *c, CURL *handle)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->pool_len == c->pool_cap) {
        size_t cap = c->pool_cap ? c->pool_cap * 2 : 8;
        CURL **grown = realloc(c->pool, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&c->pool_mu);
            curl_easy_cleanup(handle);
            return;
        }
        c->pool = grown;
        c->pool_cap = cap;
    }
    c->pool[c->pool_len++] = handle;
    pthread_mutex_unlock(&c->pool_mu);
}

void client_cache_invalidate(amlfs_client *c, const char *url_path, bool subtree)
{
    cache_invalidate(c->cache, url_path, subtree);
}

void client_cache_clear(amlfs_client *c)
{
    cache_clear(c->cache);
}
