/* job_io.c: a job's inputs (literals, typed literals, uri paths) and outputs, checked the way
 * `az ml job create` checks them, so the command's ${{inputs.X}} can be rendered later. */
#include "amlfs/spec_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static const char *const input_keys[] = {
    "type", "value", "default", "path", "mode", "description", "optional", "min", "max", "enum", NULL,
};
static const char *const output_keys[] = {"type", "mode", "path", "description", "name", "version", NULL};
static const char *const input_modes[] = {"ro_mount", "download", NULL};
static const char *const output_modes[] = {"rw_mount", "upload", NULL};
static const char *const output_types[] = {"uri_folder", "uri_file", "mlflow_model", "custom_model", NULL};
static const char *const literal_types[] = {"string", "integer", "number", "boolean", NULL};
static const char *const path_types[] = {
    "uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model", NULL,
};
static const char *const all_types[] = {
    "string", "integer", "number", "boolean", "uri_file", "uri_folder",
    "mltable", "mlflow_model", "custom_model", "triton_model", NULL,
};

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i]))
            return 1;
    return 0;
}

/* az ml's rule for input and output names; it is also what ${{inputs.NAME}} can refer to. */
int spec_is_identifier(const char *s)
{
    if (!s || !*s || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int check_typed_literal(spec_doc *d, const char *name, const char *type, yaml_node_t *v,
                               amlfs_err *err)
{
    const char *text = spec_node_text(v);
    long n;
    int b;
    char *end = NULL;
    if (!strcmp(type, "integer") && spec_parse_long_text(text, &n) < 0)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "input '%s' is an integer but its value '%s' is not a whole number", name, text);
    if (!strcmp(type, "number"))
        strtod(text, &end);
    if (end && (end == text || *end))
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "input '%s' is a number but its value '%s' is not a number", name, text);
    if (!strcmp(type, "boolean") && spec_parse_bool_text(text, &b) < 0)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "input '%s' is a boolean but its value '%s' is not true or false", name, text);
    return 0;
}

/* A data input: its type and mode kept beside its path. */
static int add_data_input(spec_doc *d, job_spec *out, const char *name, const char *type, yaml_node_t *m,
                          yaml_node_t *path, amlfs_err *err)
{
    if (strcmp(type, "mltable") == 0 || strcmp(type, "triton_model") == 0)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(m),
                            "input '%s' is of type %s, which amlfs cannot read: give its folder as `type: "
                            "uri_folder` (the job reads the files itself)", name, type);
    yaml_node_t *mode = spec_map_get(d, m, "mode");
    const char *mo = !mode || spec_node_is_null(mode) ? "ro_mount" : spec_node_text(mode);
    if (!mo || !in_list(mo, input_modes)) {
        char hint[300];
        spec_suggest(mo ? mo : "", input_modes, hint, sizeof hint);
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(mode), "input '%s' has mode '%s'; an input's "
                            "mode is ro_mount or download%s", name, mo ? mo : "", hint);
    }
    size_t n = out->data_inputs.count;
    spec_kvlist_add(&out->data_inputs, name, spec_node_text(path), spec_node_pos(path));
    out->data_input_types = util_xrealloc(out->data_input_types, (n + 1) * sizeof *out->data_input_types);
    out->data_input_modes = util_xrealloc(out->data_input_modes, (n + 1) * sizeof *out->data_input_modes);
    out->data_input_types[n] = util_xstrdup(type);
    out->data_input_modes[n] = util_xstrdup(mo);
    return 0;
}

/* `NAME: {type: ..., value|default|path: ...}`: the value a command sees; NULL for an optional input
 * given no value (its $[[...]] part of the command is dropped). */
