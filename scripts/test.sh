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
# about 3 min in all). The
# sanitizer builds (scripts/sanitize.sh asan|tsan) are not run here yet: the
# ASan build alone took 12.9 min of CPU (about 7 min on 2 idle cores) and
# forked ranks hung in the UCX probe under ASan, so they stay a manual step
# until that is resolved.
"$HERE/scripts/fuzz.sh" "$HERE/build-fuzz" 30
