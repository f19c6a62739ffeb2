/* test_store.c: the server's store without a server: SQLite objects and their rules (EEXIST, EBUSY,
 * ENOTEMPTY, version numbering, run order), the change feed's numbers across a reopen, and the
 * folder-of-files module's atomic writes and symlink containment. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "amlfs/server.h"
#include "amlfs/store.h"
#include "amlfs/util.h"

#include "check.h"

static char dir[64];

static store *open_store(void)
{
    char *path = util_strdupf("%s/workspace.db", dir);
    store *s = NULL;
    amlfs_err err = {0};
    int rc = store_open(path, &s, &err);
    CHECK(rc == 0, "store_open: %s", err.msg);
    free(path);
    return s;
}

static void add_run(store *s, const char *id, const char *exp, const char *env, int64_t created)
{
    store_run r = {.id = (char *)id, .experiment = (char *)exp, .compute = "local", .environment = (char *)env,
                   .environment_version = env ? 1 : 0, .created = created, .status = RUN_NOT_STARTED};
    amlfs_err err = {0};
    CHECK(store_run_insert(s, &r, &err) == 0 && r.seq > 0, "insert run %s: %s", id, err.msg);
}

static void test_objects(void)
{
    store *s = open_store();
    if (!s)
        return;
    amlfs_err err = {0};
    CHECK(store_experiment_create(s, "e1", 1000, &err) == 0, "create e1");
    CHECK(store_experiment_create(s, "e1", 1000, &err) == -EEXIST, "duplicate experiment: %s", err.msg);
    CHECK(store_env_create(s, "py", 1000, &err) == 0, "create env");
    int v = 0;
    char *label = NULL;
    CHECK(store_env_version_add(s, "py", NULL, "name: py\n", "{}", "Ready", NULL, 1000, &v, &label, &err) == 0 &&
              v == 1 && strcmp(label, "1") == 0,
          "first version is 1: %d", v);
    free(label);
    CHECK(store_env_version_add(s, "py", "5", "version: 5\n", "{}", "Ready", NULL, 1000, &v, NULL, &err) == 0 &&
              v == 2,
          "explicit version 5 is the second registered: %d", v);
    CHECK(store_env_version_add(s, "py", "5", "version: 5\n", "{}", "Ready", NULL, 1000, &v, NULL, &err) == -EEXIST &&
              strstr(err.msg, "already has version 5 (latest: 5)") && strstr(err.msg, "register version 6"),
          "version 5 again: %s", err.msg);
    CHECK(store_env_version_add(s, "py", "22.02-py3", "x", "{}", "Ready", NULL, 1000, &v, NULL, &err) == 0 && v == 3,
          "a named version: %d %s", v, err.msg);
    CHECK(store_env_version_add(s, "py", NULL, "x", "{}", "Ready", NULL, 1000, &v, &label, &err) == 0 && v == 4 &&
              strcmp(label, "6") == 0,
          "next after 5 is 6, names do not count: %d %s", v, label);
    free(label);
    CHECK(store_env_version_add(s, "nope", NULL, "x", "{}", "Ready", NULL, 1000, &v, NULL, &err) == -ENOENT,
          "version of a missing environment");
    CHECK(store_env_version_find(s, "py", "22.02-py3", &v, &err) == 0 && v == 3, "find by name: %d", v);
    CHECK(store_env_version_find(s, "py", "7", &v, &err) == -ENOENT && strstr(err.msg, "has no version '7'"),
          "find a missing one: %s", err.msg);
    store_env e;
    CHECK(store_env_get(s, "py", &e, &err) == 0 && e.nversions == 4 && e.versions[3] == 4 &&
              strcmp(e.labels[0], "1") == 0 && strcmp(e.labels[1], "5") == 0 &&
              strcmp(e.labels[2], "22.02-py3") == 0 && strcmp(e.labels[3], "6") == 0 &&
              strcmp(e.latest_status, "Ready") == 0,
          "environment versions in registration order with their labels");
    store_env_free(&e);
    store_env_version ver;
    CHECK(store_env_version_get(s, "py", 3, &ver, &err) == 0 && strcmp(ver.label, "22.02-py3") == 0,
          "a version's label");
    store_env_version_free(&ver);

    add_run(s, "r1", "e1", "py", 1);
    add_run(s, "r2", "e1", "py", 2);
    add_run(s, "r3", "e1", NULL, 3);
    store_run dup = {.id = "r1", .experiment = "e1", .compute = "local", .created = 4};
    CHECK(store_run_insert(s, &dup, &err) == -EEXIST, "duplicate run id");
    store_run orphan = {.id = "r9", .experiment = "gone", .compute = "local", .created = 4};
    CHECK(store_run_insert(s, &orphan, &err) == -ENOENT, "run of a missing experiment");
    store_run_change started = {.started = 5000};
    CHECK(store_run_set_status(s, "r2", RUN_RUNNING, &started, &err) == 0, "set status");
    store_run_change ended = {.ended = 6000, .set_exit_code = true, .exit_code = 3, .error = "boom"};
    CHECK(store_run_set_status(s, "r1", RUN_FAILED, &ended, &err) == 0, "set ended");
    store_run r;
    CHECK(store_run_get(s, "r1", &r, &err) == 0 && r.status == RUN_FAILED && r.has_exit_code && r.exit_code == 3 &&
              strcmp(r.error, "boom") == 0 && r.ended == 6000 && r.started == 0,
          "run fields");
    store_run_free(&r);
    CHECK(store_run_get(s, "r3", &r, &err) == 0 && !r.has_exit_code && !r.environment, "fresh run fields");
    store_run_free(&r);
    store_run *list;
    size_t n;
    CHECK(store_run_list(s, "e1", &list, &n, &err) == 0 && n == 3 && strcmp(list[0].id, "r1") == 0 &&
              strcmp(list[2].id, "r3") == 0,
          "runs in submission order");
    store_run_list_free(list, n);
    unsigned live = (1u << RUN_NOT_STARTED) | (1u << RUN_RUNNING);
    CHECK(store_run_list_by_status(s, live, "local", STORE_ANY, 1, &list, &n, &err) == 0 && n == 1 &&
              strcmp(list[0].id, "r2") == 0,
          "by status with a limit, in order");
    store_run_list_free(list, n);
    CHECK(store_run_count_by_status(s, live, NULL, STORE_ANY) == 2, "count live");
    CHECK(store_run_count_by_status(s, live, "other", STORE_ANY) == 0, "count on another compute");
    /* A compute's handle is kept with the run; listings tell handed-over runs from waiting ones. */
    store_run_change handed = {.handle = "4242"};
    CHECK(store_run_set_status(s, "r3", RUN_QUEUED, &handed, &err) == 0, "set a handle");
    store_run_change later = {.error = "x"};
    CHECK(store_run_set_status(s, "r3", RUN_QUEUED, &later, &err) == 0, "a change without a handle");
    CHECK(store_run_get(s, "r3", &r, &err) == 0 && r.handle && strcmp(r.handle, "4242") == 0, "handle kept");
    store_run_free(&r);
    unsigned waiting = (1u << RUN_QUEUED) | (1u << RUN_RUNNING);
    CHECK(store_run_count_by_status(s, waiting, NULL, STORE_SUBMITTED) == 1, "submitted count");
    CHECK(store_run_count_by_status(s, waiting, NULL, STORE_UNSUBMITTED) == 1, "unsubmitted count (r2)");
    CHECK(store_run_list_by_status(s, waiting, NULL, STORE_SUBMITTED, 0, &list, &n, &err) == 0 && n == 1 &&
              strcmp(list[0].id, "r3") == 0 && strcmp(list[0].handle, "4242") == 0,
          "submitted listing carries the handle");
    store_run_list_free(list, n);

    CHECK(store_env_delete(s, "py", &err) == -EBUSY && strstr(err.msg, "r2"), "env in use: %s", err.msg);
    CHECK(store_run_set_status(s, "r2", RUN_COMPLETED, NULL, &err) == 0, "end r2");
    CHECK(store_env_delete(s, "py", &err) == 0, "env no longer in use: %s", err.msg);
    CHECK(store_env_get(s, "py", &e, &err) == -ENOENT, "env gone");
    CHECK(store_experiment_delete(s, "e1", &err) == -ENOTEMPTY, "experiment with runs: %s", err.msg);
    store_experiment x;
    CHECK(store_experiment_get(s, "e1", &x, &err) == 0 && x.run_count == 3 && strcmp(x.latest_run, "r3") == 0,
          "experiment listing fields");
    store_experiment_free(&x);

    char *line = NULL;
    CHECK(store_folder_status_get(s, "experiments", &line, &err) == 0 && line[0] == '\0', "empty folder status");
    free(line);
    store_close(s);
}

