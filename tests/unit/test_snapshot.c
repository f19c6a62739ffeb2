/* test_snapshot.c: manifests (modes, symlinks, a stable hash), limits and their message, pack/extract round
 * trips, hostile archives refused with nothing written outside, the blob store's dedupe, the hash cache. */
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char *tmp_root;

/* ---- helpers ---------------------------------------------------------------------------------- */

static void die(const char *what, const amlfs_err *err)
{
    printf("setup failed: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(2);
}

static char *at(const char *dir, const char *rel)
{
    return util_strdupf("%s/%s", dir, rel);
}

static void put(const char *dir, const char *rel, const char *content, size_t len, mode_t mode)
{
    char *path = at(dir, rel);
    char *parent = util_xstrdup(path);
    *strrchr(parent, '/') = '\0';
    amlfs_err err;
    if (util_mkdir_p(parent, 0755, &err) < 0 || util_write_file_atomic(path, content, len, mode, &err) < 0)
        die(path, &err);
    if (chmod(path, mode) < 0)
        die(path, NULL);
    free(parent);
    free(path);
}

static void put_text(const char *dir, const char *rel, const char *text, mode_t mode)
{
    put(dir, rel, text, strlen(text), mode);
}

static void mkdirs(const char *dir, const char *rel)
{
    char *path = at(dir, rel);
    amlfs_err err;
    if (util_mkdir_p(path, 0755, &err) < 0)
        die(path, &err);
    free(path);
}

static void link_to(const char *dir, const char *rel, const char *target)
{
    char *path = at(dir, rel);
    if (symlink(target, path) < 0)
        die(path, NULL);
    free(path);
}

/* A sparse file: a size without the disk space or the time to write it. */
static void sparse(const char *dir, const char *rel, off_t size)
{
    char *path = at(dir, rel);
    char *parent = util_xstrdup(path);
    *strrchr(parent, '/') = '\0';
    amlfs_err err;
    if (util_mkdir_p(parent, 0755, &err) < 0)
        die(parent, &err);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, size) < 0)
        die(path, NULL);
    close(fd);
    free(parent);
    free(path);
}

static char *fresh_dir(const char *name)
{
    char *path = at(tmp_root, name);
    mkdirs(tmp_root, name);
    return path;
}

static char *read_all(const char *path)
{
    char *text = NULL;
    size_t len;
    amlfs_err err;
    if (util_read_file(path, &text, &len, &err) < 0)
        return NULL;
    return text;
}

static int counted;
static int count_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)p, (void)sb, (void)f;
    if (flag == FTW_F || flag == FTW_SL)
        counted++;
    return 0;
}

/* Files and symlinks below dir (0 when it does not exist). */
static int count_files(const char *dir)
{
    counted = 0;
    struct stat st;
    if (lstat(dir, &st) < 0)
        return 0;
    nftw(dir, count_one, 16, FTW_PHYS);
    return counted;
}

static bool dir_is_empty(const char *dir)
{
    return count_files(dir) == 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The sample tree: files with and without the executable bit, nested and empty folders, symlinks. */
static void make_tree(const char *root)
{
    put_text(root, "hello.txt", "hello\n", 0644);
    put_text(root, "copy.txt", "hello\n", 0644); /* same content: one blob */
    put_text(root, "run.sh", "#!/bin/sh\necho hi\n", 0755);
    char bytes[1000];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (char)(i * 7);
    put(root, "sub/data.bin", bytes, sizeof bytes, 0644);
    mkdirs(root, "sub/empty");
    link_to(root, "ln", "sub/data.bin");
    link_to(root, "sub/up", "../hello.txt");
    /* a path beyond ustar's 100-byte name field, for the pax headers */
    put_text(root,
             "sub/a-rather-long-folder-name-to-pass-one-hundred-bytes/and-a-long-file-name-as-well-"
             "0123456789012345678901234567890123456789.txt",
             "long\n", 0644);
}

static const char *HELLO_SHA = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

static int build(const char *root, snapshot_manifest *m, amlfs_err *err)
{
    return snapshot_manifest_build(root, NULL, m, err);
}

/* ---- manifests -------------------------------------------------------------------------------- */

static void test_manifest(const char *root)
{
    amlfs_err err;
    snapshot_manifest m;
    int rc = build(root, &m, &err);
    CHECK(rc == 0, "manifest: %s", err.msg);
    if (rc < 0)
        return;
    const char *order[] = {"copy.txt", "hello.txt", "ln", "run.sh", "sub"};
    for (size_t i = 0; i < 5; i++)
        CHECK(m.count > i && strcmp(m.entries[i].path, order[i]) == 0, "entry %zu is %s", i, order[i]);
    const snapshot_entry *e = snapshot_manifest_find(&m, "hello.txt");
    CHECK(e && e->type == SNAPSHOT_FILE && e->mode == 0644 && e->size == 6 && strcmp(e->sha256, HELLO_SHA) == 0,
          "hello.txt: file 0644, 6 bytes, sha256 of \"hello\\n\"");
    e = snapshot_manifest_find(&m, "run.sh");
    CHECK(e && e->mode == 0755, "run.sh keeps its executable bit");
    e = snapshot_manifest_find(&m, "sub/data.bin");
    CHECK(e && e->size == 1000, "sub/data.bin is 1000 bytes");
    e = snapshot_manifest_find(&m, "sub/empty");
    CHECK(e && e->type == SNAPSHOT_DIR && e->mode == 0755, "empty folder kept");
    e = snapshot_manifest_find(&m, "ln");
    CHECK(e && e->type == SNAPSHOT_SYMLINK && strcmp(e->target, "sub/data.bin") == 0, "symlink ln kept as a link");
    e = snapshot_manifest_find(&m, "sub/up");
    CHECK(e && e->type == SNAPSHOT_SYMLINK && strcmp(e->target, "../hello.txt") == 0, "symlink up kept");
    CHECK(m.file_count == 7 && m.dir_count == 3, "5 files + 2 symlinks, 3 folders: %llu, %llu",
          (unsigned long long)m.file_count, (unsigned long long)m.dir_count);
    CHECK(snapshot_sha_valid(m.hash), "manifest has a hash");

    /* JSON round trip keeps the hash. */
    char *json = snapshot_manifest_to_json(&m);
    snapshot_manifest back;
    rc = snapshot_manifest_from_json(json, strlen(json), &back, &err);
    CHECK(rc == 0 && strcmp(back.hash, m.hash) == 0 && back.count == m.count, "JSON round trip: %s",
          rc ? err.msg : "");
    if (rc == 0)
        snapshot_manifest_free(&back);
    /* A changed content hash no longer matches the stated manifest hash. */
    char *tampered = util_xstrdup(json);
    char *hit = strstr(tampered, HELLO_SHA);
    if (hit)
        hit[0] = hit[0] == '0' ? '1' : '0';
    rc = snapshot_manifest_from_json(tampered, strlen(tampered), &back, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "hash"), "tampered manifest refused: %s", err.msg);
    free(tampered);
    free(json);
    snapshot_manifest_free(&m);
}

