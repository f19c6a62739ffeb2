/* actions.c: THE place where a file action becomes an API call that changes the workspace: mkdir,
 * rmdir, unlink, create, symlink, rename, acting on a spec (a job's local code folder is uploaded as a
 * snapshot first), ctl commands. Contents (a finished write, truncate, attributes) are in writes.c. */
#include "fs_internal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/api.h"
#include "amlfs/log.h"
#include "amlfs/spec.h"
#include "amlfs/util.h"

#define HOLD_NAME ".amlfs-hold" /* a spec saved while this is in its folder waits for its removal */
/* Written into .amlfs-hold when a spec is held: the hold is kept by the server, so a save it held is acted
 * on when it goes even through another mount, or after this one was unmounted or restarted. */
#define HOLD_MARK "held: "
#define HOLD_MARK_MAX 4096 /* what is read of .amlfs-hold, to look for the mark */

void fs_log(const char *fmt, ...)
{
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_warning("%s", line);
}

static char *object_url(const char *kind, const char *name, const char *suffix)
{
    return client_object_url(kind, name, suffix, NULL);
}

static int json_call(fs_state *fs, const char *method, const char *url, cJSON *body, amlfs_err *err)
{
    int rc = client_send_json(fs->client, method, url, body, NULL, err);
    cJSON_Delete(body);
    return rc;
}

/* ---- collections: environments/, computes/ and experiments/ ----
 * The server checks names and keeps each collection's status line (shown in its `status` file), so
 * every mount of the workspace tells the same story; the mount only forwards. */

static const char *const collections[] = {"environments", "computes", "data", "datastores", "experiments", NULL};

static int make_object(fs_state *fs, const char *collection, const char *name, amlfs_err *err)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "name", name);
    char *url = client_collection_url(collection);
    int rc = json_call(fs, "POST", url, body, err);
    free(url);
    return rc;
}

static int delete_object(fs_state *fs, const char *collection, const char *name, amlfs_err *err)
{
    char *url = object_url(collection, name, NULL);
    int rc = client_delete(fs->client, url, err);
    free(url);
    return rc;
}

/* The collection a name directly inside it belongs to when the tree refused the name (not a valid
 * name): the server explains why in the collection's status. NULL for other places. */
static const char *collection_of(const char *path, const char **name)
{
    for (int i = 0; collections[i]; i++) {
        size_t n = strlen(collections[i]);
        if (strncmp(path, collections[i], n) == 0 && path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/')) {
            *name = path + n + 1;
            return collections[i];
        }
    }
    return NULL;
}

int action_mkdir(fs_state *fs, const char *path, const node_path *np, mode_t mode, amlfs_err *err)
{
    const char *name = NULL;
    int rc;
    switch (np->kind) {
    case NODE_ENV_DIR:
    case NODE_EXP_DIR:
    case NODE_DATA_DIR:
        /* The folder's mode is that of its stored files' root: as mkdir asked (the server makes it 0700). */
        rc = make_object(fs, np->kind == NODE_ENV_DIR ? "environments" : np->kind == NODE_EXP_DIR ? "experiments" : "data",
                         np->name, err);
        return rc < 0 ? rc : action_set_attr(fs, np, mode & 07777, -1, err);
    case NODE_COMPUTE_DIR:
        return make_object(fs, "computes", np->name, err);
    case NODE_DATASTORE_DIR:
        return make_object(fs, "datastores", np->name, err);
    case NODE_DATASTORE_FILE:
        return amlfs_fail(err, EACCES, "%s: a datastore's files are read-only here", path);
    case NODE_DATA_VERSION_FILE:
        return amlfs_fail(err, EACCES, "%s: a data asset's versions are read-only: write data.yaml for a new one", path);
    case NODE_RUN_SNAPSHOT_FILE:
        return amlfs_fail(err, EACCES, "%s: the snapshot of a run is read-only", path);
    case NODE_RUN_OUTPUTS_FILE:
        return amlfs_fail(err, EACCES, "%s: the outputs and logs of a run are read-only (its job writes them)", path);
    case NODE_ENV_FILE:
    case NODE_DATA_FILE:
    case NODE_EXP_FILE: {
        char *url = view_files_url(np);
        char *dir_url = client_mkdir_url(url, (unsigned)mode);
        int rc = client_put_bytes(fs->client, dir_url, "", 0, NULL, err);
        free(dir_url);
        free(url);
        return rc;
    }
    case NODE_NONE: {
        const char *collection = collection_of(path, &name);
        if (collection)
            return make_object(fs, collection, name, err);
        return amlfs_fail(err, EACCES, "%s: nothing can be made here", path);
    }
    default:
        /* The kernel asks only after a lookup found nothing: a place whose objects come from
         * elsewhere (runs from job.yaml, versions from environment.yaml). */
        return amlfs_fail(err, EPERM, "%s: folders here are made by the workspace, not by mkdir", path);
    }
}

