/* strings.c: allocation helpers, name and relative-path checks, edit distance.
 * Allocation failure aborts: these daemons cannot do anything useful without memory. */
#include "amlfs/util.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
    fputs("amlfs: out of memory\n", stderr);
    abort();
}

char *util_strdupf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory();
    return s;
}

char *util_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        out_of_memory();
    return d;
}

void *util_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *util_xrealloc(void *p, size_t size)
{
    void *grown = realloc(p, size ? size : 1);
    if (!grown)
        out_of_memory();
    return grown;
}

int util_buf_append(util_buf *b, const void *bytes, size_t n, size_t limit)
{
    if (limit && (n > limit || b->len > limit - n))
        return -EFBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = util_xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void util_buf_free(util_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool util_is_editor_scratch(const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return false;
    if (strcmp(name, "4913") == 0 || (n > 1 && name[n - 1] == '~'))
        return true;
    if (n > 2 && ((name[0] == '#' && name[n - 1] == '#') || (name[0] == '.' && name[1] == '#')))
        return true;
    /* vim swap files: .NAME.swp, then .swo, .swn, ... down to .saa; .swx is its write test. */
    return name[0] == '.' && n > 5 && name[n - 4] == '.' && name[n - 3] == 's' && name[n - 2] >= 'a' &&
           name[n - 2] <= 'x' && name[n - 1] >= 'a' && name[n - 1] <= 'z';
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int util_check_name(const char *kind, const char *name, amlfs_err *err)
{
    size_t len = name ? strlen(name) : 0;
    const char *rule = "use letters, digits, '-', '_' and '.', starting with a letter or digit, "
                       "at most 255 characters";
    if (len == 0)
        return amlfs_fail(err, EINVAL, "a %s name cannot be empty: %s", kind, rule);
    if (len > 255)
        return amlfs_fail(err, EINVAL, "%s name is %zu characters long: %s", kind, len, rule);
    if (!is_alnum(name[0]))
        return amlfs_fail(err, EINVAL, "'%s' is not a valid %s name: %s", name, kind, rule);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
            return amlfs_fail(err, EINVAL, "'%s' is not a valid %s name ('%c' is not allowed): %s",
                              name, kind, c, rule);
    }
    return 0;
}

int util_check_relpath(const char *path, amlfs_err *err)
{
    if (!path || !*path)
        return amlfs_fail(err, EINVAL, "empty path");
    if (path[0] == '/')
        return amlfs_fail(err, EINVAL, "'%s' must be a relative path", path);
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return amlfs_fail(err, EINVAL, "'%s' has an empty, '.' or '..' part", path);
        if (n > 255)
            return amlfs_fail(err, ENAMETOOLONG, "a part of '%s' is longer than 255 bytes", path);
        p += n;
        if (*p == '/')
            p++;
        if (slash && !*p)
            return amlfs_fail(err, EINVAL, "'%s' ends with '/'", path);
    }
    return 0;
}

size_t util_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = util_xcalloc(lb + 1, sizeof *row);
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0; /* a continuation byte, an overlong 2-byte lead, or past U+10FFFF */
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
        (s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, a surrogate, or past U+10FFFF */
    return len;
}

bool util_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(p + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

size_t util_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s), replaced = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(p + i, n - i);
        if (len) {
            i += len;
        } else {
            p[i++] = '?';
            replaced++;
        }
    }
    return replaced;
}
