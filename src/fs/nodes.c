/* nodes.c: what a path of the mount is, from its shape alone: the tree of the mount contract in one
 * place, plus which files are specs (whose finished write is an action) and which are editor scratch. */
#include "amlfs/fs.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

#define MAX_PARTS 4 /* enough to tell every fixed node apart; deeper paths are stored files */

typedef struct parts {
    size_t n;                   /* parts seen, up to MAX_PARTS + 1 ("more") */
    const char *start[MAX_PARTS + 1];
    size_t len[MAX_PARTS + 1];
} parts;

static void split(const char *path, parts *p)
{
    memset(p, 0, sizeof *p);
    const char *s = path;
    while (*s && p->n <= MAX_PARTS) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        p->start[p->n] = s;
        p->len[p->n] = n;
        p->n++;
        if (!slash)
            break;
        s = slash + 1;
    }
}

static bool is(const parts *p, size_t i, const char *word)
{
    return i < p->n && p->len[i] == strlen(word) && strncmp(p->start[i], word, p->len[i]) == 0;
}

/* Copy part i into out->name if it is a valid object name. */
static bool take_name(const parts *p, size_t i, node_path *out, bool strict)
{
    if (i >= p->n || p->len[i] == 0 || p->len[i] >= NODE_NAME_MAX)
        return false;
    memcpy(out->name, p->start[i], p->len[i]);
    out->name[p->len[i]] = '\0';
    if (strcmp(out->name, ".") == 0 || strcmp(out->name, "..") == 0)
        return false;
    return !strict || util_check_name("object", out->name, NULL) == 0;
}

/* A stored-folder path must be made of real names (no empty, '.' or '..' parts). */
static bool stored_rel_ok(const char *rel)
{
    return util_check_relpath(rel, NULL) == 0;
}

static node_kind classify_environments(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_ENVS_DIR;
    if (p->n == 2 && is(p, 1, "status"))
        return NODE_ENVS_STATUS;
    if (!take_name(p, 1, out, true))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_ENV_DIR;
    if (p->n == 3 && is(p, 2, "status"))
        return NODE_ENV_STATUS;
    if (p->n == 3 && is(p, 2, "build.log"))
        return NODE_ENV_BUILD_LOG;
    if (p->n == 3 && is(p, 2, "ctl"))
        return NODE_ENV_CTL;
    if (is(p, 2, "status") || is(p, 2, "build.log") || is(p, 2, "ctl"))
        return NODE_NONE; /* reserved names: nothing lives below them */
    if (is(p, 2, "versions")) {
        if (p->n == 3)
            return NODE_ENV_VERSIONS_DIR;
        /* A version is a number or a name (22.02-py3): a valid name either way. */
        if (p->len[3] == 0 || p->len[3] >= sizeof out->version)
            return NODE_NONE;
        memcpy(out->version, p->start[3], p->len[3]);
        out->version[p->len[3]] = '\0';
        if (util_check_name("version", out->version, NULL) < 0)
            return NODE_NONE;
        if (p->n == 4)
            return NODE_ENV_VERSION_DIR;
        if (p->n == 5 && is(p, 4, "environment.yaml") && !strchr(p->start[4], '/'))
            return NODE_ENV_VERSION_YAML;
        return NODE_NONE;
    }
    out->rel = p->start[2];
    return stored_rel_ok(out->rel) ? NODE_ENV_FILE : NODE_NONE;
}

/* A version number part: digits, no leading zero. */
static bool take_version(const parts *p, size_t i, node_path *out)
{
    char digits[24];
    if (i >= p->n || p->len[i] == 0 || p->len[i] >= sizeof digits)
        return false;
    memcpy(digits, p->start[i], p->len[i]);
    digits[p->len[i]] = '\0';
    char *end;
    long v = strtol(digits, &end, 10);
    if (*end || v <= 0 || digits[0] == '0')
        return false;
    memcpy(out->version, digits, p->len[i] + 1);
    return true;
}

