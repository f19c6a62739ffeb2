/* err.h: the one error convention of amlfs.
 * Functions return 0 (or a count) on success and a negative errno on failure, filling an amlfs_err. */
#ifndef AMLFS_ERR_H
#define AMLFS_ERR_H

#include <errno.h>
#include <stddef.h>

/* A message for people: one line, says what was wrong and what to do.
 * Callers may pass NULL when they do not want the text. */
typedef struct amlfs_err {
    int code;        /* positive errno of the last failure, 0 when none */
    char msg[1024];  /* one line, no trailing newline */
} amlfs_err;

/* Record errnum and a printf-style message; returns -errnum so callers can `return amlfs_fail(...)`. */
int amlfs_fail(amlfs_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context ("loading run X: " + old message); returns -err->code. */
int amlfs_wrap(amlfs_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void amlfs_err_clear(amlfs_err *err);

#endif
