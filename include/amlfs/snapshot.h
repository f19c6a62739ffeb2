/* snapshot.h: code snapshots: ignore rules (gitignore syntax), manifests named by a content hash,
 * size limits, tar packing, safe extraction, and the content-addressed blob store the server keeps. */
#ifndef AMLFS_SNAPSHOT_H
#define AMLFS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "amlfs/err.h"

struct archive;
struct cJSON;
struct archive_entry;

#define SNAPSHOT_AMLIGNORE ".amlignore"
#define SNAPSHOT_GITIGNORE ".gitignore"
#define SNAPSHOT_SHA_HEX 65 /* 64 lowercase hex digits and a NUL */

/* ---- gitignore patterns ----------------------------------------------------------------------- */

/* Glob matching with git's wildmatch semantics for paths: `*` and `?` never match '/', `**` as a
 * whole path segment matches any number of segments, `[...]` classes (ranges, `!`/`^`, [:alpha:]),
 * `\` quotes. Case-sensitive. */
bool snapshot_wildmatch(const char *pattern, const char *text);

/* The ignore rules of one code folder. The root decides the kind: `.amlignore` when the root has one
 * (then `.gitignore` files are never read), else `.gitignore`. Files of that kind in subfolders apply
 * to their own subtree, relative to their own folder, and beat the files above them (as in git). */
typedef struct snapshot_ignore snapshot_ignore;

/* The rule that decided a path: which file, which line, the line as written. */
typedef struct snapshot_ignore_rule {
    const char *file; /* relative to the root: ".gitignore", "src/.gitignore"; NULL: no rule matched */
    int line;         /* 1-based */
    const char *text; /* the pattern as written, trailing spaces trimmed */
    bool negated;     /* a `!` line: it re-includes */
} snapshot_ignore_rule;

/* Loads root's ignore file (if any). root may be NULL for rules given only as text. */
int snapshot_ignore_load(const char *root, snapshot_ignore **out, amlfs_err *err);
/* An empty rule set of the given kind (SNAPSHOT_AMLIGNORE or SNAPSHOT_GITIGNORE), reading nothing. */
snapshot_ignore *snapshot_ignore_new(const char *root, const char *kind);
void snapshot_ignore_free(snapshot_ignore *ig);
/* The kind in effect (".amlignore" or ".gitignore") and whether the root has that file. */
const char *snapshot_ignore_kind(const snapshot_ignore *ig);
bool snapshot_ignore_root_has_file(const snapshot_ignore *ig);
/* Adds rules read from `text` as if it were the ignore file of folder reldir ("" = the root). */
int snapshot_ignore_add_text(snapshot_ignore *ig, const char *reldir, const char *text, size_t len,
                             amlfs_err *err);
/* Reads reldir's ignore file, if it has one (once; later calls for the same folder do nothing). A
 * walker calls this for each folder it descends into. */
int snapshot_ignore_enter_dir(snapshot_ignore *ig, const char *reldir, amlfs_err *err);
/* Whether relpath is ignored by the rules loaded so far, looking at this path only: for a walker that
 * never descends into ignored folders. `why` (may be NULL) gets the deciding rule. */
bool snapshot_ignore_match_entry(const snapshot_ignore *ig, const char *relpath, bool is_dir,
                                 snapshot_ignore_rule *why);
/* git check-ignore for one path: 1 ignored, 0 not, or -errno. A path inside an ignored folder is
 * ignored by that folder's rule (a `!` line cannot re-include it). Loads the ignore files of the
 * folders along the way. */
int snapshot_ignore_check(snapshot_ignore *ig, const char *relpath, bool is_dir,
                          snapshot_ignore_rule *why, amlfs_err *err);
/* The ignore line that leaves out exactly the name `relpath` (special characters quoted, a trailing
 * '/' for folders). malloc'd. */
char *snapshot_ignore_line_for(const char *relpath, bool is_dir);

/* ---- hashing (SHA-256) -------------------------------------------------------------------------- */

typedef struct snapshot_hasher snapshot_hasher;
int snapshot_hasher_new(snapshot_hasher **out, amlfs_err *err);
int snapshot_hasher_update(snapshot_hasher *h, const void *data, size_t len, amlfs_err *err);
/* Writes the hex digest and frees h (also on failure). */
int snapshot_hasher_final(snapshot_hasher *h, char hex[SNAPSHOT_SHA_HEX], amlfs_err *err);
void snapshot_hasher_free(snapshot_hasher *h);
int snapshot_sha256_buffer(const void *data, size_t len, char hex[SNAPSHOT_SHA_HEX], amlfs_err *err);
/* Hashes fd from its current offset to its end; *size gets the byte count (may be NULL). `what`
 * names the file in messages. */
