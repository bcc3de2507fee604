#!/bin/bash
# Both launchers must have produced the same all-reduce result.
# usage: checksums_match.sh SHOALRUN_FILE MPIRUN_FILE
set -u
a=$1 b=$2
if [ ! -s "$a" ]; then
  echo "FAIL: no checksum from the shoalrun job ($a)"
  exit 1
fi
if [ ! -s "$b" ]; then
  echo "SKIP: no checksum from the mpirun job (skipped or failed: see launch.mpirun_allreduce)"
  exit 77
fi
if [ "$(cat "$a")" != "$(cat "$b")" ]; then
  echo "FAIL: shoalrun checksum $(cat "$a") differs from mpirun checksum $(cat "$b")"
  exit 1
fi
echo "PASS: both launchers give checksum $(cat "$a")"
