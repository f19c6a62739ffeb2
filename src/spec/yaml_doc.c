/* yaml_doc.c: loading one YAML document with libyaml, and node positions and kinds.
 * libyaml marks are 0-based; everything handed to people here is 1-based. */
#include "amlfs/spec_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int spec_fail_at(amlfs_err *err, int errnum, const char *filename, spec_pos pos, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!filename || !*filename)
        filename = "spec";
    if (pos.line > 0)
        return amlfs_fail(err, errnum, "%s line %d column %d: %s", filename, pos.line, pos.col, what);
    return amlfs_fail(err, errnum, "%s: %s", filename, what);
}

int spec_fail_with(amlfs_err *err, const char *filename, spec_pos pos, const amlfs_err *inner)
{
    int code = inner->code > 0 ? inner->code : EINVAL;
    return spec_fail_at(err, code, filename, pos, "%s", inner->msg);
}

spec_pos spec_node_pos(const yaml_node_t *n)
{
    spec_pos p = {0, 0};
    if (n) {
        p.line = (int)n->start_mark.line + 1;
        p.col = (int)n->start_mark.column + 1;
    }
    return p;
}

int spec_node_is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

const char *spec_node_text(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

const char *spec_node_kind(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a single value";
    }
}

yaml_node_t *spec_doc_node(spec_doc *d, int id)
{
    return yaml_document_get_node(&d->doc, id);
}

yaml_node_t *spec_doc_root(spec_doc *d)
{
    return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *spec_map_get(spec_doc *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = spec_node_text(spec_doc_node(d, p->key));
        if (k && !strcmp(k, key))
            return spec_doc_node(d, p->value);
    }
    return NULL;
}

/* A reader error carries a byte offset, not a mark: count lines up to it. */
static spec_pos pos_of_offset(const char *text, size_t len, size_t offset)
{
    spec_pos p = {1, 1};
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            p.line++;
            p.col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

/* libyaml's words for a tab in the indentation do not mention tabs; it is the usual cause. */
static int indented_with_tab(const char *text, size_t len, size_t line)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < len; i++)
        if (text[i] == '\n')
            l++;
    for (; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
        if (text[i] == '\t')
            return 1;
    return 0;
}

static int parser_failure(yaml_parser_t *parser, const char *text, size_t len, const char *filename,
                          amlfs_err *err)
{
    const char *problem = parser->problem ? parser->problem : "not valid YAML";
    if (parser->error == YAML_MEMORY_ERROR)
        return spec_fail_at(err, ENOMEM, filename, (spec_pos){0, 0}, "out of memory parsing YAML");
    if (parser->error == YAML_READER_ERROR) {
        spec_pos p = pos_of_offset(text, len, parser->problem_offset);
        return spec_fail_at(err, EINVAL, filename, p, "%s (the file must be UTF-8 text)", problem);
    }
    spec_pos p = {(int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1};
    const char *hint = indented_with_tab(text, len, parser->problem_mark.line)
                           ? ": this line is indented with a tab; YAML indents with spaces"
                           : "";
    if (parser->context)
        return spec_fail_at(err, EINVAL, filename, p, "%s (%s at line %d column %d)%s", problem,
                            parser->context, (int)parser->context_mark.line + 1,
                            (int)parser->context_mark.column + 1, hint);
    return spec_fail_at(err, EINVAL, filename, p, "%s%s", problem, hint);
}

int spec_doc_load(spec_doc *d, const char *text, size_t len, const char *filename, const char *kind,
                  const char *example, amlfs_err *err)
{
    memset(d, 0, sizeof *d);
    d->filename = filename;
    int checked = spec_doc_check_limits(text, text ? len : 0, filename, err);
    if (checked < 0)
        return checked;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return spec_fail_at(err, ENOMEM, filename, (spec_pos){0, 0}, "out of memory parsing YAML");
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    int rc = 0;
    if (!yaml_parser_load(&parser, &d->doc)) {
        rc = parser_failure(&parser, text, len, filename, err);
        goto out;
    }
    d->loaded = 1;
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    if (!root || spec_node_is_null(root)) {
        rc = spec_fail_at(err, EINVAL, filename, (spec_pos){1, 1},
                          "the file is empty: %s file needs keys, e.g. `%s`", kind, example);
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = spec_fail_at(err, EINVAL, filename, spec_node_pos(root),
                          "%s file must be a mapping of keys, e.g. `%s`, not %s", kind, example,
                          spec_node_kind(root));
        goto out;
    }
    /* A second document would be silently ignored by a one-document reader: refuse it instead. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        rc = parser_failure(&parser, text, len, filename, err);
        goto out;
    }
    yaml_node_t *next_root = yaml_document_get_root_node(&next);
    if (next_root)
        rc = spec_fail_at(err, EINVAL, filename, spec_node_pos(next_root),
                          "a second YAML document starts here: write one document per file");
    yaml_document_delete(&next);
out:
    yaml_parser_delete(&parser);
    if (rc < 0)
        spec_doc_free(d);
    return rc;
}

void spec_doc_free(spec_doc *d)
{
    if (d && d->loaded) {
        yaml_document_delete(&d->doc);
        d->loaded = 0;
    }
}
