/* compute_json.c: the compute object of docs/api.md: its provisioning state, what backs it and its nodes
 * by state (asked of the cluster live), this workspace's runs on it, and the status text the mount's
 * computes/NAME/status shows. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define B(s) (1u << (s))
#define QUEUED_MASK (B(RUN_NOT_STARTED) | B(RUN_QUEUED))
#define ACTIVE_MASK (B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) | B(RUN_CANCEL_REQUESTED))

/* "idle 1, allocated 2 (3 in all)" from {"idle": 1, "allocated": 2}. */
static void nodes_line(util_buf *b, const cJSON *nodes, double total)
{
    const cJSON *n;
    bool first = true;
    cJSON_ArrayForEach(n, nodes) {
        char part[96];
        snprintf(part, sizeof part, "%s%s %.0f", first ? "" : ", ", n->string, n->valuedouble);
        util_buf_append(b, part, strlen(part), 0);
        first = false;
    }
    char all[48];
    snprintf(all, sizeof all, " (%.0f in all)", total);
    util_buf_append(b, all, strlen(all), 0);
}

static void add_line(util_buf *b, const char *line)
{
    util_buf_append(b, line, strlen(line), 0);
    util_buf_append(b, "\n", 1, 0);
}

/* The text of computes/NAME/status: the state first (one word, or "Failed: why"), then one fact a line. */
static char *status_text(const cJSON *o, const char *rejected, const char *ignored)
{
    util_buf b = {0};
    const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "state"));
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "reason"));
    char *first = reason ? util_strdupf("%s: %s", state, reason) : util_xstrdup(state);
    add_line(&b, first);
    free(first);
    if (strcmp(state, "Draft") == 0)
        add_line(&b, "write compute.yaml here to set it up (type: slurm or amlcompute)");
    const char *backed = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "backed_by"));
    if (backed) {
        char *line = util_strdupf("backed by: %s", backed);
        add_line(&b, line);
        free(line);
    }
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(o, "nodes");
    const char *unreachable = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "unreachable"));
    if (cJSON_IsObject(nodes)) {
        util_buf_append(&b, "nodes: ", 7, 0);
        nodes_line(&b, nodes, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "node_count")));
        util_buf_append(&b, "\n", 1, 0);
    } else if (unreachable) {
        char *line = util_strdupf("nodes: unknown: %s", unreachable);
        add_line(&b, line);
        free(line);
    }
    char runs[160];
    snprintf(runs, sizeof runs, "runs: running %.0f, queued %.0f (max_instances %.0f)",
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "running")),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "queued")),
             cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "max_instances")));
    add_line(&b, runs);
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "poll_error"));
    if (note) {
        char *line = util_strdupf("runs cannot be followed now: %s", note);
        add_line(&b, line);
        free(line);
    }
    if (ignored && *ignored) {
        char *line = util_strdupf("ignored here: %s (they provision cloud clusters; this one exists already)",
                                  ignored);
        add_line(&b, line);
        free(line);
    }
    if (rejected && *rejected)
        add_line(&b, rejected);
    return b.data;
}

/* The provisioning keys compute.yaml wrote, into keys and as "size, tier" (or "", malloc'd). */
static char *ignored_keys(const char *yaml, cJSON *keys)
{
    compute_spec spec;
    amlfs_err ignored = {0};
    util_buf b = {0};
    if (yaml && *yaml && spec_parse_compute(yaml, strlen(yaml), "compute.yaml", &spec, &ignored) == 0) {
        for (size_t i = 0; i < spec.ignored.count; i++) {
            if (i)
                util_buf_append(&b, ", ", 2, 0);
            util_buf_append(&b, spec.ignored.items[i].key, strlen(spec.ignored.items[i].key), 0);
            cJSON_AddItemToArray(keys, cJSON_CreateString(spec.ignored.items[i].key));
        }
        spec_compute_free(&spec);
    }
    return b.data ? b.data : util_xstrdup("");
}

cJSON *compute_json(server *srv, const store_compute *c, bool live_facts)
{
    compute *compute = server_compute_get(srv, c->name);
    int max = compute ? server_compute_max(srv, compute) : c->max_instances;
    long running = store_run_count_by_status(srv->store, ACTIVE_MASK, c->name, STORE_ANY);
    long queued = store_run_count_by_status(srv->store, QUEUED_MASK, c->name, STORE_ANY);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "type", c->type);
    cJSON_AddNumberToObject(o, "max_instances", max);
    cJSON_AddStringToObject(o, "state", c->state ? c->state : "Succeeded");
    if (c->reason)
        cJSON_AddStringToObject(o, "reason", c->reason);
    cJSON_AddNumberToObject(o, "running", running < 0 ? 0 : running);
    cJSON_AddNumberToObject(o, "queued", queued < 0 ? 0 : queued);
    cJSON_AddStringToObject(o, "yaml", c->yaml);
    if (live_facts && compute && compute->ops->describe) {
        amlfs_err why = {0};
        cJSON *facts = cJSON_CreateObject();
        /* Asked of the cluster now (no lock held); a cluster that does not answer is a fact, not an error. */
        if (compute->ops->describe(compute, facts, &why) == 0) {
            cJSON *item;
            while ((item = facts->child)) {
                cJSON_DetachItemViaPointer(facts, item);
                cJSON_AddItemToObject(o, item->string, item);
            }
        } else {
            cJSON_AddStringToObject(o, "unreachable", why.msg);
        }
        cJSON_Delete(facts);
    }
    server_compute_release(srv, compute);
    char *note = server_compute_note_get(srv, c->name);
    if (note)
        cJSON_AddStringToObject(o, "poll_error", note);
    free(note);
    char *ignored = ignored_keys(c->yaml, cJSON_AddArrayToObject(o, "ignored_keys"));
    char *key = util_strdupf("computes/%s", c->name), *rejected = NULL;
    amlfs_err ignored_err = {0};
    if (store_folder_status_get(srv->store, key, &rejected, &ignored_err) < 0)
        rejected = NULL;
    char *text = status_text(o, rejected, ignored);
    cJSON_AddStringToObject(o, "status_line", text);
    free(text);
    free(rejected);
    free(key);
    free(ignored);
    return o;
}
