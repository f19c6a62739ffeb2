/* manifest.c: the list of a snapshot's entries, its checks (safe paths, folders above, symlinks that
 * stay inside) and its name: the SHA-256 of a canonical serialisation. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYMLINK_MAX_HOPS 40 /* as the kernel's ELOOP limit */
#define RESOLVE_MAX_PATH 8192

void snapshot_manifest_init(snapshot_manifest *m)
{
    memset(m, 0, sizeof *m);
}

void snapshot_manifest_free(snapshot_manifest *m)
{
    for (size_t i = 0; i < m->count; i++) {
        free(m->entries[i].path);
        free(m->entries[i].target);
    }
    free(m->entries);
    snapshot_manifest_init(m);
}

const char *snapshot_type_name(snapshot_type t)
{
    switch (t) {
    case SNAPSHOT_FILE:
        return "file";
    case SNAPSHOT_DIR:
        return "dir";
    case SNAPSHOT_SYMLINK:
        return "symlink";
    }
    return "?";
}

void snapshot_manifest_add(snapshot_manifest *m, const char *path, snapshot_type type, unsigned mode,
                           uint64_t size, const char *sha256, const char *target)
{
    if (m->count == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        snapshot_entry *bigger = realloc(m->entries, m->cap * sizeof *bigger);
        if (!bigger)
            abort(); /* out of memory: as util_x* do */
        m->entries = bigger;
    }
    snapshot_entry *e = &m->entries[m->count++];
    memset(e, 0, sizeof *e);
    e->path = util_xstrdup(path);
    e->type = type;
    /* Only the executable bit is kept (as git does): the same code gives the same hash whatever the
     * umask of the machine it came from. */
    e->mode = type == SNAPSHOT_FILE ? ((mode & 0111) ? 0755 : 0644) : type == SNAPSHOT_DIR ? 0755 : 0777;
    if (type == SNAPSHOT_FILE) {
        e->size = size;
        if (sha256)
            snprintf(e->sha256, sizeof e->sha256, "%s", sha256);
    }
    if (type == SNAPSHOT_SYMLINK)
        e->target = util_xstrdup(target ? target : "");
    e->mtime_ms = -1;
    m->hash[0] = '\0';
}

void snapshot_manifest_set_mtime(snapshot_manifest *m, const struct timespec *mtime)
{
    if (m->count && mtime->tv_sec >= 0)
        m->entries[m->count - 1].mtime_ms = (int64_t)mtime->tv_sec * 1000 + mtime->tv_nsec / 1000000;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const snapshot_entry *)a)->path, ((const snapshot_entry *)b)->path);
}

void snapshot_manifest_sort(snapshot_manifest *m)
{
    if (m->count > 1)
        qsort(m->entries, m->count, sizeof *m->entries, by_path);
}

const snapshot_entry *snapshot_manifest_find(const snapshot_manifest *m, const char *path)
{
    snapshot_entry key = {.path = (char *)path};
    if (!m->count)
        return NULL;
    return bsearch(&key, m->entries, m->count, sizeof *m->entries, by_path);
}

/* Lexical resolution of a symlink target through the snapshot's own symlinks. */
typedef struct resolver {
    const snapshot_manifest *m;
    char *cur; /* the folder reached so far, relative to the root ("" = the root) */
    size_t len;
    int hops;
} resolver;

enum { RESOLVE_INSIDE, RESOLVE_ESCAPES, RESOLVE_LOOP, RESOLVE_TOO_LONG };

