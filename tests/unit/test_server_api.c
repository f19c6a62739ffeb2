/* test_server_api.c: the real amlfs-server (a child process on a temp data dir) spoken to over its
 * unix socket and TCP with libcurl: wire formats, files, environments, runs, queueing, cancel,
 * timeout, the change feed, kill -9 + restart mid-run, and bearer tokens. */
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "amlfs/util.h"

#include "check.h"

/* ---- the server child ---- */
static char server_exe[PATH_MAX + 32];
static char tmp_dir[PATH_MAX];
static char data_dir[PATH_MAX + 16];
static char socket_path[PATH_MAX + 32];
static int tcp_port;
static pid_t server_pid = -1;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- HTTP ---- */
typedef struct resp {
    long status;
    char *body;
    size_t len;
    long long log_size;
    cJSON *json;
} resp;

static void resp_free(resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    resp *r = ctx;
    char *grown = realloc(r->body, r->len + size * n + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    resp *r = ctx;
    if (size * n > 12 && strncasecmp(data, "X-Log-Size:", 11) == 0)
        r->log_size = atoll(data + 11);
    return size * n;
}

/* url: a path on the unix socket ("/v1/...") or a whole http:// URL over TCP. */
static int request(const char *method, const char *url, const char *body, size_t body_len,
                   const char *auth, resp *out)
{
    memset(out, 0, sizeof *out);
    out->log_size = -1;
    CURL *c = curl_easy_init();
    char full[4096];
    struct curl_slist *headers = NULL;
    if (url[0] == '/') {
        snprintf(full, sizeof full, "http://localhost%s", url);
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    } else {
        snprintf(full, sizeof full, "%s", url);
    }
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
        headers = curl_slist_append(headers, "Expect:");
    }
    if (auth)
        headers = curl_slist_append(headers, auth);
    if (headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (out->body)
        out->json = cJSON_Parse(out->body);
    return rc == CURLE_OK ? 0 : -1;
}

static int call(const char *method, const char *path, const char *body, resp *out)
{
    return request(method, path, body, body ? strlen(body) : 0, NULL, out);
}

/* A JSON body {"yaml": TEXT, ...extra "key", "value" pairs}. */
static char *yaml_body(const char *yaml, const char *k1, const char *v1)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "yaml", yaml);
    if (k1)
        cJSON_AddStringToObject(o, k1, v1);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *err_errno(const resp *r)
{
    return jstr(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "errno");
}

static const char *err_message(const resp *r)
{
    const char *m = jstr(cJSON_GetObjectItemCaseSensitive(r->json, "error"), "message");
    return m ? m : "";
}

/* ---- server process control ---- */
static bool server_answers(void)
{
    resp r;
    bool ok = request("GET", "/v1/workspace", NULL, 0, NULL, &r) == 0 && r.status == 200;
    resp_free(&r);
    return ok;
}

static int start_server(void)
{
    char log[PATH_MAX + 32], port[32];
    snprintf(log, sizeof log, "%s/server-out.log", tmp_dir);
    snprintf(port, sizeof port, "127.0.0.1:%d", tcp_port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);
        if (f)
            dup2(fileno(stdout), STDERR_FILENO);
        execl(server_exe, server_exe, "-f", "--data-dir", data_dir, "--listen", port, "--max-instances", "2",
              (char *)NULL);
        _exit(127);
    }
    server_pid = pid;
    for (int64_t deadline = now_ms() + 15000; now_ms() < deadline; pause_ms(20)) {
        if (server_answers())
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            server_pid = -1;
            return -1;
        }
    }
    return -1;
}

static void stop_server(int sig)
{
    if (server_pid <= 0)
        return;
    kill(server_pid, sig);
    for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; pause_ms(10))
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = -1;
            return;
        }
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    server_pid = -1;
}

/* The supervisors of runs still going, ended by their recorded pids (they outlive the server). */
static void stop_supervisors(void)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/runs", data_dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char pidfile[PATH_MAX + 400];
        snprintf(pidfile, sizeof pidfile, "%s/%s/supervisor.pid", path, de->d_name);
        FILE *f = fopen(pidfile, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        char exitfile[PATH_MAX + 400];
        snprintf(exitfile, sizeof exitfile, "%s/%s/exit.json", path, de->d_name);
        if (pid > 0 && access(exitfile, F_OK) != 0)
            kill(pid, SIGTERM);
    }
    closedir(d);
}

static void cleanup(void)
{
    stop_server(SIGTERM);
    stop_supervisors();
    amlfs_err err = {0};
    if (tmp_dir[0] && util_rm_rf(tmp_dir, &err) < 0)
        printf("cleanup: %s\n", err.msg);
}

static void on_signal(int sig)
{
    (void)sig;
    cleanup();
    _exit(1);
}

/* ---- helpers on the API ---- */
static void touch(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

/* Submits; returns the run id (malloc'd) or NULL, filling *out with the answer. */
static char *submit(const char *experiment, const char *yaml, resp *out)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/experiments/%s/runs", experiment);
    char *body = yaml_body(yaml, "filename", "job.yaml");
    call("POST", path, body, out);
    free(body);
    const char *id = out->status == 201 ? jstr(out->json, "id") : NULL;
    return id ? util_xstrdup(id) : NULL;
}

/* The run's status word, or "?" (into buf). */
static const char *run_status(const char *id, char *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/runs/%s", id);
    resp r;
    call("GET", path, NULL, &r);
    const char *s = jstr(r.json, "status");
    snprintf(buf, len, "%s", s ? s : "?");
    resp_free(&r);
    return buf;
}

static bool wait_status(const char *id, const char *want, int seconds)
{
    char buf[64];
    for (int64_t deadline = now_ms() + seconds * 1000; now_ms() < deadline; pause_ms(25))
        if (strcmp(run_status(id, buf, sizeof buf), want) == 0)
            return true;
    return false;
}

