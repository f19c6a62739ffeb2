/* launch.h: how amlfs's main finds its server, starting a local one if needed (launch.c).
 * Internal to the fs layer. */
#ifndef AMLFS_FS_LAUNCH_H
#define AMLFS_FS_LAUNCH_H

#include "amlfs/client.h"

/* A client that has reached the server. `server` ("unix:PATH" or "http(s)://HOST:PORT") may be NULL:
 * then the socket of `data_dir` (NULL: the default data dir) is used, and amlfs-server is started
 * there if nothing answers. *event_seq gets the workspace's current event number. */
int launch_connect(const char *server, const char *token_file, const char *tls_ca, const char *data_dir,
                   amlfs_client **out, long long *event_seq, amlfs_err *err);

#endif
