/* server.c: the workspace service as one object: data folder, store, change feed, computes, and
 * the monitor and scheduler threads, opened in the order that lets runs be re-attached after a
 * restart before anything new happens. */
#include "amlfs/server.h"

#include <curl/curl.h>

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

char *server_path(const server *srv, const char *fmt, ...)
{
    char rel[PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    return util_strdupf("%s/%s", srv->data_dir, rel);
}

void server_folder_status(server *srv, const char *key, const amlfs_err *why)
{
    amlfs_err ignored = {0};
    char *old = NULL;
    char *line = why ? util_strdupf("Rejected: %s", why->msg) : util_xstrdup("");
    if (store_folder_status_get(srv->store, key, &old, &ignored) == 0 && strcmp(old, line) == 0)
        goto out; /* nothing changed: no event */
    if (store_folder_status_set(srv->store, key, line, &ignored) < 0)
        log_warning("%s", ignored.msg);
    events_emit(srv->events, key, "changed", -1);
out:
    free(old);
    free(line);
}

/* The database and its log are the owner's alone, whatever modes older files had, and the columns that can
 * hold secrets are sealed with the key kept in its own file. Runs before any other thread (umask is global). */
static int open_store_private(server *srv, const server_config *cfg, amlfs_err *err)
{
    static const char *const files[] = {"workspace.db", "workspace.db-wal", "workspace.db-shm"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = server_path(srv, "%s", files[i]);
        struct stat st;
        if (stat(path, &st) == 0 && (st.st_mode & 077) && chmod(path, 0600) < 0)
            log_warning("cannot make %s private: %s", path, strerror(errno));
        free(path);
    }
    char *db = server_path(srv, "workspace.db");
    mode_t old = umask(077);
    int r = store_open(db, &srv->store, err);
    umask(old);
    free(db);
    char *key_path = cfg->secret_key_file ? util_xstrdup(cfg->secret_key_file) : server_path(srv, "secret.key");
    unsigned char key[STORE_SECRET_KEY_LEN];
    if (r == 0 && (r = secret_key_load_or_create(key_path, key, err)) == 0)
        r = store_set_secret_key(srv->store, key, err);
    explicit_bzero(key, sizeof key);
    free(key_path);
    return r;
}

static int make_dirs(server *srv, amlfs_err *err)
{
    int r = util_mkdir_p(srv->data_dir, 0700, err);
    if (r < 0)
        return amlfs_wrap(err, "data folder: ");
    /* Private to its owner whatever existed before: a folder made 0755 by hand is closed, one of another
     * user is refused (its owner could read everything the server keeps). */
    struct stat st;
    if (stat(srv->data_dir, &st) < 0)
        return amlfs_fail(err, errno, "data folder %s: %s", srv->data_dir, strerror(errno));
    if (st.st_uid != geteuid())
        return amlfs_fail(err, EACCES, "data folder %s belongs to uid %u, not to this user (uid %u): run "
                          "amlfs-server as its owner, or give a --data-dir of your own", srv->data_dir,
                          (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 077) && chmod(srv->data_dir, 0700) < 0)
        return amlfs_fail(err, errno, "cannot make the data folder %s private (chmod 700): %s", srv->data_dir,
                          strerror(errno));
    if (st.st_mode & 077)
        log_warning("data folder %s was open to others (mode %03o): made private (700)", srv->data_dir,
                    st.st_mode & 0777);
    static const char *const subdirs[] = {"experiments", "environments", "runs", "data", "datastores/workspaceblobstore"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char *p = server_path(srv, "%s", subdirs[i]);
        r = util_mkdir_p(p, 0700, err);
        free(p);
        if (r < 0)
            return r;
    }
    return 0;
}

static int load_workspace_name(server *srv, amlfs_err *err)
{
    int r = store_meta_get(srv->store, "workspace_name", &srv->workspace_name, err);
    if (r != -ENOENT)
        return r;
    const char *slash = strrchr(srv->data_dir, '/');
    srv->workspace_name = util_xstrdup(slash && slash[1] ? slash + 1 : "workspace");
    return store_meta_set(srv->store, "workspace_name", srv->workspace_name, err);
}

/* A submission that crashed between claiming its run folder and storing the run leaves a folder
 * with a code copy and nothing else; such folders would block their id forever. */
static void remove_unclaimed_run_dirs(server *srv)
{
    char *runs = server_path(srv, "runs");
    DIR *d = opendir(runs);
    free(runs);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || store_run_exists(srv->store, de->d_name))
            continue;
        char *log = server_path(srv, "runs/%s/log", de->d_name);
        struct stat st;
        if (stat(log, &st) < 0 && errno == ENOENT) {
            char *dir = server_path(srv, "runs/%s", de->d_name);
            amlfs_err err = {0};
            if (util_rm_rf_through_link(dir, &err) < 0)
                log_warning("%s", err.msg);
            free(dir);
        }
        free(log);
    }
    closedir(d);
}

