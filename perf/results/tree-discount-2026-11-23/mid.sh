#!/bin/bash
# usage: mid.sh ROUNDS NRANKS MIN MAX ITERS name=ARGS@build ...
# Each round runs every implementation once under SCHED_FIFO (chrt -f 10);
# name=ARGS@build: all_reduce_perf ARGS from build (name mpi: Open MPI).
# Output directory: $OUT/mid-NRANKS (default /tmp/mid).
rounds=$1; n=$2; lo=$3; hi=$4; it=$5; shift 5
out=${OUT:-/tmp/mid}/mid-$n; rm -rf $out; mkdir -p $out
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; a=${rest%@*}; b=${rest#*@}
    if [ "$name" = mpi ]; then
      timeout 300 chrt -f 10 mpirun --allow-run-as-root --oversubscribe --bind-to none -n $n $b/perf/mpi_all_reduce_perf -b $lo -e $hi -f 4 -n $it -w 10 -c 0 2>&1 | grep -E "^ +[0-9]" | sed 's/^/[0] /' >> $out/$name
    else
      timeout 300 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf $a -b $lo -e $hi -f 4 -n $it -w 10 -c 0 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
    fi
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
