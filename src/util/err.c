/* err.c: filling and prefixing amlfs_err messages.
 * Messages are one line, truncated, never overflowed; the errno travels with them. */
#include "amlfs/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A message is one line: control characters that came in with a name or a path (a newline in a refused
 * folder name) are written as \n, \t or \xHH, so one status line stays one line. */
static void one_line(char *msg, size_t size)
{
    char out[sizeof ((amlfs_err *)0)->msg];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < sizeof out; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            out[o++] = (char)*p;
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            out[o++] = '\\';
            out[o++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
        } else {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", *p);
        }
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

static bool has_control(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int amlfs_fail(amlfs_err *err, int errnum, const char *fmt, ...)
{
    if (errnum <= 0)
        errnum = EIO;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (has_control(err->msg))
            one_line(err->msg, sizeof err->msg);
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
    if (has_control(err->msg))
        one_line(err->msg, sizeof err->msg);
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
