/* ignore.c: .amlignore / .gitignore rules of a code folder, read and matched as gitignore(5) says.
 * The root's file decides the kind; nested files of that kind rule their own subtree. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One pattern line. */
typedef struct ignore_pattern {
    char *text;       /* as written (after trimming), for messages */
    char *glob;       /* what is matched: no '!', no trailing '/', no leading '/' */
    bool negated;     /* "!": re-include */
    bool dir_only;    /* trailing "/": folders only */
    bool by_basename; /* no '/' left: matches the name at any depth below the file's folder */
    int line;
} ignore_pattern;

/* One ignore file: its patterns apply to paths below base. */
typedef struct ignore_file {
    char *path; /* relative to the root, for messages */
    char *base; /* "" for the root, else "dir/" with the trailing slash */
    ignore_pattern *patterns;
    size_t count, cap;
} ignore_file;

struct snapshot_ignore {
    char *root;  /* NULL: rules given as text only, nothing is read */
    char *kind;  /* ".amlignore" or ".gitignore" */
    bool root_has_file;
    ignore_file *files;
    size_t count, cap; /* a folder's file is read once: enter_dir looks here first */
};

snapshot_ignore *snapshot_ignore_new(const char *root, const char *kind)
{
    snapshot_ignore *ig = util_xcalloc(1, sizeof *ig);
    ig->root = root ? util_xstrdup(root) : NULL;
    ig->kind = util_xstrdup(kind);
    return ig;
}

void snapshot_ignore_free(snapshot_ignore *ig)
{
    if (!ig)
        return;
    for (size_t i = 0; i < ig->count; i++) {
        ignore_file *f = &ig->files[i];
        for (size_t j = 0; j < f->count; j++) {
            free(f->patterns[j].text);
            free(f->patterns[j].glob);
        }
        free(f->patterns);
        free(f->path);
        free(f->base);
    }
    free(ig->files);
    free(ig->root);
    free(ig->kind);
    free(ig);
}

const char *snapshot_ignore_kind(const snapshot_ignore *ig)
{
    return ig->kind;
}

bool snapshot_ignore_root_has_file(const snapshot_ignore *ig)
{
    return ig->root_has_file;
}

/* gitignore(5): "Trailing spaces are ignored unless they are quoted with backslash". Only ' ' counts
 * (not tabs), and a backslash protects the character after it. */
static void trim_trailing_spaces(char *s)
{
    char *cut = NULL;
    for (char *p = s; *p; p++) {
        if (*p == ' ') {
            if (!cut)
                cut = p;
        } else {
            cut = NULL;
            if (*p == '\\' && p[1])
                p++;
        }
    }
    if (cut)
        *cut = '\0';
}

/* Longer lines are refused: the matcher recurses once per group of stars, and no sane pattern (paths
 * are at most PATH_MAX) needs more. */
#define MAX_PATTERN_LEN 8192
/* An ignore file larger than this is refused, not read (a sparse 1 TiB .gitignore would be read whole). */
#define IGNORE_FILE_MAX (4 * 1024 * 1024)

/* One line of an ignore file (no newline). Lines that hold no pattern are skipped. */
static void add_line(ignore_file *f, const char *raw, size_t len, int lineno)
{
    char *line = util_xcalloc(len + 1, 1);
    memcpy(line, raw, len);
    /* CRLF files: the '\r' before the newline is not part of the pattern (as git reads them). */
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    /* "A blank line matches no files"; "A line starting with # serves as a comment" (a "\#" is a
     * pattern starting with '#', handled by the matcher's backslash rule). */
    if (line[0] == '\0' || line[0] == '#') {
        free(line);
        return;
    }
    trim_trailing_spaces(line);
    ignore_pattern pat = {.line = lineno, .text = util_xstrdup(line)};
    char *p = line;
    /* "An optional prefix ! negates the pattern" ("\!" is a pattern starting with '!'). */
    if (*p == '!') {
        pat.negated = true;
        p++;
    }
    size_t n = strlen(p);
    /* "If there is a separator at the end of the pattern then the pattern will only match
     * directories". Only the last one is taken off, as git does. */
    if (n && p[n - 1] == '/') {
        pat.dir_only = true;
        p[--n] = '\0';
    }
    /* "If there is a separator at the beginning or middle of the pattern, then the pattern is relative
     * to the directory level of the particular .gitignore file itself. Otherwise the pattern may also
     * match at any level below the .gitignore level." */
    pat.by_basename = strchr(p, '/') == NULL;
    if (*p == '/')
        p++;
    if (*p == '\0') {
        /* Nothing left ("!", "/", "   "): matches nothing, like a blank line. */
        free(pat.text);
        free(line);
        return;
    }
    pat.glob = util_xstrdup(p);
    free(line);
    if (f->count == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        ignore_pattern *bigger = realloc(f->patterns, f->cap * sizeof *bigger);
        if (!bigger)
            abort(); /* out of memory: as util_x* do */
        f->patterns = bigger;
    }
    f->patterns[f->count++] = pat;
}

