/* doc_limits.c: the bounds a spec file is checked against before libyaml builds its tree: size, NUL
 * bytes, nesting depth, node and key counts, aliases of collections, the size aliases of values expand the
 * values to (a 500 KB value repeated 4,000 times took 23 s and 2 GB). One streaming pass of events. */
#include "amlfs/spec_yaml.h"

#include <search.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* Position of byte `offset` (1-based line and column). */
static spec_pos pos_at(const char *text, size_t offset)
{
    spec_pos p = {1, 1};
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            p.line++;
            p.col = 1;
        } else {
            p.col++;
        }
    }
    return p;
}

static spec_pos event_pos(const yaml_event_t *e)
{
    return (spec_pos){(int)e->start_mark.line + 1, (int)e->start_mark.column + 1};
}

typedef struct level {
    bool is_mapping;
    size_t children;
} level;

/* Every anchor by name (glibc's hash table, made at the first anchor: a later one of the same name replaces
 * it, as in YAML): whether it marks a list or mapping, else its value's length, which each alias repeats. */
typedef struct anchors {
    struct hsearch_data table;
    bool made;
    char **names;               /* the table's keys, freed at the end */
    size_t count;
} anchors;

#define ANCHOR_COLLECTION SIZE_MAX

static void anchor_set(anchors *a, const char *name, size_t value)
{
    if (!a->made) {
        if (!hcreate_r(SPEC_NODES_MAX * 2, &a->table)) {
            fprintf(stderr, "out of memory for a spec's anchors\n");
            abort();
        }
        a->made = true;
    }
    char *key = util_xstrdup(name);
    ENTRY *found = NULL;
    /* The nodes bound keeps the anchors under half the table's size: an entry always fits. */
    if (!hsearch_r((ENTRY){.key = key, .data = NULL}, ENTER, &found, &a->table)) {
        fprintf(stderr, "a spec's anchors overflowed their table\n");
        abort();
    }
    if (found->key == key) {
        a->names = util_xrealloc(a->names, (a->count + 1) * sizeof *a->names);
        a->names[a->count++] = key;
    } else {
        free(key);
    }
    found->data = (void *)(uintptr_t)value;
}

/* The anchor's value (ANCHOR_COLLECTION for a list or mapping), or 0 when none has that name. */
static size_t anchor_get(anchors *a, const char *name)
{
    ENTRY *found = NULL;
    if (!a->made || !hsearch_r((ENTRY){.key = (char *)name, .data = NULL}, FIND, &found, &a->table))
        return 0;
    return (size_t)(uintptr_t)found->data;
}

static void anchors_free(anchors *a)
{
    if (a->made)
        hdestroy_r(&a->table);
    for (size_t i = 0; i < a->count; i++)
        free(a->names[i]);
    free(a->names);
}

int spec_doc_check_limits(const char *text, size_t len, const char *filename, amlfs_err *err)
{
    if (len > SPEC_TEXT_MAX)
        return spec_fail_at(err, EFBIG, filename, (spec_pos){0, 0}, "the file is %zu bytes, over the %d bytes a "
                            "spec may have", len, SPEC_TEXT_MAX);
    const char *nul = text ? memchr(text, '\0', len) : NULL;
    if (nul)
        return spec_fail_at(err, EINVAL, filename, pos_at(text, (size_t)(nul - text)), "a NUL byte (\\0) is in the "
                            "file: a spec is text; remove the byte (everything after it would be lost)");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return spec_fail_at(err, ENOMEM, filename, (spec_pos){0, 0}, "out of memory parsing YAML");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    level stack[SPEC_DEPTH_MAX + 1];
    size_t depth = 0, nodes = 0, expanded = 0; /* expanded: the scalars' bytes, each alias's counted again */
    anchors named = {0};
    int rc = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e))
            break; /* the loader reports syntax errors with their position */
        switch (e.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (++nodes > SPEC_NODES_MAX) {
                rc = spec_fail_at(err, EFBIG, filename, event_pos(&e), "the file has more than %d values: a spec "
                                  "is smaller than that", SPEC_NODES_MAX);
                break;
            }
            if (depth && ++stack[depth - 1].children > 2 * (size_t)SPEC_KEYS_MAX && stack[depth - 1].is_mapping) {
                rc = spec_fail_at(err, EFBIG, filename, event_pos(&e), "a mapping here has more than %d keys",
                                  SPEC_KEYS_MAX);
                break;
            }
            if (e.type == YAML_ALIAS_EVENT) {
                size_t value = anchor_get(&named, (const char *)e.data.alias.anchor);
                if (value == ANCHOR_COLLECTION) {
                    rc = spec_fail_at(err, EINVAL, filename, event_pos(&e), "*%s repeats a list or mapping: write "
                                      "its values out (aliases of single values are fine)",
                                      (const char *)e.data.alias.anchor);
                    break;
                }
                expanded += value;
            } else if (e.type == YAML_SCALAR_EVENT) {
                expanded += e.data.scalar.length;
                if (e.data.scalar.anchor)
                    anchor_set(&named, (const char *)e.data.scalar.anchor, e.data.scalar.length);
            }
            if (expanded > SPEC_EXPANDED_MAX) {
                rc = spec_fail_at(err, EFBIG, filename, event_pos(&e), "with its aliases repeated, the file's values "
                                  "come to more than %d bytes: write fewer or shorter ones out",
                                  SPEC_EXPANDED_MAX);
                break;
            }
            if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
                if (depth == SPEC_DEPTH_MAX) {
                    rc = spec_fail_at(err, EINVAL, filename, event_pos(&e), "lists and mappings are nested more "
                                      "than %d deep here", SPEC_DEPTH_MAX);
                    break;
                }
                stack[depth++] = (level){.is_mapping = e.type == YAML_MAPPING_START_EVENT};
                const yaml_char_t *anchor = e.type == YAML_SEQUENCE_START_EVENT ? e.data.sequence_start.anchor
                                                                               : e.data.mapping_start.anchor;
                if (anchor)
                    anchor_set(&named, (const char *)anchor, ANCHOR_COLLECTION);
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth)
                depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    anchors_free(&named);
    return rc;
}
