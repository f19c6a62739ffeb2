/* fs_semantics.c: POSIX cases on a writable folder of the mount, with the errnos a disk gives: open,
 * create, rename over a file, unlink, truncate, ftruncate, mkdir/rmdir, chmod, utimensat, symlink, and
 * files kept readable through their descriptor after unlink. Usage: fs_semantics DIR [CASE-PREFIX];
 * prints "ok"/"FAIL" per check and "N passed, N failed". The kinds of case follow pjdfstest's lists. */
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
static const char *only;

static void check(const char *what, int ok, const char *fmt, ...)
{
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
        return;
    }
    failed++;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s\n", what, why);
}

/* rc is a syscall's result; expect 0 (success) or an errno. */
static void expect(const char *what, int rc, int want)
{
    int got = rc < 0 ? errno : 0;
    check(what, got == want, "expected %s, got %s", want ? strerrorname_np(want) : "success",
          got ? strerrorname_np(got) : "success");
}

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
        printf("setup: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static char *get(const char *path)
{
    static char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static int64_t mtime_ms_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 : -1;
}

static const char *long_name(int n)
{
    static char name[1100];
    memset(name, 'n', (size_t)n);
    name[n] = '\0';
    return name;
}

static bool run(const char *group)
{
    return !only || strncmp(group, only, strlen(only)) == 0;
}

static void cases_open(void)
{
    put("o_file", "hello");
    expect("open: O_CREAT|O_EXCL on an existing file is EEXIST", open("o_file", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    expect("open: a missing file is ENOENT", open("o_missing", O_RDONLY), ENOENT);
    expect("open: O_CREAT in a missing folder is ENOENT", open("o_nodir/f", O_WRONLY | O_CREAT, 0644), ENOENT);
    expect("open: a file as a folder on the way is ENOTDIR", open("o_file/x", O_RDONLY), ENOTDIR);
    expect("open: O_DIRECTORY on a file is ENOTDIR", open("o_file", O_RDONLY | O_DIRECTORY), ENOTDIR);
    mkdir("o_dir", 0755);
    expect("open: a folder for writing is EISDIR", open("o_dir", O_WRONLY), EISDIR);
    expect("open: a 256-byte name is ENAMETOOLONG", open(long_name(256), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
    int fd = open(long_name(255), O_WRONLY | O_CREAT, 0644);
    expect("open: a 255-byte name is made", fd, 0);
    if (fd >= 0)
        close(fd);
    expect("unlink: a 255-byte name", unlink(long_name(255)), 0);
    fd = open("o_file", O_WRONLY | O_TRUNC);
    if (fd >= 0)
        close(fd);
    check("open: O_TRUNC empties the file", size_of("o_file") == 0, "size %lld", (long long)size_of("o_file"));
    put("o_app", "abc");
    fd = open("o_app", O_WRONLY | O_APPEND);
    ssize_t w = fd >= 0 ? write(fd, "def", 3) : -1;
    if (fd >= 0)
        close(fd);
    check("open: O_APPEND writes at the end", w == 3 && strcmp(get("o_app"), "abcdef") == 0, "content '%s'", get("o_app"));
    fd = open("o_mode", O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd >= 0)
        close(fd);
    check("open: O_CREAT keeps the mode asked for", mode_of("o_mode") == 0640, "mode %o", (unsigned)mode_of("o_mode"));
    /* A new empty file is there as soon as open(O_CREAT) returns (touch, editors' 4913 probe). */
    fd = open("o_new", O_WRONLY | O_CREAT | O_EXCL, 0644);
    struct stat st;
    check("open: a created file exists before close", fd >= 0 && stat("o_new", &st) == 0 && st.st_size == 0, "%s", strerror(errno));
    if (fd >= 0)
        close(fd);
    expect("mknod: a regular file", mknod("o_mknod", S_IFREG | 0644, 0), 0);
    unlink("o_file"), unlink("o_app"), unlink("o_mode"), unlink("o_new"), unlink("o_mknod"), rmdir("o_dir");
}

static void cases_rename(void)
{
    put("r_a", "new");
    put("r_b", "old");
    expect("rename: over an existing file", rename("r_a", "r_b"), 0);
    check("rename: the target has the new content", strcmp(get("r_b"), "new") == 0, "'%s'", get("r_b"));
    expect("rename: the old name is gone", access("r_a", F_OK), ENOENT);
    expect("rename: a missing source is ENOENT", rename("r_missing", "r_x"), ENOENT);
    expect("rename: into a missing folder is ENOENT", rename("r_b", "r_nodir/x"), ENOENT);
    expect("rename: a file onto itself", rename("r_b", "r_b"), 0);
    mkdir("r_d1", 0755);
    mkdir("r_d2", 0755);
    put("r_d2/f", "x");
    expect("rename: a folder over a non-empty folder is ENOTEMPTY",
           rename("r_d1", "r_d2") == 0 ? 0 : (errno == EEXIST ? (errno = ENOTEMPTY, -1) : -1), ENOTEMPTY);
    expect("rename: a folder into itself is EINVAL", rename("r_d2", "r_d2/sub"), EINVAL);
    expect("rename: a file over a folder is EISDIR", rename("r_b", "r_d1"), EISDIR);
    expect("rename: a folder over a file is ENOTDIR", rename("r_d1", "r_b"), ENOTDIR);
    mkdir("r_d3", 0755);
    expect("rename: a folder over an empty folder", rename("r_d1", "r_d3"), 0);
    expect("rename: to a 256-byte name is ENAMETOOLONG", rename("r_b", long_name(256)), ENAMETOOLONG);
    put("r_c", "c");
    expect("renameat2: RENAME_NOREPLACE over a file is EEXIST", renameat2(AT_FDCWD, "r_c", AT_FDCWD, "r_b", RENAME_NOREPLACE), EEXIST);
    expect("rename: a file into a subfolder", rename("r_c", "r_d3/c"), 0);
    check("rename: the moved file keeps its content", strcmp(get("r_d3/c"), "c") == 0, "'%s'", get("r_d3/c"));
    /* A file open while another is renamed over it reads what it had (as a disk keeps the inode). */
    put("r_open", "before");
    put("r_new", "after");
    int fd = open("r_open", O_RDONLY);
    expect("rename: over a file that is open", rename("r_new", "r_open"), 0);
    char buf[32] = {0};
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    check("rename: the replaced file still reads through its descriptor", n == 6 && strcmp(buf, "before") == 0,
          "read %zd '%s' (%s)", n, buf, n < 0 ? strerror(errno) : "");
    if (fd >= 0)
        close(fd);
    check("rename: the name reads the new file", strcmp(get("r_open"), "after") == 0, "'%s'", get("r_open"));
    unlink("r_open"), unlink("r_b"), unlink("r_d2/f"), unlink("r_d3/c"), rmdir("r_d2"), rmdir("r_d3");
}

static void cases_unlink(void)
{
    expect("unlink: a missing file is ENOENT", unlink("u_missing"), ENOENT);
    mkdir("u_dir", 0755);
    expect("unlink: a folder is EISDIR", unlink("u_dir"), EISDIR);
    put("u_file", "gone soon");
    expect("unlink: a file as a folder on the way is ENOTDIR", unlink("u_file/x"), ENOTDIR);
    int fd = open("u_file", O_RDONLY);
    expect("unlink: a file that is open", unlink("u_file"), 0);
    expect("unlink: the name is gone", access("u_file", F_OK), ENOENT);
    char buf[32] = {0};
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    check("unlink: the open file still reads", n == 9 && strcmp(buf, "gone soon") == 0, "read %zd '%s' (%s)", n, buf,
          n < 0 ? strerror(errno) : "");
    struct stat st;
    int rc = fd >= 0 ? fstat(fd, &st) : -1;
    check("unlink: fstat of the open file works, with no links", rc == 0 && st.st_nlink == 0 && st.st_size == 9,
          "rc %d nlink %lu size %lld (%s)", rc, rc == 0 ? (unsigned long)st.st_nlink : 0UL,
          rc == 0 ? (long long)st.st_size : -1LL, rc ? strerror(errno) : "");
    if (fd >= 0)
        close(fd);
    /* The writer closes after the unlink: its release must not take the content from the reader. */
    int wfd = open("u_shared", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t wrote = wfd >= 0 ? write(wfd, "shared", 6) : -1;
    int rfd = open("u_shared", O_RDONLY);
    expect("unlink: a file open by a writer and a reader", unlink("u_shared"), 0);
    if (wfd >= 0)
        close(wfd);
    memset(buf, 0, sizeof buf);
    n = rfd >= 0 ? pread(rfd, buf, sizeof buf - 1, 0) : -1;
    check("unlink: the reader still reads after the writer closed", wrote == 6 && n == 6 && strcmp(buf, "shared") == 0,
          "read %zd '%s' (%s)", n, buf, n < 0 ? strerror(errno) : "");
    if (rfd >= 0)
        close(rfd);
    put("u_sym_target", "t");
    symlink("u_sym_target", "u_sym");
    expect("unlink: a symlink, not its target", unlink("u_sym"), 0);
    check("unlink: the target stays", access("u_sym_target", F_OK) == 0, "%s", strerror(errno));
    unlink("u_sym_target"), rmdir("u_dir");
}

static void cases_truncate(void)
{
    put("t_file", "0123456789");
    expect("truncate: shorter", truncate("t_file", 4), 0);
    check("truncate: keeps the start", strcmp(get("t_file"), "0123") == 0, "'%s'", get("t_file"));
    expect("truncate: longer", truncate("t_file", 8), 0);
    char *c = get("t_file");
    check("truncate: grows with zeros", size_of("t_file") == 8 && memcmp(c, "0123\0\0\0\0", 8) == 0, "size %lld",
          (long long)size_of("t_file"));
    expect("truncate: a missing file is ENOENT", truncate("t_missing", 1), ENOENT);
    mkdir("t_dir", 0755);
    expect("truncate: a folder is EISDIR", truncate("t_dir", 0), EISDIR);
    expect("truncate: a negative length is EINVAL", truncate("t_file", -1), EINVAL);
    expect("truncate: to 1 TiB is EFBIG (the workspace keeps files up to 256 MiB)", truncate("t_file", (off_t)1 << 40), EFBIG);
    check("truncate: the mount still answers after it", size_of("t_file") == 8, "size %lld", (long long)size_of("t_file"));
    int fd = open("t_file", O_RDWR);
    expect("ftruncate: shorter", fd >= 0 ? ftruncate(fd, 2) : -1, 0);
    struct stat st;
    check("ftruncate: fstat sees the size", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 2, "size");
    expect("ftruncate: longer", fd >= 0 ? ftruncate(fd, 6) : -1, 0);
    ssize_t w = fd >= 0 ? pwrite(fd, "Z", 1, 5) : -1;
    expect("ftruncate: to 1 TiB is EFBIG", fd >= 0 ? ftruncate(fd, (off_t)1 << 40) : -1, EFBIG);
    expect("pwrite: at 1 TiB is EFBIG", fd >= 0 ? (int)pwrite(fd, "x", 1, (off_t)1 << 40) : -1, EFBIG);
    if (fd >= 0)
        close(fd);
    c = get("t_file");
    check("ftruncate: the content after close", w == 1 && size_of("t_file") == 6 && memcmp(c, "01\0\0\0Z", 6) == 0,
          "size %lld", (long long)size_of("t_file"));
    fd = open("t_file", O_RDONLY);
    int rc = fd >= 0 ? ftruncate(fd, 0) : -1;
    int e = errno;
    check("ftruncate: a read-only descriptor is refused", rc < 0 && (e == EINVAL || e == EBADF), "rc %d %s", rc,
          strerror(e));
    if (fd >= 0)
        close(fd);
    unlink("t_file"), rmdir("t_dir");
}

static void cases_dirs(void)
{
    expect("mkdir: a new folder", mkdir("d_a", 0750), 0);
    check("mkdir: keeps the mode asked for", mode_of("d_a") == 0750, "mode %o", (unsigned)mode_of("d_a"));
    expect("mkdir: an existing name is EEXIST", mkdir("d_a", 0755), EEXIST);
    expect("mkdir: in a missing folder is ENOENT", mkdir("d_missing/x", 0755), ENOENT);
    expect("mkdir: a 256-byte name is ENAMETOOLONG", mkdir(long_name(256), 0755), ENAMETOOLONG);
    put("d_a/f", "x");
    int rc = rmdir("d_a");
    if (rc < 0 && errno == EEXIST)
        errno = ENOTEMPTY; /* POSIX allows either */
    expect("rmdir: a non-empty folder is ENOTEMPTY", rc, ENOTEMPTY);
    expect("rmdir: a file is ENOTDIR", rmdir("d_a/f"), ENOTDIR);
    expect("rmdir: a missing folder is ENOENT", rmdir("d_missing"), ENOENT);
    unlink("d_a/f");
    expect("rmdir: an empty folder", rmdir("d_a"), 0);
    expect("rmdir: it is gone", access("d_a", F_OK), ENOENT);
    expect("mkdir: nested", mkdir("d_b", 0755) == 0 ? mkdir("d_b/c", 0755) : -1, 0);
    rmdir("d_b/c"), rmdir("d_b");
}

static void cases_chmod(const char *dir)
{
    put("c_file", "x");
    expect("chmod: a file", chmod("c_file", 0600), 0);
    check("chmod: the file's mode is kept", mode_of("c_file") == 0600, "mode %o", (unsigned)mode_of("c_file"));
    expect("chmod: executable", chmod("c_file", 0755), 0);
    check("chmod: the executable bit is kept", mode_of("c_file") == 0755, "mode %o", (unsigned)mode_of("c_file"));
    mkdir("c_dir", 0755);
    expect("chmod: a folder", chmod("c_dir", 0700), 0);
    check("chmod: the folder's mode is kept", mode_of("c_dir") == 0700, "mode %o", (unsigned)mode_of("c_dir"));
    expect("chmod: a missing file is ENOENT", chmod("c_missing", 0644), ENOENT);
    mode_t was = mode_of(".");
    expect("chmod: the folder itself (cp -a src/. DIR/)", chmod(".", 0775), 0);
    check("chmod: the folder itself keeps its mode", mode_of(".") == 0775, "mode %o (%s)", (unsigned)mode_of("."), dir);
    chmod(".", was);
    int fd = open("c_w", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t w = fd >= 0 ? write(fd, "x", 1) : -1;
    expect("fchmod: a file open for writing", fd >= 0 ? fchmod(fd, 0640) : -1, 0);
    if (fd >= 0)
        close(fd);
    check("fchmod: the mode is kept after close", w == 1 && mode_of("c_w") == 0640, "mode %o", (unsigned)mode_of("c_w"));
    /* Odd modes are modes too: 0 is not "unset" (it showed, and was stored, as 0644 or 0755). */
    static const mode_t odd[] = {0, 0421, 04755, 01777, 0444};
    char what[96];
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        snprintf(what, sizeof what, "chmod: a file to %04o is kept", (unsigned)odd[i]);
        check(what, chmod("c_file", odd[i]) == 0 && mode_of("c_file") == odd[i], "mode %o (%s)",
              (unsigned)mode_of("c_file"), strerror(errno));
        snprintf(what, sizeof what, "chmod: a folder to %04o is kept", (unsigned)odd[i]);
        check(what, chmod("c_dir", odd[i]) == 0 && mode_of("c_dir") == odd[i], "mode %o (%s)",
              (unsigned)mode_of("c_dir"), strerror(errno));
    }
    chmod("c_dir", 0755);
    fd = open("c_zero", O_WRONLY | O_CREAT | O_EXCL, 0);
    w = fd >= 0 ? write(fd, "z", 1) : -1;
    struct stat st = {0};
    int rc = fd >= 0 ? fstat(fd, &st) : -1;
    check("open: O_CREAT with mode 0 shows 0 while open", rc == 0 && (st.st_mode & 07777) == 0, "mode %o",
          (unsigned)(st.st_mode & 07777));
    if (fd >= 0)
        close(fd);
    check("open: O_CREAT with mode 0 keeps 0 after close", w == 1 && mode_of("c_zero") == 0, "mode %o",
          (unsigned)mode_of("c_zero"));
    chmod("c_file", 0644), chmod("c_zero", 0644);
    unlink("c_file"), unlink("c_w"), unlink("c_zero"), rmdir("c_dir");
}

static void cases_times(void)
{
    put("m_file", "x");
    struct timespec ts[2] = {{.tv_sec = 1577934245, .tv_nsec = 0}, {.tv_sec = 1577934245, .tv_nsec = 0}};
    expect("utimensat: a file", utimensat(AT_FDCWD, "m_file", ts, 0), 0);
    check("utimensat: its modification time is kept", mtime_ms_of("m_file") == 1577934245000LL, "mtime %lld",
          (long long)mtime_ms_of("m_file"));
    struct timespec omit[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    expect("utimensat: UTIME_OMIT for the modification time", utimensat(AT_FDCWD, "m_file", omit, 0), 0);
    check("utimensat: UTIME_OMIT leaves it", mtime_ms_of("m_file") == 1577934245000LL, "mtime %lld",
          (long long)mtime_ms_of("m_file"));
    struct timespec now[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
    int64_t t0 = (int64_t)time(NULL) * 1000;
    expect("utimensat: UTIME_NOW", utimensat(AT_FDCWD, "m_file", now, 0), 0);
    check("utimensat: UTIME_NOW sets now", mtime_ms_of("m_file") >= t0 - 2000, "mtime %lld", (long long)mtime_ms_of("m_file"));
    mkdir("m_dir", 0755);
    expect("utimensat: a folder", utimensat(AT_FDCWD, "m_dir", ts, 0), 0);
    check("utimensat: the folder's time is kept", mtime_ms_of("m_dir") == 1577934245000LL, "mtime %lld",
          (long long)mtime_ms_of("m_dir"));
    expect("utimensat: a missing file is ENOENT", utimensat(AT_FDCWD, "m_missing", ts, 0), ENOENT);
    /* cp -p: write, set times on the open descriptor, close. */
    int fd = open("m_cp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t w = fd >= 0 ? write(fd, "copied", 6) : -1;
    expect("futimens: a file open for writing", fd >= 0 ? futimens(fd, ts) : -1, 0);
    if (fd >= 0)
        close(fd);
    check("futimens: the time is kept after close", w == 6 && mtime_ms_of("m_cp") == 1577934245000LL, "mtime %lld",
          (long long)mtime_ms_of("m_cp"));
    /* tar x: write, close, then set the time by name. */
    put("m_tar", "extracted");
    expect("utimensat: right after close", utimensat(AT_FDCWD, "m_tar", ts, 0), 0);
    check("utimensat: right after close, kept", mtime_ms_of("m_tar") == 1577934245000LL, "mtime %lld",
          (long long)mtime_ms_of("m_tar"));
    /* An editor compares the time it saw after its write with the file's later (vim's "changed since
     * reading it"): the time of the last write is the file's time, not the moment close() stored it. */
    fd = open("m_w", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct stat written = {0};
    w = fd >= 0 ? write(fd, "saved", 5) : -1;
    if (fd >= 0)
        fstat(fd, &written);
    int64_t written_ms = (int64_t)written.st_mtim.tv_sec * 1000 + written.st_mtim.tv_nsec / 1000000;
    struct timespec clock_now;
    do /* close in a later millisecond than the write: a time taken at close would differ */
        clock_gettime(CLOCK_REALTIME, &clock_now);
    while ((int64_t)clock_now.tv_sec * 1000 + clock_now.tv_nsec / 1000000 < written_ms + 3);
    if (fd >= 0)
        close(fd);
    check("a write's time is the file's time after close", w == 5 && mtime_ms_of("m_w") == written_ms,
          "mtime %lld, after the write %lld", (long long)mtime_ms_of("m_w"), (long long)written_ms);
    /* Opened for writing and closed without a write: the time stays. */
    expect("utimensat: before an open without a write", utimensat(AT_FDCWD, "m_w", ts, 0), 0);
    fd = open("m_w", O_WRONLY);
    if (fd >= 0)
        close(fd);
    check("an open for writing without a write keeps the time", mtime_ms_of("m_w") == 1577934245000LL,
          "mtime %lld", (long long)mtime_ms_of("m_w"));
    unlink("m_file"), unlink("m_cp"), unlink("m_tar"), unlink("m_w"), rmdir("m_dir");
}

static void cases_symlink(void)
{
    expect("symlink: made", symlink("target/of/link", "s_link"), 0);
    char buf[64] = {0};
    ssize_t n = readlink("s_link", buf, sizeof buf - 1);
    check("symlink: readlink gives the target", n == 14 && strcmp(buf, "target/of/link") == 0, "'%s'", buf);
    expect("symlink: an existing name is EEXIST", symlink("x", "s_link"), EEXIST);
    expect("link: hard links are refused with EPERM", link("s_link", "s_hard"), EPERM);
    expect("mkfifo: refused with EPERM (files, folders and symlinks only)", mkfifo("s_fifo", 0644), EPERM);
    unlink("s_link");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fs_semantics DIR [CASE-PREFIX]\n");
        return 2;
    }
    only = argc > 2 ? argv[2] : NULL;
    umask(0);
    if (chdir(argv[1]) != 0) {
        printf("cannot enter %s: %s\n0 passed, 1 failed\n", argv[1], strerror(errno));
        return 1;
    }
    if (run("open"))
        cases_open();
    if (run("rename"))
        cases_rename();
    if (run("unlink"))
        cases_unlink();
    if (run("truncate"))
        cases_truncate();
    if (run("dirs"))
        cases_dirs();
    if (run("chmod"))
        cases_chmod(argv[1]);
    if (run("times"))
        cases_times();
    if (run("symlink"))
        cases_symlink();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
