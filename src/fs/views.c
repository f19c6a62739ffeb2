/* views.c: what each node of the mount shows: attributes, listings, generated text, log and file bytes,
 * all from GETs of the API (docs/api.md). Nothing here changes the workspace; actions.c does. */
#include "fs_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amlfs/api.h"
#include "amlfs/util.h"

/* ---- small helpers ---- */

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *obj, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsString(v) && v->valuestring[0])
        return strtod(v->valuestring, NULL);
    return dflt;
}

static int64_t iso_ms(const char *iso, int64_t dflt)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!iso || !*iso || !strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
        return dflt;
    return (int64_t)timegm(&tm) * 1000;
}

/* "/v1/KIND/ESCAPED-NAME" + suffix */
static char *object_url(const char *kind, const char *name, const char *suffix)
{
    return client_object_url(kind, name, suffix, NULL);
}

static int get_object(fs_state *fs, const char *kind, const char *name, const char *suffix, cJSON **out,
                      amlfs_err *err)
{
    char *url = object_url(kind, name, suffix);
    int rc = client_get_json(fs->client, url, true, out, err);
    free(url);
    return rc;
}

/* A run's object. With listed_ok, what a recent listing showed will do (status, times, log size,
 * snapshot): a walk of runs/ then asks nothing per run. */
static int get_run(fs_state *fs, const char *id, bool listed_ok, cJSON **out, amlfs_err *err)
{
    return client_get_run(fs->client, id, listed_ok, out, err);
}

/* Where experiments/NAME/runs/ID points. */
#define RUN_LINK_PREFIX "../../../runs/"

static bool run_has_ended(const cJSON *run)
{
    int word = run_status_parse(jstr(run, "status"));
    return word >= 0 && run_status_terminal((run_status)word);
}

bool view_run_ended(fs_state *fs, const char *id)
{
    cJSON *run = NULL;
    bool ended = get_run(fs, id, true, &run, NULL) == 0 && run_has_ended(run);
    cJSON_Delete(run);
    return ended;
}

double view_timeout(fs_state *fs, const node_path *np)
{
    switch (node_cache_policy(np->kind)) {
    case CACHE_LASTING:
        return np->kind == NODE_EXP_RUN_LINK && strcmp(np->rel, "latest") == 0 ? FS_ENTRY_TIMEOUT : FS_LASTING_TIMEOUT;
    case CACHE_RUN:
        return view_run_ended(fs, np->name) ? FS_LASTING_TIMEOUT : FS_ATTR_TIMEOUT;
    case CACHE_RUN_LIVE:
        return view_run_ended(fs, np->name) ? FS_LASTING_TIMEOUT : FS_LIVE_TIMEOUT;
    case CACHE_USUAL:
    default:
        return FS_ATTR_TIMEOUT;
    }
}

static void fill_stat(fs_state *fs, struct stat *st, mode_t mode, off_t size, int64_t mtime_ms)
{
    memset(st, 0, sizeof *st);
    st->st_mode = mode;
    st->st_nlink = S_ISDIR(mode) ? 2 : 1;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_size = size;
    st->st_blksize = 4096;
    st->st_blocks = (size + 511) / 512;
    if (mtime_ms <= 0)
        mtime_ms = fs->mount_ms;
    st->st_mtim.tv_sec = (time_t)(mtime_ms / 1000);
    st->st_mtim.tv_nsec = (long)(mtime_ms % 1000) * 1000000L;
    st->st_atim = st->st_mtim;
    st->st_ctim = st->st_mtim;
}

/* cJSON_Print indents with tabs and writes ":\t": make it the "key": value shape people (and grep)
 * expect. Tabs inside strings are escaped by cJSON, so every raw tab here is layout. */
static char *pretty_json(const cJSON *obj, size_t *len)
{
    char *raw = cJSON_Print(obj);
    if (!raw)
        abort();
    size_t tabs = 0;
    for (const char *p = raw; *p; p++)
        tabs += *p == '\t';
    char *out = util_xcalloc(1, strlen(raw) + tabs + 2);
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        if (*p != '\t') {
            out[n++] = *p;
        } else if (p > raw && p[-1] == ':') {
            out[n++] = ' ';
        } else {
            out[n++] = ' ';
            out[n++] = ' ';
        }
    }
    out[n++] = '\n';
    out[n] = '\0';
    free(raw);
    *len = n;
    return out;
}

static char *line_of(const char *text, size_t *len)
{
    char *out = *text ? util_strdupf("%s\n", text) : util_xstrdup("");
    *len = strlen(out);
    return out;
}

static const char *files_kind(const node_path *np);

char *view_files_root_url(const node_path *np)
{
    return client_files_url(files_kind(np), np->name, "");
}

/* The kind of object whose stored files np is among. */
static const char *files_kind(const node_path *np)
{
    return np->kind == NODE_ENV_FILE || np->kind == NODE_ENV_DIR     ? "environments"
           : np->kind == NODE_DATA_FILE || np->kind == NODE_DATA_DIR ? "data"
                                                                     : "experiments";
}

char *view_files_url(const node_path *np)
{
    return client_files_url(files_kind(np), np->name, np->rel);
}

/* The read-only folders served from the server's records: a run's snapshot, outputs and logs, and a data
 * asset version's content. */
static bool is_run_folder_file(node_kind kind)
{
    return kind == NODE_RUN_SNAPSHOT_FILE || kind == NODE_RUN_OUTPUTS_FILE || kind == NODE_DATA_VERSION_FILE ||
           kind == NODE_DATASTORE_FILE;
}

/* /v1/runs/ID/snapshot/REL, /v1/runs/ID/outputs/REL, /v1/data/NAME/versions/N/files/REL (REL "" for the
 * folder's root) + suffix */