int action_rmdir(fs_state *fs, const node_path *np, amlfs_err *err)
{
    switch (np->kind) {
    case NODE_ENV_DIR:
        return delete_object(fs, "environments", np->name, err);
    case NODE_EXP_DIR:
        return delete_object(fs, "experiments", np->name, err);
    case NODE_COMPUTE_DIR:
        return delete_object(fs, "computes", np->name, err);
    case NODE_DATA_DIR:
        return delete_object(fs, "data", np->name, err);
    case NODE_DATASTORE_DIR:
        return delete_object(fs, "datastores", np->name, err);
    case NODE_DATASTORE_FILE:
        return amlfs_fail(err, EACCES, "a datastore's files are read-only here");
    case NODE_DATA_VERSION_FILE:
        return amlfs_fail(err, EACCES, "a data asset's versions are read-only");
    case NODE_ENV_FILE:
    case NODE_DATA_FILE:
    case NODE_EXP_FILE: {
        char *url = view_files_url(np);
        int rc = client_delete(fs->client, url, err);
        free(url);
        return rc;
    }
    case NODE_NONE:
        return amlfs_fail(err, ENOENT, "no such folder");
    case NODE_RUN_SNAPSHOT_FILE:
        return amlfs_fail(err, EACCES, "the snapshot of a run is read-only");
    case NODE_RUN_OUTPUTS_FILE:
        return amlfs_fail(err, EACCES, "the outputs and logs of a run are read-only (its job writes them)");
    default:
        if (node_is_fixed_dir(np->kind))
            return amlfs_fail(err, EACCES, "this folder is part of the mount and cannot be removed");
        return amlfs_fail(err, ENOTDIR, "not a folder");
    }
}

static void release_hold(fs_state *fs, const node_path *hold, bool marked);
static bool hold_marked(fs_state *fs, const char *url);

int action_unlink(fs_state *fs, const node_path *np, amlfs_err *err)
{
    if (node_is_stored(np->kind)) {
        char *url = view_files_url(np);
        bool hold = np->rel && strcmp(np->rel, HOLD_NAME) == 0;
        bool marked = hold && hold_marked(fs, url);
        int rc = client_delete(fs->client, url, err);
        free(url);
        if (rc == 0 && hold)
            release_hold(fs, np, marked);
        return rc;
    }
    if (np->kind == NODE_NONE)
        return amlfs_fail(err, ENOENT, "no such file");
    if (node_is_fixed_dir(np->kind))
        return amlfs_fail(err, EISDIR, "a folder");
    return amlfs_fail(err, EACCES, "this file is part of the mount and cannot be removed");
}

int action_create(fs_state *fs, const node_path *np, mode_t mode, cJSON **entry, amlfs_err *err)
{
    *entry = NULL;
    if (!node_is_stored(np->kind))
        return amlfs_fail(err, EACCES, "files cannot be made here");
    char *url = view_files_url(np);
    char *put_url = client_attr_url(url, (long)mode, -1);
    int rc = client_put_bytes(fs->client, put_url, "", 0, entry, err);
    free(put_url);
    free(url);
    return rc;
}

int action_symlink(fs_state *fs, const node_path *np, const char *target, amlfs_err *err)
{
    if (!node_is_stored(np->kind))
        return amlfs_fail(err, EACCES, "symlinks cannot be made here");
    char *url = view_files_url(np);
    char *put_url = client_symlink_url(url, target);
    int rc = client_put_bytes(fs->client, put_url, "", 0, NULL, err);
    free(put_url);
    free(url);
    return rc;
}

/* ---- specs: the actions a finished write takes ---- */

