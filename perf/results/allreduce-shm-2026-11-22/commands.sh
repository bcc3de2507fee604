#!/bin/bash
# Final comparison: rounds alternate between nice -20 and plain, so every
# implementation gets its best conditions.
cd /work/main
out=build-perf/results/final2
for k in 0 1 2 3; do
  nice=""
  [ $((k % 2)) = 0 ] && nice="-p -20"
  perf/run_compare.sh -B build-perf -o $out -r "2 4" -A "auto ring tree rhd rd" -s "rd" \
    -b 8 -e 256M -f 4 -L 4M -n 100 -w 10 -N 3 -W 1 -c 0 -R 1 -K $k $nice
done
