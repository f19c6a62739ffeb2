/* blob_auth.c: Shared Key signing (the canonicalized string-to-sign, HMAC-SHA256) and service SAS tokens
 * for a container, with base64 and the HTTP date they need (OpenSSL libcrypto). */
#include "blob_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/hmac.h>

static void append(util_buf *b, const char *s)
{
    util_buf_append(b, s, strlen(s), 0);
}

static void append_char(util_buf *b, char ch)
{
    util_buf_append(b, &ch, 1, 0);
}

/* The first header of that name (case-insensitive), or "". */
static const char *header_value(const blob_sign_input *in, const char *name)
{
    for (size_t i = 0; i < in->nheaders; i++)
        if (strcasecmp(in->headers[i].name, name) == 0)
            return in->headers[i].value;
    return "";
}

typedef struct {
    char *name;                 /* lowercased */
    const char *value;
} pair;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *lowercase(const char *s)
{
    char *l = util_xstrdup(s);
    for (char *p = l; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

/* A canonicalized header value: trimmed, each run of white space outside quoted strings one space. */
static void append_header_value(util_buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '"')
            quoted = !quoted;
        if (!quoted && (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')) {
            while (i + 1 < n && (v[i + 1] == ' ' || v[i + 1] == '\t' || v[i + 1] == '\r' || v[i + 1] == '\n'))
                i++;
            ch = ' ';
        }
        append_char(b, ch);
    }
}

char *blob_string_to_sign(const blob_sign_input *in)
{
    util_buf b = {0};
    append(&b, in->method);
    append_char(&b, '\n');
    static const char *const standard[] = {"Content-Encoding", "Content-Language", NULL /* Content-Length */,
                                           "Content-MD5", "Content-Type", "Date", "If-Modified-Since",
                                           "If-Match", "If-None-Match", "If-Unmodified-Since", "Range"};
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++) {
        if (standard[i]) {
            append(&b, header_value(in, standard[i]));
        } else if (in->content_length > 0) { /* empty, not "0", for an empty body (2015-02-21 and later) */
            char num[24];
            snprintf(num, sizeof num, "%llu", (unsigned long long)in->content_length);
            append(&b, num);
        }
        append_char(&b, '\n');
    }

    /* CanonicalizedHeaders: x-ms-* lowercased, sorted by name, "name:value\n" each. */
    pair *ps = util_xcalloc(in->nheaders + in->nquery + 1, sizeof *ps);
    size_t n = 0;
    for (size_t i = 0; i < in->nheaders; i++)
        if (strncasecmp(in->headers[i].name, "x-ms-", 5) == 0)
            ps[n++] = (pair){lowercase(in->headers[i].name), in->headers[i].value};
    qsort(ps, n, sizeof *ps, pair_cmp);
    for (size_t i = 0; i < n; i++) {
        append(&b, ps[i].name);
        append_char(&b, ':');
        append_header_value(&b, ps[i].value);
        append_char(&b, '\n');
        free(ps[i].name);
    }

    /* CanonicalizedResource: /account/path, then "\nname:v1,v2" per query parameter, names lowercased and
     * sorted, the values of one name sorted, all as decoded (raw) values. */
    append_char(&b, '/');
    append(&b, in->account);
    append(&b, in->path);
    n = 0;
    for (size_t i = 0; i < in->nquery; i++)
        ps[n++] = (pair){lowercase(in->query[i].name), in->query[i].value};
    qsort(ps, n, sizeof *ps, pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(ps[i].name, ps[i - 1].name) != 0) {
            append_char(&b, '\n');
            append(&b, ps[i].name);
            append_char(&b, ':');
        } else {
            append_char(&b, ',');
        }
        append(&b, ps[i].value);
    }
    for (size_t i = 0; i < n; i++)
        free(ps[i].name);
    free(ps);
    if (!b.data)
        return util_xstrdup("");
    return b.data;
}

void blob_hmac_base64(const unsigned char *key, size_t key_len, const char *text, char out[45])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)text, strlen(text), mac, &mac_len);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len); /* 32 bytes: 44 characters and a NUL */
    explicit_bzero(mac, sizeof mac);
}

unsigned char *blob_base64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text);
    if (n == 0 || n % 4 != 0 || n > (1u << 20))
        return NULL;
    size_t pad = text[n - 1] == '=' ? (text[n - 2] == '=' ? 2 : 1) : 0;
    if (strcspn(text, "=") != n - pad) /* '=' only as padding at the end */
        return NULL;
    unsigned char *out = util_xcalloc(1, n / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    if (got < 0 || (size_t)got != n / 4 * 3) {
        explicit_bzero(out, n / 4 * 3 + 1);
        free(out);
        return NULL;
    }
    *len = (size_t)got - pad;
    return out;
}

char *blob_base64(const unsigned char *bytes, size_t len)
{
    char *out = util_xcalloc(1, (len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, bytes, (int)len);
    return out;
}

void blob_http_date(int64_t ms, char *buf, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void blob_secret_free(char *secret)
{
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
}

/* Service SAS of a container, version 2020-12-06 and later ("Create a service SAS"). */
int blob_container_sas(blob_client *c, const char *permissions, int64_t expiry_ms, char **sas, amlfs_err *err)
{
    *sas = NULL;
    if (!c->key)
        return amlfs_fail(err, EINVAL, "making a SAS needs the account key of storage account '%s' (this client "
                          "has a SAS token only)", c->account);
    /* The service wants the letters it knows, in its order. */
    static const char order[] = "racwdxyltmeopi";
    size_t last = 0;
    if (!permissions || !*permissions)
        return amlfs_fail(err, EINVAL, "SAS permissions are empty: give letters of 'racwdl' (read, add, create, "
                          "write, delete, list)");
    for (const char *p = permissions; *p; p++) {
        const char *at = strchr(order, *p);
        if (!at || (size_t)(at - order) + 1 <= last)
            return amlfs_fail(err, EINVAL, "SAS permissions '%s': use letters of '%s' once each, in that order",
                              permissions, order);
        last = (size_t)(at - order) + 1;
    }
    char expiry[32];
    util_iso8601(expiry_ms, expiry, sizeof expiry);
    char *canonical = util_strdupf("/blob/%s/%s", c->account, c->container);
    /* permissions, start, expiry, resource, identifier, IP, protocol, version, signed resource, snapshot
     * time, encryption scope, then the five response header overrides. */
    char *text = util_strdupf("%s\n\n%s\n%s\n\n\n\n%s\nc\n\n\n\n\n\n\n", permissions, expiry, canonical,
                              BLOB_API_VERSION);
    char sig[45];
    blob_hmac_base64(c->key, c->key_len, text, sig);
    char *se = curl_easy_escape(NULL, expiry, 0);
    char *sig_q = curl_easy_escape(NULL, sig, 0);
    if (se && sig_q)
        *sas = util_strdupf("sv=%s&sr=c&sp=%s&se=%s&sig=%s", BLOB_API_VERSION, permissions, se, sig_q);
    explicit_bzero(sig, sizeof sig);
    if (sig_q)
        explicit_bzero(sig_q, strlen(sig_q));
    curl_free(se);
    curl_free(sig_q);
    free(text);
    free(canonical);
    if (!*sas)
        return amlfs_fail(err, ENOMEM, "cannot encode a SAS token");
    return 0;
}
