/* rules.c: which metric names, parameter and tag keys, and run ids MLflow accepts (its
 * mlflow/utils/validation.py), checked the same way for AMLFS_METRICS lines and the REST API. */
#include "amlfs/metrics.h"

#include <string.h>

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ' ' || c == '/';
}

/* posixpath.normpath(key) == key, and it is neither "." nor leading "..", nor absolute. */
static const char *path_problem(const char *key)
{
    if (key[0] == '/')
        return "it starts with '/'";
    size_t n = strlen(key);
    if (key[n - 1] == '/')
        return "it ends with '/'";
    if (strstr(key, "//"))
        return "it holds '//'";
    for (const char *part = key; part;) {
        const char *slash = strchr(part, '/');
        size_t len = slash ? (size_t)(slash - part) : strlen(part);
        if ((len == 1 && part[0] == '.') || (len == 2 && part[0] == '.' && part[1] == '.'))
            return "a part of it is '.' or '..'";
        part = slash ? slash + 1 : NULL;
    }
    return NULL;
}

int metrics_check_key(const char *kind, const char *key, amlfs_err *err)
{
    if (!key || !key[0])
        return amlfs_fail(err, EINVAL, "%s is empty: a name is needed", kind);
    size_t n = strnlen(key, METRICS_KEY_MAX + 1);
    if (n > METRICS_KEY_MAX)
        return amlfs_fail(err, EINVAL, "%s '%.40s...' is longer than %d characters (MLflow's limit)", kind, key,
                          METRICS_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if (!key_char(key[i]))
            return amlfs_fail(err, EINVAL,
                              "%s '%s' holds '%c': names may hold only letters, digits, '_', '-', '.', ' ' and '/' "
                              "(MLflow's rule, ASCII here)", kind, key,
                              (unsigned char)key[i] >= 0x20 && (unsigned char)key[i] < 0x7f ? key[i] : '?');
    const char *why = path_problem(key);
    if (why)
        return amlfs_fail(err, EINVAL, "%s '%s' is not a plain path: %s (MLflow's rule)", kind, key, why);
    return 0;
}

bool metrics_run_id_ok(const char *id)
{
    if (!id)
        return false;
    size_t n = strlen(id);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-')))
            return false;
    }
    return true;
}
