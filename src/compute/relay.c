/* relay.c: how a job in a container reaches MLflow's tracking API without the network at large. A small
 * process of the supervisor makes a network namespace of its own (loopback only), listens there on
 * 127.0.0.1:PORT, the port of the server's loopback address (so MLFLOW_TRACKING_URI reads the same inside),
 * and carries each connection to the server's 127.0.0.1:PORT in the host's namespace. The container joins
 * that namespace (podman --network ns:/proc/PID/ns/net); one with the network gets slirp4netns on it for
 * outbound traffic, as podman's own user-mode networking does. The job's token still decides what it may
 * do: the relay only carries bytes. */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the relay and slirp4netns get to be ready before the run goes without them. */
#define READY_WAIT_MS 5000
#define PUMP_CHUNK 65536

int compute_relay_port(const char *uri)
{
    static const char *const prefixes[] = {"http://127.0.0.1:", "http://localhost:"};
    for (size_t i = 0; uri && i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(uri, prefixes[i], n) != 0)
            continue;
        char *end;
        long port = strtol(uri + n, &end, 10);
        if (end != uri + n && (*end == '\0' || *end == '/') && port > 0 && port < 65536)
            return (int)port;
    }
    return 0;
}

static int loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -errno : 0;
    ifr.ifr_flags |= IFF_UP;
    if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int listen_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Copies both ways until both sides are done (a half-close is passed on). */
static void pump(int a, int b)
{
    static char buf[PUMP_CHUNK];
    bool open_a = true, open_b = true;
    while (open_a || open_b) {
        struct pollfd fds[2] = {{.fd = open_a ? a : -1, .events = POLLIN}, {.fd = open_b ? b : -1, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!fds[i].revents)
                continue;
            int from = i == 0 ? a : b, to = i == 0 ? b : a;
            ssize_t n = read(from, buf, sizeof buf);
            if (n > 0 && util_write_all(to, buf, (size_t)n) == 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            shutdown(to, SHUT_WR);
            *(i == 0 ? &open_a : &open_b) = false;
        }
    }
}

/* One connection, in a process of its own back in the host's namespace. */
static void carry(int client, int host_ns, int port)
{
    if (setns(host_ns, CLONE_NEWNET) < 0)
        _exit(1);
    int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    if (up < 0 || connect(up, (struct sockaddr *)&addr, sizeof addr) < 0)
        _exit(1); /* the client sees the connection close: the server is not there */
    pump(client, up);
    _exit(0);
}

/* The relay process: never returns. Reports readiness (0) or a negative errno on ready_fd. */
static void relay_main(int port, int ready_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* it ends with its supervisor, whatever happens */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_IGN); /* connection processes reap themselves */
    signal(SIGPIPE, SIG_IGN);
    setpgid(0, 0);
    int32_t status = 0;
    int host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int lfd = -1;
    if (host_ns < 0 || unshare(CLONE_NEWNET) < 0)
        status = -errno;
    else if ((status = loopback_up()) == 0 && (lfd = listen_loopback(port)) < 0)
        status = lfd;
    (void)!write(ready_fd, &status, sizeof status);
    close(ready_fd);
    if (status < 0)
        _exit(1);
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
                continue;
            _exit(1);
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            carry(c, host_ns, port);
        }
        close(c);
    }
}

/* Reads a 4-byte status from fd within READY_WAIT_MS: 0 ready, else a negative errno. */
static int await_status(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int32_t status = -ETIMEDOUT;
    if (poll(&p, 1, READY_WAIT_MS) > 0 && read(fd, &status, sizeof status) != (ssize_t)sizeof status)
        status = -EIO;
    return status;
}

static void end_process(compute_proc_id *id)
{
    if (id->pid <= 0)
        return;
    compute_proc_signal(id, SIGKILL);
    while (waitpid(id->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    id->pid = 0;
}

static void remember(compute_proc_id *id, pid_t pid)
{
    id->pid = pid;
    if (compute_proc_stat(pid, &id->starttime, NULL) < 0)
        id->starttime = 0;
}

/* slirp4netns on the relay's namespace, ready (--ready-fd) or failed. */
static int start_slirp(compute_relay *r, amlfs_err *err)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return amlfs_fail(err, errno, "pipe: %s", strerror(errno));
    char pid[24], fd[24];
    snprintf(pid, sizeof pid, "%d", (int)r->relay.pid);
    snprintf(fd, sizeof fd, "%d", ready[1]);
    char *const argv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd", fd,
                          pid, "tap0", NULL};
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        fcntl(ready[1], F_SETFD, 0); /* the one descriptor slirp4netns is handed */
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            dup2(null_fd, STDOUT_FILENO); /* its chatter stays out of the run's log; stderr is supervisor.log */
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(ready[1]);
    if (child < 0) {
        close(ready[0]);
        return amlfs_fail(err, errno, "cannot start slirp4netns: %s", strerror(errno));
    }
    remember(&r->slirp, child);
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    char c = 0;
    bool ok = poll(&p, 1, READY_WAIT_MS) > 0 && read(ready[0], &c, 1) == 1 && c == '1';
    close(ready[0]);
    if (!ok) {
        end_process(&r->slirp);
        return amlfs_fail(err, EIO, "slirp4netns did not come up (is it installed? apt-get install slirp4netns)");
    }
    return 0;
}

int compute_relay_start(int port, bool network, compute_relay *r, amlfs_err *err)
{
    memset(r, 0, sizeof *r);
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return amlfs_fail(err, errno, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        relay_main(port, ready[1]);
    }
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        return amlfs_fail(err, errno, "cannot fork MLflow's relay: %s", strerror(errno));
    }
    remember(&r->relay, pid);
    int status = await_status(ready[0]);
    close(ready[0]);
    if (status < 0) {
        end_process(&r->relay);
        return amlfs_fail(err, -status, "cannot give the container a network namespace with MLflow's API at "
                          "127.0.0.1:%d: %s", port, strerror(-status));
    }
    r->netns = util_strdupf("/proc/%d/ns/net", (int)pid);
    if (network && start_slirp(r, err) < 0) {
        compute_relay_stop(r);
        return -EIO;
    }
    return 0;
}

void compute_relay_stop(compute_relay *r)
{
    end_process(&r->slirp);
    end_process(&r->relay);
    free(r->netns);
    r->netns = NULL;
}
