#!/usr/bin/env python3
"""Tables and plots of nccl-tests-format outputs (all_reduce_perf and the
baselines), as written by run_compare.sh.

    perf/plot_busbw.py RESULTS_DIR [--placement out|in|best] [--stat min|median]
                       [--no-plot] [--svg]

Files are named <implementation>_n<ranks>.txt, or <implementation>_n<ranks>.r<k>.txt
for repeated rounds, of which each size keeps its fastest (lowest time), or with
--stat median its median round (the slower middle one of an even count): on a
shared machine the fastest of a few rounds favours whichever implementation
was luckiest with the load, the median what a run typically gives. For each rank count this prints
a Markdown table (time and busbw per implementation, and the first
implementation's speed relative to each other one, as a time ratio) and draws
busbw against size, one line per implementation: a PNG with matplotlib when it
is installed, otherwise a PNG (or with --svg an SVG) written with the standard
library alone, so the script needs nothing beyond python3.
"""
import argparse
import math
import os
import re
import struct
import sys
import zlib

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
          "#e377c2", "#7f7f7f"]

# 5x7 bitmap glyphs for the PNG writer: 7 rows of 5 pixels per character.
GLYPHS = {
    ' ': "00000 00000 00000 00000 00000 00000 00000",
    '0': "01110 10001 10011 10101 11001 10001 01110",
    '1': "00100 01100 00100 00100 00100 00100 01110",
    '2': "01110 10001 00001 00010 00100 01000 11111",
    '3': "11111 00010 00100 00010 00001 10001 01110",
    '4': "00010 00110 01010 10010 11111 00010 00010",
    '5': "11111 10000 11110 00001 00001 10001 01110",
    '6': "00110 01000 10000 11110 10001 10001 01110",
    '7': "11111 00001 00010 00100 01000 01000 01000",
    '8': "01110 10001 10001 01110 10001 10001 01110",
    '9': "01110 10001 10001 01111 00001 00010 01100",
    'a': "00000 00000 01110 00001 01111 10001 01111",
    'b': "10000 10000 10110 11001 10001 10001 11110",
    'c': "00000 00000 01110 10000 10000 10001 01110",
    'd': "00001 00001 01101 10011 10001 10001 01111",
    'e': "00000 00000 01110 10001 11111 10000 01110",
    'f': "00110 01001 01000 11100 01000 01000 01000",
    'g': "00000 01111 10001 10001 01111 00001 01110",
    'h': "10000 10000 10110 11001 10001 10001 10001",
    'i': "00100 00000 01100 00100 00100 00100 01110",
    'j': "00010 00000 00110 00010 00010 10010 01100",
    'k': "10000 10000 10010 10100 11000 10100 10010",
    'l': "01100 00100 00100 00100 00100 00100 01110",
    'm': "00000 00000 11010 10101 10101 10001 10001",
    'n': "00000 00000 10110 11001 10001 10001 10001",
    'o': "00000 00000 01110 10001 10001 10001 01110",
    'p': "00000 00000 11110 10001 11110 10000 10000",
    'q': "00000 00000 01101 10011 01111 00001 00001",
    'r': "00000 00000 10110 11001 10000 10000 10000",
    's': "00000 00000 01110 10000 01110 00001 11110",
    't': "01000 01000 11100 01000 01000 01001 00110",
    'u': "00000 00000 10001 10001 10001 10011 01101",
    'v': "00000 00000 10001 10001 10001 01010 00100",
    'w': "00000 00000 10001 10001 10101 10101 01010",
    'x': "00000 00000 10001 01010 00100 01010 10001",
    'y': "00000 00000 10001 10001 01111 00001 01110",
    'z': "00000 00000 11111 00010 00100 01000 11111",
    'A': "01110 10001 10001 11111 10001 10001 10001",
    'B': "11110 10001 10001 11110 10001 10001 11110",
    'G': "01110 10001 10000 10111 10001 10001 01111",
    'I': "01110 00100 00100 00100 00100 00100 01110",
    'K': "10001 10010 10100 11000 10100 10010 10001",
    'M': "10001 11011 10101 10101 10001 10001 10001",
    'N': "10001 10001 11001 10101 10011 10001 10001",
    'O': "01110 10001 10001 10001 10001 10001 01110",
    'P': "11110 10001 10001 11110 10000 10000 10000",
    'S': "01111 10000 10000 01110 00001 00001 11110",
    '.': "00000 00000 00000 00000 00000 01100 01100",
    ',': "00000 00000 00000 00000 01100 00100 01000",
    '_': "00000 00000 00000 00000 00000 00000 11111",
    '-': "00000 00000 00000 11111 00000 00000 00000",
    '+': "00000 00100 00100 11111 00100 00100 00000",
    '/': "00000 00001 00010 00100 01000 10000 00000",
    '(': "00010 00100 01000 01000 01000 00100 00010",
    ')': "01000 00100 00010 00010 00010 00100 01000",
    ':': "00000 01100 01100 00000 01100 01100 00000",
    '=': "00000 00000 11111 00000 11111 00000 00000",
}


