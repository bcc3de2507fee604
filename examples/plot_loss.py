#!/usr/bin/env python3
"""Draws the loss curves that train_allreduce --csv writes.

    examples/plot_loss.py RUN.csv [RUN.csv ...] [-o loss.png] [--smooth N]

Left panel: training loss per step (a moving average over --smooth steps)
against epochs, one line per CSV; right panel: test accuracy after each
epoch. Several CSVs (say, runs on 1, 2, 4 and 8 ranks) share the axes so
their curves can be compared. Uses matplotlib when it is installed; otherwise
it rasterises the plot itself and writes the PNG with the standard library
(zlib), so python3 alone is enough.
"""
import argparse
import csv
import math
import os
import struct
import sys
import zlib

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
          (140, 86, 75), (23, 190, 207)]


def load(path):
    """(label, train rows [(epoch, loss)], test rows [(epoch, accuracy %)])."""
    train, test = [], []
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        need = {"epoch", "split", "loss", "accuracy"}
        if not need <= set(rows.fieldnames or []):
            sys.exit(f"plot_loss: {path}: not a train_allreduce CSV (needs columns {sorted(need)})")
        for r in rows:
            point = (float(r["epoch"]), float(r["loss"]), 100.0 * float(r["accuracy"]))
            (train if r["split"] == "train" else test).append(point)
    if not train:
        sys.exit(f"plot_loss: {path}: no training rows")
    label = os.path.splitext(os.path.basename(path))[0]
    return label, train, test


def smooth(points, n):
    """Trailing moving average of the loss over n steps."""
    out, acc = [], 0.0
    for i, (x, y, _) in enumerate(points):
        acc += y
        if i >= n:
            acc -= points[i - n][1]
        out.append((x, acc / min(i + 1, n)))
    return out


def plot_matplotlib(runs, out, n):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (label, train, test) in enumerate(runs):
        c = tuple(v / 255 for v in COLORS[i % len(COLORS)])
        ax1.plot(*zip(*smooth(train, n)), color=c, lw=1.2, label=label)
        if test:
            ax2.plot([t[0] for t in test], [t[2] for t in test], "o-", color=c, label=label)
    ax1.set(xlabel="epoch", ylabel=f"training loss (mean of {n} steps)", title="Training loss")
    ax2.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


# ---- fallback: a small rasteriser and PNG writer -------------------------------------------

# 5x7 glyphs, one string of 7 rows of 5 pixels each ('#' set). Letters are
# drawn upper-case.
GLYPHS = {
    "0": ".###.#...##..###.#.###..##...#.###.", "1": "..#...##....#....#....#....#...###.",
    "2": ".###.#...#....#...#...#...#....#####", "3": "####.....#....#.###.....#....#####.",
    "4": "...#...##..#.#.#..#.#####...#....#.", "5": "######....####.....#....##...#.###.",
    "6": "..##..#...#....####.#...##...#.###.", "7": "#####....#...#...#...#....#....#...",
    "8": ".###.#...##...#.###.#...##...#.###.", "9": ".###.#...##...#.####....#...#..##..",
    "A": ".###.#...##...#######...##...##...#", "B": "####.#...##...#####.#...##...#####.",
    "C": ".###.#...##....#....#....#...#.###.", "D": "###..#..#.#...##...##...##..#.###..",
    "E": "######....#....####.#....#....#####", "F": "######....#....####.#....#....#....",
    "G": ".###.#...##....#.####...##...#.####", "H": "#...##...##...#######...##...##...#",
    "I": ".###...#....#....#....#....#...###.", "J": "..###...#....#....#....##..#..##...",
    "K": "#...##..#.#.#..##...#.#..#..#.#...#", "L": "#....#....#....#....#....#....#####",
    "M": "#...###.###.#.##.#.##...##...##...#", "N": "#...##...###..##.#.##..###...##...#",
    "O": ".###.#...##...##...##...##...#.###.", "P": "####.#...##...#####.#....#....#....",
    "Q": ".###.#...##...##...##.#.##..#..##.#", "R": "####.#...##...#####.#.#..#..#.#...#",
    "S": ".####.....#.....###.....#....#####.", "T": "#####..#....#....#....#....#....#..",
    "U": "#...##...##...##...##...##...#.###.", "V": "#...##...##...##...##...#.#.#...#..",
    "W": "#...##...##...##.#.##.#.##.#.#.#.#.", "X": "#...##...#.#.#...#...#.#.#...##...#",
    "Y": "#...##...#.#.#...#....#....#....#..", "Z": "#####....#...#...#...#...#....#####",
    ".": "...............................##..", ",": "..........................##...#...",
    "-": "...............#####...............", "_": "..............................#####",
    "%": "##...##..#...#...#...#...#..##...##", ":": ".....##...##........##...##........",
    "(": "...#...#...#....#....#.....#.....#.", ")": ".#.....#.....#....#....#...#...#...",
    "/": ".........#...#...#...#...#.........", "=": "..........#####.....#####..........",
    " ": "." * 35,
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def rect(self, x0, y0, x1, y1, c):
        for y in range(max(0, y0), min(self.h, y1)):
            for x in range(max(0, x0), min(self.w, x1)):
                self.dot(x, y, c)

    def line(self, x0, y0, x1, y1, c, width=1):
        x0, y0, x1, y1 = (int(round(v)) for v in (x0, y0, x1, y1))
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            for ox in range(width):
                for oy in range(width):
                    self.dot(x0 + ox, y0 + oy, c)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x, y, s, c=(0, 0, 0), scale=2, anchor="left"):
        s = s.upper()
        width = len(s) * 6 * scale
        if anchor == "right":
            x -= width
        elif anchor == "center":
            x -= width // 2
        for k, ch in enumerate(s):
            g = GLYPHS.get(ch, GLYPHS[" "])
            for i, bit in enumerate(g):
                if bit == "#":
                    gx, gy = x + k * 6 * scale + (i % 5) * scale, y + (i // 5) * scale
                    self.rect(gx, gy, gx + scale, gy + scale, c)

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3])
                       for y in range(self.h))

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data +
                    struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
            f.write(chunk(b"IEND", b""))