static int follow(resolver *r, const char *target)
{
    if (target[0] == '/')
        return RESOLVE_ESCAPES;
    for (const char *p = target; *p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* "a//b", "./a": no move */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (r->len == 0)
                return RESOLVE_ESCAPES;
            char *last = memrchr(r->cur, '/', r->len);
            r->len = last ? (size_t)(last - r->cur) : 0;
            r->cur[r->len] = '\0';
        } else {
            size_t keep = r->len;
            if (keep + 1 + n + 1 > RESOLVE_MAX_PATH)
                return RESOLVE_TOO_LONG;
            if (keep)
                r->cur[r->len++] = '/';
            memcpy(r->cur + r->len, p, n);
            r->len += n;
            r->cur[r->len] = '\0';
            /* A component that is itself a symlink of the snapshot is followed from its folder. */
            const snapshot_entry *e = snapshot_manifest_find(r->m, r->cur);
            if (e && e->type == SNAPSHOT_SYMLINK) {
                if (++r->hops > SYMLINK_MAX_HOPS)
                    return RESOLVE_LOOP;
                r->len = keep;
                r->cur[keep] = '\0';
                int rc = follow(r, e->target);
                if (rc != RESOLVE_INSIDE)
                    return rc;
            }
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return RESOLVE_INSIDE;
}

int snapshot_symlink_check(const snapshot_manifest *m, const char *link_path, const char *target,
                           amlfs_err *err)
{
    if (!target || !*target)
        return amlfs_fail(err, EINVAL, "symlink '%s' has an empty target", link_path);
    if (target[0] == '/')
        return amlfs_fail(err, EINVAL,
                          "symlink '%s' points to the absolute path '%s': a snapshot's symlinks must stay "
                          "inside it",
                          link_path, target);
    resolver r = {.m = m, .cur = malloc(RESOLVE_MAX_PATH)};
    if (!r.cur)
        return amlfs_fail(err, ENOMEM, "out of memory checking symlink '%s'", link_path);
    const char *slash = strrchr(link_path, '/');
    r.len = slash ? (size_t)(slash - link_path) : 0;
    if (r.len >= RESOLVE_MAX_PATH) {
        free(r.cur);
        return amlfs_fail(err, ENAMETOOLONG, "symlink '%s' has too long a path", link_path);
    }
    memcpy(r.cur, link_path, r.len);
    r.cur[r.len] = '\0';
    int res = follow(&r, target);
    free(r.cur);
    switch (res) {
    case RESOLVE_ESCAPES:
        return amlfs_fail(err, EINVAL,
                          "symlink '%s' points to '%s', which leads outside the snapshot folder", link_path,
                          target);
    case RESOLVE_LOOP:
        return amlfs_fail(err, EINVAL, "symlink '%s' points to '%s': too many levels of symlinks",
                          link_path, target);
    case RESOLVE_TOO_LONG:
        return amlfs_fail(err, ENAMETOOLONG, "symlink '%s' points to too long a path", link_path);
    }
    return 0;
}

/* Every ancestor folder of e that has an entry must be a folder: nothing may be stored under a file
 * or (what would let writes escape) under a symlink. */
static int check_ancestors(const snapshot_manifest *m, const snapshot_entry *e, bool require_parents,
                           amlfs_err *err)
{
    char *prefix = util_xstrdup(e->path);
    int rc = 0;
    char *last = strrchr(prefix, '/');
    for (char *slash = strchr(prefix, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        const snapshot_entry *up = snapshot_manifest_find(m, prefix);
        if (up && up->type != SNAPSHOT_DIR) {
            rc = amlfs_fail(err, EINVAL, "'%s' lies under '%s', which is a %s, not a folder", e->path, prefix,
                            snapshot_type_name(up->type));
            break;
        }
        if (!up && require_parents && slash == last) {
            rc = amlfs_fail(err, EINVAL, "'%s' has no entry for its folder '%s'", e->path, prefix);
            break;
        }
        *slash = '/';
    }
    free(prefix);
    return rc;
}

int snapshot_manifest_check(snapshot_manifest *m, bool require_parents, bool require_hashes, amlfs_err *err)
{
    m->total_bytes = m->file_count = m->dir_count = 0;
    for (size_t i = 0; i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        int rc = util_check_relpath(e->path, err);
        if (rc < 0)
            return err ? amlfs_wrap(err, "snapshot entry ") : rc;
        if (i > 0) {
            int order = strcmp(m->entries[i - 1].path, e->path);
            if (order == 0)
                return amlfs_fail(err, EINVAL, "'%s' appears twice in the snapshot", e->path);
            if (order > 0)
                return amlfs_fail(err, EINVAL, "snapshot entries are not sorted at '%s'", e->path);
        }
        rc = check_ancestors(m, e, require_parents, err);
        if (rc < 0)
            return rc;
        switch (e->type) {
        case SNAPSHOT_FILE:
            if ((require_hashes || e->sha256[0]) && !snapshot_sha_valid(e->sha256))
                return amlfs_fail(err, EINVAL, "file '%s' has no valid SHA-256 (64 lowercase hex digits)",
                                  e->path);
            if (e->size > UINT64_MAX - m->total_bytes)
                return amlfs_fail(err, EFBIG, "file sizes of the snapshot overflow");
            m->total_bytes += e->size;
            m->file_count++;
            break;
        case SNAPSHOT_DIR:
            m->dir_count++;
            break;
        case SNAPSHOT_SYMLINK:
            if ((rc = snapshot_symlink_check(m, e->path, e->target, err)) < 0)
                return rc;
            m->file_count++;
            break;
        default:
            return amlfs_fail(err, EINVAL, "'%s' has an unknown entry type", e->path);
        }
    }
    return 0;
}

/* The canonical serialisation: a format line, then per entry fixed fields and the NUL-terminated path
 * (and target): paths may hold any byte but NUL, so no two manifests serialise alike. */
static int hash_entries(const snapshot_manifest *m, char hex[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    snapshot_hasher *h;
    int rc = snapshot_hasher_new(&h, err);
    if (rc < 0)
        return rc;
    static const char head[] = "amlfs-snapshot-1\n";
    rc = snapshot_hasher_update(h, head, sizeof head - 1, err);
    for (size_t i = 0; rc == 0 && i < m->count; i++) {
        const snapshot_entry *e = &m->entries[i];
        char fields[128];
        int n;
        if (e->type == SNAPSHOT_FILE)
            n = snprintf(fields, sizeof fields, "F %o %llu %s ", e->mode, (unsigned long long)e->size,
                         e->sha256);
        else if (e->type == SNAPSHOT_DIR)
            n = snprintf(fields, sizeof fields, "D %o ", e->mode);
        else
            n = snprintf(fields, sizeof fields, "L %o ", e->mode);
        rc = snapshot_hasher_update(h, fields, (size_t)n, err);
        if (rc == 0)
            rc = snapshot_hasher_update(h, e->path, strlen(e->path) + 1, err);
        if (rc == 0 && e->type == SNAPSHOT_SYMLINK)
            rc = snapshot_hasher_update(h, e->target, strlen(e->target) + 1, err);
    }
    if (rc < 0) {
        snapshot_hasher_free(h);
        return rc;
    }
    return snapshot_hasher_final(h, hex, err);
}

int snapshot_manifest_finish(snapshot_manifest *m, amlfs_err *err)
{
    snapshot_manifest_sort(m);
    int rc = snapshot_manifest_check(m, true, true, err);
    if (rc < 0)
        return rc;
    return hash_entries(m, m->hash, err);
}
