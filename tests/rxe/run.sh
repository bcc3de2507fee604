#!/bin/bash
# ctest entry point for the Soft-RoCE guest suites.
#
# usage: run.sh single|ucx|two BUILD_DIR [PARTS...]
#   single: one guest, every rank on its rxe0 (loopback): verbs       (ctest label rxe)
#   ucx:    one guest, shoal's UCX transport on rxe0 (rc_verbs)       (ctest label rxe)
#   two:    two guests 10.0.0.1 / 10.0.0.2 on a qemu UDP "wire", ranks on both  (label rxe2)
#   PARTS:  guest/suites.sh parts to run instead of the mode's default, e.g.
#           `run.sh single BUILD bench` for the benchmark table (ib_write_bw, shoal over
#           verbs and UCX, Gloo ibverbs, Open MPI over UCX; BENCH_VARIANTS adds shoal
#           settings: "name:VAR=v,VAR=v ...") and `profile` for perf(1) of an allreduce
# env: GUEST_MTU sets the guest NIC's MTU (rxe's path MTU follows: 4096 from 4200 up)
#      FAULTS_JOBS: gtest shards of the verbs fault matrix run at once in a guest (default 1)
#      FAULTS_GUESTS: single mode runs the verbs fault matrix (part faults) in this many
#          guests of its own (node1..), each a share of the cases, booted next to node0,
#          which runs the other parts (default 1; 0: node0 runs it after the others)
# Exits 77 (ctest SKIP_RETURN_CODE) with the reason when this machine cannot boot the
# guests: qemu or the kernel cache missing (run tests/rxe/setup.sh as root first).
# Results, console logs and per-suite logs go to BUILD_DIR/rxe-results/<mode>.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MODE=${1:?usage: run.sh single|ucx|two BUILD_DIR [PARTS...]}
BUILD=$(cd "${2:?usage: run.sh single|ucx|two BUILD_DIR [PARTS...]}" && pwd)
shift 2
CACHE=${SHOAL_RXE_CACHE:-$HERE/cache}
skip() { echo "SKIPPED: $*"; exit 77; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (run tests/rxe/setup.sh as root)"
[ -s "$CACHE/kernel/vmlinux" ] && [ -s "$CACHE/initramfs.cpio.gz" ] ||
    skip "no guest kernel/initramfs in $CACHE (run tests/rxe/setup.sh as root)"
[ -e /dev/kvm ] || [ -n "$(qemu-system-x86_64 -accel help 2>/dev/null | grep tcg)" ] ||
    skip "this qemu has neither KVM nor TCG"
[ -x "$BUILD/tests/verbs_transport_test" ] || skip "$BUILD has no verbs_transport_test (verbs transport not built)"

OUT=$BUILD/rxe-results/$MODE
rm -rf "$OUT"
mkdir -p "$OUT"
case $MODE in
    single) PARTS="transport allreduce ps faults perf" ;;
    ucx)
        [ -x "$BUILD/tests/ucx_transport_test" ] || skip "$BUILD has no UCX transport"
        PARTS="ucx"
        ;;
    *) PARTS="allreduce hier train train_ps perf" ;;
esac
[ $# -gt 0 ] && PARTS="$*"
# The fault matrix is minutes of emulated CPU that depends on nothing the other parts
# do, and one guest keeps the host's 2 cores only about half busy (qemu used 323 CPU s
# in a 359 s run of every part), so guests of its own run it beside node0's parts:
# the whole run took 242 s with node1 for the matrix (host load 8-12), 359 s in one
# guest (load 7); the matrix's 56 cases alone, 258 s in one guest and 143 s split
# over two at once (load 6-10).
FAULTS_GUESTS=${FAULTS_GUESTS:-1}
case " $PARTS " in *" faults "*) ;; *) FAULTS_GUESTS=0 ;; esac
[ "$MODE" = single ] || FAULTS_GUESTS=0
if [ "$FAULTS_GUESTS" -gt 0 ]; then
    PARTS=$(echo " $PARTS " | sed 's/ faults / /g; s/^ *//; s/ *$//')
    for k in $(seq "$FAULTS_GUESTS"); do
        printf 'PARTS=faults\nFAULTS_SHARD=%d\nFAULTS_SHARDS=%d\n' $((k - 1)) "$FAULTS_GUESTS" \
            > "$OUT/plan-node$k.sh"
    done
