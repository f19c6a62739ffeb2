/* test_snapshot_server.c: the server's side of code snapshots without HTTP: a job's limits from its
 * properties, the workspace's limits kept across opens, folder snapshots into the blob store, the
 * manifest cache under concurrent use, upload counters, and the runs table upgrade for snapshots. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/server.h"
#include "amlfs/snapshot.h"
#include "amlfs/spec.h"
#include "amlfs/store.h"
#include "amlfs/util.h"

#include "check.h"

#define MB (1024ull * 1024)

static char dir[64];

static void write_text(const char *path, const char *text)
{
    amlfs_err err = {0};
    CHECK(util_write_file_atomic(path, text, strlen(text), 0644, &err) == 0, "write %s: %s", path, err.msg);
}

/* ---- job properties ---- */

static void test_job_properties(void)
{
    static const struct {
        const char *yaml;
        int rc;
        unsigned long long mb, files;
        const char *msg;
    } cases[] = {
        {"command: x\nenvironment: e\n", 0, 0, 0, NULL},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_mb: \"500\"\n", 0, 500, 0, NULL},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_files: 5000\n  team: cv\n", 0, 0, 5000, NULL},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_mb: lots\n", -EINVAL, 0, 0,
         "job.yaml line 4 column 26: property 'amlfs.snapshot_max_mb' must be a whole number of megabytes"},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_mb: 0\n", -EINVAL, 0, 0, "from 1 to"},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_mb: 99999999\n", -EINVAL, 0, 0, "from 1 to"},
        {"command: x\nenvironment: e\nproperties:\n  amlfs.snapshot_max_mbs: 1\n", -EINVAL, 0, 0,
         "unknown amlfs property 'amlfs.snapshot_max_mbs' (did you mean 'amlfs.snapshot_max_mb'?)"},
        {"command: x\nenvironment: e\nproperties: [a]\n", -EINVAL, 0, 0, "properties"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job_spec job;
        amlfs_err err = {0};
        int rc = spec_parse_job(cases[i].yaml, strlen(cases[i].yaml), "job.yaml", &job, &err);
        CHECK(rc == cases[i].rc, "case %zu: rc %d (%s)", i, rc, err.msg);
        if (rc == 0) {
            CHECK(job.snapshot_max_mb == cases[i].mb && job.snapshot_max_files == cases[i].files,
                  "case %zu: limits %llu %llu", i, job.snapshot_max_mb, job.snapshot_max_files);
            spec_job_free(&job);
        } else if (cases[i].msg) {
            CHECK(strstr(err.msg, cases[i].msg) != NULL, "case %zu: message %s", i, err.msg);
        }
    }
}

/* ---- the runs table of a version-1 workspace gains its snapshot column ---- */