/* A database file and its WAL companions. */
static void remove_db(const char *path)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char *p = util_strdupf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
}

static void test_computes(void)
{
    char path[] = "/tmp/amlfs-test-computes-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    store *s = NULL;
    amlfs_err err = {0};
    CHECK(store_open(path, &s, &err) == 0, "open: %s", err.msg);
    if (!s)
        return;
    CHECK(store_compute_create(s, "c1", &err) == 0, "create a draft: %s", err.msg);
    CHECK(store_compute_create(s, "c1", &err) == -EEXIST, "twice: %s", err.msg);
    store_compute c;
    CHECK(store_compute_get(s, "c1", &c, &err) == 0 && strcmp(c.state, "Draft") == 0 && c.yaml[0] == '\0',
          "a draft has no yaml");
    store_compute_free(&c);
    store_compute broken = {.name = "c1", .type = "slurm", .yaml = "type: slurm\n", .max_instances = 2,
                            .state = "Failed", .reason = "no answer"};
    CHECK(store_compute_put(s, &broken, &err) == 0, "put: %s", err.msg);
    CHECK(store_compute_get(s, "c1", &c, &err) == 0 && strcmp(c.state, "Failed") == 0 &&
              strcmp(c.reason, "no answer") == 0 && c.max_instances == 2,
          "state and reason kept");
    store_compute_free(&c);
    CHECK(store_compute_delete(s, "c1", &err) == 0, "delete: %s", err.msg);
    CHECK(store_compute_delete(s, "c1", &err) == -ENOENT, "delete twice");
    store_close(s);
    remove_db(path);
}

