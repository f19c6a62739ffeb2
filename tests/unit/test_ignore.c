/* test_ignore.c: gitignore rules as snapshot_ignore applies them: a table of gitignore(5) cases, each also
 * put to `git check-ignore --no-index` to prove the table is git's answer, and rules read from disk. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "check.h"

static char *tmp_root;
static char *git_dir; /* a bare repository the cross-checks borrow, so work trees hold no .git */
static bool have_git;

/* ---- helpers ---------------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    amlfs_err err;
    if (util_write_file_atomic(path, text, strlen(text), 0644, &err) < 0) {
        printf("setup: %s\n", err.msg);
        exit(2);
    }
}

static void make_dirs(const char *path)
{
    amlfs_err err;
    if (util_mkdir_p(path, 0755, &err) < 0) {
        printf("setup: %s\n", err.msg);
        exit(2);
    }
}

/* Creates root/rel as a folder or a file, with its parent folders. */
static void make_path(const char *root, const char *rel, bool is_dir)
{
    char *full = util_strdupf("%s/%s", root, rel);
    char *parent = util_xstrdup(full);
    *strrchr(parent, '/') = '\0';
    make_dirs(parent);
    if (is_dir)
        make_dirs(full);
    else
        write_text(full, "x\n");
    free(parent);
    free(full);
}

