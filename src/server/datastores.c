/* datastores.c: datastores (datastores/NAME in the mount): the built-in workspaceblobstore (a folder of
 * the server's), `type: azure_blob` ones read through the Blob REST API; their files as a read-only
 * folder, and a job input azureml://datastores/NAME/paths/PATH fetched into the run. */
#include "amlfs/server.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/blob.h"
#include "amlfs/util.h"

#define WORKSPACE_STORE "workspaceblobstore"
/* One read of a datastore file: a FUSE read asks for 128 KiB; a client may not ask for more than this. */
#define READ_MAX ((size_t)16 << 20)

bool datastore_is_builtin(const char *name)
{
    return strcmp(name, WORKSPACE_STORE) == 0;
}

static char *builtin_root(server *srv)
{
    return server_path(srv, "datastores/%s", WORKSPACE_STORE);
}

/* A client of the datastore's container from its datastore.yaml. */
static int client_of(const datastore_spec *spec, blob_client **out, amlfs_err *err)
{
    char *endpoint = spec->endpoint && strstr(spec->endpoint, "://")
                         ? util_xstrdup(spec->endpoint)
                         : util_strdupf("%s://%s.blob.%s", spec->protocol ? spec->protocol : "https",
                                        spec->account_name, spec->endpoint ? spec->endpoint : "core.windows.net");
    blob_config cfg = {.endpoint = endpoint, .account_name = spec->account_name, .container = spec->container_name,
                       .account_key = spec->account_key, .sas_token = spec->sas_token};
    *out = blob_client_new(&cfg, err);
    free(endpoint);
    return *out ? 0 : (err->code ? -err->code : -EINVAL);
}

static int open_client(server *srv, const char *name, blob_client **out, amlfs_err *err)
{
    char *yaml = NULL;
    int rc = store_datastore_get(srv->store, name, &yaml, err);
    datastore_spec spec;
    if (rc == 0 && (rc = spec_parse_datastore(yaml, strlen(yaml), "datastore.yaml", &spec, err)) == 0) {
        rc = client_of(&spec, out, err);
        spec_datastore_free(&spec);
    }
    if (yaml)
        explicit_bzero(yaml, strlen(yaml));
    free(yaml);
    return rc;
}

/* Can the container be read with these credentials? One listing of at most one entry. */
static int check_container(blob_client *c, amlfs_err *err)
{
    blob_listing l;
    int rc = blob_list(c, "", "/", &l, err);
    if (rc == 0)
        blob_listing_free(&l);
    return rc == -EFBIG ? 0 : rc; /* more than the one asked for: readable */
}

/* The text with its credential's value replaced by secret, double-quoted (a SAS token holds & and %). */
static char *with_secret(const char *yaml, size_t len, const datastore_spec *spec, const char *secret)
{
    util_buf b = {0};
    util_buf_append(&b, yaml, spec->secret_start, 0);
    util_buf_append(&b, "\"", 1, 0);
    for (const char *c = secret; *c; c++) {
        if (*c == '"' || *c == '\\')
            util_buf_append(&b, "\\", 1, 0);
        util_buf_append(&b, c, 1, 0);
    }
    util_buf_append(&b, "\"", 1, 0);
    util_buf_append(&b, yaml + spec->secret_end, len - spec->secret_end, 0);
    return b.data;
}

/* A credential written as "***" (the file read back and saved again) stands for the one stored: the
 * check and the store get that one, so an editor's round trip never erases the key. *text gets the text
 * to store. */
