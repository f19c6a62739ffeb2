/* main_server.c: the amlfs-server program: options, one server per data folder, daemonizing
 * (the parent returns once the socket answers), and a clean stop on SIGTERM/SIGINT/SIGHUP that
 * leaves runs going under their supervisors. `amlfs-server supervise RUN_DIR` is the local
 * compute's job supervisor. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "amlfs/api.h"
#include "amlfs/compute.h"
#include "amlfs/server.h"
#include "amlfs/log.h"
#include "amlfs/util.h"

typedef struct options {
    char *data_dir;
    const char *listen;
    const char *token_file;
    int max_instances;
    uint64_t snapshot_max_mb, snapshot_max_files;
    uint64_t data_max_mb, data_max_files;
    const char *podman_root, *podman_runroot;
    const char *default_cluster;
    const char *secret_key_file;
    const char *tls_cert, *tls_key;
    log_level log_level;
    bool foreground;
} options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: amlfs-server [--data-dir DIR] [--listen HOST:PORT [--tls-cert FILE --tls-key FILE]]\n"
            "                    [--token-file FILE] [--secret-key-file FILE]\n"
            "                    [--max-instances N] [--snapshot-max-mb N] [--snapshot-max-files N]\n"
            "                    [--data-max-mb N] [--data-max-files N]\n"
            "                    [--podman-root DIR] [--podman-runroot DIR] [--default-cluster NAME]\n"
            "                    [--log-level error|warning|info|debug] [-f|--foreground]\n"
            "       amlfs-server supervise RUN_DIR   (started by the server for each local run)\n"
            "\n"
            "Serves the amlfs workspace API (docs/api.md) on DIR/server.sock, and on HOST:PORT with a\n"
            "bearer token (DIR/token unless --token-file) when --listen is given, and MLflow's tracking API\n"
            "for jobs on a loopback port (DIR/mlflow.port, kept across restarts). Without -f it runs in\n"
            "the background, logging to DIR/server.log, once it accepts connections.\n"
            "--snapshot-max-mb and --snapshot-max-files set the workspace's code snapshot limits\n"
            "(default 300 MB and 2000 files); they are kept for later starts without them.\n"
            "--data-max-mb and --data-max-files do the same for each data input and data asset version\n"
            "(default 20480 MB and 200000 files).\n"
            "--podman-root and --podman-runroot (or $AMLFS_PODMAN_ROOT, $AMLFS_PODMAN_RUNROOT) give podman\n"
            "its own image storage for image environments and their runs (default: podman's own).\n"
            "--default-cluster NAME names the Slurm compute that `type: amlcompute` computes run on (kept\n"
            "for later starts; \"\" clears it); without one they run on this machine.\n"
            "--log-level (or $AMLFS_LOG_LEVEL; default info) is the least important line logged.\n"
            "--secret-key-file names the key that seals secrets in DIR/workspace.db (default DIR/secret.key).\n"
            "--tls-cert FILE --tls-key FILE (PEM) serve --listen over TLS: without them the bearer token crosses\n"
            "the network in the clear.\n"
            "$AMLFS_DATA_DIR and $AMLFS_LISTEN are the defaults of --data-dir and --listen.\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},   {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 't'}, {"max-instances", required_argument, NULL, 'm'},
        {"snapshot-max-mb", required_argument, NULL, 'M'}, {"snapshot-max-files", required_argument, NULL, 'F'},
        {"data-max-mb", required_argument, NULL, 'D'}, {"data-max-files", required_argument, NULL, 'G'},
        {"podman-root", required_argument, NULL, 'R'}, {"podman-runroot", required_argument, NULL, 'r'},
        {"foreground", no_argument, NULL, 'f'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},          {"default-cluster", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},  {"secret-key-file", required_argument, NULL, 'K'},
        {"tls-cert", required_argument, NULL, 'c'},   {"tls-key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            free(o->data_dir);
            o->data_dir = util_xstrdup(optarg);
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 'm': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "amlfs-server: --max-instances %s: expected a whole number, 1 or more\n", optarg);
                return 2;
            }
            o->max_instances = (int)n;
            break;
        }
        case 'M':
        case 'F': {
            char *end;
            long long max = c == 'M' ? SPEC_SNAPSHOT_MAX_MB : SPEC_SNAPSHOT_MAX_FILES;
            long long n = strtoll(optarg, &end, 10);
            if (*end || !*optarg || n < 1 || n > max) {
                fprintf(stderr, "amlfs-server: --snapshot-max-%s %s: expected a whole number from 1 to %lld\n",
                        c == 'M' ? "mb" : "files", optarg, max);
                return 2;
            }
            *(c == 'M' ? &o->snapshot_max_mb : &o->snapshot_max_files) = (uint64_t)n;
            break;
        }
        case 'D':
        case 'G': {
            char *end;
            long long max = c == 'D' ? SPEC_SNAPSHOT_MAX_MB : SPEC_SNAPSHOT_MAX_FILES;
            long long n = strtoll(optarg, &end, 10);
            if (*end || !*optarg || n < 1 || n > max) {
                fprintf(stderr, "amlfs-server: --data-max-%s %s: expected a whole number from 1 to %lld\n",
                        c == 'D' ? "mb" : "files", optarg, max);
                return 2;
            }
            *(c == 'D' ? &o->data_max_mb : &o->data_max_files) = (uint64_t)n;
            break;
        }
        case 'C':
            o->default_cluster = optarg;
            break;
        case 'K':
            o->secret_key_file = optarg;
            break;
        case 'c':
            o->tls_cert = optarg;
            break;
        case 'k':
            o->tls_key = optarg;
            break;
        case 'L':
            if (log_level_parse(optarg, &o->log_level) < 0) {
                fprintf(stderr, "amlfs-server: --log-level %s: expected error, warning, info or debug\n", optarg);
                return 2;
            }
            break;
        case 'R':
            o->podman_root = optarg;
            break;
        case 'r':
            o->podman_runroot = optarg;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("amlfs-server %s (API %s)\n", AMLFS_VERSION, AMLFS_API_VERSION);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "amlfs-server: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o->tls_cert != !o->tls_key || ((o->tls_cert || o->tls_key) && !o->listen)) {
        fprintf(stderr, "amlfs-server: --tls-cert and --tls-key go together, with --listen\n");
        return 2;
    }
    return 0;
}

/* The TLS certificate and key of --listen, read once (libmicrohttpd takes them from memory). A network
 * address without them is allowed, said in the log: the bearer token then crosses it in the clear. */
