/* listen.c: the sockets the server listens on, created here and handed to libmicrohttpd: the
 * owner-only unix socket in the data folder, and an optional TCP address. */
#include "amlfs/server.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