/* The hash of a fixed tree is a constant: the same across runs and machines, and a change of the canonical
 * form (which would defeat the server's dedupe of every stored snapshot) shows here. */
static void test_golden_hash(void)
{
    char *root = fresh_dir("golden");
    put_text(root, "hello.txt", "hello\n", 0644);
    put_text(root, "d/run", "#!/bin/sh\n", 0755);
    link_to(root, "d/l", "../hello.txt");
    amlfs_err err;
    snapshot_manifest m;
    int rc = build(root, &m, &err);
    CHECK(rc == 0 && strcmp(m.hash, "175a2e6aeb808cf9c0b802dccc33101a3a6dbbf4a07185a5d1fede20e30a02e6") == 0,
          "golden manifest hash: %s", rc ? err.msg : m.hash);
    if (rc == 0)
        snapshot_manifest_free(&m);
    free(root);
}

static void test_hash_stability(const char *root)
{
    amlfs_err err;
    snapshot_manifest a, b;
    if (build(root, &a, &err) < 0)
        die("manifest", &err);
    char first[SNAPSHOT_SHA_HEX];
    snprintf(first, sizeof first, "%s", a.hash);
    snapshot_manifest_free(&a);

    CHECK(build(root, &b, &err) == 0 && strcmp(b.hash, first) == 0, "same tree, same hash");
    snapshot_manifest_free(&b);

    char *hello = at(root, "hello.txt");
    struct timespec old[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
    utimensat(AT_FDCWD, hello, old, 0);
    chmod(hello, 0600); /* not executable either way: same snapshot */
    CHECK(build(root, &b, &err) == 0 && strcmp(b.hash, first) == 0, "times and non-exec mode bits do not count");
    snapshot_manifest_free(&b);

    chmod(hello, 0755);
    CHECK(build(root, &b, &err) == 0 && strcmp(b.hash, first) != 0, "the executable bit counts");
    snapshot_manifest_free(&b);
    chmod(hello, 0644);

    char *data = at(root, "sub/data.bin");
    int fd = open(data, O_WRONLY);
    char c = 'Z';
    CHECK(fd >= 0 && pwrite(fd, &c, 1, 500) == 1, "change one byte");
    CHECK(build(root, &b, &err) == 0 && strcmp(b.hash, first) != 0, "one changed byte changes the hash");
    snapshot_manifest_free(&b);
    c = (char)(500 * 7);
    CHECK(pwrite(fd, &c, 1, 500) == 1, "restore the byte");
    close(fd);
    CHECK(build(root, &b, &err) == 0 && strcmp(b.hash, first) == 0, "restored content, original hash");
    snapshot_manifest_free(&b);
    free(hello);
    free(data);
}

static void test_hostile_manifests(void)
{
    char sha[80];
    snprintf(sha, sizeof sha, "%s", HELLO_SHA);
    struct {
        const char *entries, *why;
    } bad[] = {
        {"{\"path\":\"../x\",\"type\":\"file\",\"size\":6,\"sha256\":\"%s\"}", "'..'"},
        {"{\"path\":\"/abs\",\"type\":\"file\",\"size\":6,\"sha256\":\"%s\"}", "relative"},
        {"{\"path\":\"ln\",\"type\":\"symlink\",\"target\":\"../../etc\"}", "outside"},
        {"{\"path\":\"ln\",\"type\":\"symlink\",\"target\":\"/etc\"}", "absolute"},
        {"{\"path\":\"d\",\"type\":\"dir\"},{\"path\":\"d/up\",\"type\":\"symlink\",\"target\":\"..\"},"
         "{\"path\":\"esc\",\"type\":\"symlink\",\"target\":\"d/up/..\"}",
         "outside"},
        {"{\"path\":\"d\",\"type\":\"dir\"},{\"path\":\"ln\",\"type\":\"symlink\",\"target\":\"d\"},"
         "{\"path\":\"ln/x\",\"type\":\"file\",\"size\":6,\"sha256\":\"%s\"}",
         "not a folder"},
        {"{\"path\":\"a/b\",\"type\":\"file\",\"size\":6,\"sha256\":\"%s\"}", "no entry for its folder"},
        {"{\"path\":\"x\",\"type\":\"file\",\"size\":6,\"sha256\":\"%s\"},"
         "{\"path\":\"x\",\"type\":\"dir\"}",
         "twice"},
        {"{\"path\":\"x\",\"type\":\"file\",\"size\":6,\"sha256\":\"ABC\"}", "sha256"},
        {"{\"path\":\"x\",\"type\":\"fifo\"}", "type"},
        {"{\"path\":\"x\",\"type\":\"file\",\"size\":-1,\"sha256\":\"%s\"}", "size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char entries[1024], json[1400];
        snprintf(entries, sizeof entries, bad[i].entries, sha, sha);
        snprintf(json, sizeof json, "{\"format\":\"amlfs-snapshot-1\",\"entries\":[%s]}", entries);
        snapshot_manifest m;
        amlfs_err err = {0};
        int rc = snapshot_manifest_from_json(json, strlen(json), &m, &err);
        CHECK(rc == -EINVAL && strstr(err.msg, bad[i].why), "hostile manifest %zu refused with '%s': rc %d, %s", i,
              bad[i].why, rc, err.msg);
        if (rc == 0)
            snapshot_manifest_free(&m);
    }
}

/* ---- limits and refusals ---------------------------------------------------------------------- */

static void test_limits(void)
{
    char *root = fresh_dir("limits");
    sparse(root, "venv/lib/torch.so", 400ll * 1024 * 1024);
    put_text(root, "venv/bin/python", "#!/bin/sh\n", 0755);
    sparse(root, "data.csv", 9ll * 1024 * 1024);
    put_text(root, "main.py", "print(1)\n", 0644);

    amlfs_err err;
    snapshot_manifest m;
    double t0 = now_s();
    int rc = build(root, &m, &err);
    double took = now_s() - t0;
    CHECK(rc == -EFBIG, "409 MB is over the default limit: rc %d", rc);
    CHECK(strstr(err.msg, "code folder is 409 MB in 4 files, over the 300 MB limit") != NULL, "totals: %s",
          err.msg);
    CHECK(strstr(err.msg, "largest: venv/ 400 MB, data.csv 9 MB") != NULL, "largest named: %s", err.msg);
    CHECK(strstr(err.msg, "add `venv/` to .amlignore to leave it out") != NULL, "ignore line: %s", err.msg);
    CHECK(!strchr(err.msg, '\n'), "one line");
    CHECK(took < 1.0, "refused before reading any file (%.3f s)", took);
    printf("limits: %s (%.1f ms)\n", err.msg, took * 1000);

    /* With a .gitignore in effect, the suggestion goes there. */
    put_text(root, ".gitignore", "*.pyc\n", 0644);
    rc = build(root, &m, &err);
    CHECK(rc == -EFBIG && strstr(err.msg, "add `venv/` to .gitignore"), "suggests .gitignore: %s", err.msg);
    put_text(root, ".gitignore", "*.pyc\nvenv/\n", 0644);
    rc = build(root, &m, &err);
    CHECK(rc == 0 && !snapshot_manifest_find(&m, "venv"), "with venv/ ignored it fits: %s", rc ? err.msg : "");
    if (rc == 0)
        snapshot_manifest_free(&m);

    /* The file count limit, configurable. */
    char *many = fresh_dir("many");
    for (int i = 0; i < 8; i++) {
        char name[64];
        snprintf(name, sizeof name, "node_modules/pkg%d/index.js", i);
        put_text(many, name, "x\n", 0644);
    }
    put_text(many, "main.js", "y\n", 0644);
    snapshot_limits five = {.max_files = 5};
    rc = snapshot_manifest_build(many, &five, &m, &err);
    CHECK(rc == -EFBIG && strstr(err.msg, "has 9 files") && strstr(err.msg, "over the 5-file limit") &&
              strstr(err.msg, "node_modules/ 8 files") && strstr(err.msg, "add `node_modules/` to .amlignore"),
          "file limit message: %s", err.msg);
    snapshot_limits plenty = {.max_files = 50};
    rc = snapshot_manifest_build(many, &plenty, &m, &err);
    CHECK(rc == 0 && m.file_count == 9, "a raised limit lets it through");
    if (rc == 0)
        snapshot_manifest_free(&m);
    /* Several contributors needed: both named. */
    char *two = fresh_dir("two");
    sparse(two, "a.bin", 250ll * 1024 * 1024);
    sparse(two, "b/big.bin", 250ll * 1024 * 1024);
    sparse(two, "c.bin", 60ll * 1024 * 1024);
    rc = build(two, &m, &err);
    CHECK(rc == -EFBIG && strstr(err.msg, "add `a.bin` and `b/` to .amlignore to leave them out"),
          "two lines suggested: %s", err.msg);
    free(root);
    free(many);
    free(two);
}

static void test_refusals(void)
{
    amlfs_err err;
    snapshot_manifest m;
    char *fifo_dir = fresh_dir("fifo");
    put_text(fifo_dir, "ok.txt", "ok\n", 0644);
    char *p = at(fifo_dir, "tmp/pipe");
    mkdirs(fifo_dir, "tmp");
    CHECK(mkfifo(p, 0644) == 0, "mkfifo");
    free(p);
    int rc = build(fifo_dir, &m, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "'tmp/pipe'") && strstr(err.msg, "fifo") &&
              strstr(err.msg, "add `tmp/pipe` to .amlignore"),
          "fifo refused: %s", err.msg);

    char *sock_dir = fresh_dir("sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/s.sock", sock_dir);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0, "bind a socket");
    close(s);
    rc = build(sock_dir, &m, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "'s.sock'") && strstr(err.msg, "socket"), "socket refused: %s", err.msg);

    struct {
        const char *name, *target;
    } links[] = {{"out", "../../etc"}, {"abs", "/etc/passwd"}, {"esc", "d/up/.."}};
    for (size_t i = 0; i < 3; i++) {
        char dname[32];
        snprintf(dname, sizeof dname, "link%zu", i);
        char *dir = fresh_dir(dname);
        put_text(dir, "ok.txt", "ok\n", 0644);
        if (i == 2) {
            mkdirs(dir, "d");
            link_to(dir, "d/up", "..");
        }
        link_to(dir, links[i].name, links[i].target);
        rc = build(dir, &m, &err);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", links[i].name);
        CHECK(rc == -EINVAL && strstr(err.msg, quoted) && strstr(err.msg, ".amlignore"),
              "symlink %s -> %s refused: %s", links[i].name, links[i].target, err.msg);
        free(dir);
    }
    CHECK(build("/nonexistent/code", &m, &err) == -ENOENT, "a missing folder: %s", err.msg);
    free(fifo_dir);
    free(sock_dir);
}

