/* fsx_lite.c: random file operations on one file of the mount checked against an in-memory model, in
 * the manner of fsx: write, read, truncate, mmap read and write (msync), copy_file_range within the file,
 * fsync, close and reopen, at random offsets.
 * Usage: fsx_lite FILE [OPS [SEED [MAXLEN]]]; prints the seed and the last operations on a mismatch. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HISTORY 16

static unsigned char *model;    /* what the file must hold */
static size_t model_len, max_len;
static char history[HISTORY][96];
static long op_no;
static unsigned seed;

static void note(const char *fmt, long a, long b)
{
    snprintf(history[op_no % HISTORY], sizeof history[0], fmt, a, b);
}

static void die(const char *what)
{
    printf("FAIL op %ld: %s (seed %u; replay: fsx_lite FILE %ld %u %zu)\n", op_no, what, seed, op_no + 1, seed, max_len);
    long first = op_no >= HISTORY ? op_no - HISTORY + 1 : 0;
    for (long i = first; i <= op_no; i++)
        printf("  op %ld: %s\n", i, history[i % HISTORY]);
    printf("0 passed, 1 failed\n");
    exit(1);
}

static void check_bytes(const unsigned char *got, size_t off, size_t n, const char *how)
{
    for (size_t i = 0; i < n; i++) {
        if (got[i] != model[off + i]) {
            char what[160];
            snprintf(what, sizeof what, "%s: byte %zu is 0x%02x, expected 0x%02x", how, off + i, got[i], model[off + i]);
            die(what);
        }
    }
}

static int reopen(const char *path, int fd)
{
    if (fd >= 0 && close(fd) != 0)
        die("close failed");
    fd = open(path, O_RDWR);
    if (fd < 0)
        die("reopen failed");
    return fd;
}