int snapshot_sha256_fd(int fd, const char *what, char hex[SNAPSHOT_SHA_HEX], uint64_t *size,
                       amlfs_err *err);
bool snapshot_sha_valid(const char *hex); /* 64 lowercase hex digits */

/* ---- the hash cache (hash_cache.c) ------------------------------------------------------------ */
/* A file's content hash kept by its (st_dev, st_ino, size, mtime and ctime with nanoseconds), process-wide
 * and bounded (LRU): snapshot_manifest_build and _build_file read only files whose key changed. A file
 * changed within 2 s of the moment its read began is never kept (a write in the same timestamp tick
 * would not change its key). */
typedef struct snapshot_hash_cache_stats {
    uint64_t hits, misses; /* lookups answered, and not (a miss is a file read) */
    uint64_t stored, racy, evicted; /* inserted; not kept as too recent; pushed out when full */
    uint64_t files_read;            /* files opened and hashed by the manifest builders */
    size_t entries, capacity;
} snapshot_hash_cache_stats;

/* true and hex filled when st's key is known. A known file whose key changed is forgotten. */
bool snapshot_hash_cache_lookup(const struct stat *st, char hex[SNAPSHOT_SHA_HEX]);
/* The time for read_started_ns: CLOCK_REALTIME, the clock file times are taken from, in ns. */
int64_t snapshot_hash_cache_clock(void);
/* Remembers hex for st, the stat taken before the read (and found the same after it), unless st's
 * times are within the racy window of read_started_ns. */
void snapshot_hash_cache_store(const struct stat *st, const char hex[SNAPSHOT_SHA_HEX], int64_t read_started_ns);
/* Counts one file read whole for its hash (the builders call it; tests check what was read). */
void snapshot_hash_cache_note_read(void);
/* For tests: empties the cache and the counters; capacity 0 turns it off. reset: the defaults again. */
void snapshot_hash_cache_configure(size_t capacity, int64_t racy_ns);
void snapshot_hash_cache_reset(void);
void snapshot_hash_cache_get_stats(snapshot_hash_cache_stats *out);

/* ---- manifests -------------------------------------------------------------------------------- */

typedef enum snapshot_type { SNAPSHOT_FILE, SNAPSHOT_DIR, SNAPSHOT_SYMLINK } snapshot_type;

typedef struct snapshot_entry {
    char *path;                     /* relative, '/'-separated, no '.', '..' or empty parts */
    snapshot_type type;
    unsigned mode;                  /* files 0644 or 0755 (the executable bit is what is kept),
                                       folders 0755, symlinks 0777 */
    uint64_t size;                  /* files: bytes; others 0 */
    char sha256[SNAPSHOT_SHA_HEX];  /* files: content hash ("" while not hashed yet); others "" */
    char *target;                   /* symlinks: where it points (relative, staying inside) */
    int64_t mtime_ms;               /* modification time as the folder had it, -1 unknown; not in the hash
                                       (touched code dedupes), so a snapshot shows the times of the first
                                       folder stored with its content */
} snapshot_entry;

/* Entries sorted by path (bytewise); every entry's parent folder is itself an entry. The hash names the
 * snapshot: SHA-256 of "amlfs-snapshot-1\n" then, per entry in order, "F <mode> <size> <sha256> <path>\0"
 * for files, "D 755 <path>\0" for folders, "L 777 <path>\0<target>\0" for symlinks (modes in octal). */
typedef struct snapshot_manifest {
    snapshot_entry *entries;
    size_t count, cap;
    uint64_t total_bytes; /* sum of file sizes */
    uint64_t file_count;  /* files and symlinks */
    uint64_t dir_count;
    char hash[SNAPSHOT_SHA_HEX]; /* "" until snapshot_manifest_finish */
} snapshot_manifest;

void snapshot_manifest_init(snapshot_manifest *m);
void snapshot_manifest_free(snapshot_manifest *m);
const char *snapshot_type_name(snapshot_type t); /* "file", "dir", "symlink" */
/* Appends a copy; the mode is normalised as described above. sha256/target may be NULL. Its mtime_ms is
 * -1 until snapshot_manifest_set_mtime. */
void snapshot_manifest_add(snapshot_manifest *m, const char *path, snapshot_type type, unsigned mode,
                           uint64_t size, const char *sha256, const char *target);
/* The modification time of the entry added last, from a stat. */
void snapshot_manifest_set_mtime(snapshot_manifest *m, const struct timespec *mtime);
/* Sorts and checks the entries (paths, duplicates, parents, symlinks that leave the snapshot,
 * hashes of files) and computes totals and the manifest hash. */
