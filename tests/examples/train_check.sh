#!/bin/bash
# A short data-parallel run, 4 ranks over shared memory, with --check: must
# exit 0 with every step's parameters identical on all ranks and the first
# 50 steps within tolerance of the single-process reference, and must have
# learned: after 300 steps (0.64 epochs of batch 128) the measured training
# loss over steps 251-300 is 0.47 and test accuracy 81.6% (README); an
# untrained model scores ln(10) = 2.30 and 10%. The thresholds leave room for
# another algorithm or rank count reordering float sums, not for a gradient
# that is lost or mis-scaled.
#   train_check.sh SHOALRUN TRAIN_ALLREDUCE OUTDIR
set -uo pipefail
shoalrun=$1 train=$2 out=$3
max_loss=0.60
min_accuracy=78.0
data=${SHOAL_TRAIN_DATA:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  echo "SKIP: Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
  exit 77
fi
mkdir -p "$out"
log=$out/train_check.log csv=$out/train_check.csv
rm -f "$log" "$csv"
"$shoalrun" -n 4 --timeout 240 -x SHOAL_TRANSPORT=shm "$train" --data "$data" --steps 300 \
  --log-every 50 --check --csv "$csv" >"$log" 2>&1
rc=$?
cat "$log"
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -eq 0 ] || fail "train_allreduce exited with status $rc"
grep -q "transport shm" "$log" || fail "the gradient all-reduce did not run over shm"
grep -q "check passed: parameters bitwise identical on all 4 ranks after each of 300 steps" \
  "$log" || fail "no check summary for 4 ranks and 300 steps"
loss=$(sed -n 's/^\[0\] epoch 1 step 300\/469 loss \([0-9.]*\) .*/\1/p' "$log")
acc=$(sed -n 's/^\[0\] test after step 300: .* accuracy \([0-9.]*\)% .*/\1/p' "$log")
[ -n "$loss" ] || fail "no progress line for step 300"
[ -n "$acc" ] || fail "no test accuracy after step 300"
awk -v l="$loss" -v m="$max_loss" 'BEGIN { exit !(l < m) }' ||
  fail "training loss $loss at step 300 is not below $max_loss"
awk -v a="$acc" -v m="$min_accuracy" 'BEGIN { exit !(a > m) }' ||
  fail "test accuracy $acc% after 300 steps is not above $min_accuracy%"
[ "$(head -1 "$csv")" = "step,epoch,split,loss,accuracy,elapsed_s,comm_s" ] || fail "CSV header"
[ "$(grep -c ',train,' "$csv")" = 300 ] || fail "CSV does not hold 300 training rows"
grep -q "^300,.*,test,.*" "$csv" || fail "CSV has no test row for step 300"
echo "PASS: loss $loss < $max_loss, test accuracy $acc% > $min_accuracy%"