static const char *spec_filename(spec_kind spec)
{
    return spec == SPEC_JOB           ? "job.yaml"
           : spec == SPEC_ENVIRONMENT ? "environment.yaml"
           : spec == SPEC_DATA        ? "data.yaml"
           : spec == SPEC_DATASTORE   ? "datastore.yaml"
                                      : "compute.yaml";
}

/* The workspace's limits named field ("snapshot_limits" for code, "data_limits" for data) as workspace.json
 * shows them, else the given defaults: the mount checks what the server will, before uploading. */
static snapshot_limits workspace_limits(fs_state *fs, const char *field, uint64_t mb, uint64_t files)
{
    cJSON *ws = NULL;
    amlfs_err ignored = {0};
    if (client_get_json(fs->client, CLIENT_WORKSPACE_URL, true, &ws, &ignored) == 0) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(ws, field);
        const cJSON *jmb = cJSON_GetObjectItemCaseSensitive(l, "max_mb");
        const cJSON *jfiles = cJSON_GetObjectItemCaseSensitive(l, "max_files");
        if (cJSON_IsNumber(jmb) && jmb->valuedouble >= 1)
            mb = (uint64_t)jmb->valuedouble;
        if (cJSON_IsNumber(jfiles) && jfiles->valuedouble >= 1)
            files = (uint64_t)jfiles->valuedouble;
    }
    cJSON_Delete(ws);
    return (snapshot_limits){.max_bytes = mb * 1024 * 1024, .max_files = files};
}

/* The snapshot limits of a job: its `amlfs.snapshot_*` properties, else the workspace's. */
static snapshot_limits job_limits(fs_state *fs, const job_spec *job)
{
    snapshot_limits l = workspace_limits(fs, "snapshot_limits", SNAPSHOT_DEFAULT_MAX_BYTES / (1024 * 1024),
                                         SNAPSHOT_DEFAULT_MAX_FILES);
    if (job->snapshot_max_mb)
        l.max_bytes = job->snapshot_max_mb * 1024 * 1024;
    if (job->snapshot_max_files)
        l.max_files = job->snapshot_max_files;
    return l;
}

/* Data has limits of its own (amlfs-server --data-max-mb/--data-max-files). */
static snapshot_limits data_limits(fs_state *fs)
{
    return workspace_limits(fs, "data_limits", SPEC_DATA_MAX_MB, SPEC_DATA_MAX_FILES);
}

/* An absolute folder (or file) is on this machine: snapshot it here and upload only what the server lacks, then
 * send the snapshot's hash as hashes[key]. When it cannot be snapshotted (over the limits, unreadable, a
 * symlink leading out), send why instead as errors[key] = {errno, message}: the server refuses the spec
 * with that reason in the folder's status, like any other problem of the file, and nothing is created.
 * The two objects are made in body when first needed; a NULL key puts the value at the object itself. */
static void upload_local_path(fs_state *fs, const char *path, const char *data_type, const snapshot_limits *limits,
                              cJSON *body, const char *hashes, const char *errors, const char *key)
{
    char hash[SNAPSHOT_SHA_HEX];
    amlfs_err why = {0};
    struct stat st;
    int rc = 0;
    /* A data path's kind is checked here, where it is: a one-file snapshot looks like a folder of one file. */
    if (data_type && stat(path, &st) == 0) {
        bool want_file = strcmp(data_type, "uri_file") == 0;
        if (want_file && S_ISDIR(st.st_mode))
            rc = amlfs_fail(&why, EINVAL, "%s is a folder: write `type: uri_folder`", path);
        else if (!want_file && S_ISREG(st.st_mode))
            rc = amlfs_fail(&why, EINVAL, "%s is a file: write `type: uri_file`", path);
    }
    if (rc == 0)
        rc = client_snapshot_upload(fs->client, path, limits, hash, &why);
    const char *field = rc == 0 ? hashes : errors;
    cJSON *into = body;
    if (key) {
        into = cJSON_GetObjectItemCaseSensitive(body, field);
        if (!into)
            into = cJSON_AddObjectToObject(body, field);
    }
    const char *name = key ? key : field;
    if (rc == 0) {
        cJSON_AddStringToObject(into, name, hash);
    } else {
        cJSON *e = cJSON_AddObjectToObject(into, name);
        cJSON_AddStringToObject(e, "errno", api_errno_name(-rc));
        cJSON_AddStringToObject(e, "message", why.msg);
    }
}

