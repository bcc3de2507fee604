#!/usr/bin/env bash
# Builds the benchmarks from one commit, exported with git archive into its
# own directory, so a measurement names exactly what it measured even while
# the working tree changes underneath.
#
#   perf/build_snapshot.sh [commit=HEAD] [dir=build-perf/snap] [cmake options...]
#
# Leaves <dir>/src (the commit's files plus a COMMIT file that run_compare.sh
# records) and <dir>/build (benchmarks and shoalrun only; tests and examples
# off). Transports whose sources the commit lacks can be turned off with
# -DSHOAL_WITH_<X>=OFF.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
commit=${1:-HEAD}
dir=${2:-"$repo/build-perf/snap"}
shift $(( $# < 2 ? $# : 2 ))

sha=$(git -C "$repo" rev-parse --short "$commit")
rm -rf "$dir/src"
mkdir -p "$dir/src"
git -C "$repo" archive "$sha" | tar -x -C "$dir/src"
echo "$sha $(git -C "$repo" log -1 --format=%s "$sha")" > "$dir/src/COMMIT"
cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSHOAL_BUILD_TESTS=OFF -DSHOAL_BUILD_EXAMPLES=OFF "$@" > "$dir/cmake.log"
# Every benchmark this configuration defines (baselines only where their
# library was found).
known=$(ninja -C "$dir/build" -t targets all)
targets=(shoalrun)
for t in all_reduce_perf reduce_scatter_perf all_gather_perf broadcast_perf reduce_perf \
  mpi_all_reduce_perf gloo_all_reduce_perf reduce_bench; do
  if grep -q "^$t:" <<< "$known"; then targets+=("$t"); fi
done
ninja -C "$dir/build" -j2 "${targets[@]}"
echo "built ${targets[*]} from $sha in $dir/build" >&2