def parse(path):
    """Rows of (bytes, time_us, busbw) for one placement, from a results file."""
    rows = {"out": [], "in": [], "best": []}
    for line in open(path, encoding="utf-8", errors="replace"):
        line = re.sub(r"^\[\d+\] ", "", line)  # a launcher's rank prefix
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        if len(f) < 13:
            continue
        try:
            size = int(f[0])
            rows["out"].append((size, float(f[5]), float(f[7])))
            rows["in"].append((size, float(f[9]), float(f[11])))
            rows["best"].append(min(rows["out"][-1], rows["in"][-1], key=lambda r: r[1]))
        except ValueError:
            continue
    return rows


def load(directory, placement, stat="min"):
    """{ranks: {implementation: rows}} in the order implementations appear."""
    groups = {}
    rounds = {}
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"(.+)_n(\d+)(\.r\d+)?\.txt", name)
        if not m:
            continue
        impl, n = m.group(1), int(m.group(2))
        rounds[(impl, n)] = rounds.get((impl, n), 0) + 1
        per_size = groups.setdefault(n, {}).setdefault(impl, {})
        for size, t, b in parse(os.path.join(directory, name))[placement]:
            per_size.setdefault(size, []).append((size, t, b))
    for n in groups:
        for impl in list(groups[n]):
            picked = []
            for rows in groups[n][impl].values():
                rows.sort(key=lambda r: r[1])
                picked.append(rows[0] if stat == "min" else rows[len(rows) // 2])
            groups[n][impl] = sorted(picked)
            if not groups[n][impl]:
                del groups[n][impl]
    # The order run_compare.sh ran them in (shoal first), so ratios read
    # "shoal relative to X"; otherwise shoal first, then by name.
    order = {}
    commands = os.path.join(directory, "commands.txt")
    if os.path.exists(commands):
        for line in open(commands, encoding="utf-8"):
            m = re.match(r"(.+)_n\d+(?:\.r\d+)?: ", line)
            if m:
                order.setdefault(m.group(1), len(order))

    def rank(impl):
        return (order.get(impl, len(order)), not impl.startswith("shoal"), impl)

    for n in groups:
        groups[n] = dict(sorted(groups[n].items(), key=lambda kv: rank(kv[0])))
    return groups, max(rounds.values(), default=0)


def human(size):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def us(t):
    """Three significant digits, as nccl-tests prints times."""
    return f"{t:.0f}" if t >= 10000 else f"{t:.1f}" if t >= 100 else f"{t:.2f}"


def table(n, impls, rounds, stat="min"):
    names = list(impls)
    head = "| size | " + " | ".join(f"{i} us | {i} busbw" for i in names)
    ratios = [f"{names[0]} vs {o}" for o in names[1:]]
    head += "".join(f" | {r}" for r in ratios) + " |"
    best = (f"{'best' if stat == 'min' else 'median'} of {rounds} rounds; " if rounds > 1
            else "")
    lines = [f"**{n} ranks** ({best}time in us, busbw in GB/s; 'A vs B' = time of B / time of A, "
             ">1 means A is faster)", "",
             head, "|" + "---|" * (1 + 2 * len(names) + len(ratios))]
    by_size = {i: {s: (t, b) for s, t, b in rows} for i, rows in impls.items()}
    sizes = sorted({s for rows in impls.values() for s, _, _ in rows})
    for s in sizes:
        cells = [human(s)]
        for i in names:
            t, b = by_size[i].get(s, (None, None))
            cells += ["-", "-"] if t is None else [us(t), f"{b:.2f}"]
        base = by_size[names[0]].get(s)
        for o in names[1:]:
            other = by_size[o].get(s)
            cells.append(f"{other[0] / base[0]:.2f}" if base and other and base[0] > 0 else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(n, impls, auto="shoal_auto", peer="mpi", slack=1.10):
    """Per size: the automatic choice against the fastest single shoal
    algorithm and against a peer, as time ratios (>1: auto is slower)."""
    algos = [i for i in impls if i.startswith("shoal_") and i != auto]
    if auto not in impls or not algos:
        return ""
    by = {i: {s: t for s, t, _ in rows} for i, rows in impls.items()}
    lines = [f"**{n} ranks: automatic choice** (time ratios; auto/best <= {slack:.2f} and "
             f"auto/{peer} < 1 are the goals)", "",
             f"| size | auto us | best algorithm | best us | auto/best | {peer} us | auto/{peer} | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sorted(by[auto]):
        cands = [(by[a][s], a[len("shoal_"):]) for a in algos if s in by[a]]
        if not cands:
            continue
        bt, bname = min(cands)
        at = by[auto][s]
        pt = by.get(peer, {}).get(s)
        ok_best = at <= slack * bt
        ok_peer = pt is not None and at < pt
        v = "met" if ok_best and ok_peer else ", ".join(
            w for w, bad in ((f"> {slack:.2f} x best", not ok_best),
                             (f"behind {peer}", pt is not None and not ok_peer)) if bad)
        lines.append(f"| {human(s)} | {us(at)} | {bname} | {us(bt)} | {at / bt:.2f} | "
                     f"{us(pt) if pt else '-'} | {at / pt:.2f} | {v} |" if pt else
                     f"| {human(s)} | {us(at)} | {bname} | {us(bt)} | {at / bt:.2f} | - | - | {v} |")
    return "\n".join(lines)


def plot_matplotlib(path, n, impls):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, rows in impls.items():
        ax.plot([r[0] for r in rows], [r[2] for r in rows], marker="o", label=i)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(f"all_reduce busbw, {n} ranks")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")


class Canvas:
    """RGB raster with the few primitives a line plot needs, written as PNG
    with zlib alone, so plots need nothing beyond python3."""

    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, rgb):
        x, y = int(round(x)), int(round(y))
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = rgb

    def rect(self, x0, y0, x1, y1, rgb):
        for y in range(int(y0), int(y1) + 1):
            for x in range(int(x0), int(x1) + 1):
                self.dot(x, y, rgb)

    def line(self, x0, y0, x1, y1, rgb, width=1):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        r = (width - 1) / 2
        for k in range(steps + 1):
            t = k / steps
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            if width == 1:
                self.dot(x, y, rgb)
            else:
                self.rect(x - r, y - r, x + r, y + r, rgb)

    def disc(self, cx, cy, radius, rgb):
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                if dx * dx + dy * dy <= radius * radius:
                    self.dot(cx + dx, cy + dy, rgb)

    def text(self, x, y, s, rgb=(0, 0, 0), scale=1, anchor="start"):
        """Draws s with its top at y; anchor start, middle or end at x."""
        width = len(s) * 6 * scale
        if anchor == "middle":
            x -= width / 2
        elif anchor == "end":
            x -= width
        for ch in s:
            rows = GLYPHS.get(ch, GLYPHS.get(ch.lower(), GLYPHS[" "])).split()
            for ry, row in enumerate(rows):
                for rx, bit in enumerate(row):
                    if bit == "1":
                        self.rect(x + rx * scale, y + ry * scale,
                                  x + rx * scale + scale - 1, y + ry * scale + scale - 1, rgb)
            x += 6 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3])
                       for y in range(self.h))

        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


