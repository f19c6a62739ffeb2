/* urls.c: the API paths the mount asks for that are more than an object and a suffix (client_object_url,
 * client_run_url): collections, stored files and the queries they take, read-only folders. Every /v1
 * path and query is built in src/client. */
#include "client_internal.h"

#include <stdio.h>
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

char *client_stat_url(const char *url)
{
    return util_strdupf("%s?stat=1", url);
}

char *client_mkdir_url(const char *url, unsigned mode)
{
    return util_strdupf("%s?type=dir&mode=0%o", url, mode & 07777);
}

char *client_attr_url(const char *url, long mode, long long mtime_ms)
{
    char m[32] = "", t[40] = "";
    if (mode >= 0)
        snprintf(m, sizeof m, "mode=0%lo", (unsigned long)mode & 07777);
    if (mtime_ms >= 0)
        snprintf(t, sizeof t, "mtime_ms=%lld", mtime_ms);
    return util_strdupf("%s?%s%s%s", url, m, m[0] && t[0] ? "&" : "", t);
}

char *client_symlink_url(const char *url, const char *target)
{
    char *escaped = client_escape(target);
    char *out = util_strdupf("%s?type=symlink&target=%s", url, escaped);
    free(escaped);
    return out;
}

char *client_rename_url(const char *url, const char *to_rel)
{
    char *escaped = client_escape(to_rel);
    char *out = util_strdupf("%s?rename_to=%s", url, escaped);
    free(escaped);
    return out;
}

char *client_listing_url(const char *url)
{
    return util_strdupf("%s/", url);
}
