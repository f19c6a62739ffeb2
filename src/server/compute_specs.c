/* compute_specs.c: what a compute.yaml makes (local, slurm, amlcompute), checked against the cluster it
 * names; mkdir and rmdir of computes/NAME; and what a job may ask of a compute at submission. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/compute_slurm.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

#define LOCAL "local"
#define B(s) (1u << (s))
#define LIVE_MASK                                                                                  \
    (B(RUN_NOT_STARTED) | B(RUN_QUEUED) | B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) |  \
     B(RUN_CANCEL_REQUESTED))
/* az ml's default for an amlcompute cluster's size. */
#define AMLCOMPUTE_DEFAULT_MAX 4
#define CLUSTER_DEFAULT_MAX 4
#define OFFERED_TYPES "local (this machine; computes/local only), slurm, amlcompute"

/* Keys of a local compute.yaml beyond the common ones: limits for each container run. */
static const char *const local_extra_keys[] = {"container_memory", "container_cpus", NULL};

/* "512m", "2g", "1073741824": what podman --memory takes. */
static bool memory_ok(const char *v)
{
    size_t digits = strspn(v, "0123456789");
    return digits > 0 && (v[digits] == '\0' || (strchr("bkmgBKMG", v[digits]) && v[digits + 1] == '\0'));
}

/* "1", "0.5", "1.5": what podman --cpus takes, above 0. */
static bool cpus_ok(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    return *v && *end == '\0' && strspn(v, "0123456789.") == strlen(v) && d > 0;
}

static int validate_local_extras(const compute_spec *spec, const char *filename, amlfs_err *err)
{
    for (size_t i = 0; i < spec->extra.count; i++) {
        const spec_kv *kv = &spec->extra.items[i];
        bool memory = strcmp(kv->key, local_extra_keys[0]) == 0, cpus = strcmp(kv->key, local_extra_keys[1]) == 0;
        if (!memory && !cpus)
            return spec_fail_at(err, EINVAL, filename, kv->pos,
                                "unknown key '%s' for a local compute (known beyond the common keys: "
                                "container_memory, container_cpus)", kv->key);
        if (memory && !memory_ok(kv->value))
            return spec_fail_at(err, EINVAL, filename, kv->pos,
                                "container_memory must be a size like 512m or 2g, not '%s'", kv->value);
        if (cpus && !cpus_ok(kv->value))
            return spec_fail_at(err, EINVAL, filename, kv->pos,
                                "container_cpus must be a number of CPUs above 0 like 1 or 0.5, not '%s'",
                                kv->value);
    }
    return 0;
}

int server_compute_container_limits(server *srv, const char *name, char **memory, char **cpus)
{
    *memory = *cpus = NULL;
    store_compute stored;
    amlfs_err ignored = {0};
    if (store_compute_get(srv->store, name, &stored, &ignored) < 0)
        return 0; /* no stored settings: no limits */
    compute_spec spec;
    if (spec_parse_compute(stored.yaml, strlen(stored.yaml), "compute.yaml", &spec, &ignored) == 0) {
        const char *m = spec_kvlist_get(&spec.extra, local_extra_keys[0]);
        const char *c = spec_kvlist_get(&spec.extra, local_extra_keys[1]);
        *memory = m && *m ? util_xstrdup(m) : NULL;
        *cpus = c && *c ? util_xstrdup(c) : NULL;
        spec_compute_free(&spec);
    }
    store_compute_free(&stored);
    return 0;
}

/* The workspace's default cluster (amlfs-server --default-cluster), or NULL. malloc'd. */
static char *default_cluster(server *srv)
{
    char *name = NULL;
    amlfs_err ignored = {0};
    if (store_meta_get(srv->store, "default_cluster", &name, &ignored) < 0 || !name[0]) {
        free(name);
        return NULL;
    }
    return name;
}