class Axes:
    """The plot area's scales, shared by the PNG and SVG writers: log2 of the
    size across, busbw up from 0 to a round top, in steps of 1, 2 or 5 times a
    power of ten (at most six)."""

    def __init__(self, impls, left, top, pw, ph):
        self.left, self.top, self.pw, self.ph = left, top, pw, ph
        sizes = [r[0] for rows in impls.values() for r in rows if r[0] > 0]
        self.lo, self.hi = math.log2(min(sizes)), math.log2(max(sizes))
        self.hi = self.hi if self.hi > self.lo else self.lo + 1
        ymax = max([r[2] for rows in impls.values() for r in rows] + [0.01])
        step = 10 ** math.floor(math.log10(ymax / 5 if ymax > 0 else 1))
        self.step = step * next(m for m in (1, 2, 5, 10) if ymax / (step * m) <= 6)
        self.ytop = self.step * math.ceil(ymax / self.step)

    def x(self, size):
        return self.left + self.pw * (math.log2(max(size, 1)) - self.lo) / (self.hi - self.lo)

    def y(self, v):
        return self.top + self.ph * (1 - v / self.ytop)

    def y_ticks(self):
        """busbw values of the horizontal grid lines, 0 to the top."""
        v, ticks = 0.0, []
        while v <= self.ytop + 1e-9:
            ticks.append(v)
            v += self.step
        return ticks

    def x_ticks(self):
        """(size, labelled) for every power of two on the axis; every other
        one carries a label, so that they do not overlap."""
        first = math.ceil(self.lo)
        return [(2 ** e, (e - first) % 2 == 0) for e in range(first, math.floor(self.hi) + 1)]