/* ---- pack and extract ------------------------------------------------------------------------- */

static bool same_file(const char *a, const char *b)
{
    char *x = read_all(a), *y = read_all(b);
    bool same = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return same;
}

static void check_copy(const char *root, const char *dest, const char *expect_hash, const char *how)
{
    amlfs_err err;
    snapshot_manifest m;
    int rc = build(dest, &m, &err);
    CHECK(rc == 0 && strcmp(m.hash, expect_hash) == 0, "%s: the copy has the original's manifest hash (%s)", how,
          rc ? err.msg : "");
    if (rc == 0)
        snapshot_manifest_free(&m);
    char *a = at(root, "sub/data.bin"), *b = at(dest, "sub/data.bin");
    char *x = NULL, *y = NULL;
    size_t lx = 0, ly = 0;
    util_read_file(a, &x, &lx, &err);
    util_read_file(b, &y, &ly, &err);
    CHECK(x && y && lx == 1000 && ly == 1000 && memcmp(x, y, 1000) == 0, "%s: binary file byte for byte", how);
    free(x), free(y), free(a), free(b);
    a = at(dest, "run.sh");
    struct stat st;
    CHECK(stat(a, &st) == 0 && (st.st_mode & 0777) == 0755, "%s: run.sh is 0755", how);
    free(a);
    a = at(dest, "hello.txt");
    CHECK(stat(a, &st) == 0 && (st.st_mode & 0777) == 0644, "%s: hello.txt is 0644", how);
    free(a);
    a = at(dest, "sub/up");
    char target[64] = "";
    ssize_t n = readlink(a, target, sizeof target - 1);
    CHECK(n > 0 && strcmp(target, "../hello.txt") == 0, "%s: symlink kept", how);
    free(a);
    a = at(dest, "sub/up");
    b = at(root, "hello.txt");
    CHECK(same_file(a, b), "%s: the symlink leads to the copied file", how);
    free(a), free(b);
}