/* An amlcompute runs on the default cluster's Slurm settings, with its own name and size; or, when the
 * workspace has no default cluster, on this machine. */
static compute *build_amlcompute(server *srv, const char *name, const compute_spec *spec, const char *filename,
                                 amlfs_err *err)
{
    int max = spec->max_instances > 0 ? spec->max_instances : AMLCOMPUTE_DEFAULT_MAX;
    char *cluster = default_cluster(srv);
    if (!cluster)
        return compute_local_new(name, max, srv->exe, err);
    compute *c = NULL;
    store_compute backing;
    if (store_compute_get(srv->store, cluster, &backing, err) < 0) {
        spec_fail_at(err, ENOENT, filename, spec->type_pos,
                     "the workspace's default cluster '%s' (amlfs-server --default-cluster) is not a compute here: "
                     "create computes/%s with `type: slurm` first", cluster, cluster);
        free(cluster);
        return NULL;
    }
    compute_spec cluster_spec;
    if (strcmp(backing.type, "slurm") != 0) {
        spec_fail_at(err, EINVAL, filename, spec->type_pos,
                     "the workspace's default cluster '%s' is of type '%s', not slurm", cluster,
                     backing.type[0] ? backing.type : "(none: no compute.yaml yet)");
    } else if (spec_parse_compute(backing.yaml, strlen(backing.yaml), "compute.yaml", &cluster_spec, err) == 0) {
        char *where = util_strdupf("computes/%s/compute.yaml", cluster);
        c = compute_slurm_new(name, &cluster_spec, where, max, srv->exe, err);
        free(where);
        spec_compute_free(&cluster_spec);
    }
    store_compute_free(&backing);
    free(cluster);
    return c;
}

static int build_from_spec(server *srv, const char *name, const compute_spec *spec, const char *filename,
                           compute **out, amlfs_err *err)
{
    *out = NULL;
    if (spec->name && strcmp(spec->name, name) != 0)
        return spec_fail_at(err, EINVAL, filename, spec->name_pos, "name '%s' differs from the folder '%s'",
                            spec->name, name);
    const char *type = spec->type ? spec->type : (strcmp(name, LOCAL) == 0 ? LOCAL : NULL);
    if (!type)
        return spec_fail_at(err, EINVAL, filename, (spec_pos){1, 1},
                            "'type' is missing: write the compute type (offered here: " OFFERED_TYPES ")");
    if (strcmp(type, LOCAL) == 0) {
        if (strcmp(name, LOCAL) != 0)
            return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                                "type 'local' is this server's own machine, which is the compute 'local'; write "
                                "local/compute.yaml instead, or use `type: amlcompute` for a second queue here");
        int rc = validate_local_extras(spec, filename, err);
        if (rc < 0)
            return rc;
        compute *current = server_compute_get(srv, LOCAL);
        int max = spec->max_instances > 0 ? spec->max_instances : current ? server_compute_max(srv, current) : 1;
        server_compute_release(srv, current);
        *out = compute_local_new(name, max, srv->exe, err);
    } else if (strcmp(name, LOCAL) == 0) {
        return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                            "computes/local is this machine and stays `type: local`; make another folder under "
                            "computes/ for a compute of type '%s'", type);
    } else if (strcmp(type, "slurm") == 0) {
        *out = compute_slurm_new(name, spec, filename, spec->max_instances > 0 ? spec->max_instances : CLUSTER_DEFAULT_MAX,
                                 srv->exe, err);
    } else if (strcmp(type, "amlcompute") == 0) {
        if (spec->extra.count > 0)
            return spec_fail_at(err, EINVAL, filename, spec->extra.items[0].pos,
                                "unknown key '%s' for an amlcompute", spec->extra.items[0].key);
        *out = build_amlcompute(srv, name, spec, filename, err);
    } else {
        return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                            "compute type '%s' is not offered by this workspace (offered: " OFFERED_TYPES ")", type);
    }
    return *out ? 0 : (err->code ? -err->code : -EINVAL);
}

