#!/bin/bash
# shoalrun -n 4 launch_allreduce: every rank passes, rank 0's checksum is saved.
# usage: shoalrun_allreduce.sh SHOALRUN PROGRAM CHECKSUM_FILE
set -u
shoalrun=$1 prog=$2 out=$3
rm -f "$out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$shoalrun" -n 4 --timeout 120 "$prog" >"$log" 2>&1
rc=$?
cat "$log"
if [ $rc -ne 0 ]; then
  echo "FAIL: shoalrun exited with $rc"
  exit 1
fi
line=$(grep '^\[0\] launch_allreduce: ranks=4 ' "$log")
sum=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' <<<"$line")
if [ -z "$sum" ]; then
  echo "FAIL: no checksum line from rank 0"
  exit 1
fi
echo "$sum" >"$out"
echo "PASS: checksum $sum"
