/* main_amlfs.c: the amlfs program: `amlfs [options] [SOURCE] MOUNTPOINT` (also as mount.fuse3 runs it)
 * mounts a workspace, connecting to (or starting) amlfs-server, then serves FUSE until unmounted. */
#include "fs_internal.h"
#include "launch.h"

#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "amlfs/api.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

typedef struct amlfs_options {
    char *server;
    char *token_file;
    char *tls_ca;
    char *data_dir;
    char *source;               /* the first of two non-option arguments (mount(8)'s SOURCE) */
    char *mountpoint;           /* the last non-option argument, as given */
    int nonopts;
    bool named;                 /* fsname= or subtype= given: keep the user's */
    int metadata_timeout;       /* -o metadata_timeout=S, -1: the default */
    int stale_timeout;          /* -o stale_timeout=S, -1: the default */
} amlfs_options;

enum { KEY_NAMED = 1 };

#define OPTION(templ, field) {templ, offsetof(amlfs_options, field), 0}
/* "--x %s" matches "--x VALUE" and "--xVALUE", so "--x=VALUE" arrives as "=VALUE" (see strip_equals).
 * The -o forms are what mount(8) and /etc/fstab pass through mount.fuse3. */
static const struct fuse_opt option_spec[] = {
    OPTION("--server %s", server),
    OPTION("--token-file %s", token_file),
    OPTION("--data-dir %s", data_dir),
    OPTION("--tls-ca %s", tls_ca),
    OPTION("server=%s", server),
    OPTION("tls_ca=%s", tls_ca),
    OPTION("token_file=%s", token_file),
    OPTION("data_dir=%s", data_dir),
    OPTION("metadata_timeout=%d", metadata_timeout),
    OPTION("stale_timeout=%d", stale_timeout),
    FUSE_OPT_KEY("fsname=", KEY_NAMED),
    FUSE_OPT_KEY("subtype=", KEY_NAMED),
    FUSE_OPT_END,
};

static void strip_equals(char **value)
{
    if (*value && (*value)[0] == '=')
        memmove(*value, *value + 1, strlen(*value));
}

/* Non-options are taken out (the mountpoint is given back to libfuse after the source is known);
 * everything else stays for fuse_parse_cmdline. */
static int on_other_option(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    amlfs_options *o = data;
    if (key == KEY_NAMED) {
        o->named = true;
        return 1;
    }
    if (key != FUSE_OPT_KEY_NONOPT)
        return 1;
    if (++o->nonopts <= 2) {
        free(o->source);
        o->source = o->mountpoint;
        o->mountpoint = util_xstrdup(arg);
    }
    return 0;
}

/* mount(8)'s SOURCE: unix:PATH or http(s)://... is the server, "amlfs" the default data folder, anything
 * else the data folder. Flags and -o options given as well win. */
static int apply_source(amlfs_options *o)
{
    const char *src = o->source;
    if (!src || strcmp(src, "amlfs") == 0)
        return 0;
    bool is_server = strncmp(src, "unix:", 5) == 0 || strncmp(src, "http://", 7) == 0 ||
                     strncmp(src, "https://", 8) == 0;
    char **field = is_server ? &o->server : &o->data_dir;
    if (!*field)
        *field = util_xstrdup(src);
    return 0;
}

/* fsname=SOURCE and subtype=amlfs, so mount(8), findmnt and df show "SOURCE on DIR type fuse.amlfs". */
static void add_names(const amlfs_options *o, struct fuse_args *args)
{
    if (o->named)
        return;
    const char *src = o->source ? o->source : o->server ? o->server : o->data_dir ? o->data_dir : "amlfs";
    util_buf b = {0};
    const char prefix[] = "subtype=amlfs,fsname=";
    util_buf_append(&b, prefix, sizeof prefix - 1, 0);
    for (const char *p = src; *p; p++) {
        if (*p == ',' || *p == '\\')
            util_buf_append(&b, "\\", 1, 0); /* fuse_opt's escape */
        util_buf_append(&b, p, 1, 0);
    }
    fuse_opt_add_arg(args, "-o");
    fuse_opt_add_arg(args, b.data);
    util_buf_free(&b);
}

