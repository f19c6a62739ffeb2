/* inline_env.c: a job's inline `environment:` mapping as a standalone environment.yaml text, so the
 * server can keep it as a version of an anonymous environment (secrets included, server-side only). */
#include "amlfs/spec_yaml.h"

#include <stdlib.h>

int spec_job_inline_env_yaml(const char *text, size_t len, const char *filename, char **out, amlfs_err *err)
{
    *out = NULL;
    spec_doc d;
    int rc = spec_doc_load(&d, text, len, filename, "a job", "command: python train.py", err);
    if (rc < 0)
        return rc;
    yaml_node_t *env = spec_map_get(&d, spec_doc_root(&d), "environment");
    if (!env || env->type != YAML_MAPPING_NODE)
        rc = spec_fail_at(err, EINVAL, filename, spec_node_pos(env ? env : spec_doc_root(&d)),
                          "'environment' is not an inline mapping like {image: python:3.11}");
    else
        rc = spec_node_to_yaml(&d, env, out, err);
    spec_doc_free(&d);
    return rc;
}