static node_kind classify_data(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_DATAS_DIR;
    if (p->n == 2 && is(p, 1, "status"))
        return NODE_DATAS_STATUS;
    if (!take_name(p, 1, out, true))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_DATA_DIR;
    if (is(p, 2, "status"))
        return p->n == 3 ? NODE_DATA_STATUS : NODE_NONE;
    if (is(p, 2, "versions")) {
        if (p->n == 3)
            return NODE_DATA_VERSIONS_DIR;
        if (!take_version(p, 3, out))
            return NODE_NONE;
        if (p->n == 4)
            return NODE_DATA_VERSION_DIR;
        if (p->n == 5 && is(p, 4, "data.yaml") && !strchr(p->start[4], '/'))
            return NODE_DATA_VERSION_YAML;
        out->rel = p->start[4];
        return stored_rel_ok(out->rel) ? NODE_DATA_VERSION_FILE : NODE_NONE;
    }
    out->rel = p->start[2];
    return stored_rel_ok(out->rel) ? NODE_DATA_FILE : NODE_NONE;
}

static node_kind classify_datastores(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_DATASTORES_DIR;
    if (p->n == 2 && is(p, 1, "status"))
        return NODE_DATASTORES_STATUS;
    if (!take_name(p, 1, out, true))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_DATASTORE_DIR;
    if (p->n == 3 && is(p, 2, "datastore.yaml"))
        return NODE_DATASTORE_YAML;
    if (p->n == 3 && is(p, 2, "status"))
        return NODE_DATASTORE_STATUS;
    out->rel = p->start[2];
    return stored_rel_ok(out->rel) ? NODE_DATASTORE_FILE : NODE_NONE;
}

static node_kind classify_computes(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_COMPUTES_DIR;
    if (p->n == 2 && is(p, 1, "status"))
        return NODE_COMPUTES_STATUS;
    if (!take_name(p, 1, out, true))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_COMPUTE_DIR;
    if (p->n == 3 && is(p, 2, "compute.yaml"))
        return NODE_COMPUTE_YAML;
    if (p->n == 3 && is(p, 2, "status"))
        return NODE_COMPUTE_STATUS;
    return NODE_NONE;
}

/* A chart of metrics/: "NAME.svg" (a series named like that is not shown as a series). */
static bool ends_with_svg(const char *rel)
{
    size_t len = strlen(rel);
    return len > 4 && strcmp(rel + len - 4, ".svg") == 0;
}

static node_kind classify_experiments(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_EXPS_DIR;
    if (p->n == 2 && is(p, 1, "status"))
        return NODE_EXPS_STATUS;
    if (!take_name(p, 1, out, true))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_EXP_DIR;
    if (is(p, 2, "status"))
        return p->n == 3 ? NODE_EXP_STATUS : NODE_NONE;
    if (is(p, 2, "metrics.tsv"))
        return p->n == 3 ? NODE_EXP_METRICS_TSV : NODE_NONE;
    if (is(p, 2, "metrics")) {
        if (p->n == 3)
            return NODE_EXP_CHARTS_DIR;
        out->rel = p->start[3];
        if (!stored_rel_ok(out->rel))
            return NODE_NONE;
        return ends_with_svg(out->rel) ? NODE_EXP_CHART : NODE_EXP_CHARTS_DIR;
    }
    if (is(p, 2, "runs")) {
        if (p->n == 3)
            return NODE_EXP_RUNS_DIR;
        if (p->n == 4 && p->len[3] > 0 && !is(p, 3, ".") && !is(p, 3, "..")) {
            out->rel = p->start[3];
            return NODE_EXP_RUN_LINK;
        }
        return NODE_NONE;
    }
    out->rel = p->start[2];
    return stored_rel_ok(out->rel) ? NODE_EXP_FILE : NODE_NONE;
}