static char *run_folder_url(const node_path *np, const char *suffix)
{
    const char *rel = is_run_folder_file(np->kind) ? np->rel : "";
    if (np->kind == NODE_DATA_VERSION_DIR || np->kind == NODE_DATA_VERSION_FILE)
        return client_folder_url("data", np->name, np->version, "files", rel, suffix);
    if (np->kind == NODE_DATASTORE_DIR || np->kind == NODE_DATASTORE_FILE)
        return client_folder_url("datastores", np->name, NULL, "files", rel, suffix);
    return client_folder_url("runs", np->name, NULL, node_is_run_output(np->kind) ? np->folder : "snapshot", rel,
                             suffix);
}

/* The first look into an ended run's folders (its outputs, logs, inputs, snapshot, metrics) brings them
 * all in one request: `find runs/` then asks about one per run, not nine. Best effort: on failure each
 * is asked for by itself. */
static void prime_ended_run(fs_state *fs, const node_path *np)
{
    if (view_run_ended(fs, np->name))
        client_prime_run_tree(fs->client, np->name, NULL);
}

/* Outputs change while the run goes with no event to say so: always asked afresh (the kernel's short
 * timeouts keep that to one request per look) until the run ended. A snapshot never changes: the
 * cache is right. Whether the run ended is asked once here (a walk comes through for every entry). */
static int run_folder_stat_entry(fs_state *fs, const node_path *np, cJSON **entry, amlfs_err *err)
{
    bool root = np->kind == NODE_RUN_OUTPUTS_DIR || np->kind == NODE_RUN_SNAPSHOT_DIR;
    bool ended = (root || node_is_run_output(np->kind)) && view_run_ended(fs, np->name);
    if (root && ended)
        client_prime_run_tree(fs->client, np->name, NULL);
    char *base = run_folder_url(np, NULL);
    char *url = client_stat_url(base);
    free(base);
    int rc = client_get_json(fs->client, url, !node_is_run_output(np->kind) || ended, entry, err);
    free(url);
    return rc;
}

/* ---- ctl files: written, a command; read, what became of the last one ---- */

/* "Rejected: cancel: run X has ended (Completed)\n", or "" when the last command worked. */
static char *ctl_text(const cJSON *obj, size_t *len)
{
    const char *line = jstr(obj, "ctl_status");
    char *text = line[0] ? util_strdupf("%s\n", line) : util_xstrdup("");
    *len = strlen(text);
    return text;
}

static off_t ctl_size(const cJSON *obj)
{
    const char *line = jstr(obj, "ctl_status");
    return line[0] ? (off_t)strlen(line) + 1 : 0;
}

/* ---- a run's metrics: runs/ID/metrics/NAME, where a name's '/' makes folders ---- */

/* /v1/runs/ID/metrics/ (the listing) or /v1/runs/ID/metrics/NAME (a series' text). */
static char *metrics_url(const node_path *np)
{
    return client_run_url(np->name, "/metrics/", np->kind == NODE_RUN_METRIC ? np->rel : NULL);
}

static int metrics_listing(fs_state *fs, const node_path *np, cJSON **out, amlfs_err *err)
{
    prime_ended_run(fs, np);
    char *url = client_run_url(np->name, "/metrics/", NULL);
    int rc = client_get_json(fs->client, url, true, out, err);
    free(url);
    return rc;
}

/* What np->rel is among the run's series: 'f' a series (*size, *mtime_ms), 'd' a folder of them (a
 * series of the same name wins: the folder's series are in metrics.json), -ENOENT neither. */
static int metric_lookup(fs_state *fs, const node_path *np, off_t *size, int64_t *mtime_ms, amlfs_err *err)
{
    cJSON *list = NULL;
    int rc = metrics_listing(fs, np, &list, err);
    if (rc < 0)
        return rc;
    size_t len = strlen(np->rel);
    int what = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "metrics")) {
        const char *name = jstr(m, "name");
        if (strcmp(name, np->rel) == 0) {
            what = 'f';
            *size = (off_t)jnum(m, "size", 0);
            *mtime_ms = (int64_t)jnum(cJSON_GetObjectItemCaseSensitive(m, "last"), "timestamp", 0);
            break;
        }
        if (strncmp(name, np->rel, len) == 0 && name[len] == '/')
            what = 'd';
    }
    cJSON_Delete(list);
    return what ? what : amlfs_fail(err, ENOENT, "run %s has no metric '%s'", np->name, np->rel);
}

/* The names one level below metrics/ (or below the folder np->rel): series as files, deeper names as
 * folders, each once. */
static int list_metrics(fs_state *fs, const node_path *np, dir_list *out, amlfs_err *err)
{
    cJSON *list = NULL;
    int rc = metrics_listing(fs, np, &list, err);
    if (rc < 0)
        return rc;
    char *prefix = np->kind == NODE_RUN_METRIC ? util_strdupf("%s/", np->rel) : util_xstrdup("");
    size_t plen = strlen(prefix);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "metrics")) {
        const char *name = jstr(m, "name");
        if (strncmp(name, prefix, plen) != 0 || !name[plen])
            continue;
        const char *rest = name + plen, *slash = strchr(rest, '/');
        char *part = slash ? strndup(rest, (size_t)(slash - rest)) : util_xstrdup(rest);
        if (!part)
            abort();
        bool seen = false;
        for (size_t i = 0; i < out->count && !seen; i++)
            seen = strcmp(out->items[i].name, part) == 0;
        if (!seen)
            dir_list_add(out, part, slash ? DT_DIR : DT_REG);
        if (!slash) {
            char *chart = util_strdupf("%s.svg", part);
            dir_list_add(out, chart, DT_REG);
            free(chart);
        }
        free(part);
    }
    free(prefix);
    cJSON_Delete(list);
    return 0;
}

/* experiments/NAME/metrics[/REL]: the metric names of the experiment's runs, one level at a time, each name
 * as NAME.svg (a name's '/' makes folders, as in a run's metrics/). With out NULL only whether the folder
 * exists: 0, or -ENOENT. */