static int keep_stored_secret(server *srv, const char *name, datastore_spec *spec, const char *yaml, size_t len,
                              const char *filename, char **text, amlfs_err *err)
{
    char **mine = spec->account_key ? &spec->account_key : &spec->sas_token;
    if (strcmp(*mine, SPEC_SECRET_MASK) != 0) {
        *text = util_strdupf("%.*s", (int)len, yaml);
        return 0;
    }
    const char *what = spec->account_key ? "account_key" : "sas_token";
    char *stored = NULL;
    datastore_spec before;
    memset(&before, 0, sizeof before);
    amlfs_err ignored = {0};
    int rc = store_datastore_get(srv->store, name, &stored, &ignored) == 0 && stored[0]
                 ? spec_parse_datastore(stored, strlen(stored), filename, &before, &ignored)
                 : -ENOENT;
    const char *kept = rc < 0 ? NULL : spec->account_key ? before.account_key : before.sas_token;
    if (!kept)
        rc = spec_fail_at(err, EINVAL, filename, spec->credentials_pos, "%s is %s, but datastore '%s' has no %s "
                          "stored: write the %s itself (it is kept by the server and reads back as %s)", what,
                          SPEC_SECRET_MASK, name, what, spec->account_key ? "key" : "token", SPEC_SECRET_MASK);
    else {
        *text = with_secret(yaml, len, spec, kept);
        explicit_bzero(*mine, strlen(*mine));
        free(*mine);
        *mine = util_xstrdup(kept);
        rc = 0;
    }
    spec_datastore_free(&before);
    if (stored)
        explicit_bzero(stored, strlen(stored));
    free(stored);
    return rc;
}

int datastore_put(server *srv, const char *name, const char *yaml, size_t len, const char *filename, amlfs_err *err)
{
    int rc = util_check_name("datastore", name, err);
    if (rc == 0 && datastore_is_builtin(name))
        rc = amlfs_fail(err, EPERM, "%s is the workspace's own storage and has no datastore.yaml", name);
    datastore_spec spec;
    memset(&spec, 0, sizeof spec);
    if (rc == 0)
        rc = spec_parse_datastore(yaml, len, filename, &spec, err);
    if (rc == 0 && spec.name && strcmp(spec.name, name) != 0)
        rc = spec_fail_at(err, EINVAL, filename, spec.name_pos, "name '%s' differs from the folder '%s'", spec.name,
                          name);
    char *text = NULL;
    if (rc == 0)
        rc = keep_stored_secret(srv, name, &spec, yaml, len, filename, &text, err);
    blob_client *c = NULL;
    if (rc == 0)
        rc = client_of(&spec, &c, err);
    /* Asked now, so a wrong key or container is refused while the writer is there to see it. */
    amlfs_err why = {0};
    if (rc == 0 && (rc = check_container(c, &why)) < 0)
        rc = spec_fail_at(err, -rc, filename, spec.account_pos.line ? spec.account_pos : spec.credentials_pos, "%s",
                          why.msg);
    blob_client_free(c);
    spec_datastore_free(&spec);
    if (rc == 0)
        rc = store_datastore_put(srv->store, name, text, util_now_ms(), err);
    if (text)
        explicit_bzero(text, strlen(text));
    free(text);
    char *key = util_strdupf("datastores/%s", name);
    server_folder_status(srv, key, rc < 0 ? err : NULL);
    free(key);
    if (rc == 0)
        events_emitf(srv->events, "changed", -1, "datastores/%s", name);
    return rc;
}

/* Listing entries for the folder under prefix ("" or "dir/"), in the files API's shape. */
static cJSON *listing_json(const blob_listing *l, size_t prefix_len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "entries");
    for (size_t i = 0; i < l->prefix_count; i++) {
        folder_entry e = {.name = strndup(l->prefixes[i] + prefix_len, strlen(l->prefixes[i]) - prefix_len - 1),
                          .type = 'd', .size = 4096, .mode = 0755};
        if (!e.name)
            abort();
        cJSON_AddItemToArray(arr, folder_entry_json(&e));
        free(e.name);
    }
    for (size_t i = 0; i < l->count; i++) {
        folder_entry e = {.name = util_xstrdup(l->blobs[i].name + prefix_len), .type = 'f', .size = (int64_t)l->blobs[i].size,
                          .mode = 0644, .mtime_ms = l->blobs[i].last_modified_ms};
        if (e.name[0])
            cJSON_AddItemToArray(arr, folder_entry_json(&e));
        free(e.name);
    }
    return o;
}

