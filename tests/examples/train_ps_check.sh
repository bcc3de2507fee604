#!/bin/bash
# train_ps end to end over shm: 3 workers and 2 servers, 300 steps, --check.
# Sync must keep every worker's parameters bitwise identical after every step,
# stay within tolerance of the single-process reference, end at version 300
# and have learned (measured: loss 0.46-0.48 over steps 251-300, 81.3-81.5% test
# accuracy; the servers add pushes in arrival order, so the last digits vary
# between runs, never between workers). Async must apply
# every one of the 900 pushes (version 900 on every worker) and learn: above
# 70%, where chance is 10%. Its accuracy depends on how far workers drift
# apart, i.e. on scheduling: 77.6-81.2% in 20 runs beside one busy process
# on 2 cores, 74.8-79.7% in 11 runs beside a parallel ctest (one worker up to
# 160 steps ahead), where the earlier bound of 75% failed once, as it did in
# one CI run. SSP with staleness 1, every rank both worker and server, must
# never let a worker lead by more than 1.
#   train_ps_check.sh SHOALRUN TRAIN_PS OUTDIR
set -uo pipefail
shoalrun=$1 train=$2 out=$3
source "$(dirname "$0")/fashion_mnist.sh"
mkdir -p "$out"
fail() { echo "FAIL: $*"; exit 1; }
above() { awk -v a="$1" -v m="$2" 'BEGIN { exit !(a > m) }'; }

run() {  # run NAME RANKS ARGS...
  local name=$1 n=$2
  shift 2
  "$shoalrun" -n "$n" --timeout 240 -x SHOAL_TRANSPORT=shm "$train" --data "$data" "$@" \
    >"$out/$name.log" 2>&1
  local rc=$?
  cat "$out/$name.log"
  [ $rc -eq 0 ] || fail "$name: train_ps exited with status $rc"
}
accuracy() { sed -n 's/^\[0\] test after step [0-9]*: .* accuracy \([0-9.]*\)% .*/\1/p' "$out/$1.log"; }

run sync 5 --servers 2 --mode sync --steps 300 --log-every 50 --check
grep -q "check passed: parameters bitwise identical on all 3 workers after each of 300 steps, final version 300" \
  "$out/sync.log" || fail "sync: no check summary for 3 workers, 300 steps, version 300"
loss=$(sed -n 's/^\[0\] epoch 1 step 300\/469 loss \([0-9.]*\) .*/\1/p' "$out/sync.log")
[ -n "$loss" ] || fail "sync: no progress line for step 300"
awk -v l="$loss" 'BEGIN { exit !(l < 0.50) }' || fail "sync: training loss $loss is not below 0.50"
acc=$(accuracy sync)
above "${acc:-0}" 80.5 || fail "sync: test accuracy ${acc:-none}% is not above 80.5%"
[ "$(grep -c ' 600 rounds completed' "$out/sync.log")" = 2 ] ||
  fail "sync: each of the 2 servers should report 600 rounds (its 2 partitions x 300 steps)"

run async 5 --servers 2 --mode async --steps 300 --log-every 100 --check
grep -q "check passed: final parameters identical on all 3 workers at version 900" "$out/async.log" ||
  fail "async: not every push was applied (expected version 900 on every worker)"
acc=$(accuracy async)
above "${acc:-0}" 70 || fail "async: test accuracy ${acc:-none}% is not above 70%"

run ssp 4 --servers 0 --mode ssp:1 --steps 60 --log-every 60 --check
grep -q "version 240" "$out/ssp.log" || fail "ssp: not every push was applied (expected version 240)"
if grep -E 'largest worker lead [0-9]+' -o "$out/ssp.log" | awk '$4 > 1 { bad = 1 } END { exit !bad }'; then
  fail "ssp: a worker led by more than the staleness bound of 1"
fi
echo "PASS"