static node_kind classify_runs(const parts *p, node_path *out)
{
    if (p->n == 1)
        return NODE_RUNS_DIR;
    if (!take_name(p, 1, out, false))
        return NODE_NONE;
    if (p->n == 2)
        return NODE_RUN_DIR;
    if (is(p, 2, "snapshot")) {
        if (p->n == 3)
            return NODE_RUN_SNAPSHOT_DIR;
        out->rel = p->start[3];
        return stored_rel_ok(out->rel) ? NODE_RUN_SNAPSHOT_FILE : NODE_NONE;
    }
    if (is(p, 2, "outputs") || is(p, 2, "logs") || is(p, 2, "inputs")) {
        out->folder = is(p, 2, "outputs") ? "outputs" : is(p, 2, "logs") ? "logs" : "inputs";
        if (p->n == 3)
            return NODE_RUN_OUTPUTS_DIR;
        out->rel = p->start[3];
        return stored_rel_ok(out->rel) ? NODE_RUN_OUTPUTS_FILE : NODE_NONE;
    }
    if (is(p, 2, "metrics")) {
        if (p->n == 3)
            return NODE_RUN_METRICS_DIR;
        out->rel = p->start[3];
        if (!stored_rel_ok(out->rel))
            return NODE_NONE;
        return ends_with_svg(out->rel) ? NODE_RUN_METRIC_SVG : NODE_RUN_METRIC;
    }
    if (p->n != 3)
        return NODE_NONE;
    if (is(p, 2, "status"))
        return NODE_RUN_STATUS;
    if (is(p, 2, "metrics.json"))
        return NODE_RUN_METRICS_JSON;
    if (is(p, 2, "params.json"))
        return NODE_RUN_PARAMS_JSON;
    if (is(p, 2, "tags.json"))
        return NODE_RUN_TAGS_JSON;
    if (is(p, 2, "log"))
        return NODE_RUN_LOG;
    if (is(p, 2, "job.yaml"))
        return NODE_RUN_JOB_YAML;
    if (is(p, 2, "info.json"))
        return NODE_RUN_INFO;
    if (is(p, 2, "ctl"))
        return NODE_RUN_CTL;
    return NODE_NONE;
}

node_kind node_classify(const char *path, node_path *out)
{
    memset(out, 0, sizeof *out);
    parts p;
    node_kind kind = NODE_NONE;
    if (!path || path[0] == '/')
        return out->kind = NODE_NONE;
    if (path[0] == '\0')
        return out->kind = NODE_ROOT;
    split(path, &p);
    if (is(&p, 0, "workspace.json"))
        kind = p.n == 1 ? NODE_WORKSPACE_JSON : NODE_NONE;
    else if (is(&p, 0, "environments"))
        kind = classify_environments(&p, out);
    else if (is(&p, 0, "computes"))
        kind = classify_computes(&p, out);
    else if (is(&p, 0, "data"))
        kind = classify_data(&p, out);
    else if (is(&p, 0, "datastores"))
        kind = classify_datastores(&p, out);
    else if (is(&p, 0, "experiments"))
        kind = classify_experiments(&p, out);
    else if (is(&p, 0, "runs"))
        kind = classify_runs(&p, out);
    /* A trailing '/' or an empty part anywhere is not a path of the tree. */
    if (kind != NODE_NONE && (strstr(path, "//") || path[strlen(path) - 1] == '/'))
        kind = NODE_NONE;
    if (kind == NODE_NONE)
        memset(out, 0, sizeof *out);
    out->kind = kind;
    return kind;
}

/* Every node kind's traits in one table: what it is (a generated text, a stored file, a fixed folder,
 * ...), whether it is read-only, and how long the kernel may keep its name and attributes. */
enum {
    T_GENERATED = 1 << 0,       /* small text made from an API object at open */
    T_LIVE = 1 << 1,            /* generated, and rewritten in place as state changes */
    T_STORED = 1 << 2,          /* a file or folder the user writes, kept by the server */
    T_FIXED_DIR = 1 << 3,       /* a folder of the tree itself */
    T_SNAPSHOT = 1 << 4,        /* content that never changes once it exists */
    T_RUN_OUTPUT = 1 << 5,      /* what a run's job writes, changing while it goes */
    T_READ_ONLY = 1 << 6,
    T_LARGE = 1 << 7,           /* generated, and may be large: kept in a temp file while open, not in memory */
};