static void test_round_trip(const char *root)
{
    amlfs_err err;
    snapshot_manifest m;
    if (build(root, &m, &err) < 0)
        die("manifest", &err);

    for (int gz = 0; gz < 2; gz++) {
        snapshot_pack_opts opts = {.gzip = gz};
        char *buf;
        size_t len;
        int n = snapshot_pack_buffer(root, &m, &opts, &buf, &len, &err);
        CHECK(n == (int)m.count, "pack%s: %d of %zu entries (%s)", gz ? " gzip" : "", n, m.count, n < 0 ? err.msg : "");
        if (gz)
            CHECK(len > 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b, "gzip magic");
        char *dest = at(tmp_root, gz ? "rt-gz" : "rt-plain");
        int x = snapshot_extract_buffer(buf, len, dest, NULL, &err);
        CHECK(x == (int)m.count, "extract: %d entries (%s)", x, x < 0 ? err.msg : "");
        check_copy(root, dest, m.hash, gz ? "gzip buffer" : "plain buffer");
        free(buf);
        free(dest);
    }

    /* Through files, into an existing empty folder; a non-empty one is refused. */
    char *tarpath = at(tmp_root, "snap.tar");
    int fd = open(tarpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int n = snapshot_pack_fd(root, &m, NULL, fd, &err);
    CHECK(n == (int)m.count, "pack to fd: %d", n);
    char *dest = fresh_dir("rt-fd");
    lseek(fd, 0, SEEK_SET);
    int x = snapshot_extract_fd(fd, dest, NULL, &err);
    CHECK(x == (int)m.count, "extract from fd into an empty folder: %d (%s)", x, x < 0 ? err.msg : "");
    check_copy(root, dest, m.hash, "fd");
    lseek(fd, 0, SEEK_SET);
    x = snapshot_extract_fd(fd, dest, NULL, &err);
    CHECK(x == -ENOTEMPTY, "a non-empty destination is refused: %s", err.msg);
    close(fd);
    int pipefd[2];
    CHECK(pipe(pipefd) == 0, "pipe");
    char *pdest = at(tmp_root, "rt-pipe");
    x = snapshot_extract_fd(pipefd[0], pdest, NULL, &err);
    CHECK(x < 0 && strstr(err.msg, "pipe") && access(pdest, F_OK) != 0, "a pipe is refused: %s", err.msg);
    close(pipefd[0]);
    close(pipefd[1]);
    free(pdest);

    /* A file changed after the manifest was made is caught while packing. */
    char *changed = fresh_dir("changed");
    make_tree(changed);
    snapshot_manifest cm;
    if (build(changed, &cm, &err) < 0)
        die("manifest", &err);
    put_text(changed, "hello.txt", "HELLO\n", 0644); /* same size, other bytes */
    char *buf;
    size_t len;
    n = snapshot_pack_buffer(changed, &cm, NULL, &buf, &len, &err);
    CHECK(n == -EAGAIN && strstr(err.msg, "'hello.txt' changed"), "changed file caught: %s", err.msg);
    snapshot_manifest_free(&cm);

    free(changed);
    free(dest);
    free(tarpath);
    snapshot_manifest_free(&m);
}

/* ---- hostile archives ------------------------------------------------------------------------- */

typedef enum { H_FILE, H_DIR, H_SYMLINK, H_HARDLINK, H_CHR, H_FIFO } hkind;
typedef struct hentry {
    hkind kind;
    const char *path;
    const char *target; /* symlink target, hardlink source */
} hentry;

/* Writes an archive with exactly these headers (libarchive does not judge them). */
static void write_archive(const char *file, const hentry *es, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, file) != ARCHIVE_OK)
        die(file, NULL);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, es[i].path);
        archive_entry_set_perm(e, 0644);
        const char *body = "evil\n";
        switch (es[i].kind) {
        case H_FILE:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, 5);
            break;
        case H_DIR:
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755);
            break;
        case H_SYMLINK:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, es[i].target);
            break;
        case H_HARDLINK:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, es[i].target);
            archive_entry_set_size(e, 0);
            break;
        case H_CHR:
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdev(e, makedev(1, 3));
            break;
        case H_FIFO:
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        }
        archive_write_header(a, e); /* refusals are the extractor's job */
        if (es[i].kind == H_FILE)
            archive_write_data(a, body, 5);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void test_hostile_archives(void)
{
    char *outer = fresh_dir("hostile");
    char *abs_evil = at(outer, "abs-evil");
    struct {
        const char *name;
        hentry es[4];
        size_t n;
        const char *named; /* the message must name this */
    } cases[] = {
        {"dotdot", {{H_FILE, "good.txt", NULL}, {H_FILE, "../evil", NULL}}, 2, "'../evil'"},
        {"dotdot-middle", {{H_FILE, "a/../../evil", NULL}}, 1, "'a/../../evil'"},
        {"absolute", {{H_FILE, "good.txt", NULL}, {H_FILE, abs_evil, NULL}}, 2, "absolute"},
        {"symlink-out", {{H_SYMLINK, "ln", "../../etc"}, {H_FILE, "ln/x", NULL}}, 2, "'ln'"},
        {"symlink-abs", {{H_SYMLINK, "ln", "/etc"}}, 1, "'ln'"},
        {"symlink-chain", {{H_DIR, "d", NULL}, {H_SYMLINK, "d/up", ".."}, {H_SYMLINK, "esc", "d/up/.."}}, 3, "'esc'"},
        {"under-symlink", {{H_DIR, "sub", NULL}, {H_SYMLINK, "ln", "sub"}, {H_FILE, "ln/x", NULL}}, 3, "'ln/x'"},
        {"hardlink", {{H_FILE, "good.txt", NULL}, {H_HARDLINK, "h", "good.txt"}}, 2, "hard link"},
        {"hardlink-out", {{H_HARDLINK, "h", "/etc/passwd"}}, 1, "hard link"},
        {"device", {{H_CHR, "dev", NULL}}, 1, "character device"},
        {"fifo", {{H_FIFO, "p", NULL}}, 1, "fifo"},
        {"duplicate", {{H_FILE, "x", NULL}, {H_DIR, "x", NULL}}, 2, "twice"},
        {"file-parent", {{H_FILE, "f", NULL}, {H_FILE, "f/x", NULL}}, 2, "'f/x'"},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < ncases; i++) {
        char *tar = util_strdupf("%s/%s.tar", tmp_root, cases[i].name);
        write_archive(tar, cases[i].es, cases[i].n);
        for (int into_existing = 0; into_existing < 2; into_existing++) {
            char *dest = util_strdupf("%s/%s", outer, cases[i].name);
            if (into_existing)
                mkdirs(outer, cases[i].name);
            int fd = open(tar, O_RDONLY);
            amlfs_err err = {0};
            int rc = snapshot_extract_fd(fd, dest, NULL, &err);
            close(fd);
            CHECK(rc < 0 && strstr(err.msg, cases[i].named), "%s%s: refused naming %s: rc %d, %s", cases[i].name,
                  into_existing ? " (existing dest)" : "", cases[i].named, rc, err.msg);
            /* Nothing written anywhere: not in dest, not beside it, not at the escape targets. */
            CHECK(count_files(outer) == 0, "%s: nothing written under %s (%d files)", cases[i].name, outer,
                  count_files(outer));
            struct stat st;
            CHECK(into_existing ? (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode) && dir_is_empty(dest))
                                : lstat(dest, &st) < 0,
                  "%s: destination left as found", cases[i].name);
            char *evil = at(tmp_root, "evil");
            CHECK(access(evil, F_OK) != 0 && access(abs_evil, F_OK) != 0, "%s: no evil file", cases[i].name);
            free(evil);
            util_rm_rf(dest, &err);
            free(dest);
        }
        free(tar);
    }
    /* Over the limits: refused from the headers alone. */
    hentry three[] = {{H_FILE, "a", NULL}, {H_FILE, "b", NULL}, {H_FILE, "c", NULL}};
    char *tar = at(tmp_root, "three.tar");
    write_archive(tar, three, 3);
    snapshot_limits two = {.max_files = 2};
    int fd = open(tar, O_RDONLY);
    char *dest = at(outer, "three");
    amlfs_err err;
    int rc = snapshot_extract_fd(fd, dest, &two, &err);
    close(fd);
    CHECK(rc == -EFBIG && strstr(err.msg, "2-file limit") && access(dest, F_OK) != 0, "limits: %s", err.msg);
    free(dest);
    free(tar);
    /* A tar as `tar -C dir .` writes it ("./" names, no folder entries) is fine. */
    hentry dotted[] = {{H_DIR, "./", NULL}, {H_FILE, "./a/b/c.txt", NULL}};
    tar = at(tmp_root, "dotted.tar");
    write_archive(tar, dotted, 2);
    fd = open(tar, O_RDONLY);
    dest = at(outer, "dotted");
    rc = snapshot_extract_fd(fd, dest, NULL, &err);
    close(fd);
    char *c = at(dest, "a/b/c.txt");
    char *text = read_all(c);
    CHECK(rc == 1 && text && strcmp(text, "evil\n") == 0, "dotted names extract, parents made: %d %s", rc,
          rc < 0 ? err.msg : "");
    free(text);
    free(c);
    util_rm_rf(dest, &err);
    free(dest);
    free(tar);
    char garbage[600];
    memset(garbage, 'g', sizeof garbage);
    dest = at(outer, "garbage");
    rc = snapshot_extract_buffer(garbage, sizeof garbage, dest, NULL, &err);
    CHECK(rc == -EINVAL && access(dest, F_OK) != 0, "garbage refused: %s", err.msg);
    free(dest);
    free(abs_evil);
    free(outer);
}

