/* util.h: small helpers every layer uses: files, paths, names, time.
 * Nothing here knows about runs or HTTP. */
#ifndef AMLFS_UTIL_H
#define AMLFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "amlfs/err.h"

/* Whole-file read into a NUL-terminated malloc'd buffer (*len without the NUL). */
int util_read_file(const char *path, char **out, size_t *len, amlfs_err *err);
/* The same for a file a user or a job writes: -EFBIG once it holds more than max bytes (no more than
 * max + 1 are read: a 1 TiB sparse file costs nothing). */
int util_read_file_max(const char *path, size_t max, char **out, size_t *len, amlfs_err *err);
/* Write atomically: temp file in the same folder, fsync, rename over path. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, amlfs_err *err);
/* write(2) until every byte is written (EINTR retried): 0 or a negative errno. */
int util_write_all(int fd, const void *data, size_t len);
/* mkdir -p with the given mode for each created folder. */
int util_mkdir_p(const char *path, mode_t mode, amlfs_err *err);
/* rm -rf; missing is not an error. */
int util_rm_rf(const char *path, amlfs_err *err);
/* The same, and when path is a symbolic link, what it points to as well (a run folder kept elsewhere). */
int util_rm_rf_through_link(const char *path, amlfs_err *err);
/* cp of one file (not through a symlink), created with mode; dst must not exist. */
int util_copy_file(const char *src, const char *dst, mode_t mode, amlfs_err *err);
/* cp -a of a folder tree (files, folders, symlinks; modes kept). dst must not exist. */
int util_copy_tree(const char *src, const char *dst, amlfs_err *err);

/* malloc'd printf; aborts on out-of-memory (the only sane reaction in these daemons). */
char *util_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *util_xstrdup(const char *s);     /* NULL-safe strdup, aborts on OOM */
void *util_xcalloc(size_t n, size_t size);
void *util_xrealloc(void *p, size_t size);      /* aborts on OOM */

/* Work the calling thread does may be given up (a run canceled while its inputs are fetched): stop(ctx)
 * says so. Long transfers ask util_thread_should_stop() as they go and end with -ECANCELED. Set and
 * cleared (NULL) by the thread itself: each thread has its own. */
typedef bool (*util_stop_fn)(void *ctx);
void util_thread_set_stop(util_stop_fn stop, void *ctx);
bool util_thread_should_stop(void);

/* A crash point for tests: SIGKILL here when $AMLFS_FAULT is name (fault.c); nothing otherwise. */
void util_fault_point(const char *name);
/* The same for a step on a file: $AMLFS_FAULT is "step:BASENAME" (before-rename:launch.json). */
void util_fault_point_file(const char *step, const char *path);

/* The one growable byte buffer: always NUL-terminated after len (data may be NULL while empty). */
typedef struct util_buf {
    char *data;
    size_t len, cap;
} util_buf;
/* Appends n bytes; -EFBIG (nothing appended) when len would pass limit (0 = no limit). */
int util_buf_append(util_buf *b, const void *bytes, size_t n, size_t limit);
void util_buf_free(util_buf *b);

/* Object names (environments, experiments, computes, runs): letters, digits, '-', '_', '.',
 * starting with a letter or digit, at most 255 bytes; `kind` names the object in the message. */
int util_check_name(const char *kind, const char *name, amlfs_err *err);

/* A relative path inside a stored folder: no empty, '.', '..' parts, no leading '/'. */
int util_check_relpath(const char *path, amlfs_err *err);

/* Editors' scratch files (vim's 4913 probe and .NAME.swp/.swo.../.swx, NAME~ backups, emacs's #NAME#
 * and .#NAME locks): kept as ordinary files, never acted on, never part of an image's or environment's
 * identity. */
bool util_is_editor_scratch(const char *name);
/* Whether the n bytes at s are valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
bool util_utf8_valid(const char *s, size_t n);
/* Replaces, in place, every byte of s that is not part of a valid UTF-8 sequence (a sequence cut short by
 * a length limit too) with '?': text bound for JSON. Returns how many were replaced. */
size_t util_utf8_sanitize(char *s);
/* Edit distance, for "did you mean" suggestions. */
size_t util_levenshtein(const char *a, const char *b);

/* Wall clock in milliseconds and ISO-8601 UTC ("2026-11-26T13:02:26Z") into buf (>= 32 bytes). */
int64_t util_now_ms(void);
/* CLOCK_MONOTONIC in milliseconds: for deadlines and intervals, never for times shown to people. */
int64_t util_mono_ms(void);
/* The absolute time `ms` from now on `clock`, for pthread_cond_timedwait and friends. */
struct timespec util_deadline_after_ms(int clock, int64_t ms);
void util_iso8601(int64_t ms, char *buf, size_t len);

/* Open /dev/null on whichever of fds 0, 1, 2 is closed (a program started with stdin closed, as
 * CI may): otherwise the next file opened becomes "stdin" and a child's set-up clobbers it. */
void util_ensure_std_fds(void);

/* Default places: data dir ($AMLFS_DATA_DIR, else $XDG_DATA_HOME/amlfs, else ~/.local/share/amlfs)
 * and the server socket inside it. malloc'd. */
char *util_default_data_dir(void);
char *util_socket_path(const char *data_dir);

#endif
