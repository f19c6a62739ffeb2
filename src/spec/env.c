/* env.c: environment.yaml (az ml CLI v2 environment), also used for a job's inline `environment:`.
 * Validates every key; the server decides versions and builds images. */
#include "amlfs/spec_yaml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static const char *const env_keys[] = {
    "$schema", "name", "version", "description", "tags", "image", "build", "conda_file", "os_type",
    "user_managed_dependencies", "image_registry", "inference_config", "properties", NULL,
};
static const char *const build_keys[] = {"path", "dockerfile_path", NULL};
static const char *const registry_keys[] = {"address", "username", "password", NULL};

/* A conda file saved as environment.yaml is a common slip: say what to do instead of "unknown key". */
static int refuse_conda_file(spec_doc *d, yaml_node_t *map, amlfs_err *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = spec_doc_node(d, p->key);
        const char *k = spec_node_text(key);
        if (k && (!strcmp(k, "channels") || !strcmp(k, "dependencies")))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(key),
                                "'%s' looks like a conda file, not an environment: put it in conda.yml and "
                                "write `conda_file: conda.yml` with an `image:`",
                                k);
    }
    return 0;
}

static int parse_build(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    yaml_node_t *build = NULL;
    int rc = spec_get_map(d, map, "build", &build, err);
    if (rc < 0 || !build)
        return rc;
    if ((rc = spec_check_keys(d, build, build_keys, "build", err)) < 0 ||
        (rc = spec_get_str(d, build, "path", &out->build_path, &out->build_path_pos, err)) < 0 ||
        (rc = spec_get_str(d, build, "dockerfile_path", &out->build_dockerfile, NULL, err)) < 0)
        return rc;
    out->has_build = 1;
    out->build_pos = spec_node_pos(build);
    if (!out->build_path || !*out->build_path) {
        free(out->build_path);
        out->build_path = util_xstrdup(".");
    }
    if (!out->build_dockerfile || !*out->build_dockerfile) {
        free(out->build_dockerfile);
        out->build_dockerfile = util_xstrdup("Dockerfile");
    }
    return 0;
}

static int parse_conda(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    yaml_node_t *v = spec_map_get(d, map, "conda_file");
    if (!v || spec_node_is_null(v))
        return 0;
    out->conda_file_pos = spec_node_pos(v);
    if (v->type == YAML_SCALAR_NODE) {
        out->conda_file_path = util_xstrdup(spec_node_text(v));
        return 0;
    }
    if (v->type == YAML_MAPPING_NODE)
        return spec_node_to_yaml(d, v, &out->conda_file_inline, err);
    return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                        "'conda_file' must be a path (`conda_file: conda.yml`) or a mapping with channels "
                        "and dependencies, not %s",
                        spec_node_kind(v));
}

static int parse_os_type(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    spec_pos pos = {0, 0};
    int rc = spec_get_str(d, map, "os_type", &out->os_type, &pos, err);
    if (rc < 0)
        return rc;
    if (!out->os_type) {
        out->os_type = util_xstrdup("linux");
        return 0;
    }
    for (char *c = out->os_type; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(out->os_type, "linux") && strcmp(out->os_type, "windows"))
        return spec_fail_at(err, EINVAL, d->filename, pos, "'os_type' must be linux or windows, not '%s'",
                            out->os_type);
    return 0;
}

static int parse_registry(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    yaml_node_t *reg = NULL;
    int rc = spec_get_map(d, map, "image_registry", &reg, err);
    if (rc < 0 || !reg)
        return rc;
    if ((rc = spec_check_keys(d, reg, registry_keys, "image_registry", err)) < 0 ||
        (rc = spec_get_str(d, reg, "address", &out->registry_address, NULL, err)) < 0 ||
        (rc = spec_get_str(d, reg, "username", &out->registry_username, NULL, err)) < 0 ||
        (rc = spec_get_str(d, reg, "password", &out->registry_password, NULL, err)) < 0)
        return rc;
    if (!out->registry_address)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(reg),
                            "'image_registry' needs an 'address' (e.g. `address: myregistry.example.com`)");
    return 0;
}

static int parse_fields(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    int rc;
    spec_pos version_pos = {0, 0};
    if ((rc = refuse_conda_file(d, map, err)) < 0 ||
        (rc = spec_check_keys(d, map, env_keys, "environment", err)) < 0 ||
        (rc = spec_get_str(d, map, "name", &out->name, &out->name_pos, err)) < 0 ||
        (rc = spec_get_str(d, map, "version", &out->version, &version_pos, err)) < 0 ||
        (rc = spec_get_str(d, map, "description", &out->description, NULL, err)) < 0 ||
        (rc = spec_get_str(d, map, "image", &out->image, &out->image_pos, err)) < 0 ||
        (rc = parse_build(d, map, out, err)) < 0 || (rc = parse_conda(d, map, out, err)) < 0 ||
        (rc = parse_os_type(d, map, out, err)) < 0 ||
        (rc = spec_get_bool(d, map, "user_managed_dependencies", &out->user_managed, err)) < 0 ||
        (rc = parse_registry(d, map, out, err)) < 0 || (rc = spec_get_kvlist(d, map, "tags", &out->tags, err)) < 0)
        return rc;
    if (out->name && (rc = spec_check_name_at(d, "environment", out->name, out->name_pos, err)) < 0)
        return rc;
    if (out->version && (rc = spec_check_name_at(d, "environment version", out->version, version_pos, err)) < 0)
        return rc;
    if (out->image && !*out->image)
        return spec_fail_at(err, EINVAL, d->filename, out->image_pos,
                            "'image' is empty: write an image reference, e.g. `image: python:3.11`");
    if (out->image && out->has_build) {
        spec_pos later = out->build_pos.line > out->image_pos.line ? out->build_pos : out->image_pos;
        return spec_fail_at(err, EINVAL, d->filename, later,
                            "'image' and 'build' cannot both be written: use `image:` for a ready image, or "
                            "`build:` to build one from a Dockerfile (its FROM names the base)");
    }
    return 0;
}

int spec_env_from_node(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err)
{
    memset(out, 0, sizeof *out);
    out->user_managed = -1;
    int rc = parse_fields(d, map, out, err);
    if (rc < 0)
        spec_env_free(out);
    return rc;
}

int spec_parse_env(const char *text, size_t len, const char *filename, env_spec *out, amlfs_err *err)
{
    spec_doc d;
    memset(out, 0, sizeof *out);
    int rc = spec_doc_load(&d, text, len, filename, "an environment", "image: python:3.11", err);
    if (rc < 0)
        return rc;
    rc = spec_env_from_node(&d, spec_doc_root(&d), out, err);
    spec_doc_free(&d);
    return rc;
}

void spec_env_free(env_spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->version);
    free(s->description);
    free(s->image);
    free(s->build_path);
    free(s->build_dockerfile);
    free(s->conda_file_path);
    free(s->conda_file_inline);
    free(s->os_type);
    free(s->registry_address);
    free(s->registry_username);
    free(s->registry_password);
    spec_kvlist_free(&s->tags);
    memset(s, 0, sizeof *s);
}
