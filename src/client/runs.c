/* runs.c: runs as the mount asks for them: listings by pages, each run kept as the listing showed it
 * (so a walk of runs/ asks nothing more per run), one run, as listed when that is enough, and the tree
 * of an ended run's folders in one request. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* Runs a page: large enough that a listing of 10,000 runs is a few requests, small enough that an
 * answer stays far below the cache's per-answer bound (a run is about 450 bytes). */
#define RUNS_PAGE 1000

/* Keep one listed run under "/v1/runs/ID?listed", unless an event came since the page was asked for. */
static void keep_listed(amlfs_client *c, const cJSON *run, uint64_t generation)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "id"));
    if (!id || !*id)
        return;
    char *url = client_run_url(id, CLIENT_LISTED_QUERY, NULL);
    /* Already kept and still true (an ended run): a second `ls -l` of 10,000 runs prints none again. */
    char *text = cache_has_fresh(c->cache, url) ? NULL : cJSON_PrintUnformatted(run);
    if (text)
        cache_put(c->cache, url, text, generation);
    free(text);
    free(url);
}

int client_list_runs(amlfs_client *c, const char *experiment, client_run_fn fn, void *ctx, amlfs_err *err)
{
    char *escaped = experiment ? client_escape(experiment) : NULL;
    char *after = util_xstrdup("0");
    int rc = 0;
    /* A page's `next` only grows; the bound stops a server that would answer the same cursor forever. */
    for (int pages = 0; rc == 0 && after; pages++) {
        if (pages > 1000000) {
            rc = amlfs_fail(err, EIO, "amlfs-server's run listing does not end");
            break;
        }
        char *url = escaped ? util_strdupf("/v1/runs?experiment=%s&limit=%d&after=%s", escaped, RUNS_PAGE, after)
                            : util_strdupf("/v1/runs?limit=%d&after=%s", RUNS_PAGE, after);
        uint64_t generation = cache_generation(c->cache);
        cJSON *page = NULL;
        rc = client_get_json(c, url, true, &page, err);
        free(url);
        free(after);
        after = NULL;
        if (rc < 0)
            break;
        const cJSON *run;
        cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(page, "runs")) {
            keep_listed(c, run, generation);
            if (rc == 0 && fn)
                rc = fn(ctx, run);
        }
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(page, "next"));
        if (next && *next)
            after = client_escape(next);
        cJSON_Delete(page);
    }
    free(after);
    free(escaped);
    return rc;
}

int client_get_run(amlfs_client *c, const char *id, bool listed_ok, cJSON **out, amlfs_err *err)
{
    *out = NULL;
    char *url = client_run_url(id, "", NULL);
    if (listed_ok) {
        char *listed = client_run_url(id, CLIENT_LISTED_QUERY, NULL);
        char *text = cache_get(c->cache, url);
        if (!text)
            text = cache_get(c->cache, listed);
        free(listed);
        if (text) {
            *out = cJSON_Parse(text);
            free(text);
            if (*out) {
                free(url);
                return 0;
            }
        }
    }
    int rc = client_get_json(c, url, true, out, err);
    free(url);
    return rc;
}

/* Keep part (printed) under the run's suffix key + tail, unless an event came since generation. */
static void keep_part(amlfs_client *c, const char *id, const char *suffix, const char *tail, const cJSON *part,
                      uint64_t generation)
{
    char *text = part ? cJSON_PrintUnformatted(part) : NULL;
    char *base = client_run_url(id, suffix, NULL);
    char *key = util_strdupf("%s%s", base, tail);
    if (text)
        cache_put(c->cache, key, text, generation);
    free(key);
    free(base);
    free(text);
}

int client_prime_run_tree(amlfs_client *c, const char *id, amlfs_err *err)
{
    static const char *const folders[] = {"/outputs/", "/logs/", "/inputs/", "/snapshot/"};
    char *known = client_run_url(id, "/outputs/?stat=1", NULL);
    char *cached = cache_get(c->cache, known);
    free(known);
    if (cached) { /* primed already, and still true */
        free(cached);
        return 0;
    }
    uint64_t generation = cache_generation(c->cache);
    char *url = client_run_url(id, "/tree", NULL);
    cJSON *tree = NULL;
    int rc = client_get_json_unkept(c, url, &tree, err);
    free(url);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)strlen(folders[i]) - 2, folders[i] + 1);
        const cJSON *part = cJSON_GetObjectItemCaseSensitive(tree, name);
        if (!cJSON_IsObject(part))
            continue;
        keep_part(c, id, folders[i], "?stat=1", cJSON_GetObjectItemCaseSensitive(part, "root"), generation);
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(part, "entries");
        if (cJSON_IsArray(entries)) {
            cJSON *listing = cJSON_CreateObject();
            cJSON_AddItemReferenceToObject(listing, "entries", (cJSON *)entries);
            keep_part(c, id, folders[i], "", listing, generation);
            cJSON_Delete(listing);
        }
    }
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(tree, "metrics");
    if (cJSON_IsObject(metrics))
        keep_part(c, id, "/metrics/", "", metrics, generation);
    cJSON_Delete(tree);
    return 0;
}
