#!/bin/bash
# libFuzzer over everything shoal parses from the network: builds fuzz/ with
# clang (address + undefined sanitizers) in its own folder and runs each
# target for a bounded time, starting from the seeds in fuzz/corpus/<target>/
# (new inputs go to a scratch copy, the committed seeds stay as they are).
# A crash, leak or sanitizer report fails the script and leaves the input
# under $BUILD/crashes/<target>/.
# usage: scripts/fuzz.sh [BUILD_DIR] [SECONDS_PER_TARGET]   (defaults: build-fuzz, 30)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$HERE/build-fuzz}
SECS=${2:-30}
JOBS=${SHOAL_JOBS:-$(nproc)}
mkdir -p "$BUILD"
CC=${CC_FUZZ:-clang} CXX=${CXX_FUZZ:-clang++} cmake -S "$HERE" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_BUILD_FUZZERS=ON -DSHOAL_BUILD_TESTS=OFF \
  -DSHOAL_BUILD_PERF=OFF -DSHOAL_BUILD_EXAMPLES=OFF -DSHOAL_WITH_VERBS=OFF -DSHOAL_WITH_UCX=OFF \
  -DSHOAL_WITH_HWLOC=OFF -DSHOAL_WITH_CUDA=OFF > "$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log"; exit 1; }
targets=$(cd "$HERE/fuzz" && ls *_fuzz.cc | sed 's/_fuzz\.cc$//')
if [ ! -e "$HERE/src/ps/wire.h" ]; then targets=$(echo "$targets" | grep -v '^ps_wire$' || true); fi
ninja -C "$BUILD" -j "$JOBS" $(for t in $targets; do echo "fuzz_$t"; done)
status=0
for t in $targets; do
  work="$BUILD/corpus/$t"
  crashes="$BUILD/crashes/$t"
  rm -rf "$work" && mkdir -p "$work" "$crashes"
  cp "$HERE/fuzz/corpus/$t"/* "$work"/ 2>/dev/null || true
  echo "== fuzz_$t: ${SECS}s from $(ls "$work" | wc -l) seeds"
  if ! "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$crashes/" -print_final_stats=1 "$work" > "$BUILD/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t FAILED: input(s) in $crashes"
    tail -40 "$BUILD/fuzz_$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz_$t.log" | tail -2
  fi
done
exit $status
