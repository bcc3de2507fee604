#!/bin/bash
# usage: lat.sh ROUNDS NRANKS name=ENVSPEC@build ...  runs all_reduce_perf 8..2K with env
rounds=$1; n=$2; shift 2
out=${OUT:-/tmp/cmp}/lat-$n; rm -rf $out; mkdir -p $out
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
python3 "$(dirname "$0")/../../summarize_rounds.py" "$out" "$@"
