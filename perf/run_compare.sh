#!/usr/bin/env bash
# Runs shoal's all_reduce_perf, Open MPI's and Gloo's over the same sizes and
# rank counts, one after another on this machine, and writes each output plus
# the machine description and the exact commands to a results directory.
#
#   perf/run_compare.sh [-B build_dir] [-o results_dir] [-r "2 4"] [-f 4]
#                       [-b 8] [-e 128M] [-n 20] [-w 5] [-c 0] [-A "ring"] [-R 1]
#
# -R repeats the whole comparison that many rounds, each round running every
# implementation once in turn (files <impl>_n<ranks>.r<k>.txt), so that load
# from other processes on a shared machine hits all of them alike;
# plot_busbw.py then keeps each size's fastest round.
# -A takes a list: each shoal algorithm runs as its own implementation
# (shoal_ring, shoal_auto, ...). Implementations whose binary is missing are
# skipped with a message. Afterwards: perf/plot_busbw.py <results_dir>.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
out=""
ranks="2 4"
minb=8
maxb=128M
factor=4
iters=20
warmup=5
check=0
algos="ring"
rounds=1
while getopts "B:o:r:b:e:f:n:w:c:A:R:h" opt; do
  case $opt in
    B) build=$OPTARG ;;
    o) out=$OPTARG ;;
    r) ranks=$OPTARG ;;
    b) minb=$OPTARG ;;
    e) maxb=$OPTARG ;;
    f) factor=$OPTARG ;;
    n) iters=$OPTARG ;;
    w) warmup=$OPTARG ;;
    c) check=$OPTARG ;;
    A) algos=$OPTARG ;;
    R) rounds=$OPTARG ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
out=${out:-"$here/results/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"

shoalrun="$build/tools/shoalrun"
mpirun=$(command -v mpirun || true)
mpiflags=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpiflags+=(--allow-run-as-root)
args=(-b "$minb" -e "$maxb" -f "$factor" -n "$iters" -w "$warmup" -c "$check")

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -n) $(uname -srm)"
  grep -m1 'model name' /proc/cpuinfo | sed 's/^/cpu: /'
  echo "cpus: $(nproc), $(lscpu | awk -F: '/Hypervisor vendor/ {gsub(/ /,"",$2); print "virtualized ("$2")"}')"
  lscpu | grep -E '^(L1d|L2|L3)' | sed 's/  */ /g'
  free -g | awk '/Mem:/ {print "memory: " $2 " GiB"}'
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null)
  if [ -f "$src/COMMIT" ]; then
    echo "shoal: $(cat "$src/COMMIT") (snapshot in $src)"
  elif git -C "$src" rev-parse --short HEAD >/dev/null 2>&1; then
    dirty=$(git -C "$src" status --porcelain --untracked-files=no | grep -q . && echo " + uncommitted changes" || true)
    echo "shoal: $(git -C "$src" rev-parse --short HEAD)$dirty (working tree $src)"
  else
    echo "shoal: unknown source"
  fi
  [ -n "$mpirun" ] && echo "mpi: $($mpirun --version 2>&1 | head -1)"
  echo "gloo: $(dpkg-query -W -f='${Version}' libgloo-dev 2>/dev/null || echo unknown)"
  echo "compiler: $(c++ --version | head -1)"
} > "$out/machine.txt"
: > "$out/commands.txt"

# Runs one implementation; the launcher's per-rank prefix ("[0] ") is removed
# so the outputs diff against each other and against nccl-tests.
run() {
  local name=$1
  shift
  local file="$out/$name.txt"
  echo "$name: $*" >> "$out/commands.txt"
  echo "== $name: $*" >&2
  if "$@" 2>"$out/$name.err" | sed -E 's/^\[[0-9]+\] //' > "$file"; then
    [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
  else
    echo "   $name failed; see $out/$name.err" >&2
  fi
}

for round in $(seq 1 "$rounds"); do
  sfx=""
  [ "$rounds" -gt 1 ] && sfx=".r$round"
  for n in $ranks; do
    for algo in $algos; do
      if [ -x "$build/perf/all_reduce_perf" ] && [ -x "$shoalrun" ]; then
        run "shoal_${algo}_n$n$sfx" "$shoalrun" -n "$n" --timeout 1800 \
          "$build/perf/all_reduce_perf" -A "$algo" "${args[@]}"
      else
        echo "skipping shoal: $build/perf/all_reduce_perf or $shoalrun missing" >&2
      fi
    done
    if [ -x "$build/perf/mpi_all_reduce_perf" ] && [ -n "$mpirun" ]; then
      run "mpi_n$n$sfx" "$mpirun" "${mpiflags[@]}" -n "$n" "$build/perf/mpi_all_reduce_perf" \
        "${args[@]}"
    else
      echo "skipping Open MPI: mpi_all_reduce_perf or mpirun missing" >&2
    fi
    if [ -x "$build/perf/gloo_all_reduce_perf" ] && [ -x "$shoalrun" ]; then
      run "gloo_n$n$sfx" "$shoalrun" -n "$n" --timeout 1800 "$build/perf/gloo_all_reduce_perf" \
        "${args[@]}"
    else
      echo "skipping Gloo: gloo_all_reduce_perf missing" >&2
    fi
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
echo "results in $out" >&2
