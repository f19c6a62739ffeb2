/* identity.c: what defines an image environment as one content hash (the image's name), and the folder
 * DATA_DIR/images/HASH a build works from: the build context as registered, the conda step, meta.json. */
#include "amlfs/env_podman.h"
#include "amlfs/store.h"
#include "amlfs/util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when what the hash covers changes: old images are then simply built again. */
#define IDENTITY_FORMAT "amlfs-env-image-1"
#define SPEC_FILE "environment.yaml"
#define CONDA_FILE_MAX (1024 * 1024)

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A path relative to the environment's folder as users write it ("./src/", "."), cleaned to what
 * the store takes ("src", ""). NULL (with a reason) for absolute paths, URLs and '..'. */
static char *clean_relpath(const char *written, const char *key, amlfs_err *reason)
{
    if (strstr(written, "://") || written[0] == '/') {
        amlfs_fail(reason, EINVAL, "%s '%s' must be a path inside the environment's folder", key, written);
        return NULL;
    }
    const char *p = written;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    char *rel = util_xstrdup(strcmp(p, ".") == 0 ? "" : p);
    size_t len = strlen(rel);
    while (len > 0 && rel[len - 1] == '/')
        rel[--len] = '\0';
    if (len > 2 && strcmp(rel + len - 2, "/.") == 0)
        rel[len - 2] = '\0';
    if (rel[0] && util_check_relpath(rel, NULL) < 0) {
        amlfs_fail(reason, EINVAL, "%s '%s' must be a path inside the environment's folder (no '..')", key,
                   written);
        free(rel);
        return NULL;
    }
    return rel;
}

/* Image references go into a generated Dockerfile (FROM) and onto podman's command line. */
static int check_image_ref(const char *ref, amlfs_err *reason)
{
    if (ref[0] == '-' || strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/:@-") !=
                             strlen(ref))
        return amlfs_fail(reason, EINVAL, "image '%s' is not an image reference (like "
                          "registry.example.com/team/image:tag)", ref);
    return 0;
}

/* The build context folder of a build environment (absolute). */
static int context_folder(const env_version_ref *v, char **dir, bool *at_root, amlfs_err *reason)
{
    if (!v->context_dir)
        return amlfs_fail(reason, EINVAL, "a job's inline environment cannot have a build: create an "
                          "environment (mkdir environments/NAME) with its Dockerfile and refer to it");
    char *rel = clean_relpath(v->spec->build_path ? v->spec->build_path : ".", "build.path", reason);
    if (!rel)
        return -EINVAL;
    *at_root = rel[0] == '\0';
    int rc = 0;
    if (*at_root) {
        *dir = util_xstrdup(v->context_dir);
    } else {
        amlfs_err why = {0};
        rc = folder_resolve_dir(v->context_dir, rel, dir, &why);
        if (rc < 0)
            rc = amlfs_fail(reason, -rc, "build.path '%s' is not a folder of environments/%s: %s",
                            v->spec->build_path, v->name, why.msg);
    }
    free(rel);
    return rc;
}

/* The context's manifest without the spec file and scratch files. */
static int context_manifest(const char *dir, bool at_root, snapshot_manifest *out, amlfs_err *reason)
{
    snapshot_manifest all;
    snapshot_manifest_init(out);
    int rc = snapshot_manifest_build(dir, NULL, &all, reason);
    if (rc < 0)
        return amlfs_wrap(reason, "reading the build context: ");
    for (size_t i = 0; i < all.count; i++) {
        const snapshot_entry *e = &all.entries[i];
        if ((at_root && strcmp(e->path, SPEC_FILE) == 0) || util_is_editor_scratch(base_of(e->path)))
            continue;
        snapshot_manifest_add(out, e->path, e->type, e->mode, e->size, e->type == SNAPSHOT_FILE ? e->sha256 : NULL,
                              e->target);
    }
    snapshot_manifest_free(&all);
    rc = snapshot_manifest_finish(out, reason);
    return rc < 0 ? amlfs_wrap(reason, "reading the build context: ") : 0;
}

