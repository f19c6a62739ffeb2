/* text.c: user text (labels, names, values) made safe for SVG and TSV: UTF-8 checked, controls
 * and XML-forbidden characters replaced, XML escaped, long text cut with an ellipsis. */
#include "chart_internal.h"

#include <errno.h>
#include <string.h>

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* The code point at s (length *len), or -1 for a byte that starts no valid UTF-8 sequence (then
 * *len is 1: the next byte gets its own chance). Overlong forms and surrogates are invalid. */
static long utf8_decode(const unsigned char *s, size_t *len)
{
    unsigned char c = s[0];
    *len = 1;
    if (c < 0x80)
        return c;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    long cp;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates above */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF above */
    } else {
        return -1;
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned char b = s[i]; /* a NUL ends the check: it is no continuation byte */
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
            return -1;
        cp = (cp << 6) | (b & 0x3F);
    }
    *len = need + 1;
    return cp;
}

size_t chart_text_chars(const char *s, size_t max)
{
    size_t n = 0, len;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n < max; p += len, n++)
        utf8_decode(p, &len);
    return n;
}

/* Bytes gathered before they go to the buffer, so a long value is not appended byte by byte. */
typedef struct text_sink {
    util_buf *out;
    size_t limit;
    size_t used;
    int rc;
    char chunk[512];
} text_sink;

static void sink_flush(text_sink *k)
{
    if (k->used && k->rc == 0)
        k->rc = util_buf_append(k->out, k->chunk, k->used, k->limit);
    k->used = 0;
}

static void sink_put(text_sink *k, const void *bytes, size_t n)
{
    if (k->used + n > sizeof k->chunk)
        sink_flush(k);
    if (n > sizeof k->chunk) {
        if (k->rc == 0)
            k->rc = util_buf_append(k->out, bytes, n, k->limit);
        return;
    }
    memcpy(k->chunk + k->used, bytes, n);
    k->used += n;
}

static void put_char(text_sink *k, const unsigned char *p, size_t len, long cp, chart_text_mode mode)
{
    if (cp < 0 || cp == 0xFFFE || cp == 0xFFFF) {
        sink_put(k, REPLACEMENT, 3);
        return;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
        sink_put(k, " ", 1); /* one line, and nothing XML 1.0 forbids */
        return;
    }
    if (mode == CHART_TEXT_XML) {
        const char *esc = NULL;
        switch (cp) {
        case '&': esc = "&amp;"; break;
        case '<': esc = "&lt;"; break;
        case '>': esc = "&gt;"; break;
        case '"': esc = "&quot;"; break;
        case '\'': esc = "&#39;"; break;
        }
        if (esc) {
            sink_put(k, esc, strlen(esc));
            return;
        }
    }
    sink_put(k, p, len);
}

int chart_text_append(util_buf *out, const char *s, size_t max_chars, const char *ellipsis,
                      chart_text_mode mode, size_t limit)
{
    text_sink k = {.out = out, .limit = limit};
    size_t keep = (size_t)-1;
    bool cut = false;
    if (max_chars > 0 && chart_text_chars(s, max_chars + 1) > max_chars) {
        keep = max_chars - 1;
        cut = true;
    }
    size_t len, n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n < keep; p += len, n++) {
        long cp = utf8_decode(p, &len);
        put_char(&k, p, len, cp, mode);
    }
    if (cut && ellipsis)
        sink_put(&k, ellipsis, strlen(ellipsis));
    sink_flush(&k);
    return k.rc;
}
