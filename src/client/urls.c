/* urls.c: the API paths the mount asks for that are more than an object and a suffix (client_object_url,
 * client_run_url): collections, stored files, read-only folders. Every /v1 path is built in src/client. */
#include "client_internal.h"

#include <stdlib.h>

#include "amlfs/util.h"

char *client_collection_url(const char *kind)
{
    return util_strdupf("/v1/%s", kind);
}

char *client_files_url(const char *kind, const char *name, const char *rel)
{
    return client_object_url(kind, name, "/files/", rel ? rel : "");
}

char *client_folder_url(const char *kind, const char *name, const char *version, const char *folder,
                        const char *rel, const char *suffix)
{
    char *v = version ? client_escape(version) : NULL;
    char *middle = v ? util_strdupf("/versions/%s/%s/", v, folder) : util_strdupf("/%s/", folder);
    char *base = client_object_url(kind, name, middle, rel ? rel : "");
    char *url = util_strdupf("%s%s", base, suffix ? suffix : "");
    free(base);
    free(middle);
    free(v);
    return url;
}