def plot_png(path, n, impls, title=None):
    """busbw against size, log2 x axis, one line per implementation."""
    w, h, left, right, top, bottom = 900, 540, 70, 190, 50, 60
    pw, ph = w - left - right, h - top - bottom
    c = Canvas(w, h)
    ax = Axes(impls, left, top, pw, ph)
    x, y = ax.x, ax.y
    grid, black = (221, 221, 221), (0, 0, 0)
    for v in ax.y_ticks():
        c.line(left, y(v), left + pw, y(v), grid)
        c.text(left - 6, y(v) - 3, f"{v:g}", anchor="end")
    for size, labelled in ax.x_ticks():
        c.line(x(size), top, x(size), top + ph, (238, 238, 238))
        if labelled:
            c.text(x(size), top + ph + 8, human(size), anchor="middle")
    c.line(left, top, left + pw, top, black)
    c.line(left, top + ph, left + pw, top + ph, black)
    c.line(left, top, left, top + ph, black)
    c.line(left + pw, top, left + pw, top + ph, black)
    c.text(left + pw / 2, 14, title or f"all_reduce busbw, {n} ranks", scale=2, anchor="middle")
    c.text(left + pw / 2, h - 24, "size (bytes)", anchor="middle")
    c.text(left, top - 14, "busbw (GB/s)")
    for k, (name, rows) in enumerate(impls.items()):
        color = rgb(COLORS[k % len(COLORS)])
        pts = [(x(s), y(b)) for s, _, b in rows if s > 0]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            c.line(x0, y0, x1, y1, color, width=2)
        for px, py in pts:
            c.disc(px, py, 3, color)
        ly = top + 18 * k + 10
        c.line(left + pw + 12, ly, left + pw + 36, ly, color, width=2)
        c.text(left + pw + 42, ly - 3, name)
    c.png(path)


def plot_svg(path, n, impls):
    w, h, left, right, top, bottom = 800, 500, 70, 170, 40, 60
    pw, ph = w - left - right, h - top - bottom
    ax = Axes(impls, left, top, pw, ph)
    x, y = ax.x, ax.y
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15">'
           f'all_reduce busbw, {n} ranks</text>']
    for v in ax.y_ticks():
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for size, labelled in ax.x_ticks():
        xv = x(size)
        out.append(f'<line x1="{xv:.1f}" y1="{top}" x2="{xv:.1f}" y2="{top + ph}" stroke="#eee"/>')
        if labelled:
            out.append(f'<text x="{xv:.1f}" y="{top + ph + 16}" text-anchor="middle">{human(size)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{h - 15}" text-anchor="middle">size (bytes)</text>')
    out.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {top + ph / 2})">busbw (GB/s)</text>')
    for k, (name, rows) in enumerate(impls.items()):
        color = COLORS[k % len(COLORS)]
        pts = " ".join(f"{x(s):.1f},{y(b):.1f}" for s, _, b in rows if s > 0)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        for s, _, b in rows:
            if s > 0:
                out.append(f'<circle cx="{x(s):.1f}" cy="{y(b):.1f}" r="3" fill="{color}"/>')
        ly = top + 20 * k + 10
        out.append(f'<line x1="{left + pw + 15}" y1="{ly}" x2="{left + pw + 40}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 46}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("--placement", choices=["out", "in", "best"], default="out",
                    help="out-of-place, in-place, or per size the faster of the two")
    ap.add_argument("--stat", choices=["min", "median"], default="min",
                    help="per size over repeated rounds: the fastest round, or the median one")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--svg", action="store_true",
                    help="without matplotlib, write SVG instead of the built-in PNG writer's output")
    a = ap.parse_args()
    groups, rounds = load(a.results, a.placement, a.stat)
    suffix = a.placement if a.stat == "min" else f"{a.placement}_{a.stat}"
    if not groups:
        sys.exit(f"no <impl>_n<ranks>.txt results in {a.results}")
    try:
        import matplotlib  # noqa: F401
        plot, ext = plot_matplotlib, "png"
    except ImportError:
        plot, ext = (plot_svg, "svg") if a.svg else (plot_png, "png")
    tables = []
    for n in sorted(groups):
        tables.append(table(n, groups[n], rounds, a.stat))
        v = verdict(n, groups[n])
        if v:
            tables.append(v)
        if not a.no_plot:
            path = os.path.join(a.results, f"busbw_n{n}_{suffix}.{ext}")
            plot(path, n, groups[n])
            print(f"wrote {path}", file=sys.stderr)
    text = "\n\n".join(tables) + "\n"
    with open(os.path.join(a.results, f"table_{suffix}.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