static void check_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat failed");
    if ((size_t)st.st_size != model_len) {
        char what[96];
        snprintf(what, sizeof what, "size %lld, expected %zu", (long long)st.st_size, model_len);
        die(what);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fsx_lite FILE [OPS [SEED [MAXLEN]]]\n");
        return 2;
    }
    const char *path = argv[1];
    long ops = argc > 2 ? atol(argv[2]) : 3000;
    seed = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : (unsigned)time(NULL);
    max_len = argc > 4 ? (size_t)atol(argv[4]) : 256 * 1024;
    srandom(seed);
    model = calloc(1, max_len);
    unsigned char *buf = malloc(max_len);
    if (!model || !buf)
        return 2;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        printf("cannot open %s: %s\n0 passed, 1 failed\n", path, strerror(errno));
        return 1;
    }
    long counts[8] = {0};
    for (op_no = 0; op_no < ops; op_no++) {
        int kind = (int)(random() % 100);
        size_t off = (size_t)random() % max_len, len = 1 + (size_t)random() % (max_len / 8);
        if (off + len > max_len)
            len = max_len - off;
        if (kind < 27) { /* write */
            for (size_t i = 0; i < len; i++)
                buf[i] = (unsigned char)random();
            note("write off %ld len %ld", (long)off, (long)len);
            if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
                die("short write");
            memcpy(model + off, buf, len);
            if (off + len > model_len)
                model_len = off + len;
            counts[0]++;
        } else if (kind < 33) { /* mmap write: the pages reach the file by msync, as fsx's mapwrite */
            note("mapwrite off %ld len %ld", (long)off, (long)len);
            if (off + len > model_len) { /* a mapping cannot grow the file: ftruncate first, as fsx does */
                if (ftruncate(fd, (off_t)(off + len)) != 0)
                    die("ftruncate before mapwrite failed");
                memset(model + model_len, 0, off + len - model_len);
                model_len = off + len;
            }
            size_t pg = (size_t)sysconf(_SC_PAGESIZE), start = off / pg * pg;
            unsigned char *m = mmap(NULL, off + len - start, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
            if (m == MAP_FAILED)
                die("mmap for writing failed");
            for (size_t i = 0; i < len; i++)
                m[off - start + i] = model[off + i] = (unsigned char)random();
            if (msync(m, off + len - start, MS_SYNC) != 0)
                die("msync failed");
            munmap(m, off + len - start);
            counts[6]++;
        } else if (kind < 37) { /* copy_file_range within the file (cp --reflink=auto, fsx's copy_range) */
            if (model_len == 0)
                continue;
            size_t from = (size_t)random() % model_len, to = (size_t)random() % max_len;
            size_t n = 1 + (size_t)random() % (max_len / 16);
            if (from + n > model_len)
                n = model_len - from;
            if (to + n > max_len)
                n = max_len - to;
            if (from < to + n && to < from + n) /* ranges of one file must not overlap (EINVAL) */
                continue;
            note("copy_range from %ld to %ld", (long)from, (long)to);
            loff_t in = (loff_t)from, out = (loff_t)to;
            for (size_t done = 0; done < n;) {
                ssize_t k = copy_file_range(fd, &in, fd, &out, n - done, 0);
                if (k <= 0)
                    die(k < 0 ? "copy_file_range failed" : "copy_file_range copied nothing");
                done += (size_t)k;
            }
            if (to > model_len)
                memset(model + model_len, 0, to - model_len);
            memmove(model + to, model + from, n);
            if (to + n > model_len)
                model_len = to + n;
            counts[7]++;
        } else if (kind < 60) { /* read */
            note("read off %ld len %ld", (long)off, (long)len);
            ssize_t n = pread(fd, buf, len, (off_t)off);
            size_t want = off >= model_len ? 0 : (off + len > model_len ? model_len - off : len);
            if (n != (ssize_t)want) {
                char what[96];
                snprintf(what, sizeof what, "read gave %zd bytes, expected %zu", n, want);
                die(what);
            }
            check_bytes(buf, off, want, "read");
            counts[1]++;
        } else if (kind < 72) { /* truncate */
            size_t to = (size_t)random() % max_len;
            note("truncate to %ld", (long)to, 0);
            if (ftruncate(fd, (off_t)to) != 0)
                die("ftruncate failed");
            if (to > model_len)
                memset(model + model_len, 0, to - model_len);
            else
                memset(model + to, 0, model_len - to);
            model_len = to;
            check_size(fd);
            counts[2]++;
        } else if (kind < 82) { /* mmap read */
            note("mapread off %ld len %ld", (long)off, (long)len);
            if (model_len == 0)
                continue;
            off %= model_len;
            if (off + len > model_len)
                len = model_len - off;
            size_t pg = (size_t)sysconf(_SC_PAGESIZE), start = off / pg * pg;
            unsigned char *m = mmap(NULL, off + len - start, PROT_READ, MAP_SHARED, fd, (off_t)start);
            if (m == MAP_FAILED)
                die("mmap failed");
            check_bytes(m + (off - start), off, len, "mapread");
            munmap(m, off + len - start);
            counts[3]++;
        } else if (kind < 90) { /* fsync */
            note("fsync", 0, 0);
            if (fsync(fd) != 0)
                die("fsync failed");
            counts[4]++;
        } else { /* close and open again: what was stored comes back */
            note("close and reopen", 0, 0);
            fd = reopen(path, fd);
            check_size(fd);
            counts[5]++;
        }
    }
    fd = reopen(path, fd);
    check_size(fd);
    ssize_t n = pread(fd, buf, max_len, 0);
    if (n != (ssize_t)model_len)
        die("final read is short");
    check_bytes(buf, 0, model_len, "final read");
    close(fd);
    free(buf);
    free(model);
    printf("ok   fsx_lite %ld ops (seed %u): %ld writes, %ld mapwrites, %ld copy_ranges, %ld reads, %ld truncates, "
           "%ld mapreads, %ld fsyncs, %ld reopens\n",
           ops, seed, counts[0], counts[6], counts[7], counts[1], counts[2], counts[3], counts[4], counts[5]);
    printf("1 passed, 0 failed\n");
    return 0;
}
