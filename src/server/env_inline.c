/* env_inline.c: a job's anonymous environment (an inline `environment:` mapping, or `file:PATH`): its text,
 * its build context and conda file read from the job's folder, and its name from that content (anon-HASH12). */
#include "amlfs/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/util.h"

#define ANON_PREFIX "anon-"
#define ANON_HEX 12
/* Where an anonymous environment keeps what it was made from, in its own folder (environments/anon-X). */
#define ANON_CONTEXT "context"
#define ANON_CONDA "conda.yml"
/* An environment file or a conda file larger than this is not one. */
#define SMALL_FILE_MAX (1024 * 1024)

void env_inline_free(env_inline *e)
{
    if (!e)
        return;
    free(e->name);
    free(e->yaml);
    free(e->filename);
    free(e->conda);
    spec_env_free(&e->spec);
    memset(e, 0, sizeof *e);
}

typedef struct prep {
    server *srv;
    const env_inline_source *src;
    env_inline *e;
    char *root;                 /* DATA_DIR/experiments/NAME/files */
    char *base;                 /* where the environment's paths start, inside the experiment ("" = its root) */
    const env_spec *at;         /* positions in messages: the job's own parse for an inline environment (the
                                   text kept is re-emitted), the file's for file:PATH */
    amlfs_err *err;
} prep;

/* A refusal about the environment at `pos`: of the job file for an inline one; of the environment file
 * for file:PATH, said at the job's `environment:` so the status line names the job's line first. */
