/* computes.c: the compute targets the server runs jobs on. `local` (this machine) always exists;
 * its max_instances comes from --max-instances, else the stored compute.yaml, else nproc. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amlfs/util.h"

#define LOCAL "local"

static char *local_yaml(int max_instances)
{
    return util_strdupf("name: local\ntype: local\nmax_instances: %d\n", max_instances);
}

int server_computes_open(server *srv, int max_instances_flag, amlfs_err *err)
{
    store_compute stored;
    int max = 0;
    int r = store_compute_get(srv->store, LOCAL, &stored, err);
    if (r < 0 && r != -ENOENT)
        return r;
    bool exists = r == 0;
    if (exists)
        max = stored.max_instances;
    if (max_instances_flag > 0)
        max = max_instances_flag;
    if (max < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        max = n > 0 ? (int)n : 1;
    }
    if (!exists || stored.max_instances != max) {
        char *yaml = local_yaml(max);
        store_compute c = {.name = LOCAL, .type = LOCAL, .yaml = yaml, .max_instances = max};
        r = store_compute_put(srv->store, &c, err);
        free(yaml);
    }
    if (exists)
        store_compute_free(&stored);
    if (r < 0)
        return r;
    compute *local = compute_local_new(LOCAL, max, srv->exe, err);
    if (!local)
        return err && err->code ? -err->code : -EIO;
    srv->computes = util_xcalloc(1, sizeof *srv->computes);
    srv->computes[0] = local;
    srv->ncomputes = 1;
    return 0;
}

void server_computes_close(server *srv)
{
    for (size_t i = 0; i < srv->ncomputes; i++)
        compute_destroy(srv->computes[i]);
    free(srv->computes);
    srv->computes = NULL;
    srv->ncomputes = 0;
}

compute *server_compute(server *srv, const char *name)
{
    compute *found = NULL;
    pthread_mutex_lock(&srv->computes_lock);
    for (size_t i = 0; name && i < srv->ncomputes; i++)
        if (strcmp(srv->computes[i]->name, name) == 0)
            found = srv->computes[i];
    pthread_mutex_unlock(&srv->computes_lock);
    return found;
}

int server_compute_max(server *srv, compute *c)
{
    pthread_mutex_lock(&srv->computes_lock);
    int max = c->max_instances;
    pthread_mutex_unlock(&srv->computes_lock);
    return max;
}

char *server_compute_names(server *srv)
{
    size_t cap = 1;
    pthread_mutex_lock(&srv->computes_lock);
    for (size_t i = 0; i < srv->ncomputes; i++)
        cap += strlen(srv->computes[i]->name) + 2;
    char *names = util_xcalloc(1, cap);
    for (size_t i = 0; i < srv->ncomputes; i++) {
        if (i)
            strcat(names, ", ");
        strcat(names, srv->computes[i]->name);
    }
    pthread_mutex_unlock(&srv->computes_lock);
    return names;
}

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

/* Checks compute.yaml for NAME; only the local compute can be configured in this version. */
static int validate(server *srv, const char *name, const compute_spec *spec, const char *filename,
                    amlfs_err *err)
{
    if (spec->name && strcmp(spec->name, name) != 0)
        return spec_fail_at(err, EINVAL, filename, spec->name_pos,
                            "name '%s' differs from the folder '%s'", spec->name, name);
    const char *type = spec->type ? spec->type : (strcmp(name, LOCAL) == 0 ? LOCAL : NULL);
    if (!type)
        return spec_fail_at(err, EINVAL, filename, (spec_pos){1, 1},
                            "'type' is missing: write the compute type (supported: local)");
    if (strcmp(type, LOCAL) != 0)
        return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                            "compute type '%s' is not supported yet (supported: local)", type);
    if (!server_compute(srv, name))
        return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                            "type 'local' is this server's own machine, which is the compute 'local'; "
                            "write local/compute.yaml instead (other compute types are not supported "
                            "yet)");
    return validate_local_extras(spec, filename, err);
}

/* A compute that exists shows a rejection in its own status, a new name in the folder's. */
static void set_rejection(server *srv, const char *name, compute *c, const amlfs_err *why)
{
    char *key = util_strdupf("computes/%s", name);
    server_folder_status(srv, c ? key : "computes", why);
    free(key);
}

int server_compute_put(server *srv, const char *name, const char *yaml, size_t len,
                       const char *filename, amlfs_err *err)
{
    int r = util_check_name("compute", name, err);
    if (r < 0)
        return r;
    compute *c = server_compute(srv, name);
    compute_spec spec;
    memset(&spec, 0, sizeof spec);
    r = spec_parse_compute(yaml, len, filename, &spec, err);
    if (r == 0)
        r = validate(srv, name, &spec, filename, err);
    if (r < 0) {
        spec_compute_free(&spec);
        set_rejection(srv, name, c, err);
        return r;
    }
    pthread_mutex_lock(&srv->computes_lock);
    int max = spec.max_instances > 0 ? spec.max_instances : c->max_instances;
    pthread_mutex_unlock(&srv->computes_lock);
    store_compute stored = {.name = (char *)name, .type = LOCAL, .yaml = (char *)yaml, .max_instances = max};
    r = store_compute_put(srv->store, &stored, err);
    spec_compute_free(&spec);
    if (r < 0)
        return r;
    pthread_mutex_lock(&srv->computes_lock);
    c->max_instances = max;
    pthread_mutex_unlock(&srv->computes_lock);
    set_rejection(srv, name, c, NULL);
    events_emitf(srv->events, "changed", -1, "computes/%s", name);
    scheduler_kick(srv->scheduler);
    return 0;
}