int snapshot_manifest_finish(snapshot_manifest *m, amlfs_err *err);
/* The checks of snapshot_manifest_finish on sorted entries, without hashing. With require_parents
 * false a missing parent folder is allowed (tar archives may leave them out). Sets the totals. */
int snapshot_manifest_check(snapshot_manifest *m, bool require_parents, bool require_hashes,
                            amlfs_err *err);
void snapshot_manifest_sort(snapshot_manifest *m);
const snapshot_entry *snapshot_manifest_find(const snapshot_manifest *m, const char *path);
/* Where the symlink at link_path pointing to target leads, resolved through the manifest's other
 * symlinks: 0 when it stays inside the snapshot, else -EINVAL with a message naming it. */
int snapshot_symlink_check(const snapshot_manifest *m, const char *link_path, const char *target,
                           amlfs_err *err);

/* JSON form: {"format": "amlfs-snapshot-1", "hash", "total_bytes", "file_count", "entries": [{"path",
 * "type", "mode", "size", "sha256", "target", "mtime_ms" (optional)}]}. from_json checks everything (a manifest may come from
 * a client) and refuses a "hash" that does not match the entries. */
char *snapshot_manifest_to_json(const snapshot_manifest *m); /* malloc'd, compact */
int snapshot_manifest_from_json(const char *text, size_t len, snapshot_manifest *m, amlfs_err *err);
/* The same from a parsed document (a request body's "manifest"): a manifest is parsed once. */
int snapshot_manifest_from_cjson(const struct cJSON *json, snapshot_manifest *m, amlfs_err *err);

/* ---- walking a code folder and its limits ----------------------------------------------------- */

#define SNAPSHOT_DEFAULT_MAX_BYTES (300ull * 1024 * 1024)
#define SNAPSHOT_DEFAULT_MAX_FILES 2000ull

/* 0 in a field means its default. Files are files and symlinks; folders may be as many as files. */
typedef struct snapshot_limits {
    uint64_t max_bytes;
    uint64_t max_files;
    const char *subject;        /* what a refusal calls the folder; NULL: "code folder" */
} snapshot_limits;

/* Walks root applying its ignore rules (ignored folders are not entered), refuses device files,
 * fifos, sockets and symlinks leading outside, checks the limits before reading any file (-EFBIG
 * with a message naming the total, the limit, the largest contributors and the ignore lines that
 * would leave them out), then hashes the files. limits may be NULL. */
int snapshot_manifest_build(const char *root, const snapshot_limits *limits, snapshot_manifest *out,
                            amlfs_err *err);
/* A manifest of one regular file, at the root under its own name (a uri_file input or data asset);
 * symlinks, devices and fifos refused, the size checked against limits->max_bytes before hashing. */
int snapshot_manifest_build_file(const char *path, const snapshot_limits *limits, snapshot_manifest *out,
                                 amlfs_err *err);
/* The limit check on its own (the server repeats it on a manifest it receives). subject names the
 * thing in the message ("code folder"); ignore_file, when not NULL, is where the message suggests
 * adding the lines. -EFBIG when over. */
int snapshot_limits_check(const snapshot_manifest *m, const snapshot_limits *limits, const char *subject,
                          const char *ignore_file, amlfs_err *err);
/* "412 MB", "9.2 MB", "12.5 KB", "17 bytes" (MB = 1024*1024 bytes). */
void snapshot_format_size(uint64_t bytes, char *buf, size_t len);

/* ---- tar archives ----------------------------------------------------------------------------- */

typedef struct snapshot_pack_opts {
    bool gzip;
    /* When not NULL: only the files whose content hash is in this set, each content once (what the
     * server lacks); folders and symlinks are left out since the manifest carries them. */
    const char *const *only_sha;
    size_t only_count;
} snapshot_pack_opts;

/* Packs root's entries listed in m (pax, optionally gzip) to fd or into a malloc'd buffer. A file that
 * changed since the manifest was made is -EAGAIN. Returns the number of entries written. opts may be
 * NULL. */
int snapshot_pack_fd(const char *root, const snapshot_manifest *m, const snapshot_pack_opts *opts, int fd,
                     amlfs_err *err);
int snapshot_pack_buffer(const char *root, const snapshot_manifest *m, const snapshot_pack_opts *opts,
                         char **out, size_t *len, amlfs_err *err);

