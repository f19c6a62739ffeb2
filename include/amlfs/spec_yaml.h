/* spec_yaml.h: internal to src/spec: a loaded libyaml document plus typed, position-carrying
 * getters, key validation with "did you mean", and key/value lists. Other layers use spec.h. */
#ifndef AMLFS_SPEC_YAML_H
#define AMLFS_SPEC_YAML_H

#include <stddef.h>

#include <yaml.h>

#include "amlfs/err.h"
#include "amlfs/spec.h"

/* One parsed YAML file. `filename` is borrowed for messages. */
typedef struct spec_doc {
    yaml_document_t doc;
    const char *filename;
    int loaded;
} spec_doc;

/* Load exactly one document whose top level is a mapping. `kind` ("an environment") and `example`
 * ("image: python:3.11") make the messages for an empty file or a wrong top level concrete. */
/* What a spec file may be (doc_limits.c): bounded before libyaml builds a tree, so a hostile file costs
 * little and is refused with the reason. */
#define SPEC_TEXT_MAX (1024 * 1024)
#define SPEC_DEPTH_MAX 64
#define SPEC_NODES_MAX 100000
#define SPEC_KEYS_MAX 5000
/* The values' bytes with every alias expanded (twice what a file may hold): no billion laughs. */
#define SPEC_EXPANDED_MAX (2 * SPEC_TEXT_MAX)
/* A rendered command is one argument of `sh -c`: Linux's MAX_ARG_STRLEN (128 KiB) less its NUL. */
#define SPEC_COMMAND_MAX (128 * 1024 - 1)
int spec_doc_check_limits(const char *text, size_t len, const char *filename, amlfs_err *err);
/* Checks the limits, then loads one document that must be a mapping. */
int spec_doc_load(spec_doc *d, const char *text, size_t len, const char *filename, const char *kind,
                  const char *example, amlfs_err *err);
void spec_doc_free(spec_doc *d);
yaml_node_t *spec_doc_root(spec_doc *d);
yaml_node_t *spec_doc_node(spec_doc *d, int id);

spec_pos spec_node_pos(const yaml_node_t *n);
/* A plain empty, ~, null, Null or NULL scalar: a key written without a value. */
int spec_node_is_null(const yaml_node_t *n);
/* The scalar's text (NUL-terminated by libyaml), or NULL for a mapping or a sequence. */
const char *spec_node_text(const yaml_node_t *n);
/* "a list", "a mapping", "a value" for messages. */
const char *spec_node_kind(const yaml_node_t *n);

/* The value of `key` in a mapping, NULL when absent. A null value counts as absent for the getters
 * below (`description:` with nothing after it is the same as no description). */
yaml_node_t *spec_map_get(spec_doc *d, yaml_node_t *map, const char *key);

/* Every key of `map` must be a plain scalar, appear once and be in `known` (NULL-terminated).
 * `where` names the mapping in the message: "unknown key 'imagee' in environment (did you mean...)". */
int spec_check_keys(spec_doc *d, yaml_node_t *map, const char *const *known, const char *where,
                    amlfs_err *err);
/* The same checks for a single key node; used where unknown keys are collected instead of refused. */
int spec_check_key_node(spec_doc *d, yaml_node_t *map, yaml_node_t *key, amlfs_err *err);

/* Typed getters. Absent or null: *out untouched and 0 returned, *found (when given) 0.
 * A value of the wrong type is -EINVAL at the value's position. */
int spec_get_str(spec_doc *d, yaml_node_t *map, const char *key, char **out, spec_pos *pos,
                 amlfs_err *err);
/* A whole number in [min, max]; `what` ends "'timeout' must be WHAT" ("a whole number of seconds"). */
int spec_get_long(spec_doc *d, yaml_node_t *map, const char *key, long min, long max, const char *what,
                  long *out, int *found, spec_pos *pos, amlfs_err *err);
/* true/false (also yes/no, on/off, any case); *out 1 or 0. */
int spec_get_bool(spec_doc *d, yaml_node_t *map, const char *key, int *out, amlfs_err *err);
/* A mapping value or NULL (absent); a list or scalar is -EINVAL. */
int spec_get_map(spec_doc *d, yaml_node_t *map, const char *key, yaml_node_t **out, amlfs_err *err);
/* A mapping of scalars into key/value strings (null values become ""). */
int spec_get_kvlist(spec_doc *d, yaml_node_t *map, const char *key, spec_kvlist *out, amlfs_err *err);

/* Scalar helpers used by the getters and by parsers that accept several shapes. */
int spec_parse_bool_text(const char *text, int *out);

/* Where libyaml's emitter writes: a growing NUL-terminated buffer (spec_yaml_buf_write is its
 * yaml_write_handler_t; the caller frees data). */
typedef struct spec_yaml_buf {
    char *data;
    size_t len, cap;
} spec_yaml_buf;
int spec_yaml_buf_write(void *ctx, unsigned char *bytes, size_t size);

/* The node re-emitted as a standalone block YAML document (for inline conda files, compute extras). */
int spec_node_to_yaml(spec_doc *d, yaml_node_t *n, char **out, amlfs_err *err);

/* " (did you mean 'x'?)" or " (known: a, b, c)" into buf. */
void spec_suggest(const char *word, const char *const *known, char *buf, size_t len);
/* The same over the keys of a kvlist; empty list gives " (there are none)". */
void spec_suggest_kv(const char *word, const spec_kvlist *l, char *buf, size_t len);

cJSON *spec_kvlist_to_json(const spec_kvlist *l);

/* Parse an environment mapping (a file's root, or a job's inline `environment:`). */
int spec_env_from_node(spec_doc *d, yaml_node_t *map, env_spec *out, amlfs_err *err);

/* Parts of a job, one file each (job_refs.c, job_io.c). */
int spec_job_parse_environment(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err);
int spec_job_parse_compute(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err);
int spec_job_parse_inputs(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err);
/* Outputs are checked, not kept: ${{outputs.NAME}} always means ./outputs/NAME. */
int spec_job_parse_outputs(spec_doc *d, yaml_node_t *root, job_spec *out, amlfs_err *err);
/* Letters, digits and '_', not starting with a digit: input, output and variable names. */
int spec_is_identifier(const char *s);

/* util_check_name, its message placed at the name's position. */
int spec_check_name_at(spec_doc *d, const char *kind, const char *name, spec_pos pos, amlfs_err *err);

/* Re-fail with the message of a helper (util_check_name...) placed at a position. */
int spec_fail_with(amlfs_err *err, const char *filename, spec_pos pos, const amlfs_err *inner);

#endif
