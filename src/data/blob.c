/* blob.c: a blob client made from checked settings, and its small requests: create the container, list
 * (every page, bounded), properties of one blob, a ranged read. */
#include "blob_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One List Blobs page of 5000 entries is a few MB; anything far beyond is not the Blob service. */
#define PAGE_ANSWER_LIMIT ((size_t)64 << 20)
/* Pages of one listing: the service may answer empty pages with a marker, but not without end. */
#define PAGE_BOUND 100000
#define NAME_BYTES_MAX 1024

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- settings --- */

static bool account_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 24)
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s))
            return false;
    return true;
}

static bool container_name_ok(const char *s)
{
    if (strcmp(s, "$root") == 0 || strcmp(s, "$web") == 0 || strcmp(s, "$logs") == 0)
        return true;
    size_t n = strlen(s);
    if (n < 3 || n > 63 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-')
            return false;
    return true;
}

int blob_check_name(const char *name, amlfs_err *err)
{
    if (!name || !*name)
        return amlfs_fail(err, EINVAL, "a blob name is empty");
    if (strlen(name) > NAME_BYTES_MAX)
        return amlfs_fail(err, EINVAL, "blob name '%.60s...' is longer than %d bytes", name, NAME_BYTES_MAX);
    return 0;
}

/* endpoint -> c->endpoint (no trailing '/') and c->endpoint_path, with curl's URL parser. */
static int set_endpoint(blob_client *c, const char *endpoint, amlfs_err *err)
{
    static const char example[] = "https://ACCOUNT.blob.core.windows.net, or Azurite's "
                                  "http://127.0.0.1:10000/devstoreaccount1";
    if (!endpoint || !*endpoint)
        return amlfs_fail(err, EINVAL, "endpoint is missing: give the Blob service URL (%s)", example);
    CURLU *u = curl_url();
    if (!u)
        return amlfs_fail(err, ENOMEM, "cannot parse a URL (curl)");
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL, *frag = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK) {
        rc = amlfs_fail(err, EINVAL, "endpoint '%s' is not a URL (%s)", endpoint, example);
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    if (!scheme || (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
        rc = amlfs_fail(err, EINVAL, "endpoint '%s' must start with https:// (or http:// for an emulator)", endpoint);
    } else if (query || frag || user) {
        /* The endpoint is quoted in messages, so it must not carry a SAS or a password: do not echo it. */
        rc = amlfs_fail(err, EINVAL, "endpoint must be the bare service URL, without '?', '#' or user@ (%s); "
                        "put a SAS in sas_token", example);
    } else {
        size_t n = strlen(path);
        while (n > 0 && path[n - 1] == '/')
            path[--n] = '\0';
        /* Azure's own names (blob.core.windows.net and the sovereign clouds', privatelink too) start with
         * the account: one of another account is a copy-paste slip the service would only answer with 403. */
        const char *first_dot = strchr(host, '.');
        size_t alen = strlen(c->account);
        bool azure = strstr(host, ".blob.core.") != NULL;
        if (azure && first_dot && ((size_t)(first_dot - host) != alen || strncmp(host, c->account, alen) != 0))
            rc = amlfs_fail(err, EINVAL, "endpoint %s://%s is not storage account '%s''s: use %s://%s%s", scheme,
                            host, c->account, scheme, c->account, first_dot);
        else if (azure && *path)
            rc = amlfs_fail(err, EINVAL, "endpoint %s://%s%s has a path: give the container ('%s') as container and "
                            "the endpoint as %s://%s", scheme, host, path, path + 1, scheme, host);
        else {
            c->endpoint = util_strdupf("%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "", path);
            c->endpoint_path = util_xstrdup(path);
        }
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(user);
    curl_free(frag);
    curl_url_cleanup(u);
    return rc;
}

static char *trimmed(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *t = util_xstrdup(s);
    size_t n = strlen(t);
    while (n > 0 && isspace((unsigned char)t[n - 1]))
        t[--n] = '\0';
    return t;
}

static int set_credential(blob_client *c, const blob_config *cfg, amlfs_err *err)
{
    bool has_key = cfg->account_key && *cfg->account_key, has_sas = cfg->sas_token && *cfg->sas_token;
    if (has_key && has_sas)
        return amlfs_fail(err, EINVAL, "give account_key or sas_token, not both");
    if (!has_key && !has_sas)
        return amlfs_fail(err, EINVAL, "no credential for storage account '%s': give account_key (key1 or key2 of "
                          "the account's Access keys) or sas_token", c->account);
    /* White space around a pasted secret (a key file's newline) is not part of it. */
    char *secret = trimmed(has_key ? cfg->account_key : cfg->sas_token);
    int rc = 0;
    if (has_key) {
        c->key = blob_base64_decode(secret, &c->key_len);
        if (!c->key || c->key_len == 0)
            rc = amlfs_fail(err, EINVAL, "account_key of storage account '%s' is not base64: copy key1 or key2 "
                            "from the account's Access keys as shown", c->account);
    } else if (strncmp(secret, "http://", 7) == 0 || strncmp(secret, "https://", 8) == 0) {
        rc = amlfs_fail(err, EINVAL, "sas_token is a URL: give only the part after its '?' (sv=...&sig=...)");
    } else {
        const char *sas = secret[0] == '?' ? secret + 1 : secret;
        for (const char *p = sas; *p && rc == 0; p++)
            if (isspace((unsigned char)*p) || *p == '#' || (unsigned char)*p < 0x20)
                rc = amlfs_fail(err, EINVAL, "sas_token has white space or '#' in it: give the SAS query string "
                                "exactly (sv=...&sig=...)");
        if (rc == 0 && strncmp(sas, "sig=", 4) != 0 && !strstr(sas, "&sig="))
            rc = amlfs_fail(err, EINVAL, "sas_token has no sig= parameter: give the whole SAS query string "
                            "(sv=...&sig=...)");
        if (rc == 0)
            c->sas = util_xstrdup(sas);
    }
    blob_secret_free(secret);
    return rc;
}

blob_client *blob_client_new(const blob_config *cfg, amlfs_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        amlfs_fail(err, EIO, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    if (!cfg->account_name || !account_name_ok(cfg->account_name)) {
        amlfs_fail(err, EINVAL, "account_name '%s' is not a storage account name (3 to 24 lowercase letters and "
                   "digits, as in https://NAME.blob.core.windows.net)", cfg->account_name ? cfg->account_name : "");
        return NULL;
    }
    if (!cfg->container || !container_name_ok(cfg->container)) {
        amlfs_fail(err, EINVAL, "container '%s' is not a container name (3 to 63 lowercase letters, digits and "
                   "single hyphens, starting and ending with a letter or digit)", cfg->container ? cfg->container : "");
        return NULL;
    }
    if (cfg->list_page_size > 5000) {
        amlfs_fail(err, EINVAL, "list_page_size %u is more than the service's 5000", cfg->list_page_size);
        return NULL;
    }
    if (cfg->block_size && (cfg->block_size < ((size_t)64 << 10) || cfg->block_size > ((size_t)4000 << 20))) {
        amlfs_fail(err, EINVAL, "block_size %zu is outside 64 KiB to 4000 MiB", cfg->block_size);
        return NULL;
    }
    blob_client *c = util_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->pool_mu, NULL);
    c->account = util_xstrdup(cfg->account_name);
    c->container = util_xstrdup(cfg->container);
    c->page_size = cfg->list_page_size;
    c->list_limit = cfg->list_limit ? cfg->list_limit : BLOB_LIST_LIMIT;
    c->block_size = cfg->block_size ? cfg->block_size : BLOB_BLOCK_SIZE;
    if (set_endpoint(c, cfg->endpoint, err) < 0 || set_credential(c, cfg, err) < 0) {
        blob_client_free(c);
        return NULL;
    }
    return c;
}

void blob_client_free(blob_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->pool_len; i++)
        curl_easy_cleanup(c->pool[i]);
    free(c->pool);
    pthread_mutex_destroy(&c->pool_mu);
    if (c->key) {
        explicit_bzero(c->key, c->key_len);
        free(c->key);
    }
    blob_secret_free(c->sas);
    free(c->endpoint);
    free(c->endpoint_path);
    free(c->account);
    free(c->container);
    free(c);
}

void blob_entry_free(blob_entry *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->etag);
    free(e->content_md5);
    memset(e, 0, sizeof *e);
}

void blob_listing_free(blob_listing *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        blob_entry_free(&l->blobs[i]);
    for (size_t i = 0; i < l->prefix_count; i++)
        free(l->prefixes[i]);
    free(l->blobs);
    free(l->prefixes);
    memset(l, 0, sizeof *l);
}

/* --- requests --- */

int blob_container_create(blob_client *c, amlfs_err *err)
{
    blob_req r;
    blob_req_init(&r, "PUT", NULL, "creating");
    blob_req_query(&r, "restype", "container");
    int rc = blob_perform(c, &r, err);
    blob_req_free(&r);
    return rc;
}

/* One page into *out; *next gets the marker of the next page (NULL at the end). */
static int list_page(blob_client *c, const char *prefix, const char *delimiter, const char *marker,
                     blob_listing *out, char **next, amlfs_err *err)
{
    char page_size[16];
    snprintf(page_size, sizeof page_size, "%u", c->page_size);
    blob_req r;
    blob_req_init(&r, "GET", NULL, "listing");
    blob_req_query(&r, "restype", "container");
    blob_req_query(&r, "comp", "list");
    if (prefix && *prefix)
        blob_req_query(&r, "prefix", prefix);
    if (delimiter && *delimiter)
        blob_req_query(&r, "delimiter", delimiter);
    if (marker)
        blob_req_query(&r, "marker", marker);
    if (c->page_size)
        blob_req_query(&r, "maxresults", page_size);
    util_buf body = {0};
    r.buf = &body;
    r.buf_limit = PAGE_ANSWER_LIMIT;
    int rc = blob_perform(c, &r, err);
    blob_req_free(&r);
    if (rc == 0) {
        rc = blob_xml_listing(body.data, body.len, out, c->list_limit, next, err);
        if (rc == -EFBIG)
            amlfs_fail(err, EFBIG, "listing container '%s'%s%s%s: more than %zu entries: list a narrower prefix",
                       c->container, prefix && *prefix ? " under '" : "", prefix && *prefix ? prefix : "",
                       prefix && *prefix ? "'" : "", c->list_limit);
        else if (rc < 0)
            amlfs_wrap(err, "listing container '%s': storage account '%s' answered a page that is not usable: ",
                       c->container, c->account);
    }
    util_buf_free(&body);
    return rc;
}

int blob_list(blob_client *c, const char *prefix, const char *delimiter, blob_listing *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    blob_listing got = {0};
    char *marker = NULL;
    int rc = 0;
    for (size_t pages = 1;; pages++) {
        char *next = NULL;
        rc = list_page(c, prefix, delimiter, marker, &got, &next, err);
        if (rc < 0 || !next)
            break;
        if ((marker && strcmp(marker, next) == 0) || pages >= PAGE_BOUND) {
            rc = amlfs_fail(err, EIO, "listing container '%s': storage account '%s' keeps answering with more pages "
                            "(%zu, the last marker %s)", c->container, c->account, pages,
                            marker && strcmp(marker, next) == 0 ? "repeated" : "new");
            free(next);
            break;
        }
        free(marker);
        marker = next;
    }
    free(marker);
    if (rc < 0) {
        blob_listing_free(&got);
        return rc;
    }
    *out = got;
    return 0;
}

int blob_head(blob_client *c, const char *name, blob_entry *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = blob_check_name(name, err);
    if (rc < 0)
        return rc;
    blob_req r;
    blob_req_init(&r, "HEAD", name, "reading the properties of");
    rc = blob_perform(c, &r, err);
    if (rc == 0 && !r.has_length)
        rc = amlfs_fail(err, EIO, "reading the properties of blob '%s': storage account '%s' gave no Content-Length",
                        name, c->account);
    if (rc == 0) {
        out->name = util_xstrdup(name);
        out->size = r.content_length;
        out->last_modified_ms = r.last_modified_ms;
        out->etag = r.etag[0] ? util_xstrdup(r.etag) : NULL;
        out->content_md5 = r.content_md5[0] ? util_xstrdup(r.content_md5) : NULL;
    }
    blob_req_free(&r);
    return rc;
}

int blob_read(blob_client *c, const char *name, uint64_t offset, size_t length, void *buf, size_t *got,
              amlfs_err *err)
{
    *got = 0;
    int rc = blob_check_name(name, err);
    if (rc < 0 || length == 0)
        return rc;
    if (offset > UINT64_MAX - length)
        return amlfs_fail(err, EINVAL, "reading blob '%s': offset %llu and length %zu go past 2^64", name,
                          (unsigned long long)offset, length);
    char range[64];
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + length - 1));
    blob_req r;
    blob_req_init(&r, "GET", name, "reading");
    blob_req_header(&r, "Range", range);
    r.accept = 416; /* the range starts at or past the end: nothing to read */
    r.sink = BLOB_SINK_MEM;
    r.mem = buf;
    r.mem_cap = length;
    rc = blob_perform(c, &r, err);
    if (rc == 0 && r.status == 200 && offset > 0)
        rc = amlfs_fail(err, EIO, "reading blob '%s': storage account '%s' ignored the range asked for", name,
                        c->account);
    if (rc == 0 && r.status != 416)
        *got = r.mem_len;
    blob_req_free(&r);
    return rc;
}
