/* auth.c: registry credentials for podman as an auth file (--authfile) of mode 0600 in a private folder,
 * living only while podman needs it: never on a command line or in an environment others can read. */
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int env_auth_create(env_images *im, const char *address, const char *username, const char *password,
                    char **path, amlfs_err *err)
{
    *path = NULL;
    if (!address || (!username && !password))
        return 0;
    char *pair = util_strdupf("%s:%s", username ? username : "", password ? password : "");
    size_t len = strlen(pair);
    char *encoded = util_xcalloc(1, 4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)pair, (int)len);
    wipe_free(pair);
    cJSON *root = cJSON_CreateObject();
    cJSON *auths = cJSON_AddObjectToObject(root, "auths");
    cJSON *entry = cJSON_AddObjectToObject(auths, address);
    cJSON_AddStringToObject(entry, "auth", encoded);
    wipe_free(encoded);
    char *text = cJSON_PrintUnformatted(root);
    /* cJSON keeps its own copy of the encoded pair: wipe it before freeing. */
    cJSON *auth = cJSON_GetObjectItemCaseSensitive(entry, "auth");
    explicit_bzero(auth->valuestring, strlen(auth->valuestring));
    cJSON_Delete(root);

    char *dir = util_strdupf("%s/.auth-XXXXXX", im->images_dir); /* mkdtemp: mode 0700 */
    int rc = 0;
    if (!mkdtemp(dir)) {
        rc = amlfs_fail(err, errno, "cannot make a private folder for registry credentials in %s: %s",
                        im->images_dir, strerror(errno));
    } else {
        char *file = util_strdupf("%s/auth.json", dir);
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        size_t n = strlen(text);
        errno = 0;
        bool ok = fd >= 0 && write(fd, text, n) == (ssize_t)n;
        int e = errno ? errno : EIO;
        if (fd >= 0 && close(fd) < 0 && ok) {
            ok = false;
            e = errno;
        }
        if (!ok) {
            rc = amlfs_fail(err, e, "cannot write registry credentials in %s: %s", dir, strerror(e));
            unlink(file);
            rmdir(dir);
            free(file);
        } else {
            *path = file;
        }
    }
    wipe_free(text);
    free(dir);
    return rc;
}

void env_auth_remove(char *path)
{
    if (!path)
        return;
    unlink(path);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(path);
    }
    free(path);
}
