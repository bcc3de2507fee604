#!/bin/bash
# usage: bcmp.sh ROUNDS NRANKS BIN impl=build ...  (median/min of min(out,in) per size)
rounds=$1; n=$2; bin=$3; shift 3
out=/tmp/cmp/bout-$bin-$n; rm -rf $out; mkdir -p $out
args=(-b 8 -e 32K -f 4 -n 2000 -w 200 -c 0 -r 0)
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; b=${spec#*=}
    timeout 120 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/$bin "${args[@]}" 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