static char *run_log(const char *id, long long *size_header)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/runs/%s/log", id);
    resp r;
    call("GET", path, NULL, &r);
    char *text = util_xstrdup(r.body ? r.body : "");
    if (size_header)
        *size_header = r.log_size;
    resp_free(&r);
    return text;
}

static bool log_has(const char *id, const char *needle)
{
    char *log = run_log(id, NULL);
    bool has = strstr(log, needle) != NULL;
    free(log);
    return has;
}

static bool wait_log_has(const char *id, const char *needle, int seconds)
{
    for (int64_t deadline = now_ms() + seconds * 1000; now_ms() < deadline; pause_ms(25))
        if (log_has(id, needle))
            return true;
    return false;
}

static bool create(const char *kind, const char *name)
{
    char path[128], body[300];
    snprintf(path, sizeof path, "/v1/%s", kind);
    snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
    resp r;
    call("POST", path, body, &r);
    bool ok = r.status == 201;
    resp_free(&r);
    return ok;
}

/* ---- cases ---- */
static void test_workspace(void)
{
    resp r;
    call("GET", "/v1/workspace", NULL, &r);
    CHECK(r.status == 200, "GET /v1/workspace: %ld", r.status);
    CHECK(jstr(r.json, "api_version") && strcmp(jstr(r.json, "api_version"), "v1") == 0, "api_version: %s",
          r.body);
    static const char *const fields[] = {"name", "server_version", "data_dir", "address", "event_seq", "counts"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK(cJSON_GetObjectItemCaseSensitive(r.json, fields[i]), "workspace lacks %s: %s", fields[i], r.body);
    cJSON *counts = cJSON_GetObjectItemCaseSensitive(r.json, "counts");
    CHECK(jnum(counts, "computes", -1) == 1, "counts.computes (local always exists): %s", r.body);
    resp_free(&r);

    call("GET", "/v1/nothing", NULL, &r);
    CHECK(r.status == 404 && err_errno(&r) && strcmp(err_errno(&r), "ENOENT") == 0, "unknown path: %ld %s",
          r.status, r.body);
    resp_free(&r);
    call("DELETE", "/v1/workspace", NULL, &r);
    CHECK(r.status == 405 && err_errno(&r) && strcmp(err_errno(&r), "EINVAL") == 0, "wrong method: %ld %s",
          r.status, r.body);
    resp_free(&r);
}

static void test_experiments(void)
{
    resp r;
    call("POST", "/v1/experiments", "{\"name\": \"exp\"}", &r);
    CHECK(r.status == 201, "create: %ld %s", r.status, r.body);
    CHECK(jstr(r.json, "name") && strcmp(jstr(r.json, "name"), "exp") == 0 &&
              jnum(r.json, "run_count", -1) == 0 && cJSON_IsNull(cJSON_GetObjectItem(r.json, "latest_run")) &&
              jstr(r.json, "status_line") && jstr(r.json, "created"),
          "experiment object: %s", r.body);
    resp_free(&r);
    call("POST", "/v1/experiments", "{\"name\": \"exp\"}", &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EEXIST") == 0, "duplicate: %ld %s",
          r.status, r.body);
    resp_free(&r);
    call("POST", "/v1/experiments", "{\"name\": \"bad name\"}", &r);
    CHECK(r.status == 400 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EINVAL") == 0, "bad name: %ld %s",
          r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/experiments", NULL, &r);
    const char *line = jstr(r.json, "status_line");
    CHECK(line && strncmp(line, "Rejected: ", 10) == 0 && strstr(line, "bad name"),
          "folder status after a bad mkdir: %s", r.body);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "experiments")) == 1, "list: %s", r.body);
    resp_free(&r);
    call("GET", "/v1/experiments/nope", NULL, &r);
    CHECK(r.status == 404 && strcmp(err_errno(&r) ? err_errno(&r) : "", "ENOENT") == 0, "missing: %ld", r.status);
    resp_free(&r);
    call("POST", "/v1/experiments", "not json", &r);
    CHECK(r.status == 400, "a body that is not JSON: %ld", r.status);
    resp_free(&r);
    /* A NUL cut names short: "ab\u0000/../x" created "ab", DELETE .../exp%00x removed "exp". */
    call("POST", "/v1/experiments", "{\"name\": \"ab\\u0000/../x\"}", &r);
    CHECK(r.status == 400 && err_message(&r) && strstr(err_message(&r), "NUL character"), "\\u0000 in a name: %ld %s",
          r.status, r.body);
    resp_free(&r);
    call("POST", "/v1/experiments", "{\"name\": \"a\\\\u0000\"}", &r);
    CHECK(r.status == 400 && err_message(&r) && !strstr(err_message(&r), "NUL"), "an escaped backslash is not a NUL: %s",
          r.body);
    resp_free(&r);
    call("GET", "/v1/experiments/ab", NULL, &r);
    CHECK(r.status == 404, "ab was created: %ld", r.status);
    resp_free(&r);
    call("DELETE", "/v1/experiments/exp%00x", NULL, &r);
    CHECK(r.status == 404, "DELETE exp%%00x: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/experiments/exp", NULL, &r);
    CHECK(r.status == 200, "exp survives a %%00 URL: %ld", r.status);
    resp_free(&r);
}

