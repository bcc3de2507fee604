#!/bin/bash
# The comparison of 2026-11-23, second run (perf/RESULTS.md top section):
# every implementation under SCHED_FIFO, 3 rounds; round 1 on a quiet machine
# (load 0.4-6.8), rounds 2-3 at load 7-10 (another engineer's builds at nice 19).
cd /work/main
out=perf/results/allreduce-shm-2026-11-23b
perf/run_compare.sh -B build-rel -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
  -b 8 -e 256M -f 4 -L 4M -n 500 -w 50 -N 3 -W 1 -c 0 -R 3 -F
perf/plot_busbw.py $out --placement best --stat median   # table_best_median.md, busbw_n*_best_median.png
# The large sizes again, 5 rounds, ring/tree/rhd (+ Open MPI, Gloo), results in large/:
perf/run_compare.sh -B build-rel -o $out/large -r "4 2" -A "ring tree rhd" -b 4M -e 256M -f 4 \
  -n 5 -w 1 -c 0 -R 5 -F