/* ---- the blob store --------------------------------------------------------------------------- */

static void test_blobs(const char *root)
{
    amlfs_err err;
    char *store = at(tmp_root, "store");
    char *blobs = at(store, "blobs");
    char *hello = at(root, "hello.txt");
    char sha[SNAPSHOT_SHA_HEX];
    CHECK(snapshot_blob_put_file(store, hello, NULL, sha, &err) == 1 && strcmp(sha, HELLO_SHA) == 0,
          "first put stores: %s", err.msg);
    CHECK(snapshot_blob_put_file(store, hello, NULL, sha, &err) == 0, "second put of the same content stores nothing");
    CHECK(snapshot_blob_put_file(store, hello, HELLO_SHA, NULL, &err) == 0, "known hash: nothing read or stored");
    CHECK(count_files(blobs) == 1, "one blob on disk: %d", count_files(blobs));
    CHECK(snapshot_blob_has(store, HELLO_SHA), "blob_has");
    char *run = at(root, "run.sh");
    const char *other = "0000000000000000000000000000000000000000000000000000000000000000";
    int rc = snapshot_blob_put_file(store, run, other, NULL, &err);
    char *tmpdir = at(store, "tmp");
    CHECK(rc == -EINVAL && count_files(blobs) == 1 && dir_is_empty(tmpdir), "wrong content refused: %s", err.msg);
    free(tmpdir);
    free(run);

    /* A submission: manifest, the server's answer of what is missing, a subset archive, ingest. */
    snapshot_manifest m;
    if (build(root, &m, &err) < 0)
        die("manifest", &err);
    char **missing;
    size_t nmissing;
    snapshot_blobs_missing(store, &m, &missing, &nmissing, &err);
    CHECK(nmissing == 3, "missing: data.bin, run.sh, the long file (hello is stored, copy shares it): %zu", nmissing);
    snapshot_pack_opts opts = {.only_sha = (const char *const *)missing, .only_count = nmissing, .gzip = true};
    char *buf;
    size_t len;
    int n = snapshot_pack_buffer(root, &m, &opts, &buf, &len, &err);
    CHECK(n == 3, "subset archive holds 3 entries: %d", n);
    n = snapshot_blobs_ingest_buffer(store, &m, buf, len, &err);
    CHECK(n == 3, "ingest stores 3 blobs: %d (%s)", n, n < 0 ? err.msg : "");
    free(buf);
    snapshot_strings_free(missing, nmissing);
    snapshot_blobs_missing(store, &m, &missing, &nmissing, &err);
    CHECK(nmissing == 0, "nothing missing after ingest");
    snapshot_strings_free(missing, nmissing);
    CHECK(count_files(blobs) == 4, "4 distinct contents, 4 blobs: %d", count_files(blobs));
    CHECK(snapshot_store_put_manifest(store, &m, &err) == 0, "manifest stored: %s", err.msg);

    /* Resubmitting unchanged code: same name, nothing to upload. */
    snapshot_manifest again;
    if (build(root, &again, &err) < 0)
        die("manifest", &err);
    snapshot_blobs_missing(store, &again, &missing, &nmissing, &err);
    CHECK(strcmp(again.hash, m.hash) == 0 && nmissing == 0, "unchanged resubmission uploads nothing");
    snapshot_strings_free(missing, nmissing);
    snapshot_manifest_free(&again);

    /* One file changed: exactly that content is missing. */
    char *edited = fresh_dir("edited");
    make_tree(edited);
    put_text(edited, "run.sh", "#!/bin/sh\necho changed\n", 0755);
    if (build(edited, &again, &err) < 0)
        die("manifest", &err);
    snapshot_blobs_missing(store, &again, &missing, &nmissing, &err);
    const snapshot_entry *e = snapshot_manifest_find(&again, "run.sh");
    CHECK(nmissing == 1 && e && strcmp(missing[0], e->sha256) == 0, "one changed file, one upload: %zu", nmissing);
    snapshot_pack_opts one = {.only_sha = (const char *const *)missing, .only_count = nmissing};
    n = snapshot_pack_buffer(edited, &again, &one, &buf, &len, &err);
    CHECK(n == 1, "its archive holds one entry: %d", n);
    /* A client lying about the content is caught: that archive against the original manifest. */
    rc = snapshot_blobs_ingest_buffer(store, &m, buf, len, &err);
    CHECK(rc == -EINVAL && strstr(err.msg, "run.sh"), "content not matching the manifest refused: %s", err.msg);
    CHECK(count_files(blobs) == 4, "and not stored");
    free(buf);
    snapshot_strings_free(missing, nmissing);
    snapshot_manifest_free(&again);
    free(edited);

    /* The manifest read back, then a run's folder built from the store. */
    snapshot_manifest stored;
    rc = snapshot_store_get_manifest(store, m.hash, &stored, &err);
    CHECK(rc == 0 && strcmp(stored.hash, m.hash) == 0, "manifest read back: %s", rc ? err.msg : "");
    char *run_dir = at(tmp_root, "run-snapshot");
    rc = rc == 0 ? snapshot_materialize(store, &stored, run_dir, &err) : rc;
    CHECK(rc == 0, "materialize: %s", rc ? err.msg : "");
    check_copy(root, run_dir, m.hash, "materialized");
    /* The run's copy is its own: changing it leaves the store as it was. */
    char *copy = at(run_dir, "hello.txt");
    put_text(run_dir, "hello.txt", "changed by the run\n", 0644);
    char *blob = snapshot_blob_path(store, HELLO_SHA);
    char *text = read_all(blob);
    CHECK(text && strcmp(text, "hello\n") == 0, "the blob is unchanged");
    struct stat st;
    CHECK(stat(blob, &st) == 0 && (st.st_mode & 0777) == 0444, "blobs are read-only");
    free(text);
    free(blob);
    free(copy);
    if (rc == 0)
        snapshot_manifest_free(&stored);

    /* A missing blob stops the copy there and leaves nothing behind, naming the file. */
    char *lone = fresh_dir("lone");
    put_text(lone, "new.txt", "not in the store\n", 0644);
    snapshot_manifest lm;
    if (build(lone, &lm, &err) < 0)
        die("manifest", &err);
    char *nowhere = at(tmp_root, "nowhere");
    rc = snapshot_materialize(store, &lm, nowhere, &err);
    CHECK(rc == -ENOENT && strstr(err.msg, "new.txt") && access(nowhere, F_OK) != 0,
          "missing blob refused before writing: %s", err.msg);
    snapshot_manifest_free(&lm);
    free(nowhere);
    free(lone);

    /* Upload entries that are not files of the manifest are refused. */
    hentry stray[] = {{H_FILE, "not-in-manifest.txt", NULL}};
    char *tar = at(tmp_root, "stray.tar");
    write_archive(tar, stray, 1);
    int fd = open(tar, O_RDONLY);
    rc = snapshot_blobs_ingest_fd(store, &m, fd, &err);
    close(fd);
    CHECK(rc == -EINVAL && strstr(err.msg, "not-in-manifest.txt"), "stray upload entry refused: %s", err.msg);
    free(tar);

    snapshot_manifest_free(&m);
    free(run_dir);
    free(hello);
    free(blobs);
    free(store);
}