static void test_files(void)
{
    resp r;
    const char *base = "/v1/experiments/exp/files";
    char path[512];
    snprintf(path, sizeof path, "%s/main.py?mode=0755", base);
    call("PUT", path, "print('hello')\n", &r);
    CHECK(r.status == 201 && jstr(r.json, "type") && strcmp(jstr(r.json, "type"), "file") == 0 &&
              jnum(r.json, "size", -1) == 15 && jnum(r.json, "mode", -1) == 0755,
          "PUT file: %ld %s", r.status, r.body);
    resp_free(&r);
    call("PUT", path, "print('hello!')\n", &r);
    CHECK(r.status == 200 && jnum(r.json, "size", -1) == 16, "replace: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/main.py?offset=6&length=7", base);
    call("GET", path, NULL, &r);
    CHECK(r.status == 200 && r.len == 7 && memcmp(r.body, "'hello!", 7) == 0, "range read: %ld '%s'", r.status,
          r.body ? r.body : "");
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src?type=dir", base);
    call("PUT", path, NULL, &r);
    CHECK(r.status == 201 && strcmp(jstr(r.json, "type") ? jstr(r.json, "type") : "", "dir") == 0, "mkdir: %ld %s",
          r.status, r.body);
    resp_free(&r);
    call("PUT", path, NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EEXIST") == 0, "mkdir twice: %ld", r.status);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/a.txt", base);
    call("PUT", path, "a\n", &r);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/a.txt?rename_to=src/b.txt", base);
    call("POST", path, NULL, &r);
    CHECK(r.status == 200 && strcmp(jstr(r.json, "name") ? jstr(r.json, "name") : "", "b.txt") == 0, "rename: %ld %s",
          r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/", base);
    call("GET", path, NULL, &r);
    cJSON *entries = cJSON_GetObjectItem(r.json, "entries");
    CHECK(cJSON_GetArraySize(entries) == 1 &&
              strcmp(jstr(cJSON_GetArrayItem(entries, 0), "name") ? jstr(cJSON_GetArrayItem(entries, 0), "name") : "",
                     "b.txt") == 0,
          "list src/: %s", r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/b.txt?stat=1", base);
    call("GET", path, NULL, &r);
    CHECK(r.status == 200 && jnum(r.json, "size", -1) == 2 && cJSON_GetObjectItem(r.json, "mtime_ms"),
          "stat: %s", r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src", base);
    call("DELETE", path, NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "ENOTEMPTY") == 0, "rmdir non-empty: %ld %s",
          r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/status", base);
    call("PUT", path, "x", &r);
    CHECK(r.status == 403 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EPERM") == 0, "reserved name: %ld %s",
          r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/../../x", base);
    call("PUT", path, "x", &r);
    CHECK(r.status == 400 || r.status == 404, "'..' refused: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/missing/x.txt", base);
    call("PUT", path, "x", &r);
    CHECK(r.status == 404 && strcmp(err_errno(&r) ? err_errno(&r) : "", "ENOENT") == 0, "missing parent: %ld",
          r.status);
    resp_free(&r);
    /* A symlink may point anywhere, but the server never follows one out of the folder. */
    snprintf(path, sizeof path, "%s/out?type=symlink&target=/etc", base);
    call("PUT", path, NULL, &r);
    CHECK(r.status == 201 && strcmp(jstr(r.json, "target") ? jstr(r.json, "target") : "", "/etc") == 0,
          "symlink: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/out/passwd", base);
    call("GET", path, NULL, &r);
    CHECK(r.status == 403 && (!r.body || !strstr(r.body, "root:")), "read through an escaping symlink: %ld",
          r.status);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/out/evil.txt", base);
    call("PUT", path, "x", &r);
    CHECK(r.status == 403, "write through an escaping symlink: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/out", base);
    call("DELETE", path, NULL, &r);
    CHECK(r.status == 204, "delete symlink: %ld", r.status);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src/b.txt", base);
    call("DELETE", path, NULL, &r);
    resp_free(&r);
    snprintf(path, sizeof path, "%s/src", base);
    call("DELETE", path, NULL, &r);
    CHECK(r.status == 204, "rmdir: %ld", r.status);
    resp_free(&r);
}

static void test_environments(void)
{
    resp r;
    CHECK(create("environments", "host"), "create environment");
    char *body = yaml_body("name: host\ndescription: the host tools\n", "filename", "environment.yaml");
    call("POST", "/v1/environments/host/versions", body, &r);
    free(body);
    cJSON *env = cJSON_GetObjectItem(r.json, "environment");
    CHECK(r.status == 201 && jnum(r.json, "version", -1) == 1 && strcmp(jstr(env, "status") ? jstr(env, "status") : "",
                                                                       "Ready") == 0,
          "user-managed version is Ready at once: %ld %s", r.status, r.body);
    resp_free(&r);
    body = yaml_body("name: other\n", "filename", "environment.yaml");
    call("POST", "/v1/environments/host/versions", body, &r);
    free(body);
    CHECK(r.status == 400 && strstr(err_message(&r), "differs from the folder"), "name mismatch: %ld %s", r.status,
          r.body);
    resp_free(&r);
    call("GET", "/v1/environments/host", NULL, &r);
    CHECK(strncmp(jstr(r.json, "status_line") ? jstr(r.json, "status_line") : "", "Rejected: environment.yaml", 26) == 0,
          "rejection in status_line: %s", r.body);
    resp_free(&r);
    body = yaml_body("version: 1\n", NULL, NULL);
    call("POST", "/v1/environments/host/versions", body, &r);
    free(body);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EEXIST") == 0, "existing version: %ld %s",
          r.status, r.body);
    resp_free(&r);
    /* A version may be a name: a string where whole numbers stay numbers, listed in registration order. */
    CHECK(create("environments", "ngc"), "create environment");
    body = yaml_body("description: first\n", NULL, NULL);
    call("POST", "/v1/environments/ngc/versions", body, &r);
    free(body);
    resp_free(&r);
    body = yaml_body("version: 22.02-py3\n", NULL, NULL);
    call("POST", "/v1/environments/ngc/versions", body, &r);
    free(body);
    CHECK(r.status == 201 && jstr(r.json, "version") && strcmp(jstr(r.json, "version"), "22.02-py3") == 0,
          "a named version: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/environments/ngc", NULL, &r);
    CHECK(r.body && strstr(r.body, "\"versions\":[1,\"22.02-py3\"]") && strstr(r.body, "\"latest_version\":\"22.02-py3\""),
          "versions with a name: %s", r.body);
    resp_free(&r);
    call("GET", "/v1/environments/ngc/versions/22.02-py3", NULL, &r);
    CHECK(r.status == 200 && jstr(r.json, "yaml") && strcmp(jstr(r.json, "yaml"), "version: 22.02-py3\n") == 0,
          "a named version read back: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/environments/ngc/versions/2", NULL, &r);
    CHECK(r.status == 404, "its registration number is not its name: %ld %s", r.status, r.body);
    resp_free(&r);
    call("DELETE", "/v1/environments/ngc", NULL, &r);
    CHECK(r.status == 204, "delete ngc: %ld", r.status);
    resp_free(&r);

    CHECK(create("environments", "img"), "create image environment");
    body = yaml_body("image: python:3.11\nimage_registry:\n  address: r.example.com\n  username: u\n"
                     "  password: hunter2\n",
                     NULL, NULL);
    call("POST", "/v1/environments/img/versions", body, &r);
    free(body);
    env = cJSON_GetObjectItem(r.json, "environment");
    /* Set up by podman (offline here: it ends Failed, or Failed at once without podman). */
    const char *img_status = jstr(env, "status") ? jstr(env, "status") : "";
    CHECK(r.status == 201 && (strcmp(img_status, "Building") == 0 || strcmp(img_status, "Failed") == 0),
          "image environment: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/environments/img/versions/1", NULL, &r);
    CHECK(r.status == 200 && r.body && !strstr(r.body, "hunter2") && strstr(r.body, "***"),
          "secret redacted: %s", r.body);
    resp_free(&r);
    call("GET", "/v1/environments/img/build-log", NULL, &r);
    CHECK(r.status == 200 && r.log_size > 0, "build-log of an image environment: %ld %lld", r.status, r.log_size);
    resp_free(&r);
    call("PUT", "/v1/environments/img/files/build.log", "x", &r);
    CHECK(r.status == 403, "build.log is reserved in environments: %ld", r.status);
    resp_free(&r);
    /* While it builds it cannot be deleted (the build reports to its name); once ended, it can. */
    call("DELETE", "/v1/environments/img", NULL, &r);
    bool deleted = r.status == 204;
    CHECK(deleted || (r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EBUSY") == 0),
          "delete environment while it builds: %ld %s", r.status, r.body);
    resp_free(&r);
    for (int64_t deadline = now_ms() + 60000; !deleted && now_ms() < deadline; pause_ms(25)) {
        call("DELETE", "/v1/environments/img", NULL, &r);
        deleted = r.status == 204;
        resp_free(&r);
    }
    CHECK(deleted, "delete environment once its setup ended");
}

static void test_run_completes(void)
{
    resp r;
    char *id = submit("exp", "command: python3 main.py && echo \"$GREETING $AZUREML_RUN_ID\"\n"
                             "environment: azureml:host@latest\ncompute: azureml:local\n"
                             "environment_variables:\n  GREETING: hi\ndisplay_name: first\n", &r);
    CHECK(id != NULL, "submit: %ld %s", r.status, r.body);
    if (id)
        CHECK(strcmp(jstr(r.json, "display_name") ? jstr(r.json, "display_name") : "", "first") == 0 &&
                  jnum(r.json, "environment_version", -1) == 1,
              "run object: %s", r.body);
    resp_free(&r);
    if (!id)
        return;
    CHECK(wait_status(id, "Completed", 20), "run did not complete");
    long long size = -1;
    char *log = run_log(id, &size);
    char want[600];
    snprintf(want, sizeof want, "hello!\nhi %s\n", id);
    CHECK(strcmp(log, want) == 0 && size == (long long)strlen(want), "log '%s' (size %lld)", log, size);
    free(log);
    char path[512];
    snprintf(path, sizeof path, "/v1/runs/%s/log?offset=7&length=2", id);
    call("GET", path, NULL, &r);
    CHECK(r.len == 2 && memcmp(r.body, "hi", 2) == 0 && r.log_size == (long long)strlen(want), "log range: '%s'",
          r.body ? r.body : "");
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%s", id);
    call("GET", path, NULL, &r);
    CHECK(jnum(r.json, "exit_code", -1) == 0 && jstr(r.json, "ended") && jstr(r.json, "started") &&
              cJSON_IsNull(cJSON_GetObjectItem(r.json, "error")),
          "ended run: %s", r.body);
    const char *yaml = jstr(r.json, "job_yaml");
    CHECK(yaml && strstr(yaml, "azureml:host:1"), "job_yaml pins the environment version: %s", yaml ? yaml : "");
    resp_free(&r);
    call("GET", "/v1/experiments/exp", NULL, &r);
    char line[600];
    snprintf(line, sizeof line, "submitted %s", id);
    CHECK(strcmp(jstr(r.json, "status_line") ? jstr(r.json, "status_line") : "", line) == 0 &&
              strcmp(jstr(r.json, "latest_run") ? jstr(r.json, "latest_run") : "", id) == 0,
          "experiment after submit: %s", r.body);
    resp_free(&r);
    call("GET", "/v1/runs?experiment=exp", NULL, &r);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "runs")) == 1, "runs of exp: %s", r.body);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/runs/%s/cancel", id);
    call("POST", path, NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EINVAL") == 0 &&
              strstr(err_message(&r), "already Completed"),
          "cancel after the end: %ld %s", r.status, r.body);
    resp_free(&r);
    call("DELETE", "/v1/environments/host", NULL, &r);
    CHECK(r.status == 204 || r.status == 409, "delete env: %ld", r.status);
    resp_free(&r);
    free(id);
    /* the environment may have been deleted (no live run used it): bring it back for the next cases */
    create("environments", "host");
    char *body = yaml_body("name: host\n", NULL, NULL);
    call("POST", "/v1/environments/host/versions", body, &r);
    free(body);
    resp_free(&r);
}

static void test_rejections(void)
{
    resp r;
    int64_t runs_before;
    call("GET", "/v1/workspace", NULL, &r);
    runs_before = (int64_t)jnum(cJSON_GetObjectItem(r.json, "counts"), "runs", -1);
    resp_free(&r);
    char *id = submit("exp", "command: echo hi\nenvironment: azureml:nope@latest\n", &r);
    CHECK(!id && r.status == 404 && strcmp(err_errno(&r) ? err_errno(&r) : "", "ENOENT") == 0 &&
              strstr(err_message(&r), "job.yaml line 2 column") &&
              strstr(err_message(&r), "environment 'nope' not found (known: host)"),
          "missing environment: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/experiments/exp", NULL, &r);
    CHECK(strncmp(jstr(r.json, "status_line") ? jstr(r.json, "status_line") : "", "Rejected: job.yaml line 2", 25) == 0,
          "status_line: %s", r.body);
    resp_free(&r);
    id = submit("exp", "command: echo hi\nenvironment: host\ncompute: azureml:gpu\n", &r);
    CHECK(!id && r.status == 404 && strstr(err_message(&r), "compute 'gpu' not found (known: local)"),
          "missing compute: %s", r.body);
    resp_free(&r);
    id = submit("exp", "command: echo hi\nenvironment: host\ncode: /etc\n", &r);
    CHECK(!id && r.status == 400 && strstr(err_message(&r), "absolute local folders"), "absolute code: %s", r.body);
    resp_free(&r);
    id = submit("exp", "command: echo hi\nenvironment: host\ncode: ../..\n", &r);
    CHECK(!id && r.status == 400 && strstr(err_message(&r), "outside"), "code leaving the experiment: %s", r.body);
    resp_free(&r);
    id = submit("exp", "comand: echo hi\nenvironment: host\n", &r);
    CHECK(!id && r.status == 400 && strstr(err_message(&r), "did you mean 'command'"), "typo: %s", r.body);
    resp_free(&r);
    call("GET", "/v1/workspace", NULL, &r);
    CHECK((int64_t)jnum(cJSON_GetObjectItem(r.json, "counts"), "runs", -1) == runs_before,
          "a rejected job created a run: %s", r.body);
    resp_free(&r);
}

typedef struct poll_arg {
    char url[128];
    resp r;
    int64_t elapsed_ms;
} poll_arg;

static void *long_poll(void *p)
{
    poll_arg *a = p;
    int64_t start = now_ms();
    call("GET", a->url, NULL, &a->r);
    a->elapsed_ms = now_ms() - start;
    return NULL;
}

static void test_events(void)
{
    resp r;
    call("GET", "/v1/workspace", NULL, &r);
    double seq = jnum(r.json, "event_seq", -1);
    resp_free(&r);
    CHECK(seq > 0, "event_seq after activity: %f", seq);
    /* Nothing new: the long-poll waits for its timeout. Work started by earlier cases (an image
     * build's log) may still be announcing itself: move past it until a whole second is quiet. */
    char url[128];
    int64_t waited = 0;
    for (int tries = 0; tries < 30; tries++) {
        snprintf(url, sizeof url, "/v1/events?since=%.0f&timeout=1", seq);
        int64_t start = now_ms();
        call("GET", url, NULL, &r);
        waited = now_ms() - start;
        if (r.status != 200 || cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")) == 0)
            break;
        seq = jnum(r.json, "seq", seq);
        resp_free(&r);
    }
    CHECK(r.status == 200 && cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "events")) == 0 && waited >= 900 &&
              jnum(r.json, "seq", -1) == seq,
          "quiet long-poll: %ld %s after %lld ms", r.status, r.body, (long long)waited);
    resp_free(&r);
    /* A change wakes a waiting long-poll at once. */
    poll_arg a;
    memset(&a, 0, sizeof a);
    snprintf(a.url, sizeof a.url, "/v1/events?since=%.0f&timeout=30", seq);
    pthread_t t;
    pthread_create(&t, NULL, long_poll, &a);
    pause_ms(200);
    CHECK(create("experiments", "evexp"), "create evexp");
    pthread_join(t, NULL);
    CHECK(a.elapsed_ms < 5000 && a.r.status == 200 && !cJSON_IsTrue(cJSON_GetObjectItem(a.r.json, "reset")),
          "long-poll woken by a change after %lld ms: %s", (long long)a.elapsed_ms, a.r.body);
    /* The creation may come in this answer or the next (the folder's status line changed first). */
    bool seen = false;
    double last = seq;
    for (int round = 0; round < 3 && !seen && a.r.json; round++) {
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(a.r.json, "events"))
        {
            CHECK(jnum(e, "seq", 0) > last, "sequence numbers grow: %s", a.r.body);
            last = jnum(e, "seq", 0);
            seen = seen || (strcmp(jstr(e, "path") ? jstr(e, "path") : "", "experiments/evexp") == 0 &&
                            strcmp(jstr(e, "what") ? jstr(e, "what") : "", "created") == 0);
        }
        CHECK(jnum(a.r.json, "seq", -1) == last, "answer seq is the last sent: %s", a.r.body);
        resp_free(&a.r);
        snprintf(url, sizeof url, "/v1/events?since=%.0f&timeout=2", last);
        if (!seen)
            call("GET", url, NULL, &a.r);
    }
    CHECK(seen, "experiments/evexp created in the feed");
    call("DELETE", "/v1/experiments/evexp", NULL, &r);
    CHECK(r.status == 204, "delete an empty experiment: %ld %s", r.status, r.body);
    resp_free(&r);
    call("DELETE", "/v1/experiments/exp", NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "ENOTEMPTY") == 0,
          "delete an experiment with runs and files: %ld %s", r.status, r.body);
    resp_free(&r);
    resp_free(&a.r);
    /* A number the server never gave means the client's caches are stale. */
    call("GET", "/v1/events?since=999999999&timeout=1", NULL, &r);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "reset")), "future since resets: %s", r.body);
    resp_free(&r);
}