/* A job's absolute code: folder ("snapshot" / "code_error") and absolute input folders, each its own
 * snapshot within the data limits ("input_snapshots" / "input_errors" by input name); an absolute
 * uri_file is a snapshot of that file alone. */
static void add_local_code(fs_state *fs, const char *text, size_t len, const char *filename, cJSON *body)
{
    job_spec job;
    amlfs_err ignored = {0};
    if (spec_parse_job(text, len, filename, &job, &ignored) < 0)
        return; /* the server says what is wrong with the file */
    for (size_t i = 0; i < job.data_inputs.count; i++) {
        const spec_kv *in = &job.data_inputs.items[i];
        /* The server resolves the rest. */
        if (in->value[0] == '/') {
            snapshot_limits limits = data_limits(fs);
            upload_local_path(fs, in->value, job.data_input_types[i], &limits, body, "input_snapshots", "input_errors",
                              in->key);
        }
    }
    if (job.code && job.code[0] == '/') {
        snapshot_limits limits = job_limits(fs, &job);
        upload_local_path(fs, job.code, NULL, &limits, body, "snapshot", "code_error", NULL);
    }
    spec_job_free(&job);
}

/* data.yaml with an absolute folder or file: uploaded from here as "snapshot" (or why not, as "code_error"). */
static void add_local_data(fs_state *fs, const char *text, size_t len, cJSON *body)
{
    data_spec spec;
    amlfs_err ignored = {0};
    if (spec_parse_data(text, len, "data.yaml", &spec, &ignored) < 0)
        return; /* the server says what is wrong with the file */
    if (spec.path && spec.path[0] == '/') {
        snapshot_limits limits = data_limits(fs);
        upload_local_path(fs, spec.path, spec.type, &limits, body, "snapshot", "code_error", NULL);
    }
    spec_data_free(&spec);
}

/* Submit a run, register an environment version, or create/update a compute from the text written.
 * A refusal comes back as the server's errno; the server also records it in the folder's status. */
static int apply_spec(fs_state *fs, const node_path *np, const char *text, size_t len, amlfs_err *err)
{
    char *dir = NULL;
    spec_kind spec = node_spec_kind(np, &dir);
    if (spec == SPEC_NONE)
        return 0;
    cJSON *body = cJSON_CreateObject();
    /* A NUL byte cannot travel in a JSON string: the text up to it, and where it was (http_spec_len). */
    const char *nul = memchr(text, '\0', len);
    char *yaml = util_strdupf("%.*s", (int)(nul ? (size_t)(nul - text) : len), text);
    cJSON_AddStringToObject(body, "yaml", yaml);
    if (nul)
        cJSON_AddNumberToObject(body, "nul_at", (double)(nul - text));
    cJSON_AddStringToObject(body, "filename", spec_filename(spec));
    free(yaml);
    char *url;
    const char *method = "POST";
    if (spec == SPEC_JOB) {
        cJSON_AddStringToObject(body, "dir", dir ? dir : "");
        add_local_code(fs, text, len, spec_filename(spec), body);
        url = object_url("experiments", np->name, "/runs");
    } else if (spec == SPEC_ENVIRONMENT) {
        url = object_url("environments", np->name, "/versions");
    } else if (spec == SPEC_DATA) {
        add_local_data(fs, text, len, body);
        url = object_url("data", np->name, "/versions");
    } else {
        url = object_url(spec == SPEC_DATASTORE ? "datastores" : "computes", np->name, NULL);
        method = "PUT";
    }
    int rc = json_call(fs, method, url, body, err);
    if (rc < 0)
        fs_log("%s of %s %s refused: %s", spec_filename(spec),
               spec == SPEC_COMPUTE     ? "compute"
               : spec == SPEC_DATASTORE ? "datastore"
               : spec == SPEC_JOB       ? "experiment"
               : spec == SPEC_DATA      ? "data asset"
                                        : "environment",
               np->name, err ? err->msg : "");
    free(url);
    free(dir);
    return rc;
}

char *spec_key(const node_path *np)
{
    return util_strdupf("%d/%s/%s", (int)np->kind, np->name, np->rel ? np->rel : "");
}

