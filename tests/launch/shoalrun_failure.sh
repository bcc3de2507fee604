#!/bin/bash
# When one rank fails, shoalrun stops the others, names the rank, and exits
# non-zero (with that rank's status).
# usage: shoalrun_failure.sh SHOALRUN PROBE
set -u
shoalrun=$1 probe=$2
source "$(dirname "$0")/checks.sh"

run() {  # run ARGS...: sets rc and ms (how long it took)
  local start=$(date +%s%N)
  "$shoalrun" "$@" >"$out" 2>"$err"
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "--- shoalrun $* -> exit $rc after ${ms} ms"
  sed 's/^/    stdout: /' "$out"
  sed 's/^/    stderr: /' "$err"
}

run -n 4 "$probe" fail 2 3
check "exit status is rank 2's status 3" test "$rc" -eq 3
check "rank 2 is named" grep -qx 'shoalrun: rank 2 exited with status 3; stopped the other ranks' "$err"
check "rank 2's last words are kept" grep -qx '\[2\] rank 2 giving up with 3' "$err"
check "the others were stopped at once (<5 s)" test $ms -lt 5000

run -n 3 "$probe" fail-stubborn 1 5
check "exit status is rank 1's status 5" test "$rc" -eq 5
check "rank 1 is named" grep -q 'shoalrun: rank 1 exited with status 5' "$err"
check "ranks ignoring SIGTERM are killed after the 3 s grace" test $ms -ge 2900 -a $ms -lt 8000

run -n 2 sh -c 'if [ "$SHOAL_RANK" = 1 ]; then kill -SEGV $$; fi; sleep 30'
check "a rank killed by a signal fails the job" test "$rc" -eq 139
check "the signal is named" grep -q 'shoalrun: rank 1 was killed by signal 11' "$err"

run -n 2 /nonexistent/program
check "a program that cannot start fails the job" test "$rc" -ne 0
check "the reason is printed" grep -q 'cannot run /nonexistent/program' "$err"

run -n 3 "$probe" print
check "all ranks exiting 0 gives 0" test "$rc" -eq 0

run -n 0 "$probe" print
check "-n 0 is a usage error" test "$rc" -eq 2

finish