static int blob_files_reply(blob_client *c, const http_request *req, http_reply *out, amlfs_err *err)
{
    const char *path = req->tail;
    const char *stat_arg = http_query(req, "stat");
    bool want_stat = stat_arg && strcmp(stat_arg, "0") != 0;
    blob_entry be;
    int rc = 0;
    if (path[0] && (want_stat || !req->trailing_slash)) {
        rc = blob_head(c, path, &be, err);
        if (rc == 0) {
            if (want_stat) {
                const char *base = strrchr(path, '/');
                folder_entry e = {.name = util_xstrdup(base ? base + 1 : path), .type = 'f', .size = (int64_t)be.size,
                                  .mode = 0644, .mtime_ms = be.last_modified_ms};
                reply_json(out, 200, folder_entry_json(&e));
                free(e.name);
                blob_entry_free(&be);
                return 0;
            }
            int64_t offset = 0, length = 0;
            if ((rc = http_query_i64(req, "offset", 0, &offset, err)) < 0 ||
                (rc = http_query_i64(req, "length", (int64_t)READ_MAX, &length, err)) < 0) {
                blob_entry_free(&be);
                return rc;
            }
            size_t want = (size_t)(length > (int64_t)READ_MAX ? (int64_t)READ_MAX : length);
            char *buf = util_xcalloc(1, want ? want : 1);
            size_t got = 0;
            rc = blob_read(c, path, (uint64_t)offset, want, buf, &got, err);
            if (rc == 0)
                reply_bytes(out, 200, buf, got, "application/octet-stream");
            free(buf);
            blob_entry_free(&be);
            return rc;
        }
        if (rc != -ENOENT)
            return rc;
        amlfs_err_clear(err);
    }
    /* A folder: the blobs and virtual folders under PATH/. */
    char *prefix = path[0] ? util_strdupf("%s/", path) : util_xstrdup("");
    blob_listing l;
    rc = blob_list(c, prefix, "/", &l, err);
    if (rc == 0 && path[0] && l.count == 0 && l.prefix_count == 0)
        rc = amlfs_fail(err, ENOENT, "'%s' is not in the datastore", path);
    if (rc == 0 && want_stat) {
        const char *base = strrchr(path, '/');
        folder_entry e = {.name = util_xstrdup(path[0] ? (base ? base + 1 : path) : ""), .type = 'd', .size = 4096,
                          .mode = 0755};
        reply_json(out, 200, folder_entry_json(&e));
        free(e.name);
    } else if (rc == 0) {
        reply_json(out, 200, listing_json(&l, strlen(prefix)));
    }
    if (rc == 0)
        blob_listing_free(&l);
    free(prefix);
    return rc;
}

int datastore_files_reply(server *srv, const char *name, const http_request *req, http_reply *out, amlfs_err *err)
{
    if (req->tail[0]) {
        int rc = util_check_relpath(req->tail, err);
        if (rc < 0)
            return rc;
    }
    if (datastore_is_builtin(name)) {
        char *root = builtin_root(srv);
        int rc = folder_get_reply(root, req->tail, !req->tail[0] || req->trailing_slash, req, out, err);
        free(root);
        return rc;
    }
    blob_client *c = NULL;
    int rc = open_client(srv, name, &c, err);
    if (rc == 0)
        rc = blob_files_reply(c, req, out, err);
    blob_client_free(c);
    return rc;
}

/* ---- inputs ---- */

int datastore_parse_path(const char *uri, char **name, char **path)
{
    static const char head[] = "azureml://datastores/";
    *name = *path = NULL;
    if (strncmp(uri, head, sizeof head - 1) != 0)
        return -EINVAL;
    const char *n = uri + sizeof head - 1;
    const char *slash = strchr(n, '/');
    if (!slash || strncmp(slash, "/paths/", 7) != 0 || slash == n)
        return -EINVAL;
    *name = strndup(n, (size_t)(slash - n));
    *path = util_xstrdup(slash + 7);
    if (!*name)
        abort();
    /* A trailing '/' names the same folder. */
    for (size_t k = strlen(*path); k > 0 && (*path)[k - 1] == '/'; k--)
        (*path)[k - 1] = '\0';
    return 0;
}

