#!/bin/bash
# shoalrun's environment for each rank and its "[R] " output prefixes, with
# stdout and stderr kept apart; --hosts fakes nodes in contiguous blocks.
# usage: shoalrun_prefix.sh SHOALRUN PROBE
set -u
shoalrun=$1 probe=$2
source "$(dirname "$0")/checks.sh"

for hosts in 0 2; do
  args=(-n 4 -x PROBE_EXTRA=xyz)
  [ $hosts -gt 0 ] && args+=(--hosts $hosts)
  "$shoalrun" "${args[@]}" "$probe" print >"$out" 2>"$err"
  rc=$?
  echo "--- shoalrun ${args[*]} probe print -> exit $rc"
  sed 's/^/    stdout: /' "$out"
  sed 's/^/    stderr: /' "$err"
  check "exit 0" test $rc -eq 0
  root=$(sed -n 's/^\[0\] root //p' "$out")
  check "SHOAL_ROOT is a loopback port" grep -qE '^127\.0\.0\.1:[0-9]+$' <<<"$root"
  for r in 0 1 2 3; do
    if [ $hosts -eq 2 ]; then
      want="[$r] env rank=$r size=4 local=$((r % 2)) localsize=2 host=node$((r / 2)) extra=xyz secretlen=64"
    else
      want="[$r] env rank=$r size=4 local=$r localsize=4 host=(unset) extra=xyz secretlen=64"
    fi
    check "rank $r environment" grep -qxF "$want" "$out"
    check "rank $r sees the same root" grep -qxF "[$r] root $root" "$out"
    check "rank $r line 'two'" grep -qxF "[$r] two" "$out"
    check "rank $r second line" grep -qxF "[$r] lines from rank $r" "$out"
    check "rank $r unterminated line is prefixed and ended" \
      grep -qxF "[$r] unterminated from rank $r" "$out"
    check "rank $r stderr line on stderr" grep -qxF "[$r] stderr line from rank $r" "$err"
  done
  check "stdout has exactly 20 lines, all prefixed" \
    test "$(grep -cE '^\[[0-3]\] ' "$out")" -eq 20 -a "$(wc -l <"$out")" -eq 20
  check "stderr has exactly the 4 stderr lines" test "$(wc -l <"$err")" -eq 4
done

finish