/* A workspace file as an older server left it: path (a mkstemp template) made from sql. */
static void make_old_db(char *path, const char *what, const char *sql)
{
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK, "sqlite3_open");
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    CHECK(rc == SQLITE_OK, "making a %s file: %s", what, msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* A version-2 file (runs without handles, computes without a state) opens with both added; its local
 * compute counts as Succeeded and its runs as never handed over. */
static void test_upgrade_from_version_2(void)
{
    char path[] = "/tmp/amlfs-test-v2-XXXXXX";
    make_old_db(path, "version-2",
        "CREATE TABLE computes(name TEXT PRIMARY KEY, type TEXT NOT NULL, yaml TEXT NOT NULL, max_instances "
        "INTEGER NOT NULL);"
        "INSERT INTO computes VALUES('local', 'local', 'type: local', 2);"
        "CREATE TABLE experiments(name TEXT PRIMARY KEY, created INTEGER NOT NULL, status_line TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, experiment TEXT NOT "
        "NULL, display_name TEXT, status TEXT NOT NULL, compute TEXT NOT NULL, environment TEXT, "
        "environment_version INTEGER, job_yaml TEXT NOT NULL, spec_json TEXT NOT NULL, command TEXT NOT NULL, "
        "job_env TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, ended INTEGER, exit_code INTEGER, "
        "error TEXT, timeout_s INTEGER NOT NULL DEFAULT 0, snapshot TEXT);"
        "INSERT INTO experiments VALUES('e', 1, '');"
        "INSERT INTO runs(id, experiment, status, compute, job_yaml, spec_json, command, job_env, created) "
        "VALUES('old', 'e', 'Running', 'local', '', '{}', 'true', '[]', 1);"
        "PRAGMA user_version = 2;");
    store *s = NULL;
    amlfs_err err = {0};
    CHECK(store_open(path, &s, &err) == 0, "opening a version-2 file: %s", err.msg);
    if (s) {
        store_compute c;
        CHECK(store_compute_get(s, "local", &c, &err) == 0 && strcmp(c.state, "Succeeded") == 0 && !c.reason,
              "an old compute is Succeeded: %s", err.msg);
        store_compute_free(&c);
        store_run r;
        CHECK(store_run_get(s, "old", &r, &err) == 0 && r.handle == NULL, "an old run has no handle");
        store_run_free(&r);
        store_close(s);
    }
    remove_db(path);
}

/* A version-3 file (environment versions and runs without labels) opens with each version labelled by
 * its number, and labels unique per environment from then on. */
static void test_upgrade_from_version_3(void)
{
    char path[] = "/tmp/amlfs-test-v3-XXXXXX";
    make_old_db(path, "version-3",
        "CREATE TABLE environments(name TEXT PRIMARY KEY, created INTEGER NOT NULL, updated INTEGER NOT NULL, "
        "rejected TEXT);"
        "CREATE TABLE env_versions(name TEXT NOT NULL, version INTEGER NOT NULL, yaml TEXT NOT NULL, spec_json "
        "TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, created INTEGER NOT NULL, PRIMARY KEY(name, version));"
        "INSERT INTO environments VALUES('py', 1, 1, NULL);"
        "INSERT INTO env_versions VALUES('py', 1, 'x', '{}', 'Ready', NULL, 1);"
        "INSERT INTO env_versions VALUES('py', 4, 'version: 4', '{}', 'Ready', NULL, 2);"
        "CREATE TABLE experiments(name TEXT PRIMARY KEY, created INTEGER NOT NULL, status_line TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, experiment TEXT NOT "
        "NULL, display_name TEXT, status TEXT NOT NULL, compute TEXT NOT NULL, environment TEXT, "
        "environment_version INTEGER, job_yaml TEXT NOT NULL, spec_json TEXT NOT NULL, command TEXT NOT NULL, "
        "job_env TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, ended INTEGER, exit_code INTEGER, "
        "error TEXT, timeout_s INTEGER NOT NULL DEFAULT 0, snapshot TEXT, handle TEXT);"
        "INSERT INTO experiments VALUES('e', 1, '');"
        "INSERT INTO runs(id, experiment, status, compute, environment, environment_version, job_yaml, spec_json, "
        "command, job_env, created) VALUES('old', 'e', 'Completed', 'local', 'py', 4, '', '{}', 'true', '[]', 1);"
        "PRAGMA user_version = 3;");
    store *s = NULL;
    amlfs_err err = {0};
    CHECK(store_open(path, &s, &err) == 0, "opening a version-3 file: %s", err.msg);
    if (s) {
        store_env e;
        CHECK(store_env_get(s, "py", &e, &err) == 0 && e.nversions == 2 && strcmp(e.labels[0], "1") == 0 &&
                  strcmp(e.labels[1], "4") == 0,
              "old versions are labelled by their numbers: %s", err.msg);
        store_env_free(&e);
        int v = 0;
        char *label = NULL;
        CHECK(store_env_version_add(s, "py", NULL, "x", "{}", "Ready", NULL, 3, &v, &label, &err) == 0 && v == 5 &&
                  strcmp(label, "5") == 0,
              "the next is 5: %d %s", v, err.msg);
        free(label);
        CHECK(store_env_version_add(s, "py", "4", "x", "{}", "Ready", NULL, 3, &v, NULL, &err) == -EEXIST,
              "an old number is taken: %s", err.msg);
        store_run r;
        CHECK(store_run_get(s, "old", &r, &err) == 0 && r.environment_version == 4 && !r.environment_label,
              "an old run keeps its version number");
        store_run_free(&r);
        store_close(s);
    }
    remove_db(path);
}

static void test_event_numbers(void)
{
    store *s = open_store();
    if (!s)
        return;
    events *ev;
    amlfs_err err = {0};
    CHECK(events_open(s, &ev, &err) == 0, "events_open: %s", err.msg);
    uint64_t first = events_emit(ev, "experiments/a", "created", -1);
    for (int i = 0; i < 10; i++)
        events_emit(ev, "runs/x/log", "grew", i * 10);
    uint64_t last = events_last_seq(ev);
    CHECK(last == first + 10, "numbers are consecutive in one process");
    cJSON *a = events_wait_json(ev, first, 0);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(a, "events")) == 10 &&
              cJSON_GetObjectItem(a, "seq")->valuedouble == (double)last,
          "answer from first");
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "events"), 0);
    CHECK(cJSON_GetObjectItem(e0, "size") && cJSON_GetObjectItem(e0, "size")->valuedouble == 0, "grew carries size");
    cJSON_Delete(a);
    events_close(ev);
    store_close(s);

    /* A new process (reopened store) starts above anything the previous one gave. */
    s = open_store();
    CHECK(events_open(s, &ev, &err) == 0, "events_open again: %s", err.msg);
    uint64_t next = events_emit(ev, "experiments/b", "created", -1);
    CHECK(next > last, "numbers grow across a reopen: %llu after %llu", (unsigned long long)next,
          (unsigned long long)last);
    a = events_wait_json(ev, last, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "reset")), "events of the previous process are gone: reset");
    cJSON_Delete(a);
    /* Overrunning the ring also resets clients that fell behind. */
    for (int i = 0; i < EVENTS_RING + 10; i++)
        events_emit(ev, "runs/x/log", "grew", i);
    a = events_wait_json(ev, next, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "reset")), "behind the ring: reset");
    cJSON_Delete(a);
    a = events_wait_json(ev, events_last_seq(ev) - 5, 0);
    CHECK(!cJSON_IsTrue(cJSON_GetObjectItem(a, "reset")) && cJSON_GetArraySize(cJSON_GetObjectItem(a, "events")) == 5,
          "recent events still answered");
    cJSON_Delete(a);
    events_close(ev);
    store_close(s);
}