static void test_schema_upgrade(void)
{
    char *path = util_strdupf("%s/old.db", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK, "sqlite3_open");
    char *msg = NULL;
    int rc = sqlite3_exec(db,
        "CREATE TABLE experiments(name TEXT PRIMARY KEY, created INTEGER NOT NULL, status_line TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, experiment TEXT NOT "
        "NULL, display_name TEXT, status TEXT NOT NULL, compute TEXT NOT NULL, environment TEXT, "
        "environment_version INTEGER, job_yaml TEXT NOT NULL, spec_json TEXT NOT NULL, command TEXT NOT NULL, "
        "job_env TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, ended INTEGER, exit_code INTEGER, "
        "error TEXT, timeout_s INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO experiments VALUES('e', 1, '');"
        "INSERT INTO runs(id, experiment, status, compute, job_yaml, spec_json, command, job_env, created) "
        "VALUES('old', 'e', 'Completed', 'local', '', '{}', 'true', '[]', 1);"
        "PRAGMA user_version = 1;",
        NULL, NULL, &msg);
    CHECK(rc == SQLITE_OK, "making a version-1 file: %s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);

    store *s = NULL;
    amlfs_err err = {0};
    CHECK(store_open(path, &s, &err) == 0, "opening a version-1 file: %s", err.msg);
    store_run r;
    if (s) {
        CHECK(store_run_get(s, "old", &r, &err) == 0 && r.snapshot == NULL, "an old run has no snapshot: %s",
              err.msg);
        store_run_free(&r);
        store_run fresh = {.id = "new", .experiment = "e", .compute = "local", .created = 2,
                           .snapshot = "abc123"};
        CHECK(store_run_insert(s, &fresh, &err) == 0, "insert with a snapshot: %s", err.msg);
        CHECK(store_run_get(s, "new", &r, &err) == 0 && r.snapshot && strcmp(r.snapshot, "abc123") == 0,
              "the snapshot is kept");
        store_run_free(&r);
        store_run *list = NULL;
        size_t n = 0;
        CHECK(store_run_list(s, "e", &list, &n, &err) == 0 && n == 2 && !list[0].snapshot && list[1].snapshot,
              "light listings carry the snapshot");
        store_run_list_free(list, n);
        store_close(s);
    }
    /* Opening again does not upgrade twice. */
    s = NULL;
    CHECK(store_open(path, &s, &err) == 0, "reopening the upgraded file: %s", err.msg);
    store_close(s);
    free(path);
}

/* ---- counters ---- */

typedef struct adder {
    store *s;
    int failures;
} adder;

static void *add_many(void *p)
{
    adder *a = p;
    for (int i = 0; i < 200; i++) {
        amlfs_err err = {0};
        if (store_meta_add(a->s, "uploads_bytes", 3, NULL, &err) < 0)
            a->failures++;
    }
    return NULL;
}

static void test_counters(server *srv)
{
    int64_t bytes = -1, blobs = -1, requests = -1;
    amlfs_err err = {0};
    CHECK(server_uploads_get(srv, &bytes, &blobs, &requests, &err) == 0 && bytes == 0 && blobs == 0 &&
              requests == 0,
          "fresh counters: %lld %lld %lld %s", (long long)bytes, (long long)blobs, (long long)requests, err.msg);
    server_uploads_count(srv, 1000, 2);
    server_uploads_count(srv, 24, 0);
    CHECK(server_uploads_get(srv, &bytes, &blobs, &requests, &err) == 0 && bytes == 1024 && blobs == 2 &&
              requests == 2,
          "after two uploads: %lld %lld %lld", (long long)bytes, (long long)blobs, (long long)requests);
    pthread_t t[4];
    adder a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (adder){.s = srv->store};
        pthread_create(&t[i], NULL, add_many, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(a[i].failures == 0, "adder %d failed %d times", i, a[i].failures);
    }
    CHECK(server_uploads_get(srv, &bytes, &blobs, &requests, &err) == 0 && bytes == 1024 + 4 * 200 * 3,
          "concurrent adds are all counted: %lld", (long long)bytes);
}

/* ---- folders, the blob store and the manifest cache ---- */

typedef struct getter {
    server *srv;
    const char *hash;
    int failures;
} getter;

static void *get_many(void *p)
{
    getter *g = p;
    for (int i = 0; i < 300; i++) {
        const snapshot_manifest *m = NULL;
        if (server_snapshot_get(g->srv, g->hash, &m, NULL) < 0 || strcmp(m->hash, g->hash) != 0)
            g->failures++;
        server_snapshot_release(g->srv, m);
    }
    return NULL;
}

static void test_folders(server *srv)
{
    char *code = util_strdupf("%s/code", dir);
    char *sub = util_strdupf("%s/code/src", dir);
    amlfs_err err = {0};
    CHECK(util_mkdir_p(sub, 0755, &err) == 0, "mkdir");
    char *p1 = util_strdupf("%s/main.py", code), *p2 = util_strdupf("%s/src/same.py", code);
    char *p3 = util_strdupf("%s/src/copy.py", code), *ig = util_strdupf("%s/.amlignore", code);
    char *p4 = util_strdupf("%s/notes.tmp", code);
    write_text(p1, "print('main')\n");
    write_text(p2, "shared content\n");
    write_text(p3, "shared content\n");
    write_text(p4, "scratch\n");
    write_text(ig, "*.tmp\n");
    chmod(p1, 0755);

    snapshot_limits limits = server_snapshot_limits(srv, NULL);
    CHECK(limits.max_bytes == 7 * MB && limits.max_files == 40, "workspace limits: %llu %llu",
          (unsigned long long)limits.max_bytes, (unsigned long long)limits.max_files);
    job_spec job = {.snapshot_max_files = 3};
    limits = server_snapshot_limits(srv, &job);
    CHECK(limits.max_bytes == 7 * MB && limits.max_files == 3, "a job's limit wins");
    snapshot_manifest m;
    CHECK(server_snapshot_folder(srv, code, &limits, &m, &err) == -EFBIG &&
              strstr(err.msg, "over the 3-file limit"),
          "over a job's limit: %s", err.msg);

    limits = server_snapshot_limits(srv, NULL);
    CHECK(server_snapshot_folder(srv, code, &limits, &m, &err) == 0, "snapshot: %s", err.msg);
    CHECK(m.file_count == 4 && !snapshot_manifest_find(&m, "notes.tmp"), "ignore rules applied: %llu files",
          (unsigned long long)m.file_count);
    const snapshot_entry *e = snapshot_manifest_find(&m, "main.py");
    CHECK(e && e->mode == 0755, "executable bit kept");
    char **missing = NULL;
    size_t n = 9;
    CHECK(snapshot_blobs_missing(srv->snapshot_dir, &m, &missing, &n, &err) == 0 && n == 0, "every content stored");
    snapshot_strings_free(missing, n);
    CHECK(strcmp(server_snapshot_ignore_file(&m), ".amlignore") == 0, "ignore file named");

    /* Shared contents are stored once. */
    const snapshot_entry *a = snapshot_manifest_find(&m, "src/same.py"), *b = snapshot_manifest_find(&m, "src/copy.py");
    CHECK(a && b && strcmp(a->sha256, b->sha256) == 0, "same content, same hash");

    /* The cache: one manifest shared by concurrent readers; a second read gives the same object. */
    const snapshot_manifest *c1 = NULL, *c2 = NULL;
    CHECK(server_snapshot_get(srv, m.hash, &c1, &err) == 0 && server_snapshot_get(srv, m.hash, &c2, &err) == 0 &&
              c1 == c2 && c1->count == m.count,
          "cached manifest: %s", err.msg);
    server_snapshot_release(srv, c1);
    server_snapshot_release(srv, c2);
    getter g[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        g[i] = (getter){.srv = srv, .hash = m.hash};
        pthread_create(&t[i], NULL, get_many, &g[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(g[i].failures == 0, "getter %d failed %d times", i, g[i].failures);
    }

    /* More manifests held at once than the cache has slots: the extra ones are the caller's own. */
    enum { HELD = 12 };
    const snapshot_manifest *held[HELD] = {0};
    char hashes[HELD][SNAPSHOT_SHA_HEX];
    for (int i = 0; i < HELD; i++) {
        char text[32];
        snprintf(text, sizeof text, "version %d\n", i);
        write_text(p4, text); /* ignored: the snapshot does not change with it */
        write_text(p2, text);
        snapshot_manifest mi;
        CHECK(server_snapshot_folder(srv, code, &limits, &mi, &err) == 0, "snapshot %d: %s", i, err.msg);
        snprintf(hashes[i], sizeof hashes[i], "%s", mi.hash);
        snapshot_manifest_free(&mi);
        CHECK(server_snapshot_get(srv, hashes[i], &held[i], &err) == 0 && strcmp(held[i]->hash, hashes[i]) == 0,
              "held %d: %s", i, err.msg);
    }
    for (int i = 0; i < HELD; i++)
        server_snapshot_release(srv, held[i]);
    const snapshot_manifest *again = NULL;
    CHECK(server_snapshot_get(srv, hashes[0], &again, &err) == 0 && strcmp(again->hash, hashes[0]) == 0,
          "an evicted manifest is read again: %s", err.msg);
    server_snapshot_release(srv, again);
    CHECK(server_snapshot_get(srv, "0000000000000000000000000000000000000000000000000000000000000000", &again,
                              &err) == -ENOENT,
          "unknown snapshot: %s", err.msg);
    CHECK(server_snapshot_get(srv, "../../etc/passwd", &again, &err) == -EINVAL, "a path is not a hash");

    snapshot_manifest_free(&m);
    free(code);
    free(sub);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    free(ig);
}

static server *open_server(const char *data, uint64_t mb, uint64_t files)
{
    server_config cfg = {.data_dir = data, .max_instances = 1, .snapshot_max_mb = mb, .snapshot_max_files = files};
    server *srv = NULL;
    amlfs_err err = {0};
    CHECK(server_open(&cfg, &srv, &err) == 0, "server_open: %s", err.msg);
    return srv;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/amlfs-test-snapserver.XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL mkdtemp\n0 passed, 1 failed\n");
        return 1;
    }
    test_job_properties();
    test_schema_upgrade();

    char *data = util_strdupf("%s/data", dir);
    server *srv = open_server(data, 0, 0);
    if (srv) {
        CHECK(srv->snapshot_max_mb == 300 && srv->snapshot_max_files == 2000, "defaults: %llu %llu",
              (unsigned long long)srv->snapshot_max_mb, (unsigned long long)srv->snapshot_max_files);
        server_close(srv);
    }
    srv = open_server(data, 7, 40);
    if (srv)
        server_close(srv);
    srv = open_server(data, 0, 0); /* the limits given last time are kept */
    if (srv) {
        CHECK(srv->snapshot_max_mb == 7 && srv->snapshot_max_files == 40, "kept limits: %llu %llu",
              (unsigned long long)srv->snapshot_max_mb, (unsigned long long)srv->snapshot_max_files);
        test_counters(srv);
        test_folders(srv);
        server_close(srv);
    }
    free(data);
    amlfs_err err = {0};
    if (util_rm_rf(dir, &err) < 0)
        printf("cleanup: %s\n", err.msg);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
