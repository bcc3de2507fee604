#!/usr/bin/env python3
"""Medians per build and size, split by the machine's state.

usage: split_state.py DIR NAME... [--cut US]

Reads lat.sh's outputs (DIR/NAME, one all_reduce_perf line per size and
round) and takes both placements' times of each line. A time under the cut
(0.45 us by default) counts as the fast state, one at or above it as the
slow state; sizes from 512 B up are printed whole (the states overlap
there). Counts in brackets.
"""
import collections
import statistics
import sys

args = sys.argv[1:]
cut = 0.45
if "--cut" in args:
    i = args.index("--cut")
    cut = float(args[i + 1])
    del args[i:i + 2]
folder, names = args[0], args[1:]


def med(values):
    return f"{statistics.median(values):.3f} ({len(values)})" if values else "-"


for name in names:
    by_size = collections.defaultdict(list)
    with open(f"{folder}/{name}") as f:
        for line in f:
            fields = line.split()
            by_size[int(fields[1])] += [float(fields[6]), float(fields[10])]
    for size in sorted(by_size):
        v = by_size[size]
        if size >= 512:
            print(f"{name:>6} {size:>6}  all {med(v)}")
            continue
        fast = [x for x in v if x < cut]
        slow = [x for x in v if x >= cut]
        print(f"{name:>6} {size:>6}  all {med(v)}  fast {med(fast)}  slow {med(slow)}")