def nice_ticks(lo, hi, count=5):
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) inside [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]


def fmt(v):
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.3g}"


def panel(cv, box, series, title, ylabel, markers):
    """series: [(color, [(x, y)])]; box = (x0, y0, x1, y1) of the plot area."""
    x0, y0, x1, y1 = box
    xs = [p[0] for _, pts in series for p in pts] or [0, 1]
    ys = [p[1] for _, pts in series for p in pts] or [0, 1]
    xlo, xhi = 0.0, max(xs)
    ylo, yhi = min(ys), max(ys)
    pad = (yhi - ylo) * 0.05 or 0.5
    ylo, yhi = ylo - pad, yhi + pad
    if xhi <= xlo:
        xhi = xlo + 1

    def X(v):
        return x0 + (v - xlo) / (xhi - xlo) * (x1 - x0)

    def Y(v):
        return y1 - (v - ylo) / (yhi - ylo) * (y1 - y0)

    grid, axis = (225, 225, 225), (60, 60, 60)
    for t in nice_ticks(ylo, yhi):
        cv.line(x0, Y(t), x1, Y(t), grid)
        cv.text(x0 - 8, int(Y(t)) - 7, fmt(t), anchor="right")
    for t in nice_ticks(xlo, xhi):
        cv.line(X(t), y0, X(t), y1, grid)
        cv.text(int(X(t)), y1 + 10, fmt(t), anchor="center")
    cv.line(x0, y1, x1, y1, axis, 2)
    cv.line(x0, y0, x0, y1, axis, 2)
    cv.text((x0 + x1) // 2, y0 - 30, title, anchor="center", scale=3)
    cv.text((x0 + x1) // 2, y1 + 34, "epoch", anchor="center")
    cv.text(x0 + 6, y0 + 6, ylabel, c=(90, 90, 90))
    for c, pts in series:
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            cv.line(X(ax), Y(ay), X(bx), Y(by), c, 2)
        if markers:
            for ax, ay in pts:
                cv.rect(int(X(ax)) - 3, int(Y(ay)) - 3, int(X(ax)) + 4, int(Y(ay)) + 4, c)


def plot_fallback(runs, out, n):
    w, h = 1300, 560
    cv = Canvas(w, h)
    loss, acc = [], []
    for i, (label, train, test) in enumerate(runs):
        c = COLORS[i % len(COLORS)]
        pts = smooth(train, n)
        stride = max(1, len(pts) // 1500)  # enough points for the pixels there are
        loss.append((c, pts[::stride] + ([pts[-1]] if (len(pts) - 1) % stride else [])))
        acc.append((c, [(t[0], t[2]) for t in test]))
    panel(cv, (100, 60, 620, 450), loss, "Training loss", f"mean of {n} steps", False)
    panel(cv, (760, 60, 1280, 450), acc, "Test accuracy (%)", "after each evaluation", True)
    y = 510
    x = 100
    for i, (label, _, _) in enumerate(runs):
        c = COLORS[i % len(COLORS)]
        cv.rect(x, y, x + 24, y + 14, c)
        cv.text(x + 32, y, label)
        x += 32 + len(label) * 12 + 40
    cv.png(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="+", help="CSV files written by train_allreduce --csv")
    ap.add_argument("-o", "--out", default="loss.png", help="output PNG (default loss.png)")
    ap.add_argument("--smooth", type=int, default=20, help="moving-average window in steps")
    ap.add_argument("--no-matplotlib", action="store_true", help="use the built-in renderer")
    a = ap.parse_args()
    runs = [load(p) for p in a.csv]
    try:
        if a.no_matplotlib:
            raise ImportError
        import matplotlib  # noqa: F401
        plot_matplotlib(runs, a.out, max(1, a.smooth))
        how = "matplotlib"
    except ImportError:
        plot_fallback(runs, a.out, max(1, a.smooth))
        how = "built-in renderer"
    for label, train, test in runs:
        last = f", final test accuracy {test[-1][2]:.2f}%" if test else ""
        print(f"{label}: {len(train)} steps, final loss {train[-1][1]:.4f}{last}")
    print(f"wrote {a.out} ({how})")


if __name__ == "__main__":
    main()