/* One file alone (a uri_file input): its name at the root, its hash; folders, links and sizes over the
 * limit refused. */
static void test_one_file(const char *root)
{
    amlfs_err err = {0};
    snapshot_manifest m;
    char *file = util_strdupf("%s/hello.txt", root);
    int rc = snapshot_manifest_build_file(file, NULL, &m, &err);
    CHECK(rc == 0 && m.count == 1 && strcmp(m.entries[0].path, "hello.txt") == 0 &&
              strcmp(m.entries[0].sha256, HELLO_SHA) == 0 && m.hash[0],
          "one file: %d %s", rc, err.msg);
    if (rc == 0)
        snapshot_manifest_free(&m);
    snapshot_limits tiny = {.max_bytes = 2, .max_files = 10};
    CHECK(snapshot_manifest_build_file(file, &tiny, &m, &err) == -EFBIG && strstr(err.msg, "over the limit"),
          "limit: %s", err.msg);
    CHECK(snapshot_manifest_build_file(root, NULL, &m, &err) == -EINVAL, "a folder: %s", err.msg);
    char *link = util_strdupf("%s/ln", root);
    CHECK(snapshot_manifest_build_file(link, NULL, &m, &err) == -ELOOP, "a symlink: %s", err.msg);
    char *missing = util_strdupf("%s/none", root);
    CHECK(snapshot_manifest_build_file(missing, NULL, &m, &err) == -ENOENT, "missing: %s", err.msg);
    free(missing);
    free(link);
    free(file);
}