static void test_folder(void)
{
    char *root = util_strdupf("%s/files", dir);
    amlfs_err err = {0};
    CHECK(util_mkdir_p(root, 0700, &err) == 0, "mkdir root");
    bool created = false;
    CHECK(folder_write(root, "a.txt", "hello", 5, 0640, &created, &err) == 0 && created, "write: %s", err.msg);
    CHECK(folder_write(root, "a.txt", "bye", 3, 0600, &created, &err) == 0 && !created, "replace");
    char *data;
    size_t len;
    CHECK(folder_read(root, "a.txt", 0, -1, &data, &len, &err) == 0 && len == 3 && memcmp(data, "bye", 3) == 0,
          "read back");
    free(data);
    CHECK(folder_read(root, "a.txt", 10, 5, &data, &len, &err) == 0 && len == 0, "read past the end");
    free(data);
    folder_entry e;
    CHECK(folder_stat(root, "a.txt", &e, &err) == 0 && e.mode == 0600 && e.size == 3 && e.type == 'f', "stat");
    folder_entry_free(&e);
    CHECK(folder_mkdir(root, "d", &err) == 0 && folder_mkdir(root, "d", &err) == -EEXIST, "mkdir twice");
    CHECK(folder_write(root, "d/x", "1", 1, 0644, &created, &err) == 0, "nested write");
    CHECK(folder_remove(root, "d", &err) == -ENOTEMPTY, "rmdir non-empty: %s", err.msg);
    CHECK(folder_rename(root, "d/x", "y", &err) == 0 && folder_remove(root, "d", &err) == 0, "rename out, rmdir");
    CHECK(folder_rename(root, "nope", "z", &err) == -ENOENT && strstr(err.msg, "nope"), "rename missing: %s", err.msg);
    CHECK(folder_write(root, "..", "x", 1, 0644, &created, &err) == -EINVAL, "'..' refused");
    CHECK(folder_write(root, "no/such", "x", 1, 0644, &created, &err) == -ENOENT, "missing parent");
    /* Symlinks inside the folder work; none leads out. */
    CHECK(folder_mkdir(root, "real", &err) == 0 && folder_symlink(root, "alias", "real", &err) == 0,
          "inner symlink");
    CHECK(folder_write(root, "alias/in.txt", "i", 1, 0644, &created, &err) == 0, "write through an inner symlink");
    CHECK(folder_symlink(root, "out", "/etc", &err) == 0, "outer symlink can exist");
    CHECK(folder_read(root, "out/passwd", 0, -1, &data, &len, &err) == -EACCES, "read through it refused: %s",
          err.msg);
    CHECK(folder_write(root, "out/x", "x", 1, 0644, &created, &err) == -EACCES, "write through it refused");
    char *abs = NULL;
    CHECK(folder_resolve_dir(root, "out", &abs, &err) < 0 && !abs, "snapshot through it refused");
    CHECK(folder_resolve_dir(root, "alias", &abs, &err) == 0 && strstr(abs, "/files/real"), "inner resolves");
    free(abs);
    /* An unfinished write's temp file is invisible. */
    char *tmp = util_strdupf("%s/.amlfs-tmp-0000", root);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0)
        close(fd);
    folder_entry *list;
    size_t n;
    CHECK(folder_list(root, "", &list, &n, &err) == 0 && n == 5 && strcmp(list[0].name, "a.txt") == 0,
          "listing: %zu entries", n);
    for (size_t i = 0; i < n; i++)
        CHECK(strncmp(list[i].name, ".amlfs-tmp-", 11) != 0, "temp file listed");
    folder_list_free(list, n);
    free(tmp);
    free(root);
}