static void usage(const char *prog)
{
    printf("usage: %s [options] [SOURCE] MOUNTPOINT\n\n"
           "Mounts an amlfs workspace: environments, computes, experiments and runs as files.\n"
           "SOURCE (as mount(8) and /etc/fstab give it): a data dir, unix:PATH or http(s)://HOST:PORT\n"
           "of amlfs-server, or \"amlfs\" for the default data dir.\n\n"
           "amlfs options:\n"
           "    --server URL           unix:PATH or http(s)://HOST:PORT of amlfs-server\n"
           "                           (default: the socket in the data dir; amlfs-server is started\n"
           "                           there if none answers)\n"
           "    --token-file FILE      bearer token for a TCP server\n"
           "    --tls-ca FILE          the CA (or the certificate itself) an https server's certificate is\n"
           "                           checked against (default: the system's CAs)\n"
           "    --data-dir DIR         data dir of the local server (default: $AMLFS_DATA_DIR,\n"
           "                           $XDG_DATA_HOME/amlfs or ~/.local/share/amlfs)\n"
           "    -o server=URL,token_file=FILE,tls_ca=FILE,data_dir=DIR\n"
           "                           the same, as mount options (mount -t fuse.amlfs, /etc/fstab)\n"
           "    -o metadata_timeout=S  how long a metadata answer waits for the server (default %d s);\n"
           "                           reads: how long no byte may come\n"
           "    -o stale_timeout=S     how long a running run's last answers stand in for a server that\n"
           "                           does not answer (default %d s; finished runs: as long as it is away)\n\n",
           prog, CLIENT_METADATA_TIMEOUT_S, CLIENT_STALE_TIMEOUT_S);
}

/* The waits of -o metadata_timeout and stale_timeout (README "When the server does not answer"). */
static int apply_limits(const amlfs_options *o, amlfs_client *client)
{
    client_limits limits = {CLIENT_METADATA_TIMEOUT_S, CLIENT_STALE_TIMEOUT_S};
    if (o->metadata_timeout != -1 && (o->metadata_timeout < 1 || o->metadata_timeout > 3600)) {
        fprintf(stderr, "amlfs: -o metadata_timeout=%d: give 1 to 3600 seconds\n", o->metadata_timeout);
        return -1;
    }
    if (o->stale_timeout != -1 && (o->stale_timeout < 0 || o->stale_timeout > 86400)) {
        fprintf(stderr, "amlfs: -o stale_timeout=%d: give 0 to 86400 seconds\n", o->stale_timeout);
        return -1;
    }
    if (o->metadata_timeout != -1)
        limits.metadata_timeout_s = o->metadata_timeout;
    if (o->stale_timeout != -1)
        limits.stale_timeout_s = o->stale_timeout;
    if (client)
        client_set_limits(client, &limits);
    return 0;
}

/* A mount whose daemon was killed answers ENOTCONN until someone unmounts it: fusermount3 -u -z does,
 * as the mount's owner may without root. */
static int unmount_dead(const char *mountpoint)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        execlp("fusermount3", "fusermount3", "-u", "-z", "--", mountpoint, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int check_mountpoint(const amlfs_options *o)
{
    if (o->nonopts > 2) {
        fprintf(stderr, "amlfs: give a mountpoint, and at most one source before it, not %d arguments\n",
                o->nonopts);
        return -1;
    }
    if (!o->mountpoint) {
        fprintf(stderr, "amlfs: no mountpoint given (usage: amlfs [options] [SOURCE] MOUNTPOINT; amlfs -h for "
                        "help)\n");
        return -1;
    }
    struct stat st;
    if (stat(o->mountpoint, &st) != 0 && errno == ENOTCONN && unmount_dead(o->mountpoint) == 0)
        log_warning("%s was a mount whose daemon had died (killed?): unmounted it to mount again", o->mountpoint);
    if (stat(o->mountpoint, &st) != 0) {
        fprintf(stderr, "amlfs: mountpoint %s: %s%s\n", o->mountpoint, strerror(errno),
                errno == ENOENT ? " (create it with mkdir first)" : "");
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "amlfs: mountpoint %s is not a folder\n", o->mountpoint);
        return -1;
    }
    return 0;
}

/* Workers serving requests at once, unless -o max_threads says otherwise (libfuse's default is 10). A
 * caller's interrupt (Ctrl-C, kill -9) is a request too, read only by a free worker: with every worker
 * waiting on a server that does not answer, interrupts wait for the first deadline to pass. */
#define WORKERS 64

