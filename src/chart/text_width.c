/* text_width.c: how wide text is drawn, so labels are laid out and cut to the room they have: DejaVu
 * Sans' advances (Debian's sans-serif, and wider than Arial or Liberation Sans, so what fits here fits). */
#include "chart_internal.h"

#include <string.h>

/* Advance widths of ' ' .. '~' in 1/2048 em (DejaVu Sans Book). */
static const unsigned short ascii_advance[95] = {
    651,  821,  942,  1716, 1303, 1946, 1597, 563,  799,  799,  1024, 1716, 651,  739,  651,  690,  /*  ../ */
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690,  690,  1716, 1716, 1716, 1087, /* 0..? */
    2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604,  604,  1343, 1141, 1767, 1532, 1612, /* @..O */
    1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799,  690,  799,  1716, 1024, /* P.._ */
    1024, 1255, 1300, 1126, 1300, 1260, 721,  1300, 1298, 569,  569,  1186, 569,  1995, 1298, 1253, /* `..o */
    1300, 1300, 842,  1067, 803,  1298, 1212, 1675, 1212, 1212, 1075, 1303, 690,  1303, 1716,       /* p..~ */
};
#define OTHER_ADVANCE 1434 /* anything else: a wide letter's (CJK is wider still, but rare in labels) */
#define ELLIPSIS_ADVANCE 2048
#define BOLD_FACTOR 1.1 /* DejaVu Sans Bold is about this much wider */

/* The advance of the character at *p (moving p past it), in 1/2048 em. */
static unsigned advance(const unsigned char **p)
{
    unsigned char c = **p;
    if (c < 0x80) {
        (*p)++;
        return c >= ' ' && c <= '~' ? ascii_advance[c - ' '] : ascii_advance[0];
    }
    size_t len = 1;
    while ((*p)[len] && ((*p)[len] & 0xC0) == 0x80 && len < 4)
        len++;
    bool dot = len == 2 && c == 0xC2 && (*p)[1] == 0xB7; /* U+00B7, the legend's separator */
    *p += len;
    return dot ? ascii_advance['.' - ' '] : OTHER_ADVANCE;
}

double chart_text_px(const char *s, double font_px, bool bold)
{
    double units = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;)
        units += advance(&p);
    return units / 2048.0 * font_px * (bold ? BOLD_FACTOR : 1);
}

size_t chart_text_fit(const char *s, double room_px, double font_px, bool bold)
{
    if (chart_text_px(s, font_px, bold) <= room_px)
        return 0;
    double scale = font_px * (bold ? BOLD_FACTOR : 1) / 2048.0;
    double used = ELLIPSIS_ADVANCE * scale;
    size_t keep = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; keep++) {
        used += advance(&p) * scale;
        if (used > room_px)
            break;
    }
    return keep + 1; /* chart_text_append keeps max_chars - 1 and adds the ellipsis */
}
