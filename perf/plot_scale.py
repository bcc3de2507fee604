#!/usr/bin/env python3
"""Tables and plots of shoal-sim predictions (tools/shoal-sim -o DIR).

    perf/plot_scale.py DIR [--size BYTES ...] [--measured RESULTS_DIR] [--no-plot]

DIR holds <algo>_n<ranks>.txt (nccl-tests format) and picks_n<ranks>.txt.
Writes, into DIR: busbw against size per rank count (busbw_n<ranks>_out.svg
or .png, drawn by plot_busbw.py's functions), busbw against rank count for
each --size (scale_<size>.svg/png), and scale.md: for each rank count, the
fastest algorithm per size next to the tuner's choices, and the busbw of
each algorithm at the --size points. --measured takes a run_compare.sh
results directory (shoal_<algo>_n<ranks>[.r<k>].txt, fastest round per size)
and adds, per algorithm and rank count present in both, predicted against
measured time and the error. Standard library only; matplotlib is used when
installed.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot_busbw  # noqa: E402


def load_picks(directory):
    """{ranks: [(size, {algo: time_us}, best, tuner_default, tuner_profile)]}"""
    out = {}
    for name in os.listdir(directory):
        m = re.fullmatch(r"picks_n(\d+)\.txt", name)
        if not m:
            continue
        algos, rows = [], []
        for line in open(os.path.join(directory, name), encoding="utf-8"):
            if line.startswith("#       size"):
                algos = [c[:-3] for c in line.split()[2:] if c.endswith("_us")]
                continue
            if line.startswith("#") or not line.strip():
                continue
            f = line.split()
            times = {}
            for a, v in zip(algos, f[1:1 + len(algos)]):
                times[a] = None if v == "n/a" else float(v)
            rows.append((int(f[0]), times, f[1 + len(algos)], f[2 + len(algos)], f[3 + len(algos)]))
        out[int(m.group(1))] = rows
    return out


def picks_table(n, rows):
    algos = list(rows[0][1]) if rows else []
    lines = [f"**{n} ranks**: time in us per algorithm; the fastest, and what the tuner picks "
             "with its current defaults and with parameters derived from the profile", "",
             "| size | " + " | ".join(algos) + " | fastest | tuner (defaults) | tuner (profile) |",
             "|" + "---|" * (len(algos) + 4)]
    for size, times, best, dflt, prof in rows:
        cells = [plot_busbw.human(size)]
        cells += ["-" if times[a] is None else plot_busbw.us(times[a]) for a in algos]
        cells += [best, dflt + ("" if dflt == best else " (x)"), prof + ("" if prof == best else " (x)")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scale_rows(groups, size):
    """{algo: [(ranks, time, busbw)]} at one size across rank counts."""
    out = {}
    for n in sorted(groups):
        for algo, rows in groups[n].items():
            for s, t, b in rows:
                if s == size:
                    out.setdefault(algo, []).append((n, t, b))
    return out


def compare(groups, measured):
    """Markdown tables of predicted against measured time, and the errors."""
    parts = []
    for n in sorted(groups):
        for algo, rows in groups[n].items():
            meas = measured.get(n, {}).get(f"shoal_{algo}")
            if not meas:
                continue
            m = {s: t for s, t, _ in meas}
            lines = [f"**{algo}, {n} ranks: predicted against measured**", "",
                     "| size | measured us | predicted us | predicted / measured |",
                     "|---|---|---|---|"]
            errs = []
            for s, t, _ in rows:
                if s not in m or m[s] <= 0:
                    continue
                ratio = t / m[s]
                errs.append(abs(ratio - 1))
                lines.append(f"| {plot_busbw.human(s)} | {plot_busbw.us(m[s])} | "
                             f"{plot_busbw.us(t)} | {ratio:.2f} |")
            if errs:
                errs.sort()
                med = errs[len(errs) // 2]
                lines += ["", f"median |error| {100 * med:.0f}%, largest {100 * errs[-1]:.0f}% "
                          f"over {len(errs)} sizes"]
            parts.append("\n".join(lines))
    return parts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("--size", type=int, action="append", default=[],
                    help="bytes; adds a busbw-against-ranks plot and table (repeatable)")
    ap.add_argument("--measured", help="run_compare.sh results directory to compare with")
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args()
    groups, _ = plot_busbw.load(a.results, "out")
    groups = {n: {k: v for k, v in impls.items() if k != "picks"} for n, impls in groups.items()}
    if not groups:
        sys.exit(f"no <algo>_n<ranks>.txt results in {a.results}")
    try:
        import matplotlib  # noqa: F401
        plot, ext = plot_busbw.plot_matplotlib, "png"
    except ImportError:
        plot, ext = plot_busbw.plot_svg, "svg"
    parts = []
    picks = load_picks(a.results)
    for n in sorted(groups):
        if not a.no_plot:
            path = os.path.join(a.results, f"busbw_n{n}_out.{ext}")
            plot(path, n, groups[n])
            print(f"wrote {path}", file=sys.stderr)
        if n in picks:
            parts.append(picks_table(n, picks[n]))
    for size in a.size:
        rows = scale_rows(groups, size)
        if not rows:
            continue
        ranks = sorted({r for v in rows.values() for r, _, _ in v})
        lines = [f"**busbw (GB/s) at {plot_busbw.human(size)}** by rank count", "",
                 "| ranks | " + " | ".join(rows) + " |", "|" + "---|" * (len(rows) + 1)]
        for r in ranks:
            cells = [str(r)]
            for algo in rows:
                v = [b for rr, _, b in rows[algo] if rr == r]
                cells.append(f"{v[0]:.2f}" if v else "-")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
        if not a.no_plot:
            # Reuse the size-axis plot with ranks on the x axis.
            path = os.path.join(a.results, f"scale_{plot_busbw.human(size)}.{ext}")
            plot(path, f"{plot_busbw.human(size)} messages, by number of",
                 {k: [(r, t, b) for r, t, b in v] for k, v in rows.items()})
            if ext == "svg":  # plot_busbw labels its x axis with sizes
                with open(path, encoding="utf-8") as f:
                    svg = f.read().replace(">size (bytes)<", ">ranks<")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(svg)
            print(f"wrote {path}", file=sys.stderr)
    if a.measured:
        measured, _ = plot_busbw.load(a.measured, "out")
        parts += compare(groups, measured)
    text = "\n\n".join(parts) + "\n"
    with open(os.path.join(a.results, "scale.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
