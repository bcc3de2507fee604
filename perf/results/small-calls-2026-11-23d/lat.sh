#!/bin/bash
# usage: lat.sh ROUNDS NRANKS name=ENVSPEC@build ...  runs all_reduce_perf 8..2K with env
rounds=$1; n=$2; shift 2
out=/tmp/cmp/lat-$n; rm -rf $out; mkdir -p $out
args=(-b 8 -e 2K -f 4 -n 3000 -w 300 -c 0)
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; envs=${rest%@*}; b=${rest#*@}
    if [ "$name" = mpi ]; then
      timeout 60 chrt -f 10 mpirun --allow-run-as-root --oversubscribe --bind-to none -n $n $b/perf/mpi_all_reduce_perf "${args[@]}" 2>&1 | grep -E "^ +[0-9]" | sed 's/^/[0] /' >> $out/$name
    else
      env $envs timeout 60 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf "${args[@]}" 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
    fi
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
print("size  "+"  ".join(f"{nm:>14}" for nm in names)+"   (median / min us)")
for size in sorted(data):
    print(f"{size:5d} "+"  ".join(f"{statistics.median(data[size][nm]):6.2f}/{min(data[size][nm]):5.2f}  " for nm in names))
PY
