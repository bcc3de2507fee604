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