typedef struct node_traits {
    unsigned flags;
    node_cache cache;
} node_traits;

#define GEN_LIVE (T_GENERATED | T_LIVE | T_READ_ONLY)
#define GEN_FIXED (T_GENERATED | T_READ_ONLY) /* never changes once it exists */

static const node_traits TRAITS[] = {
    [NODE_NONE] = {0, CACHE_USUAL},
    [NODE_ROOT] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_WORKSPACE_JSON] = {GEN_LIVE, CACHE_USUAL},
    [NODE_ENVS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_ENVS_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_ENV_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_ENV_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_ENV_BUILD_LOG] = {T_READ_ONLY, CACHE_USUAL},
    [NODE_ENV_CTL] = {0, CACHE_USUAL},
    [NODE_ENV_VERSIONS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_ENV_VERSION_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_ENV_VERSION_YAML] = {GEN_FIXED, CACHE_USUAL},
    [NODE_ENV_FILE] = {T_STORED, CACHE_USUAL},
    [NODE_DATAS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_DATAS_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_DATA_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_DATA_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_DATA_VERSIONS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_DATA_VERSION_DIR] = {T_FIXED_DIR | T_SNAPSHOT | T_READ_ONLY, CACHE_USUAL},
    [NODE_DATA_VERSION_YAML] = {GEN_FIXED, CACHE_USUAL},
    [NODE_DATA_VERSION_FILE] = {T_SNAPSHOT | T_READ_ONLY, CACHE_USUAL},
    [NODE_DATA_FILE] = {T_STORED, CACHE_USUAL},
    [NODE_DATASTORES_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_DATASTORES_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_DATASTORE_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_DATASTORE_YAML] = {0, CACHE_USUAL},
    [NODE_DATASTORE_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_DATASTORE_FILE] = {T_READ_ONLY, CACHE_USUAL},
    [NODE_COMPUTES_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_COMPUTES_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_COMPUTE_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_COMPUTE_YAML] = {0, CACHE_USUAL},
    [NODE_COMPUTE_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_EXPS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_EXPS_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_EXP_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    [NODE_EXP_STATUS] = {GEN_LIVE, CACHE_USUAL},
    [NODE_EXP_RUNS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    /* A run's link never changes while the run exists (`latest` does: it is told apart by name). */
    [NODE_EXP_RUN_LINK] = {T_READ_ONLY, CACHE_LASTING},
    [NODE_EXP_FILE] = {T_STORED, CACHE_USUAL},
    [NODE_EXP_METRICS_TSV] = {GEN_LIVE, CACHE_USUAL},
    [NODE_EXP_CHARTS_DIR] = {T_FIXED_DIR | T_READ_ONLY, CACHE_USUAL},
    [NODE_EXP_CHART] = {GEN_LIVE, CACHE_USUAL},
    [NODE_RUNS_DIR] = {T_FIXED_DIR, CACHE_USUAL},
    /* A run's folder: its mode and time (when it was created) never change. */
    [NODE_RUN_DIR] = {T_FIXED_DIR, CACHE_LASTING},
    [NODE_RUN_STATUS] = {GEN_LIVE, CACHE_RUN},
    [NODE_RUN_LOG] = {T_READ_ONLY, CACHE_RUN},
    [NODE_RUN_JOB_YAML] = {GEN_FIXED, CACHE_RUN},
    [NODE_RUN_INFO] = {GEN_LIVE, CACHE_RUN},
    [NODE_RUN_CTL] = {0, CACHE_RUN},
    [NODE_RUN_SNAPSHOT_DIR] = {T_FIXED_DIR | T_SNAPSHOT | T_READ_ONLY, CACHE_RUN},
    [NODE_RUN_SNAPSHOT_FILE] = {T_SNAPSHOT | T_READ_ONLY, CACHE_RUN},
    [NODE_RUN_OUTPUTS_DIR] = {T_FIXED_DIR | T_RUN_OUTPUT | T_READ_ONLY, CACHE_RUN_LIVE},
    [NODE_RUN_OUTPUTS_FILE] = {T_RUN_OUTPUT | T_READ_ONLY, CACHE_RUN_LIVE},
    [NODE_RUN_METRICS_DIR] = {T_FIXED_DIR | T_READ_ONLY, CACHE_RUN},
    [NODE_RUN_METRIC] = {T_READ_ONLY, CACHE_RUN},
    [NODE_RUN_METRIC_SVG] = {GEN_LIVE, CACHE_RUN},
    /* A million points make 60 MB of JSON. */
    [NODE_RUN_METRICS_JSON] = {GEN_LIVE | T_LARGE, CACHE_RUN},
    [NODE_RUN_PARAMS_JSON] = {GEN_LIVE, CACHE_RUN},
    [NODE_RUN_TAGS_JSON] = {GEN_LIVE, CACHE_RUN},
};

_Static_assert(sizeof TRAITS / sizeof TRAITS[0] == NODE_RUN_TAGS_JSON + 1, "a node kind without traits");

static const node_traits *traits(node_kind kind)
{
    static const node_traits none = {0, CACHE_USUAL};
    return (size_t)kind < sizeof TRAITS / sizeof TRAITS[0] ? &TRAITS[kind] : &none;
}

bool node_is_generated_text(node_kind kind)
{
    return traits(kind)->flags & T_GENERATED;
}

bool node_is_live_text(node_kind kind)
{
    return traits(kind)->flags & T_LIVE;
}

bool node_is_large_text(node_kind kind)
{
    return traits(kind)->flags & T_LARGE;
}

bool node_is_stored(node_kind kind)
{
    return traits(kind)->flags & T_STORED;
}

const char *node_object_spec_collection(node_kind kind)
{
    return kind == NODE_COMPUTE_YAML ? "computes" : kind == NODE_DATASTORE_YAML ? "datastores" : NULL;
}

bool node_is_fixed_dir(node_kind kind)
{
    return traits(kind)->flags & T_FIXED_DIR;
}

bool node_is_snapshot(node_kind kind)
{
    return traits(kind)->flags & T_SNAPSHOT;
}

bool node_is_run_output(node_kind kind)
{
    return traits(kind)->flags & T_RUN_OUTPUT;
}

bool node_is_read_only(node_kind kind)
{
    return traits(kind)->flags & T_READ_ONLY;
}

node_cache node_cache_policy(node_kind kind)
{
    return traits(kind)->cache;
}

static const char *basename_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return slash ? slash + 1 : rel;
}

