#!/bin/bash
# The same job under Open MPI's mpirun: shoal takes rank and size from the
# OMPI_COMM_WORLD_* variables and the root address from SHOAL_ROOT.
# usage: mpirun_allreduce.sh SHOALRUN PROGRAM CHECKSUM_FILE
set -u
shoalrun=$1 prog=$2 out=$3
rm -f "$out"
mpirun=${MPIRUN:-/usr/bin/mpirun}  # MPIRUN overrides, to try the skip path
if [ ! -x "$mpirun" ]; then
  echo "SKIP: $mpirun not found (Debian: apt-get install openmpi-bin)"
  exit 77
fi
port=$("$shoalrun" --free-port) || exit 1
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 150 "$mpirun" --allow-run-as-root --oversubscribe -np 4 \
  -x SHOAL_ROOT=127.0.0.1:$port -x SHOAL_SECRET=$secret "$prog" >"$log" 2>&1
rc=$?
cat "$log"
if [ $rc -ne 0 ]; then
  echo "FAIL: mpirun exited with $rc"
  exit 1
fi
sum=$(sed -n 's/^launch_allreduce: ranks=4 .*checksum=\([0-9a-f]*\).*/\1/p' "$log" | head -1)
if [ -z "$sum" ]; then
  echo "FAIL: no checksum line from rank 0"
  exit 1
fi
echo "$sum" >"$out"
echo "PASS: checksum $sum"
