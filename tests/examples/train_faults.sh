#!/bin/bash
# --check must catch what it claims to: a parameter changed on one rank (the
# hash comparison names the step and the rank) and a wrongly combined
# gradient, identical on all ranks (the reference comparison names the step).
# Both runs must stop every rank with a non-zero status.
#   train_faults.sh SHOALRUN TRAIN_ALLREDUCE OUTDIR
set -uo pipefail
shoalrun=$1 train=$2 out=$3
source "$(dirname "$0")/fashion_mnist.sh"
mkdir -p "$out"
status=0
expect_failure() {  # name, expected message, fault
  local log=$out/fault_$1.log
  "$shoalrun" -n 3 --timeout 120 "$train" --data "$data" --steps 8 --check --fault "$3" \
    >"$log" 2>&1
  local rc=$?
  cat "$log"
  if [ $rc -eq 0 ]; then
    echo "FAIL: $1: the run succeeded despite --fault $3"
    status=1
  elif ! grep -qF "$2" "$log"; then
    echo "FAIL: $1: no message '$2'"
    status=1
  elif [ "$(grep -c 'check passed' "$log")" != 0 ]; then
    echo "FAIL: $1: a check passed line was printed"
    status=1
  else
    echo "PASS: $1 (exit status $rc)"
  fi
}
expect_failure params "check failed at step 5: the parameters on rank 2 differ from rank 0's" \
  params:5:2
expect_failure grad \
  "check failed at step 4: rank 0's parameters deviate from the single-process reference" grad:4
exit $status
