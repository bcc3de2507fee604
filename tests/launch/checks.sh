# Sourced by the launch tests that check a job from the outside:
#   check DESCRIPTION COMMAND...  runs COMMAND, prints "ok:" or "FAIL:" and
#                                 counts the failures;
#   $out, $err                    temporary files for a job's stdout and
#                                 stderr, removed on exit;
#   finish                        the verdict: PASS, or the number of failed
#                                 checks and exit status 1.
fails=0
check() {
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
finish() {
  [ $fails -eq 0 ] && echo PASS || { echo "$fails check(s) failed"; exit 1; }
}