/* ---- the hash cache --------------------------------------------------------------------------- */

static const char *sha_of(const snapshot_manifest *m, const char *path)
{
    const snapshot_entry *e = snapshot_manifest_find(m, path);
    return e ? e->sha256 : "";
}

static snapshot_hash_cache_stats cache_stats(void)
{
    snapshot_hash_cache_stats st;
    snapshot_hash_cache_get_stats(&st);
    return st;
}

/* Rewrites path in place (same inode, same size) and puts its mtime back as `touch -d` would, until the
 * kernel gives it a ctime other than before's (a rewrite within one timestamp tick keeps it). */
static bool rewrite_keeping_mtime(const char *path, const char *text, const struct stat *before)
{
    double deadline = now_s() + 5;
    struct stat now;
    do {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
            die(path, NULL);
        close(fd);
        struct timespec times[2] = {before->st_atim, before->st_mtim};
        if (utimensat(AT_FDCWD, path, times, 0) < 0 || stat(path, &now) < 0)
            die(path, NULL);
        if (now.st_ctim.tv_sec != before->st_ctim.tv_sec || now.st_ctim.tv_nsec != before->st_ctim.tv_nsec)
            return now.st_size == before->st_size && now.st_mtim.tv_sec == before->st_mtim.tv_sec &&
                   now.st_mtim.tv_nsec == before->st_mtim.tv_nsec && now.st_ino == before->st_ino;
    } while (now_s() < deadline);
    return false;
}

