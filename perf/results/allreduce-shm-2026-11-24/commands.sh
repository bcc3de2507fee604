#!/bin/bash
# The comparison of perf/RESULTS.md's first section (2026-11-24): every
# implementation under SCHED_FIFO, 5 rounds, at ab2e37a.
cd /work/main
out=perf/results/allreduce-shm-2026-11-24
perf/run_compare.sh -B build-rel -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
  -b 8 -e 256M -f 4 -L 4M -n 500 -w 50 -N 5 -W 1 -c 0 -R 5 -F
perf/plot_busbw.py $out --placement best --stat median   # table_best_median.md, busbw_n*_best_median.png
# From 4 MiB, 20 timed calls per size instead of 5, Open MPI beside (large-check/;
# env.sh is perf/results/landing-2026-11-23/env.sh): 2 ranks 5 rounds at ab2e37a
# and again at 603a41a (the tree from 64 MiB at two ranks), 4 ranks 3 rounds.
for spec in "5 2" "3 4"; do
  OUT=/tmp/large perf/results/landing-2026-11-23/env.sh $spec 4M 256M "auto=X=1@build-rel" \
    "ring=SHOAL_ALGO=ring@build-rel" "tree=SHOAL_ALGO=tree@build-rel" \
    "rhd=SHOAL_ALGO=rhd@build-rel" "mpi=@build-rel"
done