/* A run's log growth and end show in the feed: grew with the final size before the final status. */
static void test_events_of_a_run(void)
{
    resp r;
    call("GET", "/v1/workspace", NULL, &r);
    double since = jnum(r.json, "event_seq", -1);
    resp_free(&r);
    char *id = submit("exp", "command: echo one; echo two\nenvironment: host\n", &r);
    resp_free(&r);
    CHECK(id && wait_status(id, "Completed", 20), "run for events");
    if (!id)
        return;
    char url[128], log_path[400], run_path[400];
    snprintf(url, sizeof url, "/v1/events?since=%.0f&timeout=1", since);
    snprintf(log_path, sizeof log_path, "runs/%s/log", id);
    snprintf(run_path, sizeof run_path, "runs/%s", id);
    call("GET", url, NULL, &r);
    double final_size = -1, grew_seq = 0, last_change_seq = 0;
    bool created = false;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "events"))
    {
        const char *path = jstr(e, "path"), *what = jstr(e, "what");
        if (!path || !what)
            continue;
        if (strcmp(path, run_path) == 0 && strcmp(what, "created") == 0)
            created = true;
        if (strcmp(path, log_path) == 0 && strcmp(what, "grew") == 0) {
            final_size = jnum(e, "size", -1);
            grew_seq = jnum(e, "seq", 0);
        }
        if (strcmp(path, run_path) == 0 && strcmp(what, "changed") == 0)
            last_change_seq = jnum(e, "seq", 0);
    }
    CHECK(created && final_size == 8 && grew_seq > 0 && grew_seq < last_change_seq,
          "run events (created, grew size=8 before the last change): %s", r.body);
    resp_free(&r);
    free(id);
}

