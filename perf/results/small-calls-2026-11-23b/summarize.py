# Median and best time per (ranks, size, implementation) over the rounds of
# run.sh; each round's figure is the better of out-of-place and in-place.
import collections, glob, re, statistics, sys

d = sys.argv[1]
times = collections.defaultdict(list)
for f in glob.glob(d + "/*.txt"):
    m = re.match(r".*/(\w+)_n(\d)_r(\d+)\.txt", f)
    impl, n = m.group(1), int(m.group(2))
    for line in open(f):
        t = re.sub(r"^\[0\]", "", line).split()
        if len(t) >= 13 and t[0].isdigit() and t[2] == "float":
            times[(n, int(t[0]), impl)].append(min(float(t[5]), float(t[9])))
for n in (1, 2):
    print(f"\n{n} rank(s): time in us, median over rounds (best in brackets)")
    print("| size | before (2652d2b) | after | Open MPI | after vs before | Open MPI / after |")
    print("|---|---|---|---|---|---|")
    for size in (8, 32, 128, 512, 2048):
        b, a, m = (times[(n, size, i)] for i in ("base", "new", "mpi"))
        if not (b and a and m):
            continue
        mb, ma, mm = statistics.median(b), statistics.median(a), statistics.median(m)
        print(f"| {size} | {mb:.2f} ({min(b):.2f}) | {ma:.2f} ({min(a):.2f}) | {mm:.2f} ({min(m):.2f}) "
              f"| {mb / ma:.2f}x | {mm / ma:.2f} |")
