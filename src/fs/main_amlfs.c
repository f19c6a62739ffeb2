/* main_amlfs.c: the amlfs program: `amlfs [options] MOUNTPOINT` mounts a workspace, connecting to (or
 * starting) amlfs-server, then serves FUSE requests until unmounted (fusermount3 -u, Ctrl-C). */
#include "fs_internal.h"
#include "launch.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/api.h"
#include "amlfs/util.h"

typedef struct amlfs_options {
    char *server;
    char *token_file;
    char *data_dir;
    char *mountpoint;           /* the non-option argument, as given */
    int nonopts;
} amlfs_options;

#define OPTION(templ, field) {templ, offsetof(amlfs_options, field), 0}
/* "--x %s" matches "--x VALUE" and "--xVALUE", so "--x=VALUE" arrives as "=VALUE" (see strip_equals). */
static const struct fuse_opt option_spec[] = {
    OPTION("--server %s", server),
    OPTION("--token-file %s", token_file),
    OPTION("--data-dir %s", data_dir),
    FUSE_OPT_END,
};

static void strip_equals(char **value)
{
    if (*value && (*value)[0] == '=')
        memmove(*value, *value + 1, strlen(*value));
}

/* Remember the mountpoint to check it ourselves; everything else stays for fuse_parse_cmdline. */
static int on_other_option(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    amlfs_options *o = data;
    if (key == FUSE_OPT_KEY_NONOPT) {
        o->nonopts++;
        if (!o->mountpoint)
            o->mountpoint = util_xstrdup(arg);
    }
    return 1;
}

static void usage(const char *prog)
{
    printf("usage: %s [options] MOUNTPOINT\n\n"
           "Mounts an amlfs workspace: environments, computes, experiments and runs as files.\n\n"
           "amlfs options:\n"
           "    --server URL           unix:PATH or http(s)://HOST:PORT of amlfs-server\n"
           "                           (default: the socket in the data dir; amlfs-server is started\n"
           "                           there if none answers)\n"
           "    --token-file FILE      bearer token for a TCP server\n"
           "    --data-dir DIR         data dir of the local server (default: $AMLFS_DATA_DIR,\n"
           "                           $XDG_DATA_HOME/amlfs or ~/.local/share/amlfs)\n\n",
           prog);
}

static int check_mountpoint(const amlfs_options *o)
{
    if (o->nonopts > 1) {
        fprintf(stderr, "amlfs: give one mountpoint, not %d\n", o->nonopts);
        return -1;
    }
    if (!o->mountpoint) {
        fprintf(stderr, "amlfs: no mountpoint given (usage: amlfs [options] MOUNTPOINT; amlfs -h for help)\n");
        return -1;
    }
    struct stat st;
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

static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *opts)
{
    if (opts->singlethread)
        return fuse_session_loop(se);
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, (unsigned)opts->clone_fd);
    fuse_loop_cfg_set_max_threads(config, opts->max_threads);
    int rc = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return rc;
}

int main(int argc, char **argv)
{
    util_ensure_std_fds();
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    amlfs_options o = {0};
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
    /* Before libfuse looks at it: its "bad mount point" says less. */
    if (o.mountpoint && check_mountpoint(&o) != 0)
        goto out;
    if (fuse_parse_cmdline(&args, &opts) != 0)
        goto out;
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
    if (check_mountpoint(&o) != 0)
        goto out;

    amlfs_err err = {0};
    long long event_seq = 0;
    if (launch_connect(o.server, o.token_file, o.data_dir, &client, &event_seq, &err) < 0) {
        fprintf(stderr, "amlfs: %s\n", err.msg);
        goto out;
    }
    fs = fs_new(client);
    se = fuse_session_new(&args, fs_lowlevel_ops(), sizeof *fs_lowlevel_ops(), fs);
    if (!se) {
        fprintf(stderr, "amlfs: cannot start a FUSE session (see the message above)\n");
        goto out;
    }
    fs_set_session(fs, se);
    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, "amlfs: cannot install signal handlers\n");
        goto out;
    }
    if (fuse_session_mount(se, opts.mountpoint) != 0) {
        fprintf(stderr, "amlfs: cannot mount on %s (is /dev/fuse usable and fusermount3 installed?)\n",
                opts.mountpoint);
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
    free(o.data_dir);
    free(o.mountpoint);
    fuse_opt_free_args(&args);
    return status;
}
