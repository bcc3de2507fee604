#!/bin/bash
# hier allreduce on two faked nodes of two ranks (4 ranks over shm), with and
# without landing, interleaved rounds.
#   run.sh BUILD_DIR ROUNDS   (from the repository root; outputs here)
set -eu
build=$1 rounds=$2
here=$(cd "$(dirname "$0")" && pwd)
wrap=$(mktemp)
cat > "$wrap" <<'W'
#!/bin/bash
export SHOAL_HOST_ID=node$((SHOAL_RANK / 2))
exec "$@"
W
chmod +x "$wrap"
for r in $(seq 1 "$rounds"); do
  for land in 0 1; do
    echo "== round $r landing $land"
    "$build/tools/shoalrun" -n 4 -x SHOAL_TRANSPORT=shm -x SHOAL_SHM_FAKE_HOSTS=1 \
      -x SHOAL_ALGO=allreduce:hier -x SHOAL_LANDING=$land \
      "$wrap" "$build/perf/all_reduce_perf" -b 1M -e 256M -f 4 -n 5 -w 2 |
      grep -E "^\[0\] +[0-9]|Algorithm"
  done
done | tee "$here/hier-landing.txt"
rm -f "$wrap"