static void set_max_instances(int n)
{
    char yaml[128];
    snprintf(yaml, sizeof yaml, "name: local\ntype: local\nmax_instances: %d\n", n);
    char *body = yaml_body(yaml, "filename", "compute.yaml");
    resp r;
    call("PUT", "/v1/computes/local", body, &r);
    free(body);
    CHECK(r.status == 200 && jnum(r.json, "max_instances", -1) == n, "PUT compute: %ld %s", r.status, r.body);
    resp_free(&r);
}

static void test_queueing_and_cancel(void)
{
    resp r;
    set_max_instances(1);
    char yaml[PATH_MAX + 200];
    snprintf(yaml, sizeof yaml,
             "command: echo started; while [ ! -e %s/release ]; do sleep 0.05; done; echo released\n"
             "environment: host\n", tmp_dir);
    char *a = submit("exp", yaml, &r);
    resp_free(&r);
    char *b = submit("exp", yaml, &r);
    resp_free(&r);
    char *c = submit("exp", yaml, &r);
    resp_free(&r);
    CHECK(a && b && c, "three submissions");
    if (!a || !b || !c)
        goto out;
    CHECK(wait_status(a, "Running", 10) && wait_log_has(a, "started", 10), "first runs");
    char buf[64];
    CHECK(strcmp(run_status(b, buf, sizeof buf), "Queued") == 0, "second waits: %s", buf);
    CHECK(strcmp(run_status(c, buf, sizeof buf), "Queued") == 0, "third waits: %s", buf);
    call("DELETE", "/v1/environments/host", NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EBUSY") == 0,
          "deleting an environment in use: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/computes/local", NULL, &r);
    CHECK(jnum(r.json, "running", -1) == 1 && jnum(r.json, "queued", -1) == 2 &&
              strstr(jstr(r.json, "status_line") ? jstr(r.json, "status_line") : "", "queued 2"),
          "compute counts: %s", r.body);
    resp_free(&r);
    /* Cancel of a queued run: at once. */
    char path[512];
    snprintf(path, sizeof path, "/v1/runs/%s/cancel", c);
    call("POST", path, NULL, &r);
    CHECK(r.status == 202 && strcmp(jstr(r.json, "status") ? jstr(r.json, "status") : "", "Canceled") == 0,
          "cancel queued: %ld %s", r.status, r.body);
    resp_free(&r);
    /* Cancel of the running one: its place goes to the next in line. */
    snprintf(path, sizeof path, "/v1/runs/%s/cancel", a);
    call("POST", path, NULL, &r);
    CHECK(r.status == 202, "cancel running: %ld %s", r.status, r.body);
    resp_free(&r);
    CHECK(wait_status(a, "Canceled", 15), "first canceled: %s", run_status(a, buf, sizeof buf));
    CHECK(wait_status(b, "Running", 10), "second started after the first ended: %s", run_status(b, buf, sizeof buf));
    touch("release");
    CHECK(wait_status(b, "Completed", 15) && log_has(b, "released"), "second completed");
    snprintf(path, sizeof path, "/v1/runs/%s/cancel", a);
    call("POST", path, NULL, &r);
    CHECK(r.status == 409 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EINVAL") == 0, "cancel twice: %ld %s",
          r.status, r.body);
    resp_free(&r);
out:
    set_max_instances(2);
    free(a);
    free(b);
    free(c);
}

