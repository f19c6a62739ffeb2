/* getters.c: typed values out of a YAML mapping, each wrong type refused at its position.
 * Absent and null (`key:` with nothing after it) are the same: the key was not given. */
#include "amlfs/spec_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "amlfs/util.h"

static yaml_node_t *present(spec_doc *d, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = spec_map_get(d, map, key);
    return spec_node_is_null(v) ? NULL : v;
}

int spec_get_str(spec_doc *d, yaml_node_t *map, const char *key, char **out, spec_pos *pos,
                 amlfs_err *err)
{
    yaml_node_t *v = present(d, map, key);
    if (!v)
        return 0;
    if (v->type != YAML_SCALAR_NODE)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v), "'%s' must be a string, not %s",
                            key, spec_node_kind(v));
    free(*out);
    *out = util_xstrdup(spec_node_text(v));
    if (pos)
        *pos = spec_node_pos(v);
    return 0;
}

int spec_parse_long_text(const char *text, long *out)
{
    if (!text || !*text)
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || text[0] == ' ' || text[0] == '\t')
        return -EINVAL;
    *out = v;
    return 0;
}

int spec_parse_bool_text(const char *text, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(text, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

int spec_get_long(spec_doc *d, yaml_node_t *map, const char *key, long min, long max, const char *what,
                  long *out, int *found, spec_pos *pos, amlfs_err *err)
{
    if (found)
        *found = 0;
    yaml_node_t *v = present(d, map, key);
    if (!v)
        return 0;
    long n = 0;
    const char *text = spec_node_text(v);
    if (!text)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v), "'%s' must be %s, not %s", key,
                            what, spec_node_kind(v));
    if (spec_parse_long_text(text, &n) < 0 || n < min || n > max)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v), "'%s' must be %s, not '%s'", key,
                            what, text);
    *out = n;
    if (found)
        *found = 1;
    if (pos)
        *pos = spec_node_pos(v);
    return 0;
}

int spec_get_bool(spec_doc *d, yaml_node_t *map, const char *key, int *out, amlfs_err *err)
{
    yaml_node_t *v = present(d, map, key);
    if (!v)
        return 0;
    const char *text = spec_node_text(v);
    int b = 0;
    if (!text || spec_parse_bool_text(text, &b) < 0)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "'%s' must be true or false, not %s%s%s", key, text ? "'" : "",
                            text ? text : spec_node_kind(v), text ? "'" : "");
    *out = b;
    return 0;
}

int spec_get_map(spec_doc *d, yaml_node_t *map, const char *key, yaml_node_t **out, amlfs_err *err)
{
    *out = NULL;
    yaml_node_t *v = present(d, map, key);
    if (!v)
        return 0;
    if (v->type != YAML_MAPPING_NODE)
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                            "'%s' must be a mapping of keys (`%s: {key: value}`), not %s", key, key,
                            spec_node_kind(v));
    *out = v;
    return 0;
}

int spec_get_kvlist(spec_doc *d, yaml_node_t *map, const char *key, spec_kvlist *out, amlfs_err *err)
{
    yaml_node_t *m = NULL;
    int rc = spec_get_map(d, map, key, &m, err);
    if (rc < 0 || !m)
        return rc;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = spec_doc_node(d, p->key);
        yaml_node_t *v = spec_doc_node(d, p->value);
        rc = spec_check_key_node(d, m, k, err);
        if (rc < 0)
            return rc;
        if (v->type != YAML_SCALAR_NODE)
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(v),
                                "'%s' values must be single values: '%s' is %s", key, spec_node_text(k),
                                spec_node_kind(v));
        spec_kvlist_add(out, spec_node_text(k), spec_node_is_null(v) ? "" : spec_node_text(v),
                        spec_node_pos(v));
    }
    return 0;
}

int spec_check_name_at(spec_doc *d, const char *kind, const char *name, spec_pos pos, amlfs_err *err)
{
    amlfs_err inner = {0};
    if (util_check_name(kind, name, &inner) < 0)
        return spec_fail_with(err, d->filename, pos, &inner);
    return 0;
}
