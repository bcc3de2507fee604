#!/usr/bin/env bash
# Wall time of one shoal-sim prediction per (algorithm, size) at a given
# cluster size, each run cut off after a limit: the check behind "a
# simulation of 2048 x 8 ranks for one size finishes in under a minute".
# usage: tools/shoal-sim-speed.sh [-x SHOAL_SIM] [-N NODES] [-g RANKS] [-t LIMIT_S]
#                                 [-A "ring tree ..."] [-s "8 32K ..."] [-- extra shoal-sim args]
# Prints one line per run: algorithm, size, wall seconds (or ">LIMIT"), the
# CPU seconds it used (user + system: on a loaded machine the wall time is
# mostly waiting for a core), the predicted time, then shoal-sim's -v line
# (how the schedules were obtained, exact or approximate, events).
set -u
sim=build/tools/shoal-sim nodes=2048 ranks=8 limit=120
algos="ring tree hier rhd rd"
sizes="8 8K 16K 32K 1M 8M 128M 512M 4G"
while getopts "x:N:g:t:A:s:" o; do
  case $o in
    x) sim=$OPTARG ;;
    N) nodes=$OPTARG ;;
    g) ranks=$OPTARG ;;
    t) limit=$OPTARG ;;
    A) algos=$OPTARG ;;
    s) sizes=$OPTARG ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/'); $sim -N $nodes -g $ranks $*"
for a in $algos; do
  for s in $sizes; do
    log=$(mktemp)
    start=$(date +%s.%N)
    # CPU seconds need GNU time (Debian package "time"); without it only wall time.
    cputime=()
    [ -x /usr/bin/time ] && cputime=(/usr/bin/time -f "%U %S" -o "$log.cpu")
    : >"$log.cpu"
    "${cputime[@]}" timeout "$limit" "$sim" -p ndr400 -N "$nodes" \
      -g "$ranks" -A "$a" -b "$s" -e "$s" -v "$@" >"$log.out" 2>"$log"
    rc=$?
    cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { printf "%.2f", $1 + $2 }' "$log.cpu")
    end=$(date +%s.%N)
    if [ $rc -eq 124 ]; then
      t=">$limit"
    else
      t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    fi
    us=$(awk '!/^#/ && NF > 6 { print $6; exit }' "$log.out")
    printf '%-5s %5s  %8s s  %6s cpu  %10s us  %s\n' "$a" "$s" "$t" "${cpu:--}" "${us:--}" \
      "$(grep -o 'wall (.*' "$log" | head -1)"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && sed 's/^/    /' "$log"
    rm -f "$log" "$log.out" "$log.cpu"
  done
done
