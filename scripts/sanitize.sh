#!/bin/bash
# The host test suites under sanitizers, each in its own build folder:
#   build-asan  -fsanitize=address,undefined, with UCX: the suites listed in
#               ASAN_SUITES below, whole, over shm and UCX (verbs needs an
#               RDMA port: the Soft-RoCE guests run it, without sanitizers);
#   build-tsan  -fsanitize=thread: the suites whose code runs threads (the
#               bootstrap root thread, abort and concurrent calls, the
#               watchdog, the parameter server's threads in every mode) and
#               every collective algorithm at 2 and 4 ranks, over shm; the
#               CUDA stream proxy's thread needs a GPU and is left out.
# Only the test programs those runs need are built. Any sanitizer report
# aborts the process that found it (-fno-sanitize-recover, abort_on_error);
# a rank that aborts fails its test, the suite's log (sanitizer report
# included) is printed, and this script exits non-zero.
# usage: scripts/sanitize.sh [asan|tsan|all]     (default all)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
JOBS=${SHOAL_JOBS:-$(nproc)}
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_WERROR=ON -DSHOAL_BUILD_PERF=OFF
        -DSHOAL_BUILD_EXAMPLES=OFF -DSHOAL_WITH_CUDA=OFF)

# One suite: program, gtest filter, then NAME=value settings for its
# environment, if any; its output goes to a log that is printed when it
# fails. Every run has a deadline (timeout, 20 min: the allreduce matrix
# takes 7 min on a busy machine) so a hang fails too.
run_suite() {
  local dir=$1 prog=$2 filter=$3
  shift 3
  local settings=("$@")
  local bin log name start rc=0
  bin=$(find "$dir/tests" -name "$prog" -type f -executable | head -1)
  name="$prog${settings[*]:+ ${settings[*]}}"
  log=$dir/sanitize-logs/$(echo "$name" | tr -c 'A-Za-z0-9_.=-' '_').log
  start=$(date +%s)
  env "${settings[@]}" timeout -k 10 1200 "$bin" --gtest_filter="$filter" --gtest_brief=1 \
    > "$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "== FAILED (exit $rc): $name --gtest_filter='$filter'; its log:"
    cat "$log"
    return 1
  fi
  echo "== ok: $name ($(( $(date +%s) - start )) s)"
}
export -f run_suite

# Runs "program filter [NAME=value...]" lines two at a time; fails if any
# suite failed.
run_suites() {
  local dir=$1
  mkdir -p "$dir/sanitize-logs"
  xargs -P 2 -L 1 bash -c 'run_suite "$0" "$@"' "$dir"
}

if [ "$WHAT" = asan ] || [ "$WHAT" = all ]; then
  B=$HERE/build-asan
  mkdir -p "$B"
  cmake -S "$HERE" -B "$B" "${common[@]}" -DSHOAL_SANITIZE=address,undefined -DSHOAL_WITH_UCX=ON \
    > "$B/configure.log" 2>&1 ||
    { cat "$B/configure.log"; exit 1; }
  # program  gtest filter: the whole allreduce matrix (every count, type, op
  # and placement at 1..8 ranks over shm and UCX); the whole collectives
  # matrix (every algorithm at 1..8 ranks over shm and UCX, so odd and
  # non-power-of-two schedules too, and every hier layout); mismatched calls
  # over both transports; hostile connections to a rank's mesh listener;
  # chunks landing in place over shm.
  ASAN_SUITES="bootstrap_test *
bootstrap_mesh_test *
api_validation_test *
allreduce_test *
allreduce_errors_test *
collectives_test *-*/verbs_*
mismatch_fingerprint_test *
ps_sync_test *
ps_modes_test *
ucx_transport_test *
faults_deadline_test *
ps_faults_test *
landing_test *-*verbs*"
  ninja -C "$B" -j "$JOBS" $(echo "$ASAN_SUITES" | cut -d' ' -f1 | sort -u)
  # Leaks are checked in the test processes; rank children leave with _exit.
  export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:symbolize=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  echo "$ASAN_SUITES" | run_suites "$B"
fi

if [ "$WHAT" = tsan ] || [ "$WHAT" = all ]; then
  B=$HERE/build-tsan
  mkdir -p "$B"
  # GCC warns that TSan does not model standalone fences (shm's mailboxes
  # use them), so warnings stay warnings here.
  cmake -S "$HERE" -B "$B" "${common[@]}" -DSHOAL_WERROR=OFF -DSHOAL_SANITIZE=thread -DSHOAL_WITH_UCX=OFF \
    -DSHOAL_WITH_VERBS=OFF > "$B/configure.log" 2>&1 || { cat "$B/configure.log"; exit 1; }
  # The allreduce matrix at 2 and 4 ranks once per algorithm (the test checks
  # that the forced one ran); the other collectives' algorithms and hier on
  # fake nodes through the collectives suite; the parameter server's server
  # threads in sync, async and ssp modes.
  TSAN_SUITES="bootstrap_test *
api_validation_test *
faults_deadline_test *
ps_faults_test *
ps_sync_test *
ps_modes_test *
allreduce_test *shm_2ranks:*shm_4ranks SHOAL_ALGO=allreduce:ring
allreduce_test *shm_2ranks:*shm_4ranks SHOAL_ALGO=allreduce:tree
allreduce_test *shm_2ranks:*shm_4ranks SHOAL_ALGO=allreduce:rhd
allreduce_test *shm_2ranks:*shm_4ranks SHOAL_ALGO=allreduce:rd
collectives_test *shm_2ranks:*shm_4ranks:*shm_2x2:*shm_2plus3:*Fallback/shm"
  ninja -C "$B" -j "$JOBS" $(echo "$TSAN_SUITES" | cut -d' ' -f1 | sort -u)
  # Ranks are forked from a test process that runs the bootstrap root thread;
  # a child that starts threads of its own is fine here (no locks cross the
  # fork: see the fork guard in src/core/bootstrap_root.cc).
  export TSAN_OPTIONS=halt_on_error=1:die_after_fork=0:second_deadlock_stack=1
  echo "$TSAN_SUITES" | run_suites "$B"
fi
