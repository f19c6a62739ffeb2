/* pin.c: the job.yaml kept with a run, references pinned (azureml:NAME:VERSION, azureml:COMPUTE), and an
 * anonymous environment with its files placed (build.path, conda_file), both
 * re-emitted with libyaml; and where a top-level key's value sits, for messages about it. */
#include "amlfs/spec.h"
#include "amlfs/spec_yaml.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "amlfs/util.h"

#define MAX_DEPTH 64

static int load(const char *yaml, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    int ok = yaml_parser_load(&parser, doc);
    yaml_parser_delete(&parser);
    if (!ok)
        return -EINVAL;
    if (!yaml_document_get_root_node(doc)) {
        yaml_document_delete(doc);
        return -EINVAL;
    }
    return 0;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

typedef struct pin {
    const char *parent;         /* NULL: a top-level key; else the top-level key whose mapping holds it */
    const char *key;
    const char *value;          /* NULL: keep what is there */
    bool seen;
} pin;

static int add_pair(yaml_document_t *dst, int map, const char *key, const char *value);

/* Whether pin p names `key` of the mapping at this depth, under the top-level key `parent`. */
static bool pin_here(const pin *p, const char *key, int depth, const char *parent)
{
    if (!p->value || !key || strcmp(p->key, key) != 0)
        return false;
    return depth == 0 ? !p->parent : depth == 1 && parent && p->parent && strcmp(p->parent, parent) == 0;
}

/* Copies node `id` of src into dst; returns the new node id or 0. Values named in pins are replaced
 * (top-level ones, or keys of a top-level key's mapping, which are added when missing). `parent`: the
 * top-level key whose value this is (depth 1). */
static int copy_node(yaml_document_t *src, int id, yaml_document_t *dst, pin *pins, size_t npins,
                     int depth, const char *parent)
{
    yaml_node_t *n = yaml_document_get_node(src, id);
    if (!n || depth > MAX_DEPTH)
        return 0;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return yaml_document_add_scalar(dst, n->tag, n->data.scalar.value, (int)n->data.scalar.length,
                                        n->data.scalar.style);
    case YAML_SEQUENCE_NODE: {
        int seq = yaml_document_add_sequence(dst, n->tag, n->data.sequence.style);
        for (yaml_node_item_t *it = n->data.sequence.items.start; seq && it < n->data.sequence.items.top;
             it++) {
            int item = copy_node(src, *it, dst, pins, npins, depth + 1, NULL);
            if (!item || !yaml_document_append_sequence_item(dst, seq, item))
                return 0;
        }
        return seq;
    }
    case YAML_MAPPING_NODE: {
        int map = yaml_document_add_mapping(dst, n->tag, n->data.mapping.style);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; map && p < n->data.mapping.pairs.top; p++) {
            const char *key = scalar(yaml_document_get_node(src, p->key));
            pin *replace = NULL;
            for (size_t i = 0; i < npins; i++)
                if (pin_here(&pins[i], key, depth, parent))
                    replace = &pins[i];
            int k = copy_node(src, p->key, dst, pins, npins, depth + 1, NULL), v;
            if (replace) {
                replace->seen = true;
                v = yaml_document_add_scalar(dst, NULL, (yaml_char_t *)replace->value, -1,
                                             YAML_PLAIN_SCALAR_STYLE);
            } else {
                v = copy_node(src, p->value, dst, pins, npins, depth + 1, depth == 0 ? key : NULL);
            }
            if (!k || !v || !yaml_document_append_mapping_pair(dst, map, k, v))
                return 0;
        }
        for (size_t i = 0; depth == 1 && parent && i < npins; i++)
            if (pins[i].parent && strcmp(pins[i].parent, parent) == 0 && pins[i].value && !pins[i].seen) {
                pins[i].seen = true;
                if (!add_pair(dst, map, pins[i].key, pins[i].value))
                    return 0;
            }
        return map;
    }
    default:
        return 0;
    }
}

static int add_pair(yaml_document_t *dst, int map, const char *key, const char *value)
{
    int k = yaml_document_add_scalar(dst, NULL, (yaml_char_t *)key, -1, YAML_PLAIN_SCALAR_STYLE);
    int v = yaml_document_add_scalar(dst, NULL, (yaml_char_t *)value, -1, YAML_PLAIN_SCALAR_STYLE);
    return k && v && yaml_document_append_mapping_pair(dst, map, k, v);
}