static int read_tls(const options *o, http_tls *tls, amlfs_err *err)
{
    memset(tls, 0, sizeof *tls);
    if (!o->tls_cert) {
        if (o->listen && strncmp(o->listen, "127.", 4) != 0 && strncmp(o->listen, "localhost:", 10) != 0 &&
            strncmp(o->listen, "[::1]", 5) != 0)
            log_warning("--listen %s without --tls-cert: the bearer token is readable by anyone on the path", o->listen);
        return 0;
    }
    char *cert = NULL, *key = NULL;
    size_t len;
    int rc = util_read_file(o->tls_cert, &cert, &len, err);
    if (rc == 0)
        rc = util_read_file(o->tls_key, &key, &len, err);
    if (rc < 0) {
        free(cert);
        return amlfs_wrap(err, "TLS: ");
    }
    tls->cert_pem = cert;
    tls->key_pem = key;
    return 0;
}

static void free_tls(http_tls *tls)
{
    free((char *)tls->cert_pem);
    if (tls->key_pem)
        explicit_bzero((char *)tls->key_pem, strlen(tls->key_pem));
    free((char *)tls->key_pem);
}

/* Forks; the parent waits for the child's "ready" byte and exits with its outcome. The child
 * returns the pipe's write end (errors before it is ready still reach the caller's terminal). */
