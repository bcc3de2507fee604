#!/bin/bash
# usage: big.sh ROUNDS NRANKS MIN MAX name=ARGS@build ...
rounds=$1; n=$2; lo=$3; hi=$4; shift 4
out=${OUT:-/tmp/mid}/big-$n; rm -rf $out; mkdir -p $out
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; a=${rest%@*}; b=${rest#*@}
    if [ "$name" = mpi ]; then
      timeout 300 chrt -f 10 mpirun --allow-run-as-root --oversubscribe --bind-to none -n $n $b/perf/mpi_all_reduce_perf -b $lo -e $hi -f 4 -n 5 -w 1 -c 0 2>&1 | grep -E "^ +[0-9]" | sed 's/^/[0] /' >> $out/$name
    else
      timeout 300 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf $a -b $lo -e $hi -f 4 -n 5 -w 1 -c 0 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
    fi
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
