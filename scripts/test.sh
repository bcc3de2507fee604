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
# 30 s over its seeds (scripts/fuzz.sh; eight targets: bootstrap records,
# executor control messages, shm mailbox entries, UCX header with its reorder
# buffer and delivery, PS key fragments, PS messages, the verbs connect record
# and keys, tuning file; about 2 min to build on 2 cores, then 4 min of
# runs), then the ASan+UBSan build with UCX and its suites (scripts/sanitize.sh
# asan; which suites: see there), then the TSan build (no UCX or verbs) and its
# threaded suites (scripts/sanitize.sh tsan).
# Measured on this shared 2-core machine while other engineers built and
# tested. 2026-11-23 06:00-06:30 (load 5-27): ASan 970 s wall and 1060 s of
# CPU for its build and 10 suites (the allreduce matrix alone 417 s wall);
# TSan 677 s wall and 450 s of CPU for its build and 11 runs.
# 2026-11-23 08:00-09:20: the ASan collectives suite grew from UCX at 2 and 4
# ranks to every world size 1..8 and every hier layout: 60 s of CPU (92 s wall
# at load 4-8) became 180 s (273 s wall at load 8-10); each added size alone
# took 1-20 s of CPU. The new suites (mismatch_fingerprint, bootstrap_mesh)
# take 3-4 s each. At load 13-20 a whole ASan run took 2816 s wall but only
# 960 s of CPU for the rebuild of 48 objects and 12 suites. The collectives
# suite then took 582 s wall and the allreduce matrix went past the 600 s
# a suite had then (now 1200 s): run this on a quiet machine. A fresh clone compiles
# every object (a full ASan build of the library and 17 programs took 1196 s
# of CPU before): allow about 15 min for ASan and 5 min for TSan on 2 idle
# cores, under the 25 min the sanitizers may take. A sanitizer report, a
# failed test or a hang (1200 s per suite) fails CI here and prints that
# suite's log.
"$HERE/scripts/fuzz.sh" "$HERE/build-fuzz" 30
"$HERE/scripts/sanitize.sh" asan
"$HERE/scripts/sanitize.sh" tsan