static int input_from_mapping(spec_doc *d, job_spec *out, const char *name, yaml_node_t *m, yaml_node_t **value_out,
                              amlfs_err *err)
{
    char where[300];
    snprintf(where, sizeof where, "input '%s'", name);
    int rc = spec_check_keys(d, m, input_keys, where, err);
    if (rc < 0)
        return rc;
    yaml_node_t *type = spec_map_get(d, m, "type");
    const char *t = spec_node_is_null(type) ? NULL : spec_node_text(type);
    if (type && !spec_node_is_null(type) && (!t || !in_list(t, all_types))) {
        char hint[400];
        spec_suggest(t ? t : "", all_types, hint, sizeof hint);
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(type),
                            "input '%s' has an unknown type%s%s%s%s", name, t ? " '" : "", t ? t : "",
                            t ? "'" : "", hint);
    }
    yaml_node_t *v = NULL;
    const char *const value_keys[] = {"value", "default", "path", NULL};
    int first = t && in_list(t, path_types) ? 2 : 0, last = t && in_list(t, literal_types) ? 1 : 2;
    for (int i = first; i <= last && (!v || spec_node_is_null(v)); i++)
        v = spec_map_get(d, m, value_keys[i]);
    int optional = 0;
    yaml_node_t *opt = spec_map_get(d, m, "optional");
    if (opt && !spec_node_is_null(opt) && spec_parse_bool_text(spec_node_text(opt), &optional) < 0)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(opt),
                            "input '%s': optional must be true or false, not '%s'", name, spec_node_text(opt));
    if ((!v || spec_node_is_null(v)) && optional) {
        *value_out = NULL;
        return 0;
    }
    if (!v || spec_node_is_null(v))
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(m), "input '%s' has no value: add `%s: ...`%s",
                            name, first == 2 ? "path" : "default", first == 2 ? "" : " or `optional: true`");
    if (v->type != YAML_SCALAR_NODE)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "input '%s' must have a single value, not %s", name, spec_node_kind(v));
    if (t && in_list(t, literal_types) && (rc = check_typed_literal(d, name, t, v, err)) < 0)
        return rc;
    if (t && in_list(t, path_types) && (rc = add_data_input(d, out, name, t, m, v, err)) < 0)
        return rc;
    *value_out = v;
    return 0;
}

int spec_job_parse_inputs(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    yaml_node_t *inputs = NULL;
    int rc = spec_get_map(d, root, "inputs", &inputs, err);
    if (rc < 0 || !inputs)
        return rc;
    for (yaml_node_pair_t *p = inputs->data.mapping.pairs.start; p < inputs->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_doc_node(d, p->key), *v = spec_doc_node(d, p->value);
        if ((rc = spec_check_key_node(d, inputs, k, err)) < 0)
            return rc;
        const char *name = spec_node_text(k);
        if (!spec_is_identifier(name))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(k),
                                "input name '%s' is not valid: use letters, digits and '_', not starting "
                                "with a digit",
                                name);
        if (v->type == YAML_MAPPING_NODE && (rc = input_from_mapping(d, out, name, v, &v, err)) < 0)
            return rc;
        if (!v)
            continue; /* optional, without a value */
        if (v->type == YAML_SEQUENCE_NODE)
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                                "input '%s' must be a value (`%s: 10`) or a mapping with `type:`, not a list",
                                name, name);
        if (spec_node_is_null(v))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(k),
                                "input '%s' has no value: write `%s: VALUE`", name, name);
        spec_kvlist_add(&out->inputs, name, spec_node_text(v), spec_node_pos(v));
    }
    return 0;
}