/* GET /v1/runs by pages: every run once, in submission order, whatever the page size; `next` null on
 * the last page; a page size out of range refused. */
static void test_paged_listing(void)
{
    resp r;
    call("GET", "/v1/runs", NULL, &r);
    cJSON *all = cJSON_Duplicate(cJSON_GetObjectItem(r.json, "runs"), 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(r.json, "next")), "one page when it fits: %s", r.body);
    resp_free(&r);
    int total = cJSON_GetArraySize(all);
    CHECK(total >= 4, "runs to page through: %d", total);
    char path[256], after[32] = "0";
    int seen = 0, pages = 0;
    bool in_order = true;
    for (;;) {
        snprintf(path, sizeof path, "/v1/runs?limit=2&after=%s", after);
        call("GET", path, NULL, &r);
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(r.json, "runs")) {
            const char *want = jstr(cJSON_GetArrayItem(all, seen), "id");
            in_order = in_order && want && jstr(item, "id") && strcmp(want, jstr(item, "id")) == 0;
            seen++;
        }
        pages++;
        const char *next = jstr(r.json, "next");
        bool more = next && pages <= total;
        if (more)
            snprintf(after, sizeof after, "%s", next);
        resp_free(&r);
        if (!more)
            break;
    }
    CHECK(seen == total && in_order && pages == (total + 1) / 2, "pages of 2: %d runs of %d in %d pages, in order: %d",
          seen, total, pages, in_order);
    /* A run's folders in one answer, shaped as their own GETs answer. */
    const char *first = jstr(cJSON_GetArrayItem(all, 0), "id");
    snprintf(path, sizeof path, "/v1/runs/%s/tree", first ? first : "none");
    call("GET", path, NULL, &r);
    const cJSON *outputs = cJSON_GetObjectItem(r.json, "outputs");
    CHECK(r.status == 200 && jstr(cJSON_GetObjectItem(outputs, "root"), "type") &&
              strcmp(jstr(cJSON_GetObjectItem(outputs, "root"), "type"), "dir") == 0 &&
              cJSON_IsArray(cJSON_GetObjectItem(outputs, "entries")) &&
              cJSON_IsObject(cJSON_GetObjectItem(r.json, "logs")) &&
              cJSON_IsObject(cJSON_GetObjectItem(r.json, "inputs")) &&
              cJSON_GetObjectItem(r.json, "snapshot") &&
              cJSON_IsArray(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "metrics"), "metrics")),
          "a run's tree: %ld %s", r.status, r.body);
    resp_free(&r);
    call("GET", "/v1/runs/nosuchrun/tree", NULL, &r);
    CHECK(r.status == 404, "the tree of no run: %ld", r.status);
    resp_free(&r);
    call("GET", "/v1/runs?limit=0", NULL, &r);
    CHECK(r.status == 400 && strcmp(err_errno(&r) ? err_errno(&r) : "", "EINVAL") == 0 &&
              strstr(err_message(&r), "limit"),
          "limit 0 refused: %ld %s", r.status, r.body);
    resp_free(&r);
    cJSON_Delete(all);
}

