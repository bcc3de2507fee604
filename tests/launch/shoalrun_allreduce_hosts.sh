#!/bin/bash
# shoalrun -n 4 --hosts 2: the ranks look like two nodes of two, so shm alone
# cannot connect them; the job must still give rank 0 the same checksum as
# the single-node run.
# usage: shoalrun_allreduce_hosts.sh SHOALRUN SHOAL_INFO PROGRAM SINGLE_NODE_CHECKSUM_FILE
set -u
shoalrun=$1 info=$2 prog=$3 want=$4
if ! "$info" | grep -qE '^  (ucx|verbs) +usable'; then
  echo "SKIP: no transport that crosses hosts is usable here (shoal-info lists none)"
  exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$shoalrun" -n 4 --hosts 2 --timeout 120 "$prog" >"$log" 2>&1
rc=$?
cat "$log"
if [ $rc -ne 0 ]; then
  echo "FAIL: shoalrun exited with $rc"
  exit 1
fi
sum=$(sed -n 's/^\[0\] launch_allreduce: ranks=4 .*checksum=\([0-9a-f]*\).*/\1/p' "$log")
if [ -z "$sum" ]; then
  echo "FAIL: no checksum line from rank 0"
  exit 1
fi
if [ ! -s "$want" ]; then
  echo "FAIL: no single-node checksum to compare with ($want)"
  exit 1
fi
if [ "$sum" != "$(cat "$want")" ]; then
  echo "FAIL: two-host checksum $sum differs from single-node $(cat "$want")"
  exit 1
fi
echo "PASS: checksum $sum on two fake hosts"