/* The spec at the root of a stored folder that .amlfs-hold holds: job.yaml, environment.yaml, data.yaml. */
static const char *held_spec_name(node_kind kind)
{
    return kind == NODE_EXP_FILE ? "job.yaml" : kind == NODE_ENV_FILE ? "environment.yaml" : kind == NODE_DATA_FILE ? "data.yaml" : NULL;
}

/* Whether np's folder has .amlfs-hold at its root now. */
static bool held(fs_state *fs, const node_path *np)
{
    node_path hold = *np;
    hold.rel = HOLD_NAME;
    cJSON *entry = NULL;
    bool found = view_stored_entry(fs, &hold, true, &entry, NULL) == 0;
    cJSON_Delete(entry);
    return found;
}

int action_act_on_spec(fs_state *fs, const node_path *np, const char *text, size_t len, const char *before,
                       size_t before_len, pid_t tgid, amlfs_err *err)
{
    char *key = spec_key(np);
    int rc = 0;
    const char *name = held_spec_name(np->kind);
    if (guard_take_restore(fs->guards, key, tgid, text, len)) {
        fs_log("%s of %s: the text it held before the refused save was put back; not a new save",
               np->rel ? np->rel : "spec", np->name);
    } else if (name && held(fs, np)) {
        /* A copy under way (cp -r, rsync, tar): acted on when .amlfs-hold is removed. */
        node_path folder = *np;
        folder.rel = HOLD_NAME;
        char *folder_key = spec_key(&folder);
        guard_hold_mark(fs->guards, folder_key);
        free(folder_key);
        char *url = view_files_url(&folder);
        char *mark = util_strdupf(HOLD_MARK "%s was saved while this file was here: removing it acts on it\n", name);
        amlfs_err why = {0};
        if (client_put_bytes(fs->client, url, mark, strlen(mark), NULL, &why) < 0) /* this mount still knows */
            fs_log("%s of %s is held, but %s could not say so: %s", name, np->name, HOLD_NAME, why.msg);
        free(mark);
        free(url);
    } else {
        rc = apply_spec(fs, np, text, len, err);
        if (rc < 0 && rc != -EIO)
            guard_refused(fs->guards, key, tgid, before, before_len);
    }
    free(key);
    return rc;
}

/* Whether the .amlfs-hold at url says it held a save (a small file starting with the mark). */
static bool hold_marked(fs_state *fs, const char *url)
{
    char *data = NULL;
    size_t len = 0;
    bool marked = client_get_bytes(fs->client, url, 0, HOLD_MARK_MAX, &data, &len, NULL, NULL) == 0 &&
                  len >= sizeof HOLD_MARK - 1 && memcmp(data, HOLD_MARK, sizeof HOLD_MARK - 1) == 0;
    free(data);
    return marked;
}

/* .amlfs-hold was removed: act on the folder's spec if it was saved while the hold was there (this mount
 * remembers it, or the hold said so: marked). */
static void release_hold(fs_state *fs, const node_path *hold, bool marked)
{
    char *folder_key = spec_key(hold);
    bool pending = guard_hold_take(fs->guards, folder_key) || marked;
    free(folder_key);
    const char *name = held_spec_name(hold->kind);
    if (!pending || !name)
        return;
    node_path spec = *hold;
    spec.rel = name;
    char *text = NULL;
    size_t len = 0;
    amlfs_err why = {0};
    int rc = action_spec_text(fs, &spec, &text, &len, &why);
    if (rc == 0)
        rc = action_act_on_spec(fs, &spec, text, len, NULL, 0, 0, &why);
    if (rc < 0)
        fs_log("%s of %s, held until %s was removed: %s", name, hold->name, HOLD_NAME, why.msg);
    free(text);
}

/* ---- rename ---- */

static bool same_folder(const node_path *a, const node_path *b)
{
    return a->kind == b->kind && node_is_stored(a->kind) && strcmp(a->name, b->name) == 0;
}

static int rename_stored(fs_state *fs, const node_path *from, const node_path *to, amlfs_err *err)
{
    char *url = view_files_url(from);
    char *post_url = client_rename_url(url, to->rel);
    int rc = client_send_json(fs->client, "POST", post_url, NULL, NULL, err);
    free(post_url);
    free(url);
    return rc;
}

/* A rename onto a spec that was refused, taken back: the file to its old name, the spec's old text
 * (old, NULL: there was none) to the spec. */
