/* job_refs.c: a job's `environment:` and `compute:` references (azureml:NAME:VERSION, NAME@latest, ARM ids
 * as `az ml job show` prints them, a registry's environment, file:PATH) and its inline environment mapping. */
#include "amlfs/spec_yaml.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static const char *skip_azureml(const char *s)
{
    return strncmp(s, "azureml:", 8) ? s : s + 8;
}

/* "/subscriptions/.../environments/NAME/versions/V": the part after `segment`, up to the next '/'. */
static char *arm_part(const char *id, const char *segment)
{
    const char *p = strstr(id, segment);
    if (!p)
        return NULL;
    p += strlen(segment);
    size_t n = strcspn(p, "/");
    return n ? strndup(p, n) : NULL;
}

/* azureml://registries/REGISTRY/environments/NAME/labels/latest or .../versions/VERSION (s: after "azureml:"):
 * the workspace's own environment NAME stands for the registry's (the server says so, or what to register). */
static int registry_ref(spec_doc *d, const char *ref, const char *s, spec_pos pos, job_spec *out, amlfs_err *err)
{
    const char *usage = "write azureml://registries/REGISTRY/environments/NAME/labels/latest or "
                        "azureml://registries/REGISTRY/environments/NAME/versions/VERSION";
    char *copy = util_xstrdup(s + 2), *save = NULL;
    const char *part[7] = {0};
    size_t n = 0;
    for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save))
        part[n < 7 ? n++ : 6] = p;
    int rc = 0;
    if (n < 1 || strcmp(part[0], "registries") != 0)
        rc = spec_fail_at(err, EINVAL, d->filename, pos,
                          "environment '%s' is not an environment reference: write azureml:NAME@latest, or %s",
                          ref, usage);
    else if (n != 6 || strcmp(part[2], "environments") != 0 ||
             (strcmp(part[4], "labels") != 0 && strcmp(part[4], "versions") != 0))
        rc = spec_fail_at(err, EINVAL, d->filename, pos, "environment '%s' is not a registry environment: %s", ref,
                          usage);
    else if (strcmp(part[4], "labels") == 0 && strcmp(part[5], "latest") != 0)
        rc = spec_fail_at(err, EINVAL, d->filename, pos, "environment '%s': the only label here is 'latest'; %s",
                          ref, usage);
    if (rc == 0)
        rc = spec_check_name_at(d, "registry", part[1], pos, err);
    if (rc == 0) {
        out->environment_registry = util_xstrdup(part[1]);
        out->environment_reference = util_xstrdup(ref);
        out->environment_name = util_xstrdup(part[3]);
        if (strcmp(part[4], "versions") == 0)
            out->environment_version = util_xstrdup(part[5]);
    }
    free(copy);
    return rc;
}

/* file:PATH: an environment YAML among the experiment's files, read by the server. */
static int file_ref(spec_doc *d, const char *ref, spec_pos pos, job_spec *out, amlfs_err *err)
{
    const char *path = ref + 5;
    if (!*path)
        return spec_fail_at(err, EINVAL, d->filename, pos,
                            "environment '%s' names no file: write e.g. `environment: file:./environment.yml`",
                            ref);
    out->environment_file = util_xstrdup(path);
    out->environment_reference = util_xstrdup(ref);
    return 0;
}

static int environment_ref(spec_doc *d, const char *ref, spec_pos pos, job_spec *out, amlfs_err *err)
{
    const char *s = skip_azureml(ref);
    const char *usage = "write azureml:NAME:VERSION or azureml:NAME@latest";
    if (!strncmp(ref, "file:", 5))
        return file_ref(d, ref, pos, out, err);
    if (!strncmp(s, "//", 2)) {
        int rc = registry_ref(d, ref, s, pos, out, err);
        if (rc == 0 && out->environment_version)
            rc = spec_check_name_at(d, "environment version", out->environment_version, pos, err);
        return rc == 0 ? spec_check_name_at(d, "environment", out->environment_name, pos, err) : rc;
    }
    if (s[0] == '/') {
        out->environment_name = arm_part(s, "/environments/");
        out->environment_version = arm_part(s, "/versions/");
        if (!out->environment_name)
            return spec_fail_at(err, EINVAL, d->filename, pos,
                                "environment '%s' is not an environment reference: %s", ref, usage);
    } else {
        size_t n = strcspn(s, ":@");
        out->environment_name = strndup(s, n);
        if (!out->environment_name)
            abort(); /* out of memory: same policy as util_x* */
        if (s[n] == '@') {
            if (strcmp(s + n + 1, "latest"))
                return spec_fail_at(err, EINVAL, d->filename, pos,
                                    "environment '%s': the only label here is '@latest'; %s", ref, usage);
        } else if (s[n] == ':') {
            out->environment_version = util_xstrdup(s + n + 1);
        }
    }
    int rc = spec_check_name_at(d, "environment", out->environment_name, pos, err);
    if (rc == 0 && out->environment_version)
        rc = spec_check_name_at(d, "environment version", out->environment_version, pos, err);
    return rc;
}

int spec_job_parse_environment(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    yaml_node_t *v = spec_map_get(d, root, "environment");
    if (!v || spec_node_is_null(v))
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v ? v : root),
                            "%s 'environment': write e.g. `environment: azureml:NAME@latest` (an "
                            "environment of this workspace) or `environment: {image: python:3.11}`",
                            v ? "no value for" : "missing");
    out->environment_pos = spec_node_pos(v);
    if (v->type == YAML_SCALAR_NODE) {
        if (!*spec_node_text(v))
            return spec_fail_at(err, EINVAL, d->filename, out->environment_pos,
                                "'environment' is empty: write e.g. `environment: azureml:NAME@latest`");
        return environment_ref(d, spec_node_text(v), out->environment_pos, out, err);
    }
    if (v->type == YAML_MAPPING_NODE) {
        out->environment_inline = util_xcalloc(1, sizeof *out->environment_inline);
        return spec_env_from_node(d, v, out->environment_inline, err);
    }
    return spec_fail_at(err, EINVAL, d->filename, out->environment_pos,
                        "'environment' must be a reference like azureml:NAME@latest or a mapping like "
                        "{image: python:3.11}, not %s",
                        spec_node_kind(v));
}

int spec_job_parse_compute(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    char *ref = NULL;
    /* No compute: az ml would use the workspace's default compute; here that is `local`. */
    int rc = spec_get_str(d, root, "compute", &ref, &out->compute_pos, err);
    if (rc < 0 || !ref)
        return rc;
    const char *s = skip_azureml(ref);
    if (s[0] == '/') {
        out->compute = arm_part(s, "/computes/");
        if (!out->compute)
            rc = spec_fail_at(err, EINVAL, d->filename, out->compute_pos,
                              "compute '%s' is not a compute reference: write azureml:NAME", ref);
    } else {
        out->compute = util_xstrdup(s);
    }
    if (rc == 0)
        rc = spec_check_name_at(d, "compute", out->compute, out->compute_pos, err);
    free(ref);
    return rc;
}