static void test_hash_cache(void)
{
    amlfs_err err = {0};
    char *dir = fresh_dir("cached");
    put_text(dir, "a.txt", "aaaa", 0644);
    put_text(dir, "b.txt", "bbbb", 0644);
    put_text(dir, "sub/c.txt", "cccc", 0755);
    /* No racy window: these files were written just now and would otherwise never be kept. */
    snapshot_hash_cache_configure(64, 0);

    snapshot_manifest m1, m2, m3;
    CHECK(build(dir, &m1, &err) == 0, "first build: %s", err.msg);
    snapshot_hash_cache_stats st = cache_stats();
    CHECK(st.files_read == 3 && st.stored == 3 && st.hits == 0, "first build reads all: read %llu stored %llu",
          (unsigned long long)st.files_read, (unsigned long long)st.stored);

    /* Unchanged: nothing is read again, and the manifest is the same. */
    CHECK(build(dir, &m2, &err) == 0, "second build: %s", err.msg);
    st = cache_stats();
    CHECK(st.files_read == 3 && st.hits == 3, "an unchanged file is not read again: read %llu hits %llu",
          (unsigned long long)st.files_read, (unsigned long long)st.hits);
    CHECK(strcmp(m1.hash, m2.hash) == 0 && strcmp(sha_of(&m2, "a.txt"), sha_of(&m1, "a.txt")) == 0,
          "same manifest from the cache");

    /* Same size, mtime put back (touch -d), other ctime: read again, with the new content's hash. */
    char *a = at(dir, "a.txt");
    struct stat before;
    if (stat(a, &before) < 0)
        die(a, NULL);
    CHECK(rewrite_keeping_mtime(a, "zzzz", &before), "the rewrite kept size and mtime and changed ctime");
    char zzzz[SNAPSHOT_SHA_HEX];
    snapshot_sha256_buffer("zzzz", 4, zzzz, &err);
    CHECK(build(dir, &m3, &err) == 0, "third build: %s", err.msg);
    st = cache_stats();
    CHECK(st.files_read == 4 && strcmp(sha_of(&m3, "a.txt"), zzzz) == 0 && strcmp(m3.hash, m1.hash) != 0,
          "a file changed under the same size and mtime is hashed again: read %llu, sha %s",
          (unsigned long long)st.files_read, sha_of(&m3, "a.txt"));
    snapshot_manifest_free(&m1);
    snapshot_manifest_free(&m2);
    snapshot_manifest_free(&m3);

    /* One file alone (a uri_file input) goes through the cache too. */
    snapshot_manifest f1, f2;
    CHECK(snapshot_manifest_build_file(a, NULL, &f1, &err) == 0 && snapshot_manifest_build_file(a, NULL, &f2, &err) == 0,
          "one file: %s", err.msg);
    st = cache_stats();
    CHECK(st.files_read == 4 && strcmp(f1.hash, f2.hash) == 0 && strcmp(f1.entries[0].sha256, zzzz) == 0,
          "one unchanged file is not read again: read %llu", (unsigned long long)st.files_read);
    snapshot_manifest_free(&f1);
    snapshot_manifest_free(&f2);

    /* Racy: a file changed less than the window before its read is not kept, so read each time. */
    snapshot_hash_cache_configure(64, 3600 * 1000000000LL);
    CHECK(build(dir, &m1, &err) == 0 && build(dir, &m2, &err) == 0, "racy builds: %s", err.msg);
    st = cache_stats();
    CHECK(st.files_read == 6 && st.stored == 0 && st.racy == 6 && st.entries == 0,
          "recently changed files are not trusted: read %llu stored %llu racy %llu",
          (unsigned long long)st.files_read, (unsigned long long)st.stored, (unsigned long long)st.racy);
    snapshot_manifest_free(&m1);
    snapshot_manifest_free(&m2);

    /* Bounded: 40 files through an 8-entry cache keep 8, the oldest pushed out, hashes still right. */
    char *many = fresh_dir("cached-many");
    for (int i = 0; i < 40; i++) {
        char name[32], text[32];
        snprintf(name, sizeof name, "f%02d", i);
        snprintf(text, sizeof text, "file %d\n", i);
        put_text(many, name, text, 0644);
    }
    snapshot_hash_cache_configure(8, 0);
    CHECK(build(many, &m1, &err) == 0, "many: %s", err.msg);
    st = cache_stats();
    CHECK(st.entries == 8 && st.stored == 40 && st.evicted == 32, "bounded: %zu entries, %llu evicted", st.entries,
          (unsigned long long)st.evicted);
    CHECK(build(many, &m2, &err) == 0 && strcmp(m1.hash, m2.hash) == 0 && cache_stats().entries == 8,
          "same hashes through a full cache: %s", err.msg);
    /* The walk looks every file up before any is read: the 8 kept (f32..f39) are answered, 32 read again. */
    st = cache_stats();
    CHECK(st.files_read == 72 && st.hits == 8 && st.entries == 8, "over capacity: read %llu, hits %llu",
          (unsigned long long)st.files_read, (unsigned long long)st.hits);
    snapshot_manifest_free(&m1);
    snapshot_manifest_free(&m2);

    /* Off (capacity 0): everything is read, nothing kept. */
    snapshot_hash_cache_configure(0, 0);
    CHECK(build(many, &m1, &err) == 0 && cache_stats().entries == 0 && cache_stats().files_read == 40,
          "off: nothing kept");
    snapshot_manifest_free(&m1);

    snapshot_hash_cache_reset();
    free(a);
    free(many);
    free(dir);
}

int main(void)
{
    char tmpl[] = "/tmp/amlfs-test-snapshot-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 2;
    }
    tmp_root = tmpl;
    char *root = fresh_dir("code");
    make_tree(root);

    test_manifest(root);
    test_one_file(root);
    test_golden_hash();
    test_hash_stability(root);
    test_hostile_manifests();
    test_limits();
    test_refusals();
    test_round_trip(root);
    test_hostile_archives();
    test_blobs(root);
    test_hash_cache();

    amlfs_err err;
    util_rm_rf(tmp_root, &err);
    free(root);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