static int chart_folder(fs_state *fs, const node_path *np, dir_list *out, amlfs_err *err)
{
    cJSON *list = NULL;
    char *url = client_object_url("experiments", np->name, "/charts/", NULL);
    int rc = client_get_json(fs->client, url, true, &list, err);
    free(url);
    if (rc < 0)
        return rc;
    char *prefix = np->rel ? util_strdupf("%s/", np->rel) : util_xstrdup("");
    size_t plen = strlen(prefix);
    bool found = !np->rel;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "metrics")) {
        const char *name = cJSON_GetStringValue(m);
        if (!name || strncmp(name, prefix, plen) != 0 || !name[plen])
            continue;
        found = true;
        if (!out)
            break;
        const char *rest = name + plen, *slash = strchr(rest, '/');
        char *entry = slash ? util_strdupf("%.*s", (int)(slash - rest), rest) : util_strdupf("%s.svg", rest);
        bool seen = false;
        for (size_t i = 0; i < out->count && !seen; i++)
            seen = strcmp(out->items[i].name, entry) == 0;
        if (!seen)
            dir_list_add(out, entry, slash ? DT_DIR : DT_REG);
        free(entry);
    }
    free(prefix);
    cJSON_Delete(list);
    return found ? 0 : amlfs_fail(err, ENOENT, "experiment %s has no metrics under '%s'", np->name, np->rel);
}

void dir_list_add(dir_list *l, const char *name, unsigned char type)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        dir_entry *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            abort();
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->count] = (dir_entry){.name = util_xstrdup(name), .type = type};
    l->count++;
}

/* An entry whose attributes the listing gave. */
static void dir_list_add_attr(dir_list *l, const char *name, mode_t mode, off_t size, int64_t mtime_ms,
                              double timeout)
{
    dir_list_add(l, name, S_ISDIR(mode) ? DT_DIR : S_ISLNK(mode) ? DT_LNK : DT_REG);
    dir_entry *e = &l->items[l->count - 1];
    e->has_attr = true;
    e->timeout = timeout;
    e->mode = mode;
    e->size = size;
    e->mtime_ms = mtime_ms;
}

void dir_list_free(dir_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- generated text ---- */

static int64_t run_mtime(const cJSON *run)
{
    int64_t t = iso_ms(jstr(run, "ended"), 0);
    if (!t)
        t = iso_ms(jstr(run, "started"), 0);
    if (!t)
        t = iso_ms(jstr(run, "created"), 0);
    return t;
}

/* A collection's status line, as the server keeps it (the last refused mkdir/rmdir, or empty). */
static int collection_status(fs_state *fs, const char *kind, char **text, size_t *len, amlfs_err *err)
{
    cJSON *list = NULL;
    char *url = client_collection_url(kind);
    int rc = client_get_json(fs->client, url, true, &list, err);
    free(url);
    if (rc == 0)
        *text = line_of(jstr(list, "status_line"), len);
    cJSON_Delete(list);
    return rc;
}

/* The text of a generated node and when it last changed. */
static int text_of(fs_state *fs, const node_path *np, char **text, size_t *len, int64_t *mtime,
                   amlfs_err *err)
{
    cJSON *obj = NULL;
    int rc = 0;
    *mtime = 0;
    switch (np->kind) {
    case NODE_WORKSPACE_JSON:
        rc = client_get_json(fs->client, CLIENT_WORKSPACE_URL, true, &obj, err);
        if (rc == 0)
            *text = pretty_json(obj, len);
        break;
    case NODE_ENVS_STATUS:
        rc = collection_status(fs, "environments", text, len, err);
        break;
    case NODE_EXPS_STATUS:
        rc = collection_status(fs, "experiments", text, len, err);
        break;
    case NODE_COMPUTES_STATUS:
        rc = collection_status(fs, "computes", text, len, err);
        break;
    case NODE_DATAS_STATUS:
        rc = collection_status(fs, "data", text, len, err);
        break;
    case NODE_DATASTORES_STATUS:
        rc = collection_status(fs, "datastores", text, len, err);
        break;
    case NODE_DATASTORE_STATUS:
    case NODE_DATASTORE_YAML:
        rc = get_object(fs, "datastores", np->name, NULL, &obj, err);
        if (rc == 0 && np->kind == NODE_DATASTORE_STATUS) {
            *text = line_of(jstr(obj, "status_line"), len);
        } else if (rc == 0) {
            *text = util_xstrdup(jstr(obj, "yaml"));
            *len = strlen(*text);
        }
        break;
    case NODE_DATA_STATUS:
        rc = get_object(fs, "data", np->name, NULL, &obj, err);
        if (rc == 0)
            *text = line_of(jstr(obj, "status_line"), len);
        break;
    case NODE_DATA_VERSION_YAML: {
        char suffix[NODE_NAME_MAX + 16];
        snprintf(suffix, sizeof suffix, "/versions/%s", np->version);
        rc = get_object(fs, "data", np->name, suffix, &obj, err);
        if (rc == 0) {
            *text = util_xstrdup(jstr(obj, "yaml"));
            *len = strlen(*text);
            *mtime = iso_ms(jstr(obj, "created"), 0);
        }
        break;
    }
    case NODE_ENV_STATUS:
        rc = get_object(fs, "environments", np->name, NULL, &obj, err);
        if (rc == 0) {
            const char *line = jstr(obj, "status_line");
            *text = line_of(*line ? line : jstr(obj, "status"), len);
            *mtime = iso_ms(jstr(obj, "updated"), 0);
        }
        break;
    case NODE_ENV_VERSION_YAML: {
        char suffix[sizeof np->version + 16];
        snprintf(suffix, sizeof suffix, "/versions/%s", np->version);
        rc = get_object(fs, "environments", np->name, suffix, &obj, err);
        if (rc == 0) {
            *text = util_xstrdup(jstr(obj, "yaml"));
            *len = strlen(*text);
            *mtime = iso_ms(jstr(obj, "created"), 0);
        }
        break;
    }
    case NODE_COMPUTE_STATUS:
    case NODE_COMPUTE_YAML:
        /* Only the status asks the cluster (it may take seconds); stat and compute.yaml do not. */
        rc = get_object(fs, "computes", np->name, np->kind == NODE_COMPUTE_STATUS ? CLIENT_LIVE_QUERY : NULL, &obj, err);
        if (rc == 0 && np->kind == NODE_COMPUTE_STATUS) {
            /* Several lines (state, what backs it, nodes, runs), composed by the server. */
            *text = util_xstrdup(jstr(obj, "status_line"));
            *len = strlen(*text);
        } else if (rc == 0) {
            *text = util_xstrdup(jstr(obj, "yaml"));
            *len = strlen(*text);
        }
        break;
    case NODE_EXP_STATUS:
        rc = get_object(fs, "experiments", np->name, NULL, &obj, err);
        if (rc == 0)
            *text = line_of(jstr(obj, "status_line"), len);
        break;
    case NODE_RUN_STATUS:
    case NODE_RUN_JOB_YAML:
    case NODE_RUN_INFO:
        rc = get_run(fs, np->name, np->kind == NODE_RUN_STATUS, &obj, err);
        if (rc != 0)
            break;
        *mtime = run_mtime(obj);
        if (np->kind == NODE_RUN_STATUS) {
            *text = line_of(jstr(obj, "status"), len);
        } else if (np->kind == NODE_RUN_JOB_YAML) {
            *text = util_xstrdup(jstr(obj, "job_yaml"));
            *len = strlen(*text);
            *mtime = iso_ms(jstr(obj, "created"), 0);
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "job_yaml"); /* it has a file of its own */
            *text = pretty_json(obj, len);
        }
        break;
    case NODE_RUN_PARAMS_JSON:
    case NODE_RUN_TAGS_JSON:
        rc = get_object(fs, "runs", np->name, np->kind == NODE_RUN_PARAMS_JSON ? "/params.json" : "/tags.json", &obj,
                        err);
        if (rc == 0)
            *text = pretty_json(obj, len);
        break;
    case NODE_RUN_CTL:
    case NODE_ENV_CTL:
        rc = get_object(fs, np->kind == NODE_RUN_CTL ? "runs" : "environments", np->name, NULL, &obj, err);
        if (rc == 0) {
            *text = ctl_text(obj, len);
            *mtime = util_now_ms();
        }
        break;
    case NODE_RUN_METRIC_SVG:
    case NODE_EXP_METRICS_TSV:
    case NODE_EXP_CHART: {
        /* Drawn by the server when read: as new as the metrics. */
        char *url = np->kind == NODE_RUN_METRIC_SVG   ? client_run_url(np->name, "/charts/", np->rel)
                    : np->kind == NODE_EXP_CHART      ? client_object_url("experiments", np->name, "/charts/", np->rel)
                                                      : client_object_url("experiments", np->name, "/metrics.tsv", NULL);
        rc = client_get_bytes(fs->client, url, 0, 0, text, len, NULL, err);
        *mtime = util_now_ms();
        free(url);
        break;
    }
    default:
        rc = amlfs_fail(err, EINVAL, "not a generated file");
    }
    cJSON_Delete(obj);
    return rc;
}

