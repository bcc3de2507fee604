#!/bin/bash
# SIGINT and SIGTERM sent to shoalrun reach every rank, and shoalrun exits
# with 128 + the signal once they are gone.
# usage: shoalrun_signals.sh SHOALRUN PROBE
set -u
shoalrun=$1 probe=$2
source "$(dirname "$0")/checks.sh"

for sig in INT TERM; do
  "$shoalrun" -n 3 "$probe" sleep >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(grep -c sleeping "$out")" -eq 3 ] && break
    sleep 0.1
  done
  ranks=$(pgrep -P $pid | tr '\n' ' ')
  check "SIG$sig: three ranks running" test "$(wc -w <<<"$ranks")" -eq 3
  kill -$sig $pid
  wait $pid
  rc=$?
  num=$(kill -l $sig)
  echo "--- SIG$sig -> exit $rc"
  sed 's/^/    stdout: /' "$out"
  sed 's/^/    stderr: /' "$err"
  check "SIG$sig: exit status 128+$num" test $rc -eq $((128 + num))
  check "SIG$sig: says it passed the signal on" grep -q 'passing it on to the ranks' "$err"
  left=0
  for p in $ranks; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
  check "SIG$sig: no rank left running" test $left -eq 0
done

finish
