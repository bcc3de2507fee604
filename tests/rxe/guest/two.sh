#!/bin/bash
# Two guests (node0 = 10.0.0.1, node1 = 10.0.0.2), each with its own rxe0, on one
# qemu UDP wire. Ranks run on both nodes: node0 holds ranks 0..L-1 and the
# rendezvous root, node1 ranks L..2L-1. Every part starts together on both nodes
# (barrier files in the shared results directory).
. "$(dirname "$0")/common.sh"
. "$RW/plan.sh"
ROOT_IP=10.0.0.1
LOCAL=${RANKS_PER_NODE:-2}
NODE=${GUEST_NAME#node}
PEER_IP=$([ "$NODE" = 0 ] && echo 10.0.0.2 || echo $ROOT_IP)
FAIL=0
signal "up-$GUEST_NAME"
await up-node0 && await up-node1 || exit 1
busybox ping -c 2 -W 5 "$PEER_IP" > /dev/null || { echo "no IP path to $PEER_IP"; exit 1; }
echo "guest $GUEST_NAME: peer $PEER_IP reachable, GID index $GIDX"

# together NAME: both nodes reach NAME before either goes on
together() { signal "$1-$GUEST_NAME"; await "$1-node0" && await "$1-node1"; }

# ranks NAME PORT TRANSPORT PROGRAM ARGS...: this node's share of a 2-node job
ranks() {
    local name=$1 port=$2 transport=$3 l pids=() rc=0
    shift 3
    together "start-$name" || return 1
    local t0=$(now)
    for ((l = 0; l < LOCAL; l++)); do
        local r=$((NODE * LOCAL + l))
        SHOAL_RANK=$r SHOAL_WORLD_SIZE=$((2 * LOCAL)) SHOAL_LOCAL_RANK=$l SHOAL_LOCAL_SIZE=$LOCAL \
        SHOAL_ROOT=$ROOT_IP:$port SHOAL_SECRET=5b1e7e55c0ffee00 SHOAL_TRANSPORT=$transport \
            timeout --kill-after=5 500 "$@" > "/tmp/$name.$r.log" 2>&1 &
        pids+=($!)
    done
    for ((l = 0; l < LOCAL; l++)); do
        local r=$((NODE * LOCAL + l))
        wait "${pids[$l]}" || { rc=1; echo "rank $r of $name failed:"; tail -20 "/tmp/$name.$r.log"; }
        cp "/tmp/$name.$r.log" "$RW/$GUEST_NAME-$name.rank$r.log"
    done
    [ "$NODE" = 0 ] && grep -E '^ *[0-9]+ |Avg bus|wrong' "/tmp/$name.0.log" | sed 's/^/    /'
    echo "SHOAL_RESULT $name ($transport, $((2 * LOCAL)) ranks on 2 nodes) rc=$rc time=$(secs "$t0")s"
    together "end-$name"
    return $rc
}

part_allreduce() {
    step "allreduce over verbs across two guests"
    ranks allreduce_verbs 29501 verbs "$BUILD/perf/all_reduce_perf" -b 8 -e 256K -f 32 -n 1 -w 0 -c 1 -o all
}

# The hierarchical allreduce where it means something: two real nodes, two ranks
# each (reduce-scatter inside the node, allreduce across, allgather inside).
part_hier() {
    step "hierarchical allreduce over verbs across two guests"
    SHOAL_ALGO=hier ranks allreduce_hier 29503 verbs "$BUILD/perf/all_reduce_perf" \
        -b 8 -e 1M -f 8 -n 1 -w 0 -c 1 -d float -o sum || return 1
    [ "$NODE" != 0 ] || grep -q "Algorithm by size: hier " "/tmp/allreduce_hier.0.log" ||
        { echo "all_reduce_perf did not report the hier algorithm"; return 1; }
}

# Data-parallel training across the two nodes over verbs with --check: every
# step's parameters bitwise identical on all ranks and within tolerance of the
# single-process reference (the data set is on the read-only root the guests
# share). A small model and few steps: the guests' CPUs are emulated, and the
# full 784-256-10 model takes about 20 s a step there.
part_train() {
    step "train_allreduce --check over verbs across two guests"
    local data=/usr/share/datasets/fashion-mnist
    if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
        echo "SHOAL_RESULT train_verbs rc=missing (no Fashion-MNIST in $data)"
        return 1
    fi
    ranks train_verbs 29504 verbs "$BUILD/examples/train_allreduce" --data "$data" \
        --steps 8 --hidden 32 --batch 64 --test-images 500 --log-every 2 --check --check-steps 8 ||
        return 1
    [ "$NODE" != 0 ] || grep -q "check passed: parameters bitwise identical on all $((2 * LOCAL)) ranks" \
        "/tmp/train_verbs.0.log" || { echo "no check summary"; tail -5 /tmp/train_verbs.0.log; return 1; }
}

# The parameter server across the two nodes over verbs: three workers and one
# server (rank 3, on node1), sync mode with --check (bitwise identical workers
# after every step, the single-process reference), small model as above.
part_train_ps() {
    step "train_ps --check over verbs across two guests"
    local data=/usr/share/datasets/fashion-mnist
    ranks train_ps_verbs 29505 verbs "$BUILD/examples/train_ps" --data "$data" --servers 1 \
        --mode sync --steps 8 --hidden 32 --batch 64 --test-images 500 --log-every 2 --check \
        --check-steps 8 || return 1
    [ "$NODE" != 0 ] || grep -q "check passed: parameters bitwise identical on all 3 workers after each of 8 steps" \
        "/tmp/train_ps_verbs.0.log" || { echo "no check summary"; tail -5 /tmp/train_ps_verbs.0.log; return 1; }
}

part_ucx() {
    step "allreduce over UCX (rc_verbs on rxe0) across two guests"
    UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=rxe0:1 UCX_IB_GID_INDEX=$GIDX \
    UCX_UD_VERBS_ETH_DGID_CHECK=n \
        ranks allreduce_ucx 29502 ucx "$BUILD/perf/all_reduce_perf" -b 8 -e 256K -f 32 -n 1 -w 0 -c 1 -o all
}

part_perf() {
    step "bandwidth across the wire: ib_write_bw vs all_reduce_perf over verbs"
    together start-ibbw || return 1
    local rc=0
    if [ "$NODE" = 0 ]; then
        timeout 120 ib_write_bw -d rxe0 -x "$GIDX" -F --report_gbits -s 1048576 -n 100 > /tmp/bw.log 2>&1 || rc=1
    else
        sleep 1
        timed 120 ib_write_bw ib_write_bw -d rxe0 -x "$GIDX" -F --report_gbits -s 1048576 -n 100 $ROOT_IP \
            > /tmp/bw.log 2>&1 || rc=1
        local bw=$(awk '$1 == 1048576 {print $4}' /tmp/bw.log | tail -1)
        echo "SHOAL_PERF two-guest ib_write_bw 1MiB avg_gbps=${bw:-none}"
        echo "$bw" > "$RW/ib_write_bw.gbps"
    fi
    together end-ibbw || return 1
    LOCAL=1 ranks perf_verbs 29503 verbs "$BUILD/perf/all_reduce_perf" -b 1M -e 4M -f 4 -n 5 -w 1 -c 0 || rc=1
    if [ "$NODE" = 0 ]; then
        local bw=$(cat "$RW/ib_write_bw.gbps" 2>/dev/null)
        # busbw from the out-of-place time (us) of 4 MiB; for 2 ranks busbw = algbw
        local busbw=$(awk '$1 == 4194304 {printf "%.3f", $1 / $6; exit}' /tmp/perf_verbs.0.log)
        echo "SHOAL_PERF two-guest all_reduce_perf 2 ranks 4MiB busbw_MBps=${busbw:-none}"
        [ -n "$bw" ] && [ -n "$busbw" ] &&
            awk -v a="$busbw" -v b="$bw" 'BEGIN{printf "SHOAL_PERF two-guest ratio busbw/ib_write_bw = %.2f\n", a * 8 / 1000 / b}'
    fi
    return $rc
}

for part in $PARTS; do
    "part_$part" || FAIL=1
done
echo "SHOAL_SUMMARY two-guest $GUEST_NAME FAIL=$FAIL"
exit $FAIL
