#!/bin/bash
# The whole test suite: configure and build (warnings are errors here), then
# every ctest label: unit suites over shm and UCX on this host, the launcher
# and packaging tests, and the Soft-RoCE guest suites (labels rxe, rxe2).
# usage: scripts/test.sh [BUILD_DIR]      (default: build)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$HERE/build}
cmake -S "$HERE" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_WERROR=ON
cmake --build "$BUILD" -j "$(nproc)"
cd "$BUILD"
# Host suites two at a time (each is itself several processes); the qemu
# guests afterwards, alone, since they emulate their CPUs in software.
ctest --output-on-failure --timeout 1200 -j 2 -LE 'rxe'
ctest --output-on-failure --timeout 1800 -L 'rxe'
# Reliability (issue 9), after everything above: every libFuzzer target for
# 30 s over its seeds (scripts/fuzz.sh; measured: 1 min to configure and build
# on a shared, loaded 2-core machine, then 2 min 12 s for the four 30 s runs;
# about 3 min in all), then the ASan+UBSan build with UCX and its suites
# (scripts/sanitize.sh asan; which suites and filters: see there), then the
# TSan build (no UCX or verbs) and its threaded suites (scripts/sanitize.sh
# tsan). Measured 2026-11-23 06:00-06:30 on this 2-core machine while other
# engineers built and tested (load 5-27), each run recompiling most of its
# library and programs (others had changed core headers): ASan 970 s wall,
# 1060 s of CPU (862 user + 198 sys) for that build and its 10 suites (the
# whole allreduce matrix alone: 417 s wall); TSan 677 s wall, 450 s of CPU for
# the build and its 11 runs. A fresh clone compiles every object (a full ASan
# build of the library and 17 programs took 1196 s of CPU before), so allow
# about 13 min for ASan and 5 min for TSan on 2 idle cores: under the 25 min
# the sanitizers may take. A sanitizer report, a failed test or a hang
# (600 s per suite) fails CI here and prints that suite's log.
"$HERE/scripts/fuzz.sh" "$HERE/build-fuzz" 30
"$HERE/scripts/sanitize.sh" asan
"$HERE/scripts/sanitize.sh" tsan