static ignore_file *find_file(const snapshot_ignore *ig, const char *base)
{
    for (size_t i = 0; i < ig->count; i++)
        if (strcmp(ig->files[i].base, base) == 0)
            return &ig->files[i];
    return NULL;
}

int snapshot_ignore_add_text(snapshot_ignore *ig, const char *reldir, const char *text, size_t len,
                             amlfs_err *err)
{
    if (*reldir) {
        int rc = util_check_relpath(reldir, err);
        if (rc < 0)
            return err ? amlfs_wrap(err, "ignore rules for a folder: ") : rc;
    }
    char *base = *reldir ? util_strdupf("%s/", reldir) : util_xstrdup("");
    ignore_file *f = find_file(ig, base);
    if (!f) {
        if (ig->count == ig->cap) {
            ig->cap = ig->cap ? ig->cap * 2 : 8;
            ignore_file *bigger = realloc(ig->files, ig->cap * sizeof *bigger);
            if (!bigger)
                abort();
            ig->files = bigger;
        }
        f = &ig->files[ig->count++];
        memset(f, 0, sizeof *f);
        f->base = base;
        f->path = util_strdupf("%s%s", base, ig->kind);
    } else {
        free(base);
    }
    /* git skips a UTF-8 byte order mark at the start of the file. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    int lineno = 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            if (i - start > MAX_PATTERN_LEN)
                return amlfs_fail(err, EINVAL, "%s line %d is longer than %d bytes: not a usable pattern", f->path,
                                  lineno, MAX_PATTERN_LEN);
            if (i > start || i < len)
                add_line(f, text + start, i - start, lineno);
            lineno++;
            start = i + 1;
        }
    }
    return 0;
}

int snapshot_ignore_enter_dir(snapshot_ignore *ig, const char *reldir, amlfs_err *err)
{
    if (!ig->root)
        return 0;
    char *base = *reldir ? util_strdupf("%s/", reldir) : util_xstrdup("");
    bool seen = find_file(ig, base) != NULL;
    free(base);
    if (seen)
        return 0;
    char *path = *reldir ? util_strdupf("%s/%s/%s", ig->root, reldir, ig->kind)
                         : util_strdupf("%s/%s", ig->root, ig->kind);
    char *shown = *reldir ? util_strdupf("%s/%s", reldir, ig->kind) : util_xstrdup(ig->kind);
    struct stat st;
    int rc = 0;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = amlfs_fail(err, errno, "cannot read %s: %s", path, strerror(errno));
    } else if (S_ISLNK(st.st_mode)) {
        rc = amlfs_fail(err, EINVAL, "%s in the code folder is a symlink: ignore files must be plain files",
                        shown);
    } else if (!S_ISREG(st.st_mode)) {
        rc = amlfs_fail(err, EINVAL, "%s in the code folder is not a plain file", shown);
    } else {
        char *text;
        size_t len;
        rc = util_read_file_max(path, IGNORE_FILE_MAX, &text, &len, err);
        if (rc == -EFBIG)
            rc = amlfs_fail(err, EFBIG, "%s in the code folder is over %d MiB: an ignore file holds patterns, "
                            "not data", shown, IGNORE_FILE_MAX >> 20);
        if (rc == 0) {
            rc = snapshot_ignore_add_text(ig, reldir, text, len, err);
            free(text);
        }
        if (rc == 0 && !*reldir)
            ig->root_has_file = true;
    }
    free(path);
    free(shown);
    return rc;
}

int snapshot_ignore_load(const char *root, snapshot_ignore **out, amlfs_err *err)
{
    *out = NULL;
    const char *kind = SNAPSHOT_GITIGNORE;
    if (root) {
        /* The root's .amlignore alone decides when it exists; .gitignore is then never read. */
        char *aml = util_strdupf("%s/%s", root, SNAPSHOT_AMLIGNORE);
        struct stat st;
        if (lstat(aml, &st) == 0)
            kind = SNAPSHOT_AMLIGNORE;
        else if (errno != ENOENT)
            kind = SNAPSHOT_AMLIGNORE; /* let the read below report why it cannot be used */
        free(aml);
    }
    snapshot_ignore *ig = snapshot_ignore_new(root, kind);
    int rc = snapshot_ignore_enter_dir(ig, "", err);
    if (rc < 0) {
        snapshot_ignore_free(ig);
        return rc;
    }
    *out = ig;
    return 0;
}

