#!/bin/bash
# Trains the same model under several rank counts, algorithms and transports
# and prints a Markdown table of the test accuracy after each epoch, so that
# "the same accuracy whatever the parallel setup" is a measurement, not a claim.
#
# usage: examples/accuracy_matrix.sh BUILD_DIR [EPOCHS] [CONFIG...]
#   CONFIG: ranks:algorithm:transport (default: 1, 2, 4 and 8 ranks with the
#   automatic choice over shm, and 4 ranks with ring, tree and rhd over shm
#   and over ucx). Extra training options go in TRAIN_ARGS.
# Each run's log and CSV go to BUILD_DIR/accuracy/.
set -uo pipefail
BUILD=$(cd "${1:?usage: accuracy_matrix.sh BUILD_DIR [EPOCHS] [CONFIG...]}" && pwd)
EPOCHS=${2:-3}
shift $(($# >= 2 ? 2 : 1))
CONFIGS=("$@")
if [ ${#CONFIGS[@]} -eq 0 ]; then
  CONFIGS=(1:auto:shm 2:auto:shm 4:auto:shm 8:auto:shm
           4:ring:shm 4:tree:shm 4:rhd:shm 4:ring:ucx 4:tree:ucx 4:rhd:ucx)
fi
OUT=$BUILD/accuracy
mkdir -p "$OUT"

header="| ranks | algorithm | transport |"
rule="|------:|-----------|-----------|"
for ((e = 1; e <= EPOCHS; e++)); do
  header+=" epoch $e |"
  rule+="--------:|"
done
echo "$header wall (s) |"
echo "$rule---------:|"
status=0
for c in "${CONFIGS[@]}"; do
  IFS=: read -r n algo transport <<<"$c"
  name="n${n}_${algo}_${transport}"
  env=(-x "SHOAL_TRANSPORT=$transport")
  [ "$algo" = auto ] || env+=(-x "SHOAL_ALGO=$algo")
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$BUILD/tools/shoalrun" -n "$n" --timeout 3000 "${env[@]}" "$BUILD/examples/train_allreduce" \
    --epochs "$EPOCHS" --log-every 1000000 --csv "$OUT/$name.csv" ${TRAIN_ARGS:-} \
    >"$OUT/$name.log" 2>&1
  rc=$?
  wall=$(($(date +%s) - t0))
  # the algorithm that actually ran, as the program reports it
  ran=$(sed -n 's/^\[0\] gradient all-reduce: algorithm \([a-z]*\), transport \([a-z]*\)$/\1 (\2)/p' \
    "$OUT/$name.log")
  row="| $n | ${algo}${ran:+ → ${ran%% *}} | $transport |"
  accs=$(sed -n 's/^\[0\] test after step [0-9]*: .* accuracy \([0-9.]*\)% .*/\1/p' "$OUT/$name.log")
  for a in $accs; do row+=" $a% |"; done
  if [ $rc -ne 0 ]; then
    row+=" failed (status $rc, see $OUT/$name.log) |"
    status=1
  fi
  echo "$row $wall |"
done
exit $status
