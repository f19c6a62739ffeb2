/* blob_xml.c: the service's XML with libxml2: List Blobs pages and error bodies parsed, the Put Block List
 * body written. No network access, no entity expansion, no messages on stderr. */
#include "blob_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

/* Longest blob name the service allows (1,024 characters; a few bytes each). */
#define NAME_LIMIT 4096
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
    xmlInitParser();
}

static xmlDocPtr parse(const char *xml, size_t len)
{
    pthread_once(&xml_once, xml_init);
    if (!xml || len == 0 || len > INT32_MAX)
        return NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "answer.xml", NULL, PARSE_OPTIONS);
    if (doc && doc->intSubset) { /* the service never sends a DTD: entities are not read, not even once */
        xmlFreeDoc(doc);
        doc = NULL;
    }
    return doc;
}

static bool is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (is(n, name))
            return n;
    return NULL;
}

/* The text of an element, malloc'd ("" when empty). */
static char *text_of(const xmlNode *n)
{
    xmlChar *t = xmlNodeGetContent(n);
    char *s = util_xstrdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

int blob_xml_error(const char *xml, size_t len, char *code, size_t code_len, char *msg, size_t msg_len)
{
    code[0] = msg[0] = '\0';
    xmlDocPtr doc = parse(xml, len);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !is(root, "Error")) {
        xmlFreeDoc(doc);
        return -1;
    }
    xmlNode *c = child(root, "Code"), *m = child(root, "Message");
    if (c) {
        char *t = text_of(c);
        snprintf(code, code_len, "%s", t);
        free(t);
    }
    if (m) {
        char *t = text_of(m);
        t[strcspn(t, "\r\n")] = '\0'; /* the first line; RequestId and Time follow */
        snprintf(msg, msg_len, "%s", t);
        free(t);
    }
    xmlFreeDoc(doc);
    return 0;
}

/* A name as the service lists it: percent-encoded when Encoded="true" (names with characters XML cannot
 * carry). NULL when it is not a usable name. */
static char *name_of(const xmlNode *n)
{
    char *name = text_of(n);
    xmlChar *encoded = xmlGetProp(n, (const xmlChar *)"Encoded");
    bool is_encoded = encoded && strcmp((const char *)encoded, "true") == 0;
    xmlFree(encoded);
    if (is_encoded) {
        int out_len = 0;
        char *decoded = curl_easy_unescape(NULL, name, 0, &out_len);
        free(name);
        name = NULL;
        if (decoded && (size_t)out_len == strlen(decoded))
            name = util_xstrdup(decoded);
        curl_free(decoded);
    }
    if (name && (!*name || strlen(name) > NAME_LIMIT)) {
        free(name);
        name = NULL;
    }
    return name;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Properties of one <Blob>: 0, or -1 when a required one is missing or malformed. */
static int blob_properties(const xmlNode *props, blob_entry *e)
{
    xmlNode *n = child(props, "Content-Length");
    char *t = n ? text_of(n) : NULL;
    bool ok = t && parse_u64(t, &e->size);
    free(t);
    if (!ok)
        return -1;
    if ((n = child(props, "Last-Modified"))) {
        t = text_of(n);
        time_t when = curl_getdate(t, NULL);
        e->last_modified_ms = when == (time_t)-1 ? 0 : (int64_t)when * 1000;
        free(t);
    }
    if ((n = child(props, "Etag")))
        e->etag = text_of(n);
    if ((n = child(props, "Content-MD5"))) {
        t = text_of(n);
        if (*t)
            e->content_md5 = t;
        else
            free(t);
    }
    return 0;
}

static size_t grow(size_t count)
{
    return count < 16 ? 16 : count * 2;
}

int blob_xml_listing(const char *xml, size_t len, blob_listing *out, size_t limit, char **next_marker,
                     amlfs_err *err)
{
    *next_marker = NULL;
    xmlDocPtr doc = parse(xml, len);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !is(root, "EnumerationResults")) {
        xmlFreeDoc(doc);
        return amlfs_fail(err, EIO, "the answer is not a blob listing (no EnumerationResults)");
    }
    int rc = 0;
    size_t blob_cap = out->count, prefix_cap = out->prefix_count;
    xmlNode *blobs = child(root, "Blobs");
    for (xmlNode *n = blobs ? blobs->children : NULL; n && rc == 0; n = n->next) {
        bool is_blob = is(n, "Blob"), is_prefix = is(n, "BlobPrefix");
        if (!is_blob && !is_prefix)
            continue;
        if (out->count + out->prefix_count >= limit) {
            rc = amlfs_fail(err, EFBIG, "more than %zu entries", limit);
            break;
        }
        xmlNode *name_node = child(n, "Name");
        char *name = name_node ? name_of(name_node) : NULL;
        if (!name) {
            rc = amlfs_fail(err, EIO, "the listing has a %s without a usable Name", is_blob ? "Blob" : "BlobPrefix");
            break;
        }
        if (is_prefix) {
            if (out->prefix_count == prefix_cap) {
                prefix_cap = grow(prefix_cap);
                out->prefixes = util_xrealloc(out->prefixes, prefix_cap * sizeof *out->prefixes);
            }
            out->prefixes[out->prefix_count++] = name;
            continue;
        }
        blob_entry e = {.name = name};
        if (blob_properties(child(n, "Properties"), &e) < 0) {
            rc = amlfs_fail(err, EIO, "the listing's blob '%s' has no valid Content-Length", name);
            blob_entry_free(&e);
            break;
        }
        if (out->count == blob_cap) {
            blob_cap = grow(blob_cap);
            out->blobs = util_xrealloc(out->blobs, blob_cap * sizeof *out->blobs);
        }
        out->blobs[out->count++] = e;
    }
    xmlNode *marker = child(root, "NextMarker");
    if (rc == 0 && marker) {
        char *m = text_of(marker);
        if (*m)
            *next_marker = m;
        else
            free(m);
    }
    xmlFreeDoc(doc);
    return rc;
}

char *blob_xml_block_list(char *const *ids, size_t n, size_t *len)
{
    pthread_once(&xml_once, xml_init);
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w) {
        xmlBufferFree(buf);
        return NULL;
    }
    bool ok = xmlTextWriterStartDocument(w, NULL, "utf-8", NULL) >= 0 &&
              xmlTextWriterStartElement(w, (const xmlChar *)"BlockList") >= 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = xmlTextWriterWriteElement(w, (const xmlChar *)"Latest", (const xmlChar *)ids[i]) >= 0;
    ok = ok && xmlTextWriterEndDocument(w) >= 0;
    xmlFreeTextWriter(w); /* flushes into buf */
    char *out = NULL;
    if (ok) {
        *len = (size_t)xmlBufferLength(buf);
        out = util_xcalloc(1, *len + 1);
        memcpy(out, xmlBufferContent(buf), *len);
    }
    xmlBufferFree(buf);
    return out;
}