/* The conda spec's text, or NULL when there is none (or user_managed_dependencies says not to). */
static int conda_text(const env_version_ref *v, char **text, amlfs_err *reason)
{
    const env_spec *s = v->spec;
    *text = NULL;
    if (s->user_managed == 1)
        return 0;
    if (s->conda_file_inline) {
        *text = util_xstrdup(s->conda_file_inline);
        return 0;
    }
    if (!s->conda_file_path)
        return 0;
    if (!v->context_dir)
        return amlfs_fail(reason, EINVAL, "a job's inline environment must write its conda_file inline (a "
                          "mapping with channels and dependencies), not as a path");
    char *rel = clean_relpath(s->conda_file_path, "conda_file", reason);
    if (!rel)
        return -EINVAL;
    size_t len = 0;
    amlfs_err why = {0};
    /* A conda file lists packages: one over CONDA_FILE_MAX is refused, not read whole. */
    int rc = rel[0] ? folder_read(v->context_dir, rel, 0, CONDA_FILE_MAX + 1, text, &len, &why) : -EISDIR;
    if (rc == 0 && len > CONDA_FILE_MAX) {
        free(*text);
        *text = NULL;
        rc = amlfs_fail(&why, EFBIG, "it is over %d KiB: a conda file lists packages", CONDA_FILE_MAX >> 10);
    }
    if (rc < 0)
        rc = amlfs_fail(reason, -rc, "conda_file '%s' cannot be read from environments/%s: %s", s->conda_file_path,
                        v->name, rc == -EISDIR ? "it is a folder" : why.msg);
    free(rel);
    return rc;
}

static int write_text(const char *dir, const char *name, const char *text, amlfs_err *err)
{
    char *path = util_strdupf("%s/%s", dir, name);
    int rc = util_write_file_atomic(path, text, strlen(text), 0644, err);
    free(path);
    return rc;
}

/* conda/Dockerfile: the conda_file applied on top of base. Conda's network timeouts keep an
 * unreachable channel from hanging the build; the build's own deadline is the last resort. */
static int write_conda_step(const char *dir, const char *base, const char *conda, amlfs_err *err)
{
    char *folder = util_strdupf("%s/conda", dir);
    int rc = util_mkdir_p(folder, 0700, err);
    char *dockerfile = util_strdupf(
        "# Generated by amlfs: the environment's conda_file on top of its image.\n"
        "FROM %s\n"
        "COPY environment.yml /tmp/amlfs-conda/environment.yml\n"
        "RUN if ! command -v conda >/dev/null 2>&1; then echo \"amlfs: conda is not in the image %s: use an image "
        "that has conda (e.g. a miniconda image), or set user_managed_dependencies: true to use the image as "
        "it is\" >&2; exit 3; fi; CONDA_REMOTE_CONNECT_TIMEOUT_SECS=20 CONDA_REMOTE_READ_TIMEOUT_SECS=60 "
        "CONDA_REMOTE_MAX_RETRIES=2 conda env update --name base --file /tmp/amlfs-conda/environment.yml && "
        "conda clean --all --yes\n",
        base, base);
    if (rc == 0)
        rc = write_text(folder, "environment.yml", conda, err);
    if (rc == 0)
        rc = write_text(folder, "Dockerfile", dockerfile, err);
    free(dockerfile);
    free(folder);
    return rc;
}

static int write_meta(const char *dir, const char *kind, const char *image, const char *dockerfile, bool conda,
                      amlfs_err *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    if (image)
        cJSON_AddStringToObject(o, "image", image);
    if (dockerfile)
        cJSON_AddStringToObject(o, "dockerfile", dockerfile);
    cJSON_AddBoolToObject(o, "conda", conda);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    int rc = write_text(dir, "meta.json", text, err);
    free(text);
    return rc;
}