/* Whether -o NAME=... was given among the arguments. */
static bool option_given(const struct fuse_args *args, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < args->argc; i++) {
        for (const char *p = strstr(args->argv[i], name); p; p = strstr(p + 1, name)) {
            if ((p == args->argv[i] || p[-1] == ',' || p[-1] == 'o') && p[n] == '=')
                return true;
        }
    }
    return false;
}

static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *opts)
{
    if (opts->singlethread)
        return fuse_session_loop(se);
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, (unsigned)opts->clone_fd);
    fuse_loop_cfg_set_max_threads(config, opts->max_threads);
    /* Idle workers stay for the next request unless -o max_idle_threads says otherwise. */
    if (opts->max_idle_threads != UINT_MAX)
        fuse_loop_cfg_set_idle_threads(config, opts->max_idle_threads);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}

int main(int argc, char **argv)
{
    util_ensure_std_fds();
    log_init("amlfs", LOG_LEVEL_INFO);
    /* FUSE's worker threads each get a malloc arena of their own by default, and each keeps what a walk
     * of 10,000 runs freed: two arenas hold the daemon's memory to what it uses (make bench, RSS). */
    mallopt(M_ARENA_MAX, 2);
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    amlfs_options o = {.metadata_timeout = -1, .stale_timeout = -1};
    struct fuse_cmdline_opts opts = {0};
    amlfs_client *client = NULL;
    fs_state *fs = NULL;
    struct fuse_session *se = NULL;
    int status = 1;

    if (fuse_opt_parse(&args, &o, option_spec, on_other_option) != 0)
        goto out;
    strip_equals(&o.server);
    strip_equals(&o.token_file);
    strip_equals(&o.data_dir);
    strip_equals(&o.tls_ca);
    /* Before libfuse looks at it: its "bad mount point" says less. */
    if (o.mountpoint && check_mountpoint(&o) != 0)
        goto out;
    apply_source(&o);
    add_names(&o, &args);
    if (o.mountpoint)
        fuse_opt_add_arg(&args, o.mountpoint);
    bool workers_given = option_given(&args, "max_threads");
    if (fuse_parse_cmdline(&args, &opts) != 0)
        goto out;
    if (!workers_given)
        opts.max_threads = WORKERS;
    if (opts.show_help) {
        usage(argv[0]);
        fuse_cmdline_help();
        fuse_lowlevel_help();
        status = 0;
        goto out;
    }
    if (opts.show_version) {
        printf("amlfs %s (API %s), libfuse %s\n", AMLFS_VERSION, AMLFS_API_VERSION, fuse_pkgversion());
        status = 0;
        goto out;
    }
    if (check_mountpoint(&o) != 0 || apply_limits(&o, NULL) != 0)
        goto out;

    amlfs_err err = {0};
    long long event_seq = 0;
    if (launch_connect(o.server, o.token_file, o.tls_ca, o.data_dir, &client, &event_seq, &err) < 0) {
        log_error("%s", err.msg);
        goto out;
    }
    apply_limits(&o, client);
    fs = fs_new(client);
    se = fuse_session_new(&args, fs_lowlevel_ops(), sizeof *fs_lowlevel_ops(), fs);
    if (!se) {
        log_error("cannot start a FUSE session (see the message above)");
        goto out;
    }
    fs_set_session(fs, se);
    if (fuse_set_signal_handlers(se) != 0) {
        log_error("cannot install signal handlers");
        goto out;
    }
    if (fuse_session_mount(se, opts.mountpoint) != 0) {
        log_error("cannot mount on %s (is /dev/fuse usable and fusermount3 installed?)", opts.mountpoint);
        fuse_remove_signal_handlers(se);
        goto out;
    }
    /* Threads do not survive fork: the feed starts after daemonizing. */
    fuse_daemonize(opts.foreground);
    if (client_events_start(client, event_seq, fs_on_event, fs, &err) < 0)
        fs_log("%s: files will refresh only as their cache times out", err.msg);
    /* The loop returns the number of the signal that ended it: Ctrl-C or kill is a clean unmount. */
    int served = serve(se, &opts);
    status = served == 0 || served == SIGINT || served == SIGTERM || served == SIGHUP ? 0 : 1;
    client_events_stop(client);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
out:
    if (se)
        fuse_session_destroy(se);
    fs_free(fs);
    client_free(client);
    free(opts.mountpoint);
    free(o.server);
    free(o.token_file);
    free(o.tls_ca);
    free(o.data_dir);
    free(o.mountpoint);
    free(o.source);
    fuse_opt_free_args(&args);
    return status;
}
