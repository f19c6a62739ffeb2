/* err.c: filling and prefixing amlfs_err messages.
 * Messages are truncated, never overflowed; the errno travels with them. */
#include "amlfs/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int amlfs_fail(amlfs_err *err, int errnum, const char *fmt, ...)
{
    if (errnum <= 0)
        errnum = EIO;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = errnum;
    }
    return -errnum;
}

int amlfs_wrap(amlfs_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = n < 0 ? 0 : ((size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1);
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen + olen > sizeof err->msg - 1)
        olen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, olen); /* keep the old text after the new prefix */
    memcpy(err->msg, prefix, plen);
    err->msg[plen + olen] = 0;
    if (err->code <= 0)
        err->code = EIO;
    return -err->code;
}

void amlfs_err_clear(amlfs_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