static int download_to(blob_client *c, const char *name, const char *dest, amlfs_err *err)
{
    char *parent = util_xstrdup(dest);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    int rc = util_mkdir_p(parent, 0755, err);
    free(parent);
    int fd = rc == 0 ? open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444) : -1;
    if (rc == 0 && fd < 0)
        rc = amlfs_fail(err, errno, "cannot create %s: %s", dest, strerror(errno));
    if (fd >= 0) {
        rc = blob_download(c, name, fd, err);
        close(fd);
    }
    return rc;
}

int datastore_check_input(server *srv, const char *uri, bool is_file, amlfs_err *err)
{
    char *name = NULL, *path = NULL;
    int rc = datastore_parse_path(uri, &name, &path);
    if (rc < 0)
        return amlfs_fail(err, EINVAL, "'%s' is not azureml://datastores/NAME/paths/PATH", uri);
    if (datastore_is_builtin(name)) {
        char *root = builtin_root(srv), *src = NULL;
        bool is_dir = false;
        amlfs_err why = {0};
        rc = submit_find_stored(root, path, &src, &is_dir, &why);
        if (rc == -ENOENT)
            rc = amlfs_fail(err, ENOENT, "datastore '%s' has no '%s'", name, path);
        else if (rc < 0)
            rc = amlfs_fail(err, -rc, "datastore '%s', '%s': %s", name, path, why.msg);
        else if (is_dir == is_file)
            rc = amlfs_fail(err, EINVAL, "'%s' of datastore '%s' is a %s: write `type: %s`", path, name,
                            is_dir ? "folder" : "file", is_dir ? "uri_folder" : "uri_file");
        free(src);
        free(root);
    } else {
        blob_client *c = NULL;
        rc = open_client(srv, name, &c, err);
        if (rc == 0 && is_file) {
            blob_entry be;
            amlfs_err why = {0};
            rc = blob_head(c, path, &be, &why);
            if (rc == 0)
                blob_entry_free(&be);
            else if (rc == -ENOENT)
                rc = amlfs_fail(err, ENOENT, "datastore '%s' has no file '%s'", name, path);
            else
                rc = amlfs_fail(err, -rc, "%s", why.msg);
        } else if (rc == 0) {
            /* One level is enough to know something is there. */
            char *prefix = path[0] ? util_strdupf("%s/", path) : util_xstrdup("");
            blob_listing l;
            memset(&l, 0, sizeof l);
            rc = blob_list(c, prefix, "/", &l, err);
            if (rc == -EFBIG)
                rc = 0;
            else if (rc == 0) {
                if (l.count == 0 && l.prefix_count == 0)
                    rc = amlfs_fail(err, ENOENT, "datastore '%s' has nothing under '%s'", name, path);
                blob_listing_free(&l);
            }
            free(prefix);
        }
        blob_client_free(c);
    }
    free(name);
    free(path);
    return rc;
}

