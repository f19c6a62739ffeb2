/* keys.c: refusing unknown and repeated keys, and "did you mean" suggestions.
 * A typo in a key must fail loudly: a silently ignored `imagee:` would build the wrong thing. */
#include "amlfs/spec_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

const char *spec_closest(const char *word, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t wlen = strlen(word);
    for (size_t i = 0; known[i]; i++) {
        size_t d = util_levenshtein(word, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    /* Two edits catch typos; requiring d < length keeps "os" from "suggesting" an unrelated key. */
    if (best && best_d <= 2 && best_d < wlen)
        return best;
    return NULL;
}

static void list_known(const char *const *known, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, " (known: ");
    for (size_t i = 0; known[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", known[i]);
    if (used < len)
        snprintf(buf + used, len - used, ")");
}

void spec_suggest(const char *word, const char *const *known, char *buf, size_t len)
{
    const char *close = spec_closest(word, known);
    if (close)
        snprintf(buf, len, " (did you mean '%s'?)", close);
    else if (!known[0])
        snprintf(buf, len, " (there are none)");
    else
        list_known(known, buf, len);
}

void spec_suggest_kv(const char *word, const spec_kvlist *l, char *buf, size_t len)
{
    const char **names = util_xcalloc(l->count + 1, sizeof *names);
    for (size_t i = 0; i < l->count; i++)
        names[i] = l->items[i].key;
    spec_suggest(word, names, buf, len);
    free(names);
}

int spec_check_key_node(spec_doc *d, yaml_node_t *map, yaml_node_t *key, amlfs_err *err)
{
    const char *k = spec_node_text(key);
    if (!k || spec_node_is_null(key))
        return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(key),
                            "a key must be a plain name, not %s", k ? "empty" : spec_node_kind(key));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *other = spec_doc_node(d, p->key);
        if (other == key)
            break;
        const char *o = spec_node_text(other);
        if (o && !strcmp(o, k))
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(key),
                                "'%s' is written twice (first at line %d): keep one", k,
                                spec_node_pos(other).line);
    }
    return 0;
}

int spec_check_keys(spec_doc *d, yaml_node_t *map, const char *const *known, const char *where,
                    amlfs_err *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *key = spec_doc_node(d, p->key);
        int rc = spec_check_key_node(d, map, key, err);
        if (rc < 0)
            return rc;
        const char *k = spec_node_text(key);
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i]) {
            char hint[700];
            spec_suggest(k, known, hint, sizeof hint);
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(key), "unknown key '%s' in %s%s",
                                k, where, hint);
        }
    }
    return 0;
}