fi
cat > "$OUT/plan.sh" <<PLAN
export BUILD=$BUILD
PARTS="$PARTS"
FILTER_TRANSPORT='${FILTER_TRANSPORT:-}'
FILTER_ERRORS='${FILTER_ERRORS:-}'
FILTER_UCX='${FILTER_UCX:-}'
FILTER_FAULTS='${FILTER_FAULTS:-}'
FAULTS_JOBS='${FAULTS_JOBS:-}'
${BENCH_VARIANTS+BENCH_VARIANTS='$BENCH_VARIANTS'}
${BENCH_ITERS:+BENCH_ITERS=$BENCH_ITERS}
PLAN
# the debug part's command and limits, quoted for the guest's shell
for v in DEBUG_CMD DEBUG_LIMIT DEBUG_TAIL; do
    [ -n "${!v:-}" ] && printf '%s=%q\n' "$v" "${!v}" >> "$OUT/plan.sh"
done

t0=$(date +%s)
case $MODE in
single | ucx)
    # node0 runs the parts; node1.. (FAULTS_GUESTS) the fault matrix's shares. Each
    # guest is on a user-mode network of its own.
    NODES="" pids=()
    [ -n "$PARTS" ] && NODES="node0"
    for k in $(seq "$FAULTS_GUESTS"); do NODES="$NODES node$k"; done
    for n in $NODES; do
        GUEST_SMP=${GUEST_SMP:-2} "$HERE/boot.sh" "$n" 10.0.2.15/24 "$HERE/guest/single.sh" "$OUT" \
            > "$OUT/$n.console" 2>&1 &
        pids+=($!)
    done
    qemu_rc=0
    for p in "${pids[@]}"; do wait "$p" || qemu_rc=1; done
    ;;
two)
    # Symmetric UDP sockets: either guest may start first. Ports derived from the pid
    # so two runs on one machine do not cross wires.
    p0=$((20000 + $$ % 20000)) p1=$((20000 + $$ % 20000 + 1))
    export GUEST_SMP=${GUEST_SMP:-1} GUEST_MEM=${GUEST_MEM:-2G}
    "$HERE/boot.sh" node0 10.0.0.1/24 "$HERE/guest/two.sh" "$OUT" \
        "socket,udp=127.0.0.1:$p1,localaddr=127.0.0.1:$p0" > "$OUT/node0.console" 2>&1 &
    a=$!
    "$HERE/boot.sh" node1 10.0.0.2/24 "$HERE/guest/two.sh" "$OUT" \
        "socket,udp=127.0.0.1:$p0,localaddr=127.0.0.1:$p1" > "$OUT/node1.console" 2>&1 &
    b=$!
    wait $a; ra=$?
    wait $b; rb=$?
    qemu_rc=$((ra | rb))
    NODES="node0 node1"
    ;;
*)
    echo "run.sh: unknown mode $MODE (single or two)"
    exit 2
    ;;
esac

# The guest's fault-matrix rows (suite_faults) join the build's FAULTS.md.
if compgen -G "$OUT/faults/rows/*.tsv" > /dev/null; then
    mkdir -p "$BUILD/tests/faults/rows"
    # An earlier run's shards of the same filter would mix with this run's.
    for f in "$OUT"/faults/rows/*.tsv; do
        b=${f##*/}
        rm -f "$BUILD/tests/faults/rows/${b%_shard*}"_shard*.tsv
    done
    cp "$OUT"/faults/rows/*.tsv "$BUILD/tests/faults/rows/"
    "$BUILD/tests/faults/faults_matrix_test" --gtest_filter=MatrixReport.Rebuild \
        > "$OUT/faults-report.log" 2>&1 || echo "== FAULTS.md not rebuilt: see $OUT/faults-report.log"
fi

rc=0
for n in $NODES; do
    g=$(cat "$OUT/$n.rc" 2>/dev/null || echo none)
    echo "== $n: guest exit $g ($(grep -c . "$OUT/$n.console") console lines)"
    grep -a -E 'SHOAL_(RESULT|PERF|SUMMARY)|^\[  FAILED  \]|Failure|guest node' "$OUT/$n.console" | sed 's/^/   /'
    [ "$g" = 0 ] || rc=1
done
if [ $rc != 0 ] || [ $qemu_rc != 0 ]; then
    for n in $NODES; do echo "== $n console (last 60 lines)"; tail -60 "$OUT/$n.console"; done
    rc=1
fi
echo "rxe $MODE: $([ $rc = 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - t0 )) s (logs in $OUT)"
exit $rc
