/* errors.c: how an error crosses the wire: errno <-> HTTP status, code and symbolic name.
 * The symbolic errno lets the FUSE daemon answer exactly what the server meant. */
#include "amlfs/api.h"

#include <stdio.h>
#include <string.h>

static const struct {
    int num;
    const char *name;
    int http;
    const char *code;
} table[] = {
    {EINVAL, "EINVAL", 400, "invalid"},   {ENOENT, "ENOENT", 404, "not_found"},
    {EEXIST, "EEXIST", 409, "exists"},    {EBUSY, "EBUSY", 409, "busy"},
    {ENOTEMPTY, "ENOTEMPTY", 409, "busy"},{EACCES, "EACCES", 403, "forbidden"},
    {EROFS, "EROFS", 403, "forbidden"},   {EPERM, "EPERM", 403, "forbidden"},
    {EFBIG, "EFBIG", 413, "too_large"},   {ENOSPC, "ENOSPC", 413, "too_large"},
    {E2BIG, "E2BIG", 413, "too_large"}, /* a command over what one argument may hold */
    {ENOTDIR, "ENOTDIR", 400, "invalid"}, {EISDIR, "EISDIR", 400, "invalid"},
    {ENAMETOOLONG, "ENAMETOOLONG", 400, "invalid"},
    {ENOTSUP, "ENOTSUP", 400, "invalid"}, {ETIMEDOUT, "ETIMEDOUT", 504, "timeout"},
    {EAGAIN, "EAGAIN", 409, "busy"}, /* a code folder changed while its snapshot was taken: try again */
    /* A compute's cluster does not answer, or the compute is Failed: the server itself is fine. */
    {EHOSTUNREACH, "EHOSTUNREACH", 503, "unavailable"},
    {EIO, "EIO", 500, "internal"},        {ENOMEM, "ENOMEM", 500, "internal"},
};
#define NTABLE (sizeof table / sizeof table[0])

int api_errno_from_name(const char *name)
{
    for (size_t i = 0; name && i < NTABLE; i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].num;
    return EIO;
}

const char *api_errno_name(int errnum)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].num == errnum)
            return table[i].name;
    return "EIO";
}

int api_http_status_for(int errnum)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].num == errnum)
            return table[i].http;
    return 500;
}

const char *api_code_for(int errnum)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (table[i].num == errnum)
            return table[i].code;
    return "internal";
}

cJSON *api_error_json(const amlfs_err *err)
{
    int num = err && err->code > 0 ? err->code : EIO;
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", api_code_for(num));
    cJSON_AddStringToObject(e, "errno", api_errno_name(num));
    cJSON_AddStringToObject(e, "message", err && err->msg[0] ? err->msg : strerror(num));
    return root;
}

static int errno_for_http(long http)
{
    switch (http) {
    case 400: return EINVAL;
    case 401: case 403: return EACCES;
    case 404: return ENOENT;
    case 409: return EEXIST;
    case 413: return EFBIG;
    default: return EIO;
    }
}

int api_error_from_body(const char *body, long http_status, amlfs_err *err)
{
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    cJSON *num = cJSON_GetObjectItemCaseSensitive(e, "errno");
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    int errnum = cJSON_IsString(num) ? api_errno_from_name(num->valuestring) : errno_for_http(http_status);
    int rc;
    if (cJSON_IsString(msg))
        rc = amlfs_fail(err, errnum, "%s", msg->valuestring);
    else
        rc = amlfs_fail(err, errnum, "server answered HTTP %ld", http_status);
    cJSON_Delete(root);
    return rc;
}
