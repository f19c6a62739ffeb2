/* emit.c: one node of a loaded document written back as a standalone YAML document (libyaml's
 * emitter), for values kept as text: an inline conda_file, a compute's type-specific mapping. */
#include "amlfs/spec_yaml.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

/* Anchors can make a node contain itself, and aliases can multiply a small file into a huge tree:
 * both limits turn that into an error instead of a hang. */
#define EMIT_MAX_DEPTH 64
#define EMIT_MAX_NODES 100000

int spec_yaml_buf_write(void *ctx, unsigned char *bytes, size_t size)
{
    spec_yaml_buf *b = ctx;
    if (b->len + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + size + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return 0;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, size);
    b->len += size;
    b->data[b->len] = '\0';
    return 1;
}

typedef struct emit_state {
    spec_doc *d;
    yaml_emitter_t emitter;
    size_t nodes;
} emit_state;

static int emit_node(emit_state *s, yaml_node_t *n, int depth)
{
    yaml_event_t ev;
    if (!n || depth > EMIT_MAX_DEPTH || ++s->nodes > EMIT_MAX_NODES)
        return -E2BIG;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (!yaml_scalar_event_initialize(&ev, NULL, NULL, n->data.scalar.value, (int)n->data.scalar.length,
                                          1, 1, n->data.scalar.style))
            return -ENOMEM;
        return yaml_emitter_emit(&s->emitter, &ev) ? 0 : -EIO;
    case YAML_SEQUENCE_NODE:
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, n->data.sequence.style) ||
            !yaml_emitter_emit(&s->emitter, &ev))
            return -EIO;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            int rc = emit_node(s, spec_doc_node(s->d, *it), depth + 1);
            if (rc < 0)
                return rc;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(&s->emitter, &ev) ? 0 : -EIO;
    case YAML_MAPPING_NODE:
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, n->data.mapping.style) ||
            !yaml_emitter_emit(&s->emitter, &ev))
            return -EIO;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            int rc = emit_node(s, spec_doc_node(s->d, p->key), depth + 1);
            if (rc == 0)
                rc = emit_node(s, spec_doc_node(s->d, p->value), depth + 1);
            if (rc < 0)
                return rc;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(&s->emitter, &ev) ? 0 : -EIO;
    default:
        return -EINVAL;
    }
}

static int emit_document(emit_state *s, yaml_node_t *n)
{
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&s->emitter, &ev))
        return -EIO;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (!yaml_emitter_emit(&s->emitter, &ev))
        return -EIO;
    int rc = emit_node(s, n, 0);
    if (rc < 0)
        return rc;
    yaml_document_end_event_initialize(&ev, 1);
    if (!yaml_emitter_emit(&s->emitter, &ev))
        return -EIO;
    yaml_stream_end_event_initialize(&ev);
    return yaml_emitter_emit(&s->emitter, &ev) ? 0 : -EIO;
}

int spec_node_to_yaml(spec_doc *d, yaml_node_t *n, char **out, amlfs_err *err)
{
    *out = NULL;
    emit_state s = {.d = d};
    spec_yaml_buf buf = {0};
    if (!yaml_emitter_initialize(&s.emitter))
        return spec_fail_at(err, ENOMEM, d->filename, spec_node_pos(n), "out of memory writing YAML");
    yaml_emitter_set_output(&s.emitter, spec_yaml_buf_write, &buf);
    yaml_emitter_set_unicode(&s.emitter, 1);
    yaml_emitter_set_width(&s.emitter, -1);
    int rc = emit_document(&s, n);
    yaml_emitter_delete(&s.emitter);
    if (rc < 0) {
        free(buf.data);
        if (rc == -E2BIG)
            return spec_fail_at(err, EINVAL, d->filename, spec_node_pos(n),
                                "this value is nested too deeply or repeats itself through aliases");
        return spec_fail_at(err, EIO, d->filename, spec_node_pos(n), "could not write this value back as YAML");
    }
    *out = buf.data ? buf.data : util_xstrdup("");
    return 0;
}
