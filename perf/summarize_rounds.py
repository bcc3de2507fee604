#!/usr/bin/env python3
"""Median and minimum over rounds of nccl-tests result lines.

usage: summarize_rounds.py DIR name[=anything] ...

DIR/<name> holds result lines of one implementation from several rounds
(rank 0's lines, with or without a "[0]" prefix). Per size, each round counts
the faster of out-of-place and in-place; the table gives the median round and
the fastest one, in microseconds.
"""
import os
import statistics
import sys


def main():
    out = sys.argv[1]
    names = [s.split("=")[0] for s in sys.argv[2:]]
    data = {}
    for nm in names:
        with open(os.path.join(out, nm)) as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] == "[0]":
                    fields = fields[1:]
                if len(fields) < 10:
                    continue
                size = int(fields[0])
                t = min(float(fields[5]), float(fields[9]))
                data.setdefault(size, {}).setdefault(nm, []).append(t)
    print("size      " + "  ".join(f"{nm:>17}" for nm in names) + "   (median / min us)")
    for size in sorted(data):
        cells = []
        for nm in names:
            ts = data[size].get(nm)
            cells.append(f"{statistics.median(ts):8.2f}/{min(ts):8.2f}" if ts else f"{'-':>17}")
        print(f"{size:9d} " + "  ".join(cells))


if __name__ == "__main__":
    main()
