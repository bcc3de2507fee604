#!/bin/bash
# The comparison after direct placement and the tree-discount change (commit
# named in perf/RESULTS.md), every implementation under SCHED_FIFO, 3 rounds.
cd /work/main
out=perf/results/allreduce-shm-2026-11-23c
perf/run_compare.sh -B build-rel -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
  -b 8 -e 256M -f 4 -L 4M -n 500 -w 50 -N 3 -W 1 -c 0 -R 3 -F
perf/plot_busbw.py $out --placement best --stat median   # table_best_median.md, busbw_n*_best_median.png
# 2 ranks, 16-256 MiB, five rounds: ring with and without landing against the tree
# (large-n2-check/; env.sh is perf/results/landing-2026-11-23/env.sh):
OUT=/tmp/land3 perf/results/landing-2026-11-23/env.sh 5 2 16M 256M "ringL1=SHOAL_ALGO=ring@build-rel" \
  "ringL0=SHOAL_ALGO=ring SHOAL_LANDING=0@build-rel" "tree=SHOAL_ALGO=tree@build-rel"