spec_kind node_spec_kind(const node_path *np, char **dir)
{
    if (dir)
        *dir = NULL;
    /* Said for the reader: the exact spec names below never match a scratch name anyway. */
    if (np->rel && node_is_scratch_name(basename_of(np->rel)))
        return SPEC_NONE;
    switch (np->kind) {
    case NODE_COMPUTE_YAML:
        return SPEC_COMPUTE;
    case NODE_DATASTORE_YAML:
        return SPEC_DATASTORE;
    case NODE_ENV_FILE:
        return strcmp(np->rel, "environment.yaml") == 0 ? SPEC_ENVIRONMENT : SPEC_NONE;
    case NODE_DATA_FILE:
        return strcmp(np->rel, "data.yaml") == 0 ? SPEC_DATA : SPEC_NONE;
    case NODE_EXP_FILE:
        /* Only the experiment's own job.yaml: one in a subfolder (a copied repo's configs/x/job.yaml, a
         * Kubernetes k8s/job.yaml) is code like any other file. */
        if (strcmp(np->rel, "job.yaml") != 0)
            return SPEC_NONE;
        if (dir)
            *dir = util_xstrdup("");
        return SPEC_JOB;
    default:
        return SPEC_NONE;
    }
}

bool node_is_scratch_name(const char *name)
{
    return util_is_editor_scratch(name);
}
