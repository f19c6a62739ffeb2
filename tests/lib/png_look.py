#!/usr/bin/env python3
# png_look.py: looks at a chart's screenshot as a person would (png_look.py CHART.svg SHOT.png [--across]):
# the picture is not blank, nothing is cut at its edges, each line's colour is in the plot (with --across:
# over a fifth of its width at least), each legend entry shows its colour, and tick labels stand apart.
# Prints what is wrong and exits 1, or prints "ok".
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def decode_png(path):
    """(width, height, rows): rows[y][x] is (r, g, b); 8-bit RGB or RGBA, not interlaced (what Chromium
    writes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s is not a PNG" % path)
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError("unexpected PNG format: depth %d colour type %d interlace %d" % (depth, colour, interlace))
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def hex_rgb(s):
    s = s.lstrip("#")
    return tuple(int(s[i:i + 2], 16) for i in (0, 2, 4))


def near(p, c):
    """p is colour c laid over white at 40% or more (a thin line's antialiased edge, or a line between two
    pixel rows, is paler but of the same hue)."""
    d = [255 - v for v in c]
    dd = sum(v * v for v in d)
    if dd == 0:
        return min(p) > 230
    a = sum((255 - q) * v for q, v in zip(p, d)) / dd
    if a < 0.4:
        return False
    return all(abs((255 - a * v) - q) <= 30 for q, v in zip(p, d))


def ink(p):
    """Darker than the grid's light grey: text, lines, the frame."""
    return min(p) < 200


def count(rows, box, test):
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    n = 0
    for y in range(max(y0, 0), min(y1, len(rows))):
        row = rows[y]
        for x in range(max(x0, 0), min(x1, len(row))):
            n += test(row[x])
    return n


def groups(flags, gap=2):
    """How many separate stretches of True there are, stretches closer than gap merged."""
    n, last = 0, None
    for i, f in enumerate(flags):
        if f:
            if last is None or i - last > gap:
                n += 1
            last = i
    return n


def num(e, a):
    return float(e.get(a, "0"))


def main(svg_path, png_path, across=False):
    root = ET.parse(svg_path).getroot()
    w, h = num(root, "width"), num(root, "height")
    pw, ph, rows = decode_png(png_path)
    wrong = []
    if (pw, ph) != (int(w), int(h)):
        wrong.append("the screenshot is %dx%d, the chart %dx%d" % (pw, ph, w, h))
    inked = count(rows, (0, 0, pw, ph), ink)
    if inked < pw * ph * 0.005:
        wrong.append("the picture is blank (%d dark pixels)" % inked)
    # Nothing touches the edges: a title, label or legend running off the picture would.
    for name, box in (("left", (0, 0, 2, ph)), ("right", (pw - 2, 0, pw, ph)), ("top", (0, 0, pw, 2)),
                      ("bottom", (0, ph - 2, pw, ph))):
        n = count(rows, box, ink)
        if n:
            wrong.append("%d dark pixels on the %s edge: something is cut there" % (n, name))
    frame = [r for r in root.iter(SVG + "rect") if r.get("stroke") and r.get("fill") == "none"]
    if len(frame) != 1:
        wrong.append("%d plot frames in the SVG" % len(frame))
        print("\n".join(wrong))
        return 1
    fx, fy = num(frame[0], "x"), num(frame[0], "y")
    fw, fh = num(frame[0], "width"), num(frame[0], "height")
    plot = (fx + 2, fy + 2, fx + fw - 1, fy + fh - 1)
    seen = {}  # colour -> pixels of it in the plot (runs share the palette's colours)
    for p in root.iter(SVG + "path"):
        if not p.get("d"):
            continue
        colour = hex_rgb(p.get("stroke"))
        if colour not in seen:
            xs = [x for x in range(int(plot[0]), int(plot[2]))
                  if count(rows, (x, plot[1], x + 1, plot[3]), lambda px: near(px, colour))]
            seen[colour] = (count(rows, plot, lambda px: near(px, colour)), len(xs))
        n, wide = seen[colour]
        if n < 20:
            wrong.append("the line of colour %s shows in %d pixels of the plot" % (p.get("stroke"), n))
        # With --across every line is expected over the plot's width, not bunched up at one x.
        if across and wide < fw * 0.2:
            wrong.append("the line of colour %s is %d pixels wide in a %d pixel plot" % (p.get("stroke"), wide, fw))
    # The legend: each entry's sample line in its colour, its entries in separate rows.
    samples = [l for l in root.iter(SVG + "line") if l.get("stroke-width") == "2"]
    for l in samples:
        x1, x2, y = num(l, "x1"), num(l, "x2"), num(l, "y1")
        colour = hex_rgb(l.get("stroke"))
        n = count(rows, (x1, y - 2, x2 + 1, y + 3), lambda px: near(px, colour))
        if n < 5:
            wrong.append("the legend's %s entry at y=%g shows %d pixels of its colour" % (l.get("stroke"), y, n))
    if samples:
        x1 = num(samples[0], "x1")
        lines = groups([count(rows, (x1, y, x1 + 22, y + 1), ink) > 0 for y in range(ph)])
        if lines < len(samples):
            wrong.append("the legend's %d entries run together into %d rows" % (len(samples), lines))
    # Tick labels: the x ones side by side under the plot, the y ones above each other left of it; a
    # person must see each one apart (as many separate blobs of ink as there are labels).
    texts = list(root.iter(SVG + "text"))
    xticks = [t for t in texts if abs(num(t, "y") - (fy + fh + 15)) < 0.5 and not t.get("font-size")]
    band = [count(rows, (x, fy + fh + 5, x + 1, fy + fh + 19), ink) > 0 for x in range(pw)]
    if xticks and groups(band, gap=4) < len(xticks):
        wrong.append("%d x tick labels run together into %d" % (len(xticks), groups(band, gap=4)))
    yticks = [t for t in texts if abs(num(t, "x") - (fx - 6)) < 0.5]
    band = [count(rows, (0 if fx < 40 else 30, y, fx - 3, y + 1), ink) > 0 for y in range(ph)]
    if yticks and groups(band, gap=1) < len(yticks):
        wrong.append("%d y tick labels run together into %d" % (len(yticks), groups(band, gap=1)))
    if wrong:
        print("\n".join(wrong))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], "--across" in sys.argv[3:]))