/* The last pattern of f that matches, or NULL. path is relative to the root and lies below f->base. */
static const ignore_pattern *last_match_in(const ignore_file *f, const char *path, bool is_dir)
{
    const char *rel = path + strlen(f->base);
    const char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    /* "the last matching pattern decides the outcome" within one file. */
    for (size_t i = f->count; i-- > 0;) {
        const ignore_pattern *pat = &f->patterns[i];
        if (pat->dir_only && !is_dir)
            continue;
        if (snapshot_wildmatch(pat->glob, pat->by_basename ? name : rel))
            return pat;
    }
    return NULL;
}

bool snapshot_ignore_match_entry(const snapshot_ignore *ig, const char *relpath, bool is_dir,
                                 snapshot_ignore_rule *why)
{
    /* "Patterns in the higher level files are overridden by those in lower level files down to the
     * directory containing the file": the file with the longest base that has a match decides. */
    const ignore_file *best_file = NULL;
    const ignore_pattern *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < ig->count; i++) {
        const ignore_file *f = &ig->files[i];
        size_t blen = strlen(f->base);
        if (strncmp(relpath, f->base, blen) != 0 || relpath[blen] == '\0')
            continue;
        if (best && blen < best_len)
            continue;
        const ignore_pattern *pat = last_match_in(f, relpath, is_dir);
        if (pat) {
            best = pat;
            best_file = f;
            best_len = blen;
        }
    }
    if (why) {
        memset(why, 0, sizeof *why);
        if (best) {
            why->file = best_file->path;
            why->line = best->line;
            why->text = best->text;
            why->negated = best->negated;
        }
    }
    return best && !best->negated;
}

int snapshot_ignore_check(snapshot_ignore *ig, const char *relpath, bool is_dir, snapshot_ignore_rule *why,
                          amlfs_err *err)
{
    int rc = util_check_relpath(relpath, err);
    if (rc < 0)
        return rc;
    char *prefix = util_xstrdup(relpath);
    /* "It is not possible to re-include a file if a parent directory of that file is excluded": git
     * never looks into an excluded folder, so the first excluded folder on the way decides. */
    for (char *slash = strchr(prefix, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (snapshot_ignore_match_entry(ig, prefix, true, why)) {
            rc = 1;
            break;
        }
        rc = snapshot_ignore_enter_dir(ig, prefix, err);
        *slash = '/';
        if (rc < 0)
            break;
    }
    free(prefix);
    if (rc != 0)
        return rc;
    return snapshot_ignore_match_entry(ig, relpath, is_dir, why) ? 1 : 0;
}

char *snapshot_ignore_line_for(const char *relpath, bool is_dir)
{
    size_t n = strlen(relpath);
    char *out = util_xcalloc(2 * n + 3, 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = relpath[i];
        /* Quote what the matcher treats specially, a leading '#' or '!' (comment, negation) and
         * trailing spaces (which would be trimmed). */
        bool quote = c == '*' || c == '?' || c == '[' || c == '\\' || (i == 0 && (c == '#' || c == '!'));
        if (c == ' ') {
            size_t j = i;
            while (j < n && relpath[j] == ' ')
                j++;
            quote = j == n;
        }
        if (quote)
            *o++ = '\\';
        *o++ = c;
    }
    if (is_dir)
        *o++ = '/';
    *o = '\0';
    return out;
}
