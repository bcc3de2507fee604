#!/bin/bash
# The comparison of 2026-11-23 (perf/RESULTS.md): every implementation under
# SCHED_FIFO; round 1, then rounds 2-3 (round 1's Gloo at 4 ranks was stopped:
# Gloo's polling ranks starve each other under FIFO when ranks outnumber
# cores, which is why run_compare.sh now runs Gloo there under nice -20).
cd /work/main
out=perf/results/allreduce-shm-2026-11-23
perf/run_compare.sh -B build-rel -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
  -b 8 -e 256M -f 4 -L 4M -n 500 -w 50 -N 3 -W 1 -c 0 -R 3 -F   # stopped in gloo_n4.r1
perf/run_compare.sh -B build-rel -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
  -b 8 -e 256M -f 4 -L 4M -n 500 -w 50 -N 3 -W 1 -c 0 -R 2 -K 1 -F
perf/plot_busbw.py $out --placement best --stat median   # table_best_median.md, busbw_n*_best_median.png
perf/plot_busbw.py $out --placement best                 # table_best.md (fastest round)