static void test_failures(void)
{
    resp r;
    char *id = submit("exp", "command: sleep 30\nenvironment: host\nlimits:\n  timeout: 1\n", &r);
    resp_free(&r);
    CHECK(id && wait_status(id, "Failed", 20), "timeout fails the run");
    if (id) {
        char path[512];
        snprintf(path, sizeof path, "/v1/runs/%s", id);
        call("GET", path, NULL, &r);
        CHECK(strstr(jstr(r.json, "error") ? jstr(r.json, "error") : "", "timed out after 1 s (limits.timeout)") &&
                  jnum(r.json, "timeout_s", 0) == 1,
              "timeout reason: %s", r.body);
        resp_free(&r);
        free(id);
    }
    id = submit("exp", "command: echo bad; exit 3\nenvironment: host\n", &r);
    resp_free(&r);
    CHECK(id && wait_status(id, "Failed", 20), "exit 3 fails the run");
    if (id) {
        char path[512];
        snprintf(path, sizeof path, "/v1/runs/%s", id);
        call("GET", path, NULL, &r);
        CHECK(jnum(r.json, "exit_code", -1) == 3 &&
                  strcmp(jstr(r.json, "error") ? jstr(r.json, "error") : "", "the job exited with code 3") == 0,
              "exit code reason: %s", r.body);
        resp_free(&r);
        free(id);
    }
    CHECK(create("environments", "img2"), "image env");
    char *body = yaml_body("image: python:3.11\n", NULL, NULL);
    call("POST", "/v1/environments/img2/versions", body, &r);
    free(body);
    resp_free(&r);
    id = submit("exp", "command: echo hi\nenvironment: azureml:img2:1\n", &r);
    resp_free(&r);
    CHECK(id && wait_status(id, "Failed", 10), "a run on an image environment fails in preparation");
    free(id);
}

static void test_kill_and_restart(void)
{
    resp r;
    char yaml[PATH_MAX + 300];
    snprintf(yaml, sizeof yaml,
             "command: for i in $(seq 1 40); do echo \"line $i\"; [ $i = 10 ] && while [ ! -e %s/go ]; do "
             "sleep 0.02; done; sleep 0.02; done\nenvironment: host\n", tmp_dir);
    char *id = submit("exp", yaml, &r);
    resp_free(&r);
    CHECK(id != NULL, "submit the long run");
    if (!id)
        return;
    CHECK(wait_log_has(id, "line 10\n", 15), "reached line 10");
    stop_server(SIGKILL);
    touch("go"); /* the job goes on while no server runs */
    char log_path[PATH_MAX + 400];
    snprintf(log_path, sizeof log_path, "%s/runs/%s/log", data_dir, id);
    for (int64_t deadline = now_ms() + 10000; now_ms() < deadline; pause_ms(20)) {
        struct stat st;
        if (stat(log_path, &st) == 0 && st.st_size > 150)
            break;
    }
    CHECK(start_server() == 0, "restart after kill -9");
    CHECK(wait_status(id, "Completed", 30), "the run completes after the restart");
    char *log = run_log(id, NULL);
    char want[1024] = "";
    for (int i = 1; i <= 40; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "line %d\n", i);
    CHECK(strcmp(log, want) == 0, "every line exactly once; log:\n%s", log);
    free(log);
    free(id);
    /* The feed's numbers kept growing across the restart. */
    call("GET", "/v1/events?since=0&timeout=1", NULL, &r);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "reset")), "old numbers reset after a restart: %s", r.body);
    resp_free(&r);
}

/* run_token.c's (server.h cannot be included beside this file's own helpers). */
char *run_token_make(const char *key, const char *run_id);