int server_compute_build(server *srv, const char *name, const char *yaml, compute **out, amlfs_err *err)
{
    compute_spec spec;
    int rc = spec_parse_compute(yaml, strlen(yaml), "compute.yaml", &spec, err);
    if (rc == 0)
        rc = build_from_spec(srv, name, &spec, "compute.yaml", out, err);
    spec_compute_free(&spec);
    return rc;
}

/* A compute that exists shows a rejection in its own status, a new name in the folder's. */
static void set_rejection(server *srv, const char *name, bool exists, const amlfs_err *why)
{
    char *key = util_strdupf("computes/%s", name);
    server_folder_status(srv, exists ? key : "computes", why);
    free(key);
}

/* The first live run on compute NAME, for an EBUSY message; NULL when none. malloc'd. */
static char *live_run_on(server *srv, const char *name)
{
    store_run *runs;
    size_t n;
    amlfs_err ignored = {0};
    if (store_run_list_by_status(srv->store, LIVE_MASK, name, STORE_ANY, 1, &runs, &n, &ignored) < 0)
        return util_xstrdup("(unknown: the workspace database did not answer)");
    char *id = n ? util_xstrdup(runs[0].id) : NULL;
    store_run_list_free(runs, n);
    return id;
}

/* amlcomputes are built on the default cluster's settings: when those change, they follow. */
static void rebuild_dependents(server *srv, const char *cluster)
{
    char *dflt = default_cluster(srv);
    bool is_default = dflt && strcmp(dflt, cluster) == 0;
    free(dflt);
    if (!is_default)
        return;
    store_compute *list;
    size_t n;
    amlfs_err err = {0};
    if (store_compute_list(srv->store, &list, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].type, "amlcompute") != 0)
            continue;
        compute *c = NULL;
        amlfs_err why = {0};
        if (server_compute_build(srv, list[i].name, list[i].yaml, &c, &why) < 0)
            log_warning("compute %s follows %s: %s", list[i].name, cluster, why.msg);
        else
            server_compute_install(srv, list[i].name, c);
        events_emitf(srv->events, "changed", -1, "computes/%s", list[i].name);
    }
    store_compute_list_free(list, n);
}

int server_compute_put(server *srv, const char *name, const char *yaml, size_t len, const char *filename,
                       amlfs_err *err)
{
    int r = util_check_name("compute", name, err);
    if (r < 0)
        return r;
    store_compute old;
    r = store_compute_get(srv->store, name, &old, err);
    if (r < 0 && r != -ENOENT)
        return r;
    bool exists = r == 0;
    compute_spec spec;
    compute *c = NULL;
    r = spec_parse_compute(yaml, len, filename, &spec, err);
    if (r == 0)
        r = build_from_spec(srv, name, &spec, filename, &c, err);
    char *busy = NULL;
    const char *type = r == 0 && spec.type ? spec.type : LOCAL;
    if (r == 0 && exists && old.type[0] && strcmp(old.type, type) != 0 && (busy = live_run_on(srv, name)))
        r = amlfs_fail(err, EBUSY, "compute '%s' is %s and run %s uses it: wait for its runs to end before "
                       "changing its type", name, old.type, busy);
    free(busy);
    if (r < 0) {
        compute_destroy(c);
        spec_compute_free(&spec);
        set_rejection(srv, name, exists, err);
        if (exists)
            store_compute_free(&old);
        return r;
    }
    /* Reaching the cluster may take seconds: no lock is held meanwhile. */
    amlfs_err why = {0};
    bool ok = !c->ops->check || c->ops->check(c, &why) == 0;
    store_compute stored = {
        .name = (char *)name, .type = (char *)type, .yaml = (char *)yaml, .max_instances = c->max_instances,
        .state = ok ? "Succeeded" : "Failed", .reason = ok ? NULL : why.msg,
    };
    r = store_compute_put(srv->store, &stored, err);
    spec_compute_free(&spec);
    if (exists)
        store_compute_free(&old);
    if (r < 0) {
        compute_destroy(c);
        return r;
    }
    server_compute_install(srv, name, c);
    set_rejection(srv, name, true, NULL);
    if (!exists)
        server_folder_status(srv, "computes", NULL);
    events_emitf(srv->events, exists ? "changed" : "created", -1, "computes/%s", name);
    rebuild_dependents(srv, name);
    scheduler_kick(srv->scheduler);
    return 0;
}