/* True when any of the database's files holds needle (a grep -a of workspace.db*). */
static bool files_hold(const char *db_path, const char *needle)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *path = util_strdupf("%s%s", db_path, suffixes[i]);
        char *data = NULL;
        size_t len = 0;
        bool found = util_read_file(path, &data, &len, NULL) == 0 && memmem(data, len, needle, strlen(needle));
        free(data);
        free(path);
        if (found)
            return true;
    }
    return false;
}

/* Secrets at rest: a datastore key and a registry password stored in the clear by an older server are
 * sealed when the key is set, gone from the files, read back whole, and refused under another key. */
static void test_sealed_secrets(void)
{
    char *path = util_strdupf("%s/sealed.db", dir);
    store *s = NULL;
    amlfs_err err = {0};
    const char *secret = "AccountKey-5f3b9c0d1e2a";
    char *yaml = util_strdupf("type: azure_blob\ncredentials:\n  account_key: %s\n", secret);
    CHECK(store_open(path, &s, &err) == 0, "open: %s", err.msg);
    CHECK(store_datastore_put(s, "team", yaml, 1, &err) == 0, "put in the clear: %s", err.msg);
    CHECK(store_env_create(s, "env", 1, &err) == 0, "env: %s", err.msg);
    int version = 0;
    CHECK(store_env_version_add(s, "env", NULL, "image_registry: {password: P4ss-w0rd-42}", "{\"password\": \"P4ss-w0rd-42\"}",
                                "Ready", NULL, 1, &version, NULL, &err) == 0, "version: %s", err.msg);
    store_close(s);
    CHECK(files_hold(path, secret), "the test's premise: an older server kept the key in the clear");
    unsigned char key[STORE_SECRET_KEY_LEN];
    memset(key, 7, sizeof key);
    CHECK(store_open(path, &s, &err) == 0 && store_set_secret_key(s, key, &err) == 0, "seal: %s", err.msg);
    char *back = NULL;
    CHECK(store_datastore_get(s, "team", &back, &err) == 0 && back && strcmp(back, yaml) == 0, "read back: %s",
          back ? back : err.msg);
    free(back);
    store_env_version v;
    CHECK(store_env_version_get(s, "env", 1, &v, &err) == 0 && strstr(v.yaml, "P4ss-w0rd-42") &&
              strstr(v.spec_json, "P4ss-w0rd-42"), "version back: %s", err.msg);
    store_env_version_free(&v);
    CHECK(store_datastore_put(s, "other", yaml, 2, &err) == 0, "put sealed: %s", err.msg);
    store_close(s);
    CHECK(!files_hold(path, secret) && !files_hold(path, "P4ss-w0rd-42"), "a secret is still in the files");
    memset(key, 8, sizeof key);
    CHECK(store_open(path, &s, &err) == 0 && store_set_secret_key(s, key, &err) == 0, "open with another key");
    back = NULL;
    CHECK(store_datastore_get(s, "other", &back, &err) == -EACCES && !back && strstr(err.msg, "secret.key"),
          "another key: %s", err.msg);
    store_close(s);
    free(yaml);
    free(path);
}

