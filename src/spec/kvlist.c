/* kvlist.c: ordered key/value string lists (tags, inputs, environment variables, compute extras).
 * Order is the file's order, so messages and JSON views read like what the user wrote. */
#include "amlfs/spec_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

void spec_kvlist_add(spec_kvlist *l, const char *key, const char *value, spec_pos pos)
{
    spec_kv *items = realloc(l->items, (l->count + 1) * sizeof *items);
    if (!items) {
        /* Same policy as util_x*: these programs cannot go on without memory. */
        fputs("amlfs: out of memory\n", stderr);
        abort();
    }
    l->items = items;
    l->items[l->count].key = util_xstrdup(key);
    l->items[l->count].value = util_xstrdup(value);
    l->items[l->count].pos = pos;
    l->count++;
}

void spec_kvlist_free(spec_kvlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

const char *spec_kvlist_get(const spec_kvlist *l, const char *key)
{
    for (size_t i = 0; l && i < l->count; i++)
        if (!strcmp(l->items[i].key, key))
            return l->items[i].value;
    return NULL;
}

cJSON *spec_kvlist_to_json(const spec_kvlist *l)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < l->count; i++)
        cJSON_AddStringToObject(o, l->items[i].key, l->items[i].value ? l->items[i].value : "");
    return o;
}
