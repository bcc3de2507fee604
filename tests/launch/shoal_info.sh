#!/bin/bash
# shoal-info lists every variable declared in config_table.inc with its value
# and source, and reports the version and the transports.
# usage: shoal_info.sh SHOAL_INFO CONFIG_TABLE
set -u
info=$1 table=$2
source "$(dirname "$0")/checks.sh"

SHOAL_CHUNK_SIZE=1M SHOAL_DEBUG= "$info" -c >"$out" 2>&1
rc=$?
cat "$out"
check "exit 0" test $rc -eq 0
check "version line" grep -qE '^shoal [0-9]+\.[0-9]+\.[0-9]+ \(library version code [0-9]+' "$out"
check "shm transport reported" grep -qE '^  shm +(usable|not usable: .+)$' "$out"
names=$(sed -n 's/^SHOAL_TUNABLE(\([A-Z0-9_]*\),.*/\1/p' "$table")
check "config_table.inc declares variables" test -n "$names"
for n in $names; do
  check "$n listed" grep -q "^  $n=" "$out"
done
check "a value from the environment shows as such" \
  grep -A1 -x '  SHOAL_CHUNK_SIZE=1M' "$out" | grep -q "source: env (default: '512K')"
check "an unset variable shows its default" \
  grep -A1 -x '  SHOAL_SLOTS=4' "$out" | grep -qx '      source: default'

"$info" --bogus >/dev/null 2>&1
check "unknown option is an error" test $? -eq 2

finish