/* A version-4 file (no metrics) opens with the metrics tables made; a run from then, whose id holds a '.'
 * (experiment names may), keeps it and takes metrics, parameters and tags like any other. */
static void test_upgrade_from_version_4(void)
{
    char path[] = "/tmp/amlfs-test-v4-XXXXXX";
    make_old_db(path, "version-4",
        "CREATE TABLE experiments(name TEXT PRIMARY KEY, created INTEGER NOT NULL, status_line TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE runs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, experiment TEXT NOT "
        "NULL, display_name TEXT, status TEXT NOT NULL, compute TEXT NOT NULL, environment TEXT, "
        "environment_version INTEGER, job_yaml TEXT NOT NULL, spec_json TEXT NOT NULL, command TEXT NOT NULL, "
        "job_env TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, ended INTEGER, exit_code INTEGER, "
        "error TEXT, timeout_s INTEGER NOT NULL DEFAULT 0, snapshot TEXT, handle TEXT, environment_label TEXT);"
        "INSERT INTO experiments VALUES('e.v1', 1, '');"
        "INSERT INTO runs(id, experiment, status, compute, job_yaml, spec_json, command, job_env, created) "
        "VALUES('e.v1_1_abcd', 'e.v1', 'Completed', 'local', '', '{}', 'true', '[]', 1);"
        "PRAGMA user_version = 4;");
    store *s = NULL;
    amlfs_err err = {0};
    CHECK(store_open(path, &s, &err) == 0, "opening a version-4 file: %s", err.msg);
    if (s) {
        store_metric_in m = {.name = "loss", .value = 1, .timestamp = 5};
        store_kv p = {"lr", "0.1"};
        CHECK(store_run_data_add(s, "e.v1_1_abcd", &m, 1, &p, 1, NULL, 0, NULL, NULL, NULL, &err) == 0,
              "metrics of an old run: %s", err.msg);
        store_run_last *last;
        size_t n;
        CHECK(store_experiment_metric_last(s, "e.v1", &last, &n, &err) == 0 && n == 1 &&
                  strcmp(last[0].run, "e.v1_1_abcd") == 0 && last[0].value == 1,
              "the old run compares: %s", err.msg);
        store_run_last_free(last, n);
        store_close(s);
    }
    remove_db(path);
}