static int undo_rename(fs_state *fs, const node_path *from, const node_path *to, const char *old, size_t old_len)
{
    amlfs_err why = {0};
    int rc = rename_stored(fs, to, from, &why);
    if (rc == 0 && old) {
        char *url = view_files_url(to);
        rc = client_put_bytes(fs->client, url, old, old_len, NULL, &why);
        free(url);
    }
    if (rc < 0)
        fs_log("%s of %s: the refused rename could not be taken back: %s", to->rel, to->name, why.msg);
    return rc;
}

int action_rename(fs_state *fs, const node_path *from, const node_path *to, unsigned flags, pid_t tgid,
                  bool *renamed, amlfs_err *err)
{
    *renamed = false;
    if (!node_is_stored(from->kind) || !node_is_stored(to->kind)) {
        if (from->kind == NODE_NONE)
            return amlfs_fail(err, ENOENT, "no such file");
        if (node_is_stored(from->kind) && to->kind == NODE_NONE)
            return amlfs_fail(err, EACCES, "nothing can be made there");
        return amlfs_fail(err, node_is_stored(from->kind) ? EACCES : EPERM,
                          "only files in experiment and environment folders can be renamed");
    }
    if (!same_folder(from, to))
        return amlfs_fail(err, EXDEV, "rename across folders of different objects");
    if (flags & RENAME_EXCHANGE)
        return amlfs_fail(err, EINVAL, "exchanging files is not supported");
    if (flags & RENAME_NOREPLACE) {
        cJSON *entry = NULL;
        int rc = view_stored_entry(fs, to, true, &entry, NULL);
        cJSON_Delete(entry);
        if (rc == 0)
            return amlfs_fail(err, EEXIST, "%s exists", to->rel);
    }
    /* Renamed onto a spec name (an editor's save): act on the content it has. Read before the rename:
     * stored under the spec's name, a registry password reads back as *** (the server hides it). A
     * spec renamed away (an editor's backup) is remembered, in case that editor's save is refused. */
    bool spec = node_spec_kind(to, NULL) != SPEC_NONE;
    bool spec_away = node_spec_kind(from, NULL) != SPEC_NONE;
    char *data = NULL, *old = NULL;
    size_t len = 0, old_len = 0;
    amlfs_err why_not = {0};
    bool have = (spec || spec_away) && action_spec_text(fs, from, &data, &len, &why_not) == 0;
    /* Too large to be a spec: refused before anything moves (it would be refused once renamed). */
    if (spec && !have && why_not.code == EFBIG)
        return amlfs_fail(err, EFBIG, "%s is larger than a spec file may be: not renamed onto %s", from->rel, to->rel);
    bool had_old = spec && action_spec_text(fs, to, &old, &old_len, NULL) == 0;
    int rc = rename_stored(fs, from, to, err);
    *renamed = rc == 0;
    if (rc == 0 && spec_away && have) {
        char *key = spec_key(from);
        guard_moved_away(fs->guards, key, tgid, data, len);
        free(key);
    }
    if (rc == 0 && spec && !have)
        rc = action_spec_text(fs, to, &data, &len, err);
    if (rc == 0 && spec) {
        rc = action_act_on_spec(fs, to, data, len, NULL, 0, tgid, err);
        /* Refused: the rename is undone, so nothing changed but the folder's status (the mover still
         * has its file, the spec its text). mv reads EINVAL from rename(2) as "cannot move ... to a
         * subdirectory of itself": a refused spec says "Bad message" instead. */
        if (rc < 0 && rc != -EIO && undo_rename(fs, from, to, had_old ? old : NULL, old_len) == 0)
            *renamed = false;
        if (rc == -EINVAL)
            rc = -EBADMSG;
    }
    free(old);
    free(data);
    return rc;
}

/* ---- ctl ---- */

int action_ctl(fs_state *fs, const node_path *np, const char *text, size_t len, amlfs_err *err)
{
    /* The server reads the command and keeps what became of it, for `cat ctl` (h_ctl.c). */
    char *command = util_strdupf("%.*s", (int)(len > 256 ? 256 : len), text);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "command", command);
    char *url = object_url(np->kind == NODE_ENV_CTL ? "environments" : "runs", np->name, "/ctl");
    int rc = client_send_json(fs->client, "POST", url, body, NULL, err);
    free(url);
    cJSON_Delete(body);
    free(command);
    return rc;
}
