#!/bin/bash
# usage: bigL.sh ROUNDS NRANKS name=ARGS@build ...  (all_reduce_perf 4M..256M, -A from ARGS)
rounds=$1; n=$2; shift 2
out=/tmp/cmp/bigL-$n; rm -rf $out; mkdir -p $out
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; a=${rest%@*}; b=${rest#*@}
    timeout 120 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf $a -b 4M -e 256M -f 4 -n 5 -w 1 -c 0 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
