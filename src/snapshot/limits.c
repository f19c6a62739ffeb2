/* limits.c: the snapshot size limits (bytes, files, folders) and the message when they are exceeded:
 * the totals, the limit, the largest contributors, and the ignore lines that would leave them out. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_CONTRIBUTORS 3

typedef enum { BY_BYTES, BY_FILES, BY_DIRS } metric;

/* A top-level file or folder and what it adds up to. */
typedef struct contributor {
    char *path;
    bool is_dir;
    uint64_t bytes, files, dirs;
} contributor;

void snapshot_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"KB", "MB", "GB", "TB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    char num[32];
    snprintf(num, sizeof num, "%.1f", v);
    size_t n = strlen(num);
    if (n > 2 && strcmp(num + n - 2, ".0") == 0)
        num[n - 2] = '\0';
    snprintf(buf, len, "%s %s", num, units[u]);
}

static uint64_t value_of(const contributor *c, metric by)
{
    return by == BY_BYTES ? c->bytes : by == BY_FILES ? c->files : c->dirs;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const contributor *)a)->path, ((const contributor *)b)->path);
}

static int larger_first(const void *a, const void *b, void *by)
{
    uint64_t va = value_of(a, *(metric *)by), vb = value_of(b, *(metric *)by);
    if (va != vb)
        return va > vb ? -1 : 1;
    return by_name(a, b);
}

/* The children of the folder `prefix` ("" for the root, else "dir/"), with what each adds up to,
 * sorted largest first by `by`. */
static contributor *children_of(const snapshot_manifest *m, const char *prefix, metric by, size_t *n_out)
{
    size_t plen = strlen(prefix), n = 0;
    contributor *all = util_xcalloc(m->count ? m->count : 1, sizeof *all);
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        if (strncmp(e->path, prefix, plen) != 0 || !e->path[plen])
            continue;
        const char *rest = e->path + plen;
        const char *slash = strchr(rest, '/');
        contributor *c = &all[n++];
        c->path = slash ? strndup(e->path, (size_t)(slash - e->path)) : util_xstrdup(e->path);
        if (!c->path)
            abort();
        c->is_dir = slash != NULL || e->type == SNAPSHOT_DIR;
        if (e->type == SNAPSHOT_FILE) {
            c->bytes = e->size;
            c->files = 1;
        } else if (e->type == SNAPSHOT_SYMLINK) {
            c->files = 1;
        } else if (slash) {
            c->dirs = 1; /* a folder below counts; the child folder itself does not */
        }
    }
    if (n > 1)
        qsort(all, n, sizeof *all, by_name);
    size_t merged = 0;
    for (size_t i = 0; i < n; i++) {
        if (merged && strcmp(all[merged - 1].path, all[i].path) == 0) {
            contributor *into = &all[merged - 1];
            into->bytes += all[i].bytes;
            into->files += all[i].files;
            into->dirs += all[i].dirs;
            into->is_dir = into->is_dir || all[i].is_dir;
            free(all[i].path);
        } else {
            all[merged++] = all[i];
        }
    }
    /* Largest first; ties by name, so messages do not depend on qsort's whims. */
    if (merged > 1)
        qsort_r(all, merged, sizeof *all, larger_first, &by);
    *n_out = merged;
    return all;
}

static void free_contributors(contributor *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].path);
    free(c);
}

typedef struct text {
    char buf[sizeof(((amlfs_err *)0)->msg)];
    size_t len;
} text;

__attribute__((format(printf, 2, 3))) static void add(text *t, const char *fmt, ...)
{
    if (t->len >= sizeof t->buf - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < sizeof t->buf ? t->len + (size_t)n : sizeof t->buf - 1;
}

static void add_amount(text *t, const contributor *c, metric by)
{
    char size[32];
    if (by == BY_BYTES) {
        snapshot_format_size(c->bytes, size, sizeof size);
        add(t, "%s", size);
    } else if (by == BY_FILES) {
        add(t, "%llu file%s", (unsigned long long)c->files, c->files == 1 ? "" : "s");
    } else {
        add(t, "%llu folder%s", (unsigned long long)c->dirs, c->dirs == 1 ? "" : "s");
    }
}

int snapshot_limits_check(const snapshot_manifest *m, const snapshot_limits *limits, const char *subject,
                          const char *ignore_file, amlfs_err *err)
{
    uint64_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : SNAPSHOT_DEFAULT_MAX_BYTES;
    uint64_t max_files = limits && limits->max_files ? limits->max_files : SNAPSHOT_DEFAULT_MAX_FILES;
    uint64_t bytes = 0, files = 0, dirs = 0;
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        bytes += e->type == SNAPSHOT_FILE ? e->size : 0;
        files += e->type != SNAPSHOT_DIR;
        dirs += e->type == SNAPSHOT_DIR;
    }
    bool over_bytes = bytes > max_bytes, over_files = files > max_files, over_dirs = dirs > max_files;
    if (!over_bytes && !over_files && !over_dirs)
        return 0;
    metric by = over_bytes ? BY_BYTES : over_files ? BY_FILES : BY_DIRS;
    uint64_t total = by == BY_BYTES ? bytes : by == BY_FILES ? files : dirs;
    uint64_t limit = by == BY_BYTES ? max_bytes : max_files;

    text t = {.len = 0};
    char total_s[32], limit_s[32];
    snapshot_format_size(bytes, total_s, sizeof total_s);
    snapshot_format_size(max_bytes, limit_s, sizeof limit_s);
    if (strcmp(total_s, limit_s) == 0)
        snprintf(total_s, sizeof total_s, "%llu bytes", (unsigned long long)bytes);
    if (by == BY_BYTES)
        add(&t, "%s is %s in %llu files, over the %s limit", subject, total_s, (unsigned long long)files,
            limit_s);
    else if (by == BY_FILES)
        add(&t, "%s has %llu files (%s), over the %llu-file limit", subject, (unsigned long long)files, total_s,
            (unsigned long long)max_files);
    else
        add(&t, "%s has %llu folders, over the %llu-folder limit", subject, (unsigned long long)dirs,
            (unsigned long long)max_files);
    if (by == BY_BYTES && over_files)
        add(&t, " and the %llu-file limit", (unsigned long long)max_files);

    size_t n;
    contributor *top = children_of(m, "", by, &n);
    size_t shown = n < SHOWN_CONTRIBUTORS ? n : SHOWN_CONTRIBUTORS;
    if (shown) {
        add(&t, ": %s: ", by == BY_BYTES ? "largest" : "most");
        for (size_t i = 0; i < shown; i++) {
            add(&t, "%s%s%s ", i ? ", " : "", top[i].path, top[i].is_dir ? "/" : "");
            add_amount(&t, &top[i], by);
        }
    }
    if (ignore_file && shown) {
        /* Suggest the fewest of the shown contributors that bring the total under the limit. */
        uint64_t left = total;
        size_t suggest = 0;
        while (suggest < shown && left > limit && value_of(&top[suggest], by) > 0)
            left -= value_of(&top[suggest++], by);
        if (suggest) {
            add(&t, "; add ");
            for (size_t i = 0; i < suggest; i++) {
                char *line = snapshot_ignore_line_for(top[i].path, top[i].is_dir);
                add(&t, "%s`%s`", i == 0 ? "" : i + 1 == suggest ? " and " : ", ", line);
                free(line);
            }
            add(&t, " to %s to leave %s out", ignore_file, suggest == 1 ? "it" : "them");
        }
    }
    free_contributors(top, n);
    return amlfs_fail(err, EFBIG, "%s", t.buf);
}