int view_text(fs_state *fs, const node_path *np, char **text, size_t *len, amlfs_err *err)
{
    int64_t mtime;
    return text_of(fs, np, text, len, &mtime, err);
}

int view_text_to_fd(fs_state *fs, const node_path *np, int fd, size_t *len, amlfs_err *err)
{
    if (np->kind != NODE_RUN_METRICS_JSON)
        return amlfs_fail(err, EINVAL, "not a large generated file");
    char *url = client_run_url(np->name, "/metrics.json", NULL);
    int rc = client_get_to_fd(fs->client, url, fd, len, err);
    free(url);
    return rc;
}

/* ---- attributes ---- */

void view_stat_from_entry(fs_state *fs, const cJSON *entry, struct stat *st)
{
    const char *type = jstr(entry, "type");
    /* Mode 0 is a mode (chmod 0); only an entry without one takes the usual default. */
    double perm = jnum(entry, "mode", -1);
    mode_t mode;
    if (strcmp(type, "dir") == 0)
        mode = S_IFDIR | (perm >= 0 ? (mode_t)perm & 07777 : 0755);
    else if (strcmp(type, "symlink") == 0)
        mode = S_IFLNK | 0777;
    else
        mode = S_IFREG | (perm >= 0 ? (mode_t)perm & 07777 : 0644);
    off_t size = (off_t)jnum(entry, "size", 0);
    if (S_ISLNK(mode))
        size = (off_t)strlen(jstr(entry, "target"));
    fill_stat(fs, st, mode, size, (int64_t)jnum(entry, "mtime_ms", 0));
}

int view_stored_entry(fs_state *fs, const node_path *np, bool fresh, cJSON **entry, amlfs_err *err)
{
    char *url = view_files_url(np);
    char *stat_url = client_stat_url(url);
    int rc = client_get_json(fs->client, stat_url, !fresh, entry, err);
    free(stat_url);
    free(url);
    return rc;
}

/* A version of the API's "versions": a number (3) or a name ("22.02-py3"), as the mount names it. */
static bool version_name(const cJSON *v, char *buf, size_t len)
{
    if (cJSON_IsNumber(v))
        snprintf(buf, len, "%ld", (long)v->valuedouble);
    else if (cJSON_IsString(v))
        snprintf(buf, len, "%s", v->valuestring);
    else
        return false;
    return true;
}

static bool has_version(const cJSON *env, const char *version)
{
    const cJSON *v;
    char name[NODE_NAME_MAX];
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(env, "versions")) {
        if (version_name(v, name, sizeof name) && strcmp(name, version) == 0)
            return true;
    }
    return false;
}

/* An experiment's, environment's or data asset's own folder: the mode and time of its stored files'
 * root (chmod and touch keep them, as cp -a and rsync -a expect), else 0755 and `dflt_ms`. */
static void object_root_stat(fs_state *fs, const node_path *np, struct stat *st, int64_t dflt_ms)
{
    char *root = view_files_root_url(np);
    char *url = client_stat_url(root);
    free(root);
    cJSON *entry = NULL;
    if (client_get_json(fs->client, url, true, &entry, NULL) == 0)
        fill_stat(fs, st, S_IFDIR | ((mode_t)jnum(entry, "mode", 0755) & 07777), 4096, (int64_t)jnum(entry, "mtime_ms", 0));
    else
        fill_stat(fs, st, S_IFDIR | 0755, 4096, dflt_ms);
    cJSON_Delete(entry);
    free(url);
}

