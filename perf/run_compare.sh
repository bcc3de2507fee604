#!/usr/bin/env bash
# Runs shoal's all_reduce_perf, Open MPI's and Gloo's over the same sizes and
# rank counts, one after another on this machine, and writes each output plus
# the machine description and the exact commands to a results directory.
#
#   perf/run_compare.sh [-B build_dir] [-o results_dir] [-r "2 4"] [-f 4]
#                       [-b 8] [-e 128M] [-n 20] [-w 5] [-c 0] [-A "ring"] [-R 1]
#                       [-L 2M -N 5 -W 1] [-s "rd"] [-p -20] [-F] [-K 0]
#
# -L splits the sweep: sizes from -L up run as a second command with -N timed
# and -W warm-up iterations (large sizes need few iterations to be measured
# well, small ones many), both appended to the same file. Algorithms named
# in -s run in the small sweep only (latency algorithms that would spend
# minutes on sizes they are never chosen for).
# -p runs every implementation under nice -n <value>, so that builds other
# people run on a shared machine take less of the CPU from the measured
# processes (all implementations alike; negative values need root).
# -F runs every implementation under SCHED_FIFO (chrt -f 10, root only): the
# ranks then keep their cores against everything else on a shared machine
# (the kernel's real-time throttling still leaves others 5%), the nearest a
# loaded machine gets to a quiet one; ranks that outnumber cores still share.
# Gloo's ranks poll without yielding, so with more ranks than cores a FIFO
# rank that polls never lets the rank it waits for run: Gloo then runs
# under nice -n -20 instead (written to machine.txt).
# -K numbers this invocation's rounds from K+1, so several invocations (with
# and without -p, say) can add rounds to one results directory.
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
split=""
bigIters=5
bigWarmup=1
smallOnly=""
niceness=""
fifo=""
roundOffset=0
while getopts "B:o:r:b:e:f:n:w:c:A:R:L:N:W:s:p:FK:h" opt; do
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
    L) split=$OPTARG ;;
    N) bigIters=$OPTARG ;;
    W) bigWarmup=$OPTARG ;;
    s) smallOnly=$OPTARG ;;
    p) niceness=$OPTARG ;;
    F) fifo=1 ;;
    K) roundOffset=$OPTARG ;;
    *) sed -n '2,33p' "$0"; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
out=${out:-"$here/results/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$out"

shoalrun="$build/tools/shoalrun"
mpirun=$(command -v mpirun || true)
mpiflags=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpiflags+=(--allow-run-as-root)
# Bytes of a size with an optional K/M/G suffix (powers of 1024).
bytes() {
  local v=${1%[KkMmGg]} mul=1
  case $1 in *[Kk]) mul=1024 ;; *[Mm]) mul=$((1 << 20)) ;; *[Gg]) mul=$((1 << 30)) ;; esac
  echo $((v * mul))
}
if [ -n "$split" ]; then
  # The small sweep stops below the split, the large one starts at it.
  args=(-b "$minb" -e "$(($(bytes "$split") - 1))" -f "$factor" -n "$iters" -w "$warmup" -c "$check")
  bigArgs=(-b "$split" -e "$maxb" -f "$factor" -n "$bigIters" -w "$bigWarmup" -c "$check")
else
  args=(-b "$minb" -e "$maxb" -f "$factor" -n "$iters" -w "$warmup" -c "$check")
  bigArgs=()
fi

{
  echo "== $0 $*"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -n) $(uname -srm)"
  grep -m1 'model name' /proc/cpuinfo | sed 's/^/cpu: /'
  echo "cpus: $(nproc), $(lscpu | awk -F: '/Hypervisor vendor/ {gsub(/ /,"",$2); print "virtualized ("$2")"}')"
  lscpu | grep -E '^(L1d|L2|L3)' | sed 's/  */ /g'
  free -g | awk '/Mem:/ {print "memory: " $2 " GiB"}'
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ -n "$niceness" ] && echo "niceness: every implementation ran under nice -n $niceness"
  [ -n "$fifo" ] && echo "scheduling: every implementation ran under SCHED_FIFO (chrt -f 10)"
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
} >> "$out/machine.txt"
touch "$out/commands.txt"