/* MLflow's nested runs and dataset inputs: a parent's children in the order made (a link stored for a run
 * that never came is no child), a run without parent, and datasets kept once per name and digest. */
static void test_run_links(void)
{
    store *s = open_store();
    if (!s)
        return;
    amlfs_err err = {0};
    CHECK(store_experiment_create(s, "nest", 1000, &err) == 0, "create nest");
    add_run(s, "nest_p", "nest", NULL, 1);
    CHECK(store_run_parent_set(s, "nest_c2", "nest_p", 1, &err) == 0, "link c2: %s", err.msg);
    CHECK(store_run_parent_set(s, "nest_ghost", "nest_p", 1, &err) == 0, "link a run never stored");
    add_run(s, "nest_c1", "nest", NULL, 2);
    add_run(s, "nest_c2", "nest", NULL, 3);
    CHECK(store_run_parent_set(s, "nest_c1", "nest_p", 1, &err) == 0, "link c1: %s", err.msg);
    char **ids = NULL;
    size_t n = 0;
    CHECK(store_run_children(s, "nest_p", &ids, &n, &err) == 0 && n == 2 && strcmp(ids[0], "nest_c1") == 0 &&
              strcmp(ids[1], "nest_c2") == 0, "children in run order: %zu %s", n, err.msg);
    store_strings_free(ids, n);
    char *parent = NULL;
    int depth = -1;
    CHECK(store_run_parent_get(s, "nest_c1", &parent, &depth, &err) == 0 && parent &&
              strcmp(parent, "nest_p") == 0 && depth == 1, "c1's parent");
    free(parent);
    CHECK(store_run_parent_get(s, "nest_p", &parent, &depth, &err) == 0 && !parent && depth == 0,
          "a run without parent");
    store_dataset_in d[] = {{"train", "abc", "{\"v\":1}"}, {"test", "abc", "{\"v\":2}"}};
    CHECK(store_run_datasets_add(s, "nest_p", d, 2, 2, &err) == 0, "datasets: %s", err.msg);
    store_dataset_in again = {"train", "abc", "{\"v\":3}"};
    CHECK(store_run_datasets_add(s, "nest_p", &again, 1, 2, &err) == 0, "the same dataset again: %s", err.msg);
    store_dataset_in third = {"val", "abc", "{}"};
    CHECK(store_run_datasets_add(s, "nest_p", &third, 1, 2, &err) == -EFBIG, "a third over a limit of 2");
    char **json = NULL;
    CHECK(store_run_datasets(s, "nest_p", &json, &n, &err) == 0 && n == 2 && strcmp(json[0], "{\"v\":3}") == 0 &&
              strcmp(json[1], "{\"v\":2}") == 0, "datasets kept once, in first order: %zu", n);
    store_strings_free(json, n);
    store_close(s);
}