/* Whether a run link of an experiment exists, and its run id. */
static int run_link(fs_state *fs, const node_path *np, char **run_id, amlfs_err *err)
{
    cJSON *obj = NULL;
    int rc;
    *run_id = NULL;
    if (strcmp(np->rel, "latest") == 0) {
        rc = get_object(fs, "experiments", np->name, NULL, &obj, err);
        if (rc == 0 && !*jstr(obj, "latest_run"))
            rc = amlfs_fail(err, ENOENT, "experiment %s has no runs yet", np->name);
        if (rc == 0)
            *run_id = util_xstrdup(jstr(obj, "latest_run"));
    } else {
        rc = get_run(fs, np->rel, true, &obj, err);
        if (rc == 0 && strcmp(jstr(obj, "experiment"), np->name) != 0)
            rc = amlfs_fail(err, ENOENT, "run %s is not a run of experiment %s", np->rel, np->name);
        if (rc == 0)
            *run_id = util_xstrdup(np->rel);
    }
    cJSON_Delete(obj);
    return rc;
}

int view_stat(fs_state *fs, const node_path *np, struct stat *st, amlfs_err *err)
{
    cJSON *obj = NULL;
    int rc = 0;
    const mode_t dir = S_IFDIR | 0755, ro = S_IFREG | 0444;
    switch (np->kind) {
    case NODE_ROOT:
    case NODE_ENVS_DIR:
    case NODE_COMPUTES_DIR:
    case NODE_EXPS_DIR:
    case NODE_RUNS_DIR:
        fill_stat(fs, st, dir, 4096, 0);
        break;
    case NODE_ENV_DIR:
        rc = get_object(fs, "environments", np->name, NULL, &obj, err);
        if (rc == 0)
            object_root_stat(fs, np, st, iso_ms(jstr(obj, "updated"), 0));
        break;
    case NODE_ENV_VERSIONS_DIR:
    case NODE_ENV_VERSION_DIR:
    case NODE_ENV_BUILD_LOG:
    case NODE_ENV_CTL:
        rc = get_object(fs, "environments", np->name, NULL, &obj, err);
        if (rc != 0)
            break;
        if (np->kind == NODE_ENV_VERSION_DIR && !has_version(obj, np->version))
            rc = amlfs_fail(err, ENOENT, "environment %s has no version %s", np->name, np->version);
        else if (np->kind == NODE_ENV_BUILD_LOG)
            fill_stat(fs, st, ro, (off_t)jnum(obj, "build_log_size", 0), iso_ms(jstr(obj, "updated"), 0));
        else if (np->kind == NODE_ENV_CTL)
            fill_stat(fs, st, S_IFREG | 0600, ctl_size(obj), iso_ms(jstr(obj, "updated"), 0));
        else
            fill_stat(fs, st, dir, 4096, iso_ms(jstr(obj, "updated"), 0));
        break;
    case NODE_COMPUTE_DIR:
    case NODE_COMPUTE_YAML:
        rc = get_object(fs, "computes", np->name, NULL, &obj, err);
        if (rc != 0)
            break;
        if (np->kind == NODE_COMPUTE_DIR)
            fill_stat(fs, st, dir, 4096, 0);
        else
            fill_stat(fs, st, S_IFREG | 0644, (off_t)strlen(jstr(obj, "yaml")), 0);
        break;
    case NODE_EXP_CHARTS_DIR:
        rc = chart_folder(fs, np, NULL, err);
        if (rc == 0)
            fill_stat(fs, st, S_IFDIR | 0555, 4096, 0);
        break;
    case NODE_EXP_DIR:
    case NODE_EXP_RUNS_DIR:
        rc = get_object(fs, "experiments", np->name, NULL, &obj, err);
        if (rc == 0 && np->kind == NODE_EXP_DIR)
            object_root_stat(fs, np, st, iso_ms(jstr(obj, "created"), 0));
        else if (rc == 0)
            fill_stat(fs, st, dir, 4096, iso_ms(jstr(obj, "created"), 0));
        break;
    case NODE_EXP_RUN_LINK: {
        char *run_id = NULL;
        rc = run_link(fs, np, &run_id, err);
        if (rc == 0)
            fill_stat(fs, st, S_IFLNK | 0777, (off_t)strlen(RUN_LINK_PREFIX) + (off_t)strlen(run_id), 0);
        free(run_id);
        break;
    }
    case NODE_RUN_DIR:
    case NODE_RUN_LOG:
    case NODE_RUN_CTL:
        /* A log's size comes from the run's own answer, which a "grew" event makes stale at once; a
         * listing page kept for its second may be older than the last line. */
        rc = get_run(fs, np->name, np->kind == NODE_RUN_DIR, &obj, err);
        if (rc != 0)
            break;
        if (np->kind == NODE_RUN_DIR)
            fill_stat(fs, st, dir, 4096, iso_ms(jstr(obj, "created"), 0));
        else if (np->kind == NODE_RUN_LOG)
            fill_stat(fs, st, ro, (off_t)jnum(obj, "log_size", 0), run_mtime(obj));
        else
            fill_stat(fs, st, S_IFREG | 0600, ctl_size(obj), run_mtime(obj));
        break;
    case NODE_RUN_METRICS_DIR:
        rc = get_run(fs, np->name, true, &obj, err);
        if (rc == 0)
            fill_stat(fs, st, S_IFDIR | 0555, 4096, run_mtime(obj));
        break;
    case NODE_RUN_METRICS_JSON: /* sized by the server without writing it: a run may have a million points */
        rc = metrics_listing(fs, np, &obj, err);
        if (rc == 0)
            fill_stat(fs, st, ro, (off_t)jnum(obj, "json_size", 0), 0);
        break;
    case NODE_RUN_METRIC: {
        off_t size = 0;
        int64_t mtime = 0;
        rc = metric_lookup(fs, np, &size, &mtime, err);
        if (rc == 'f')
            fill_stat(fs, st, ro, size, mtime);
        else if (rc == 'd')
            fill_stat(fs, st, S_IFDIR | 0555, 4096, 0);
        rc = rc < 0 ? rc : 0;
        break;
    }
    case NODE_ENV_FILE:
    case NODE_DATA_FILE:
    case NODE_EXP_FILE:
        rc = view_stored_entry(fs, np, false, &obj, err);
        if (rc == 0)
            view_stat_from_entry(fs, obj, st);
        break;
    case NODE_RUN_SNAPSHOT_DIR:
    case NODE_RUN_SNAPSHOT_FILE:
    case NODE_RUN_OUTPUTS_DIR:
    case NODE_RUN_OUTPUTS_FILE:
    case NODE_DATA_VERSION_FILE:
    case NODE_DATASTORE_FILE:
        rc = run_folder_stat_entry(fs, np, &obj, err);
        if (rc == 0)
            view_stat_from_entry(fs, obj, st);
        break;
    case NODE_DATAS_DIR:
    case NODE_DATASTORES_DIR:
        fill_stat(fs, st, dir, 4096, 0);
        break;
    case NODE_DATASTORE_DIR:
    case NODE_DATASTORE_YAML:
        rc = get_object(fs, "datastores", np->name, NULL, &obj, err);
        if (rc == 0 && np->kind == NODE_DATASTORE_DIR)
            fill_stat(fs, st, dir, 4096, 0);
        else if (rc == 0)
            fill_stat(fs, st, S_IFREG | 0644, (off_t)strlen(jstr(obj, "yaml")), 0);
        break;
    case NODE_DATA_DIR:
    case NODE_DATA_VERSIONS_DIR:
        rc = get_object(fs, "data", np->name, NULL, &obj, err);
        if (rc == 0 && np->kind == NODE_DATA_DIR)
            object_root_stat(fs, np, st, 0);
        else if (rc == 0)
            fill_stat(fs, st, dir, 4096, 0);
        break;
    case NODE_DATA_VERSION_DIR: {
        char suffix[NODE_NAME_MAX + 16];
        snprintf(suffix, sizeof suffix, "/versions/%s", np->version);
        rc = get_object(fs, "data", np->name, suffix, &obj, err);
        if (rc == 0)
            fill_stat(fs, st, S_IFDIR | 0555, 4096, iso_ms(jstr(obj, "created"), 0));
        break;
    }
    case NODE_NONE:
        rc = amlfs_fail(err, ENOENT, "no such place in the mount");
        break;
    default: {
        char *text = NULL;
        size_t len = 0;
        int64_t mtime = 0;
        rc = text_of(fs, np, &text, &len, &mtime, err);
        if (rc == 0)
            fill_stat(fs, st, ro, (off_t)len, mtime);
        free(text);
    }
    }
    cJSON_Delete(obj);
    return rc;
}