# Runs one implementation (twice with -L: the small sweep, then the large
# one, into the same file); the launcher's per-rank prefix ("[0] ") is removed
# so the outputs diff against each other and against nccl-tests.
run() {
  local name=$1 small=$2
  shift 2
  [ -n "$niceness" ] && set -- nice -n "$niceness" "$@"
  [ -n "$fifo" ] && set -- chrt -f 10 "$@"
  local file="$out/$name.txt"
  : > "$file"
  : > "$out/$name.err"
  local part
  for part in small large; do
    local sweep=("${args[@]}")
    if [ "$part" = large ]; then
      [ ${#bigArgs[@]} -gt 0 ] && [ "$small" = 0 ] || break
      sweep=("${bigArgs[@]}")
    fi
    echo "$name: $* ${sweep[*]}" >> "$out/commands.txt"
    echo "== $name: $* ${sweep[*]}  (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    if ! "$@" "${sweep[@]}" 2>>"$out/$name.err" | sed -E 's/^\[[0-9]+\] //' >> "$file"; then
      echo "   $name failed; see $out/$name.err" >&2
    fi
  done
  [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
  echo "$name: load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"
}

# Each round starts one implementation further down the list, so no
# implementation always runs first (or last) while the machine's load drifts.
impls=()
for algo in $algos; do impls+=("shoal:$algo"); done
impls+=(mpi gloo)
for round in $(seq 1 "$rounds"); do
  sfx=""
  [ "$rounds" -gt 1 ] || [ "$roundOffset" -gt 0 ] && sfx=".r$((round + roundOffset))"
  for n in $ranks; do
    for k in $(seq 0 $((${#impls[@]} - 1))); do
      impl=${impls[$(((k + round + roundOffset - 1) % ${#impls[@]}))]}
      case $impl in
        shoal:*)
          algo=${impl#shoal:}
          if [ -x "$build/perf/all_reduce_perf" ] && [ -x "$shoalrun" ]; then
            only=0
            case " $smallOnly " in *" $algo "*) only=1 ;; esac
            run "shoal_${algo}_n$n$sfx" "$only" "$shoalrun" -n "$n" --timeout 1800 \
              "$build/perf/all_reduce_perf" -A "$algo"
          else
            echo "skipping shoal: $build/perf/all_reduce_perf or $shoalrun missing" >&2
          fi
          ;;
        mpi)
          if [ -x "$build/perf/mpi_all_reduce_perf" ] && [ -n "$mpirun" ]; then
            run "mpi_n$n$sfx" 0 "$mpirun" "${mpiflags[@]}" -n "$n" "$build/perf/mpi_all_reduce_perf"
          else
            echo "skipping Open MPI: mpi_all_reduce_perf or mpirun missing" >&2
          fi
          ;;
        gloo)
          if [ -x "$build/perf/gloo_all_reduce_perf" ] && [ -x "$shoalrun" ]; then
            if [ -n "$fifo" ] && [ "$n" -gt "$(nproc)" ]; then
              grep -q "^gloo_n$n:" "$out/machine.txt" ||
                echo "gloo_n$n: nice -n -20 instead of SCHED_FIFO (ranks outnumber cores)" >> "$out/machine.txt"
              fifo="" niceness=-20 run "gloo_n$n$sfx" 0 "$shoalrun" -n "$n" --timeout 1800 \
                "$build/perf/gloo_all_reduce_perf"
              continue
            fi
            run "gloo_n$n$sfx" 0 "$shoalrun" -n "$n" --timeout 1800 "$build/perf/gloo_all_reduce_perf"
          else
            echo "skipping Gloo: gloo_all_reduce_perf missing" >&2
          fi
          ;;
      esac
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
echo "results in $out" >&2