/* MLflow 3's logged models: tags replace, a parameter never changes, a model's status and outputs. */
static void test_logged_models(void)
{
    store *s = open_store();
    if (!s)
        return;
    amlfs_err err = {0};
    store_logged_model m = {.id = "m-1", .experiment = "e1", .run = "r1", .name = "model", .status = "LOGGED_MODEL_PENDING",
                            .created = 5, .updated = 5};
    store_kv tags[] = {{"a", "1"}}, params[] = {{"lr", "0.1"}};
    CHECK(store_logged_model_create(s, &m, tags, 1, params, 1, &err) == 0, "create: %s", err.msg);
    CHECK(store_logged_model_create(s, &m, NULL, 0, NULL, 0, &err) == -EEXIST, "a taken id");
    store_kv again = {"lr", "0.2"}, same = {"lr", "0.1"}, tag2 = {"a", "2"};
    CHECK(store_logged_model_kv_add(s, "m-1", 'p', &again, 1, 6, &err) == -EINVAL, "a parameter changed");
    CHECK(store_logged_model_kv_add(s, "m-1", 'p', &same, 1, 6, &err) == 0, "the same parameter again");
    CHECK(store_logged_model_kv_add(s, "m-1", 't', &tag2, 1, 7, &err) == 0, "a tag replaced");
    CHECK(store_logged_model_kv_add(s, "m-2", 't', &tag2, 1, 7, &err) == -ENOENT, "a missing model");
    CHECK(store_logged_model_set_status(s, "m-1", "LOGGED_MODEL_READY", 8, &err) == 0, "finalize");
    store_logged_model got;
    CHECK(store_logged_model_get(s, "m-1", &got, &err) == 0 && got.ntags == 1 && strcmp(got.tags[0].value, "2") == 0 &&
              got.nparams == 1 && strcmp(got.status, "LOGGED_MODEL_READY") == 0 && got.updated == 8,
          "the model as changed: %s", err.msg);
    store_logged_model_free(&got);
    CHECK(store_logged_model_tag_delete(s, "m-1", "a", &err) == 0, "delete a tag");
    CHECK(store_logged_model_tag_delete(s, "m-1", "a", &err) == -ENOENT, "delete it again");
    CHECK(store_run_output_add(s, "r1", "m-1", 3, &err) == 0 && store_run_output_add(s, "r1", "m-1", 4, &err) == 0,
          "outputs");
    store_pair *outs;
    size_t n;
    CHECK(store_run_outputs(s, "r1", &outs, &n, &err) == 0 && n == 1 && strcmp(outs[0].value, "4") == 0, "one output");
    store_pairs_free(outs, n);
    store_logged_model *list;
    CHECK(store_logged_model_list(s, "e1", &list, &n, &err) == 0 && n == 1 && strcmp(list[0].id, "m-1") == 0, "list");
    store_logged_model_list_free(list, n);
    store_close(s);
}

/* A data version claimed by a run holds while the run goes on; a claim of a run never stored holds nothing. */
static void test_data_claims(void)
{
    store *s = open_store();
    if (!s)
        return;
    amlfs_err err = {0};
    CHECK(store_experiment_create(s, "claims", 1000, &err) == 0, "create claims");
    store_data_claim c[] = {{"model", 3}, {"model", 4}};
    CHECK(store_data_claims_add(s, "claims_ghost", c, 1, &err) == 0, "a claim of a run never stored: %s", err.msg);
    char *run = NULL;
    run_status status;
    CHECK(store_data_claim_holder(s, "model", 3, &run, &status, &err) == -ENOENT && !run, "held by no run");
    CHECK(store_data_claims_add(s, "claims_a", c, 2, &err) == 0, "claims: %s", err.msg);
    add_run(s, "claims_a", "claims", NULL, 1);
    CHECK(store_data_claim_holder(s, "model", 4, &run, &status, &err) == 0 && run && strcmp(run, "claims_a") == 0 &&
              status == RUN_NOT_STARTED, "held by a run not started");
    free(run);
    store_run_change chg = {0};
    CHECK(store_run_set_status(s, "claims_a", RUN_FAILED, &chg, &err) == 0, "end it: %s", err.msg);
    CHECK(store_data_claim_holder(s, "model", 4, &run, &status, &err) == -ENOENT, "a run that ended holds nothing");
    store_close(s);
}

int main(void)
{
    test_computes();
    test_upgrade_from_version_2();
    test_upgrade_from_version_3();
    test_upgrade_from_version_4();
    snprintf(dir, sizeof dir, "/tmp/amlfs-test-store.XXXXXX");
    if (!mkdtemp(dir)) {
        printf("FAIL mkdtemp\n0 passed, 1 failed\n");
        return 1;
    }
    test_objects();
    test_event_numbers();
    test_folder();
    test_sealed_secrets();
    test_run_links();
    test_logged_models();
    test_data_claims();
    amlfs_err err = {0};
    if (util_rm_rf(dir, &err) < 0)
        printf("cleanup: %s\n", err.msg);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