/* ---- listings ---- */

/* The names of a collection's objects (its listing's array of the same name). */
static int list_names(fs_state *fs, const char *kind, const char *key, unsigned char type, dir_list *out,
                      amlfs_err *err)
{
    cJSON *obj = NULL;
    char *url = client_collection_url(kind);
    int rc = client_get_json(fs->client, url, true, &obj, err);
    free(url);
    const char *array = kind;
    if (rc < 0)
        return rc;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(obj, array)) {
        const char *name = jstr(item, key);
        if (*name)
            dir_list_add(out, name, type);
    }
    cJSON_Delete(obj);
    return 0;
}

/* A listing in the files API's shape ({"entries": [...]}) into out. With attr_timeout > 0 the entries
 * keep their attributes for that long (read-only folders: nothing of the mount's own, such as a file
 * being written, can differ from what the server listed). */
static int list_entries(fs_state *fs, const char *url, bool use_cache, double attr_timeout, dir_list *out,
                        amlfs_err *err)
{
    cJSON *obj = NULL;
    int rc = client_get_json(fs->client, url, use_cache, &obj, err);
    if (rc < 0)
        return rc;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(obj, "entries")) {
        const char *name = jstr(item, "name"), *type = jstr(item, "type");
        if (!*name)
            continue;
        if (attr_timeout > 0) {
            struct stat st;
            view_stat_from_entry(fs, item, &st);
            dir_list_add_attr(out, name, st.st_mode, st.st_size, (int64_t)jnum(item, "mtime_ms", 0), attr_timeout);
        } else {
            dir_list_add(out, name, strcmp(type, "dir") == 0       ? DT_DIR
                                    : strcmp(type, "symlink") == 0 ? DT_LNK
                                                                   : DT_REG);
        }
    }
    cJSON_Delete(obj);
    return 0;
}

static int list_stored(fs_state *fs, const node_path *np, bool root, dir_list *out, amlfs_err *err)
{
    char *url;
    if (root) {
        url = view_files_root_url(np);
    } else {
        char *entry = view_files_url(np);
        url = client_listing_url(entry);
        free(entry);
    }
    int rc = list_entries(fs, url, true, 0, out, err);
    free(url);
    return rc;
}

/* runs/ (folders) or experiments/NAME/runs/ (links), with each run's attributes as listed. */
typedef struct runs_listing {
    fs_state *fs;
    dir_list *out;
    bool links;
} runs_listing;

static int add_listed_run(void *ctx, const cJSON *run)
{
    runs_listing *l = ctx;
    const char *id = jstr(run, "id");
    if (!*id)
        return 0;
    if (l->links)
        dir_list_add_attr(l->out, id, S_IFLNK | 0777, (off_t)(strlen(RUN_LINK_PREFIX) + strlen(id)), 0,
                          FS_LASTING_TIMEOUT);
    else
        dir_list_add_attr(l->out, id, S_IFDIR | 0755, 4096, iso_ms(jstr(run, "created"), 0), FS_LASTING_TIMEOUT);
    return 0;
}

/* runs/ID/NAME, a folder: with its attributes when the run ended (they no longer change, and the
 * run's tree brought them), else its name only. */