/* Runs git with stdout and stderr to /dev/null; returns its exit status, or -1. */
static int run_git(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "git", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* git's verdict on worktree/rel: 1 ignored, 0 not, -1 git failed. */
static int git_ignored(const char *worktree, const char *rel)
{
    char *gd = util_strdupf("--git-dir=%s", git_dir);
    char *wt = util_strdupf("--work-tree=%s", worktree);
    char *argv[] = {"git", "-C", (char *)worktree, gd, wt, "check-ignore", "-q", "--no-index", "--", (char *)rel, NULL};
    int st = run_git(argv);
    free(gd);
    free(wt);
    return st == 0 ? 1 : st == 1 ? 0 : -1;
}

/* Rules as one line for failure messages (a static buffer: one use per message). */
static const char *one_line(const char *rules)
{
    static char buf[512];
    size_t o = 0;
    for (const char *p = rules; *p && o + 3 < sizeof buf; p++) {
        if (*p == '\n' || *p == '\r') {
            buf[o++] = '\\';
            buf[o++] = *p == '\n' ? 'n' : 'r';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ---- the table -------------------------------------------------------------------------------- */

typedef struct ig_case {
    const char *rules; /* the .gitignore text */
    const char *path;
    bool is_dir;
    bool ignored;
} ig_case;

static const ig_case table[] = {
    /* plain names match at any depth, files and folders */
    {"foo\n", "foo", false, true},
    {"foo\n", "a/foo", false, true},
    {"foo\n", "a/b/foo", true, true},
    {"foo\n", "foobar", false, false},
    {"foo\n", "a/foo/x", false, true}, /* inside an ignored folder */
    /* trailing slash: folders only */
    {"foo/\n", "foo", false, false},
    {"foo/\n", "foo", true, true},
    {"foo/\n", "a/foo", true, true},
    {"foo/\n", "foo/bar", false, true},
    {"a/b/\n", "a/b", false, false},
    {"a/b/\n", "a/b", true, true},
    {"frotz/\n", "a/frotz", true, true},
    {"doc/frotz/\n", "doc/frotz", true, true},
    {"doc/frotz/\n", "a/doc/frotz", true, false},
    /* a slash at the start or in the middle anchors to the ignore file's folder */
    {"/foo\n", "foo", false, true},
    {"/foo\n", "a/foo", false, false},
    {"a/foo\n", "a/foo", false, true},
    {"a/foo\n", "b/a/foo", false, false},
    {"/*.c\n", "cat-file.c", false, true},
    {"/*.c\n", "mozilla-sha1/sha1.c", false, false},
    {"Documentation/*.html\n", "Documentation/git.html", false, true},
    {"Documentation/*.html\n", "Documentation/ppc/ppc.html", false, false},
    {"Documentation/*.html\n", "tools/perf/Documentation/perf.html", false, false},
    /* * and ? never match '/' */
    {"*.o\n", "x.o", false, true},
    {"*.o\n", "src/x.o", false, true},
    {"*.o\n", "x.oo", false, false},
    {"a/*.o\n", "a/x.o", false, true},
    {"a/*.o\n", "a/b/x.o", false, false},
    {"*/foo\n", "a/foo", false, true},
    {"*/foo\n", "a/b/foo", false, false},
    {"*/foo\n", "foo", false, false},
    {"foo/*\n", "foo/test.json", false, true},
    {"foo/*\n", "foo/bar", true, true},
    {"foo/*\n", "foo/bar/hello.c", false, true}, /* the pattern misses it, but foo/bar is excluded */
    {"foo/*\n", "foo", true, false},
    {"?.txt\n", "a.txt", false, true},
    {"?.txt\n", "ab.txt", false, false},
    {"x/a?b\n", "x/a/b", false, false},
    {"*\n", "anything", false, true},
    /* ** */
    {"**/foo\n", "foo", false, true},
    {"**/foo\n", "a/b/foo", false, true},
    {"**/foo/bar\n", "foo/bar", false, true},
    {"**/foo/bar\n", "x/y/foo/bar", false, true},
    {"abc/**\n", "abc/x", false, true},
    {"abc/**\n", "abc/x/y", false, true},
    {"abc/**\n", "abc", true, false},
    {"a/**/b\n", "a/b", false, true},
    {"a/**/b\n", "a/x/b", false, true},
    {"a/**/b\n", "a/x/y/b", false, true},
    {"a/**/b\n", "a/xb", false, false},
    {"doc/**/*.pdf\n", "doc/a/b/x.pdf", false, true},
    {"doc/**/*.pdf\n", "doc/x.pdf", false, true},
    {"**\n", "a/b/c", false, true},
    {"**/\n", "a", true, true},
    {"**/\n", "a", false, false},
    {"x/foo**bar\n", "x/fooxbar", false, true},
    {"x/foo**bar\n", "x/foo/a/bar", false, false}, /* not a whole segment: a plain star */
    {"x/**bar\n", "x/a/bar", false, false},
    /* bracket expressions */
    {"[abc].txt\n", "b.txt", false, true},
    {"[abc].txt\n", "d.txt", false, false},
    {"[a-c].txt\n", "c.txt", false, true},
    {"[!a-c].txt\n", "d.txt", false, true},
    {"[!a-c].txt\n", "a.txt", false, false},
    {"[^a-c].txt\n", "d.txt", false, true},
    {"[]].txt\n", "].txt", false, true},
    {"[!]].txt\n", "a.txt", false, true},
    {"[!]].txt\n", "].txt", false, false},
    {"[a-].txt\n", "-.txt", false, true},
    {"[[:digit:]].txt\n", "5.txt", false, true},
    {"[[:digit:]].txt\n", "a.txt", false, false},
    {"[[:upper:]]*\n", "Makefile", false, true},
    {"*.[oa]\n", "lib.a", false, true},
    {"[abc\n", "[abc", false, false}, /* no closing bracket: matches nothing */
    {"a[/]b\n", "a/b", false, false},
    /* negation; the last match wins; no re-including below an excluded folder */
    {"*.log\n!keep.log\n", "keep.log", false, false},
    {"*.log\n!keep.log\n", "x.log", false, true},
    {"!foo\nfoo\n", "foo", false, true},
    {"foo\n!foo\n", "foo", false, false},
    {"logs/\n!logs/keep.log\n", "logs/keep.log", false, true},
    {"logs/*\n!logs/keep.log\n", "logs/keep.log", false, false},
    {"logs/*\n!logs/keep.log\n", "logs/other.log", false, true},
    {"build/\n!build/\n", "build", true, false},
    {"*.txt\n!/a.txt\n", "a.txt", false, false},
    {"*.txt\n!/a.txt\n", "sub/a.txt", false, true},
    /* comments, blank lines, escapes, trailing spaces, CRLF */
    {"# comment\n\n   \nfoo\n", "foo", false, true},
    {"#foo\n", "#foo", false, false},
    {"\\#foo\n", "#foo", false, true},
    {"\\!foo\n", "!foo", false, true},
    {"\\*.txt\n", "*.txt", false, true},
    {"\\*.txt\n", "a.txt", false, false},
    {"foo   \n", "foo", false, true},
    {"foo   \n", "foo ", false, false},
    {"foo\\ \n", "foo ", false, true},
    {"foo\\ \n", "foo", false, false},
    {"foo bar\n", "foo bar", false, true},
    {"a\\\\b\n", "a\\b", false, true},
    {"foo\\\n", "foo", false, false}, /* a trailing backslash matches nothing */
    {"foo\r\nbar\r\n", "foo", false, true},
    {"foo", "foo", false, true}, /* no final newline */
};

static void test_table(void)
{
    size_t n = sizeof table / sizeof table[0];
    CHECK(n >= 40, "the table has %zu cases", n);
    size_t git_checked = 0;
    for (size_t i = 0; i < n; i++) {
        const ig_case *c = &table[i];
        amlfs_err err;
        snapshot_ignore *ig = snapshot_ignore_new(NULL, SNAPSHOT_GITIGNORE);
        int rc = snapshot_ignore_add_text(ig, "", c->rules, strlen(c->rules), &err);
        snapshot_ignore_rule why;
        int got = rc < 0 ? rc : snapshot_ignore_check(ig, c->path, c->is_dir, &why, &err);
        CHECK(got == (c->ignored ? 1 : 0), "case %zu: rules \"%s\" path '%s'%s: expected %s, got %d", i,
              one_line(c->rules), c->path, c->is_dir ? " (dir)" : "", c->ignored ? "ignored" : "kept", got);
        if (got == 1)
            CHECK(why.file && strcmp(why.file, ".gitignore") == 0 && why.line >= 1 && !why.negated,
                  "case %zu: the deciding rule is named", i);
        snapshot_ignore_free(ig);

        if (!have_git)
            continue;
        char *wt = util_strdupf("%s/case-%zu", tmp_root, i);
        make_dirs(wt);
        char *gi = util_strdupf("%s/.gitignore", wt);
        write_text(gi, c->rules);
        make_path(wt, c->path, c->is_dir);
        int g = git_ignored(wt, c->path);
        CHECK(g == (c->ignored ? 1 : 0), "case %zu: git check-ignore disagrees with the table: rules \"%s\" path "
              "'%s' git says %d", i, one_line(c->rules), c->path, g);
        git_checked += g >= 0;
        free(gi);
        free(wt);
    }
    if (have_git)
        CHECK(git_checked == n, "git answered %zu of %zu cases", git_checked, n);
}

/* ---- the matcher alone ------------------------------------------------------------------------ */

static void test_wildmatch(void)
{
    struct {
        const char *p, *t;
        bool m;
    } w[] = {
        {"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*", "abcdefghijklmnopqrstuvwxyz", true},
        {"*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
        {"**/**/**/**/**/z", "a/b/c/d/e/f/g/h/z", true},
        {"**/**/**/**/**/z", "a/b/c/d/e/f/g/h/y", false},
        {"[[:alpha:]][[:space:]]", "x ", true},
        {"[[:nosuch:]]", "x", false},
        {"[\\]]", "]", true},
        {"[a\\-z]", "-", true},
        {"[a\\-z]", "b", false},
        {"a/**", "a", false},
        {"a/**/", "a/b/", true},
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        CHECK(snapshot_wildmatch(w[i].p, w[i].t) == w[i].m, "wildmatch(\"%s\", \"%s\") should be %d", w[i].p,
              w[i].t, w[i].m);
}

/* ---- rules read from disk --------------------------------------------------------------------- */

static bool in_manifest(const snapshot_manifest *m, const char *path)
{
    return snapshot_manifest_find(m, path) != NULL;
}

static void test_amlignore_beats_gitignore(void)
{
    char *root = util_strdupf("%s/precedence", tmp_root);
    make_dirs(root);
    char *p;
    write_text(p = util_strdupf("%s/.amlignore", root), "a.txt\n"), free(p);
    write_text(p = util_strdupf("%s/.gitignore", root), "b.txt\n"), free(p);
    make_path(root, "a.txt", false);
    make_path(root, "b.txt", false);
    make_path(root, "sub/c.txt", false);
    make_path(root, "sub/d.txt", false);
    write_text(p = util_strdupf("%s/sub/.gitignore", root), "c.txt\n"), free(p);
    write_text(p = util_strdupf("%s/sub/.amlignore", root), "d.txt\n"), free(p);

    amlfs_err err;
    snapshot_manifest m;
    int rc = snapshot_manifest_build(root, NULL, &m, &err);
    CHECK(rc == 0, "manifest of %s: %s", root, err.msg);
    if (rc == 0) {
        CHECK(!in_manifest(&m, "a.txt"), ".amlignore leaves out a.txt");
        CHECK(in_manifest(&m, "b.txt"), ".gitignore is not read when .amlignore exists");
        CHECK(in_manifest(&m, "sub/c.txt"), "nested .gitignore is not read either");
        CHECK(!in_manifest(&m, "sub/d.txt"), "nested .amlignore applies");
        CHECK(in_manifest(&m, ".amlignore") && in_manifest(&m, ".gitignore"), "ignore files are part of the code");
        snapshot_manifest_free(&m);
    }
    snapshot_ignore *ig;
    rc = snapshot_ignore_load(root, &ig, &err);
    CHECK(rc == 0 && strcmp(snapshot_ignore_kind(ig), SNAPSHOT_AMLIGNORE) == 0, "kind is .amlignore");
    if (rc == 0) {
        snapshot_ignore_rule why;
        CHECK(snapshot_ignore_check(ig, "sub/d.txt", false, &why, &err) == 1 && why.file &&
                  strcmp(why.file, "sub/.amlignore") == 0 && why.line == 1 && strcmp(why.text, "d.txt") == 0,
              "sub/d.txt is ignored by sub/.amlignore line 1");
        CHECK(snapshot_ignore_check(ig, "b.txt", false, &why, &err) == 0 && why.file == NULL,
              "b.txt matches no rule");
        snapshot_ignore_free(ig);
    }
    /* An empty .amlignore still switches .gitignore off. */
    write_text(p = util_strdupf("%s/.amlignore", root), ""), free(p);
    rc = snapshot_manifest_build(root, NULL, &m, &err);
    CHECK(rc == 0 && in_manifest(&m, "a.txt") && in_manifest(&m, "b.txt"), "empty .amlignore: nothing left out");
    if (rc == 0)
        snapshot_manifest_free(&m);
    free(root);
}

/* A tree with nested .gitignore files, checked three ways: the walk, snapshot_ignore_check, and git. */
static void test_nested_gitignore(void)
{
    char *root = util_strdupf("%s/nested", tmp_root);
    make_dirs(root);
    char *p;
    write_text(p = util_strdupf("%s/.gitignore", root),
               "*.log\n"
               "build/\n"
               "!build/keep.txt\n" /* cannot re-include: build/ is excluded */
               "logs/*\n"
               "!logs/keep.log\n" /* can: logs/ itself is not excluded */
               "venv/\n"),
        free(p);
    struct {
        const char *path;
        bool ignored;
    } files[] = {
        {"a.log", true},           {"build/keep.txt", true},     {"build/x.o", true},
        {"logs/x.txt", true},      {"logs/keep.log", false},     {"sub/important.log", false},
        {"sub/other.log", true},   {"only.txt", false},          {"sub/only.txt", true},
        {"sub/deeper/only.txt", false}, {"sub/local/x", true},   {"local/x", false},
        {"sub/deeper/x.log", true}, {"main.py", false},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        make_path(root, files[i].path, false);
    write_text(p = util_strdupf("%s/sub/.gitignore", root),
               "!important.log\n" /* overrides the root's *.log in this subtree */
               "/only.txt\n"      /* anchored to sub/ */
               "local/\n"),
        free(p);
    /* Ignored folders are never entered: a fifo inside one is no problem. */
    make_dirs(p = util_strdupf("%s/venv", root)), free(p);
    mkfifo(p = util_strdupf("%s/venv/pipe", root), 0644), free(p);

    amlfs_err err;
    snapshot_manifest m;
    int rc = snapshot_manifest_build(root, NULL, &m, &err);
    CHECK(rc == 0, "manifest of the nested tree: %s", err.msg);
    snapshot_ignore *ig = NULL;
    CHECK(snapshot_ignore_load(root, &ig, &err) == 0, "load: %s", err.msg);
    for (size_t i = 0; rc == 0 && ig && i < sizeof files / sizeof files[0]; i++) {
        const char *f = files[i].path;
        CHECK(in_manifest(&m, f) == !files[i].ignored, "walk: '%s' should be %s", f,
              files[i].ignored ? "left out" : "kept");
        int got = snapshot_ignore_check(ig, f, false, NULL, &err);
        CHECK(got == (files[i].ignored ? 1 : 0), "check: '%s' should be %s, got %d", f,
              files[i].ignored ? "ignored" : "kept", got);
        if (have_git) {
            int g = git_ignored(root, f);
            CHECK(g == (files[i].ignored ? 1 : 0), "git disagrees on '%s': %d", f, g);
        }
    }
    CHECK(rc != 0 || (!in_manifest(&m, "build") && in_manifest(&m, "logs") && !in_manifest(&m, "venv")),
          "ignored folders are absent, kept ones present");
    if (ig) {
        snapshot_ignore_rule why;
        CHECK(snapshot_ignore_check(ig, "build/keep.txt", false, &why, &err) == 1 && why.file &&
                  strcmp(why.text, "build/") == 0 && why.line == 2,
              "build/keep.txt is ignored by the folder's rule, line 2");
        CHECK(snapshot_ignore_check(ig, "sub/important.log", false, &why, &err) == 0 && why.negated &&
                  strcmp(why.file, "sub/.gitignore") == 0,
              "sub/important.log is re-included by sub/.gitignore");
        CHECK(snapshot_ignore_check(ig, "../x", false, &why, &err) < 0, "a path with '..' is an error");
        snapshot_ignore_free(ig);
    }
    if (rc == 0)
        snapshot_manifest_free(&m);
    free(root);
}

/* The suggested ignore line leaves out exactly that name, whatever characters it has. */
static void test_line_for(void)
{
    const char *names[] = {"#x", "!x", "a*b", "sp ", "br[ck]et", "back\\slash", "q?", "plain"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *line = snapshot_ignore_line_for(names[i], false);
        snapshot_ignore *ig = snapshot_ignore_new(NULL, SNAPSHOT_AMLIGNORE);
        amlfs_err err;
        snapshot_ignore_add_text(ig, "", line, strlen(line), &err);
        CHECK(snapshot_ignore_check(ig, names[i], false, NULL, &err) == 1, "line `%s` leaves out '%s'", line,
              names[i]);
        CHECK(snapshot_ignore_check(ig, "other", false, NULL, &err) == 0, "line `%s` keeps 'other'", line);
        snapshot_ignore_free(ig);
        free(line);
    }
    /* An absurdly long line is refused, naming it, rather than matched. */
    size_t n = 9000;
    char *long_rules = util_xcalloc(n + 16, 1);
    memcpy(long_rules, "ok\n", 3);
    memset(long_rules + 3, '*', n);
    snapshot_ignore *ig = snapshot_ignore_new(NULL, SNAPSHOT_GITIGNORE);
    amlfs_err err;
    int rc = snapshot_ignore_add_text(ig, "", long_rules, strlen(long_rules), &err);
    CHECK(rc == -EINVAL && strstr(err.msg, ".gitignore line 2"), "a 9000-byte line is refused: %s", err.msg);
    snapshot_ignore_free(ig);
    free(long_rules);

    char *dir = snapshot_ignore_line_for("venv", true);
    CHECK(strcmp(dir, "venv/") == 0, "folder line is venv/, got %s", dir);
    free(dir);
}

/* A .gitignore of 64 MiB (sparse) is refused naming it, not read whole (1 TiB would have been read too). */
static void test_huge_ignore_file(void)
{
    char *root = util_strdupf("%s/huge", tmp_root);
    make_dirs(root);
    make_path(root, "a.txt", false);
    char *p = util_strdupf("%s/.gitignore", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)64 << 20) == 0, "a sparse .gitignore");
    if (fd >= 0)
        close(fd);
    amlfs_err err = {0};
    snapshot_manifest m;
    int rc = snapshot_manifest_build(root, NULL, &m, &err);
    CHECK(rc == -EFBIG && strstr(err.msg, ".gitignore in the code folder is over 4 MiB"), "refused: %d %s", rc, err.msg);
    if (rc == 0)
        snapshot_manifest_free(&m);
    free(p);
    free(root);
}

int main(void)
{
    char tmpl[] = "/tmp/amlfs-test-ignore-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 2;
    }
    tmp_root = tmpl;
    /* git must answer from the rules in these folders only: no user or system configuration. */
    setenv("HOME", tmp_root, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    git_dir = util_strdupf("%s/git", tmp_root);
    char *init[] = {"git", "init", "-q", "--bare", git_dir, NULL};
    have_git = run_git(init) == 0;
    if (!have_git)
        printf("note: git is not available: the table is not cross-checked against git\n");

    test_table();
    test_wildmatch();
    test_amlignore_beats_gitignore();
    test_nested_gitignore();
    test_line_for();
    test_huge_ignore_file();

    amlfs_err err;
    util_rm_rf(tmp_root, &err);
    free(git_dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