/* The build context as the manifest says, copied through a tar (libarchive) so that what is built is
 * exactly what was hashed: a file changed meanwhile is -EAGAIN. */
static int copy_context(const char *from, const snapshot_manifest *m, const char *tmp, amlfs_err *err)
{
    char *tar = util_strdupf("%s/context.tar", tmp);
    char *dest = util_strdupf("%s/context", tmp);
    int fd = open(tar, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = fd < 0 ? amlfs_fail(err, errno, "cannot create %s: %s", tar, strerror(errno)) : 0;
    if (rc == 0 && (rc = snapshot_pack_fd(from, m, NULL, fd, err)) >= 0) {
        rc = lseek(fd, 0, SEEK_SET) < 0 ? amlfs_fail(err, errno, "%s: %s", tar, strerror(errno)) : 0;
        if (rc == 0)
            rc = snapshot_extract_fd(fd, dest, NULL, err);
    }
    if (fd >= 0)
        close(fd);
    unlink(tar);
    free(tar);
    free(dest);
    return rc < 0 ? rc : 0;
}

typedef struct identity_parts {
    const char *kind;
    const char *image;
    const char *context_dir;    /* build: absolute */
    snapshot_manifest context;
    char *dockerfile;           /* build: cleaned, relative to the context */
    char *conda;
} identity_parts;

static int make_build_dir(env_images *im, const env_identity *id, identity_parts *p, amlfs_err *reason)
{
    struct stat st;
    if (stat(id->dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0; /* the same content was registered before: it is all there */
    char *tmp = util_strdupf("%s/.new-XXXXXX", im->images_dir);
    if (!mkdtemp(tmp)) {
        int rc = amlfs_fail(reason, errno, "cannot make a folder in %s: %s", im->images_dir, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = 0;
    if (strcmp(p->kind, "build") == 0)
        rc = copy_context(p->context_dir, &p->context, tmp, reason);
    if (rc == 0 && p->conda) {
        char *base = strcmp(p->kind, "build") == 0 ? env_base_tag(id->tag) : util_xstrdup(p->image);
        rc = write_conda_step(tmp, base, p->conda, reason);
        free(base);
    }
    if (rc == 0)
        rc = write_meta(tmp, p->kind, p->image, p->dockerfile, p->conda != NULL, reason);
    if (rc == 0 && rename(tmp, id->dir) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            rc = amlfs_fail(reason, errno, "cannot create %s: %s", id->dir, strerror(errno));
        /* else: a registration of the same content finished first; its folder is as good */
    }
    amlfs_err ignored = {0};
    if (rc < 0 || access(tmp, F_OK) == 0)
        util_rm_rf(tmp, &ignored);
    free(tmp);
    return rc;
}

static int gather(const env_version_ref *v, identity_parts *p, char **context_dir, amlfs_err *reason)
{
    const env_spec *s = v->spec;
    if (s->os_type && strcmp(s->os_type, "windows") == 0)
        return amlfs_fail(reason, EINVAL, "os_type windows: Windows images cannot run on this Linux machine");
    int rc = conda_text(v, &p->conda, reason);
    if (rc < 0)
        return rc;
    if (s->image) {
        p->kind = "image";
        p->image = s->image;
        return check_image_ref(s->image, reason);
    }
    p->kind = "build";
    bool at_root = false;
    if ((rc = context_folder(v, context_dir, &at_root, reason)) < 0)
        return rc;
    p->context_dir = *context_dir;
    const char *written = s->build_dockerfile ? s->build_dockerfile : "Dockerfile";
    p->dockerfile = clean_relpath(written, "build.dockerfile_path", reason);
    if (!p->dockerfile)
        return -EINVAL;
    rc = context_manifest(p->context_dir, at_root, &p->context, reason);
    const snapshot_entry *e = rc == 0 ? snapshot_manifest_find(&p->context, p->dockerfile) : NULL;
    if (rc == 0 && (!e || e->type != SNAPSHOT_FILE))
        rc = amlfs_fail(reason, ENOENT, "build.dockerfile_path '%s' is not a file in the build context "
                        "(environments/%s/%s): copy your Dockerfile there", written, v->name,
                        s->build_path && strcmp(s->build_path, ".") ? s->build_path : "");
    return rc;
}

int env_identity_prepare(env_images *im, const env_version_ref *v, env_identity *out, amlfs_err *reason)
{
    memset(out, 0, sizeof *out);
    identity_parts p;
    memset(&p, 0, sizeof p);
    snapshot_manifest_init(&p.context);
    char *context_dir = NULL;
    int rc = gather(v, &p, &context_dir, reason);
    char *text = NULL;
    if (rc == 0) {
        char conda_sha[SNAPSHOT_SHA_HEX] = "-";
        if (p.conda)
            rc = snapshot_sha256_buffer(p.conda, strlen(p.conda), conda_sha, reason);
        const env_spec *s = v->spec;
        text = util_strdupf(IDENTITY_FORMAT "\nkind %s\nimage %s\nregistry %s\ncontext %s\ndockerfile %s\nconda %s\n",
                            p.kind, p.image ? p.image : "-", s->registry_address ? s->registry_address : "-",
                            p.context.hash[0] ? p.context.hash : "-", p.context_dir ? p.dockerfile : "-", conda_sha);
    }
    if (rc == 0)
        rc = snapshot_sha256_buffer(text, strlen(text), out->hash, reason);
    if (rc == 0) {
        env_identity_of_hash(im, out->hash, out);
        rc = make_build_dir(im, out, &p, reason);
        if (rc == -EAGAIN) /* a file changed between hashing and copying */
            amlfs_fail(reason, EAGAIN, "the build context changed while it was being read: write "
                       "environment.yaml again when the files are in place");
    }
    free(text);
    free(context_dir);
    free(p.dockerfile);
    free(p.conda);
    snapshot_manifest_free(&p.context);
    if (rc < 0)
        env_identity_free(out);
    return rc;
}

void env_identity_of_hash(env_images *im, const char *hash, env_identity *out)
{
    if (out->hash != hash)
        snprintf(out->hash, sizeof out->hash, "%s", hash);
    out->tag = util_strdupf(ENV_IMAGE_REPO ":%.*s", ENV_TAG_HEX, hash);
    out->dir = util_strdupf("%s/%s", im->images_dir, hash);
}

void env_identity_free(env_identity *id)
{
    if (!id)
        return;
    free(id->tag);
    free(id->dir);
    id->tag = id->dir = NULL;
}

char *env_base_tag(const char *tag)
{
    return util_strdupf("%s-base", tag);
}

int env_image_meta_read(const char *dir, env_image_meta *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    char *path = util_strdupf("%s/meta.json", dir), *text = NULL;
    int rc = util_read_file(path, &text, NULL, err);
    cJSON *o = rc == 0 ? cJSON_Parse(text) : NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(o, "image");
    const cJSON *dockerfile = cJSON_GetObjectItemCaseSensitive(o, "dockerfile");
    if (rc == 0 && !cJSON_IsString(kind))
        rc = amlfs_fail(err, EINVAL, "%s is damaged: write environment.yaml again", path);
    if (rc == 0) {
        out->kind = util_xstrdup(kind->valuestring);
        out->image = cJSON_IsString(image) ? util_xstrdup(image->valuestring) : NULL;
        out->dockerfile = cJSON_IsString(dockerfile) ? util_xstrdup(dockerfile->valuestring) : NULL;
        out->conda = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "conda"));
    }
    cJSON_Delete(o);
    free(text);
    free(path);
    return rc;
}

void env_image_meta_free(env_image_meta *m)
{
    if (!m)
        return;
    free(m->kind);
    free(m->image);
    free(m->dockerfile);
    memset(m, 0, sizeof *m);
}