/* Extracts a tar (optionally gzip) into dest, which must not exist or be an empty folder. Every
 * header is checked before anything is written: absolute paths, '..' parts, symlinks leading outside
 * (also through other symlinks), entries under a symlink, hard links, devices, fifos, duplicates
 * and archives over the limits are refused, naming the entry. Nothing is ever written through a
 * symlink. Modes keep only the executable bit (0755/0644). The fd must be seekable (a file): it is
 * read twice. limits may be NULL. Returns the number of entries; on failure dest is left as found. */
int snapshot_extract_fd(int fd, const char *dest, const snapshot_limits *limits, amlfs_err *err);
int snapshot_extract_buffer(const void *data, size_t len, const char *dest, const snapshot_limits *limits,
                            amlfs_err *err);

/* A libarchive reader for tar (plain or gzip) from an fd or a buffer (building block). */
int snapshot_archive_reader_fd(int fd, struct archive **out, amlfs_err *err);
int snapshot_archive_reader_buffer(const void *data, size_t len, struct archive **out, amlfs_err *err);
/* An entry's path as a clean relative path ("./" prefix and a trailing '/' dropped), or -EINVAL
 * naming the entry and why. malloc'd. */
int snapshot_archive_entry_path(struct archive_entry *e, char **out, amlfs_err *err);

/* ---- writing a tree without following symlinks (building block) ------------------------------ */

typedef struct snapshot_tree snapshot_tree;
/* dest must not exist (it is created) or be an empty folder. */
int snapshot_tree_open(const char *dest, snapshot_tree **out, amlfs_err *err);
int snapshot_tree_mkdir(snapshot_tree *t, const char *relpath, amlfs_err *err);
/* Creates a new file (missing parent folders are created); returns its fd (O_WRONLY). */
int snapshot_tree_create_file(snapshot_tree *t, const char *relpath, amlfs_err *err);
int snapshot_tree_symlink(snapshot_tree *t, const char *relpath, const char *target, amlfs_err *err);
/* Finishes a file from snapshot_tree_create_file: mode, mtime (ignored when < 0), close. */
int snapshot_tree_close_file(snapshot_tree *t, int fd, const char *relpath, unsigned mode, int64_t mtime_s,
                             amlfs_err *err);
/* Done: closes. Abort: removes everything written (and dest if it was created here), then closes. */
void snapshot_tree_done(snapshot_tree *t);
void snapshot_tree_abort(snapshot_tree *t);

/* ---- the blob store (server side) ------------------------------------------------------------- */
/* STORE/blobs/ab/abcd...: each content once, read-only; STORE/manifests/HASH.json; STORE/tmp. */

char *snapshot_blob_path(const char *store_dir, const char *sha); /* malloc'd */
bool snapshot_blob_has(const char *store_dir, const char *sha);
/* Stores fd's content (from its current offset), verifying expect_sha when not NULL. 1 when stored
 * now, 0 when it was there already; out_sha (may be NULL) gets the hash. */
int snapshot_blob_put_fd(const char *store_dir, int fd, const char *expect_sha, char out_sha[SNAPSHOT_SHA_HEX],
                         amlfs_err *err);
int snapshot_blob_put_file(const char *store_dir, const char *path, const char *expect_sha,
                           char out_sha[SNAPSHOT_SHA_HEX], amlfs_err *err);
/* The distinct file hashes of m that the store lacks (sorted, malloc'd array of malloc'd strings). */
int snapshot_blobs_missing(const char *store_dir, const snapshot_manifest *m, char ***out, size_t *n,
                           amlfs_err *err);
void snapshot_strings_free(char **v, size_t n);
/* Stores the files of an uploaded tar (from snapshot_pack with only_sha): every entry must be a file
 * of m and hash to what m says. Returns the number of blobs stored now. */
int snapshot_blobs_ingest_fd(const char *store_dir, const snapshot_manifest *m, int fd, amlfs_err *err);
int snapshot_blobs_ingest_buffer(const char *store_dir, const snapshot_manifest *m, const void *data,
                                 size_t len, amlfs_err *err);
/* Keeps a finished manifest as STORE/manifests/HASH.json, and reads one back (checked). */
int snapshot_store_put_manifest(const char *store_dir, const snapshot_manifest *m, amlfs_err *err);
int snapshot_store_get_manifest(const char *store_dir, const char *hash, snapshot_manifest *m,
                                amlfs_err *err);
/* Builds dest (must not exist, or be empty) from the store: folders, copies of the blobs (a run may
 * change its copy; the store never changes), symlinks. A blob missing (or damaged) stops it there, naming
 * the file, and dest is left as it was found. */
int snapshot_materialize(const char *store_dir, const snapshot_manifest *m, const char *dest,
                         amlfs_err *err);

#endif
