#!/usr/bin/env bash
# -g 1 and --backend nccl from the outside. Without a GPU (CI, or a build
# without CUDA) every benchmark must refuse with one line on stderr and exit
# status 2, never crash. With a GPU the same commands must run and check
# every element (0 wrong); NCCL is then also run if libnccl.so.2 loads.
# ps_perf takes -g 1 too (workers' buffers on GPUs).
#   gpu_flags_test.sh <perf binary dir> <shoalrun>
set -u
dir=$1
shoalrun=$2
benches="all_reduce_perf reduce_scatter_perf all_gather_perf broadcast_perf reduce_perf"
small="-b 8 -e 64K -f 32 -n 2 -w 1"
ps_small="-w 2 -s 1 -b 4K -e 1M -f 16 -n 2 -W 1 -t shm"
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# run <command...>: status in $rc, stdout in $out, stderr in $err
run() {
  timeout 120 "$@" >"$out" 2>"$err"
  rc=$?
}

# A refusal: status 2, nothing on stdout, exactly one line on stderr that
# names the program and matches $2.
expect_refusal() {
  local what=$1 pattern=$2
  [ "$rc" -eq 2 ] || fail "$what: exit status $rc, expected 2; stderr: $(cat "$err")"
  [ ! -s "$out" ] || fail "$what: printed to stdout: $(head -3 "$out")"
  [ "$(wc -l <"$err")" -eq 1 ] || fail "$what: expected one line on stderr, got: $(cat "$err")"
  grep -Eq "$pattern" "$err" || fail "$what: message does not match '$pattern': $(cat "$err")"
  echo "ok: $what refused: $(cat "$err")"
}

expect_clean_run() {
  local what=$1
  [ "$rc" -eq 0 ] || fail "$what: exit status $rc; stderr: $(cat "$err"); stdout: $(tail -5 "$out")"
  grep -q "Out of bounds values : 0 OK" "$out" || fail "$what: data check failed: $(cat "$out")"
  echo "ok: $what"
}

# Argument errors come before any device or library: status 1.
run "$dir/all_reduce_perf" --backend nccl -g 0
[ "$rc" -eq 1 ] || fail "--backend nccl -g 0: exit status $rc, expected 1"
run "$dir/all_reduce_perf" -g 2
[ "$rc" -eq 1 ] || fail "-g 2: exit status $rc, expected 1"
run "$dir/all_reduce_perf" --backend mpi
[ "$rc" -eq 1 ] || fail "--backend mpi: exit status $rc, expected 1"
run "$dir/all_reduce_perf" -h
grep -q "Duplicate GPU detected" "$out" || fail "--help does not warn about NCCL's one rank per GPU"

no_gpu='^all_reduce_perf: -g 1: (no usable GPU|no GPU visible|shoal was built without CUDA)'
run "$dir/all_reduce_perf" -g 1 $small
if [ "$rc" -eq 2 ] && grep -Eq "$no_gpu" "$err"; then
  for b in $benches; do
    run "$dir/$b" -g 1 $small
    expect_refusal "$b -g 1" "^$b: -g 1: "
    run "$dir/$b" --backend nccl $small
    expect_refusal "$b --backend nccl" "^$b: (-g 1: |--backend nccl: cannot load libnccl)"
  done
  run "$dir/ps_perf" -g 1 $ps_small
  expect_refusal "ps_perf -g 1" "^ps_perf: -g 1: "
  run "$shoalrun" -n 2 "$dir/all_reduce_perf" -g 1 $small
  [ "$rc" -ne 0 ] || fail "shoalrun -n 2 all_reduce_perf -g 1 succeeded without a GPU"
  grep -Eq "all_reduce_perf: -g 1: " "$err" || fail "shoalrun -n 2 -g 1: no GPU message: $(cat "$err")"
  echo "ok: no GPU here; every benchmark refuses -g 1 and --backend nccl with exit status 2"
  exit 0
fi

# A GPU: the same sweeps on device buffers must be right.
expect_clean_run "all_reduce_perf -g 1"
grep -q "buffers on GPU" "$out" || fail "-g 1 output does not say the buffers are on GPU"
for b in $benches; do
  run "$dir/$b" -g 1 $small -d all -o all
  expect_clean_run "$b -g 1 -d all -o all"
done
run "$shoalrun" -n 2 "$dir/all_reduce_perf" -g 1 $small
expect_clean_run "shoalrun -n 2 all_reduce_perf -g 1 (two ranks on GPU local rank % count)"
run "$dir/ps_perf" -g 1 $ps_small
expect_clean_run "ps_perf -g 1 (2 workers on GPU buffers, 1 server)"
grep -q "buffers on GPU" "$out" || fail "ps_perf -g 1 output does not say the buffers are on GPU"
run "$dir/all_reduce_perf" --backend nccl $small
if [ "$rc" -eq 2 ] && grep -q "cannot load libnccl" "$err"; then
  expect_refusal "all_reduce_perf --backend nccl" "^all_reduce_perf: --backend nccl: cannot load libnccl.so.2"
else
  expect_clean_run "all_reduce_perf --backend nccl"
  grep -q "^# NCCL " "$out" || fail "--backend nccl header does not name NCCL: $(head -5 "$out")"
  # The two outputs line up: same rows, same size/count/type/redop/root.
  rows() { grep -v '^#' "$1" | awk '{print $1, $2, $3, $4, $5}'; }
  cp "$out" "$out.nccl"
  run "$dir/all_reduce_perf" -g 1 $small
  diff <(rows "$out") <(rows "$out.nccl") || fail "shoal and NCCL rows differ"
  rm -f "$out.nccl"
  for b in $benches; do
    run "$dir/$b" --backend nccl $small -d all -o all
    expect_clean_run "$b --backend nccl -d all -o all"
  done
fi
exit 0
