/* listen.c: the sockets the server listens on, created here and handed to libmicrohttpd: the
 * owner-only unix socket in the data folder, an optional TCP address, and the loopback port of MLflow's
 * tracking API for jobs (the same port across restarts when it is free, so running jobs keep reaching it). */
#include "amlfs/server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "amlfs/log.h"
#include "amlfs/util.h"

#define BACKLOG 128

int listen_unix(const char *path, int *out_fd, amlfs_err *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return amlfs_fail(err, ENAMETOOLONG, "socket path %s is longer than %zu bytes: use a shorter "
                          "--data-dir", path, sizeof addr.sun_path - 1);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return amlfs_fail(err, errno, "socket: %s", strerror(errno));
    /* Someone answering means a live server: never steal its socket. */
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(fd);
        return amlfs_fail(err, EADDRINUSE, "another amlfs-server is already running on %s", path);
    }
    close(fd);
    if (unlink(path) < 0 && errno != ENOENT)
        return amlfs_fail(err, errno, "removing the stale socket %s: %s", path, strerror(errno));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return amlfs_fail(err, errno, "socket: %s", strerror(errno));
    /* Created 0600 from the start: there is no moment when others could connect. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int saved = errno;
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, BACKLOG) < 0) {
        saved = rc < 0 ? saved : errno;
        close(fd);
        return amlfs_fail(err, saved, "listening on %s: %s", path, strerror(saved));
    }
    *out_fd = fd;
    return 0;
}

int listen_tcp(const char *host_port, int *out_fd, amlfs_err *err)
{
    const char *colon = strrchr(host_port, ':');
    if (!colon || colon == host_port || !colon[1])
        return amlfs_fail(err, EINVAL, "--listen %s: write HOST:PORT, e.g. 127.0.0.1:8470 or [::1]:8470",
                          host_port);
    char *host = strndup(host_port, (size_t)(colon - host_port));
    if (!host)
        return amlfs_fail(err, ENOMEM, "out of memory");
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8470 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    free(host);
    if (gai != 0)
        return amlfs_fail(err, EINVAL, "--listen %s: %s", host_port, gai_strerror(gai));
    int r = -EADDRNOTAVAIL, saved = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, BACKLOG) == 0) {
            *out_fd = fd;
            r = 0;
            break;
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (r < 0)
        return amlfs_fail(err, saved, "--listen %s: %s", host_port, strerror(saved));
    return 0;
}

#define MLFLOW_PORT_FILE "mlflow.port"

static int listen_loopback(int port, int *out_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, BACKLOG) < 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    *out_fd = fd;
    return 0;
}

int listen_mlflow(const char *data_dir, int *out_fd, int *out_port, amlfs_err *err)
{
    char *path = util_strdupf("%s/" MLFLOW_PORT_FILE, data_dir), *text = NULL;
    int port = 0;
    if (util_read_file(path, &text, NULL, NULL) == 0) {
        char *end;
        long n = strtol(text, &end, 10);
        if (n > 0 && n < 65536 && (*end == '\n' || *end == '\0'))
            port = (int)n;
    }
    free(text);
    int rc = port ? listen_loopback(port, out_fd) : -EADDRINUSE;
    if (rc < 0 && port)
        log_warning("MLflow's port %d is taken now (%s): jobs started from here on get a new one; "
                    "running jobs lose MLflow's API", port, strerror(-rc));
    if (rc < 0)
        rc = listen_loopback(0, out_fd);
    if (rc < 0) {
        free(path);
        return amlfs_fail(err, -rc, "listening on a loopback port for MLflow's tracking API: %s", strerror(-rc));
    }
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (getsockname(*out_fd, (struct sockaddr *)&bound, &len) < 0) {
        rc = amlfs_fail(err, errno, "getsockname: %s", strerror(errno));
        close(*out_fd);
        free(path);
        return rc;
    }
    *out_port = ntohs(bound.sin_port);
    char number[16];
    snprintf(number, sizeof number, "%d\n", *out_port);
    rc = *out_port == port ? 0 : util_write_file_atomic(path, number, strlen(number), 0600, err);
    free(path);
    if (rc < 0)
        close(*out_fd);
    return rc;
}