static void add_run_folder(fs_state *fs, const char *id, const char *name, bool ended, dir_list *out)
{
    char path[NODE_NAME_MAX + 32];
    node_path child;
    struct stat st;
    snprintf(path, sizeof path, "runs/%s/%s", id, name);
    if (ended && node_classify(path, &child) != NODE_NONE && view_stat(fs, &child, &st, NULL) == 0)
        dir_list_add_attr(out, name, st.st_mode, st.st_size, (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
                          FS_LASTING_TIMEOUT);
    else
        dir_list_add(out, name, DT_DIR);
}

void view_entry_stat(fs_state *fs, const dir_entry *e, struct stat *st)
{
    fill_stat(fs, st, e->mode, e->size, e->mtime_ms);
}

int view_list(fs_state *fs, const node_path *np, dir_list *out, amlfs_err *err)
{
    cJSON *obj = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    switch (np->kind) {
    case NODE_ROOT:
        dir_list_add(out, "workspace.json", DT_REG);
        dir_list_add(out, "environments", DT_DIR);
        dir_list_add(out, "computes", DT_DIR);
        dir_list_add(out, "data", DT_DIR);
        dir_list_add(out, "datastores", DT_DIR);
        dir_list_add(out, "experiments", DT_DIR);
        dir_list_add(out, "runs", DT_DIR);
        break;
    case NODE_ENVS_DIR:
        dir_list_add(out, "status", DT_REG);
        rc = list_names(fs, "environments", "name", DT_DIR, out, err);
        break;
    case NODE_ENV_DIR:
        rc = get_object(fs, "environments", np->name, NULL, &obj, err);
        if (rc < 0)
            break;
        dir_list_add(out, "status", DT_REG);
        dir_list_add(out, "build.log", DT_REG);
        dir_list_add(out, "ctl", DT_REG);
        dir_list_add(out, "versions", DT_DIR);
        rc = list_stored(fs, np, true, out, err);
        break;
    case NODE_ENV_VERSIONS_DIR: {
        rc = get_object(fs, "environments", np->name, NULL, &obj, err);
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(obj, "versions")) {
            char name[NODE_NAME_MAX];
            if (version_name(v, name, sizeof name))
                dir_list_add(out, name, DT_DIR);
        }
        break;
    }
    case NODE_ENV_VERSION_DIR:
        dir_list_add(out, "environment.yaml", DT_REG);
        break;
    case NODE_DATAS_DIR:
        dir_list_add(out, "status", DT_REG);
        rc = list_names(fs, "data", "name", DT_DIR, out, err);
        break;
    case NODE_DATASTORES_DIR:
        dir_list_add(out, "status", DT_REG);
        rc = list_names(fs, "datastores", "name", DT_DIR, out, err);
        break;
    case NODE_DATASTORE_DIR:
    case NODE_DATASTORE_FILE: {
        /* The datastore's files (a name "datastore.yaml" or "status" among them is hidden by ours). */
        if (np->kind == NODE_DATASTORE_DIR) {
            rc = get_object(fs, "datastores", np->name, NULL, &obj, err);
            if (rc < 0)
                break;
            dir_list_add(out, "status", DT_REG);
            if (strcmp(jstr(obj, "type"), "workspace") != 0)
                dir_list_add(out, "datastore.yaml", DT_REG);
            if (!*jstr(obj, "yaml") && strcmp(jstr(obj, "type"), "workspace") != 0)
                break; /* no datastore.yaml yet: nothing to list */
        }
        char *url = run_folder_url(np, np->kind == NODE_DATASTORE_FILE ? "/" : "");
        rc = list_entries(fs, url, true, 0, out, err);
        free(url);
        break;
    }
    case NODE_DATA_DIR:
        rc = get_object(fs, "data", np->name, NULL, &obj, err);
        if (rc < 0)
            break;
        dir_list_add(out, "status", DT_REG);
        dir_list_add(out, "versions", DT_DIR);
        rc = list_stored(fs, np, true, out, err);
        break;
    case NODE_DATA_VERSIONS_DIR: {
        rc = get_object(fs, "data", np->name, NULL, &obj, err);
        const cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(obj, "versions")) {
            char num[32];
            snprintf(num, sizeof num, "%.0f", jnum(v, "version", 0));
            dir_list_add(out, num, DT_DIR);
        }
        break;
    }
    case NODE_DATA_VERSION_DIR:
    case NODE_DATA_VERSION_FILE: {
        /* A version's content, with its data.yaml beside (a content file of that name is shadowed). */
        if (np->kind == NODE_DATA_VERSION_DIR)
            dir_list_add(out, "data.yaml", DT_REG);
        char *url = run_folder_url(np, np->kind == NODE_DATA_VERSION_FILE ? "/" : "");
        rc = list_entries(fs, url, true, FS_LASTING_TIMEOUT, out, err);
        free(url);
        break;
    }
    case NODE_COMPUTES_DIR:
        dir_list_add(out, "status", DT_REG);
        rc = list_names(fs, "computes", "name", DT_DIR, out, err);
        break;
    case NODE_COMPUTE_DIR:
        dir_list_add(out, "compute.yaml", DT_REG);
        dir_list_add(out, "status", DT_REG);
        break;
    case NODE_EXPS_DIR:
        dir_list_add(out, "status", DT_REG);
        rc = list_names(fs, "experiments", "name", DT_DIR, out, err);
        break;
    case NODE_EXP_DIR:
        rc = get_object(fs, "experiments", np->name, NULL, &obj, err);
        if (rc < 0)
            break;
        dir_list_add(out, "status", DT_REG);
        dir_list_add(out, "runs", DT_DIR);
        dir_list_add(out, "metrics", DT_DIR);
        dir_list_add(out, "metrics.tsv", DT_REG);
        rc = list_stored(fs, np, true, out, err);
        break;
    case NODE_EXP_CHARTS_DIR:
        rc = chart_folder(fs, np, out, err);
        break;
    case NODE_EXP_RUNS_DIR: {
        rc = get_object(fs, "experiments", np->name, NULL, &obj, err);
        if (rc < 0)
            break;
        runs_listing l = {fs, out, true};
        rc = client_list_runs(fs->client, np->name, add_listed_run, &l, err);
        if (rc == 0 && *jstr(obj, "latest_run"))
            dir_list_add(out, "latest", DT_LNK);
        break;
    }
    case NODE_RUNS_DIR: {
        runs_listing l = {fs, out, false};
        rc = client_list_runs(fs->client, NULL, add_listed_run, &l, err);
        break;
    }
    case NODE_RUN_DIR: {
        /* An ended run's folders come with their attributes (one request for all, the run's tree):
         * `find` then looks none of them up. */
        /* Unknown (the server away, no last answer): the names alone, without a snapshot folder. */
        bool known = get_run(fs, np->name, true, &obj, NULL) == 0;
        bool ended = known && run_has_ended(obj);
        if (ended)
            client_prime_run_tree(fs->client, np->name, NULL);
        dir_list_add(out, "status", DT_REG);
        dir_list_add(out, "log", DT_REG);
        dir_list_add(out, "job.yaml", DT_REG);
        dir_list_add(out, "info.json", DT_REG);
        dir_list_add(out, "ctl", DT_REG);
        add_run_folder(fs, np->name, "outputs", ended, out);
        add_run_folder(fs, np->name, "logs", ended, out);
        add_run_folder(fs, np->name, "inputs", ended, out);
        add_run_folder(fs, np->name, "metrics", ended, out);
        dir_list_add(out, "metrics.json", DT_REG);
        dir_list_add(out, "params.json", DT_REG);
        dir_list_add(out, "tags.json", DT_REG);
        /* Runs from before snapshots were kept have none. */
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "snapshot")))
            add_run_folder(fs, np->name, "snapshot", ended, out);
        break;
    }
    case NODE_RUN_SNAPSHOT_DIR:
    case NODE_RUN_SNAPSHOT_FILE:
    case NODE_RUN_OUTPUTS_DIR:
    case NODE_RUN_OUTPUTS_FILE: {
        bool ended = view_run_ended(fs, np->name);
        if (ended && !is_run_folder_file(np->kind))
            client_prime_run_tree(fs->client, np->name, NULL);
        char *url = run_folder_url(np, is_run_folder_file(np->kind) ? "/" : "");
        double timeout = node_is_snapshot(np->kind) || ended ? FS_LASTING_TIMEOUT : FS_LIVE_TIMEOUT;
        rc = list_entries(fs, url, !node_is_run_output(np->kind) || ended, timeout, out, err);
        free(url);
        break;
    }
    case NODE_RUN_METRICS_DIR:
    case NODE_RUN_METRIC:
        rc = list_metrics(fs, np, out, err);
        break;
    case NODE_ENV_FILE:
    case NODE_DATA_FILE:
    case NODE_EXP_FILE:
        rc = list_stored(fs, np, false, out, err);
        break;
    default:
        rc = amlfs_fail(err, ENOTDIR, "not a folder");
    }
    cJSON_Delete(obj);
    if (rc < 0)
        dir_list_free(out);
    return rc;
}

