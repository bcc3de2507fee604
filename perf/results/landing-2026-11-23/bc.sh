#!/bin/bash
# usage: bc.sh ROUNDS NRANKS PROGRAM MIN MAX name=ARGS@build ...  (shoal perf program, factor 4)
rounds=$1; n=$2; prog=$3; lo=$4; hi=$5; shift 5
out=${OUT:-/tmp/mid}/$prog-$n; rm -rf $out; mkdir -p $out
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; a=${rest%@*}; b=${rest#*@}
    timeout 300 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/$prog $a -b $lo -e $hi -f 4 -n 10 -w 2 -c 0 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