static int daemonize_begin(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("amlfs-server: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("amlfs-server: fork");
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        char ready = 0;
        ssize_t n;
        while ((n = read(p[0], &ready, 1)) < 0 && errno == EINTR) {
        }
        exit(n == 1 && ready == 'R' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    return p[1];
}

/* The server is listening: stdout/stderr move to the log file and the parent may exit. */
static void daemonize_ready(int ready_fd, const char *data_dir)
{
    char *log = util_strdupf("%s/server.log", data_dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    free(log);
    setvbuf(stderr, NULL, _IOLBF, 0);
    (void)!write(ready_fd, "R", 1);
    close(ready_fd);
    if (chdir("/") < 0) {
        /* nothing depends on the working folder: every path is absolute */
    }
}

/* One server per data folder, held for the process's lifetime (also guards two starting at once). */
static int lock_data_dir(const char *data_dir, amlfs_err *err)
{
    char *path = util_strdupf("%s/server.lock", data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int r = fd;
    if (fd < 0)
        r = amlfs_fail(err, errno, "%s: %s", path, strerror(errno));
    else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char *pidfile = util_strdupf("%s/server.pid", data_dir), *pid = NULL;
        size_t len;
        if (util_read_file(pidfile, &pid, &len, NULL) == 0)
            pid[strcspn(pid, "\n")] = '\0';
        r = amlfs_fail(err, EADDRINUSE, "another amlfs-server (pid %s) already serves %s",
                       pid ? pid : "unknown", data_dir);
        free(pid);
        free(pidfile);
        close(fd);
    }
    free(path);
    return r;
}

static int write_pid_file(const char *data_dir, amlfs_err *err)
{
    char *path = util_strdupf("%s/server.pid", data_dir), *text = util_strdupf("%d\n", (int)getpid());
    int r = util_write_file_atomic(path, text, strlen(text), 0644, err);
    free(path);
    free(text);
    return r;
}

int main(int argc, char **argv)
{
    util_ensure_std_fds();
    if (argc >= 2 && strcmp(argv[1], "supervise") == 0) {
        if (argc != 3) {
            fprintf(stderr, "usage: amlfs-server supervise RUN_DIR\n");
            return 2;
        }
        return compute_supervise_main(argv[2]);
    }
    options o = {0};
    o.log_level = LOG_LEVEL_INFO;
    const char *env_level = getenv("AMLFS_LOG_LEVEL");
    if (env_level && *env_level && log_level_parse(env_level, &o.log_level) < 0) {
        fprintf(stderr, "amlfs-server: AMLFS_LOG_LEVEL=%s: expected error, warning, info or debug\n", env_level);
        return 2;
    }
    const char *env_listen = getenv("AMLFS_LISTEN");
    o.listen = env_listen && *env_listen ? env_listen : NULL;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0) {
        free(o.data_dir);
        return rc;
    }
    /* In the background stderr becomes server.log: never the journal a parent was started under. */
    if (!o.foreground)
        unsetenv("JOURNAL_STREAM");
    log_init("amlfs-server", o.log_level);
    if (!o.data_dir)
        o.data_dir = util_default_data_dir();
    int ready_fd = o.foreground ? -1 : daemonize_begin();

    /* Signals end the server through sigwait in this thread; every thread inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    amlfs_err err = {0};
    int unix_fd = -1, tcp_fd = -1, mlflow_fd = -1, lock_fd = -1, mlflow_port = 0;
    char *token = NULL, *token_path = NULL, *socket_path = NULL, *real_dir = NULL, *tracking_uri = NULL;
    server *srv = NULL;
    http_tls tls = {0}; /* before every goto: out frees it */
    bool pid_written = false, listening = false;
    if (util_mkdir_p(o.data_dir, 0700, &err) < 0 || (lock_fd = lock_data_dir(o.data_dir, &err)) < 0)
        goto fail;
    real_dir = realpath(o.data_dir, NULL);
    if (!real_dir) {
        amlfs_fail(&err, errno, "%s: %s", o.data_dir, strerror(errno));
        goto fail;
    }
    socket_path = util_socket_path(real_dir);
    if (listen_unix(socket_path, &unix_fd, &err) < 0)
        goto fail;
    listening = true;
    /* The token guards TCP and signs the run tokens jobs get for MLflow's API: there is always one. */
    token_path = o.token_file ? util_xstrdup(o.token_file) : util_strdupf("%s/token", real_dir);
    if (token_load_or_create(token_path, &token, &err) < 0 || (o.listen && listen_tcp(o.listen, &tcp_fd, &err) < 0) ||
        listen_mlflow(real_dir, &mlflow_fd, &mlflow_port, &err) < 0)
        goto fail;
    tracking_uri = util_strdupf("http://127.0.0.1:%d", mlflow_port);
    server_config cfg = {.data_dir = real_dir, .max_instances = o.max_instances,
                         .token = token, .tracking_uri = tracking_uri,
                         .snapshot_max_mb = o.snapshot_max_mb, .snapshot_max_files = o.snapshot_max_files,
                         .data_max_mb = o.data_max_mb, .data_max_files = o.data_max_files,
                         .podman_root = o.podman_root ? o.podman_root : getenv("AMLFS_PODMAN_ROOT"),
                         .podman_runroot = o.podman_runroot ? o.podman_runroot : getenv("AMLFS_PODMAN_RUNROOT"),
                         .default_cluster = o.default_cluster,
                         .secret_key_file = o.secret_key_file};
    if (server_open(&cfg, &srv, &err) < 0 || read_tls(&o, &tls, &err) < 0)
        goto fail;
    rc = http_start(srv, unix_fd, tcp_fd, mlflow_fd, token, &tls, &err);
    unix_fd = tcp_fd = mlflow_fd = -1; /* libmicrohttpd owns and closes them now (the process ends on failure) */
    if (rc < 0 || (rc = write_pid_file(real_dir, &err)) < 0)
        goto fail;
    pid_written = true;
    if (ready_fd >= 0)
        daemonize_ready(ready_fd, real_dir);
    log_info("version %s, pid %d, workspace '%s', data %s, listening on unix:%s%s%s; MLflow's tracking API for "
             "jobs at %s", AMLFS_VERSION, (int)getpid(), srv->workspace_name, real_dir, socket_path,
             o.listen ? " and tcp:" : "", o.listen ? o.listen : "", tracking_uri);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    log_info("%s: stopping (runs keep going)", strsignal(sig));
    rc = 0;
    goto out;
fail:
    log_error("%s", err.msg);
    rc = 1;
out:
    if (srv) {
        http_stop(srv);
        server_close(srv);
    }
    free_tls(&tls);
    if (pid_written) {
        char *pid = util_strdupf("%s/server.pid", real_dir);
        unlink(pid);
        free(pid);
    }
    if (listening) /* ours: another server's socket is never touched */
        unlink(socket_path);
    if (unix_fd >= 0)
        close(unix_fd);
    if (tcp_fd >= 0)
        close(tcp_fd);
    if (mlflow_fd >= 0)
        close(mlflow_fd);
    if (lock_fd >= 0)
        close(lock_fd);
    free(token);
    free(token_path);
    free(tracking_uri);
    free(socket_path);
    free(real_dir);
    free(o.data_dir);
    return rc;
}
