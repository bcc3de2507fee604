#!/bin/bash
# usage: cmp.sh ROUNDS NRANKS impl=path ...   (impl "mpi" uses mpirun)
rounds=$1; n=$2; shift 2
out=/tmp/lat/out; rm -rf $out; mkdir -p $out
args=(-b 8 -e 2K -f 4 -n 2000 -w 200 -c 0)
for ((k=0;k<rounds;k++)); do
  for spec in "$@"; do
    name=${spec%%=*}; b=${spec#*=}
    if [ "$name" = mpi ]; then
      timeout 60 chrt -f 10 mpirun --allow-run-as-root --oversubscribe --bind-to none -n $n $b/perf/mpi_all_reduce_perf "${args[@]}" 2>&1 | grep -E "^ +[0-9]" | sed 's/^/[0] /' >> $out/$name
    else
      LD_LIBRARY_PATH=$([ -e $b/libshoal.so.0 ] && echo $b) timeout 60 chrt -f 10 $b/tools/shoalrun -n $n $b/perf/all_reduce_perf "${args[@]}" 2>&1 | grep -E "^\[0\] +[0-9]" >> $out/$name
    fi
  done
done
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