static int fail_at(prep *p, spec_pos pos, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(prep *p, spec_pos pos, int errnum, const char *fmt, ...)
{
    char msg[sizeof ((amlfs_err *)NULL)->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const job_spec *job = p->src->job;
    if (!job->environment_file)
        return spec_fail_at(p->err, errnum, p->src->filename, pos, "%s", msg);
    amlfs_err inner = {0};
    spec_fail_at(&inner, errnum, p->e->filename, pos, "%s", msg);
    return spec_fail_at(p->err, errnum, p->src->filename, job->environment_pos, "environment file '%s': %s",
                        job->environment_file, inner.msg);
}

/* A small file of the experiment (an environment or conda file): -ENOENT, -EISDIR, -EFBIG... with why. */
static int read_small(prep *p, const char *rel, char **text, amlfs_err *why)
{
    size_t len = 0;
    if (!rel[0])
        return amlfs_fail(why, EISDIR, "it is the experiment's folder");
    int rc = folder_read(p->root, rel, 0, SMALL_FILE_MAX + 1, text, &len, why);
    if (rc == 0 && len > SMALL_FILE_MAX) {
        free(*text);
        *text = NULL;
        rc = amlfs_fail(why, EFBIG, "it is over %d KB", SMALL_FILE_MAX / 1024);
    }
    return rc;
}

/* A path written in the environment (build.path, conda_file) as a path of the experiment: it starts at
 * the job's folder (an environment file's own folder for file:PATH) and stays in the experiment. */
static int experiment_path(prep *p, const char *key, const char *written, spec_pos pos, char **rel)
{
    const char *whose = p->src->job->environment_file ? "the environment file" : p->src->filename;
    if (written[0] == '/' || strstr(written, "://"))
        return fail_at(p, pos, EINVAL, "%s '%s' must be a path in experiment '%s', relative to %s's folder", key,
                       written, p->src->experiment, whose);
    if (submit_relpath(p->base, written, rel) < 0)
        return fail_at(p, pos, EINVAL, "%s '%s' leads outside the experiment folder", key, written);
    return 0;
}

/* The environment's text: the inline mapping, or the file file:PATH names. Parsed into e->spec. */
static int read_text(prep *p)
{
    const env_inline_source *src = p->src;
    const job_spec *job = src->job;
    env_inline *e = p->e;
    if (!job->environment_file) {
        e->filename = util_xstrdup(src->filename);
        p->base = util_xstrdup(src->dir);
        int rc = spec_job_inline_env_yaml(src->yaml, src->len, src->filename, &e->yaml, p->err);
        return rc < 0 ? rc : spec_parse_env(e->yaml, strlen(e->yaml), e->filename, &e->spec, p->err);
    }
    const char *written = job->environment_file;
    spec_pos pos = job->environment_pos;
    char *rel = NULL;
    if (written[0] == '/' || strstr(written, "://"))
        return spec_fail_at(p->err, EINVAL, src->filename, pos,
                            "environment file '%s' must be a file of experiment '%s', relative to %s's folder",
                            written, src->experiment, src->filename);
    if (submit_relpath(src->dir, written, &rel) < 0)
        return spec_fail_at(p->err, EINVAL, src->filename, pos,
                            "environment file '%s' leads outside the experiment folder", written);
    e->filename = rel;
    const char *slash = strrchr(rel, '/');
    p->base = util_strdupf("%.*s", slash ? (int)(slash - rel) : 0, rel);
    amlfs_err why = {0};
    int rc = read_small(p, rel, &e->yaml, &why);
    if (rc == -ENOENT)
        return spec_fail_at(p->err, ENOENT, src->filename, pos, "environment file '%s' not found in experiment '%s'",
                            written, src->experiment);
    if (rc == -EISDIR)
        return spec_fail_at(p->err, EINVAL, src->filename, pos, "environment file '%s' is a folder", written);
    if (rc < 0)
        return spec_fail_at(p->err, rc == -EXDEV ? EINVAL : -rc, src->filename, pos, "environment file '%s': %s",
                            written, rc == -EXDEV ? "it leads outside the experiment folder" : why.msg);
    rc = spec_parse_env(e->yaml, strlen(e->yaml), rel, &e->spec, &why);
    if (rc < 0)
        return spec_fail_at(p->err, -rc, src->filename, pos, "environment file '%s' is not an environment: %s",
                            written, why.msg);
    return 0;
}

/* Path (relative to the experiment) made relative to folder `dir`, or NULL when it is not inside it. */
static const char *inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (!n)
        return path;
    return strncmp(path, dir, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

/* The build context: the folder build.path names, snapshotted with its ignore rules (each content stored
 * once, like code), without editors' scratch files and without the job file and environment file
 * themselves (a context at the job's own folder would otherwise change with every edit of the job). */
static int read_context(prep *p)
{
    env_inline *e = p->e;
    const env_spec *s = &e->spec;
    if (!s->has_build)
        return 0;
    spec_pos pos = p->at->build_path_pos.line ? p->at->build_path_pos : p->at->build_pos;
    const char *written = s->build_path ? s->build_path : ".";
    char *rel = NULL, *abs = NULL;
    int rc = experiment_path(p, "build.path", written, pos, &rel);
    amlfs_err why = {0};
    if (rc == 0 && (rc = folder_resolve_dir(p->root, rel, &abs, &why)) < 0) {
        if (rc == -ENOENT)
            rc = fail_at(p, pos, ENOENT, "build.path '%s' not found in experiment '%s'", written, p->src->experiment);
        else if (rc == -ENOTDIR)
            rc = fail_at(p, pos, EINVAL, "build.path '%s' is not a folder", written);
        else
            rc = fail_at(p, pos, rc == -EXDEV ? EINVAL : -rc, "build.path '%s': %s", written,
                         rc == -EXDEV ? "it leads outside the experiment folder" : why.msg);
    }
    snapshot_manifest all, m;
    snapshot_manifest_init(&m);
    if (rc == 0 && (rc = server_snapshot_folder(p->srv, abs, &p->src->limits, &all, &why)) < 0)
        rc = fail_at(p, pos, -rc, "build.path '%s': %s", written, why.msg);
    if (rc == 0) {
        char *job_file = p->src->dir[0] ? util_strdupf("%s/%s", p->src->dir, p->src->filename)
                                        : util_xstrdup(p->src->filename);
        const char *skip_job = inside(job_file, rel);
        const char *skip_env = p->src->job->environment_file ? inside(e->filename, rel) : NULL;
        for (size_t i = 0; i < all.count; i++) {
            const snapshot_entry *x = &all.entries[i];
            const char *slash = strrchr(x->path, '/');
            if (util_is_editor_scratch(slash ? slash + 1 : x->path) || (skip_job && strcmp(x->path, skip_job) == 0) ||
                (skip_env && strcmp(x->path, skip_env) == 0))
                continue;
            snapshot_manifest_add(&m, x->path, x->type, x->mode, x->size, x->type == SNAPSHOT_FILE ? x->sha256 : NULL,
                                  x->target);
        }
        free(job_file);
        snapshot_manifest_free(&all);
        rc = snapshot_manifest_finish(&m, &why);
        if (rc == 0)
            rc = server_snapshot_keep(p->srv, &m, &why);
        if (rc < 0)
            rc = fail_at(p, pos, -rc, "build.path '%s': %s", written, why.msg);
    }
    if (rc == 0) {
        const char *dockerfile = s->build_dockerfile ? s->build_dockerfile : "Dockerfile";
        while (dockerfile[0] == '.' && dockerfile[1] == '/')
            dockerfile += 2;
        const snapshot_entry *df = snapshot_manifest_find(&m, dockerfile);
        if (!df || df->type != SNAPSHOT_FILE)
            rc = fail_at(p, p->at->build_pos, ENOENT, "build.dockerfile_path '%s' is not a file in %s: put your "
                         "Dockerfile there", s->build_dockerfile ? s->build_dockerfile : "Dockerfile", written);
    }
    if (rc == 0)
        snprintf(e->context, sizeof e->context, "%s", m.hash);
    snapshot_manifest_free(&m);
    free(abs);
    free(rel);
    return rc;
}

/* The conda file, when conda_file is a path: its text is what the environment has. */
static int read_conda(prep *p)
{
    env_inline *e = p->e;
    const env_spec *s = &e->spec;
    if (!s->conda_file_path)
        return 0;
    const char *written = s->conda_file_path;
    char *rel = NULL;
    spec_pos pos = p->at->conda_file_pos;
    int rc = experiment_path(p, "conda_file", written, pos, &rel);
    amlfs_err why = {0};
    if (rc == 0 && (rc = read_small(p, rel, &e->conda, &why)) < 0) {
        if (rc == -ENOENT)
            rc = fail_at(p, pos, ENOENT, "conda_file '%s' not found in experiment '%s'", written,
                         p->src->experiment);
        else if (rc == -EISDIR)
            rc = fail_at(p, pos, EINVAL, "conda_file '%s' is a folder", written);
        else
            rc = fail_at(p, pos, rc == -EXDEV ? EINVAL : -rc, "conda_file '%s': %s", written,
                         rc == -EXDEV ? "it leads outside the experiment folder" : why.msg);
    }
    free(rel);
    return rc;
}

/* anon-HASH12: HASH of the spec without name, version and secrets, where the build context is its
 * snapshot's hash and a conda file its text's hash (the paths they were read from are not content).
 * An environment with neither is named as before (its spec alone). */
static int name_it(prep *p)
{
    env_inline *e = p->e;
    cJSON *json = spec_env_to_json(&e->spec);
    cJSON_DeleteItemFromObjectCaseSensitive(json, "name");
    cJSON_DeleteItemFromObjectCaseSensitive(json, "version");
    int rc = 0;
    if (e->context[0]) {
        char *what = util_strdupf("snapshot:%s", e->context);
        cJSON *build = cJSON_GetObjectItemCaseSensitive(json, "build");
        cJSON_DeleteItemFromObjectCaseSensitive(build, "path");
        cJSON_AddStringToObject(build, "path", what);
        free(what);
    }
    if (e->conda) {
        char sha[SNAPSHOT_SHA_HEX];
        rc = snapshot_sha256_buffer(e->conda, strlen(e->conda), sha, p->err);
        char *what = util_strdupf("sha256:%s", sha);
        cJSON_DeleteItemFromObjectCaseSensitive(json, "conda_file");
        cJSON_AddStringToObject(json, "conda_file", what);
        free(what);
    }
    char *canonical = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    char hash[SNAPSHOT_SHA_HEX];
    if (rc == 0)
        rc = snapshot_sha256_buffer(canonical, strlen(canonical), hash, p->err);
    free(canonical);
    if (rc == 0)
        e->name = util_strdupf(ANON_PREFIX "%.*s", ANON_HEX, hash);
    return rc;
}

int env_inline_prepare(server *srv, const env_inline_source *src, env_inline *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    prep p = {.srv = srv, .src = src, .e = out, .err = err};
    p.root = server_path(srv, "experiments/%s/files", src->experiment);
    int rc = read_text(&p);
    p.at = src->job->environment_inline && !src->job->environment_file ? src->job->environment_inline : &out->spec;
    if (rc == 0 && (rc = read_context(&p)) == 0 && (rc = read_conda(&p)) == 0)
        rc = name_it(&p);
    /* What the version keeps: its paths in the anonymous environment's own folder, where its files go. */
    if (rc == 0 && (out->context[0] || out->conda)) {
        char *placed = NULL;
        rc = spec_env_yaml_relocate(out->yaml, strlen(out->yaml), out->context[0] ? ANON_CONTEXT : NULL,
                                    out->conda ? ANON_CONDA : NULL, &placed, err);
        if (rc == 0) {
            free(out->yaml);
            out->yaml = placed;
        }
    }
    free(p.root);
    free(p.base);
    if (rc < 0)
        env_inline_free(out);
    return rc;
}

int env_inline_place_files(server *srv, const env_inline *e, const char *files_dir, amlfs_err *err)
{
    int rc = 0;
    struct stat st;
    char *dest = util_strdupf("%s/" ANON_CONTEXT, files_dir);
    /* Named by its content: files there already are these (a folder is renamed in whole). */
    if (e->context[0] && stat(dest, &st) < 0) {
        char *tmp = util_strdupf("%s/.context-XXXXXX", files_dir);
        const snapshot_manifest *m = NULL;
        if (!mkdtemp(tmp))
            rc = amlfs_fail(err, errno, "cannot make a folder in %s: %s", files_dir, strerror(errno));
        if (rc == 0 && (rc = server_snapshot_get(srv, e->context, &m, err)) == 0)
            rc = snapshot_materialize(srv->snapshot_dir, m, tmp, err);
        server_snapshot_release(srv, m);
        if (rc == 0 && rename(tmp, dest) < 0 && errno != EEXIST && errno != ENOTEMPTY)
            rc = amlfs_fail(err, errno, "cannot create %s: %s", dest, strerror(errno));
        amlfs_err ignored = {0};
        if (access(tmp, F_OK) == 0)
            util_rm_rf(tmp, &ignored);
        free(tmp);
    }
    free(dest);
    char *conda = util_strdupf("%s/" ANON_CONDA, files_dir);
    if (rc == 0 && e->conda && stat(conda, &st) < 0)
        rc = util_write_file_atomic(conda, e->conda, strlen(e->conda), 0644, err);
    free(conda);
    return rc < 0 ? amlfs_wrap(err, "keeping the files of environment %s: ", e->name) : 0;
}