/* ---- bytes and links ---- */

int view_read(fs_state *fs, const node_path *np, off_t offset, size_t size, char **data, size_t *len,
              amlfs_err *err)
{
    *data = NULL;
    *len = 0;
    if (size == 0) {
        *data = util_xcalloc(1, 1);
        return 0;
    }
    char *url;
    if (np->kind == NODE_RUN_LOG)
        url = object_url("runs", np->name, "/log");
    else if (np->kind == NODE_ENV_BUILD_LOG)
        url = object_url("environments", np->name, "/build-log");
    else if (np->kind == NODE_RUN_METRIC)
        url = metrics_url(np);
    else if (node_is_stored(np->kind))
        url = view_files_url(np);
    else if (is_run_folder_file(np->kind))
        url = run_folder_url(np, "");
    else
        return amlfs_fail(err, EINVAL, "not a file with bytes");
    /* A short read tells the kernel "end of file" (it may even shrink its idea of the size): when the
     * server sends less than asked while its X-Log-Size says more exists, ask for the rest. */
    int rc = 0;
    char *buf = NULL;
    size_t got = 0;
    while (got < size) {
        char *chunk = NULL;
        size_t n = 0;
        long long total = -1;
        rc = client_get_bytes(fs->client, url, offset + (off_t)got, size - got, &chunk, &n, &total, err);
        if (rc < 0)
            break;
        bool whole = got == 0 && (n == size || n == 0 || total < 0 || offset + (off_t)n >= (off_t)total);
        if (whole) { /* the usual case: the answer is the read, kept as it came (a 4 MiB block) */
            buf = chunk;
            got = n;
            break;
        }
        if (!buf)
            buf = util_xcalloc(1, size + 1);
        memcpy(buf + got, chunk, n);
        got += n;
        free(chunk);
        if (n == 0 || total < 0 || offset + (off_t)got >= (off_t)total)
            break;
    }
    free(url);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf ? buf : util_xcalloc(1, 1);
    *len = got;
    return 0;
}

int view_readlink(fs_state *fs, const node_path *np, char **target, amlfs_err *err)
{
    *target = NULL;
    if (np->kind == NODE_EXP_RUN_LINK) {
        char *run_id = NULL;
        int rc = run_link(fs, np, &run_id, err);
        if (rc == 0)
            *target = util_strdupf(RUN_LINK_PREFIX "%s", run_id);
        free(run_id);
        return rc;
    }
    if (!node_is_stored(np->kind) && !is_run_folder_file(np->kind))
        return amlfs_fail(err, EINVAL, "not a symlink");
    cJSON *entry = NULL;
    int rc = is_run_folder_file(np->kind) ? run_folder_stat_entry(fs, np, &entry, err)
                                          : view_stored_entry(fs, np, false, &entry, err);
    if (rc == 0 && strcmp(jstr(entry, "type"), "symlink") != 0)
        rc = amlfs_fail(err, EINVAL, "not a symlink");
    if (rc == 0)
        *target = util_xstrdup(jstr(entry, "target"));
    cJSON_Delete(entry);
    return rc;
}