static void test_tcp_token(void)
{
    char url[128], token_path[PATH_MAX + 32], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/workspace", tcp_port);
    resp r;
    request("GET", url, NULL, 0, NULL, &r);
    CHECK(r.status == 401 && strcmp(jstr(cJSON_GetObjectItem(r.json, "error"), "code") ?
                                        jstr(cJSON_GetObjectItem(r.json, "error"), "code") : "",
                                    "unauthorized") == 0,
          "TCP without a token: %ld %s", r.status, r.body);
    resp_free(&r);
    request("GET", url, NULL, 0, "Authorization: Bearer 0000", &r);
    CHECK(r.status == 401, "TCP with a wrong token: %ld", r.status);
    resp_free(&r);
    snprintf(token_path, sizeof token_path, "%s/token", data_dir);
    char *token = NULL;
    size_t len;
    amlfs_err err = {0};
    CHECK(util_read_file(token_path, &token, &len, &err) == 0, "token file: %s", err.msg);
    struct stat st;
    CHECK(stat(token_path, &st) == 0 && (st.st_mode & 0777) == 0600, "token file mode %o", st.st_mode & 0777);
    if (token) {
        token[strcspn(token, "\n")] = '\0';
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        request("GET", url, NULL, 0, auth, &r);
        CHECK(r.status == 200 && jstr(r.json, "api_version"), "TCP with the token: %ld %s", r.status, r.body);
        resp_free(&r);
        /* A job's run token on --listen: MLflow's API of its run, nothing else. */
        char *run_token = run_token_make(token, "some-run");
        char mlflow[160];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", run_token);
        request("GET", url, NULL, 0, auth, &r);
        CHECK(r.status == 403 && strstr(r.body, "MLflow"), "a run token on /v1: %ld %s", r.status, r.body);
        resp_free(&r);
        snprintf(mlflow, sizeof mlflow, "http://127.0.0.1:%d/api/2.0/mlflow/experiments/search", tcp_port);
        request("POST", mlflow, "{}", 2, auth, &r);
        CHECK(r.status == 200 && cJSON_IsArray(cJSON_GetObjectItem(r.json, "experiments")),
              "a run token on MLflow's API: %ld %s", r.status, r.body);
        resp_free(&r);
        /* MLflow's handlers read names with cJSON too: "ab\u0000x" would have made an experiment "ab". */
        char owner[256];
        snprintf(owner, sizeof owner, "Authorization: Bearer %s", token);
        snprintf(mlflow, sizeof mlflow, "http://127.0.0.1:%d/api/2.0/mlflow/experiments/create", tcp_port);
        const char nul_name[] = "{\"name\": \"ab\\u0000x\"}";
        request("POST", mlflow, nul_name, sizeof nul_name - 1, owner, &r);
        CHECK(r.status == 400 && strcmp(jstr(r.json, "error_code") ? jstr(r.json, "error_code") : "",
                                        "INVALID_PARAMETER_VALUE") == 0 &&
                  strstr(r.body, "NUL character (\\\\u0000, at byte 12)"),
              "\\u0000 in an MLflow name: %ld %s", r.status, r.body);
        resp_free(&r);
        snprintf(mlflow, sizeof mlflow, "http://127.0.0.1:%d/api/2.0/mlflow/experiments/get-by-name?experiment_name=ab",
                 tcp_port);
        request("GET", mlflow, NULL, 0, owner, &r);
        CHECK(r.status == 404, "an experiment 'ab' was made of \"ab\\u0000x\": %ld %s", r.status, r.body);
        resp_free(&r);
        snprintf(mlflow, sizeof mlflow, "http://127.0.0.1:%d/api/2.0/mlflow/experiments/search", tcp_port);
        request("POST", mlflow, "{}", 2, NULL, &r);
        CHECK(r.status == 401 && strcmp(jstr(r.json, "error_code") ? jstr(r.json, "error_code") : "",
                                        "UNAUTHENTICATED") == 0,
              "MLflow's API without a token: %ld %s", r.status, r.body);
        resp_free(&r);
        free(run_token);
    }
    free(token);
}

static void test_second_server_refused(void)
{
    char *cmd = util_strdupf("'%s' -f --data-dir '%s' 2>&1", server_exe, data_dir);
    FILE *p = popen(cmd, "r");
    free(cmd);
    char out[1024] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    int status = p ? pclose(p) : -1;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0 && strstr(out, "already"),
          "a second server on the same data dir: %s", out);
    CHECK(server_answers(), "the first server still answers");
}

static int pick_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int find_server(void)
{
    const char *env = getenv("AMLFS_SERVER");
    if (env && *env) {
        snprintf(server_exe, sizeof server_exe, "%s", env);
    } else {
        /* BUILD/tests/test_server_api -> BUILD/amlfs-server */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
            return -1;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        *slash = '\0';
        snprintf(server_exe, sizeof server_exe, "%s/../amlfs-server", self);
    }
    return access(server_exe, X_OK);
}

int main(void)
{
    if (find_server() < 0) {
        printf("FAIL cannot run the server %s (set AMLFS_SERVER)\n0 passed, 1 failed\n", server_exe);
        return 1;
    }
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/amlfs-test-server.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        printf("FAIL mkdtemp\n0 passed, 1 failed\n");
        return 1;
    }
    snprintf(data_dir, sizeof data_dir, "%s/data", tmp_dir);
    snprintf(socket_path, sizeof socket_path, "%s/server.sock", data_dir);
    tcp_port = pick_port();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_server() < 0) {
        printf("FAIL the server did not start (see below)\n");
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "cat '%s/server-out.log'", tmp_dir);
        (void)!system(cmd);
        failed++;
    } else {
        test_workspace();
        test_experiments();
        test_files();
        test_environments();
        test_run_completes();
        test_rejections();
        test_events();
        test_events_of_a_run();
        test_queueing_and_cancel();
        test_paged_listing();
        test_failures();
        test_tcp_token();
        test_second_server_refused();
        test_kill_and_restart();
    }
    if (failed) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "tail -20 '%s/server-out.log'", tmp_dir);
        (void)!system(cmd);
    }
    cleanup();
    curl_global_cleanup();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
