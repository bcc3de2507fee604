#!/bin/bash
# Small-message allreduce before (2652d2b) and after the shm mailbox and
# executor changes of 80e5f03-4b391c3,
# with Open MPI in the same rounds. Each round runs every build once per rank
# count, each round starting one implementation further down the list.
# PRIORITY "fifo" runs every implementation under SCHED_FIFO (chrt -f 10):
# the ranks then keep their cores while other engineers' builds and guests
# load the 2-core machine, the nearest this machine gets to a quiet one (the
# kernel's RT throttling still leaves 5% to everything else). "nice"
# alternates nice -20 and plain priority between rounds.
# usage: run.sh BASE_BUILD NEW_BUILD OUTDIR ROUNDS [fifo|nice]
set -u
base=$1 new=$2 out=$3 rounds=${4:-4} mode=${5:-fifo}
mkdir -p "$out"
args=(-b 8 -e 2K -f 4 -n 3000 -w 300 -c 0)
impls=(base new mpi)
for ((k = 0; k < rounds; k++)); do
  pri=(); ((k % 2 == 0)) && pri=(nice -n -20)
  [ "$mode" = fifo ] && pri=(timeout 120 chrt -f 10)
  for ((j = 0; j < ${#impls[@]}; j++)); do
    impl=${impls[$(((j + k) % ${#impls[@]}))]}
    for n in 1 2; do
      f="$out/${impl}_n${n}_r${k}.txt"
      uptime > "$f"
      case $impl in
        base) "${pri[@]}" "$base/tools/shoalrun" -n $n "$base/perf/all_reduce_perf" "${args[@]}" >> "$f" 2>&1 ;;
        new) "${pri[@]}" "$new/tools/shoalrun" -n $n "$new/perf/all_reduce_perf" "${args[@]}" >> "$f" 2>&1 ;;
        mpi) "${pri[@]}" mpirun --allow-run-as-root --oversubscribe --bind-to none -n $n \
               "$new/perf/mpi_all_reduce_perf" "${args[@]}" >> "$f" 2>&1 ;;
      esac
    done
  done
done