static int emit(yaml_document_t *doc, char **out)
{
    yaml_emitter_t emitter;
    spec_yaml_buf buf = {0};
    if (!yaml_emitter_initialize(&emitter)) {
        yaml_document_delete(doc);
        return -ENOMEM;
    }
    yaml_emitter_set_output(&emitter, spec_yaml_buf_write, &buf);
    yaml_emitter_set_unicode(&emitter, 1);
    yaml_emitter_set_width(&emitter, 120);
    /* yaml_emitter_dump takes the document, also when it fails. */
    int ok = yaml_emitter_open(&emitter) && yaml_emitter_dump(&emitter, doc) && yaml_emitter_close(&emitter) &&
             yaml_emitter_flush(&emitter);
    yaml_emitter_delete(&emitter);
    if (!ok) {
        free(buf.data);
        return -EIO;
    }
    *out = buf.data;
    return 0;
}

int spec_job_pin_references(const char *yaml, size_t len, const char *environment, const char *environment_version,
                            const char *compute, char **out, amlfs_err *err)
{
    *out = NULL;
    yaml_document_t src, dst;
    if (load(yaml, len, &src) < 0)
        return amlfs_fail(err, EINVAL, "job.yaml: cannot be read again to pin its references");
    char *env_ref = environment ? util_strdupf("azureml:%s:%s", environment, environment_version) : NULL;
    char *compute_ref = util_strdupf("azureml:%s", compute);
    pin pins[] = {{NULL, "environment", env_ref, false}, {NULL, "compute", compute_ref, false}};
    int rc = -EIO;
    if (!yaml_document_initialize(&dst, NULL, NULL, NULL, 1, 1)) {
        rc = amlfs_fail(err, ENOMEM, "out of memory pinning job.yaml");
        goto out;
    }
    int root = copy_node(&src, 1, &dst, pins, 2, 0, NULL);
    yaml_node_t *root_node = root ? yaml_document_get_node(&dst, root) : NULL;
    if (!root_node || root_node->type != YAML_MAPPING_NODE ||
        (!pins[1].seen && !add_pair(&dst, root, "compute", compute_ref))) {
        yaml_document_delete(&dst);
        rc = amlfs_fail(err, EIO, "job.yaml: could not pin its references");
        goto out;
    }
    rc = emit(&dst, out);
    if (rc < 0)
        amlfs_fail(err, -rc, "job.yaml: could not write the pinned copy");
out:
    yaml_document_delete(&src);
    free(env_ref);
    free(compute_ref);
    return rc;
}

int spec_env_yaml_relocate(const char *yaml, size_t len, const char *build_path, const char *conda_file, char **out,
                           amlfs_err *err)
{
    *out = NULL;
    yaml_document_t src, dst;
    if (load(yaml, len, &src) < 0)
        return amlfs_fail(err, EINVAL, "environment: cannot be read again to place its files");
    pin pins[] = {{"build", "path", build_path, false}, {NULL, "conda_file", conda_file, false}};
    int rc = 0;
    if (!yaml_document_initialize(&dst, NULL, NULL, NULL, 1, 1)) {
        rc = amlfs_fail(err, ENOMEM, "out of memory placing an environment's files");
    } else {
        int root = copy_node(&src, 1, &dst, pins, 2, 0, NULL);
        yaml_node_t *root_node = root ? yaml_document_get_node(&dst, root) : NULL;
        if (!root_node || root_node->type != YAML_MAPPING_NODE) {
            yaml_document_delete(&dst);
            rc = amlfs_fail(err, EIO, "environment: could not place its files");
        } else if ((rc = emit(&dst, out)) < 0) {
            amlfs_fail(err, -rc, "environment: could not write it with its files placed");
        }
    }
    yaml_document_delete(&src);
    return rc;
}

spec_pos spec_key_pos(const char *yaml, size_t len, const char *key)
{
    spec_pos pos = {0, 0};
    yaml_document_t doc;
    if (load(yaml, len, &doc) < 0)
        return pos;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(&doc, p->key));
            if (k && strcmp(k, key) == 0) {
                yaml_node_t *v = yaml_document_get_node(&doc, p->value);
                pos.line = (int)v->start_mark.line + 1;
                pos.col = (int)v->start_mark.column + 1;
                break;
            }
        }
    }
    yaml_document_delete(&doc);
    return pos;
}
