/* data.c: data.yaml (az ml CLI v2 data asset: a folder, a file or a model under a name and version),
 * checked with positions; the server resolves its path and keeps each version's content. */
#include "amlfs/spec_yaml.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static const char *const data_keys[] = {
    "$schema", "name", "version", "description", "tags", "type", "path", "properties", NULL,
};
static const char *const data_types[] = {"uri_folder", "uri_file", "mlflow_model", "custom_model", "mltable", NULL};

static int parse_data(spec_doc *d, yaml_node_t *root, data_spec *out, amlfs_err *err)
{
    int rc;
    spec_pos version_pos = {0, 0};
    char *version = NULL;
    if ((rc = spec_check_keys(d, root, data_keys, "data asset", err)) < 0 ||
        (rc = spec_get_str(d, root, "name", &out->name, &out->name_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "version", &version, &version_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "description", &out->description, NULL, err)) < 0 ||
        (rc = spec_get_kvlist(d, root, "tags", &out->tags, err)) < 0 ||
        (rc = spec_get_str(d, root, "type", &out->type, &out->type_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "path", &out->path, &out->path_pos, err)) < 0) {
        free(version);
        return rc;
    }
    if (version) {
        long v = 0;
        if (spec_parse_long_text(version, &v) < 0 || v < 1 || v > INT_MAX)
            rc = spec_fail_at(err, EINVAL, d->filename, version_pos,
                              "version must be a whole number, 1 or more, not '%s' (or leave it out: the next one)",
                              version);
        out->version = (int)v;
        free(version);
        if (rc < 0)
            return rc;
    }
    if (!out->type) {
        out->type = util_xstrdup("uri_folder");
    } else {
        size_t i = 0;
        while (data_types[i] && strcmp(data_types[i], out->type))
            i++;
        if (!data_types[i]) {
            char hint[300];
            spec_suggest(out->type, data_types, hint, sizeof hint);
            return spec_fail_at(err, EINVAL, d->filename, out->type_pos, "data type must be uri_folder, uri_file, "
                                "mlflow_model or custom_model, not '%s'%s", out->type, hint);
        }
        if (strcmp(out->type, "mltable") == 0)
            return spec_fail_at(err, EINVAL, d->filename, out->type_pos, "type mltable is not read by this "
                                "workspace: register the MLTable's folder as `type: uri_folder`");
    }
    if (!out->path || !*out->path)
        return spec_fail_at(err, EINVAL, d->filename, (spec_pos){1, 1},
                            "a data asset needs 'path': a folder or file beside data.yaml (path: ./images), or an "
                            "absolute folder of this machine");
    if (out->name && (rc = spec_check_name_at(d, "data asset", out->name, out->name_pos, err)) < 0)
        return rc;
    return 0;
}

int spec_parse_data(const char *text, size_t len, const char *filename, data_spec *out, amlfs_err *err)
{
    spec_doc d;
    memset(out, 0, sizeof *out);
    int rc = spec_doc_load(&d, text, len, filename, "a data asset", "path: ./data", err);
    if (rc < 0)
        return rc;
    rc = parse_data(&d, spec_doc_root(&d), out, err);
    spec_doc_free(&d);
    if (rc < 0)
        spec_data_free(out);
    return rc;
}

void spec_data_free(data_spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->description);
    free(s->type);
    free(s->path);
    spec_kvlist_free(&s->tags);
    memset(s, 0, sizeof *s);
}