int spec_job_parse_outputs(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err)
{
    yaml_node_t *outputs = NULL;
    int rc = spec_get_map(d, root, "outputs", &outputs, err);
    if (rc < 0 || !outputs)
        return rc;
    for (yaml_node_pair_t *p = outputs->data.mapping.pairs.start; p < outputs->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_doc_node(d, p->key), *v = spec_doc_node(d, p->value);
        if ((rc = spec_check_key_node(d, outputs, k, err)) < 0)
            return rc;
        const char *name = spec_node_text(k);
        if (!spec_is_identifier(name))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(k),
                                "output name '%s' is not valid: use letters, digits and '_', not starting "
                                "with a digit",
                                name);
        if (spec_node_is_null(v)) {
            spec_kvlist_add(&out->outputs, name, "uri_folder", spec_node_pos(k));
            continue;
        }
        if (v->type != YAML_MAPPING_NODE)
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                                "output '%s' must be a mapping like `{type: uri_folder}`, not %s", name,
                                spec_node_kind(v));
        char where[300];
        snprintf(where, sizeof where, "output '%s'", name);
        if ((rc = spec_check_keys(d, v, output_keys, where, err)) < 0)
            return rc;
        yaml_node_t *type = spec_map_get(d, v, "type");
        const char *t = !type || spec_node_is_null(type) ? "uri_folder" : spec_node_text(type);
        if (!t || !in_list(t, output_types)) {
            char hint[300];
            spec_suggest(t ? t : "", output_types, hint, sizeof hint);
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(type), "output '%s' has type '%s'; an "
                                "output is uri_folder, uri_file, mlflow_model or custom_model%s", name,
                                t ? t : "", hint);
        }
        yaml_node_t *mode = spec_map_get(d, v, "mode");
        const char *mo = !mode || spec_node_is_null(mode) ? "rw_mount" : spec_node_text(mode);
        if (!mo || !in_list(mo, output_modes)) {
            char hint[300];
            spec_suggest(mo ? mo : "", output_modes, hint, sizeof hint);
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(mode), "output '%s' has mode '%s'; an "
                                "output's mode is rw_mount or upload%s", name, mo ? mo : "", hint);
        }
        spec_kvlist_add(&out->outputs, name, t, spec_node_pos(k));
        /* `path:` copies the output to a datastore when the job has ended well. */
        yaml_node_t *path = spec_map_get(d, v, "path");
        if (path && !spec_node_is_null(path)) {
            const char *p = spec_node_text(path);
            if (!p || strncmp(p, "azureml://datastores/", 21) != 0 || !strstr(p + 21, "/paths/"))
                return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(path), "output '%s': path must be a "
                                    "datastore path, azureml://datastores/NAME/paths/PATH, not '%s'", name, p ? p : "");
            char *expanded = NULL;
            if (spec_output_path_expand(p, "x", name, &expanded) < 0)
                return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(path), "output '%s': a path may use "
                                    "${{name}} (the run id) and ${{output_name}}, nothing else: '%s'", name, p);
            free(expanded);
            size_t n = strlen(p);
            if (!strcmp(t, "uri_file") && (p[n - 1] == '/' || !strcmp(strstr(p + 21, "/paths/"), "/paths/")))
                return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(path), "output '%s' is a uri_file: its "
                                    "path names the file, azureml://datastores/NAME/paths/FOLDER/FILE, not '%s'",
                                    name, p);
            spec_kvlist_add(&out->output_paths, name, p, spec_node_pos(path));
        }
        /* `name:` (and `version:`) register the output as a data asset when the run completes. */
        yaml_node_t *asset = spec_map_get(d, v, "name"), *version = spec_map_get(d, v, "version");
        if (asset && !spec_node_is_null(asset)) {
            const char *an = spec_node_text(asset);
            if ((rc = spec_check_name_at(d, "data asset", an, spec_node_pos(asset), err)) < 0)
                return rc;
            long vn = 0;
            const char *vt = version && !spec_node_is_null(version) ? spec_node_text(version) : NULL;
            if (vt && (spec_parse_long_text(vt, &vn) < 0 || vn < 1))
                return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(version), "output '%s': version must "
                                    "be a whole number, 1 or more, not '%s'", name, vt);
            spec_kvlist_add(&out->output_assets, name, an, spec_node_pos(asset));
            spec_kvlist_add(&out->output_asset_versions, name, vt ? vt : "", spec_node_pos(asset));
        } else if (version && !spec_node_is_null(version)) {
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(version), "output '%s' has a version but "
                                "no name: add `name:` to register it as a data asset", name);
        }
    }
    return 0;
}

int spec_output_path_expand(const char *path, const char *run_id, const char *output, char **out)
{
    util_buf b = {0};
    const char *p = path;
    for (const char *open; (open = strstr(p, "${{")) != NULL;) {
        const char *close = strstr(open, "}}");
        if (!close) {
            util_buf_free(&b);
            return -EINVAL;
        }
        size_t n = (size_t)(close - open - 3);
        const char *value = n == 4 && strncmp(open + 3, "name", 4) == 0 ? run_id
                            : n == 11 && strncmp(open + 3, "output_name", 11) == 0 ? output
                                                                                  : NULL;
        if (!value) {
            util_buf_free(&b);
            return -EINVAL;
        }
        util_buf_append(&b, p, (size_t)(open - p), 0);
        util_buf_append(&b, value, strlen(value), 0);
        p = close + 2;
    }
    util_buf_append(&b, p, strlen(p), 0);
    *out = b.data ? b.data : util_xstrdup("");
    return 0;
}

char *spec_output_file_name(const char *path, const char *run_id, const char *output)
{
    char *expanded = NULL;
    if (!path || spec_output_path_expand(path, run_id, output, &expanded) < 0) {
        free(expanded);
        return util_xstrdup(output);
    }
    const char *rest = strstr(expanded, "/paths/");
    rest = rest ? rest + strlen("/paths/") : expanded;
    const char *slash = strrchr(rest, '/');
    const char *base = slash ? slash + 1 : rest;
    char *name = util_xstrdup(base[0] && strcmp(base, "..") && strcmp(base, ".") ? base : output);
    free(expanded);
    return name;
}
