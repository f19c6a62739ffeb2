/* redact.c: YAML text with secrets (image_registry.password, a datastore's credentials) replaced by "***",
 * every other byte kept, so a spec read back through the mount is the file the user wrote minus its secrets. */
#include "amlfs/spec_yaml.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "amlfs/util.h"

typedef struct char_range {
    size_t start, end; /* libyaml character indexes, end exclusive */
} char_range;

typedef struct range_list {
    char_range *items;
    size_t count, cap;
} range_list;

static void add_range(range_list *l, size_t start, size_t end)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        char_range *items = realloc(l->items, l->cap * sizeof *items);
        if (!items)
            abort(); /* out of memory: same policy as util_x* */
        l->items = items;
    }
    l->items[l->count++] = (char_range){start, end};
}

static const char *key_text(yaml_document_t *doc, int id)
{
    yaml_node_t *k = yaml_document_get_node(doc, id);
    return k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
}

/* Where secrets live: a key of the mapping under each parent key. */
static const struct {
    const char *parent;
    const char *const keys[4];
} secret_places[] = {
    {"image_registry", {"password", NULL}},
    {"credentials", {"account_key", "sas_token", "client_secret", NULL}}, /* datastores */
};

static bool is_secret(const char *parent, const char *key)
{
    for (size_t i = 0; i < sizeof secret_places / sizeof secret_places[0]; i++) {
        if (strcmp(parent, secret_places[i].parent) != 0)
            continue;
        for (size_t j = 0; secret_places[i].keys[j]; j++)
            if (strcmp(key, secret_places[i].keys[j]) == 0)
                return true;
    }
    return false;
}

/* Every node of a document sits in one flat array, so a loop finds each secret-holding mapping at
 * any depth (a file's root, a job's inline environment) without recursing through aliases. */
static void find_secrets(yaml_document_t *doc, range_list *out)
{
    for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const char *k = key_text(doc, p->key);
            yaml_node_t *holder = yaml_document_get_node(doc, p->value);
            if (!k || !holder || holder->type != YAML_MAPPING_NODE)
                continue;
            for (yaml_node_pair_t *q = holder->data.mapping.pairs.start; q < holder->data.mapping.pairs.top; q++) {
                const char *rk = key_text(doc, q->key);
                yaml_node_t *secret = yaml_document_get_node(doc, q->value);
                if (rk && secret && is_secret(k, rk))
                    add_range(out, secret->start_mark.index, secret->end_mark.index);
            }
        }
    }
}

static int by_start(const void *a, const void *b)
{
    const char_range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* libyaml counts characters (a UTF-8 sequence is one), not bytes, and does not count a BOM. */
static size_t byte_offset(const char *text, size_t len, size_t chars, size_t *cursor_byte, size_t *cursor_char)
{
    size_t b = *cursor_byte, c = *cursor_char;
    while (c < chars && b < len) {
        unsigned char lead = (unsigned char)text[b];
        b += lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        c++;
    }
    if (b > len)
        b = len;
    *cursor_byte = b;
    *cursor_char = c;
    return b;
}

static char *splice(const char *text, size_t len, range_list *ranges)
{
    if (ranges->count)
        qsort(ranges->items, ranges->count, sizeof *ranges->items, by_start);
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        abort();
    size_t bom = len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0;
    size_t cur_b = bom, cur_c = 0, copied = 0;
    for (size_t i = 0; i < ranges->count; i++) {
        char_range r = ranges->items[i];
        if (r.start < cur_c) /* the same node reached through an alias, or nested: already hidden */
            continue;
        size_t from = byte_offset(text, len, r.start, &cur_b, &cur_c);
        size_t to = byte_offset(text, len, r.end, &cur_b, &cur_c);
        fwrite(text + copied, 1, from - copied, f);
        /* Quoted: a plain *** is a YAML alias, and a file saved as it reads back must still parse. */
        fputs("\"***\"", f);
        /* A block scalar's range runs to the next key: keep its line breaks so later lines keep
         * their numbers and the text still parses. */
        for (size_t j = from; j < to; j++)
            if (text[j] == '\n')
                fputc('\n', f);
        copied = to;
    }
    fwrite(text + copied, 1, len - copied, f);
    fclose(f);
    return out;
}

/* Text libyaml cannot read still must not show a password: blank the rest of every line that
 * mentions one after its first ':'. Cruder than the parsed path, used only for broken files. */
static char *scrub_lines(const char *text, size_t len)
{
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        abort();
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        char *line = strndup(p, (size_t)(line_end - p));
        if (!line)
            abort();
        const char *colon = strchr(line, ':');
        if ((strcasestr(line, "password") || strcasestr(line, "account_key") || strcasestr(line, "sas_token") ||
             strcasestr(line, "client_secret")) && colon) {
            fwrite(line, 1, (size_t)(colon - line) + 1, f);
            fputs(" \"***\"", f);
        } else {
            fwrite(p, 1, (size_t)(line_end - p), f);
        }
        free(line);
        if (nl)
            fputc('\n', f);
        p = nl ? nl + 1 : end;
    }
    fclose(f);
    return out;
}

char *spec_redact_yaml(const char *text, size_t len)
{
    if (!text)
        return util_xstrdup("");
    if (len >= 2 && ((unsigned char)text[0] == 0xFF || (unsigned char)text[0] == 0xFE))
        return util_xstrdup("# hidden: this file is UTF-16 text and may hold a secret\n");
    range_list ranges = {0};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = 1;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            ok = 0;
            break;
        }
        int empty = yaml_document_get_root_node(&doc) == NULL;
        if (!empty)
            find_secrets(&doc, &ranges);
        yaml_document_delete(&doc);
        if (empty)
            break;
    }
    yaml_parser_delete(&parser);
    char *out = ok ? splice(text, len, &ranges) : scrub_lines(text, len);
    free(ranges.items);
    return out;
}
