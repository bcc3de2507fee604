#!/bin/bash
# usage: big.sh ROUNDS NRANKS name=ARGS@build ...  (all_reduce_perf 4M..64M, -A from ARGS)
rounds=$1; n=$2; shift 2
out=/tmp/cmp/bigL-$n; rm -rf $out; mkdir -p $out
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; a=${rest%@*}; b=${rest#*@}
    timeout 120 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf $a -b 4M -e 256M -f 4 -n 5 -w 1 -c 0 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
  done
done
python3 - "$out" "$@" <<'PY'
import sys,os,statistics
out=sys.argv[1]
names=[s.split('=')[0] for s in sys.argv[2:]]
data={}
for nm in names:
    for line in open(os.path.join(out,nm)):
        f=line.split()
        size=int(f[1]); t=min(float(f[6]),float(f[10]))
        data.setdefault(size,{}).setdefault(nm,[]).append(t)
print("size  "+"  ".join(f"{nm:>16}" for nm in names)+"   (median / min us)")
for size in sorted(data):
    print(f"{size:9d} "+"  ".join(f"{statistics.median(data[size][nm]):8.1f}/{min(data[size][nm]):8.1f}" for nm in names))
PY