int server_compute_create(server *srv, const char *name, amlfs_err *err)
{
    int r = util_check_name("compute", name, err);
    if (r == 0)
        r = store_compute_create(srv->store, name, err);
    server_folder_status(srv, "computes", r < 0 ? err : NULL);
    if (r == 0) {
        server_compute_install(srv, name, NULL);
        events_emitf(srv->events, "created", -1, "computes/%s", name);
    }
    return r;
}

int server_compute_delete(server *srv, const char *name, amlfs_err *err)
{
    store_compute c;
    int r = store_compute_get(srv->store, name, &c, err);
    if (r < 0) {
        server_folder_status(srv, "computes", err);
        return r;
    }
    char *busy = NULL, *dflt = default_cluster(srv);
    if (strcmp(name, LOCAL) == 0)
        r = amlfs_fail(err, EPERM, "computes/local is this machine and cannot be removed");
    else if ((busy = live_run_on(srv, name)))
        r = amlfs_fail(err, EBUSY, "compute '%s' is used by run %s, which has not ended: cancel it or wait", name,
                       busy);
    else if (dflt && strcmp(dflt, name) == 0)
        r = amlfs_fail(err, EBUSY, "compute '%s' is the workspace's default cluster (amlfs-server "
                       "--default-cluster): amlcompute computes run on it", name);
    if (r == 0)
        r = store_compute_delete(srv->store, name, err);
    free(busy);
    free(dflt);
    store_compute_free(&c);
    server_folder_status(srv, "computes", r < 0 ? err : NULL);
    if (r < 0)
        return r;
    char *key = util_strdupf("computes/%s", name);
    amlfs_err ignored = {0};
    store_folder_status_set(srv->store, key, "", &ignored);
    free(key);
    server_compute_uninstall(srv, name);
    events_emitf(srv->events, "deleted", -1, "computes/%s", name);
    return 0;
}

int server_compute_usable(server *srv, const char *name, int nodes, amlfs_err *err)
{
    store_compute stored;
    int r = store_compute_get(srv->store, name, &stored, err);
    if (r < 0)
        return r;
    if (strcmp(stored.state, "Draft") == 0 || !stored.yaml[0])
        r = amlfs_fail(err, ENOENT, "compute '%s' has no compute.yaml yet: write computes/%s/compute.yaml", name,
                       name);
    else if (strcmp(stored.state, "Failed") == 0)
        r = amlfs_fail(err, EHOSTUNREACH, "compute '%s' is Failed: %s; fix computes/%s/compute.yaml and save it "
                       "again", name, stored.reason ? stored.reason : "no reason recorded", name);
    store_compute_free(&stored);
    if (r < 0)
        return r;
    compute *c = server_compute_get(srv, name);
    if (!c)
        return amlfs_fail(err, ENOENT, "compute '%s' could not be set up from its compute.yaml: save it again to "
                          "see why", name);
    compute_capacity cap = {0};
    if (c->ops->capacity)
        c->ops->capacity(c, &cap);
    if (cap.nodes > 0 && nodes > cap.nodes)
        r = amlfs_fail(err, EINVAL, "resources.instance_count is %d but compute '%s' has %d node%s", nodes, name,
                       cap.nodes, cap.nodes == 1 ? "" : "s");
    server_compute_release(srv, c);
    return r;
}