int datastore_fetch_input(server *srv, const char *uri, bool is_file, const char *dest, amlfs_err *err)
{
    char *name = NULL, *path = NULL;
    int rc = datastore_parse_path(uri, &name, &path);
    if (rc < 0)
        return amlfs_fail(err, EINVAL, "'%s' is not azureml://datastores/NAME/paths/PATH", uri);
    if (datastore_is_builtin(name)) {
        char *root = builtin_root(srv), *src = NULL;
        bool is_dir = false;
        rc = submit_find_stored(root, path, &src, &is_dir, err);
        if (rc == 0 && is_dir == is_file)
            rc = amlfs_fail(err, EINVAL, "%s is a %s", uri, is_dir ? "folder" : "file");
        if (rc == 0 && !is_dir) {
            char *parent = util_xstrdup(dest);
            char *slash = strrchr(parent, '/');
            if (slash)
                *slash = '\0';
            rc = util_mkdir_p(parent, 0755, err);
            free(parent);
        }
        if (rc == 0)
            rc = is_dir ? util_copy_tree(src, dest, err) : util_copy_file(src, dest, 0444, err);
        free(src);
        free(root);
    } else {
        blob_client *c = NULL;
        rc = open_client(srv, name, &c, err);
        if (rc == 0 && is_file) {
            rc = download_to(c, path, dest, err);
        } else if (rc == 0) {
            char *prefix = path[0] ? util_strdupf("%s/", path) : util_xstrdup("");
            blob_listing l;
            memset(&l, 0, sizeof l);
            rc = blob_list(c, prefix, NULL, &l, err);
            bool listed = rc == 0;
            if (rc == 0 && l.count == 0)
                rc = amlfs_fail(err, ENOENT, "datastore '%s' has nothing under '%s'", name, path);
            if (rc == 0)
                rc = util_mkdir_p(dest, 0755, err);
            for (size_t i = 0; rc == 0 && i < l.count; i++) {
                const char *rel = l.blobs[i].name + strlen(prefix);
                if (!rel[0] || util_check_relpath(rel, NULL) < 0)
                    continue; /* a blob named like a folder, or a path that cannot be a file here */
                char *to = util_strdupf("%s/%s", dest, rel);
                rc = download_to(c, l.blobs[i].name, to, err);
                free(to);
            }
            if (listed)
                blob_listing_free(&l);
            free(prefix);
        }
        blob_client_free(c);
    }
    if (rc == 0)
        rc = submit_make_read_only(dest, err);
    free(name);
    free(path);
    return rc;
}

/* ---- outputs ---- */

/* Every file under dir (relative names), for an upload. */
static int files_under(const char *dir, const char *rel, char ***out, size_t *n, amlfs_err *err)
{
    folder_entry *list = NULL;
    size_t count = 0;
    int rc = folder_list(dir, rel, &list, &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *child = rel[0] ? util_strdupf("%s/%s", rel, list[i].name) : util_xstrdup(list[i].name);
        if (list[i].type == 'd') {
            rc = files_under(dir, child, out, n, err);
            free(child);
        } else if (list[i].type == 'f') {
            *out = util_xrealloc(*out, (*n + 1) * sizeof **out);
            (*out)[(*n)++] = child;
        } else {
            free(child); /* symlinks are not copied out of the run */
        }
    }
    folder_list_free(list, count);
    return rc;
}

int datastore_store_output(server *srv, const char *uri, const char *dir, const char *only, amlfs_err *err)
{
    char *name = NULL, *path = NULL;
    int rc = datastore_parse_path(uri, &name, &path);
    if (rc < 0)
        return amlfs_fail(err, EINVAL, "'%s' is not azureml://datastores/NAME/paths/PATH", uri);
    char **files = NULL;
    size_t n = 0;
    if (only) {
        files = util_xcalloc(1, sizeof *files);
        files[n++] = util_xstrdup(only);
    } else {
        rc = files_under(dir, "", &files, &n, err);
    }
    if (rc == 0 && datastore_is_builtin(name)) {
        char *root = builtin_root(srv);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char *to = util_strdupf("%s/%s%s%s", root, path, path[0] ? "/" : "", files[i]);
            char *from = util_strdupf("%s/%s", dir, files[i]);
            char *parent = util_xstrdup(to);
            *strrchr(parent, '/') = '\0';
            unlink(to); /* a later run writes the same path again */
            /* A link where the run's folder is on the same disk: outputs are not stored twice. */
            if ((rc = util_mkdir_p(parent, 0755, err)) == 0 && link(from, to) < 0)
                rc = util_copy_file(from, to, 0644, err);
            free(parent);
            free(from);
            free(to);
        }
        free(root);
    } else if (rc == 0) {
        blob_client *c = NULL;
        rc = open_client(srv, name, &c, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char *from = util_strdupf("%s/%s", dir, files[i]);
            char *blob = util_strdupf("%s%s%s", path, path[0] ? "/" : "", files[i]);
            int fd = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) < 0)
                rc = amlfs_fail(err, errno, "cannot read %s: %s", from, strerror(errno));
            else
                rc = blob_upload(c, blob, fd, (uint64_t)st.st_size, err);
            if (fd >= 0)
                close(fd);
            free(blob);
            free(from);
        }
        blob_client_free(c);
    }
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    free(name);
    free(path);
    return rc;
}
