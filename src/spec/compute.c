/* compute.c: compute.yaml (az ml CLI v2 compute). Common keys are checked here; keys of a
 * particular compute type (e.g. Slurm's) are kept in `extra` for that compute to validate. */
#include "amlfs/spec_yaml.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* What az ml uses to provision a cloud cluster (VM size, tier, autoscale, region, access) means nothing
 * for a compute that exists already: accepted, and listed as ignored (never silently). */
static const char *const provisioning_keys[] = {
    "size", "tier", "min_instances", "idle_time_before_scale_down", "location", "ssh_public_access_enabled",
    "identity", NULL,
};

static const char *const compute_keys[] = {
    "$schema", "name", "type", "description", "size", "tier", "min_instances", "max_instances",
    "idle_time_before_scale_down", "location", "ssh_public_access_enabled", "identity", NULL,
};

/* Unknown keys belong to the compute type, except near-misses of a common key: `max_instance: 4`
 * must not quietly become an "extra" and leave max_instances unset. */
static int collect_extra(spec_doc *d, yaml_node_t *root, compute_spec *out, amlfs_err *err)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_doc_node(d, p->key), *v = spec_doc_node(d, p->value);
        int rc = spec_check_key_node(d, root, k, err);
        if (rc < 0)
            return rc;
        const char *key = spec_node_text(k);
        size_t i = 0;
        while (compute_keys[i] && strcmp(compute_keys[i], key))
            i++;
        if (compute_keys[i]) {
            for (size_t j = 0; provisioning_keys[j]; j++)
                if (strcmp(provisioning_keys[j], key) == 0 && !spec_node_is_null(v))
                    spec_kvlist_add(&out->ignored, key, v->type == YAML_SCALAR_NODE ? spec_node_text(v) : "",
                                    spec_node_pos(v));
            continue;
        }
        /* Stricter than a suggestion: a type's own short keys (Slurm's `time`) are two edits from
         * common ones (`name`), so two edits count as a typo only for longer keys. */
        const char *close = spec_closest(key, compute_keys);
        size_t distance = close ? util_levenshtein(key, close) : 0;
        if (close && (distance <= 1 || strlen(key) >= 6))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(k),
                                "unknown key '%s' in compute (did you mean '%s'?)", key, close);
        if (v->type == YAML_SCALAR_NODE) {
            spec_kvlist_add(&out->extra, key, spec_node_is_null(v) ? "" : spec_node_text(v), spec_node_pos(v));
        } else {
            char *yaml = NULL;
            if ((rc = spec_node_to_yaml(d, v, &yaml, err)) < 0)
                return rc;
            spec_kvlist_add(&out->extra, key, yaml, spec_node_pos(v));
            free(yaml);
        }
    }
    return 0;
}

static int parse_compute(spec_doc *d, yaml_node_t *root, compute_spec *out, amlfs_err *err)
{
    long min = 0, max = 0;
    int max_found = 0, rc;
    spec_pos tier_pos = {0, 0}, min_pos = {0, 0};
    if ((rc = collect_extra(d, root, out, err)) < 0 ||
        (rc = spec_get_str(d, root, "name", &out->name, &out->name_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "type", &out->type, &out->type_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "description", &out->description, NULL, err)) < 0 ||
        (rc = spec_get_str(d, root, "size", &out->size, NULL, err)) < 0 ||
        (rc = spec_get_str(d, root, "tier", &out->tier, &tier_pos, err)) < 0 ||
        (rc = spec_get_long(d, root, "min_instances", 0, INT_MAX, "a whole number, 0 or more", &min, NULL,
                            &min_pos, err)) < 0 ||
        (rc = spec_get_long(d, root, "max_instances", 1, INT_MAX, "a whole number, at least 1", &max,
                            &max_found, &out->max_instances_pos, err)) < 0 ||
        (rc = spec_get_long(d, root, "idle_time_before_scale_down", 0, LONG_MAX, "a whole number of seconds",
                            &out->idle_time_before_scale_down, NULL, NULL, err)) < 0)
        return rc;
    out->min_instances = (int)min;
    out->max_instances = max_found ? (int)max : 0;
    if (out->name && (rc = spec_check_name_at(d, "compute", out->name, out->name_pos, err)) < 0)
        return rc;
    if (out->type && !*out->type)
        return spec_fail_at(err, EINVAL, d->filename, out->type_pos,
                            "'type' is empty: write the compute type, e.g. `type: local`");
    if (out->tier && strcmp(out->tier, "dedicated") && strcmp(out->tier, "low_priority"))
        return spec_fail_at(err, EINVAL, d->filename, tier_pos,
                            "'tier' must be dedicated or low_priority, not '%s'", out->tier);
    if (max_found && out->min_instances > out->max_instances)
        return spec_fail_at(err, EINVAL, d->filename, min_pos,
                            "min_instances (%d) is larger than max_instances (%d)", out->min_instances,
                            out->max_instances);
    return 0;
}

int spec_parse_compute(const char *text, size_t len, const char *filename, compute_spec *out,
                       amlfs_err *err)
{
    spec_doc d;
    memset(out, 0, sizeof *out);
    int rc = spec_doc_load(&d, text, len, filename, "a compute", "type: local", err);
    if (rc < 0)
        return rc;
    rc = parse_compute(&d, spec_doc_root(&d), out, err);
    spec_doc_free(&d);
    if (rc < 0)
        spec_compute_free(out);
    return rc;
}

void spec_compute_free(compute_spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->type);
    free(s->description);
    free(s->size);
    free(s->tier);
    spec_kvlist_free(&s->extra);
    spec_kvlist_free(&s->ignored);
    memset(s, 0, sizeof *s);
}