/* Cluster computes talk HTTP with libcurl, whose global set-up is not thread-safe: done here, before
 * any of the server's threads exist. */
static int open_curl(amlfs_err *err)
{
    CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    return cc == CURLE_OK ? 0 : amlfs_fail(err, EIO, "libcurl: %s", curl_easy_strerror(cc));
}

int server_open(const server_config *cfg, server **out, amlfs_err *err)
{
    server *srv = util_xcalloc(1, sizeof *srv);
    pthread_mutex_init(&srv->lifecycle_lock, NULL);
    pthread_mutex_init(&srv->computes_lock, NULL);
    pthread_mutex_init(&srv->status_lock, NULL);
    srv->data_dir = util_xstrdup(cfg->data_dir);
    srv->token = cfg->token ? util_xstrdup(cfg->token) : NULL;
    srv->tracking_uri = cfg->tracking_uri ? util_xstrdup(cfg->tracking_uri) : NULL;
    int r = make_dirs(srv, err);
    if (r < 0)
        goto fail;
    char *real = realpath(cfg->data_dir, NULL);
    if (real) { /* the compute and messages want absolute paths */
        free(srv->data_dir);
        srv->data_dir = real;
    }
    srv->socket_path = util_socket_path(srv->data_dir);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) {
        r = amlfs_fail(err, errno, "cannot find this program (/proc/self/exe): %s", strerror(errno));
        goto fail;
    }
    exe[n] = '\0';
    srv->exe = util_xstrdup(exe);
    r = open_store_private(srv, cfg, err);
    if (r < 0 || (r = load_workspace_name(srv, err)) < 0 || (r = events_open(srv->store, &srv->events, err)) < 0 ||
        (r = server_snapshots_open(srv, cfg, err)) < 0 || (r = open_curl(err)) < 0 ||
        (r = server_computes_open(srv, cfg->max_instances, err)) < 0 || (r = monitor_open(srv, err)) < 0 ||
        (r = server_envs_open(srv, cfg, err)) < 0)
        goto fail;
    if (cfg->default_cluster && (r = store_meta_set(srv->store, "default_cluster", cfg->default_cluster, err)) < 0)
        goto fail;
    remove_unclaimed_run_dirs(srv);
    if ((r = run_restore_all(srv, err)) < 0 || (r = scheduler_start(srv, err)) < 0 ||
        (r = monitor_start(srv->monitor, err)) < 0 || (r = poller_start(srv, err)) < 0)
        goto fail;
    server_envs_resume(srv); /* after the scheduler: builds that end wake the runs waiting for them */
    *out = srv;
    return 0;
fail:
    server_close(srv);
    return r;
}

void server_close(server *srv)
{
    if (!srv)
        return;
    if (srv->events)
        events_shutdown(srv->events);
    server_envs_close(srv); /* first: its reports reach the scheduler and the store */
    scheduler_stop(srv);
    poller_stop(srv);
    monitor_stop(srv);
    server_computes_close(srv);
    server_snapshots_close(srv);
    events_close(srv->events);
    store_close(srv->store);
    pthread_mutex_destroy(&srv->lifecycle_lock);
    pthread_mutex_destroy(&srv->computes_lock);
    server_status_lines_free(srv);
    pthread_mutex_destroy(&srv->status_lock);
    for (size_t i = 0; i < srv->nstarting; i++)
        free(srv->starting[i]);
    free(srv->starting);
    free(srv->data_dir);
    free(srv->socket_path);
    free(srv->exe);
    free(srv->workspace_name);
    free(srv->token);
    free(srv->tracking_uri);
    free(srv);
}
